"""The member's check-in page, what follows it, their own trend, and paper entry by staff."""

from __future__ import annotations

import datetime
import re

import pytest

from groups.models import AuditLog, CoFacilitator, MeasurePlan, MeasureResponse, SafetyAlert
from groups.services import outcomes, schedule
from tests.checks import count_queries, text_of
from tests.world import FIRST_DAY, add_session, attendance_world, login, make_user

PHQ9_CLEAR = ["1", "1", "1", "1", "1", "1", "1", "1", "0"]  # total 8, item 9 at 0
PHQ9_ITEM9 = ["0", "0", "0", "0", "0", "0", "0", "0", "1"]  # total 1, item 9 above 0


def form_of(answers, code="phq9"):
    return {f"{code}-{n}": v for n, v in enumerate(answers, start=1) if v is not None}


@pytest.fixture
def world(app, frozen_time):
    """A PHQ-9 group asking every session; the clock an hour before session 0.

    No app context stays open: each request must load its own user.
    """
    with app.app_context():
        setup = attendance_world(frozen_time, members=2, names=["Jordan Lee", "Sam Ray"])
        outcomes.save_plan(setup.group, ["phq9"], "every_session", True, by=setup.lead)
    setup.clock.set(setup.session(0).starts_at - datetime.timedelta(hours=1))
    return setup


@pytest.fixture
def member(client, world):
    login(client, world.members[0])
    return world.members[0]


def responses():
    return list(MeasureResponse.select().order_by(MeasureResponse.id))


# ---- The link and the form ------------------------------------------------------


def test_the_schedule_links_to_an_open_check_in_and_not_to_a_closed_one(client, world, member):
    assert "Answer the check-in" in client.get("/schedule").text
    world.clock.set(world.session(0).starts_at - datetime.timedelta(hours=60))
    login(client, member)
    assert "Answer the check-in" not in client.get("/schedule").text


def test_the_form_shows_the_recall_period_items_and_options_of_the_measure_file(client, member):
    from groups.measures import load_measures

    phq9 = load_measures()["phq9"]
    page = client.get("/check-in")
    assert page.status_code == 200
    assert phq9.recall_period in text_of(page.text)
    for item in phq9.items:
        assert item.text in text_of(page.text)
        radios = re.findall(rf'<input[^>]*name="phq9-{item.number}"[^>]*>', page.text)
        assert [re.search(r'value="(\d+)"', r)[1] for r in radios] == [
            str(o.score) for o in item.options
        ]
        for option in item.options:
            assert option.label in page.text
    assert len(re.findall(r'type="radio"', page.text)) == 9 * 4
    assert "<script" not in page.text.split("</header>")[1]


def test_a_partial_submission_is_refused_with_each_missing_item_marked_and_nothing_saved(
    client, member
):
    answers = PHQ9_CLEAR[:6] + [None, None, None]
    page = client.post("/check-in", data=form_of(answers))
    assert page.status_code == 422
    assert responses() == []
    for n in (7, 8, 9):
        assert f'id="phq9-{n}-error"' in page.text
    assert 'id="phq9-1-error"' not in page.text
    # What was answered is still chosen.
    assert re.search(r'checked[^>]*name="phq9-1"|name="phq9-1"[^>]*checked', page.text)


def test_an_out_of_range_answer_is_refused_and_nothing_saved(client, member):
    answers = [*PHQ9_CLEAR[:8], "7"]
    page = client.post("/check-in", data=form_of(answers))
    assert page.status_code == 422
    assert 'id="phq9-9-error"' in page.text
    assert "Choose one of the answers shown." in page.text
    assert responses() == []


def test_a_complete_check_in_is_saved_and_shows_no_crisis_card_for_item_9_at_zero(client, member):
    page = client.post("/check-in", data=form_of(PHQ9_CLEAR), follow_redirects=True)
    assert page.status_code == 200
    (saved,) = responses()
    assert (saved.member_id, saved.total, saved.source) == (member.id, 8, "checkin")
    assert "crisis-heading" not in page.text
    assert "988" not in page.text
    assert AuditLog.get(AuditLog.action == "measure_submitted").target_id == saved.id


def test_item_9_above_zero_shows_the_crisis_card_with_the_practice_phone(app, client, member):
    app.config.update(PRACTICE_PHONE="555-0100")
    page = client.post("/check-in", data=form_of(PHQ9_ITEM9), follow_redirects=True)
    assert SafetyAlert.select().count() == 1
    assert "crisis-heading" in page.text
    assert app.config["CRISIS_TEXT"] in page.text
    assert "555-0100" in page.text
    # A reload shows the card again: it comes from the saved answers, not a one-off flag.
    assert "crisis-heading" in client.get("/check-in/done").text


def test_history_after_submitting_only_when_the_plan_shows_it(client, world, member):
    page = client.post("/check-in", data=form_of(PHQ9_CLEAR), follow_redirects=True)
    assert "My answers over time" in page.text
    assert "<svg" in page.text and "trend-table" in page.text

    plan = MeasurePlan.get(MeasurePlan.group == world.group)
    plan.member_sees_history = False
    plan.save()
    assert "My answers over time" not in client.get("/check-in/done").text


