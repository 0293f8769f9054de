"""Calendar feeds and exports: which sessions, under which titles, behind which token.

Turns database rows into :class:`~groups.calendars.FeedEvent` values for the
pure builder. Each feed fetches its sessions with ONE query (sessions joined
to their group and module, read as plain tuples), so the cost of a feed does
not grow in queries with its size.

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
import threading
import zoneinfo
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app
from peewee import JOIN, SQL, IntegrityError, fn

from .. import audit
from ..access import member_groups
from ..calendars import FeedEvent, build_calendar
from ..clock import utcnow
from ..db import database
from ..models import CoFacilitator, Enrollment, Group, Module, Session, User
from . import ServiceError

#: Subscription feeds reach this far back; the future is open-ended.
FEED_LOOKBACK = datetime.timedelta(days=180)
#: Exports cover at most this many days (a clear message beyond).
MAX_EXPORT_DAYS = 5 * 366
#: Calendar clients are asked to poll this often.
REFRESH_MINUTES = 60
MEMBER_SUMMARY = "Group session"

#: Finished calendars kept per worker, by ETag, up to this many bytes in all.
BODY_CACHE_BYTES = 32 * 1024 * 1024
#: Fingerprints kept per worker (a few hundred bytes each).
FINGERPRINT_MEMO_SIZE = 4096

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
    group_id: int
    group_name: str
    location: str
    timezone: str
    module_title: str | None


def _joined(*columns):
    """Sessions joined to their group and (if any) module."""
    return (
        Session.select(*columns)
        .join(Group, on=(Session.group == Group.id))
        .switch(Session)
        .join(Module, JOIN.LEFT_OUTER, on=(Session.module == Module.id))
    )


def _where(query, conditions):
    return query.where(*conditions) if conditions else query


def _to_utc(value) -> datetime.datetime | None:
    """A stored UTC time as an aware datetime (SQLite gives text, PostgreSQL naive)."""
    if value is None:
        return None
    if isinstance(value, str):  # "+00:00" is 8x faster than .replace(tzinfo=UTC)
        return datetime.datetime.fromisoformat(value + "+00:00")
    return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value


def _session_rows(conditions) -> list[Row]:
    """The one query behind every feed, read raw and converted here.

    Going around peewee's per-value converters (``strptime`` on SQLite)
    makes a year of the practice (10,000+ rows) several times faster.
    """
    query = _where(
        _joined(
            Session.id,
            Session.revision,
            Session.starts_at,
            Session.ends_at,
            Session.status,
            Session.cancel_reason,
            Session.is_makeup,
            Session.updated_at,
            Group.id,
            Group.name,
            Group.location,
            Group.timezone,
            Module.title,
        ),
        conditions,
    ).order_by(Session.starts_at, Session.id)
    seen: dict = {}  # updated_at values repeat across rows: convert each once

    def stamp(value):
        if value not in seen:
            seen[value] = _to_utc(value)
        return seen[value]

    return [
        Row(
            sid,
            revision,
            _to_utc(starts),
            _to_utc(ends),
            status,
            reason or "",
            bool(makeup),
            stamp(updated),
            gid,
            gname,
            location or "",
            zone,
            title,
        )
        for (
            sid,
            revision,
            starts,
            ends,
            status,
            reason,
            makeup,
            updated,
            gid,
            gname,
            location,
            zone,
            title,
        ) in database.execute(query).fetchall()
    ]


def _fingerprint(conditions) -> tuple:
    """One aggregate row that changes whenever the feed's content can.

    The set of sessions (count, sum and sum of squares of ids), every change
    to a session (each sets ``updated_at`` to now and most raise
    ``revision``), every change to a group (``updated_at``) and module
    reassignments. Cheap: no row leaves the database.

    The sessions are aggregated alone, from the covering index on
    ``(starts_at, group, module, revision, updated_at)``: no table row is
    read and nothing is joined per session. Their module ids stand for the
    joined modules (the foreign key keeps them equal; a removed module sets
    them to NULL), and the groups' newest ``updated_at`` is taken from the
    groups that have a session in the feed (one index probe per group).
    Joining groups and modules to ~9,700 sessions cost a year's 304 about
    9 ms; this costs about 2.5 (make bench).
    """
    in_feed = Session.select(SQL("1")).where(Session.group == Group.id, *conditions)
    groups_changed = Group.select(fn.MAX(Group.updated_at)).where(fn.EXISTS(in_feed))
    query = _where(
        Session.select(
            fn.COUNT(SQL("*")),  # ids are never NULL; COUNT(*) skips reading them
            fn.SUM(Session.id),
            fn.SUM(Session.id * Session.id),
            fn.SUM(Session.revision),
            fn.MAX(Session.updated_at),
            groups_changed,
            fn.COUNT(Session.module),
            fn.SUM(Session.module),
        ),
        conditions,
    )
    row = database.execute(query).fetchone()
    return (*(int(v or 0) for v in row[:4]), _to_utc(row[4]), _to_utc(row[5]), *row[6:])


def _provider_group_ids(provider: User):
    co = CoFacilitator.select(CoFacilitator.group).where(CoFacilitator.provider == provider)
    return Group.select(Group.id).where((Group.lead == provider) | (Group.id.in_(co)))


def _max(*values):
    present = [v for v in values if v is not None]
    return max(present) if present else None


def base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


def uid_host() -> str:
    return urlsplit(base_url()).hostname or "localhost"


@dataclass
class Feed:
    """A calendar that can be checked (ETag, Last-Modified) or built.

    ``conditions`` select its sessions. The ETag and Last-Modified come from
    one aggregate query (:func:`_fingerprint`); the rows are fetched only
    when the calendar is built, so a 304 never reads them.

    ``audience`` is ``"member"`` (privacy-safe titles unless
    ``show_group_names``) or ``"staff"`` (``"<group>: <module>"`` titles).
    ``days`` keeps sessions whose local date (in their group's zone) lies in
    the inclusive range. ``changed_at`` adds timestamps of things that
    change the feed without touching a session (a withdrawal, a settings
    change), so Last-Modified rises with them. ``memo_key`` names the
    selection (who, which range): its fingerprint is reused while the
    database's calendar change count stands still.
    """

    name: str
    timezone: str
    audience: str
    memo_key: tuple
    conditions: tuple = ()
    show_group_names: bool = False
    days: tuple = (None, None)
    changed_at: list = field(default_factory=list)
    _rows: list | None = field(default=None, init=False, repr=False)
    _fingerprint: tuple | None = field(default=None, init=False, repr=False)
    _count: int | None = field(default=None, init=False, repr=False)

    @property
    def rows(self) -> list[Row]:
        if self._rows is None:
            rows = _session_rows(self.conditions)
            start, end = self.days
            if start or end:
                rows = [r for r in rows if _local_day_in(r, start, end)]
            self._rows = rows
        return self._rows

    def __len__(self) -> int:
        return self._count if self._count is not None else len(self.rows)

    def fingerprint(self) -> tuple:
        """The aggregate, or this worker's copy of it while nothing has changed.

        The change counter is read first: a change committed after that read
        raises the counter again, so a stale copy is never reused.
        """
        if self._fingerprint is None:
            changes, memo = _calendar_changes(), _fingerprint_memo()
            kept = memo.get(self.memo_key)
            if kept is not None and kept[0] == changes:
                self._fingerprint = kept[1]
            else:
                self._fingerprint = _fingerprint(self.conditions)
                memo.put(self.memo_key, (changes, self._fingerprint))
        return self._fingerprint

    @property
    def etag(self) -> str:
        settings = (self.name, self.timezone, self.audience, self.show_group_names, base_url())
        text = repr((settings, self.days, self.fingerprint()))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def last_modified(self) -> datetime.datetime | None:
        fingerprint = self.fingerprint()
        latest = _max(fingerprint[4], fingerprint[5], *self.changed_at)
        return latest.replace(microsecond=0) if latest else None

    def events(self) -> list[FeedEvent]:
        root = base_url()
        return [self._event(row, root) for row in self.rows]

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
        """The calendar's bytes; a repeat of an unchanged calendar reads no rows.

        Finished bodies are kept by ETag: the ETag covers everything that
        reaches the bytes (304s rely on it), so a hit is the same calendar.
        A warm year of the practice goes from about 200 ms (rows, events,
        cached VEVENTs) to the cost of the ETag query (make bench).
        """
        key, bodies = self.etag, _body_cache()
        hit = bodies.get(key)
        if hit is not None:
            body, self._count = hit
            return body
        body = build_calendar(
            self.events(),
            name=self.name,
            timezone=self.timezone,
            host=uid_host(),
            refresh_minutes=REFRESH_MINUTES,
        )
        bodies.put(key, (body, len(self.rows)))
        return body


class _LRU:
    """A small least-recently-used map, bounded by the total ``weigh`` of its values."""

    def __init__(self, limit: int, weigh):
        self.limit = limit
        self.weigh = weigh
        self.items: OrderedDict = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key, value) -> None:
        weight = self.weigh(value)
        if weight > self.limit // 4:
            return  # one huge value must not push everything else out
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.size -= self.weigh(old)
            self.items[key] = value
            self.size += weight
            while self.size > self.limit:
                _, dropped = self.items.popitem(last=False)
                self.size -= self.weigh(dropped)


def _body_cache() -> _LRU:
    """This app's built calendars (one app per worker; each test's app starts empty)."""
    return current_app.extensions.setdefault(
        "feed_bodies", _LRU(BODY_CACHE_BYTES, weigh=lambda kept: len(kept[0]))
    )


def _fingerprint_memo() -> _LRU:
    """This app's fingerprints, each with the change count it was computed at."""
    return current_app.extensions.setdefault(
        "feed_fingerprints", _LRU(FINGERPRINT_MEMO_SIZE, weigh=lambda kept: 1)
    )


