"""The outbox and its dispatcher, against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import datetime
import email
import threading
from email import policy

import pytest
from mail_helpers import SMTPServer, queue_test, run_pass

from groups import config, create_app, mail
from groups.db import database
from groups.mail import dispatch, transports
from groups.models import AuditLog, OutboxMessage, User


def audit_actions(action: str) -> list[AuditLog]:
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


# --- queueing ------------------------------------------------------------------


def test_queue_outside_a_transaction_is_refused(mail_app, make_user):
    member = make_user("member")
    with mail_app.app_context(), pytest.raises(RuntimeError, match="inside the transaction"):
        mail.queue("test", to=member, key="1", subject="Test", context={"destination": "x"})
    assert OutboxMessage.select().count() == 0


def test_a_rolled_back_cause_leaves_no_message(mail_app, make_user):
    member = make_user("member")

    class Refused(Exception):
        pass

    with mail_app.app_context(), pytest.raises(Refused), database.atomic():
        mail.queue("test", to=member, key="1", subject="Test", context={"destination": "x"})
        raise Refused
    assert OutboxMessage.select().count() == 0
    assert audit_actions("mail_queued") == []


def test_the_same_key_queues_one_message(mail_app, make_user):
    member = make_user("member")
    first = queue_test(mail_app, member, key="42")
    again = queue_test(mail_app, member, key="42")
    other = queue_test(mail_app, member, key="43")
    assert first is not None and other is not None and again is None
    assert [m.key for m in OutboxMessage.select().order_by(OutboxMessage.id)] == [
        "test:42",
        "test:43",
    ]
    queued = audit_actions("mail_queued")
    assert [(e.target_type, e.target_id) for e in queued] == [
        ("mail", first.id),
        ("mail", other.id),
    ]
    assert all("Test" not in e.detail and member.email not in e.detail for e in queued)


def test_a_duplicate_inside_a_larger_transaction_leaves_it_usable(mail_app, make_user, monkeypatch):
    """A twin committed between the check and the insert: the insert fails in a savepoint."""
    member = make_user("member")
    queue_test(mail_app, member, key="7")
    monkeypatch.setattr(OutboxMessage, "is_queued", classmethod(lambda cls, key: False))
    with mail_app.app_context(), database.atomic():
        again = mail.queue("test", to=member, key="7", subject="Test", context={"destination": ""})
        assert again is None
        make_user("member", email="still-committed@example.org")
    assert OutboxMessage.select().count() == 1
    assert User.by_email("still-committed@example.org") is not None


def test_subject_and_bodies_are_in_the_practice_name(mail_app, make_user):
    member = make_user("member", name="Ana <b>Lima</b>")
    message = queue_test(mail_app, member)
    assert message.subject == "Test Practice: Test message"
    assert "Hello Ana <b>Lima</b>," in message.text_body
    assert "Ana &lt;b&gt;Lima&lt;/b&gt;" in message.html_body
    assert "<b>Lima</b>" not in message.html_body
    assert "Test Practice" in message.text_body and "Test Practice" in message.html_body


def test_times_are_written_in_the_recipients_zone(mail_app, make_user):
    member = make_user("member", timezone="America/Chicago")
    summer = datetime.datetime(2026, 7, 7, 23, 0, tzinfo=datetime.UTC)
    winter = datetime.datetime(2026, 12, 8, 0, 0, tzinfo=datetime.UTC)
    from groups.mail.compose import recipient_time

    assert recipient_time(summer, member) == "Tuesday 7 July 2026, 6:00 PM Central Time"
    assert recipient_time(winter, member) == "Monday 7 December 2026, 6:00 PM Central Time"
    member.time_format = "24h"
    assert recipient_time(summer, member) == "Tuesday 7 July 2026, 18:00 Central Time"


def test_links_are_absolute_on_base_url_without_a_request(mail_app):
    with mail_app.app_context():
        assert mail.link("auth.login") == "http://localhost/login"
        mail_app.config["BASE_URL"] = "https://clinic.example.org/groups"
        assert mail.link("auth.login") == "https://clinic.example.org/groups/login"


# --- delivery ------------------------------------------------------------------


def test_a_pass_delivers_text_and_html_with_safe_headers(mail_app, smtp, make_user, runner):
    member = make_user("member", name="Ana Lima", email="ana@example.org")
    row = queue_test(mail_app, member, unsubscribe_url="http://localhost/profile#reminders")
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    assert "sent 1, to retry 0, failed 0" in result.output

    [(mail_from, rcpt_tos, _raw)] = smtp.recorder.envelopes
    assert mail_from == "clinic@example.org"
    assert rcpt_tos == ["ana@example.org"]
    [message] = smtp.messages
    assert message["From"] == "Test Practice <clinic@example.org>"
    assert message["To"] == "Ana Lima <ana@example.org>"
    assert message["Subject"] == "Test Practice: Test message"
    assert message["Message-ID"] == row.message_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] == "<http://localhost/profile#reminders>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Hello Ana Lima," in text and "test message from the Outbox page" in text
    assert "<p>This is a test message" in html

    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.attempts, row.claimed_by, row.last_error) == ("sent", 1, "", "")
    assert row.sent_at is not None
    [delivered] = audit_actions("mail_delivered")
    assert (delivered.target_type, delivered.target_id) == ("mail", row.id)

    # Nothing left: the next pass sends nothing again.
    assert runner.invoke(args=["send-mail"]).exit_code == 0
    assert len(smtp.recorder.envelopes) == 1


def test_a_pass_uses_one_connection_for_all_its_batches(mail_app, smtp, make_user, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH_SIZE", 2)
    for n in range(5):
        queue_test(mail_app, make_user("member"), key=str(n))
    assert run_pass(mail_app).sent == 5
    assert len(smtp.recorder.peers) == 5 and len(set(smtp.recorder.peers)) == 1


def test_every_keeps_passing_until_stopped(mail_app, smtp, make_user, runner, monkeypatch):
    queue_test(mail_app, make_user("member"))
    naps = []

    def nap(seconds):
        naps.append(seconds)
        if len(naps) == 2:
            raise SystemExit(0)  # the operator stops the loop

    monkeypatch.setattr("time.sleep", nap)
    result = runner.invoke(args=["send-mail", "--every", "30"])
    assert result.exit_code == 0
    assert naps == [30, 30]
    assert result.output.count("Mail to smtp://127.0.0.1") == 2
    assert len(smtp.recorder.envelopes) == 1


def test_no_list_unsubscribe_unless_asked(mail_app, smtp, make_user):
    queue_test(mail_app, make_user("member"))
    run_pass(mail_app)
    assert "List-Unsubscribe" not in smtp.messages[0]


def test_a_name_cannot_inject_a_header(mail_app, smtp, make_user):
    intruder = "intruder@example.org"
    member = make_user(
        "member",
        name=f"Eve\r\nBcc: {intruder}\r\nSubject: changed",
        email="eve@example.org",
    )
    row = queue_test(mail_app, member, subject=f"Hello\nBcc: {intruder}")
    assert "\n" not in row.to_name and "\n" not in row.subject
    result = run_pass(mail_app)
    assert result.sent == 1
    [(_, rcpt_tos, raw)] = smtp.recorder.envelopes
    assert rcpt_tos == ["eve@example.org"]
    [message] = smtp.messages
    assert message["Bcc"] is None
    assert len(message.get_all("Subject")) == 1 and len(message.get_all("To")) == 1
    assert message["To"].addresses[0].addr_spec == "eve@example.org"
    assert message["To"].addresses[0].display_name == f"Eve Bcc: {intruder} Subject: changed"
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.startswith(b"Bcc:") for line in header_block.split(b"\r\n"))


def test_a_line_break_that_reaches_the_row_fails_the_message_unsent(mail_app, smtp, make_user):
    """Defence in depth: a row written around queue() still cannot add a header."""
    row = queue_test(mail_app, make_user("member"))
    OutboxMessage.update(subject="Hi\r\nBcc: intruder@example.org").execute()
    result = run_pass(mail_app)
    assert (result.sent, result.failed) == (0, 1)
    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.last_error) == ("failed", "ValueError")
    assert smtp.recorder.envelopes == []


def test_names_and_subjects_outside_ascii_are_encoded(mail_app, smtp, make_user):
    mail_app.config["PRACTICE_NAME"] = "Clínica Río"
    queue_test(mail_app, make_user("member", name="José Ñúñez", email="jose@example.org"))
    run_pass(mail_app)
    [(_, _, raw)] = smtp.recorder.envelopes
    assert raw.isascii()
    [message] = smtp.messages
    assert message["To"] == "José Ñúñez <jose@example.org>"
    assert message["Subject"] == "Clínica Río: Test message"
    assert message["From"].addresses[0].display_name == "Clínica Río"
    assert "Hello José Ñúñez," in message.get_body(("plain",)).get_content()


def test_smtp_login_uses_the_credentials_in_mail_url(app, make_user, tmp_path):
    server = SMTPServer(login=("mailer", "s3cret:/@"))
    server.start()
    try:
        app.config["MAIL_URL"] = f"smtp://mailer:{'s3cret%3A%2F%40'}@127.0.0.1:{server.port}"
        queue_test(app, make_user("member"))
        assert run_pass(app).sent == 1
        assert len(server.recorder.envelopes) == 1
        app.config["MAIL_URL"] = f"smtp://mailer:wrong@127.0.0.1:{server.port}"
        queue_test(app, make_user("member"), key="2")
        result = run_pass(app)
        assert result.problem and "SMTPAuthenticationError" in result.problem
        assert "wrong" not in result.summary()
    finally:
        server.stop()


def test_mail_url_forms():
    starttls = transports.SMTPTransport("smtp+starttls://me%40x.org:p%3Ass@mail.example.org")
    assert (starttls.host, starttls.port, starttls.user, starttls.password) == (
        "mail.example.org",
        587,
        "me@x.org",
        "p:ss",
    )
    assert starttls.destination == "smtp+starttls://me@x.org@mail.example.org:587"
    assert transports.SMTPTransport("smtps://relay").port == 465
    assert transports.SMTPTransport("smtp://relay").port == 25
    assert transports.SMTPTransport("smtp://relay:2525").port == 2525
    assert isinstance(transports.open_transport({"MAIL_URL": "none"}), transports.DisabledTransport)
    assert isinstance(
        transports.open_transport({"MAIL_URL": "", "MAIL_OUTBOX_DIR": "/tmp/x"}),
        transports.FileTransport,
    )


def test_an_smtp_outage_loses_nothing_and_repeats_nothing(
    mail_app, smtp, make_user, runner, frozen_time
):
    members = [make_user("member") for _ in range(3)]
    for n, member in enumerate(members):
        queue_test(mail_app, member, key=str(n))
    smtp.stop()

    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 1
    assert "the mail server is unavailable" in result.output
    assert "ConnectionRefusedError" in result.output
    rows = list(OutboxMessage.select().order_by(OutboxMessage.id))
    assert [(r.status, r.attempts) for r in rows] == [("pending", 1)] * 3
    assert all(r.next_attempt_at == frozen_time.now + dispatch.BASE_DELAY for r in rows)
    assert all("ConnectionRefusedError" in r.last_error for r in rows)

    # Still inside the backoff: nothing is due, nothing is tried.
    assert runner.invoke(args=["send-mail"]).exit_code == 0

    smtp.start()
    frozen_time.advance(minutes=3)
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    assert "sent 3" in result.output
    assert runner.invoke(args=["send-mail"]).exit_code == 0
    received = sorted(rcpt for _, rcpts, _ in smtp.recorder.envelopes for rcpt in rcpts)
    assert received == sorted(m.email for m in members)
    assert {r.status for r in OutboxMessage.select()} == {"sent"}


def test_backoff_doubles_until_the_last_attempt_fails(mail_app, smtp, make_user, frozen_time):
    row = queue_test(mail_app, make_user("member", email="later-ana@example.org"))
    delays = []
    for _ in range(dispatch.MAX_ATTEMPTS):
        tried_at = frozen_time.now
        result = run_pass(mail_app)
        assert not result.ok
        row = OutboxMessage.get_by_id(row.id)
        delays.append(row.next_attempt_at - tried_at)
        frozen_time.set(row.next_attempt_at)
    assert delays == [dispatch.BASE_DELAY * 2**n for n in range(dispatch.MAX_ATTEMPTS)]
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        dispatch.MAX_ATTEMPTS,
        "SMTPRecipientsRefused: SMTP 451",
    )
    assert run_pass(mail_app).sent == 0  # failed waits for an admin's Retry
    assert [e.target_id for e in audit_actions("mail_failed")] == [row.id]
    assert smtp.recorder.envelopes == []


def test_a_permanent_refusal_fails_at_once_and_the_rest_go(mail_app, smtp, make_user):
    refused = queue_test(mail_app, make_user("member", email="refuse-bo@example.org"), key="1")
    queue_test(mail_app, make_user("member", email="cy@example.org"), key="2")
    result = run_pass(mail_app)
    assert (result.sent, result.failed, result.retrying) == (1, 1, 0)
    refused = OutboxMessage.get_by_id(refused.id)
    assert (refused.status, refused.last_error) == ("failed", "SMTPRecipientsRefused: SMTP 550")
    assert "refuse-bo" not in refused.last_error


def test_an_address_the_server_cannot_take_fails_alone(mail_app, smtp, make_user):
    """An address outside ASCII cannot be written (formataddr refuses it): that message fails."""
    unicode = queue_test(mail_app, make_user("member", email="jösé@example.org"), key="1")
    queue_test(mail_app, make_user("member", email="kim@example.org"), key="2")
    result = run_pass(mail_app)
    assert (result.sent, result.failed, result.problem) == (1, 1, "")
    assert OutboxMessage.get_by_id(unicode.id).last_error == "UnicodeEncodeError"
    assert [rcpts for _, rcpts, _ in smtp.recorder.envelopes] == [["kim@example.org"]]


def test_two_dispatchers_at_once_send_each_message_once(mail_app, smtp, make_user, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH_SIZE", 3)  # many small claims, so they interleave
    members = [make_user("member") for _ in range(30)]
    for n, member in enumerate(members):
        queue_test(mail_app, member, key=str(n))
    results, errors = [], []
    start = threading.Barrier(2)

    def dispatcher():
        try:
            start.wait()
            results.append(run_pass(mail_app))
        except Exception as error:  # reported below, in the test's own thread
            errors.append(error)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(r.sent for r in results) == 30
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == len(set(ids)) == 30
    assert {r.status for r in OutboxMessage.select()} == {"sent"}


def test_a_dead_dispatchers_claim_expires(mail_app, smtp, make_user, frozen_time):
    row = queue_test(mail_app, make_user("member"))
    with mail_app.app_context():
        [claimed] = dispatch.claim("crashed-host:1:x", 10)  # ... and then it died
    assert run_pass(mail_app).sent == 0  # the lease still holds
    frozen_time.advance(minutes=dispatch.LEASE.total_seconds() / 60 + 1)
    assert run_pass(mail_app).sent == 1
    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.attempts, claimed.id) == ("sent", 2, row.id)


def test_before_pass_hooks_queue_messages_the_same_pass_delivers(
    mail_app, smtp, make_user, monkeypatch
):
    member = make_user("member")
    calls = []

    def remind():
        calls.append(1)
        with database.atomic():  # a hook runs in the dispatcher's context, in its own transaction
            mail.queue("test", to=member, key="hook", subject="Test", context={"destination": ""})

    monkeypatch.setattr(dispatch, "before_pass", [remind])
    assert run_pass(mail_app).sent == 1
    assert run_pass(mail_app).sent == 0
    assert len(calls) == 2 and len(smtp.recorder.envelopes) == 1


# --- development files and switched-off mail -----------------------------------


def test_development_writes_each_message_as_an_eml_file(app, make_user, tmp_path):
    outbox = tmp_path / "outbox"
    app.config.update(MAIL_URL="", MAIL_OUTBOX_DIR=str(outbox))
    row = queue_test(app, make_user("member", email="dee@example.org"))
    assert run_pass(app).sent == 1
    [path] = outbox.glob("*.eml")
    assert path.name == row.message_id.strip("<>").split("@")[0] + ".eml"
    assert path.stat().st_mode & 0o077 == 0
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == f"{row.to_name} <dee@example.org>"
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None
    # A repeat delivery of the same message rewrites its file.
    with app.app_context():
        OutboxMessage.update(status="pending").execute()
    assert run_pass(app).sent == 1
    assert len(list(outbox.iterdir())) == 1


def test_mail_switched_off_sends_nothing_and_says_so(app, make_user, runner):
    app.config["MAIL_URL"] = "none"
    queue_test(app, make_user("member"))
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 1
    assert "Mail to nowhere (MAIL_URL=none)" in result.output
    assert "Stopped: mail is switched off" in result.output
    assert "1 more message(s) waiting" in result.output
    row = OutboxMessage.get()
    assert (row.status, row.attempts) == ("pending", 0)


def test_production_needs_mail_url(monkeypatch, database_url):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BASE_URL", "https://groups.example.org")
    monkeypatch.delenv("MAIL_URL", raising=False)
    with pytest.raises(config.ConfigError, match="MAIL_URL is not set"):
        create_app()
    monkeypatch.setenv("MAIL_URL", "smtpx://relay")
    with pytest.raises(config.ConfigError, match="MAIL_URL must be none or start with"):
        create_app()
    monkeypatch.setenv("MAIL_URL", "none")
    assert create_app().config["MAIL_URL"] == "none"
    monkeypatch.setenv("MAIL_URL", "smtp+starttls://u:p@relay:587")
    assert create_app().config["MAIL_URL"] == "smtp+starttls://u:p@relay:587"
    monkeypatch.setenv("MAIL_FROM", "the clinic")
    with pytest.raises(config.ConfigError, match="MAIL_FROM must be an address"):
        create_app()
