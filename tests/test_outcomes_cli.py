"""import-measures (all or nothing), export-outcomes (CSV and FHIR R4), list-alerts."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from fhir.resources.R4B.bundle import Bundle

from groups.models import AuditLog, MeasureResponse, SafetyAlert
from groups.services import outcome_files, safety
from tests import world
from tests.world import make_user

HEADER = "member_email,group_id,measure,completed_at,answers\n"


@pytest.fixture
def practice(app, frozen_time):
    """Two members in an anxiety group, one member outside it."""
    with app.app_context():
        frozen_time.set(world.NOW)
        lead = make_user("provider", name="Dr. Lead")
        group = world.make_group(lead, focus="depression", timezone="America/New_York")
        ana = make_user("member", name="Ana Smith", email="ana@example.org")
        ben = make_user("member", name="Ben Jones", email="ben@example.org")
        make_user("member", email="out@example.org")
        world.enroll(group, ana)
        world.enroll(group, ben)
        return {"group": group.id, "lead": lead.id, "ana": ana.id, "ben": ben.id}


def write(tmp_path, body: str, name="answers.csv"):
    path = tmp_path / name
    path.write_text(HEADER + body)
    return str(path)


def good_rows(group_id):
    return (
        f"ana@example.org,{group_id},phq9,2026-01-10,2 2 2 2 2 2 1 0 0\n"
        f"ana@example.org,{group_id},phq9,2026-02-10T18:30,1 1 1 0 0 0 0 0 0\n"
        f"BEN@example.org,{group_id},gad7,2026-02-11T09:00:00Z,3 3 3 3 3 3 3\n"
    )


def test_import_saves_every_row_and_prints_progress(runner, app, practice, tmp_path):
    result = runner.invoke(args=["import-measures", write(tmp_path, good_rows(practice["group"]))])
    assert result.exit_code == 0, result.output
    assert "Checked 3 of 3 rows" in result.output
    assert "Imported 3 answer set(s)" in result.output
    with app.app_context():
        rows = list(MeasureResponse.select().order_by(MeasureResponse.completed_at))
        assert [(r.member_id, r.measure, r.total, r.band, r.source) for r in rows] == [
            (practice["ana"], "phq9", 13, "moderate", "import"),
            (practice["ana"], "phq9", 3, "minimal", "import"),
            (practice["ben"], "gad7", 21, "severe", "import"),
        ]
        # A date is noon in the group's zone; a date-time without offset is in that zone.
        assert rows[0].completed_at == datetime.datetime(2026, 1, 10, 17, 0, tzinfo=datetime.UTC)
        assert rows[1].completed_at == datetime.datetime(2026, 2, 10, 23, 30, tzinfo=datetime.UTC)
        assert rows[2].session_id is None
        entry = AuditLog.get(AuditLog.action == "measures_imported")
        assert '"rows": 3' in entry.detail


def test_one_bad_row_refuses_the_whole_file_listing_each_row(runner, app, practice, tmp_path):
    g = practice["group"]
    body = good_rows(g) + (
        f"nobody@example.org,{g},phq9,2026-01-10,0 0 0 0 0 0 0 0 0\n"  # row 5
        f"out@example.org,{g},phq9,2026-01-10,0 0 0 0 0 0 0 0 0\n"  # row 6
        f"ana@example.org,{g},gad7,2026-01-10,1 1 1\n"  # row 7
        f"ana@example.org,{g},gad7,2026-01-11,1 1 1 1 1 1 9\n"  # row 8
        f"ana@example.org,999,asrs,someday,1\n"  # row 9
        f"ana@example.org,{g},phq9,2099-01-10,0 0 0 0 0 0 0 0 0\n"  # row 10
        f"ana@example.org,{g},phq9,2026-01-10,2 2 2 2 2 2 1 0 0\n"  # row 11 repeats row 2
    )
    result = runner.invoke(args=["import-measures", write(tmp_path, body)])
    assert result.exit_code == 1
    out = result.output
    assert "row 5: no member with the email 'nobody@example.org'" in out
    assert f"row 6: out@example.org is not in group {g}" in out
    assert "row 7: answers: gad7 takes 7 scores" in out and "item 4: not answered" in out
    assert "row 8: answers:" in out and "item 7: '9' is not one of the scores" in out
    assert "row 9: no group with the id '999'" in out
    assert "unknown measure 'asrs'" in out and "'someday' is not an ISO date" in out
    assert "row 10: completed_at is in the future" in out
    assert "row 11: repeats row 2" in out
    for good in ("row 2:", "row 3:", "row 4:"):
        assert good not in out
    assert "7 bad row(s)" in out and "nothing was imported" in out
    with app.app_context():
        assert MeasureResponse.select().count() == 0
        assert AuditLog.select().where(AuditLog.action == "measures_imported").count() == 0


def test_importing_the_same_file_twice_is_refused(runner, app, practice, tmp_path):
    path = write(tmp_path, good_rows(practice["group"]))
    assert runner.invoke(args=["import-measures", path]).exit_code == 0
    again = runner.invoke(args=["import-measures", path])
    assert again.exit_code == 1 and "row 2: already imported" in again.output
    with app.app_context():
        assert MeasureResponse.select().count() == 3


def test_import_refuses_a_file_without_the_columns(runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("email,answers\nana@example.org,1 2 3\n")
    result = runner.invoke(args=["import-measures", str(path)])
    assert result.exit_code == 1
    assert (
        "row 1: missing column(s): member_email, group_id, measure, completed_at" in result.output
    )


def test_an_imported_positive_item_9_raises_an_alert(runner, app, practice, tmp_path):
    g = practice["group"]
    body = (
        f"ana@example.org,{g},phq9,2026-02-10,0 0 0 0 0 0 0 0 2\n"
        f"ana@example.org,{g},phq9,2026-02-12,0 0 0 0 0 0 0 0 1\n"
    )
    assert runner.invoke(args=["import-measures", write(tmp_path, body)]).exit_code == 0
    with app.app_context():
        (alert,) = SafetyAlert.select()  # the second positive attaches to the first's alert
        assert alert.member_id == practice["ana"] and len(list(alert.responses)) == 2


def imported(runner, practice, tmp_path):
    result = runner.invoke(args=["import-measures", write(tmp_path, good_rows(practice["group"]))])
    assert result.exit_code == 0, result.output


def test_export_csv_has_the_documented_columns(runner, practice, tmp_path):
    imported(runner, practice, tmp_path)
    out = tmp_path / "outcomes.csv"
    result = runner.invoke(args=["export-outcomes", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == list(outcome_files.EXPORT_COLUMNS)
    assert {"member_id", "group_id", "measure", "completed_at", "total", "band"} <= set(rows[0])
    assert [(r["member_id"], r["measure"], r["total"], r["band"]) for r in rows] == [
        (str(practice["ana"]), "phq9", "13", "moderate"),
        (str(practice["ana"]), "phq9", "3", "minimal"),
        (str(practice["ben"]), "gad7", "21", "severe"),
    ]
    assert rows[0]["completed_at"] == "2026-01-10T17:00:00Z"
    assert "ana@example.org" not in out.read_text() and "Ana" not in out.read_text()


def test_export_filters_by_group_and_local_dates(runner, practice, tmp_path):
    imported(runner, practice, tmp_path)
    out = tmp_path / "feb.csv"
    args = ["export-outcomes", "--group", str(practice["group"]), "--from", "2026-02-10"]
    result = runner.invoke(args=[*args, "--to", "2026-02-10", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(out.read_text()))  # 18:30 local, 23:30 UTC
    assert row["total"] == "3"
    bad = runner.invoke(args=["export-outcomes", "--group", "424242", "--format", "csv", "-o", "-"])
    assert bad.exit_code != 0 and "No group with id 424242" in bad.output
    backwards = ["--from", "2026-03-01", "--to", "2026-02-01", "--format", "csv", "-o", "-"]
    assert runner.invoke(args=["export-outcomes", *backwards]).exit_code != 0


def test_export_fhir_is_a_valid_r4_bundle_of_loinc_observations(runner, app, practice, tmp_path):
    imported(runner, practice, tmp_path)
    out = tmp_path / "outcomes.json"
    result = runner.invoke(args=["export-outcomes", "--format", "fhir", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    bundle = Bundle.model_validate_json(text)  # round trip through fhir.resources (R4)
    assert bundle.type == "collection" and len(bundle.entry) == 3
    first = bundle.entry[0].resource
    assert first.__resource_type__ == "Observation"
    assert (first.code.coding[0].system, first.code.coding[0].code) == (
        "http://loinc.org",
        "44261-6",
    )
    assert first.valueInteger == 13
    assert first.interpretation[0].text == "Moderate"
    assert first.interpretation[0].coding[0].code == "moderate"
    assert first.subject.reference == f"Patient/{practice['ana']}"
    gad7 = bundle.entry[2].resource
    assert gad7.code.coding[0].code == "70274-6" and gad7.valueInteger == 21
    assert Bundle.model_validate_json(bundle.model_dump_json()) == bundle
    for leak in ("ana@example.org", "Ana Smith", "Ben Jones", "depression"):
        assert leak not in text
    with app.app_context():
        entry = AuditLog.get(AuditLog.action == "outcomes_exported")
        assert '"format": "fhir"' in entry.detail and '"rows": 3' in entry.detail


def test_list_alerts_prints_one_alert_a_line(runner, app, practice, tmp_path):
    g = practice["group"]
    body = f"ana@example.org,{g},phq9,2026-02-10,0 0 0 0 0 0 0 0 2\n"
    body += f"ben@example.org,{g},phq9,2026-02-10,0 0 0 0 0 0 0 0 1\n"
    assert runner.invoke(args=["import-measures", write(tmp_path, body)]).exit_code == 0
    with app.app_context():
        ana_alert = SafetyAlert.get(SafetyAlert.member == practice["ana"])
        from groups.models import User

        safety.acknowledge(ana_alert.id, by=User.get_by_id(practice["lead"]))
    everything = runner.invoke(args=["list-alerts"]).output.splitlines()
    assert len(everything) == 2
    opened = runner.invoke(args=["list-alerts", "--status", "open"]).output.splitlines()
    (line,) = opened
    alert_id, group_id, member_id, raised, status = line.split("\t")
    assert (group_id, member_id, status) == (str(g), str(practice["ben"]), "open")
    assert raised == "2026-03-02T15:00Z"
    acked = runner.invoke(args=["list-alerts", "--status", "acknowledged"]).output.split("\t")
    assert acked[0] == str(ana_alert.id)
    assert runner.invoke(args=["list-alerts", "--status", "closed"]).exit_code != 0
