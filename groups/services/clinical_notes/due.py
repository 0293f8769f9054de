"""Notes due: held sessions with a note left to sign, for a provider and per provider."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from peewee import fn

from ...access import visible_groups
from ...clock import to_local as clock_local
from ...clock import today_in, utcnow
from ...models import (
    Attendance,
    Group,
    GroupNote,
    MemberNote,
    Session,
    User,
    name_order,
)
from .common import (
    ATTENDING,
    names_of,
)

# ---- Notes due ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DueSession:
    session_id: int
    group_id: int
    group_name: str
    starts_at_local: datetime.datetime
    age_days: int
    unsigned: int  # notes not signed yet, counting the ones not started
    lead_id: int


@dataclass
class ProviderDue:
    provider_id: int
    name: str
    sessions: list[DueSession]

    @property
    def oldest_days(self) -> int:
        return max(s.age_days for s in self.sessions)


def _due(groups_query, now=None) -> list[DueSession]:
    """Held sessions of the groups with a note left to sign, oldest first (1 query)."""
    now = now or utcnow()
    present = Attendance.select(fn.COUNT(Attendance.id)).where(
        (Attendance.session == Session.id) & Attendance.status.in_(ATTENDING)
    )
    signed = MemberNote.select(fn.COUNT(MemberNote.id)).where(
        (MemberNote.session == Session.id) & (MemberNote.status == "signed")
    )
    group_signed = GroupNote.select(fn.COUNT(GroupNote.id)).where(
        (GroupNote.session == Session.id) & (GroupNote.status == "signed")
    )
    query = (
        Session.select(
            Session.id.alias("session_id"),
            Session.starts_at.alias("starts_at"),
            Group.id.alias("group_id"),
            Group.name.alias("group_name"),
            Group.timezone.alias("timezone"),
            Group.lead.alias("lead_id"),
            present.alias("present"),
            signed.alias("signed"),
            group_signed.alias("group_signed"),
        )
        .join(Group)
        .where(
            Session.held_by(now),
            Group.id.in_(groups_query.select(Group.id)),
            # Wrapped in a function so the subqueries compare as values.
            (fn.COALESCE(group_signed, 0) == 0)
            | (fn.COALESCE(present, 0) > fn.COALESCE(signed, 0)),
        )
        .order_by(Session.starts_at, Session.id)
        .dicts()
    )
    due = []
    for row in query:
        unsigned = (1 - min(row["group_signed"], 1)) + max(row["present"] - row["signed"], 0)
        if unsigned:
            # A raw column: the dict holds what the driver gave, not the field's aware value.
            local = clock_local(Session.starts_at.python_value(row["starts_at"]), row["timezone"])
            due.append(
                DueSession(
                    session_id=row["session_id"],
                    group_id=row["group_id"],
                    group_name=row["group_name"],
                    starts_at_local=local,
                    age_days=(today_in(row["timezone"]) - local.date()).days,
                    unsigned=unsigned,
                    lead_id=row["lead_id"],
                )
            )
    return due


def notes_due_for(provider: User, now=None) -> list[DueSession]:
    """The provider's home page: their groups' held sessions with unsigned notes."""
    return _due(visible_groups(provider), now)


def notes_due_by_provider(now=None) -> list[ProviderDue]:
    """The admin's view: each lead provider's sessions with unsigned notes, by name (2 queries)."""
    due = _due(Group.select(), now)
    by_lead: dict[int, list[DueSession]] = defaultdict(list)
    for item in due:
        by_lead[item.lead_id].append(item)
    names = names_of(set(by_lead))
    found = [ProviderDue(pid, names.get(pid, ""), items) for pid, items in by_lead.items()]
    return sorted(found, key=lambda p: name_order(p.name, p.provider_id))
