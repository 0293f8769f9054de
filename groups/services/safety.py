"""Safety alerts: a positive safety item (PHQ-9 item 9) that no provider can miss.

Rules (docs/outcomes.md, "Safety"):

- Any answer set whose measure flags a safety item (``Measure.safety_flag``:
  the item above its lowest option, whatever the total) raises an alert for
  the member in that group, in the same transaction as the answers.
- A repeat positive for the same member and group within 24 hours of an
  alert that is still *open* attaches to it instead of opening another. An
  alert someone has already acknowledged does not absorb a new positive: a
  fresh alert is raised and staff are told again.
- Staff acknowledge, then resolve with a required note of the action taken.
- The group's lead, its co-facilitators and every active admin are notified
  when an alert is raised, and again every ``SAFETY_REMIND_HOURS`` while it
  stays open (``remind_unacknowledged``, called by each dispatcher pass).

Notifications: ``notify_staff`` composes one notice per recipient (the
member's initials, the alert's id and a link to the group; never the
answers, a score or the group's focus) and queues it in the mail outbox in
the same transaction, keyed by alert, round and recipient.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import NamedTuple

from flask import current_app

from .. import audit, mail
from ..access import visible_groups
from ..clock import utcnow
from ..db import Prepared, is_sqlite, write_transaction
from ..inputs import has_control_character
from ..models import (
    ALERT_NOTE_MAX,
    ALERT_STATUSES,
    CoFacilitator,
    Group,
    MeasureResponse,
    SafetyAlert,
    SafetyAlertResponse,
    User,
)
from . import ServiceError

REPEAT_WINDOW = datetime.timedelta(hours=24)
NOTICE_KIND = "safety_alert"
NOTICE_SUBJECT = "A safety alert needs your attention"


# ---- Raising ----------------------------------------------------------------


def check(response: MeasureResponse, measure, score, *, now=None) -> SafetyAlert | None:
    """Raise or extend an alert when ``score`` flags a safety item; call inside the writer's
    transaction. Returns the alert, or None when nothing is flagged."""
    if not score.safety_flag:
        return None
    now = now or utcnow()
    if not is_sqlite():
        # Serialise positives of one member: two at once must not open two alerts.
        User.select(User.id).where(User.id == response.member_id).for_update().execute()
    alert = (
        SafetyAlert.select()
        .where(
            SafetyAlert.member == response.member_id,
            SafetyAlert.group == response.group_id,
            SafetyAlert.status == "open",
            SafetyAlert.raised_at >= now - REPEAT_WINDOW,
        )
        .order_by(SafetyAlert.raised_at.desc(), SafetyAlert.id.desc())
        .first()
    )
    if alert is not None:
        SafetyAlertResponse.create(alert=alert, response=response)
        audit_alert("safety_alert_attached", alert, actor=None, response_id=response.id)
        return alert
    alert = SafetyAlert.create(member=response.member_id, group=response.group_id, raised_at=now)
    SafetyAlertResponse.create(alert=alert, response=response)
    audit_alert("safety_alert_raised", alert, actor=None, response_id=response.id)
    notify_staff(alert, now=now)
    return alert


# ---- Notifying staff -----------------------------------------------------------


@dataclass(frozen=True)
class StaffNotice:
    """One alert email as the outbox will take it (``mail.queue(kind, to=..., ...)``)."""

    kind: str
    to: User
    key: str  # idempotency key: alert, round and recipient
    subject: str
    context: dict  # member_initials, alert_id, reminder: never answers, score or focus


def staff_recipients(group_id: int) -> list[User]:
    """The group's lead and co-facilitators and every active admin, once each (1 query)."""
    co = CoFacilitator.select(CoFacilitator.provider).where(CoFacilitator.group == group_id)
    lead = Group.select(Group.lead).where(Group.id == group_id)
    people = (
        User.select()
        .where(User.active, (User.role == "admin") | User.id.in_(co) | User.id.in_(lead))
        .order_by(User.id)
    )
    return list(people)


