"""What the practice sends: one function per kind of message.

Each function queues through :func:`groups.mail.queue`, so it must run
inside the transaction of the change that causes the message (the
reminders open their own, from the dispatcher's ``before_pass``).

Privacy, for every message to a member (tests/test_messages_privacy.py
scans every queued message for these):

- no group focus, no condition and no module title. A session is "your
  group session" unless the member opted in to group names
  (``User.feed_shows_group_names``, the same choice as for calendar feeds);
  then it is the group's name;
- never another member's name or address, never a note: the context of a
  member's message is built here from the session, the group's time and
  place, and the recipient alone;
- the subject is the practice's name (added by ``queue``) and the kind of
  message.

Times are written by ``when(dt)`` in the recipient's own zone, naming it.
"""

from __future__ import annotations

import datetime

from flask import current_app

from ..clock import utcnow
from ..config import reminder_hours
from ..db import database
from ..models import Enrollment, Group, OutboxMessage, Session, User
from ..passwords import link_token_hash
from . import link, queue


def session_label(member: User, group: Group) -> str:
    """How a member's message names the group: only by name when the member opted in."""
    return group.name if member.feed_shows_group_names else "your group session"


def _token_key(user: User, token: str) -> str:
    # The link's hash, shortened: the key says which link without holding it.
    return f"{user.id}:{link_token_hash(token)[:32]}"


# --- Accounts -------------------------------------------------------------------


