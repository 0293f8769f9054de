"""Outcomes: plans and cadence, the check-in window, answers in (all or nothing), read functions."""

from __future__ import annotations

import datetime

import pytest

from groups.models import AuditLog, Enrollment, MeasurePlan, MeasureResponse, SafetyAlert, Session
from groups.services import ServiceError, outcome_reports, outcomes
from groups.services.outcomes import AnswersRefused, requested_sessions
from tests import world
from tests.checks import count_queries
from tests.world import attendance_world, make_user

UTC = datetime.UTC
GAD7_MILD = [1, 1, 1, 1, 1, 1, 0]  # total 6
PHQ9_CLEAR = [3, 3, 3, 3, 3, 3, 3, 3, 0]  # total 24, item 9 at 0


@pytest.fixture(autouse=True)
def ctx(app):
    with app.app_context():
        yield


# ---- Cadence (pure) ------------------------------------------------------------


def sessions(count, cancelled=()):
    first = datetime.datetime(2026, 1, 6, 23, 0, tzinfo=UTC)
    return [
        Session(
            id=n + 1,
            starts_at=first + datetime.timedelta(weeks=n),
            ends_at=first + datetime.timedelta(weeks=n, minutes=90),
            status="cancelled" if n in cancelled else "scheduled",
        )
        for n in range(count)
    ]


def joined(at=datetime.datetime(2026, 1, 1, tzinfo=UTC), withdrawn=None):
    return [Enrollment(status="active", joined_at=at, withdrawn_at=withdrawn)]


def asked(cadence, all_sessions, enrollments=None):
    found = requested_sessions(cadence, all_sessions, enrollments or joined(), "America/New_York")
    return [s.id for s in found]


def test_every_session_asks_at_each_session():
    assert asked("every_session", sessions(5)) == [1, 2, 3, 4, 5]


def test_every_other_session_asks_baseline_alternate_sessions_and_the_final_one():
    assert asked("every_other_session", sessions(6)) == [1, 3, 5, 6]


def test_every_four_weeks_counts_calendar_weeks_from_the_baseline():
    assert asked("every_four_weeks", sessions(10)) == [1, 5, 9, 10]


def test_baseline_and_end_only():
    assert asked("baseline_and_end", sessions(8)) == [1, 8]


def test_a_cancelled_session_waives_its_request_without_moving_the_others():
    assert asked("every_other_session", sessions(7, cancelled={2})) == [1, 5, 7]


def test_a_cancelled_first_session_moves_the_baseline_and_a_cancelled_last_the_end():
    assert asked("baseline_and_end", sessions(6, cancelled={0, 5})) == [2, 5]


def test_a_member_who_joins_late_gets_their_own_baseline():
    late = joined(datetime.datetime(2026, 1, 15, tzinfo=UTC))  # after session 2
    assert asked("baseline_and_end", sessions(5), late) == [3, 5]


def test_a_member_who_withdrew_is_not_asked_at_the_end():
    gone = joined(withdrawn=datetime.datetime(2026, 1, 16, tzinfo=UTC))
    assert asked("every_session", sessions(5), gone) == [1, 2]


def test_default_plans_per_focus(make_user):
    lead = make_user("provider")
    plans = {
        focus: outcomes.plan_for(world.make_group(lead, focus=focus))
        for focus in ("depression", "anxiety", "adhd")
    }
    assert plans["depression"].codes == ("phq9",)
    assert plans["anxiety"].codes == ("gad7",)
    assert plans["adhd"].codes == ("phq9", "gad7")
    assert plans["adhd"].cadence == "baseline_and_end"


def test_saving_a_plan_is_checked_and_audited(make_user):
    lead = make_user("provider")
    group = world.make_group(lead)
    with pytest.raises(ServiceError, match="Unknown measure"):
        outcomes.save_plan(group, ["asrs"], "every_session", False, by=lead)
    with pytest.raises(ServiceError):
        outcomes.save_plan(group, ["gad7"], "hourly", False, by=lead)
    outcomes.save_plan(group, ["gad7", "phq9"], "every_session", True, by=lead)
    outcomes.save_plan(group, ["phq9"], "every_four_weeks", False, by=lead)
    plan = MeasurePlan.get(MeasurePlan.group == group)
    assert (plan.codes, plan.cadence, plan.member_sees_history) == (
        ("phq9",),
        "every_four_weeks",
        False,
    )
    assert AuditLog.select().where(AuditLog.action == "measure_plan_changed").count() == 2


