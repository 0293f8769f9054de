"""The outcome pages: the group's Outcomes page, its measure plan, the practice view, exports,
and scores on a member's record and the roster."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re

import pytest

from groups.models import AuditLog, CoFacilitator, Enrollment, MeasurePlan
from groups.services import attendance
from tests.checks import count_queries, field_error, text_of
from tests.test_outcomes import answer, outcomes_world
from tests.world import login, make_user

PATHS = {  # GAD-7 totals per session: R = 4, caseness 8
    "improver": (18, 15, 13),
    "recovered": (12, 9, 6),
    "worse": (3, 5, 8),
    "flat": (10, 9, 10),
    "gone": (15, 10, 2),
}


@pytest.fixture
def world(app, frozen_time):
    """Five members of a GAD-7 group with three answers each; the last one withdrew."""
    with app.app_context():
        setup = outcomes_world(frozen_time, members=5, sessions=3)
        sessions = setup.sessions()
        for member, path in zip(setup.members, PATHS.values(), strict=True):
            for session, total in zip(sessions, path, strict=True):
                answer(member, setup.group, session, "gad7", total)
        gone = setup.members[-1]
        Enrollment.update(status="withdrawn", withdrawn_at=sessions[2].ends_at).where(
            Enrollment.member == gone
        ).execute()
    # Outside the app context: a request inside it would reuse its ``g`` (and its user).
    return setup


def url(setup, tail=""):
    return f"/groups/{setup.group.id}/outcomes{tail}"


# ---- The group's Outcomes page -------------------------------------------------


def test_outcomes_page_shows_each_member_with_chip_change_and_trend(client, world):
    login(client, world.lead)
    response = client.get(url(world))
    assert response.status_code == 200
    page = text_of(response.text)
    improver, recovered, worse, flat, gone = world.members
    rows = {
        m.name: row
        for m in world.members
        for row in re.findall(r"<tr.*?</tr>", response.text, re.S)
        if m.name in row and "chip" in row
    }
    assert "Reliable improvement" in rows[improver.name] and "−5" in rows[improver.name]
    assert "Recovered" in rows[recovered.name]
    assert "Reliable deterioration" in rows[worse.name] and "+5" in rows[worse.name]
    assert "No reliable change" in rows[flat.name]
    assert "Left the group" in rows[gone.name] and 'class="is-former"' in rows[gone.name]
    # A trend per member: a line with a marker on every answer, and its numbers as a table.
    assert response.text.count('class="trend-line"') == 5
    dots = re.findall(r'<path class="trend-dot" d="([^"]*)"', response.text)
    assert sum(d.count("h0") for d in dots) == 15
    # Each chart's label carries its totals, and every total by day is a link away.
    assert f'(GAD-7) trend for {improver.name}: 18, 15, 13"' in response.text
    assert f'href="{url(world, "/scores")}#scores-gad7"' in response.text
    # Group totals leave the withdrawn member out; 12 requests answered of 12.
    counts = re.search(r"<table class=\"outcome-counts\">.*?</table>", response.text, re.S)[0]
    found = dict(
        re.findall(r"<th scope=\"row\">([^<]+)</th><td data-label=\"Members\">(\d+)", counts)
    )
    assert found == {
        "Reliable improvement": "1",
        "No reliable change": "1",
        "Reliable deterioration": "1",
        "Recovered": "1",
        "Fewer than two answers": "0",
    }
    assert "100% (12 of 12 requests" in page


def test_scores_page_has_every_total_by_day_and_member(client, world):
    login(client, world.lead)
    response = client.get(url(world, "/scores"))
    assert response.status_code == 200
    # One table of the measure, a column per member (those who left too) and a row per
    # day anyone answered, oldest first.
    grid = re.search(r'<table class="compact score-grid">.*?</table>', response.text, re.S)[0]
    names = re.findall(r'<th scope="col">([^<]+)</th>', grid)
    assert names[0] == "Day" and set(names[1:]) == {m.name for m in world.members}
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>((?:<td>[^<]*</td>)+)</tr>', grid)
    days = [datetime.datetime.strptime(day, "%d %b %Y") for day, _cells in rows]
    assert len(days) == 3 and days == sorted(days)
    assert all(re.fullmatch(r"(<td>\d+</td>){5}", cells) for _day, cells in rows)
    improver = names.index(world.members[0].name) - 1  # the first column is the day
    assert [re.findall(r"<td>(\d+)</td>", cells)[improver] for _day, cells in rows] == [
        "18",
        "15",
        "13",
    ]


def test_outcomes_page_keeps_the_content_security_policy(client, world):
    login(client, world.lead)
    body = client.get(url(world)).text
    assert " style=" not in body and "<style" not in body
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)  # no inline script


@pytest.mark.parametrize("tail", ["", "/scores"])
def test_outcomes_page_is_audited_with_ids_only(client, world, tail):
    login(client, world.lead)
    client.get(url(world, tail))
    entry = AuditLog.get(AuditLog.action == "outcomes_viewed")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        world.lead.id,
        "group",
        world.group.id,
    )
    assert all(m.name not in entry.detail for m in world.members)


def client_for(app, user):
    client = app.test_client()
    login(client, user)
    return client


def test_outcomes_page_is_for_the_groups_staff_only(app, world):
    stranger = client_for(app, make_user("provider"))
    for tail in ("", "/scores", "/plan", "/export?format=csv"):
        assert stranger.get(url(world, tail)).status_code == 404
    member = client_for(app, world.members[0])
    for tail in ("", "/scores", "/plan", "/export?format=csv"):
        assert member.get(url(world, tail)).status_code == 403
    logged = AuditLog.action.in_(["outcomes_viewed", "outcomes_exported"])
    assert not AuditLog.select().where(logged).exists()
    co = make_user("provider")
    CoFacilitator.create(group=world.group, provider=co)
    co_client = client_for(app, co)
    assert co_client.get(url(world)).status_code == 200
    assert co_client.get(url(world, "/plan")).status_code == 403  # the lead and admins set it
    assert client_for(app, make_user("admin")).get(url(world)).status_code == 200


def test_group_page_links_to_outcomes(client, world):
    login(client, world.lead)
    assert url(world) in client.get(f"/groups/{world.group.id}").text


def test_outcomes_page_query_count_does_not_grow_with_the_data(app, frozen_time):
    def group_with(sessions: int):
        with app.app_context():
            setup = outcomes_world(frozen_time, members=12, sessions=sessions)
            for member in setup.members:
                for n, session in enumerate(setup.sessions()):
                    answer(member, setup.group, session, "gad7", max(0, 18 - n // 2))
        return setup

    def page_queries(setup) -> int:
        client = client_for(app, setup.lead)
        with count_queries() as q:
            assert client.get(url(setup)).status_code == 200
        return q.n

    assert page_queries(group_with(10)) == page_queries(group_with(30))


# ---- The measure plan -----------------------------------------------------------


def test_plan_form_shows_the_saved_plan_and_saves_a_new_one(client, world):
    login(client, world.lead)
    form = client.get(url(world, "/plan")).text
    assert re.search(r'value="gad7"[^>]*checked|checked[^>]*value="gad7"', form)
    response = client.post(
        url(world, "/plan"),
        data={
            "measures": ["phq9", "gad7"],
            "cadence": "every_four_weeks",
            "member_sees_history": "y",
        },
    )
    assert response.status_code == 302
    plan = MeasurePlan.get(MeasurePlan.group == world.group)
    assert (plan.codes, plan.cadence, plan.member_sees_history) == (
        ("phq9", "gad7"),
        "every_four_weeks",
        True,
    )
    assert AuditLog.select().where(AuditLog.action == "measure_plan_changed").count() == 2


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"cadence": "every_session"}, "measures", "Choose at least one measure."),
        ({"measures": ["asrs"], "cadence": "every_session"}, "measures", "Unknown measure: asrs."),
        ({"measures": ["gad7"], "cadence": "hourly"}, "cadence", "Choose when members are asked."),
    ],
)
def test_a_refused_plan_is_422_with_the_message_by_its_field(client, world, data, field, message):
    login(client, world.lead)
    before = MeasurePlan.get(MeasurePlan.group == world.group)
    response = client.post(url(world, "/plan"), data=data)
    assert response.status_code == 422
    assert message in text_of(response.text)
    assert f'id="{field}-error"' in response.text
    after = MeasurePlan.get(MeasurePlan.group == world.group)
    assert (after.measure_codes, after.cadence) == (before.measure_codes, before.cadence)


# ---- Exports -------------------------------------------------------------------


def test_the_page_export_form_asks_for_what_the_export_reads(client, world):
    login(client, world.lead)
    body = client.get(url(world)).text
    form = re.search(
        r'<form method="get" action="([^"]+)" class="export-form".*?</form>', body, re.S
    )
    assert form[1] == url(world, "/export")
    assert re.findall(r'name="([^"]+)"', form[0]) == ["format", "from", "to"]
    assert '<label for="export-from">From (optional)</label>' in form[0]
    assert '<option value="fhir">FHIR R4 (JSON)</option>' in form[0]


def test_group_csv_export_has_totals_only_and_is_audited(client, world):
    login(client, world.lead)
    response = client.get(url(world, "/export?format=csv"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert len(rows) == 15 and {r["group_id"] for r in rows} == {str(world.group.id)}
    assert {"member_id", "measure", "completed_at", "total", "band"} <= set(rows[0])
    assert all(m.name not in response.text and m.email not in response.text for m in world.members)
    entry = AuditLog.get(AuditLog.action == "outcomes_exported")
    assert (entry.actor_id, entry.target_id) == (world.lead.id, world.group.id)
    assert json.loads(entry.detail)["format"] == "csv"


def test_group_fhir_export_is_a_bundle_of_observations(client, world):
    from fhir.resources.R4B.bundle import Bundle

    login(client, world.lead)
    response = client.get(url(world, "/export?format=fhir"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/fhir+json; charset=utf-8"
    bundle = Bundle.model_validate_json(response.text)
    assert len(bundle.entry) == 15
    assert {e.resource.code.coding[0].code for e in bundle.entry} == {"70274-6"}
    assert (
        json.loads(AuditLog.get(AuditLog.action == "outcomes_exported").detail)["format"] == "fhir"
    )


def test_a_reversed_export_range_is_422_and_exports_nothing(client, world):
    login(client, world.lead)
    response = client.get(url(world, "/export?format=csv&from=2026-03-01&to=2026-02-01"))
    assert response.status_code == 422
    assert "The last day is before the first day." in field_error(response.text, "export-to")
    assert not AuditLog.select().where(AuditLog.action == "outcomes_exported").exists()


def test_admins_export_the_whole_practice_and_providers_cannot(client, world):
    login(client, world.lead)
    assert client.get("/outcomes/export?format=csv").status_code == 403
    admin = make_user("admin")
    login(client, admin)
    day = world.session(0).starts_at.date()
    response = client.get(f"/outcomes/export?format=csv&from={day}&to={day}")
    assert response.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))) == 5
    entry = AuditLog.get(AuditLog.action == "outcomes_exported")
    assert (entry.actor_id, entry.target_type) == (admin.id, "practice")


# ---- The practice view -----------------------------------------------------------


def test_practice_view_shows_rates_and_counts_below_five(client, world):
    login(client, make_user("admin"))
    day = world.session(2).starts_at.date()
    response = client.get(f"/outcomes?from={day - datetime.timedelta(days=30)}&to={day}")
    assert response.status_code == 200
    page = text_of(response.text)
    # Five members behind the anxiety rate: percentages with their counts.
    assert "40% (2 of 5)" in page  # recovered: the one who stayed and the one who left
    assert "20% (1 of 5)" in page
    assert AuditLog.select().where(AuditLog.action == "outcomes_viewed").exists()


def test_practice_view_below_five_members_shows_a_count(client, app, frozen_time):
    with app.app_context():
        setup = outcomes_world(frozen_time, members=3, sessions=2)
        for member in setup.members:
            answer(member, setup.group, setup.session(0), "gad7", 15)
            answer(member, setup.group, setup.session(1), "gad7", 10)
        day = setup.session(1).starts_at.date()
    login(client, make_user("admin"))
    page = text_of(client.get(f"/outcomes?from={day}&to={day}").text)
    assert "3 of 3" in page and "%" not in page.split("By focus")[1]


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("from=2026-03-01&to=2026-02-01", "to", "The last day is before the first day."),
        ("from=yesterday&to=2026-02-01", "from", "Use a date like 2026-01-31."),
        ("to=2026-02-01", "from", "Pick the first day."),
    ],
)
def test_practice_view_refuses_a_bad_period(client, app, query, field, message):
    with app.app_context():
        login(client, make_user("admin"))
    response = client.get(f"/outcomes?{query}")
    assert response.status_code == 422
    assert message in field_error(response.text, field)


def test_practice_view_is_for_admins(client, world):
    login(client, world.lead)
    assert client.get("/outcomes").status_code == 403


# ---- One member in one place, and the roster ----------------------------------------


def test_member_record_shows_scores_beside_attendance_and_pacing(client, world):
    login(client, world.lead)
    improver = world.members[0]
    response = client.get(f"/groups/{world.group.id}/members/{improver.id}")
    assert response.status_code == 200
    scores = re.search(
        r'<section class="card" id="member-scores".*?</section>', response.text, re.S
    )[0]
    assert "GAD-7" in scores and "Reliable improvement" in scores and "−5" in scores
    assert 'id="member-attendance"' in response.text and 'id="member-pacing"' in response.text


def test_roster_shows_latest_score_and_band_with_one_query_for_everyone(client, world):
    login(client, world.lead)
    body = text_of(client.get(f"/sessions/{world.session(2).id}/attendance").text)
    assert "(GAD-7) 13 · Moderate" in body  # the improver's latest
    assert "(GAD-7) 8 · Mild" in body

    def roster_queries(setup):
        with count_queries() as q:
            attendance.roster_page(setup.session(0))
        return q.n

    few = roster_queries(world)
    many = outcomes_world(world.clock, members=10, sessions=3)
    for member in many.members:
        for session in many.sessions():
            answer(member, many.group, session, "gad7", 12)
    assert roster_queries(many) == few


# ---- The chart geometry (pure) -----------------------------------------------------


def test_trend_shape_places_values_left_to_right_from_zero_at_the_bottom():
    from groups.charts import trend_shape
    from groups.measures import load_measures

    gad7 = load_measures()["gad7"]
    shape = trend_shape([0, 21, 10.5], gad7.max_total, gad7.bands)
    assert shape.pairs == ["5.0,51.0", "80.0,5.0", "155.0,28.0"]
    assert shape.line == "5.0,51.0 80.0,5.0 155.0,28.0"
    # A rule where mild, moderate and severe begin, named for a screen reader.
    assert [title for _y, title in shape.scale.rules] == [
        "Mild from 5",
        "Moderate from 10",
        "Severe from 15",
    ]
    assert shape.dots == "M5.0,51.0h0M80.0,5.0h0M155.0,28.0h0"  # one dot per value
    alone = trend_shape([7], gad7.max_total)
    assert alone.line == "" and alone.pairs[0].startswith("80.0,")  # one answer: a marker, centered


def test_trend_svg_escapes_its_label_and_draws_one_marker_path_per_kind():
    from groups.charts import trend_shape, trend_svg
    from groups.measures import load_measures

    phq9 = load_measures()["phq9"]
    svg = str(trend_svg(trend_shape([18, 9], phq9.max_total, phq9.bands), 'Ann <b> & "Bo"'))
    assert 'aria-label="Ann &lt;b&gt; &amp; &#34;Bo&#34;"' in svg and "<b>" not in svg
    assert svg.count('class="trend-dot"') == 1 and svg.count('class="trend-dot-core"') == 1
    assert "<title>Mild from 5, Moderate from 10, " in svg  # the band rules, named
    assert "style=" not in svg and "<script" not in svg  # the CSP allows neither inline
    alone = str(trend_svg(trend_shape([7], phq9.max_total), "one"))
    assert "polyline" not in alone and "trend-band" not in alone  # one value: a dot alone


def test_score_grid_has_a_row_per_day_and_shares_a_cell_for_one_day():
    from groups.measures import load_measures
    from groups.services.outcome_reports import Answer, MemberOutcome, Person, Track, score_grid

    gad7 = load_measures()["gad7"]
    utc = datetime.UTC

    def at(day, hour, total):
        when = datetime.datetime(2026, 3, day, hour, tzinfo=utc)
        return Answer(1, 1, None, "gad7", total, "mild", when)

    # 03:00 UTC on the 6th is still the 5th in Los Angeles.
    early = MemberOutcome(Person(1, "Ann"), True, [Track(gad7, [at(6, 3, 9), at(6, 20, 8)], "")])
    late = MemberOutcome(Person(2, "Bo"), False, [Track(gad7, [at(12, 20, 5)], "")])
    grid = score_grid(gad7, [early, late], 0, "America/Los_Angeles")
    assert grid.members == ["Ann", "Bo"]
    assert grid.rows == [
        ("05 Mar 2026", ["9", ""]),
        ("06 Mar 2026", ["8", ""]),
        ("12 Mar 2026", ["", "5"]),
    ]
    shared = MemberOutcome(Person(3, "Cy"), True, [Track(gad7, [at(6, 18, 9), at(6, 20, 8)], "")])
    assert score_grid(gad7, [shared], 0, "UTC").rows == [("06 Mar 2026", ["9, 8"])]
