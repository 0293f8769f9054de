"""What the outcome pages read: a group's Outcomes page, one member's trend, the roster's
latest scores, and the practice view for admins.

Each function runs a fixed number of queries, however many members,
sessions or answers there are; none of them writes (a page records its view
with ``record_view``).
"""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from flask import current_app
from markupsafe import Markup

from .. import audit, clock
from ..charts import TrendShape, trend_shape, trend_svg
from ..clock import utcnow
from ..db import Prepared, write_transaction
from ..measures import (
    CHANGE_LABELS,
    NO_RELIABLE_CHANGE,
    RECOVERED,
    RELIABLE_DETERIORATION,
    RELIABLE_IMPROVEMENT,
    Change,
    Measure,
    load_measures,
)
from ..models import Enrollment, Group, MeasurePlan, MeasureResponse, Session, User
from .outcomes import plan_for, requested_sessions

CATEGORIES = (RELIABLE_IMPROVEMENT, NO_RELIABLE_CHANGE, RELIABLE_DETERIORATION, RECOVERED)
# A practice-view rate drawn from fewer members than this is shown as a count.
SMALL_N = 5


# ---- The group's Outcomes page -------------------------------------------------


class Answer(NamedTuple):
    """One answer set as the outcome pages read it (the columns they show, no item answers)."""

    member_id: int
    group_id: int
    session_id: int | None
    measure: str
    total: int
    band: str  # the band's key
    completed_at: datetime.datetime


def answers_query(*conditions):
    """Answer sets matching ``conditions`` as ``Answer`` columns, oldest first: the one read
    of totals behind the Outcomes page, a member's record, their own trend and the roster."""
    return (
        MeasureResponse.select(
            MeasureResponse.member,
            MeasureResponse.group,
            MeasureResponse.session,
            MeasureResponse.measure,
            MeasureResponse.total,
            MeasureResponse.band,
            MeasureResponse.completed_at,
        )
        .where(*conditions)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
    )


# A large group has hundreds of answers: built once, run as plain SQL, rows as
# tuples (building peewee queries and model objects cost more than the queries).
_GROUP_ANSWERS = Prepared(lambda group_id: answers_query(MeasureResponse.group == group_id))
_MEMBER_ANSWERS = Prepared(
    lambda group_id, member_id: answers_query(
        MeasureResponse.group == group_id, MeasureResponse.member == member_id
    )
)


class ScoreText(NamedTuple):
    total: int
    band: str  # the band's label, lower case, as it reads after the number


@dataclass
class Track:
    """One member's totals on one measure in one group, oldest first, with what a page
    prints of them worked out here (the template only prints: see _charts.html)."""

    measure: Measure
    responses: list[Answer]
    tz: str  # the zone the table's dates are in

    @property
    def baseline(self) -> Answer | None:
        return self.responses[0] if self.responses else None

    @property
    def latest(self) -> Answer | None:
        return self.responses[-1] if self.responses else None

    @functools.cached_property
    def change(self) -> Change | None:
        """The change from baseline to latest; None until there are two answers.

        Worked out once: a page reads it for the figure, the sign and the chip.
        """
        if len(self.responses) < 2:
            return None
        return self.measure.change(self.baseline.total, self.latest.total)

    @property
    def baseline_score(self) -> ScoreText | None:
        return self._score(self.baseline)

    @property
    def latest_score(self) -> ScoreText | None:
        """None until there is a second answer (the first is the baseline)."""
        return self._score(self.latest) if len(self.responses) > 1 else None

    def _score(self, answer: Answer | None) -> ScoreText | None:
        if answer is None:
            return None
        return ScoreText(answer.total, self._band_labels.get(answer.band, answer.band).lower())

    @functools.cached_property
    def _band_labels(self) -> dict[str, str]:
        return {band.key: band.label for band in self.measure.bands}

    @property
    def signed_change(self) -> str:
        """ "+3", "−3" (a real minus sign), "0", or "—" before a second answer."""
        change = self.change
        if change is None:
            return "—"
        if change.difference > 0:
            return f"+{change.difference}"
        return f"−{-change.difference}" if change.difference < 0 else "0"

    @property
    def totals_text(self) -> str:
        """The totals oldest first, "18, 15, 13": the chart's short label."""
        return ", ".join([str(r.total) for r in self.responses])

    @property
    def shape(self) -> TrendShape:
        return trend_shape(
            [r.total for r in self.responses], self.measure.max_total, self.measure.bands
        )

    def chart(self, who: str) -> Markup:
        """The trend as an SVG image, labeled with ``who`` and the totals."""
        return trend_svg(self.shape, f"{self.measure.title} trend for {who}: {self.totals_text}")

    @property
    def table(self) -> list[tuple[str, str]]:
        """(local date, "13 moderate") of every answer, oldest first: the rows of the
        table that is the chart's text alternative."""
        labels, tz = self._band_labels, self.tz
        return [
            (_local_day(r.completed_at, tz), f"{r.total} {labels.get(r.band, r.band).lower()}")
            for r in self.responses
        ]


