"""The admin's Outbox page: who reaches it, what it shows, Retry and the test message."""

from __future__ import annotations

import pytest
from mail_helpers import queue_test

from groups import create_app
from groups.models import AuditLog, OutboxMessage
from tests.world import login

ENDPOINTS = [
    ("GET", "/admin/outbox/"),
    ("GET", "/admin/outbox/{id}"),
    ("GET", "/admin/outbox/{id}/preview"),
    ("POST", "/admin/outbox/{id}/retry"),
    ("POST", "/admin/outbox/test"),
]


@pytest.fixture
def message(app, make_user):
    member = make_user("member", name="Mia Member", email="mia@example.org")
    return queue_test(app, member)


def failed(message: OutboxMessage) -> OutboxMessage:
    OutboxMessage.update(
        status="failed", attempts=8, last_error="SMTPRecipientsRefused: SMTP 451"
    ).where(OutboxMessage.id == message.id).execute()
    return OutboxMessage.get_by_id(message.id)


@pytest.mark.parametrize("role", ["member", "provider"])
@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_only_admins_reach_the_outbox(client, as_role, message, role, method, path):
    as_role(role)
    response = client.open(path.format(id=message.id), method=method)
    assert response.status_code == 403
    assert b"mia@example.org" not in response.data
    assert OutboxMessage.select().count() == 1


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_anonymous_visitors_are_sent_to_login(client, message, method, path):
    response = client.open(path.format(id=message.id), method=method)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_admin_nav_links_the_outbox(client, as_role):
    as_role("admin")
    assert 'href="/admin/outbox/"' in client.get("/admin/").text


def test_the_list_shows_each_message_and_filters_by_status(client, as_role, message, make_user):
    as_role("admin")
    other = queue_test(client.application, make_user("member", email="ned@example.org"), key="2")
    failed(other)
    page = client.get("/admin/outbox/")
    assert page.status_code == 200
    assert "Mia Member &lt;mia@example.org&gt;" in page.text
    assert "ned@example.org" in page.text
    assert "SMTPRecipientsRefused: SMTP 451" in page.text
    assert "Failed (1)" in page.text and "Pending (1)" in page.text
    only_failed = client.get("/admin/outbox/?status=failed").text
    assert "ned@example.org" in only_failed and "mia@example.org" not in only_failed
    # An unknown status is no filter at all.
    assert "mia@example.org" in client.get("/admin/outbox/?status=bogus").text


def test_a_message_page_shows_text_and_frames_the_html(client, as_role, message):
    admin = as_role("admin")
    page = client.get(f"/admin/outbox/{message.id}")
    assert page.status_code == 200
    assert "Test Practice: Test message" in page.text
    assert "Hello Mia Member," in page.text  # the plain text
    assert f'src="/admin/outbox/{message.id}/preview"' in page.text
    assert 'sandbox=""' in page.text
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert "<script" not in page.text.split("</head>", 1)[1]
    viewed = AuditLog.get(AuditLog.action == "mail_viewed")
    assert (viewed.actor_id, viewed.target_type, viewed.target_id) == (admin.id, "mail", message.id)
    assert "Mia" not in viewed.detail


def test_the_html_preview_is_sandboxed_and_framed_only_here(client, as_role, message):
    as_role("admin")
    response = client.get(f"/admin/outbox/{message.id}/preview")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.text == message.html_body
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy
    assert "script-src" not in policy  # default-src 'none' covers scripts
    assert "frame-ancestors 'self'" in policy
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert AuditLog.select().where(AuditLog.action == "mail_viewed").count() == 0


def test_an_unknown_message_is_404(client, as_role):
    as_role("admin")
    assert client.get("/admin/outbox/999").status_code == 404
    assert client.get("/admin/outbox/999/preview").status_code == 404
    assert client.post("/admin/outbox/999/retry").status_code == 404


def test_retry_makes_a_failed_message_due_with_fresh_attempts(
    client, as_role, message, frozen_time
):
    admin = as_role("admin")
    failed(message)
    page = client.get(f"/admin/outbox/{message.id}")
    assert f'action="/admin/outbox/{message.id}/retry"' in page.text
    response = client.post(f"/admin/outbox/{message.id}/retry", follow_redirects=True)
    assert response.status_code == 200
    assert "next pass" in response.text
    row = OutboxMessage.get_by_id(message.id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, frozen_time.now)
    retried = AuditLog.get(AuditLog.action == "mail_retried")
    assert (retried.actor_id, retried.target_id) == (admin.id, message.id)


def test_retry_refuses_a_message_that_has_not_failed(client, as_role, message):
    as_role("admin")
    assert 'retry"' not in client.get(f"/admin/outbox/{message.id}").text
    response = client.post(f"/admin/outbox/{message.id}/retry", follow_redirects=True)
    assert "Only a failed message can be retried" in response.text
    assert OutboxMessage.get_by_id(message.id).status == "pending"
    assert AuditLog.select().where(AuditLog.action == "mail_retried").count() == 0


def test_the_test_message_goes_to_the_admin_once_a_minute(client, as_role):
    admin = as_role("admin")
    response = client.post("/admin/outbox/test", follow_redirects=True)
    assert f"A test message to {admin.email} is queued" in response.text
    response = client.post("/admin/outbox/test", follow_redirects=True)
    assert "already queued this minute" in response.text
    [row] = OutboxMessage.select()
    assert (row.kind, row.to_address, row.recipient_id) == ("test", admin.email, admin.id)


def test_outbox_forms_need_the_csrf_token(database_url, make_user, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "PRACTICE_NAME": "Test Practice",
            "SERVER_NAME": "localhost",
            "PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        }
    )
    client = app.test_client()
    admin = make_user("admin")
    login(client, admin)
    message = failed(queue_test(app, make_user("member")))
    response = client.post(f"/admin/outbox/{message.id}/retry")
    assert response.status_code == 400
    assert client.post("/admin/outbox/test").status_code == 400
    assert OutboxMessage.get_by_id(message.id).status == "failed"
    assert OutboxMessage.select().count() == 1
