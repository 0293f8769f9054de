"""What the answer-collecting pages read: a member's check-in, what they see after it, their
own trend on the progress page, and the provider's paper-entry form.

Privacy rule: every function here takes the member whose data it returns
from the caller's login (or from a staff object check), never from the
request; a member's page can only ever hold that member's own answers.
Each function runs a fixed number of queries, however many answers exist.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from ..measures import Measure, load_measures
from ..models import Group, MeasureResponse, SafetyAlertResponse, Session, User
from . import outcome_reports, outcomes, pacing
from .attendance import RosterEntry, roster
from .outcome_reports import Answer, Track, answers_query, measures_of, tracks_of

# ---- The member's check-in ------------------------------------------------------


@dataclass
class CheckInPage:
    checkin: outcomes.CheckIn
    sessions: list[Session]  # the sessions asking, soonest first, with their group


def checkin_page(member: User, now: datetime.datetime | None = None) -> CheckInPage:
    """The measures due now and the sessions asking for them (at most 5 queries)."""
    checkin = outcomes.due_now(member, now)
    asking = {s.id: s for sessions in checkin.sessions.values() for s in sessions}
    if asking:
        wanted = {s.group_id for s in asking.values()}
        groups = {g.id: g for g in Group.select().where(Group.id.in_(wanted))}
        for session in asking.values():
            session.group = groups[session.group_id]
    return CheckInPage(checkin, sorted(asking.values(), key=lambda s: (s.starts_at, s.id)))


@dataclass
class CheckInDone:
    responses: list[MeasureResponse]  # with their group
    crisis_card: dict | None  # safety.crisis_card() when an answer raised or joined an alert
    histories: list[tuple[Group, list[Track]]]  # groups whose plan shows members their history


def checkin_done(member: User, response_ids: list[int], crisis_card: dict) -> CheckInDone:
    """What the member sees right after submitting (4 queries).

    Only the member's own rows among ``response_ids`` are read, whatever the
    ids say.
    """
    responses = list(
        MeasureResponse.select(MeasureResponse, Group)
        .join(Group)
        .where(MeasureResponse.id.in_(response_ids or [-1]), MeasureResponse.member == member)
        .order_by(MeasureResponse.id)
    )
    flagged = bool(responses) and (
        SafetyAlertResponse.select()
        .where(SafetyAlertResponse.response.in_([r.id for r in responses]))
        .exists()
    )
    groups = list({r.group_id: r.group for r in responses}.values())
    trends = own_trends(member, groups)
    return CheckInDone(
        responses,
        crisis_card if flagged else None,
        [(g, trends[g.id]) for g in groups if g.id in trends],
    )


def own_trends(member: User, groups: list[Group]) -> dict[int, list[Track]]:
    """The member's own tracks in each group whose plan lets members see them (2 queries).

    A group whose plan keeps history from members is left out entirely.
    """
    if not groups:
        return {}
    plans = outcomes._plans(groups)
    shown = [g for g in groups if plans[g.id].member_sees_history]
    if not shown:
        return {}
    library = load_measures()
    rows: dict[int, list[Answer]] = defaultdict(list)
    query = answers_query(
        MeasureResponse.member == member, MeasureResponse.group.in_([g.id for g in shown])
    )
    for answer in map(Answer._make, query.tuples()):
        rows[answer.group_id].append(answer)
    trends = {}
    for group in shown:
        measures = measures_of(plans[group.id].codes, rows[group.id], library)
        trends[group.id] = tracks_of(measures, rows[group.id], member.timezone)
    return trends


def progress_page(member: User) -> dict:
    """The member's progress page: attendance and pacing per group (``pacing``), and their
    own score trends where the group's plan shows them (7 queries); the view is audited."""
    groups = pacing.member_progress(member)
    trends = own_trends(member, [g["group"] for g in groups])
    shown = [g["group"] for g in groups if g["group"].id in trends]
    for group in shown:
        outcome_reports.record_view(group, by=member, member=member)
    return {"groups": groups, "trends": trends}


# ---- Paper entry by staff ---------------------------------------------------------


@dataclass
class PaperPage:
    session: Session
    measure: Measure
    members: list[RosterEntry]  # enrolled at the session, without this measure recorded yet
    recorded: list[RosterEntry]  # those whose answers for this session are already in


def paper_page(session: Session, measure: Measure) -> PaperPage:
    """Who can have paper answers entered for ``measure`` at ``session`` (3 queries)."""
    entries = roster(session)
    done = {
        member_id
        for (member_id,) in MeasureResponse.select(MeasureResponse.member)
        .where(MeasureResponse.session == session, MeasureResponse.measure == measure.code)
        .tuples()
    }
    return PaperPage(
        session,
        measure,
        [e for e in entries if e.member.id not in done],
        [e for e in entries if e.member.id in done],
    )


class PaperChoice(NamedTuple):
    session: Session
    measures: list[Measure]  # the group's plan first, then the rest of the library
    member_id: int | None  # chosen on the roster; the form checks it belongs to the session


def paper_choice(session: Session, member_id: int | None) -> PaperChoice:
    """The measures a provider may enter on paper for the session (1 query)."""
    library = load_measures()
    planned = [c for c in outcomes.plan_for(session.group).codes if c in library]
    measures = [library[c] for c in planned] + [m for m in library if m.code not in planned]
    return PaperChoice(session, measures, member_id)
