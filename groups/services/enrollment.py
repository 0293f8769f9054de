"""Enrollment: capacity enforced atomically, a FIFO waitlist, withdrawal with history.

Every change runs in one write transaction that first locks the group
(BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on PostgreSQL), so
concurrent requests are serialised per group and a group never holds more
active members than its capacity. The partial unique index
``enrollment_current`` backs "no duplicate enrollment".
"""

from __future__ import annotations

from peewee import IntegrityError

from .. import audit
from ..clock import utcnow
from ..db import is_sqlite, write_transaction
from ..mail import messages
from ..models import Enrollment, Group, Session, User
from . import ServiceError, accounts


def lock_group(group_id: int) -> Group:
    query = Group.select().where(Group.id == group_id)
    if not is_sqlite():
        query = query.for_update()
    return query.get()


def first_session_started(group: Group, sessions: list[Session] | None = None) -> bool:
    """Whether a session has been held or has begun (from ``sessions`` when given)."""
    if sessions is not None:
        now = utcnow()
        return any(
            s.status == "held" or (s.status != "cancelled" and s.starts_at <= now) for s in sessions
        )
    return group.sessions.where(
        Session.status != "cancelled",
        (Session.status == "held") | (Session.starts_at <= utcnow()),
    ).exists()


def closed_reason(group: Group, sessions: list[Session] | None = None) -> str | None:
    """Why the group takes no new members now, or None when it does."""
    if group.status in ("completed", "archived"):
        return f"This group is {group.status}; it takes no new members."
    if group.format == "closed" and first_session_started(group, sessions):
        return (
            "This is a closed group and its first session has already taken place, "
            "so it takes no new members. Consider an open group instead."
        )
    return None


def waitlist(group: Group):
    """Waitlisted enrollments of active accounts, first come first served."""
    return (
        Enrollment.select(Enrollment, User)
        .join(User, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group, Enrollment.status == "waitlisted", User.active)
        .order_by(Enrollment.requested_at, Enrollment.id)
    )


def waitlist_position(enrollment: Enrollment) -> int:
    ids = [e.id for e in waitlist(enrollment.group)]
    return ids.index(enrollment.id) + 1


def record_change(enrollment: Enrollment, *, by: User, previous: str | None = None) -> None:
    """Audit an enrollment's new status (ids only: no names in the log)."""
    detail = {
        "group": enrollment.group_id,
        "member": enrollment.member_id,
        "status": enrollment.status,
    }
    if previous is not None:
        detail["previous"] = previous
    audit.record("enrollment_changed", actor=by, target=enrollment, **detail)


ALREADY = {
    "active": "{name} is already enrolled in this group.",
    "waitlisted": "{name} is already on this group's waitlist.",
}


def enroll(group: Group, member: User, *, by: User) -> Enrollment:
    """Enroll a member: active while seats are left, else waitlisted."""
    if not member.is_member or not member.active:
        raise ServiceError("Only active member accounts can be enrolled.", "member")
    try:
        with write_transaction():
            group = lock_group(group.id)
            current = Enrollment.get_or_none(
                Enrollment.group == group,
                Enrollment.member == member,
                Enrollment.status.in_(("active", "waitlisted")),
            )
            if current is not None:
                raise ServiceError(ALREADY[current.status].format(name=member.name), "member")
            if reason := closed_reason(group):
                raise ServiceError(reason)
            now = utcnow()
            seat = Enrollment.active_in(group).count() < group.capacity
            enrollment = Enrollment.create(
                group=group,
                member=member,
                status="active" if seat else "waitlisted",
                requested_at=now,
                joined_at=now if seat else None,
                created_by=by,
            )
            record_change(enrollment, by=by)
    except IntegrityError:
        # A concurrent request enrolled the same member first.
        raise ServiceError(
            f"{member.name} is already enrolled or waitlisted in this group.", "member"
        ) from None
    return enrollment