def measures_of(codes: Iterable[str], answers: Iterable[Answer], library) -> list[Measure]:
    """The measures a page shows: the plan's (``codes``, in order) that the library knows,
    then any other measure answered, by code (a plan may change after answers)."""
    shown = [c for c in codes if c in library]
    shown += sorted(c for c in {a.measure for a in answers} - set(shown) if c in library)
    return [library[c] for c in shown]


def tracks_of(measures: list[Measure], answers: Iterable[Answer], tz: str) -> list[Track]:
    """One member's answers (oldest first) as a track per measure, in the order of ``measures``."""
    by_code: dict[str, list[Answer]] = {m.code: [] for m in measures}
    for a in answers:
        if a.measure in by_code:
            by_code[a.measure].append(a)
    return [Track(m, by_code[m.code], tz) for m in measures]


@functools.lru_cache(maxsize=4096)
def _local_date(when: datetime.datetime, tz: str) -> datetime.date:
    """The day ``when`` (aware, UTC) falls on in ``tz`` (remembered as ``_local_day`` is)."""
    return clock.local_date(when, tz)


@functools.lru_cache(maxsize=4096)
def _local_day(when: datetime.datetime, tz: str) -> str:
    """ "05 Mar 2026" for an aware UTC time in ``tz``.

    A group's members answer at the same few sessions, so a page of a dozen
    tracks repeats the same thirty times; the result depends on nothing but
    the arguments, so remembering it cannot go stale.
    """
    return clock.to_local(when, tz).strftime("%d %b %Y")


class Person(NamedTuple):
    """A member as the Outcomes page shows them (a User model would cost more to make)."""

    id: int
    name: str


@dataclass
class MemberOutcome:
    member: Person
    current: bool  # active enrollment and account; False keeps history out of the totals
    tracks: list[Track]


@dataclass
class MeasureCounts:
    measure: Measure
    counts: dict[str, int]  # category -> current members
    without_change: int  # current members with fewer than two answers

    @property
    def labelled(self) -> list[tuple[str, int]]:
        return [(CHANGE_LABELS[c], self.counts[c]) for c in CATEGORIES]


@dataclass
class Completion:
    answered: int = 0
    requested: int = 0  # requests whose check-in has closed, or already answered

    @property
    def percent(self) -> int | None:
        return round(100 * self.answered / self.requested) if self.requested else None


@dataclass
class ScoreGrid:
    """Every total of one measure in the group as one table: a row per day anyone
    answered, a column per member (in the Outcomes page's order). The text alternative
    of that page's charts, on a page of its own (``group_scores``): one cell per answer.
    Days run down the page so that a long group still fits the width of paper."""

    measure: Measure
    members: list[str]  # column headings: the members' names
    # (day, "05 Mar 2026", oldest first; a cell per member): that day's totals ("9", or
    # "9, 8") or "".
    rows: list[tuple[str, list[str]]]


def score_grid(measure: Measure, members: list[MemberOutcome], index: int, tz: str) -> ScoreGrid:
    """The ``ScoreGrid`` of ``measure``, the ``index``-th of each member's tracks."""
    answers = [
        [(_local_date(a.completed_at, tz), a.total) for a in m.tracks[index].responses]
        for m in members
    ]
    days = sorted({day for pairs in answers for day, _total in pairs})
    cells = {day: [""] * len(members) for day in days}
    for column, pairs in enumerate(answers):
        for day, total in pairs:
            row = cells[day]
            # Two answers on one day (a paper form and a check-in) share the cell.
            row[column] = f"{row[column]}, {total}" if row[column] else str(total)
    return ScoreGrid(
        measure,
        [m.member.name for m in members],
        [(f"{day:%d %b %Y}", cells[day]) for day in days],
    )


@dataclass
class GroupOutcomes:
    group: Group
    plan: MeasurePlan
    measures: list[Measure]
    members: list[MemberOutcome]
    totals: list[MeasureCounts]
    completion: Completion


class SessionTimes(NamedTuple):
    """What the cadence rules read of a session."""

    id: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    status: str


class Membership(NamedTuple):
    """An enrollment as the Outcomes page reads it, with the member's name and account state
    (what ``requested_sessions`` reads of an enrollment, and the member's row)."""

    member_id: int
    status: str
    joined_at: datetime.datetime | None
    withdrawn_at: datetime.datetime | None
    name: str
    active: bool