def initials(name: str) -> str:
    """'Jordan Lee Smith' -> 'J. L. S.'; enough for staff to know whom, nothing more."""
    return " ".join(f"{part[0].upper()}." for part in name.split() if part[0].isalnum()) or "?"


def notify_staff(alert: SafetyAlert, *, now=None) -> list[StaffNotice]:
    """Notify the alert's staff, inside the transaction that raised or reminded it.

    Starts a new notice round (``notice_rounds``, ``last_notified_at``), so
    every round has its own idempotency keys.
    """
    now = now or utcnow()
    alert.notice_rounds += 1
    alert.last_notified_at = now
    alert.save(only=[SafetyAlert.notice_rounds, SafetyAlert.last_notified_at])
    member = User.select(User.name).where(User.id == alert.member_id).get()
    notices = [
        StaffNotice(
            kind=NOTICE_KIND,
            to=person,
            key=f"{alert.id}:{alert.notice_rounds}:{person.id}",
            subject=NOTICE_SUBJECT,
            context={
                "member_initials": initials(member.name),
                "alert_id": alert.id,
                "reminder": alert.notice_rounds > 1,
            },
        )
        for person in staff_recipients(alert.group_id)
    ]
    for notice in notices:
        _send(alert, notice)
    return notices


def _send(alert: SafetyAlert, notice: StaffNotice) -> None:
    """Queue the notice in the outbox, in the transaction that raised or reminded the alert."""
    mail.queue(
        notice.kind,
        to=notice.to,
        key=notice.key,
        subject=notice.subject,
        context={**notice.context, "link": mail.link("groups.detail", group_id=alert.group_id)},
    )


def remind_unacknowledged(now=None) -> int:
    """Notify again for every alert open ``SAFETY_REMIND_HOURS`` since its last notice.

    Safe to call from several dispatchers at once: each alert is locked and
    checked again in its own transaction before its round starts. Returns
    how many alerts were reminded.
    """
    now = now or utcnow()
    cutoff = now - datetime.timedelta(hours=current_app.config.get("SAFETY_REMIND_HOURS", 4))
    due = [
        a.id
        for a in SafetyAlert.select(SafetyAlert.id).where(
            SafetyAlert.status == "open", SafetyAlert.last_notified_at <= cutoff
        )
    ]
    reminded = 0
    for alert_id in due:
        with write_transaction():
            alert = _locked(alert_id)
            if alert.status == "open" and alert.last_notified_at <= cutoff:
                notify_staff(alert, now=now)
                reminded += 1
    return reminded


# ---- Handling --------------------------------------------------------------


def acknowledge(alert_id: int, *, by: User) -> SafetyAlert:
    """Someone has seen the alert and is acting: the banners and reminders stop."""
    with write_transaction():
        alert = _locked(alert_id)
        if alert.status != "open":
            raise ServiceError(f"This alert is already {alert.status}.")
        alert.status = "acknowledged"
        alert.acknowledged_by = by
        alert.acknowledged_at = utcnow()
        alert.save()
        audit_alert("safety_alert_acknowledged", alert, actor=by)
    return alert


def resolve(alert_id: int, note: str, *, by: User) -> SafetyAlert:
    """Close an acknowledged alert with a note of the action taken (required)."""
    note = (note or "").strip()
    if not note:
        raise ServiceError("Write what was done before resolving the alert.", field="note")
    if len(note) > ALERT_NOTE_MAX:
        raise ServiceError(f"Keep the note under {ALERT_NOTE_MAX} characters.", field="note")
    if has_control_character(note, allowed="\n\r\t"):
        raise ServiceError("The note contains a control character.", field="note")
    with write_transaction():
        alert = _locked(alert_id)
        if alert.status == "open":
            raise ServiceError("Acknowledge the alert before resolving it.")
        if alert.status == "resolved":
            raise ServiceError("This alert is already resolved.")
        alert.status = "resolved"
        alert.resolved_by = by
        alert.resolved_at = utcnow()
        alert.resolution_note = note
        alert.save()
        audit_alert("safety_alert_resolved", alert, actor=by)
    return alert