def _calendar_changes() -> int:
    """The database's count of changes to calendar rows (migration 0003's triggers).

    Plain SQL: this one primary-key read is all a repeat poll costs, and
    building it with peewee would take longer than running it.
    """
    row = database.execute_sql("SELECT value FROM change_counter WHERE name = 'calendar'")
    return row.fetchone()[0]


# --- subscription feeds -----------------------------------------------------


def feed_since() -> datetime.datetime:
    """Where subscription feeds begin: midnight UTC, ``FEED_LOOKBACK`` ago.

    A whole day, so that a day's polls select the same sessions and share
    one remembered fingerprint.
    """
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - FEED_LOOKBACK


def member_feed(member: User) -> Feed:
    """The member's own sessions in groups they are active in.

    One query here (for Last-Modified), one for the ETag, one to build.
    """
    since = feed_since()
    joined, withdrawn = (
        Enrollment.select(fn.MAX(Enrollment.joined_at), fn.MAX(Enrollment.withdrawn_at))
        .where(Enrollment.member == member)
        .tuples()
        .get()
    )
    return Feed(
        name=current_app.config["PRACTICE_NAME"],
        timezone=member.timezone,
        audience="member",
        conditions=(Session.group.in_(member_groups(member)), Session.starts_at >= since),
        show_group_names=member.feed_shows_group_names,
        memo_key=("member", member.id, since),
        changed_at=[
            member.updated_at,
            Enrollment.joined_at.python_value(joined),
            Enrollment.withdrawn_at.python_value(withdrawn),
        ],
    )


