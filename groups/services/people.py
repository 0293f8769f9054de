"""An admin's page for one person: their groups, enrollments, attendance and audit trail.

One read function, :func:`person_page`, with a fixed number of queries
whatever the person's history: four, each bounded or aggregated.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

from ..clock import utcnow
from ..models import Attendance, AuditLog, CoFacilitator, Enrollment, Group, Session, User
from .attendance import Rate

RECENT_AUDIT_ROWS = 20


class LedGroup(NamedTuple):
    id: int
    name: str
    status: str
    role: str  # "Lead" or "Co-facilitator"


class EnrollmentRow(NamedTuple):
    group_id: int
    group_name: str
    status: str  # active, waitlisted, withdrawn
    requested_at: datetime.datetime
    withdrawn_at: datetime.datetime | None
    withdraw_reason: str
    rate: Rate  # attendance in this group's held sessions


class PersonPage(NamedTuple):
    groups: list[LedGroup]  # staff: groups they lead or co-facilitate, by name
    enrollments: list[EnrollmentRow]  # members: newest request first
    rate: Rate  # members: over every held session of every group
    audit: list[AuditLog]  # newest first: by them, about their account or their enrollments


def person_page(user: User) -> PersonPage:
    """Everything the admin's person page shows besides the account form."""
    co_led = CoFacilitator.select(CoFacilitator.group).where(CoFacilitator.provider == user)
    groups = [
        LedGroup(gid, name, status, "Lead" if lead_id == user.id else "Co-facilitator")
        for gid, name, status, lead_id in Group.select(
            Group.id, Group.name, Group.status, Group.lead
        )
        .where((Group.lead == user) | Group.id.in_(co_led))
        .order_by(Group.name, Group.id)
        .tuples()
    ]
    # Attendance in held sessions only, as the group pages count it.
    marks = (
        Attendance.select(Session.group, Attendance.status)
        .join(Session, on=(Attendance.session == Session.id))
        .where(Attendance.member == user, Session.held_by(utcnow()))
        .tuples()
    )
    per_group: dict[int, Rate] = {}
    total = Rate()
    for group_id, status in marks:
        per_group.setdefault(group_id, Rate()).add(status)
        total.add(status)
    rows = (
        Enrollment.select(Enrollment, Group.id, Group.name)
        .join(Group, on=(Enrollment.group == Group.id))
        .where(Enrollment.member == user)
        .order_by(Enrollment.requested_at.desc(), Enrollment.id.desc())
    )
    enrollments = [
        EnrollmentRow(
            e.group.id,
            e.group.name,
            e.status,
            e.requested_at,
            e.withdrawn_at,
            e.withdraw_reason,
            per_group.get(e.group.id, Rate()),
        )
        for e in rows
    ]
    audit = list(
        AuditLog.select()
        .where(
            (AuditLog.actor == user)
            | ((AuditLog.target_type == "user") & (AuditLog.target_id == user.id))
            | (
                (AuditLog.target_type == "enrollment")
                & AuditLog.target_id.in_(
                    Enrollment.select(Enrollment.id).where(Enrollment.member == user)
                )
            )
        )
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(RECENT_AUDIT_ROWS)
    )
    return PersonPage(groups, enrollments, total, audit)