def enroll_new_member(
    group: Group, *, email: str, name: str, timezone: str, by: User
) -> tuple[Enrollment, str]:
    """Create a member account, enroll it and email its invitation, all in one transaction.

    Returns the enrollment and the set-password token (shown once on the
    page too). Any refusal (a duplicate email, a group that closed a moment
    ago) leaves no account behind.
    """
    with write_transaction():
        member, token = accounts.create_invited(
            email, name, "member", timezone=timezone, created_by=by
        )
        return enroll(group, member, by=by), token


def enroll_by_email(group: Group, email: str, *, by: User) -> Enrollment:
    """Enroll the member account with this email; every refusal names the email field.

    Staff enroll by email so that a provider never browses the practice's
    member list.
    """
    member = User.by_email(email)
    if member is None or not member.is_member:
        raise ServiceError(
            "No member account has this email. Check the spelling, or create the account below.",
            "email",
        )
    try:
        return enroll(group, member, by=by)
    except ServiceError as error:
        raise ServiceError(error.message, "email") from None


def withdraw(enrollment: Enrollment, reason: str, *, by: User) -> Enrollment | None:
    """Withdraw; returns the waitlisted enrollment promoted into the freed seat, if any."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Give a reason for the withdrawal.", "reason")
    with write_transaction():
        group = lock_group(enrollment.group_id)
        enrollment = Enrollment.get_by_id(enrollment.id)
        if enrollment.status == "withdrawn":
            raise ServiceError("This member has already been withdrawn.")
        promoted = _withdraw_locked(group, enrollment, reason, by=by)
    return promoted[0] if promoted else None


def current_enrollments(member: User) -> list[Enrollment]:
    """The member's active and waitlisted places in running groups, by group name.

    A completed or archived group's roster is a record of what happened, so
    its enrollments are left as they were.
    """
    return list(
        Enrollment.select(Enrollment, Group)
        .join(Group)
        .where(
            Enrollment.member == member,
            Enrollment.status.in_(("active", "waitlisted")),
            Group.status.in_(("draft", "active")),
        )
        .order_by(Group.name, Group.id)
    )


def withdraw_all(member: User, reason: str, *, by: User) -> list[Enrollment]:
    """Withdraw every current place of ``member``, promoting each group's waitlist.

    Call inside a write transaction; groups are locked in id order so two
    such calls cannot deadlock on PostgreSQL. Returns the withdrawn rows.
    """
    withdrawn = []
    for group_id in sorted({e.group_id for e in current_enrollments(member)}):
        group = lock_group(group_id)
        enrollment = Enrollment.get_or_none(
            Enrollment.group == group,
            Enrollment.member == member,
            Enrollment.status.in_(("active", "waitlisted")),
        )
        if enrollment is not None:
            _withdraw_locked(group, enrollment, reason, by=by)
            withdrawn.append(enrollment)
    return withdrawn


def _withdraw_locked(group: Group, enrollment: Enrollment, reason: str, *, by: User):
    """Mark ``enrollment`` withdrawn and fill the freed seat; the group is locked."""
    was = enrollment.status
    enrollment.status = "withdrawn"
    enrollment.withdrawn_at = utcnow()
    enrollment.withdraw_reason = reason[:200]
    enrollment.save()
    record_change(enrollment, by=by, previous=was)
    return fill_from_waitlist(group, by=by)


def fill_from_waitlist(group: Group, *, by: User) -> list[Enrollment]:
    """Promote waitlisted members, first come first served, into free seats.

    Call inside a write transaction that holds the group's lock.
    """
    free = group.capacity - Enrollment.active_in(group).count()
    promoted = list(waitlist(group).limit(max(free, 0)))
    now = utcnow()
    for enrollment in promoted:
        enrollment.status = "active"
        enrollment.joined_at = now
        enrollment.save()
        record_change(enrollment, by=by, previous="waitlisted")
        messages.seat_offered(enrollment)
    return promoted
