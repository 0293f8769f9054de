"""What the admin's Outbox page reads and does: the listing, Retry, a test message."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from peewee import fn

from .. import audit
from ..clock import utcnow
from ..db import database, is_sqlite, write_transaction
from ..models import MAIL_STATUSES, OutboxMessage, User
from ..services import ServiceError
from . import queue
from .transports import open_transport

PAGE_SIZE = 50
# The list leaves the bodies out: they are read one at a time on a message's page.
LIST_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.kind,
    OutboxMessage.to_name,
    OutboxMessage.to_address,
    OutboxMessage.subject,
    OutboxMessage.status,
    OutboxMessage.attempts,
    OutboxMessage.created_at,
    OutboxMessage.sent_at,
    OutboxMessage.next_attempt_at,
    OutboxMessage.last_error,
)


@dataclass
class OutboxPage:
    messages: list[OutboxMessage]
    counts: dict[str, int]
    status: str
    page: int
    has_more: bool
    destination: str


def listing(status: str = "", page: int = 1) -> OutboxPage:
    """Newest first, optionally one status; with the count of each status (two queries)."""
    status = status if status in MAIL_STATUSES else ""
    page = max(page, 1)
    query = OutboxMessage.select(*LIST_COLUMNS).order_by(
        OutboxMessage.created_at.desc(), OutboxMessage.id.desc()
    )
    if status:
        query = query.where(OutboxMessage.status == status)
    rows = list(query.paginate(page, PAGE_SIZE + 1))
    counts = dict.fromkeys(MAIL_STATUSES, 0)
    grouped = OutboxMessage.select(OutboxMessage.status, fn.COUNT(OutboxMessage.id))
    counts.update(grouped.group_by(OutboxMessage.status).tuples())
    return OutboxPage(
        messages=rows[:PAGE_SIZE],
        counts=counts,
        status=status,
        page=page,
        has_more=len(rows) > PAGE_SIZE,
        destination=open_transport(current_app.config).destination,
    )


def message_for_admin(message_id: int, viewer: User, audited: bool = True) -> OutboxMessage | None:
    """One message with its bodies; opening it is audited (bodies name a member).

    ``audited=False`` for the HTML preview framed inside the page already audited.
    """
    message = OutboxMessage.get_or_none(OutboxMessage.id == message_id)
    if message is not None and audited:
        with database.atomic():
            audit.record("mail_viewed", actor=viewer, target=message, target_type="mail")
    return message


def retry(message_id: int, by: User) -> OutboxMessage | None:
    """Make a failed message due now with fresh attempts; None if there is no such message."""
    with write_transaction():
        query = OutboxMessage.select().where(OutboxMessage.id == message_id)
        if not is_sqlite():  # SQLite: BEGIN IMMEDIATE already holds the write lock
            query = query.for_update()
        message = query.first()
        if message is None:
            return None
        if not message.can_retry:
            raise ServiceError("Only a failed message can be retried; this one is not failed.")
        message.retry_now()
        message.save()
        audit.record("mail_retried", actor=by, target=message, target_type="mail")
    return message


def send_test(admin: User) -> bool:
    """Queue a test message to ``admin``; False when one was already queued this minute."""
    with database.atomic():
        queued = queue(
            "test",
            to=admin,
            key=f"{admin.id}:{utcnow():%Y%m%d%H%M}",
            subject="Test message",
            context={"destination": open_transport(current_app.config).destination},
        )
    return queued is not None