def _locked(alert_id: int) -> SafetyAlert:
    query = SafetyAlert.select().where(SafetyAlert.id == alert_id)
    if not is_sqlite():
        query = query.for_update()
    alert = query.first()
    if alert is None:
        raise ServiceError("There is no such alert.")
    return alert


def audit_alert(action: str, alert: SafetyAlert, *, actor, **detail) -> None:
    """Audit ``action`` on ``alert`` by its ids (member, group) and any ids in ``detail``."""
    audit.record(
        action,
        actor=actor,
        target=alert,
        target_type="safety_alert",
        member_id=alert.member_id,
        group_id=alert.group_id,
        **detail,
    )


# ---- Reading --------------------------------------------------------------------


def alerts(status: str | None = None):
    """Every alert, newest first, optionally of one status (for list-alerts and admins)."""
    if status is not None and status not in ALERT_STATUSES:
        raise ServiceError(f"Status must be one of {', '.join(ALERT_STATUSES)}.")
    query = SafetyAlert.select().order_by(SafetyAlert.raised_at.desc(), SafetyAlert.id.desc())
    return query.where(SafetyAlert.status == status) if status else query


def open_alerts_for(user: User, group: Group | None = None) -> list[SafetyAlert]:
    """Open alerts ``user`` must see (their groups; admins all), with member and group (1 query).

    For the home pages; pass ``group`` for one group.
    """
    query = _open_alerts()
    if not user.is_admin:
        query = query.where(SafetyAlert.group.in_(visible_groups(user).select(Group.id)))
    if group is not None:
        query = query.where(SafetyAlert.group == group)
    return list(query)


class Named(NamedTuple):
    id: int
    name: str


class BannerAlert(NamedTuple):
    """An open alert as a page's banner lists it (the banner reads nothing else)."""

    id: int
    raised_at: datetime.datetime
    member: Named
    group: Named


def open_alerts_of(group: Group) -> list[BannerAlert]:
    """Open alerts of one group, for the read functions of its pages (1 prepared query).

    Whoever passed the group's object check sees every alert of the group.
    """
    return [
        BannerAlert(alert_id, raised_at, Named(member_id, member), Named(group_id, name))
        for alert_id, raised_at, member_id, member, group_id, name in _OPEN_IN_GROUP.tuples(
            group.id
        )
    ]


def _open_alerts():
    return (
        SafetyAlert.select(SafetyAlert, User, Group)
        .join(User, on=(SafetyAlert.member == User.id))
        .switch(SafetyAlert)
        .join(Group, on=(SafetyAlert.group == Group.id))
        .where(SafetyAlert.status == "open")
        .order_by(SafetyAlert.raised_at, SafetyAlert.id)
    )


# The group pages show it on every view: its SQL is built once (``db.Prepared``).
_OPEN_IN_GROUP = Prepared(
    lambda group_id: (
        _open_alerts()
        .select(SafetyAlert.id, SafetyAlert.raised_at, User.id, User.name, Group.id, Group.name)
        .where(SafetyAlert.group == group_id)
    )
)


def alert_for_staff(user: User, alert_id: int) -> SafetyAlert | None:
    """The alert if ``user`` may handle it (a provider of its group, or an admin), else None."""
    query = SafetyAlert.select().where(SafetyAlert.id == alert_id)
    if not user.is_admin:
        query = query.where(SafetyAlert.group.in_(visible_groups(user).select(Group.id)))
    return query.first()


def crisis_card() -> dict:
    """What the member sees right after a positive safety item: the practice's phone
    (when set) and the crisis text, both from configuration."""
    config = current_app.config
    return {"phone": config.get("PRACTICE_PHONE"), "text": config["CRISIS_TEXT"]}
