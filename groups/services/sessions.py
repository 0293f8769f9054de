"""Read functions for one session's pages: each returns all its page renders.

The staff page gathers what three areas say about the session (attendance,
the handout packet, the private note's link) so the template asks nothing
itself; the member page shows only whether there are handouts to download.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Group, Session
from . import attendance, handouts


@dataclass
class StaffSessionPage:
    session: Session
    group: Group
    attendance_refusal: str | None  # why attendance cannot be taken yet, if so
    attendance_counts: dict[str, int]  # status -> members, in label order
    packet: handouts.PacketPanel


def staff_page(session: Session) -> StaffSessionPage:
    """The staff session page (4 queries, however many members or handouts)."""
    return StaffSessionPage(
        session=session,
        group=session.group,
        attendance_refusal=attendance.refusal(session, session.group),
        attendance_counts=attendance.status_counts(session),
        packet=handouts.packet_panel(session),
    )


@dataclass
class MemberSessionPage:
    session: Session
    group: Group
    has_packet: bool


def member_page(session: Session) -> MemberSessionPage:
    """A member's view of one of their sessions (1 query)."""
    return MemberSessionPage(
        session=session, group=session.group, has_packet=handouts.has_packet(session)
    )