_MEMBERSHIPS = Prepared(
    lambda group_id: (
        Enrollment.select(
            Enrollment.member,
            Enrollment.status,
            Enrollment.joined_at,
            Enrollment.withdrawn_at,
            User.name,
            User.active,
        )
        .join(User, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group_id, Enrollment.status != "waitlisted")
    )
)
_SESSIONS = Prepared(
    lambda group_id: Group(id=group_id).sessions_in_order(
        Session.id, Session.starts_at, Session.ends_at, Session.status
    )
)


class GroupMembers(NamedTuple):
    """A group's members with their tracks: what the Outcomes page and the scores table
    both list."""

    plan: MeasurePlan
    measures: list[Measure]
    members: list[MemberOutcome]  # current members first, then by name
    stays: dict[int, list[Membership]]  # each member's enrollments
    answers: list[Answer]  # every answer set in the group, oldest first


def group_members(group: Group) -> GroupMembers:
    """Every member who has been in the group (those who left too, marked not current)
    with a track per measure (3 queries, whatever the data)."""
    plan = plan_for(group)
    enrollments = list(map(Membership._make, _MEMBERSHIPS.tuples(group.id)))
    answers = list(map(Answer._make, _GROUP_ANSWERS.tuples(group.id)))
    measures = measures_of(plan.codes, answers, load_measures())
    stays: dict[int, list[Membership]] = defaultdict(list)
    for e in enrollments:
        stays[e.member_id].append(e)
    answers_of: dict[int, list[Answer]] = defaultdict(list)
    for a in answers:
        answers_of[a.member_id].append(a)
    members = []
    for member_id, rows in stays.items():
        first = rows[0]
        current = first.active and any(e.status == "active" for e in rows)
        tracks = tracks_of(measures, answers_of[member_id], group.timezone)
        members.append(MemberOutcome(Person(member_id, first.name), current, tracks))
    members.sort(key=lambda m: (not m.current, m.member.name.casefold(), m.member.id))
    return GroupMembers(plan, measures, members, stays, answers)


def group_outcomes(group: Group, now: datetime.datetime | None = None) -> GroupOutcomes:
    """Everything the group's Outcomes page shows (4 queries, whatever the data).

    Members who withdrew (or whose account is inactive) keep their rows,
    marked not current, and are left out of the counts and the completion rate.
    """
    now = now or utcnow()
    read = group_members(group)
    plan, measures = read.plan, read.measures
    sessions = list(map(SessionTimes._make, _SESSIONS.tuples(group.id)))

    asked = plan.codes  # parsed from the saved text on every read: once here
    # The sessions that ask a member depend only on when they joined and left, so members
    # who started together (a closed group's usual start) share the working out: the
    # requested sessions' ids, and those whose check-in has closed.
    requested: dict[tuple, tuple[set[int], set[int]]] = {}
    completion = Completion()
    totals = {m.code: MeasureCounts(m, dict.fromkeys(CATEGORIES, 0), 0) for m in measures}
    for row in read.members:
        if not row.current:
            continue
        for track in row.tracks:
            change = track.change
            if change is None:
                totals[track.measure.code].without_change += 1
            else:
                totals[track.measure.code].counts[change.category] += 1
        stays = read.stays[row.member.id]
        stay = tuple((e.joined_at, e.withdrawn_at) for e in stays)
        if stay not in requested:
            chosen = requested_sessions(plan.cadence, sessions, stays, group.timezone)
            closed = {s.id for s in chosen if s.ends_at <= now}
            requested[stay] = ({s.id for s in chosen}, closed)
        ids, closed = requested[stay]
        tracks = {track.measure.code: track for track in row.tracks}
        for code in asked:
            # A request counts once its check-in has closed, or sooner if answered.
            track = tracks.get(code)
            answered = ids.intersection(a.session_id for a in track.responses) if track else set()
            completion.requested += len(closed | answered)
            completion.answered += len(answered)
    return GroupOutcomes(group, plan, measures, read.members, list(totals.values()), completion)


@dataclass
class GroupScores:
    group: Group
    grids: list[ScoreGrid]  # one per measure the Outcomes page shows, in its order


def group_scores(group: Group) -> GroupScores:
    """Every total of the group as a table per measure: the Outcomes page's charts in
    numbers, on a page of their own (3 queries, whatever the data)."""
    read = group_members(group)
    grids = [score_grid(m, read.members, i, group.timezone) for i, m in enumerate(read.measures)]
    return GroupScores(group, grids)


def record_view(group: Group, *, by: User, member: User | None = None) -> None:
    """Audit a view of a group's outcomes (or one member's within it)."""
    with write_transaction():
        audit.record(
            "outcomes_viewed",
            actor=by,
            target=group,
            member_id=member.id if member is not None else None,
        )