def provider_feed(provider: User) -> Feed:
    """Sessions of every group the provider leads or co-facilitates.

    One query here (for Last-Modified), one for the ETag, one to build.
    """
    since = feed_since()
    # Leaving a group (a lead or co-facilitator change) touches that group's
    # updated_at, but the group is no longer in the rows: take the newest
    # change of any group so Last-Modified still rises.
    any_group = Group.select(fn.MAX(Group.updated_at)).scalar()
    return Feed(
        name=f"{current_app.config['PRACTICE_NAME']}: my groups",
        timezone=provider.timezone,
        audience="staff",
        conditions=(Session.group.in_(_provider_group_ids(provider)), Session.starts_at >= since),
        memo_key=("provider", provider.id, since),
        changed_at=[provider.updated_at, Group.updated_at.python_value(any_group)],
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
        name, zone = practice, current_app.config["PRACTICE_TIMEZONE"]
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
        memo_key=("export", group and group.id, provider and provider.id, start, end),
    )


def _local_day_in(row: Row, start: datetime.date | None, end: datetime.date | None) -> bool:
    day = row.starts_at.astimezone(zoneinfo.ZoneInfo(row.timezone)).date()
    return (start is None or day >= start) and (end is None or day <= end)


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


def feed_urls(token: str, url_for_feed: str) -> dict[str, str]:
    """The https (or, in development, http) and webcal:// forms of a feed URL.

    ``url_for_feed`` is the feed's path (``/feed/<token>.ics``), joined to
    ``BASE_URL`` so links are right behind a proxy too.
    """
    https = base_url() + url_for_feed
    return {"https": https, "webcal": "webcal://" + https.split("://", 1)[1]}
