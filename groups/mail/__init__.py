"""Mail: a transactional outbox, and a dispatcher that delivers it.

How a message is sent
---------------------
1. The code that causes a message calls :func:`queue` inside its own
   transaction. The message is a row in ``outbox_message``: if the
   transaction rolls back (an enrollment refused, a crash), the message
   never existed. Nothing is sent from a request.
2. ``flask --app app send-mail`` (groups/mail/dispatch.py) claims due rows,
   delivers them over one SMTP connection per pass, and marks each sent,
   or retries it later with exponential backoff, up to ``MAX_ATTEMPTS``.
   Several dispatchers on several hosts may run at once: a claim is atomic
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite)
   and holds a lease, so a message is never handed to two of them.

The API for a new kind of message
---------------------------------
Add ``templates/mail/<kind>.txt`` and ``templates/mail/<kind>.html``
(each extends ``mail/_layout.txt`` / ``mail/_layout.html``, filling the
``body`` block), then, in the service that causes the message::

    with database.atomic():                 # the cause's own transaction
        enrollment.save()
        mail.queue(
            "waitlist_promoted",
            to=member,
            key=f"{enrollment.id}",         # one logical message, one key
            subject="A seat is yours",      # after the practice's name
            context={"link": mail.link("main.member_home")},
        )

- ``key`` is the idempotency key, unique per kind (stored as
  ``"<kind>:<key>"``): build it from what makes the message one message
  (for a reminder: session, member, lead time). Queueing the same key
  again does nothing and returns None, so a scheduler may run as often as
  it likes.
- ``subject`` says what kind of message it is; the stored subject is
  ``"<PRACTICE_NAME>: <subject>"``. Never put a condition, group focus,
  module or another member's name in a member's subject or body.
- ``context`` goes to both templates, with ``recipient_name``,
  ``practice_name`` and ``when(dt)`` added: ``when`` writes an aware UTC
  time in the recipient's own zone, naming the zone.
- ``unsubscribe_url`` (reminders) adds a ``List-Unsubscribe`` header.
- ``link(endpoint, **values)`` builds an absolute link (``groups/urls.py``),
  inside a request or not (the dispatcher has none).
- Functions appended to ``before_pass`` run at the start of every
  dispatcher pass, before anything is claimed: the place to queue
  scheduled messages (reminders). Each opens its own transaction.

Audit: ``mail_queued`` (with the cause's transaction) and ``mail_delivered``
/ ``mail_failed`` (dispatcher), ids and kind only; never a body or a link.
"""

from __future__ import annotations

from flask import current_app
from peewee import IntegrityError

from .. import audit
from ..clock import utcnow
from ..db import database
from ..models import OutboxMessage, User
from ..urls import external_url
from . import compose
from .dispatch import MAX_ATTEMPTS, before_pass, run_pass

__all__ = ["MAX_ATTEMPTS", "before_pass", "link", "queue", "run_pass"]

KEY_MAX_LENGTH = 255


def queue(
    kind: str,
    *,
    to: User,
    key: str,
    subject: str,
    template: str | None = None,
    context: dict | None = None,
    unsubscribe_url: str = "",
) -> OutboxMessage | None:
    """Queue one message to ``to`` in the caller's transaction; None if ``key`` was queued before.

    ``template`` defaults to ``kind``. Raises RuntimeError outside a
    transaction: a message must commit or roll back with its cause.
    """
    if not database.in_transaction():
        raise RuntimeError(
            "mail.queue() must run inside the transaction of the change that causes the message"
        )
    stored_key = f"{kind}:{key}"
    if len(stored_key) > KEY_MAX_LENGTH:
        raise ValueError(f"idempotency key longer than {KEY_MAX_LENGTH} characters")
    if OutboxMessage.is_queued(stored_key):
        return None  # the common repeat (a scheduler's next pass) skips rendering
    config = current_app.config
    text, html = compose.render(
        template or kind,
        {
            **(context or {}),
            "recipient_name": to.name,
            "practice_name": config["PRACTICE_NAME"],
            "when": lambda value: compose.recipient_time(value, to, config["TIME_FORMAT"]),
        },
    )
    now = utcnow()
    try:
        # A savepoint: a concurrent twin that committed first makes this
        # insert fail alone, leaving the caller's transaction usable.
        with database.atomic():
            message = OutboxMessage.create(
                key=stored_key,
                kind=kind,
                recipient=to,
                to_address=to.email,
                to_name=compose.one_line(to.name),
                subject=compose.one_line(f"{config['PRACTICE_NAME']}: {subject}"),
                text_body=text,
                html_body=html,
                unsubscribe_url=compose.one_line(unsubscribe_url),
                message_id=compose.new_message_id(now),
                created_at=now,
                next_attempt_at=now,
            )
    except IntegrityError:
        return None
    audit.record("mail_queued", target=message, target_type="mail", kind=kind)
    return message


def link(endpoint: str, **values) -> str:
    """An absolute URL for an endpoint, with or without a request (groups/urls.py)."""
    return external_url(endpoint, **values)


def _remind_safety_alerts() -> int:
    # Imported here: the safety service queues its notices through this package.
    from ..services import safety

    return safety.remind_unacknowledged()


# Imported last: the kinds queue through the functions above.
from . import messages  # noqa: E402

before_pass.append(messages.queue_reminders)
before_pass.append(_remind_safety_alerts)