def _link_message(
    kind: str, user: User, token: str, lifetime: datetime.timedelta, subject: str, **context
) -> OutboxMessage | None:
    """A message carrying a set-password link and how many hours it lasts."""
    return queue(
        kind,
        to=user,
        key=_token_key(user, token),
        subject=subject,
        context={
            "link": link("auth.set_password", token=token),
            "hours": int(lifetime.total_seconds() // 3600),
            **context,
        },
    )


def invitation(user: User, token: str, *, lifetime: datetime.timedelta) -> OutboxMessage | None:
    """A new account's set-password link."""
    return _link_message(
        "invitation", user, token, lifetime, "Your new account", login=link("auth.login")
    )


def password_reset(user: User, token: str, *, lifetime: datetime.timedelta) -> OutboxMessage | None:
    """A forgot-password link."""
    return _link_message("password_reset", user, token, lifetime, "Reset your password")


def password_changed(user: User) -> OutboxMessage | None:
    """A notice after every password change: if it was not them, they should act."""
    changed_at = user.updated_at or utcnow()
    return queue(
        "password_changed",
        to=user,
        key=f"{user.id}:{changed_at:%Y%m%dT%H%M%S%f}",
        subject="Your password was changed",
        context={"changed_at": changed_at, "forgot": link("auth.forgot_password")},
    )


# --- Changes to sessions ----------------------------------------------------------


def _notified(group: Group):
    """Active members of the group who want change notices."""
    return [e.member for e in Enrollment.active_in(group) if e.member.notify_changes]


def _tell_members(kind: str, group: Group, key: str, subject: str, context) -> int:
    """Queue one change notice per member of ``group`` who wants them; how many were new.

    ``key`` names the change (a session's revision, the group's update); the
    member's id is added, so each member gets each change once. ``context``
    is called only when someone is to be told, so a change nobody hears of
    builds no links.
    """
    members = _notified(group)
    shared = context() if members else {}
    sent = 0
    for member in members:
        label = session_label(member, group)
        sent += bool(
            queue(
                kind,
                to=member,
                key=f"{key}:{member.id}",
                subject=subject,
                context={"label": label, **shared},
            )
        )
    return sent


def session_cancelled(session: Session) -> int:
    """Tell the group's members that a session is cancelled, and why."""
    return _tell_members(
        "session_cancelled",
        session.group,
        f"{session.id}:{session.revision}",
        "Session cancelled",
        lambda: {
            "starts_at": session.starts_at,
            "reason": session.cancel_reason,
            "link": link("main.member_home"),
        },
    )


def session_moved(session: Session, was: datetime.datetime) -> int:
    """Tell the group's members a session's old and new time."""
    return _tell_members(
        "session_moved",
        session.group,
        f"{session.id}:{session.revision}",
        "Session moved",
        lambda: {
            "was": was,
            "starts_at": session.starts_at,
            "link": link("sessions.detail", session_id=session.id),
        },
    )


def _next_session(group: Group) -> Session | None:
    """The group's next scheduled session that has not started yet."""
    return (
        Session.in_order()
        .where(
            Session.group == group,
            Session.status == "scheduled",
            Session.starts_at > utcnow(),
        )
        .first()
    )


def place_changed(group: Group, was: str) -> int:
    """Tell the members that the group's upcoming sessions meet somewhere else.

    Nothing is sent when no scheduled session lies ahead: the new place
    concerns nobody yet.
    """
    upcoming = _next_session(group)
    if upcoming is None:
        return 0
    return _tell_members(
        "place_changed",
        group,
        f"{group.id}:{group.updated_at:%Y%m%dT%H%M%S%f}",
        "New place for your sessions",
        lambda: {
            "was": was,
            "place": group.location,
            "starts_at": upcoming.starts_at,
            "link": link("sessions.detail", session_id=upcoming.id),
        },
    )


def seat_offered(enrollment: Enrollment) -> OutboxMessage | None:
    """A waitlisted member moved into a free seat."""
    member, group = enrollment.member, enrollment.group
    upcoming = _next_session(group)
    return queue(
        "seat_offered",
        to=member,
        key=f"{enrollment.id}",
        subject="A seat is yours",
        context={
            "label": session_label(member, group),
            "starts_at": upcoming.starts_at if upcoming else None,
            "place": group.location,
            "link": link("main.member_home"),
        },
    )


# --- Reminders ----------------------------------------------------------------------


def lead_times() -> tuple[int, ...]:
    """The practice's reminder lead times in hours, longest first."""
    value = current_app.config["REMINDER_HOURS"]
    return reminder_hours(value) if isinstance(value, str) else tuple(sorted(value, reverse=True))


def due_reminders(now: datetime.datetime):
    """(session, member, lead) for every reminder whose time has come and whose session has not.

    A member's lead time is their own choice (``reminder_hours``) when it is
    one of the practice's, else the practice's longest. A window rather
    than a moment: a session first seen inside its lead time (a new
    enrollment, a dispatcher that was down) still gets its reminder, once,
    thanks to the idempotency key.
    """
    leads = lead_times()
    for lead in leads:
        chose = User.reminder_hours == lead
        if lead == leads[0]:
            chose |= User.reminder_hours.not_in(leads)
        rows = (
            Session.select(Session, Group, Enrollment, User)
            .join(Group)
            .switch(Session)
            .join(Enrollment, on=(Enrollment.group == Session.group), attr="enrollment")
            .join(User, on=(Enrollment.member == User.id), attr="member")
            .where(
                Session.status == "scheduled",
                Session.starts_at > now,
                Session.starts_at <= now + datetime.timedelta(hours=lead),
                Group.status == "active",
                Enrollment.status == "active",
                User.active,
                User.remind_sessions,
                chose,
            )
            .order_by(Session.starts_at, Session.id, User.id)
        )
        for row in rows:
            yield row, row.enrollment.member, lead


def reminder_key(session: Session, member: User, lead: int) -> str:
    return f"{session.id}:{member.id}:{lead}h"


def queue_reminders(now: datetime.datetime | None = None) -> int:
    """Queue every due reminder not queued before (the dispatcher runs this each pass)."""
    now = now or utcnow()
    with database.atomic():
        due = list(due_reminders(now))
        if not due:
            return 0
        keys = [f"session_reminder:{reminder_key(*item)}" for item in due]
        known = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            query = OutboxMessage.select(OutboxMessage.key).where(OutboxMessage.key.in_(chunk))
            known.update(key for (key,) in query.tuples())
        profile = link("account.profile")
        sent = 0
        for (session, member, lead), key in zip(due, keys, strict=True):
            if key in known:
                continue
            sent += bool(
                queue(
                    "session_reminder",
                    to=member,
                    key=reminder_key(session, member, lead),
                    subject="Session reminder",
                    context={
                        "label": session_label(member, session.group),
                        "starts_at": session.starts_at,
                        "place": session.group.location,
                        "link": link("sessions.detail", session_id=session.id),
                        "profile": profile,
                    },
                    unsubscribe_url=profile,
                )
            )
    return sent