# ---- The check-in window and submitting ----------------------------------------


def test_checkin_opens_hours_before_the_session_and_closes_at_its_end(app, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=4)
    member, first = setup.members[0], setup.session(0)
    frozen_time.set(first.starts_at - datetime.timedelta(hours=48, minutes=1))
    assert outcomes.due_now(member).is_empty
    frozen_time.set(first.starts_at - datetime.timedelta(hours=47))
    due = outcomes.due_now(member)
    assert [m.code for m in due.measures] == ["gad7"]
    assert due.closes_at == first.ends_at
    frozen_time.set(first.ends_at)
    assert outcomes.due_now(member).is_empty
    app.config["CHECKIN_OPENS_HOURS"] = 2
    frozen_time.set(first.starts_at - datetime.timedelta(hours=3))
    assert outcomes.due_now(member).is_empty


def test_a_cancelled_session_asks_nothing(frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=4)
    first = setup.session(0)
    Session.update(status="cancelled").where(Session.id == first.id).execute()
    frozen_time.set(first.starts_at - datetime.timedelta(hours=1))
    assert outcomes.due_now(setup.members[0]).is_empty


def test_submitting_files_the_answers_and_audits_them(frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=4)
    member, first = setup.members[0], setup.session(0)
    frozen_time.set(first.starts_at - datetime.timedelta(hours=1))
    result = outcomes.submit_checkin(member, {"gad7": GAD7_MILD})
    assert not result.needs_crisis_card
    (row,) = MeasureResponse.select()
    assert (row.session_id, row.measure, row.total, row.band, row.source) == (
        first.id,
        "gad7",
        6,
        "mild",
        "checkin",
    )
    assert row.scores == tuple(GAD7_MILD)
    assert outcomes.due_now(member).is_empty
    with pytest.raises(ServiceError, match="nothing to answer"):
        outcomes.submit_checkin(member, {"gad7": GAD7_MILD})
    entry = AuditLog.get(AuditLog.action == "measure_submitted")
    assert entry.target_id == row.id and "6" not in entry.detail.replace(str(row.id), "")


@pytest.mark.parametrize(
    "answers, problems",
    [
        ([1, 1, 1], {4: "not answered", 5: "not answered", 6: "not answered", 7: "not answered"}),
        ([1, 1, 1, 1, 1, 1, 4], {7: "4 is not one of the scores 0, 1, 2, 3"}),
        ({1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0}, {7: "not answered"}),
        (None, {n: "not answered" for n in range(1, 8)}),
    ],
)
def test_partial_or_out_of_range_answers_save_nothing(frozen_time, answers, problems):
    setup = attendance_world(frozen_time, members=1, sessions=4)
    frozen_time.set(setup.session(0).starts_at - datetime.timedelta(hours=1))
    given = {"gad7": answers} if answers is not None else {}
    with pytest.raises(AnswersRefused) as refused:
        outcomes.submit_checkin(setup.members[0], given)
    assert refused.value.problems == {"gad7": problems}
    assert "item 7" in refused.value.message
    assert MeasureResponse.select().count() == 0
    assert AuditLog.select().where(AuditLog.action == "measure_submitted").count() == 0


def test_a_measure_not_asked_for_is_refused(frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=4)
    frozen_time.set(setup.session(0).starts_at - datetime.timedelta(hours=1))
    with pytest.raises(ServiceError, match="Not asked for now: phq9"):
        outcomes.submit_checkin(setup.members[0], {"gad7": GAD7_MILD, "phq9": PHQ9_CLEAR})
    assert MeasureResponse.select().count() == 0


def test_a_member_in_two_groups_answers_once_for_both_sessions(frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=4)
    member = setup.members[0]
    other = world.new_group(setup.lead, name="Thursday anxiety group", capacity=12)
    world.enroll_all(other, [member], by=setup.lead)
    world.weekly(other, world.FIRST_DAY + datetime.timedelta(days=2), count=4)
    first_a = setup.session(0)
    first_b = next(iter(other.sessions_in_order()))
    # B meets two days after A: its window opens as A starts, and A's is open until it ends.
    frozen_time.set(first_a.starts_at + datetime.timedelta(minutes=30))
    due = outcomes.due_now(member)
    assert [m.code for m in due.measures] == ["gad7"]  # asked once
    assert {s.id for s in due.sessions["gad7"]} == {first_a.id, first_b.id}
    outcomes.submit_checkin(member, {"gad7": GAD7_MILD})
    rows = list(MeasureResponse.select().order_by(MeasureResponse.group))
    assert [(r.group_id, r.session_id) for r in rows] == [
        (setup.group.id, first_a.id),
        (other.id, first_b.id),
    ]
    assert outcomes.due_now(member).is_empty


