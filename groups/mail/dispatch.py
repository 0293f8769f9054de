"""The dispatcher: one pass claims due messages, delivers them, and records the outcome.

Invariants:

- A message is claimed by one dispatcher at a time. The claim (status
  ``sending``, ``claimed_by``, ``claimed_until``) is written in one
  transaction that locks the rows it reads: ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL (two dispatchers take different rows, neither waits), ``BEGIN
  IMMEDIATE`` on SQLite (claims queue up behind one another).
- A claim is a lease. A dispatcher that dies mid-pass leaves rows in
  ``sending``; once ``claimed_until`` passes they are due again. The only
  repeat possible is a message the server accepted just before the crash
  and before it was marked sent; it keeps its Message-ID, so a receiving
  system can tell.
- A claim counts an attempt, so a message that crashes its dispatcher
  cannot be retried forever. Failed attempts wait ``BASE_DELAY * 2**(n-1)``;
  after ``MAX_ATTEMPTS`` (or a permanent 5xx refusal) the message is
  ``failed`` and waits for an admin's Retry. Nothing is deleted.
- A transport error (no server, a dropped connection, a refused login)
  stops the pass: the claimed messages get their backoff, the unclaimed
  ones stay as they were, and the pass reports why.
"""

from __future__ import annotations

import datetime
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from .. import audit
from ..clock import utcnow
from ..db import database, is_sqlite, write_transaction
from ..models import OutboxMessage
from . import compose
from .transports import Refused, TransportError, describe, open_transport

MAX_ATTEMPTS = 8
BASE_DELAY = datetime.timedelta(minutes=2)
LEASE = datetime.timedelta(minutes=10)
# A batch is claimed at once; it must be delivered well inside its lease.
BATCH_SIZE = 50
LEASE_MARGIN = datetime.timedelta(minutes=2)

# Called at the start of every pass, before anything is claimed (scheduled
# messages such as reminders are queued here). Each opens its own transaction.
before_pass: list[Callable[[], object]] = []


@dataclass
class PassResult:
    destination: str = ""
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    waiting: int = 0  # due, but left for a later pass because the pass stopped
    problem: str = ""  # why the pass stopped early

    @property
    def ok(self) -> bool:
        return not (self.problem or self.retrying or self.failed)

    def counts(self) -> str:
        return f"sent {self.sent}, to retry {self.retrying}, failed {self.failed}"

    def summary(self) -> str:
        text = f"Mail to {self.destination}: {self.counts()}."
        if self.problem:
            text += f" Stopped: {self.problem}; {self.waiting} more message(s) waiting."
        return text


def backoff(attempts: int) -> datetime.timedelta:
    return BASE_DELAY * 2 ** (max(attempts, 1) - 1)


def claim(worker: str, limit: int) -> list[OutboxMessage]:
    """Take up to ``limit`` due messages for ``worker``, atomically; each counts an attempt."""
    now = utcnow()
    with write_transaction():
        query = OutboxMessage.due(now).limit(limit)
        if not is_sqlite():
            query = query.for_update(skip_locked=True)
        rows = list(query)
        if rows:
            (
                OutboxMessage.update(
                    status="sending",
                    claimed_by=worker,
                    claimed_until=now + LEASE,
                    attempts=OutboxMessage.attempts + 1,
                )
                .where(OutboxMessage.id.in_([row.id for row in rows]))
                .execute()
            )
    for row in rows:
        row.attempts += 1
    return rows


def _mine(row: OutboxMessage, worker: str):
    return (OutboxMessage.id == row.id) & (OutboxMessage.claimed_by == worker)


def mark_sent(row: OutboxMessage, worker: str) -> None:
    with database.atomic():
        OutboxMessage.update(
            status="sent", sent_at=utcnow(), last_error="", claimed_by="", claimed_until=None
        ).where(_mine(row, worker)).execute()
        audit.record("mail_delivered", target_type="mail", target_id=row.id, kind=row.kind)


def mark_failed_attempt(row: OutboxMessage, worker: str, reason: str, permanent: bool) -> bool:
    """Record a failed attempt; True when the message is now failed for good."""
    final = permanent or row.attempts >= MAX_ATTEMPTS
    with database.atomic():
        OutboxMessage.update(
            status="failed" if final else "pending",
            next_attempt_at=utcnow() + backoff(row.attempts),
            last_error=reason[:255],
            claimed_by="",
            claimed_until=None,
        ).where(_mine(row, worker)).execute()
        if final:
            audit.record("mail_failed", target_type="mail", target_id=row.id, kind=row.kind)
    return final


def release(rows: list[OutboxMessage], worker: str) -> None:
    """Hand back claimed messages that were not tried (their attempt is not counted)."""
    with database.atomic():
        for row in rows:
            OutboxMessage.update(
                status="pending",
                attempts=OutboxMessage.attempts - 1,
                claimed_by="",
                claimed_until=None,
            ).where(_mine(row, worker)).execute()


def run_pass(progress: Callable[[PassResult], object] | None = None) -> PassResult:
    """Deliver every due message once (needs an app context and a connection)."""
    for hook in before_pass:
        hook()
    transport = open_transport(current_app.config)
    result = PassResult(destination=transport.destination)
    if not transport.enabled:
        result.problem = "mail is switched off"
        result.waiting = OutboxMessage.due(utcnow()).count()
        return result
    worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    from_address = compose.sender()
    try:
        while not result.problem:
            batch = claim(worker, BATCH_SIZE)
            if not batch:
                break
            _deliver(batch, worker, transport, from_address, result)
            if progress is not None:
                progress(result)
    finally:
        transport.close()
    if result.problem:
        result.waiting = OutboxMessage.due(utcnow()).count()
    return result


def _deliver(batch, worker, transport, from_address, result: PassResult) -> None:
    deadline = utcnow() + LEASE - LEASE_MARGIN
    for position, row in enumerate(batch):
        if utcnow() >= deadline:  # a slow server: never outlive the lease
            release(batch[position:], worker)
            return
        try:
            message = compose.build(row, from_address)
            transport.send(message, from_address.addr_spec, row.to_address)
        except TransportError as error:
            for waiting in batch[position:]:
                final = mark_failed_attempt(waiting, worker, str(error), permanent=False)
                result.failed += final
                result.retrying += not final
            result.problem = f"the mail server is unavailable ({error})"
            return
        except Refused as error:
            final = mark_failed_attempt(row, worker, str(error), permanent=error.permanent)
        except ValueError as error:  # cannot be built: a non-ASCII address, a line break
            final = mark_failed_attempt(row, worker, describe(error), permanent=True)
        else:
            mark_sent(row, worker)
            result.sent += 1
            continue
        result.failed += final
        result.retrying += not final
