"""The audit log: who did what, when, from where. Append-only.

Entries name the action and the record touched, never a password, token,
clinical note or attendance note.
"""

from __future__ import annotations

import datetime
import json

from flask import has_request_context, request
from flask_login import current_user
from werkzeug.local import LocalProxy

from .clock import utcnow
from .db import insert_row
from .models import AuditLog, Enrollment, Module, NoteAddendum, User

ACTIONS = (
    "login",
    "login_failed",
    "login_throttled",
    "logout",
    "session_expired",
    "account_created",
    "account_changed",
    "account_deactivated",
    "account_reactivated",
    "password_link_issued",
    "password_link_used",
    "group_created",
    "group_changed",
    "schedule_created",
    "session_changed",
    "closure_changed",
    "member_record_viewed",
    "enrollment_changed",
    "attendance_changed",
    "attendance_exported",
    "note_viewed",
    "note_changed",
    "catchup_done",
    "handout_downloaded",
    "packet_changed",
    "calendar_exported",
    "feed_fetched",
    "feed_token_rotated",
    "backup_taken",
    # The user's own account (docs/accounts.md).
    "password_changed",
    "verification_failed",
    "two_factor_enabled",
    "two_factor_disabled",
    "two_factor_reset",
    "recovery_codes_created",
    "recovery_code_used",
    "mail_queued",
    "mail_delivered",
    "mail_failed",
    "mail_retried",
    "mail_viewed",
    "audit_exported",
    # Outcomes and safety (docs/outcomes.md).
    "measure_plan_changed",
    "measure_submitted",
    "measure_entered",
    "measures_imported",
    "outcomes_viewed",
    "outcomes_exported",
    "safety_alert_raised",
    "safety_alert_attached",
    "safety_alert_acknowledged",
    "safety_alert_resolved",
    "safety_alert_viewed",
    # The clinical record and charges (docs/clinical-notes.md).
    "clinical_note_viewed",
    "clinical_note_saved",
    "clinical_note_signed",
    "clinical_note_cosigned",
    "clinical_note_addendum",
    "clinical_note_name_confirmed",
    "clinical_note_printed",
    "charge_created",
    "charges_exported",
    "diagnosis_changed",
    "npi_changed",
)


def client_ip() -> str:
    return (request.remote_addr or "") if has_request_context() else "cli"


def record(
    action: str,
    *,
    actor: User | None = None,
    target: object | None = None,
    target_type: str = "",
    target_id: int | None = None,
    **detail,
) -> AuditLog:
    """Append one entry. ``actor`` defaults to the logged-in user."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    # ``current_user`` is a proxy: its own class name ("localproxy") must not
    # become the record type, so both are unwrapped here, where every caller passes.
    actor, target = _unwrapped(actor), _unwrapped(target)
    if target is not None:
        target_type = target_type or type(target).__name__.lower()
        target_id = target.id
    return insert_row(
        AuditLog,
        at=utcnow(),
        actor=actor,
        actor_label=actor.email if actor else "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=json.dumps(detail, sort_keys=True, default=str) if detail else "",
        ip=client_ip(),
    )


def record_change(action: str, target: object, *, by: User | None, **detail) -> AuditLog:
    """A change to ``target``, with the ids that place it in the practice (``SCOPES``),
    so a caller names only what is particular to the change."""
    return record(action, actor=by, target=target, **SCOPES[type(target)](target), **detail)


def _addendum_scope(addendum: NoteAddendum) -> dict:
    kind = "group" if addendum.group_note_id else "member"
    note = addendum.group_note if kind == "group" else addendum.member_note
    return {"session_id": note.session_id, "note_id": note.id, "note_kind": kind}


# What ``record_change`` writes about each kind of record: "group" and "member" are
# the detail keys the log page shows by name.
SCOPES = {
    Enrollment: lambda e: {"group": e.group_id, "member": e.member_id},
    Module: lambda m: {"group": m.group_id},
    NoteAddendum: _addendum_scope,
}


def record_export(action: str, *, by: User | None, scope: object | None, **detail) -> AuditLog:
    """An export's entry: ``scope`` is the record it was limited to (a group, a provider),
    or None for the whole practice."""
    target_type = "" if scope is not None else "practice"
    return record(action, actor=by, target=scope, target_type=target_type, **detail)


def _unwrapped(value):
    return value._get_current_object() if isinstance(value, LocalProxy) else value


def entries(
    who: str = "",
    action: str = "",
    day_from: datetime.date | None = None,
    day_to: datetime.date | None = None,
):
    """Entries newest first, filtered by actor email (contains), action and UTC days.

    ``day_to`` includes the whole of its day; an unknown action filters nothing.
    """
    query = AuditLog.select().order_by(AuditLog.at.desc(), AuditLog.id.desc())
    if who:
        query = query.where(AuditLog.actor_label.contains(who.strip().lower()))
    if action in ACTIONS:
        query = query.where(AuditLog.action == action)
    if day_from:
        query = query.where(AuditLog.at >= _midnight_utc(day_from))
    if day_to:
        query = query.where(AuditLog.at < _midnight_utc(day_to + datetime.timedelta(days=1)))
    return query


def _midnight_utc(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), datetime.UTC)