def test_closed_window_cancelled_session_and_no_group_give_a_clear_message(client, world, member):
    world.clock.set(world.session(0).ends_at + datetime.timedelta(minutes=1))
    login(client, member)
    page = client.get("/check-in")
    assert page.status_code == 200 and "no check-in to answer right now" in page.text
    refused = client.post("/check-in", data=form_of(PHQ9_CLEAR))
    assert refused.status_code == 422
    assert "nothing to answer right now" in refused.text
    assert responses() == []

    world.clock.set(world.session(1).starts_at - datetime.timedelta(hours=1))
    with client.application.app_context():
        schedule.cancel_session(world.session(1), "Room flooded", by=world.lead)
    login(client, member)
    assert "no check-in to answer right now" in client.get("/check-in").text
    assert "Answer the check-in" not in client.get("/schedule").text

    outsider = make_user("member")
    login(client, outsider)
    assert client.get("/check-in").status_code == 200
    assert client.get("/check-in/done").status_code == 302


def test_a_member_never_sees_another_members_answers(client, world, member):
    client.post("/check-in", data=form_of(PHQ9_ITEM9))
    (alert,) = SafetyAlert.select()
    saved_ids = [r.id for r in responses()]

    other = world.members[1]
    login(client, other)
    with client.session_transaction() as session:
        session["checkin_saved"] = saved_ids  # the other member's ids, forged
    page = client.get("/check-in/done")
    assert page.status_code == 302  # none of them is theirs: back to the check-in
    assert client.get(f"/alerts/{alert.id}").status_code == 404
    progress = client.get("/progress")
    assert "My check-in scores" in progress.text
    assert "No answers yet." in progress.text
    assert "trend-table" not in progress.text


def test_progress_page_shows_the_own_trend_audited_and_hides_it_when_the_plan_does(
    client, world, member
):
    client.post("/check-in", data=form_of(PHQ9_CLEAR))
    page = client.get("/progress")
    assert "My check-in scores" in page.text
    assert "<svg" in page.text and "<td>8 mild</td>" in page.text
    viewed = AuditLog.get(AuditLog.action == "outcomes_viewed")
    assert (viewed.actor_id, viewed.target_id) == (member.id, world.group.id)

    outcomes.save_plan(world.group, ["phq9"], "every_session", False, by=world.lead)
    login(client, member)
    assert "My check-in scores" not in client.get("/progress").text


def test_check_in_pages_run_a_fixed_number_of_queries(client, world, member):
    def queries():
        with count_queries() as q:
            assert client.get("/check-in").status_code == 200
        with count_queries() as p:
            assert client.get("/progress").status_code == 200
        return q.n, p.n

    small = queries()
    for n in (1, 2):  # two more sessions answered
        world.clock.set(world.session(n).starts_at - datetime.timedelta(hours=1))
        login(client, member)
        client.post("/check-in", data=form_of(PHQ9_CLEAR))
    world.clock.set(world.session(3).starts_at - datetime.timedelta(hours=1))
    login(client, member)
    assert len(responses()) == 2
    assert queries() == small


# ---- Paper entry ----------------------------------------------------------------


@pytest.fixture
def lead(client, world):
    login(client, world.lead)
    return world.lead


def paper_form(member, answers=PHQ9_CLEAR, day=FIRST_DAY):
    """A paper entry as posted: the member, the day it was filled in, the answers."""
    return {"member": member.id, "completed_on": day.isoformat(), **form_of(answers)}


def test_paper_entry_is_reachable_from_the_session_page(client, world, lead):
    session = world.session(0)
    assert f"/sessions/{session.id}/measures" in client.get(f"/sessions/{session.id}").text
    choice = client.get(f"/sessions/{session.id}/measures")
    assert f"/sessions/{session.id}/measures/phq9" in choice.text


def test_paper_entry_records_the_source_and_who_entered_it_and_is_audited(client, world, lead):
    session, member = world.session(0), world.members[1]
    url = f"/sessions/{session.id}/measures/phq9"
    page = client.post(url, data=paper_form(member))
    assert page.status_code == 302
    (saved,) = responses()
    assert (saved.member_id, saved.session_id, saved.source, saved.entered_by_id) == (
        member.id,
        session.id,
        "paper",
        lead.id,
    )
    entry = AuditLog.get(AuditLog.action == "measure_entered")
    assert (entry.actor_id, entry.target_id) == (lead.id, saved.id)
    again = client.get(url)
    assert "Already recorded for this session: Sam Ray" in text_of(again.text)


def test_paper_entry_refuses_a_partial_form_and_a_member_not_in_the_group(client, world, lead):
    session = world.session(0)
    url = f"/sessions/{session.id}/measures/phq9"
    partial = client.post(url, data=paper_form(world.members[0], PHQ9_CLEAR[:8]))
    assert partial.status_code == 422 and 'id="phq9-9-error"' in partial.text
    stranger = make_user("member")
    refused = client.post(url, data=paper_form(stranger))
    assert refused.status_code == 422
    assert responses() == []


