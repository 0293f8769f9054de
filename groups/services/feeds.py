"""Calendar feeds and exports: which sessions, under which titles, behind which token.

Turns database rows into calendars. Each feed selects its sessions with ONE
query that also brings each session's kept VEVENT from the calendar store
(``CalendarEvent``, one per session and privacy variant). A kept VEVENT is
reused while its session's revision and ``updated_at`` stand
(``Session.calendar_changed`` raises both); the missing or stale ones are
built from one more query and written back. The store is shared by every
worker and host, so a freshly started worker is as fast as a warm one.

ETag and Last-Modified come from one place: the change counter that
database triggers keep (migrations 0003 and 0004), read by primary key, so a
calendar client's repeat poll costs one small query after the token lookup.
See docs/calendar-store.md for the measurements behind this design.

Privacy rules, enforced here and nowhere else:

- A member feed is titled "Group session" and named after the practice;
  it never carries the group's name, its focus or a module title (module
  titles name the diagnosis: "Understanding adult ADHD"). A member may opt
  in to the group's name (``User.feed_shows_group_names``).
- No feed carries a member's name or email, an attendee or a session note:
  the query selects none of them.
- A member feed holds the sessions of groups the member is *active* in. On
  withdrawal the group's sessions leave the feed, past ones included: that
  matches the schedule page and the session page, which stop showing the
  group too (a past event would link to a page the member can no longer
  open).

Feed tokens are ``secrets.token_urlsafe(32)`` (256 bits); only their SHA-256
is stored, so a lost link cannot be shown again, only replaced.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app
from peewee import JOIN, IntegrityError, OperationalError, chunked

from .. import audit
from ..access import member_groups
from ..calendars import FORMAT, FeedEvent, assemble, vevent
from ..clock import local_date, practice_zone, utcnow
from ..db import database
from ..models import CalendarEvent, CoFacilitator, Group, Module, Session, User
from ..urls import base_url, external_url
from . import ServiceError

#: Subscription feeds reach this far back; the future is open-ended.
FEED_LOOKBACK = datetime.timedelta(days=180)
#: Exports cover at most this many days (a clear message beyond).
MAX_EXPORT_DAYS = 5 * 366
#: Calendar clients are asked to poll this often.
REFRESH_MINUTES = 60
MEMBER_SUMMARY = "Group session"
#: Kept VEVENTs written back per INSERT (six values each).
STORE_BATCH = 100
#: Session ids per ``IN (...)`` when reading what missing VEVENTs are built from.
ROWS_BATCH = 500

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
# A session's local date is within 14 hours of its UTC date in every zone.
_ZONE_MARGIN = datetime.timedelta(hours=14)


class Row(NamedTuple):
    """The columns a feed needs, and nothing else (no people, no notes)."""

    id: int
    revision: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    status: str
    cancel_reason: str
    is_makeup: bool
    updated_at: datetime.datetime
    group_name: str
    location: str
    timezone: str
    module_title: str | None


def _to_utc(value) -> datetime.datetime | None:
    """A stored UTC time as an aware datetime (SQLite gives text, PostgreSQL naive)."""
    if value is None:
        return None
    if isinstance(value, str):  # parsing the offset beats .replace(tzinfo=UTC) afterwards
        return datetime.datetime.fromisoformat(value + "+00:00")
    return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value


def _selected(conditions, variant: str, built_for: str) -> list[tuple]:
    """The query behind every feed: ``(id, starts_at, timezone, kept VEVENT)`` in calendar order.

    The VEVENT is the stored one of ``variant`` if it is current (same
    revision and ``updated_at`` as its session, built for the same format
    and base URL), else NULL. Only these four columns: a year of the
    practice (10,000+ rows) is read twice as fast as with every column a
    VEVENT is built from, which only the missing ones need (:func:`_rows`).
    Read raw: peewee's per-value converters would cost more than the query.
    """
    kept = (
        (CalendarEvent.session == Session.id)
        & (CalendarEvent.variant == variant)
        & (CalendarEvent.revision == Session.revision)
        & (CalendarEvent.updated_at == Session.updated_at)
        & (CalendarEvent.built_for == built_for)
    )
    query = (
        Session.select(Session.id, Session.starts_at, Group.timezone, CalendarEvent.body)
        .join(Group, on=(Session.group == Group.id))
        .switch(Session)
        .join(CalendarEvent, JOIN.LEFT_OUTER, on=kept)
        .order_by(Session.starts_at, Session.id)
    )
    if conditions:
        query = query.where(*conditions)
    return database.execute(query).fetchall()


def _rows(ids: list[int]) -> dict[int, Row]:
    """What the VEVENTs of these sessions are built from, by session id."""
    found = {}
    for chunk in chunked(ids, ROWS_BATCH):
        query = (
            Session.select(
                Session.id,
                Session.revision,
                Session.starts_at,
                Session.ends_at,
                Session.status,
                Session.cancel_reason,
                Session.is_makeup,
                Session.updated_at,
                Group.name,
                Group.location,
                Group.timezone,
                Module.title,
            )
            .join(Group, on=(Session.group == Group.id))
            .switch(Session)
            .join(Module, JOIN.LEFT_OUTER, on=(Session.module == Module.id))
            .where(Session.id.in_(chunk))
        )
        for raw in database.execute(query).fetchall():
            sid, revision, starts, ends, status, reason, makeup, updated, *group, title = raw
            name, place, zone = group
            found[sid] = Row(
                sid,
                revision,
                _to_utc(starts),
                _to_utc(ends),
                status,
                reason or "",
                bool(makeup),
                _to_utc(updated),
                name,
                place or "",
                zone,
                title,
            )
    return found


def _keep(built: list[dict]) -> None:
    """Write VEVENTs built for this request into the store, replacing stale ones.

    Only a shortcut for later requests: if a session vanished meanwhile (a
    replaced schedule) or SQLite's write lock stays taken, the calendar is
    still served and a later request stores what is missing.
    """
    try:
        with database.atomic():
            for batch in chunked(built, STORE_BATCH):
                CalendarEvent.insert_many(batch).on_conflict(
                    conflict_target=[CalendarEvent.session, CalendarEvent.variant],
                    preserve=[
                        CalendarEvent.revision,
                        CalendarEvent.updated_at,
                        CalendarEvent.built_for,
                        CalendarEvent.body,
                    ],
                ).execute()
    except (IntegrityError, OperationalError):
        current_app.logger.warning("calendar store: %d events not kept", len(built))


def _calendar_version() -> tuple[int, datetime.datetime]:
    """The database's change count for calendar rows and the time it last rose.

    Plain SQL: this one primary-key read is all a repeat poll costs, and
    building it with peewee would take longer than running it.
    """
    row = database.execute_sql(
        "SELECT value, changed_at FROM change_counter WHERE name = 'calendar'"
    ).fetchone()
    return row[0], _to_utc(row[1])


def _provider_group_ids(provider: User):
    co = CoFacilitator.select(CoFacilitator.group).where(CoFacilitator.provider == provider)
    return Group.select(Group.id).where((Group.lead == provider) | (Group.id.in_(co)))


def uid_host() -> str:
    return urlsplit(base_url()).hostname or "localhost"


@dataclass
class Feed:
    """A calendar that can be checked (ETag, Last-Modified) or built.

    ``audience`` is ``"member"`` (privacy-safe titles unless
    ``show_group_names``) or ``"staff"`` (``"<group>: <module>"`` titles).
    ``days`` keeps sessions whose local date (in their group's zone) lies in
    the inclusive range. ``selection`` names who and which range (it is
    part of the ETag, as every setting that reaches the bytes is).
    ``changed_at`` adds timestamps of changes the triggers do not count (a
    member's own settings), so Last-Modified rises with them too.

    The validators come from the change counter alone: any committed change
    to the rows calendars are built from gives every calendar a new ETag,
    and an unchanged database answers a poll with a 304 after one read.
    """

    name: str
    timezone: str
    audience: str
    selection: tuple
    conditions: tuple = ()
    show_group_names: bool = False
    days: tuple = (None, None)
    changed_at: list = field(default_factory=list)
    _version: tuple | None = field(default=None, init=False, repr=False)
    _count: int | None = field(default=None, init=False, repr=False)

    @property
    def variant(self) -> str:
        """Which kept VEVENT this feed shows: its summaries differ by audience."""
        if self.audience == "staff":
            return "staff"
        return "member-named" if self.show_group_names else "member"

    def version(self) -> tuple[int, datetime.datetime]:
        if self._version is None:
            self._version = _calendar_version()
        return self._version

    @property
    def etag(self) -> str:
        settings = (FORMAT, self.name, self.timezone, self.variant, base_url())
        text = repr((settings, self.selection, self.days, self.version()))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def last_modified(self) -> datetime.datetime:
        stamps = [self.version()[1], *(s for s in self.changed_at if s is not None)]
        return max(stamps).replace(microsecond=0)

    def __len__(self) -> int:
        if self._count is None:
            self._count = len(self._selected())
        return self._count

    def _selected(self) -> list[tuple]:
        """``(session id, stored starts_at, zone, kept VEVENT or None)`` of the feed's sessions."""
        rows = _selected(self.conditions, self.variant, store_key())
        start, end = self.days
        if not rows or not (start or end):
            return rows
        # The query reaches ``_ZONE_MARGIN`` beyond each end; between these
        # instants every zone's local date is inside the range. The rows are
        # in order of start, so only the runs before ``low`` and from ``high``
        # need their group's zone, and the rest need no parsing at all.
        utc = datetime.UTC
        low = (
            datetime.datetime.combine(start, datetime.time(), utc) + _ZONE_MARGIN if start else None
        )
        high = (
            datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time(), utc)
            - _ZONE_MARGIN
            if end
            else None
        )
        first, last = 0, len(rows)
        while low and first < last and _to_utc(rows[first][1]) < low:
            first += 1
        while high and last > first and _to_utc(rows[last - 1][1]) >= high:
            last -= 1

        def inside(row) -> bool:
            day = local_date(_to_utc(row[1]), row[2])
            return (start is None or day >= start) and (end is None or day <= end)

        edges = [row for row in rows[:first] if inside(row)], [r for r in rows[last:] if inside(r)]
        return edges[0] + rows[first:last] + edges[1]

    def events(self) -> list[FeedEvent]:
        """Every event of the feed, built from its row (the store is not read)."""
        ids = [sid for sid, _, _, _ in self._selected()]
        rows, root = _rows(ids), base_url()
        return [self._event(rows[sid], root) for sid in ids if sid in rows]

    def _event(self, row: Row, root: str) -> FeedEvent:
        if self.audience == "staff":
            summary = (
                f"{row.group_name}: {row.module_title}" if row.module_title else row.group_name
            )
        elif self.show_group_names:
            summary = row.group_name
        else:
            summary = MEMBER_SUMMARY
        cancelled = row.status == "cancelled"
        if cancelled:
            summary = f"Cancelled: {summary}"
        return FeedEvent(
            session_id=row.id,
            revision=row.revision,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            timezone=row.timezone,
            summary=summary,
            location=row.location.strip(),
            url=f"{root}/sessions/{row.id}",
            cancelled=cancelled,
            cancel_reason=row.cancel_reason,
            description="Make-up session" if row.is_makeup else "",
            updated_at=row.updated_at,
        )

    def build(self) -> bytes:
        """The calendar's bytes, from kept VEVENTs; missing ones are built and kept."""
        selected = self._selected()
        missing = [sid for sid, _, _, body in selected if body is None]
        built: dict[int, str] = {}
        if missing:
            root, host, key = base_url(), uid_host(), store_key()
            rows = _rows(missing)
            for row in rows.values():
                built[row.id] = vevent(self._event(row, root), host).decode()
            _keep(
                [
                    {
                        "session": row.id,
                        "variant": self.variant,
                        "revision": row.revision,
                        "updated_at": row.updated_at,
                        "built_for": key,
                        "body": built[row.id],
                    }
                    for row in rows.values()
                ]
            )
            # A session removed since it was selected has no row: leave it out.
            selected = [r for r in selected if r[3] is not None or r[0] in built]
        self._count = len(selected)
        first = _to_utc(selected[0][1]) if selected else utcnow()
        return assemble(
            [(body if body is not None else built[sid]).encode() for sid, _, _, body in selected],
            {zone for _, _, zone, _ in selected},
            name=self.name,
            timezone=self.timezone,
            refresh_minutes=REFRESH_MINUTES,
            year=first.astimezone(datetime.UTC).year,
        )


def store_key() -> str:
    """What reaches a kept VEVENT besides its session: the builder's format and the base URL."""
    return f"{FORMAT} {base_url()}"


# --- subscription feeds -----------------------------------------------------


def feed_since() -> datetime.datetime:
    """Where subscription feeds begin: midnight UTC, ``FEED_LOOKBACK`` ago.

    A whole day, so that a day's polls select the same sessions and share
    one ETag.
    """
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - FEED_LOOKBACK


def member_feed(member: User) -> Feed:
    """The member's own sessions in groups they are active in (no query until used)."""
    since = feed_since()
    return Feed(
        name=current_app.config["PRACTICE_NAME"],
        timezone=member.timezone,
        audience="member",
        conditions=(Session.group.in_(member_groups(member)), Session.starts_at >= since),
        show_group_names=member.feed_shows_group_names,
        selection=("member", member.id, since),
        changed_at=[member.updated_at],
    )


def provider_feed(provider: User) -> Feed:
    """Sessions of every group the provider leads or co-facilitates (no query until used)."""
    since = feed_since()
    return Feed(
        name=f"{current_app.config['PRACTICE_NAME']}: my groups",
        timezone=provider.timezone,
        audience="staff",
        conditions=(Session.group.in_(_provider_group_ids(provider)), Session.starts_at >= since),
        selection=("provider", provider.id, since),
        changed_at=[provider.updated_at],
    )


def feed_for(user: User) -> Feed | None:
    if user.is_member:
        return member_feed(user)
    if user.is_provider:
        return provider_feed(user)
    return None


# --- exports ------------------------------------------------------------------


def check_range(start: datetime.date | None, end: datetime.date | None) -> None:
    if start and end and start > end:
        raise ServiceError("The last day is before the first day.", "end")
    if start and end and (end - start).days >= MAX_EXPORT_DAYS:
        raise ServiceError("Choose a range of at most five years.", "end")


def export_feed(
    *,
    group: Group | None = None,
    provider: User | None = None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
) -> Feed:
    """The practice, one provider's groups or one group, between two local dates.

    ``start``/``end`` are inclusive dates in each session's own group zone
    (a 22:00 Los Angeles session on 31 December belongs to December even
    though it is January in UTC); ``None`` leaves that side open.
    """
    check_range(start, end)
    practice = current_app.config["PRACTICE_NAME"]
    conditions = []
    if group is not None:
        conditions.append(Session.group == group)
        name, zone = f"{practice}: {group.name}", group.timezone
    elif provider is not None:
        conditions.append(Session.group.in_(_provider_group_ids(provider)))
        name, zone = f"{practice}: {provider.name}", provider.timezone
    else:
        name, zone = practice, practice_zone()
    utc = datetime.UTC
    if start:
        conditions.append(
            Session.starts_at
            >= datetime.datetime.combine(start, datetime.time(), utc) - _ZONE_MARGIN
        )
    if end:
        day_after = datetime.datetime.combine(end, datetime.time(), utc) + datetime.timedelta(
            days=1
        )
        conditions.append(Session.starts_at < day_after + _ZONE_MARGIN)
    return Feed(
        name=name,
        timezone=zone,
        audience="staff",
        conditions=tuple(conditions),
        days=(start, end),
        selection=("export", group and group.id, provider and provider.id, start, end),
    )


def export_filename(*, group: Group | None, provider: User | None, start, end) -> str:
    """A file name without people's or groups' names (they may reveal a focus)."""
    what = f"group-{group.id}" if group else f"provider-{provider.id}" if provider else "practice"
    span = "-".join(d.isoformat() for d in (start, end) if d)
    return f"{what}-{span}.ics" if span else f"{what}.ics"


def record_export(feed: Feed, *, actor: User | None, group, provider, start, end) -> None:
    scope = "group" if group else "provider" if provider else "practice"
    audit.record(
        "calendar_exported",
        actor=actor,
        target=group or provider,
        scope=scope,
        start=start.isoformat() if start else "",
        end=end.isoformat() if end else "",
        sessions=len(feed),
    )


# --- feed tokens ----------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(token: str) -> User | None:
    """The active member or provider a feed token belongs to, else None.

    Malformed, unknown, rotated-away tokens and deactivated accounts all
    give None, so the caller answers each with the same 404.
    """
    if not _TOKEN_RE.fullmatch(token or ""):
        return None
    user = User.get_or_none(User.feed_token_hash == token_hash(token))
    if user is None or not user.active or user.role not in ("member", "provider"):
        return None
    return user


def issue_token(user: User) -> str:
    """A new feed token for ``user``; any earlier link stops working at once."""
    if user.role not in ("member", "provider"):
        raise ServiceError("Calendar links are for members and providers.")
    first = user.feed_token_hash is None
    for _ in range(3):
        token = secrets.token_urlsafe(32)
        try:
            with database.atomic():
                _save_token(user, token_hash(token))
                audit.record("feed_token_rotated", actor=user, target=user, first=first)
            return token
        except IntegrityError:  # a 256-bit collision: astronomically unlikely
            continue
    raise ServiceError("Could not create a calendar link; please try again.")


def revoke_token(user: User) -> None:
    """Turn the calendar link off: the feed URL answers 404 from now on."""
    with database.atomic():
        _save_token(user, None)
        audit.record("feed_token_rotated", actor=user, target=user, revoked=True)


def _save_token(user: User, hashed: str | None) -> None:
    user.feed_token_hash = hashed
    user.updated_at = utcnow()
    User.update(feed_token_hash=hashed, updated_at=user.updated_at).where(
        User.id == user.id
    ).execute()


def set_show_group_names(user: User, show: bool) -> None:
    if user.feed_shows_group_names == show:
        return
    with database.atomic():
        user.feed_shows_group_names = show
        user.updated_at = utcnow()
        User.update(feed_shows_group_names=show, updated_at=user.updated_at).where(
            User.id == user.id
        ).execute()
        audit.record("account_changed", actor=user, target=user, fields=["feed_shows_group_names"])


def feed_urls(token: str) -> dict[str, str]:
    """The https (or, in development, http) and webcal:// forms of a feed URL."""
    https = external_url("calendars.feed", token=token)
    return {"https": https, "webcal": "webcal://" + https.split("://", 1)[1]}