def member_tracks(member: User, group: Group, tz: str | None = None) -> list[Track]:
    """One member's tracks in one group, dates in ``tz`` (the group's unless given), for
    their record and their own page (2 queries)."""
    answers = [Answer(*row) for row in _MEMBER_ANSWERS.tuples(group.id, member.id)]
    measures = measures_of(plan_for(group).codes, answers, load_measures())
    return tracks_of(measures, answers, tz or group.timezone)


def own_history(member: User, group: Group) -> list[Track] | None:
    """The member's own trend (in their zone), or None when the group's plan does not
    show it to members."""
    if not plan_for(group).member_sees_history:
        return None
    return member_tracks(member, group, member.timezone)


def latest_scores(group: Group) -> dict[int, dict[str, Answer]]:
    """Member id -> measure code -> their latest answer in the group, for the roster and
    the progress notes (1 query; read on every view of a session's notes page)."""
    latest: dict[int, dict[str, Answer]] = defaultdict(dict)
    for row in _GROUP_ANSWERS.tuples(group.id):
        answer = Answer(*row)
        latest[answer.member_id][answer.measure] = answer
    return dict(latest)


@dataclass(frozen=True)
class RosterScore:
    """A member's most recent total on one measure, with its band, for the roster."""

    measure: Measure
    total: int
    band_label: str
    completed_at: datetime.datetime


def roster_scores(group: Group) -> dict[int, list[RosterScore]]:
    """Member id -> their latest score on each measure in the group (1 query for the roster)."""
    library = load_measures()
    found = {}
    for member_id, by_code in latest_scores(group).items():
        found[member_id] = [
            RosterScore(library[code], r.total, library[code].band(r.total).label, r.completed_at)
            for code, r in sorted(by_code.items())
            if code in library
        ]
    return found


# ---- The practice view (admins) -------------------------------------------------


@dataclass
class Rates:
    """Change categories among ``n`` members; below SMALL_N members, counts only."""

    label: str
    measure: Measure
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    @property
    def shows_percent(self) -> bool:
        return self.n >= SMALL_N

    def display(self, category: str) -> str:
        count = self.counts[category]
        if not self.shows_percent:
            return f"{count} of {self.n}"
        return f"{round(100 * count / self.n)}% ({count} of {self.n})"


@dataclass
class PracticeOutcomes:
    start: datetime.date
    end: datetime.date
    by_focus: list[Rates]
    by_provider: list[Rates]


def practice_outcomes(start: datetime.date, end: datetime.date) -> PracticeOutcomes:
    """Change rates per focus and per lead provider over a period (2 queries).

    A member counts once per group and measure when their latest answer up
    to ``end`` falls in the period (practice-zone dates) and they have a
    baseline before it; members who left the group count too, since leaving
    early is part of a group's outcome.
    """
    tz = current_app.config["PRACTICE_TIMEZONE"]
    library = load_measures()
    first = clock.local_to_utc(start, datetime.time(), tz)
    after = clock.local_to_utc(end + datetime.timedelta(days=1), datetime.time(), tz)
    rows = (
        MeasureResponse.select(
            MeasureResponse.member,
            MeasureResponse.group,
            MeasureResponse.measure,
            MeasureResponse.total,
            MeasureResponse.completed_at,
            Group.focus,
            Group.lead,
        )
        .join(Group)
        .where(MeasureResponse.completed_at < after)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
        .tuples()
    )
    episodes: dict[tuple, list] = {}
    for member_id, group_id, code, total, completed_at, focus, lead_id in rows:
        if code not in library:
            continue
        # [baseline, latest, latest's time, answers so far, focus, lead]
        episode = episodes.setdefault(
            (member_id, group_id, code), [total, total, completed_at, 0, focus, lead_id]
        )
        episode[1], episode[2], episode[3] = total, completed_at, episode[3] + 1
    focus_rates: dict[tuple, Rates] = {}
    provider_rates: dict[tuple, Rates] = {}
    for (_member, _group, code), episode in episodes.items():
        baseline, latest, when, answers, focus, lead_id = episode
        if when < first or answers < 2:
            continue
        measure = library[code]
        focus_rates.setdefault((focus, code), Rates(focus, measure))
        provider_rates.setdefault((lead_id, code), Rates(str(lead_id), measure))
        category = measure.change(baseline, latest).category
        focus_rates[(focus, code)].counts[category] += 1
        provider_rates[(lead_id, code)].counts[category] += 1
    names = dict(
        User.select(User.id, User.name).where(User.id.in_([k[0] for k in provider_rates])).tuples()
    )
    for (lead_id, _code), rates in provider_rates.items():
        rates.label = names.get(lead_id, f"Provider {lead_id}")
    return PracticeOutcomes(
        start,
        end,
        sorted(focus_rates.values(), key=lambda r: (r.label, r.measure.code)),
        sorted(provider_rates.values(), key=lambda r: (r.label, r.measure.code)),
    )
