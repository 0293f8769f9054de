"""What the practice sends: each kind of message, queued with its cause and delivered over SMTP."""

from __future__ import annotations

import datetime

import pytest
from mail_helpers import run_pass
from world import PASSWORD, add_session, enroll, login, make_group

from groups import mail
from groups.db import database
from groups.mail import messages
from groups.models import Enrollment, OutboxMessage, Session, SetPasswordToken, User
from groups.services import ServiceError, accounts
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from groups.services import schedule as schedule_service

HOUR = datetime.timedelta(hours=1)


def queued(kind: str) -> list[OutboxMessage]:
    return list(OutboxMessage.select().where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# --- invitations ------------------------------------------------------------------


def test_an_admin_created_account_is_invited_by_email_and_the_link_still_shown(
    mail_app, client, as_role, smtp
):
    as_role("admin")
    response = client.post(
        "/admin/users/new",
        data={
            "email": "new@example.org",
            "name": "Nia New",
            "role": "provider",
            "timezone": "America/Chicago",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "An invitation with this link is on its way to new@example.org" in page
    [message] = queued("invitation")
    link = page.split('readonly value="', 1)[1].split('"', 1)[0]
    assert link in message.text_body and link in message.html_body
    assert message.to_address == "new@example.org"
    assert message.subject == "Test Practice: Your new account"
    assert run_pass(mail_app).sent == 1
    [delivered] = smtp.messages
    assert delivered["To"] == "Nia New <new@example.org>"
    assert link in delivered.get_body(("plain",)).get_content()


def test_a_provider_creates_enrolls_and_invites_a_member_in_one_step(app, client, as_role):
    provider = as_role("provider")
    group = make_group(provider, capacity=4)
    response = client.post(
        f"/groups/{group.id}/members/new",
        data={"email": "sam@example.org", "name": "Sam Member", "timezone": "America/Denver"},
    )
    assert response.status_code == 200
    assert "An invitation with this link is on its way" in response.get_data(as_text=True)
    member = User.by_email("sam@example.org")
    assert Enrollment.get(Enrollment.member == member).status == "active"
    [message] = queued("invitation")
    assert message.recipient_id == member.id
    # Privacy: the invitation does not say which group (its name can name a condition).
    assert group.name not in message.text_body and "anxiety" not in message.text_body.lower()


def test_a_refused_enrollment_leaves_no_account_and_no_invitation(app, make_user):
    provider = make_user("provider")
    group = make_group(provider, status="completed")
    with app.app_context(), pytest.raises(ServiceError):
        enrollment_service.enroll_new_member(
            group, email="late@example.org", name="Late", timezone="UTC", by=provider
        )
    assert User.by_email("late@example.org") is None
    assert OutboxMessage.select().count() == 0 and SetPasswordToken.select().count() == 0


def test_create_user_invite_queues_the_invitation(app, runner):
    result = runner.invoke(
        args=[
            "create-user",
            "cli@example.org",
            "--name",
            "Cli Person",
            "--role",
            "member",
            "--invite",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Invitation queued" in result.output
    [message] = queued("invitation")
    link = result.output.split("Link: ", 1)[1].strip()
    assert link in message.text_body and link.startswith("http://localhost/set-password/")


# --- forgot password and the password-changed notice ------------------------------


def test_forgot_password_answers_the_same_for_known_and_unknown_addresses(app, client, make_user):
    member = make_user("member", email="known@example.org")
    known = client.post("/forgot-password", data={"email": "known@example.org"})
    unknown = client.post("/forgot-password", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    [message] = queued("password_reset")
    assert message.recipient_id == member.id
    token = SetPasswordToken.get(SetPasswordToken.user == member)
    assert token.expires_at - token.created_at == HOUR
    assert "for 1 hour" in message.text_body
    assert client.get("/login").get_data(as_text=True).count("/forgot-password") == 1


def test_forgot_password_is_throttled_like_logins(app, client, make_user):
    make_user("member", email="flood@example.org")
    answers = [
        client.post("/forgot-password", data={"email": "flood@example.org"}).status_code
        for _ in range(accounts.MAX_FAILURES_PER_ACCOUNT + 1)
    ]
    assert answers[-1] == 429 and set(answers[:-1]) == {200}
    assert len(queued("password_reset")) == accounts.MAX_FAILURES_PER_ACCOUNT


def test_a_reset_link_sets_the_password_and_a_notice_follows(app, client, make_user):
    member = make_user("member", email="reset@example.org")
    with app.test_request_context(), database.atomic():
        accounts.request_password_reset("reset@example.org", "10.0.0.1")
    [message] = queued("password_reset")
    path = message.text_body.split("http://localhost", 1)[1].split()[0]
    new = "a fresh long passphrase 42"
    response = client.post(path, data={"password": new, "confirm": new})
    assert response.status_code == 302
    [notice] = queued("password_changed")
    assert notice.recipient_id == member.id
    assert "was changed" in notice.text_body and "Eastern Time" in notice.text_body


def test_changing_ones_password_queues_the_notice(app, make_user):
    member = make_user("member")
    with app.test_request_context():
        accounts.change_password(member, PASSWORD, "another long passphrase 7", "10.0.0.1")
    assert [m.recipient_id for m in queued("password_changed")] == [member.id]


def test_an_invited_person_setting_a_first_password_gets_no_changed_notice(app, make_user):
    member = make_user("member", password_hash=None)
    with app.test_request_context():
        token = accounts.invite(member, issued_by=None)
        accounts.use_password_link(token, "my very first passphrase")
    assert queued("password_changed") == []


# --- reminders ----------------------------------------------------------------------


def reminder_world(make_user, **member_fields):
    provider = make_user("provider")
    group = make_group(provider, timezone="America/Chicago")
    member = make_user("member", timezone="America/Chicago", **member_fields)
    enroll(group, member)
    return group, member


def test_a_reminder_is_queued_once_inside_the_lead_time_and_delivered_with_unsubscribe(
    mail_app, make_user, smtp
):
    group, member = reminder_world(make_user)
    session = add_session(group, now() + 10 * HOUR)  # already inside the 24-hour lead
    later = add_session(group, now() + 30 * HOUR)  # not yet
    assert run_pass(mail_app).sent == 1
    assert run_pass(mail_app).sent == 0  # a second pass queues nothing again
    [message] = queued("session_reminder")
    assert message.key == f"session_reminder:{session.id}:{member.id}:24h"
    assert later.id not in {m.id for m in queued("session_reminder")}
    [delivered] = smtp.messages
    assert delivered["List-Unsubscribe"] == "<http://localhost/account/>"
    assert delivered["Subject"] == "Test Practice: Session reminder"
    assert "your group session" in delivered.get_body(("plain",)).get_content()


def test_no_reminder_for_started_cancelled_withdrawn_deactivated_or_opted_out(app, make_user):
    group, member = reminder_world(make_user)
    add_session(group, now() - HOUR)  # started
    add_session(group, now() + 2 * HOUR, status="cancelled")
    withdrawn = make_user("member")
    enroll(group, withdrawn, status="withdrawn")
    inactive = make_user("member", active=False)
    enroll(group, inactive)
    opted_out = make_user("member", remind_sessions=False)
    enroll(group, opted_out)
    session = add_session(group, now() + 3 * HOUR)
    with app.app_context():
        assert messages.queue_reminders() == 1
    assert [(m.recipient_id, m.key) for m in queued("session_reminder")] == [
        (member.id, f"session_reminder:{session.id}:{member.id}:24h")
    ]


def test_the_members_own_lead_time_is_respected(app, make_user):
    app.config["REMINDER_HOURS"] = (48, 2)
    group, early = reminder_world(make_user, reminder_hours=48)
    late = make_user("member", reminder_hours=2)
    stale = make_user("member", reminder_hours=24)  # no longer offered: the longest applies
    enroll(group, late)
    enroll(group, stale)
    session = add_session(group, now() + 5 * HOUR)
    with app.app_context():
        messages.queue_reminders()
        assert {m.key for m in queued("session_reminder")} == {
            f"session_reminder:{session.id}:{early.id}:48h",
            f"session_reminder:{session.id}:{stale.id}:48h",
        }
        messages.queue_reminders(session.starts_at - 2 * HOUR)
    assert f"session_reminder:{session.id}:{late.id}:2h" in {
        m.key for m in queued("session_reminder")
    }


def test_the_reminder_time_across_a_daylight_saving_change(app, make_user):
    """Chicago springs forward on 14 March 2027: 24 hours before is 17:00 CST the day before."""
    group, member = reminder_world(make_user)
    starts = datetime.datetime(2027, 3, 14, 23, 0, tzinfo=datetime.UTC)  # 18:00 CDT
    add_session(group, starts)
    with app.app_context():
        assert messages.queue_reminders(starts - 24 * HOUR - datetime.timedelta(seconds=1)) == 0
        assert messages.queue_reminders(starts - 24 * HOUR) == 1
    [message] = queued("session_reminder")
    assert "Sunday 14 March 2027, 18:00 Central Time" in message.text_body


def test_reminder_hours_is_validated(monkeypatch, tmp_path):
    from groups import config

    assert config.reminder_hours("48, 2,24") == (48, 24, 2)
    for bad in ("0", "x", "24,-1", "1000"):
        with pytest.raises(config.ConfigError, match="REMINDER_HOURS"):
            config.reminder_hours(bad)


# --- notices when a session changes -------------------------------------------------


def change_world(make_user):
    provider = make_user("provider")
    group = make_group(provider)
    members = [make_user("member"), make_user("member", notify_changes=False)]
    for member in members:
        enroll(group, member)
    gone = make_user("member")
    enroll(group, gone, status="withdrawn")
    session = add_session(group, now() + 72 * HOUR)
    return provider, group, members, session


def test_a_cancellation_tells_the_members_who_want_notices_with_the_reason(app, make_user):
    provider, group, (wants, _), session = change_world(make_user)
    with app.app_context():
        schedule_service.cancel_session(session, "The room flooded", by=provider)
    [message] = queued("session_cancelled")
    assert message.recipient_id == wants.id
    assert "The room flooded" in message.text_body and "Eastern Time" in message.text_body


def test_a_move_gives_the_old_and_new_time(app, make_user):
    provider, group, (wants, _), session = change_world(make_user)
    clock = app.config["TIME_FORMAT"]  # the practice's clock, as the message uses it
    was = mail.compose.recipient_time(session.starts_at, wants, clock)
    with app.app_context():
        schedule_service.reschedule_session(
            session,
            (now() + 96 * HOUR).date(),
            datetime.time(9, 30),
            by=provider,
        )
    [message] = queued("session_moved")
    assert message.recipient_id == wants.id
    moved = mail.compose.recipient_time(Session.get_by_id(session.id).starts_at, wants, clock)
    assert f"Was: {was}" in message.text_body and f"Now: {moved}" in message.text_body


def test_a_new_place_tells_the_members(app, make_user):
    provider, group, (wants, _), session = change_world(make_user)
    fields = {k: getattr(group, k) for k in group_service.GROUP_FIELDS}
    fields["location"] = "Room 9, North building"
    with app.app_context():
        group_service.update_group(group, fields, [], lead=None, by=provider)
    [message] = queued("place_changed")
    assert message.recipient_id == wants.id
    assert "Room 2, Riverside clinic" in message.text_body
    assert "Room 9, North building" in message.text_body


def test_a_waitlist_promotion_tells_the_member_the_seat_is_theirs(app, make_user):
    provider = make_user("provider")
    group = make_group(provider, capacity=1)
    add_session(group, now() + 48 * HOUR)
    first, waiting = make_user("member"), make_user("member")
    with app.app_context():
        seat = enrollment_service.enroll(group, first, by=provider)
        enrollment_service.enroll(group, waiting, by=provider)
        enrollment_service.withdraw(seat, "Moved away", by=provider)
    [message] = queued("seat_offered")
    assert message.recipient_id == waiting.id
    assert message.subject == "Test Practice: A seat is yours"
    assert first.name not in message.text_body


def test_queueing_belongs_to_the_cause(app, make_user):
    """A failed change sends nothing: the notices roll back with it."""
    provider, group, members, session = change_world(make_user)

    class Boom(Exception):
        pass

    with app.app_context(), pytest.raises(Boom), database.atomic():
        mail.messages.session_cancelled(session)
        raise Boom
    assert queued("session_cancelled") == []


def test_the_demo_shows_invitations_and_reminders_in_the_outbox(app, client, monkeypatch):
    import groups.clock
    from groups.demo import DEMO_INVITED, load_demo

    # Noon UTC: the demo's first group meets this evening, inside the reminders' lead time
    # (late in the UTC day its session may have passed and the next be more than a day off).
    today = datetime.datetime.now(datetime.UTC).date()
    noon = datetime.datetime.combine(today, datetime.time(12), datetime.UTC)
    monkeypatch.setattr(groups.clock, "frozen_at", noon)
    with app.app_context():
        summary = load_demo("small")
    assert "messages in the outbox" in summary
    invited = {m.to_address for m in queued("invitation")}
    assert invited == {email for email, *_ in DEMO_INVITED}
    assert all(User.by_email(email).password_hash is None for email in invited)
    assert 0 < len(queued("session_reminder")) < 40  # one page shows both kinds
    login(client, User.get(User.email == "admin@example.org"))
    page = client.get("/admin/outbox/").get_data(as_text=True)
    assert "Session reminder" in page and "Invitation" in page