def test_the_database_refuses_a_second_answer_for_the_same_session(frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=2)
    member, first = setup.members[0], setup.session(0)
    frozen_time.set(first.starts_at - datetime.timedelta(hours=1))
    outcomes.submit_checkin(member, {"gad7": GAD7_MILD})
    row = MeasureResponse.get()
    from peewee import IntegrityError

    from groups.db import database

    with pytest.raises(IntegrityError), database.atomic():
        MeasureResponse.create(**{**row.__data__, "id": None, "answers": "0 0 0 0 0 0 0"})


# ---- Paper entry ----------------------------------------------------------------


def test_paper_entry_records_the_source_and_who_entered_it(frozen_time):
    setup = attendance_world(frozen_time, members=2, sessions=3)
    session = setup.at_session(0)
    member = setup.members[0]
    outcomes.enter_paper(session, member, "phq9", PHQ9_CLEAR, by=setup.lead)
    row = MeasureResponse.get()
    assert (row.source, row.entered_by_id, row.total, row.band) == (
        "paper",
        setup.lead.id,
        24,
        "severe",
    )
    with pytest.raises(ServiceError, match="already recorded"):
        outcomes.enter_paper(session, member, "phq9", PHQ9_CLEAR, by=setup.lead)
    stranger = make_user("member")
    with pytest.raises(ServiceError, match="not in the group"):
        outcomes.enter_paper(session, stranger, "gad7", GAD7_MILD, by=setup.lead)
    with pytest.raises(AnswersRefused):
        outcomes.enter_paper(session, setup.members[1], "gad7", [1, 2], by=setup.lead)
    assert MeasureResponse.select().count() == 1
    assert SafetyAlert.select().count() == 0  # 24 with item 9 at 0 raises nothing


# ---- The Outcomes page's read function -----------------------------------------


def answer(member, group, session, code, total, when=None):
    """A response row with ``total`` spread over the non-safety items."""
    from groups.measures import load_measures

    measure = load_measures()[code]
    scores = outcomes._demo_answers(measure, total, False)
    return MeasureResponse.create(
        member=member,
        group=group,
        session=session,
        measure=code,
        answers=" ".join(map(str, scores)),
        total=total,
        band=measure.band(total).key,
        completed_at=when or session.starts_at,
        source="checkin",
    )


def outcomes_world(frozen_time, members, sessions):
    setup = attendance_world(frozen_time, members=members, sessions=sessions)
    outcomes.save_plan(setup.group, ["gad7"], "every_session", False, by=setup.lead)
    frozen_time.set(setup.session(sessions - 1).ends_at + datetime.timedelta(days=1))
    return setup


def test_group_outcomes_baseline_latest_change_and_counts(frozen_time):
    setup = outcomes_world(frozen_time, members=5, sessions=3)
    group, s = setup.group, setup.sessions()
    improver, recovered, worse, flat, gone = setup.members
    for member, path in (
        (improver, (18, 15, 13)),  # -5 with R=4, still above caseness 8
        (recovered, (12, 9, 6)),
        (worse, (3, 5, 8)),
        (flat, (10, 9, 10)),
        (gone, (15, 10, 2)),
    ):
        for session, total in zip(s, path, strict=True):
            answer(member, group, session, "gad7", total)
    Enrollment.update(status="withdrawn", withdrawn_at=s[2].ends_at).where(
        Enrollment.member == gone
    ).execute()

    page = outcome_reports.group_outcomes(group)
    rows = {m.member.id: m for m in page.members}
    chips = {mid: m.tracks[0].change.category for mid, m in rows.items()}
    assert chips == {
        improver.id: "reliable_improvement",
        recovered.id: "recovered",
        worse.id: "reliable_deterioration",
        flat.id: "no_reliable_change",
        gone.id: "recovered",
    }
    track = rows[improver.id].tracks[0]
    assert (track.baseline.total, track.latest.total, track.change.difference) == (18, 13, -5)
    assert [r.total for r in track.responses] == [18, 15, 13]
    assert not rows[gone.id].current and page.members[-1].member.id == gone.id  # listed last
    (counts,) = page.totals
    assert counts.counts == {
        "reliable_improvement": 1,
        "no_reliable_change": 1,
        "reliable_deterioration": 1,
        "recovered": 1,  # the withdrawn member's recovery is history, not a total
    }
    assert (page.completion.answered, page.completion.requested) == (12, 12)