def test_paper_entry_stores_the_day_it_was_filled_in_defaulting_to_the_sessions(
    client, world, lead
):
    session, member = world.session(0), world.members[1]
    url = f"/sessions/{session.id}/measures/phq9"
    day = world.group.local(session.starts_at).date()
    assert f'value="{day.isoformat()}"' in client.get(url).text  # the session's day
    earlier = day - datetime.timedelta(days=1)  # the day they joined
    assert client.post(url, data=paper_form(member, day=earlier)).status_code == 302
    (saved,) = responses()
    assert world.group.local(saved.completed_at).date() == earlier
    assert saved.completed_at < session.starts_at


@pytest.mark.parametrize(
    ("days", "message"),
    [(1, "cannot be in the future"), (-2, "joined the group on 05 Jan 2026")],
)
def test_paper_entry_refuses_a_future_day_or_one_before_joining_next_to_the_field(
    client, world, lead, days, message
):
    session = world.session(0)
    day = world.group.local(session.starts_at).date() + datetime.timedelta(days=days)
    page = client.post(
        f"/sessions/{session.id}/measures/phq9", data=paper_form(world.members[0], day=day)
    )
    assert page.status_code == 422
    assert message in text_of(re.search(r'id="completed_on-error">[^<]*', page.text).group(0))
    assert responses() == []
    assert not AuditLog.select().where(AuditLog.action == "measure_entered").exists()


def test_the_roster_links_each_member_to_paper_entry_with_them_chosen(client, world, lead):
    session, member = world.at_session(0), world.members[1]
    login(client, lead)
    roster = client.get(f"/sessions/{session.id}/attendance")
    choice_url = f"/sessions/{session.id}/measures?member={member.id}"
    assert choice_url in roster.text
    form_url = f"/sessions/{session.id}/measures/phq9?member={member.id}"
    assert form_url in client.get(choice_url).text
    form = client.get(form_url)
    assert re.search(rf'<option selected value="{member.id}">Sam Ray</option>', form.text)
    page = client.post(form_url, data=paper_form(member))
    assert page.status_code == 302
    (saved,) = responses()
    entry = AuditLog.get(AuditLog.action == "measure_entered")
    assert (entry.actor_id, entry.target_id, saved.member_id) == (lead.id, saved.id, member.id)


def test_the_rosters_paper_link_is_404_for_another_provider_and_403_for_members(client, world):
    session, member = world.at_session(0), world.members[1]
    form_url = f"/sessions/{session.id}/measures/phq9?member={member.id}"
    login(client, make_user("provider"))
    assert client.get(f"/sessions/{session.id}/measures?member={member.id}").status_code == 404
    assert client.get(form_url).status_code == 404
    assert client.post(form_url, data=paper_form(member)).status_code == 404
    login(client, member)
    assert client.post(form_url, data=paper_form(member)).status_code == 403
    assert responses() == []


def test_paper_entry_is_404_for_another_providers_session_and_403_for_members(client, world):
    other = make_user("provider")
    login(client, other)
    session = world.session(0)
    assert client.get(f"/sessions/{session.id}/measures").status_code == 404
    assert client.get(f"/sessions/{session.id}/measures/phq9").status_code == 404
    login(client, world.members[0])
    assert client.get(f"/sessions/{session.id}/measures/phq9").status_code == 403
    CoFacilitator.create(group=world.group, provider=other)
    login(client, other)
    assert client.get(f"/sessions/{session.id}/measures/phq9").status_code == 200
    assert client.get(f"/sessions/{session.id}/measures/nope").status_code == 404


def test_the_check_in_needs_a_csrf_token(app, client, member):
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.post("/check-in", data=form_of(PHQ9_CLEAR))
    assert page.status_code == 400
    assert responses() == []


def test_the_paper_entry_page_runs_a_fixed_number_of_queries(client, world, lead):
    url = f"/sessions/{world.session(0).id}/measures/phq9"

    def queries():
        with count_queries() as q:
            assert client.get(url).status_code == 200
        return q.n

    before = queries()
    client.post(url, data=paper_form(world.members[0]))
    client.post(url, data=paper_form(world.members[1]))
    assert len(responses()) == 2
    assert queries() == before


def test_two_open_sessions_of_one_group_ask_once_then_the_later_one_asks(client, world, member):
    """A make-up session the day before the next one: both check-ins are open at once."""
    with client.application.app_context():
        makeup = add_session(world.group, world.session(0).starts_at + datetime.timedelta(days=1))
        outcomes.save_plan(world.group, ["phq9"], "every_session", True, by=world.lead)
    page = client.post("/check-in", data=form_of(PHQ9_CLEAR), follow_redirects=True)
    assert page.status_code == 200 and "Thank you" in page.text
    assert [r.session_id for r in responses()] == [world.session(0).id]

    world.clock.set(world.session(0).ends_at + datetime.timedelta(minutes=1))
    login(client, member)
    assert client.post("/check-in", data=form_of(PHQ9_CLEAR)).status_code == 302
    assert [r.session_id for r in responses()] == [world.session(0).id, makeup.id]
