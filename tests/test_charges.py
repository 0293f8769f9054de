"""Charge lines: one CPT 90853 line per signed member note, its codes, and the CSV export."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest

from groups.clock import local_date
from groups.models import AuditLog, ChargeLine, MemberNote
from groups.services import ServiceError, charges
from groups.services import clinical_notes as notes
from tests.world import PASSWORD, make_user, notes_world

COLUMNS = (
    "date_of_service,session_id,member_id,member_name,diagnosis,cpt,modifiers,"
    "place_of_service,units,rendering_provider,rendering_npi,note_signed_at"
).split(",")


@pytest.fixture(autouse=True)
def context(app):
    with app.app_context():
        yield


def service_day(world) -> datetime.date:
    return local_date(world.session.starts_at, world.group.timezone)


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_one_90853_line_per_present_member_in_person(app):
    world = notes_world(4, absent=2, signed=True)
    lines = list(ChargeLine.select().order_by(ChargeLine.member))
    assert sorted(line.member_id for line in lines) == sorted(m.id for m in world.members)
    for line in lines:
        assert (line.cpt, line.modifiers, line.place_of_service, line.units) == (
            "90853",
            "",
            "11",
            1,
        )
        assert line.rendering_provider_id == world.lead.id and line.rendering_npi == world.lead.npi
        assert line.date_of_service == service_day(world)
        assert line.note_signed_at == MemberNote.get_by_id(line.member_note_id).signed_at
        assert line.diagnosis_codes in ("F41.1", "F41.1 F32.1")


def test_telehealth_lines_carry_modifier_95_and_place_of_service_10(app):
    notes_world(3, telehealth=True, signed=True)
    lines = list(ChargeLine.select())
    assert len(lines) == 3
    assert {(line.modifiers, line.place_of_service) for line in lines} == {("95", "10")}


def test_modifier_95_is_on_telehealth_lines_only(app):
    notes_world(2, telehealth=True, signed=True)
    notes_world(2, signed=True)
    by_pos = {}
    for line in ChargeLine.select():
        by_pos.setdefault(line.place_of_service, set()).add(line.modifiers)
    assert by_pos == {"10": {"95"}, "11": {""}}


def test_the_codes_are_configurable(app):
    app.config.update(CHARGE_TELEHEALTH_MODIFIERS="95 GT", CHARGE_TELEHEALTH_POS="02")
    notes_world(1, telehealth=True, signed=True)
    line = ChargeLine.get()
    assert (line.modifiers, line.place_of_service) == ("95 GT", "02")


def test_configuration_refuses_malformed_codes(monkeypatch, tmp_path):
    from groups.config import ConfigError, from_environment

    monkeypatch.setenv("CHARGE_CPT", "9085")
    with pytest.raises(ConfigError, match="CHARGE_CPT"):
        from_environment(str(tmp_path))
    monkeypatch.setenv("CHARGE_CPT", "90853")
    monkeypatch.setenv("CHARGE_TELEHEALTH_MODIFIERS", "955")
    with pytest.raises(ConfigError, match="CHARGE_TELEHEALTH_MODIFIERS"):
        from_environment(str(tmp_path))
    monkeypatch.setenv("CHARGE_TELEHEALTH_MODIFIERS", "none")
    assert from_environment(str(tmp_path))["CHARGE_TELEHEALTH_MODIFIERS"] == ""


def test_no_charge_without_a_signed_note(app):
    world = notes_world(2)
    world.write_all()
    assert ChargeLine.select().count() == 0
    notes.sign_notes(
        world.session,
        signature_name=world.lead.name,
        password=PASSWORD,
        member_ids=[world.members[0].id],
        include_group=False,
        by=world.lead,
    )
    assert [line.member_id for line in ChargeLine.select()] == [world.members[0].id]


def test_signing_is_refused_without_a_diagnosis_or_an_npi(app):
    world = notes_world(1)
    world.write_all()
    enrollment = world.members[0].enrollments.get()
    enrollment.diagnosis_codes = ""
    enrollment.save()
    with pytest.raises(ServiceError) as error:
        world.sign_all()
    assert error.value.field == f"member-{world.members[0].id}-diagnosis"
    enrollment.diagnosis_codes = "F41.1"
    enrollment.save()
    world.lead.npi = None
    world.lead.save()
    with pytest.raises(ServiceError) as error:
        world.sign_all()
    assert error.value.field == "npi"
    assert ChargeLine.select().count() == 0
    assert MemberNote.get().status == "draft"


def test_a_line_keeps_what_was_true_at_signing(app):
    world = notes_world(1, signed=True)
    enrollment = world.members[0].enrollments.get()
    notes.set_diagnoses(enrollment, "F90.2", by=world.lead)
    notes.set_npi(world.lead, "1558598797", by=world.admin)
    line = ChargeLine.get()
    assert line.diagnosis_codes != "F90.2" and line.rendering_npi == "1234567893"


# ---- The export --------------------------------------------------------------------------


def test_the_export_has_exactly_the_issues_columns(app):
    world = notes_world(2, signed=True)
    day = service_day(world)
    data, filename = charges.export_charges(day, day, by=world.admin)
    rows = read_csv(data.decode())
    assert list(rows[0]) == COLUMNS
    assert filename == f"charges-{day}-to-{day}.csv"
    by_member = {int(r["member_id"]): r for r in rows}
    first = world.members[0]
    row = by_member[first.id]
    assert row["member_name"] == first.name and row["diagnosis"] == "F41.1;F32.1"
    assert row["cpt"] == "90853" and row["units"] == "1" and row["place_of_service"] == "11"
    assert row["rendering_provider"] == world.lead.name and row["rendering_npi"] == "1234567893"
    assert row["session_id"] == str(world.session.id) and row["note_signed_at"].endswith("Z")
    entry = AuditLog.get(AuditLog.action == "charges_exported")
    detail = json.loads(entry.detail)
    assert entry.actor_id == world.admin.id and detail["rows"] == 2
    assert first.name not in entry.detail


def test_the_export_filters_by_range_and_provider(app):
    world = notes_world(2, signed=True)
    other = notes_world(1, signed=True)
    day = service_day(world)
    both = read_csv(charges.export_charges(day, day, by=world.admin)[0].decode())
    assert len(both) == 3
    # The two worlds' leads share an NPI; the filter is by account.
    mine = read_csv(charges.export_charges(day, day, world.lead, by=world.admin)[0].decode())
    assert {int(r["member_id"]) for r in mine} == {m.id for m in world.members}
    later = day + datetime.timedelta(days=1)
    assert read_csv(charges.export_charges(later, later, by=world.admin)[0].decode()) == []
    assert other.lead.id != world.lead.id


def test_a_name_a_spreadsheet_would_run_is_neutralised(app):
    world = notes_world(1, signed=True)
    member = world.members[0]
    member.name = "=HYPERLINK(1)"
    member.save()
    day = service_day(world)
    rows = read_csv(charges.export_charges(day, day, by=world.admin)[0].decode())
    assert rows[0]["member_name"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (None, datetime.date(2026, 1, 1), "start"),
        (datetime.date(2026, 1, 1), None, "end"),
        (datetime.date(2026, 2, 1), datetime.date(2026, 1, 1), "end"),
        (datetime.date(2020, 1, 1), datetime.date(2026, 1, 1), "end"),
    ],
)
def test_a_bad_range_is_refused(app, start, end, field):
    with pytest.raises(ServiceError) as error:
        charges.export_charges(start, end, by=make_user("admin"))
    assert error.value.field == field
    assert AuditLog.select().where(AuditLog.action == "charges_exported").count() == 0


# ---- The CLI -------------------------------------------------------------------------------


def export_charges(runner, start, end, out, *extra):
    """``flask export-charges`` over ``start``..``end`` into ``out`` ("-" for stdout)."""
    return runner.invoke(
        args=["export-charges", "--from", str(start), "--to", str(end), "-o", str(out), *extra]
    )


def test_cli_writes_the_csv_and_audits(app, runner, tmp_path):
    world = notes_world(3, telehealth=True, signed=True)
    day = service_day(world)
    out = tmp_path / "charges.csv"
    result = export_charges(runner, day, day, out)
    assert result.exit_code == 0, result.output
    assert "Wrote 3 charge line(s)" in result.output
    rows = read_csv(out.read_text())
    assert list(rows[0]) == COLUMNS and len(rows) == 3
    assert {r["modifiers"] for r in rows} == {"95"} and {r["place_of_service"] for r in rows} == {
        "10"
    }
    detail = json.loads(AuditLog.get(AuditLog.action == "charges_exported").detail)
    assert detail["via"] == "cli" and detail["rows"] == 3


def test_cli_filters_by_provider_email(app, runner, tmp_path):
    world = notes_world(2, signed=True)
    notes_world(1, signed=True)
    day = service_day(world)
    out = tmp_path / "mine.csv"
    result = export_charges(runner, day, day, out, "--provider", world.lead.email)
    assert result.exit_code == 0, result.output
    assert len(read_csv(out.read_text())) == 2
    result = export_charges(runner, day, day, "-", "--provider", "x@y.z")
    assert result.exit_code != 0 and "No provider" in result.output


def test_cli_refuses_a_reversed_range_and_writes_nothing(app, runner, tmp_path):
    out = tmp_path / "charges.csv"
    result = export_charges(runner, "2026-03-01", "2026-02-01", out)
    assert result.exit_code == 2
    assert "before the first day" in result.output
    assert not out.exists()


def test_cli_refuses_a_malformed_or_missing_date(app, runner, tmp_path):
    out = tmp_path / "charges.csv"
    result = export_charges(runner, "2026-13-01", "2026-02-01", out)
    assert result.exit_code == 2 and not out.exists()
    result = runner.invoke(args=["export-charges", "--from", "2026-01-01", "-o", str(out)])
    assert result.exit_code == 2 and "--to" in result.output