def test_completion_counts_closed_requests_only(frozen_time):
    setup = outcomes_world(frozen_time, members=2, sessions=4)
    s = setup.sessions()
    answer(setup.members[0], setup.group, s[0], "gad7", 5)
    frozen_time.set(s[1].ends_at + datetime.timedelta(minutes=1))  # sessions 0 and 1 closed
    completion = outcome_reports.group_outcomes(setup.group).completion
    assert (completion.answered, completion.requested, completion.percent) == (1, 4, 25)


def test_group_outcomes_runs_a_fixed_number_of_queries(frozen_time):
    small = outcomes_world(frozen_time, members=2, sessions=2)
    for member in small.members:
        answer(member, small.group, small.session(0), "gad7", 9)
    with count_queries() as few:
        outcome_reports.group_outcomes(small.group)

    large = outcomes_world(frozen_time, members=12, sessions=30)
    for member in large.members:
        for n, session in enumerate(large.sessions()):
            answer(member, large.group, session, "gad7", 15 - n // 3)
    with count_queries() as many:
        page = outcome_reports.group_outcomes(large.group)
    assert len(page.members) == 12 and len(page.members[0].tracks[0].responses) == 30
    assert few.n == many.n <= 4, many.statements


def test_latest_scores_and_member_history(frozen_time):
    setup = outcomes_world(frozen_time, members=1, sessions=2)
    member = setup.members[0]
    answer(member, setup.group, setup.session(0), "gad7", 12)
    answer(member, setup.group, setup.session(1), "gad7", 7)
    assert outcome_reports.latest_scores(setup.group)[member.id]["gad7"].total == 7
    assert outcome_reports.own_history(member, setup.group) is None  # not shown to members
    outcomes.save_plan(setup.group, ["gad7"], "every_session", True, by=setup.lead)
    (track,) = outcome_reports.own_history(member, setup.group)
    assert [r.total for r in track.responses] == [12, 7]


def test_practice_rates_show_counts_below_five_members(frozen_time, app):
    setup = outcomes_world(frozen_time, members=6, sessions=2)
    small = outcomes_world(frozen_time, members=2, sessions=2)
    for member in setup.members:
        answer(member, setup.group, setup.session(0), "gad7", 15)
        answer(member, setup.group, setup.session(1), "gad7", 10)
    for member in small.members:
        answer(member, small.group, small.session(0), "gad7", 15)
    answer(small.members[0], small.group, small.session(1), "gad7", 15)
    day = setup.session(1).starts_at.date()
    view = outcome_reports.practice_outcomes(day - datetime.timedelta(days=7), day)
    (anxiety,) = view.by_focus
    assert anxiety.n == 7  # one of the small group has no second answer
    assert anxiety.display("reliable_improvement") == "86% (6 of 7)"
    by_lead = {r.label: r for r in view.by_provider}
    assert by_lead[small.lead.name].display("no_reliable_change") == "1 of 1"
    empty = outcome_reports.practice_outcomes(day + datetime.timedelta(days=30), day)
    assert empty.by_focus == []


def test_demo_hook_adds_plausible_answers_and_one_open_alert(frozen_time):
    frozen_time.set(world.START)
    lead = make_user("provider")
    group = world.new_group(lead, focus="depression", capacity=12)
    members = [make_user("member", name=f"Demo {chr(65 + n)}") for n in range(6)]
    world.enroll_all(group, members, by=lead)
    world.weekly(group, world.FIRST_DAY, count=8)
    frozen_time.set(world.START + datetime.timedelta(weeks=12))
    assert outcomes.add_demo_measures(group) > 0
    page = outcome_reports.group_outcomes(group)
    (counts,) = page.totals
    assert counts.counts["reliable_deterioration"] == 1
    assert counts.counts["recovered"] == 1
    assert counts.counts["reliable_improvement"] == 4
    (alert,) = SafetyAlert.select()
    assert alert.status == "open" and alert.member_id == members[2].id
