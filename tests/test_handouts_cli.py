"""flask list-handouts / render-handout / check-handouts."""

from __future__ import annotations

import datetime
import io

import pytest
from pypdf import PdfReader

from groups.handouts import load_library
from groups.models import AuditLog, Enrollment, Module, Session
from groups.services import groups as group_service

GROUP = {
    "name": "Tuesday Evening Group",
    "focus": "anxiety",
    "description": "",
    "capacity": 10,
    "format": "closed",
    "location": "Room 3",
    "timezone": "America/New_York",
    "status": "active",
}
SLUG = "anxiety-03-calming-the-body"


@pytest.fixture
def setting(make_user):
    lead = make_user("provider")
    group = group_service.create_group(lead, GROUP, [], by=lead)
    starts = datetime.datetime(2031, 5, 13, 22, 0, tzinfo=datetime.UTC)
    session = Session.create(
        group=group,
        module=Module.get(Module.group == group, Module.position == 3),
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=90),
    )
    member = make_user("member", name="Annabel Quist", email="ann@example.org")
    Enrollment.create(group=group, member=member, status="active")
    outsider = make_user("member", email="out@example.org")
    other_group = group_service.create_group(lead, {**GROUP, "name": "Other"}, [], by=lead)
    return {"group": group, "session": session, "other_group": other_group, "outsider": outsider}


def test_list_handouts_prints_slug_and_title(runner):
    result = runner.invoke(args=["list-handouts"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    library = load_library()
    assert len(lines) == len(library)
    for line, handout in zip(lines, library, strict=True):
        slug, title = line.split(None, 1)
        assert (slug, title) == (handout.slug, handout.title)


def test_render_handout_writes_a_personalised_pdf(runner, setting, tmp_path):
    out = tmp_path / "handout.pdf"
    result = runner.invoke(
        args=[
            "render-handout",
            SLUG,
            "--group",
            str(setting["group"].id),
            "--session",
            str(setting["session"].id),
            "--member",
            "ANN@example.org",
            "-o",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text().split())
    assert "Copy for Annabel Quist" in text
    # The session's packet keeps the group's name off (the focus switch).
    assert "Tuesday Evening Group" not in text and "Tuesday 13 May 2031" in text
    entry = AuditLog.get(AuditLog.action == "handout_downloaded")
    assert entry.target_id == setting["session"].id and "Annabel" not in entry.detail


def test_render_handout_plain(runner, tmp_path):
    out = tmp_path / "plain.pdf"
    result = runner.invoke(args=["render-handout", "ripple-effect", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    assert f"to {out}." in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-slug"], "No handout with the slug 'no-such-slug'"),
        ([SLUG, "--group", "9999"], "No group with id 9999."),
        ([SLUG, "--session", "9999"], "No session with id 9999."),
        ([SLUG, "--member", "nobody@example.org"], "No member with the email nobody@example.org."),
        ([SLUG, "--group", "abc"], "'abc' is not a valid integer"),
    ],
)
def test_render_handout_refuses_unknowns_clearly(runner, tmp_path, args, message):
    out = tmp_path / "x.pdf"
    result = runner.invoke(args=["render-handout", *args, "-o", str(out)])
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists()


def test_render_handout_refuses_mismatched_ids(runner, setting, tmp_path):
    out = str(tmp_path / "x.pdf")
    session, other = setting["session"], setting["other_group"]
    result = runner.invoke(
        args=["render-handout", SLUG, "--group", str(other.id), "--session", str(session.id)]
        + ["-o", out]
    )
    assert result.exit_code != 0
    assert f"belongs to group {setting['group'].id}, not group {other.id}" in result.output
    result = runner.invoke(
        args=["render-handout", SLUG, "--session", str(session.id), "--member", "out@example.org"]
        + ["-o", out]
    )
    assert result.exit_code != 0
    assert "out@example.org is not enrolled in group" in result.output


def test_render_handout_needs_an_output(runner):
    result = runner.invoke(args=["render-handout", SLUG])
    assert result.exit_code == 2 and "-o" in result.output


def test_check_handouts_passes_on_the_shipped_content(runner):
    result = runner.invoke(args=["check-handouts"])
    assert result.exit_code == 0, result.output
    assert "every curriculum module has a handout" in result.output


@pytest.fixture
def broken_content(tmp_path, monkeypatch):
    content = tmp_path / "content"
    content.mkdir()
    (content / "bad.md").write_text("no front matter here\n")
    (content / "odd.md").write_text(
        "---\nslug: odd\ntitle: Odd\nsummary: S\nkind: guidance\nfocuses: [anxiety]\n"
        "modules: [anxiety-99-nope]\n---\nBody\n"
    )
    monkeypatch.setattr("groups.handouts.library.CONTENT_DIR", content)


def test_check_handouts_lists_every_problem_and_fails(runner, broken_content):
    result = runner.invoke(args=["check-handouts"])
    assert result.exit_code == 1
    assert "bad.md: missing YAML front matter" in result.output
    assert "odd.md: unknown module 'anxiety-99-nope'" in result.output
    assert "module 'anxiety-01-understanding-anxiety' has no handout" in result.output
    assert "problem(s) in the handout files" in result.output


def test_list_and_render_fail_clearly_on_broken_content(runner, broken_content, tmp_path):
    for args in (["list-handouts"], ["render-handout", SLUG, "-o", str(tmp_path / "x.pdf")]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1
        assert "bad.md: missing YAML front matter" in result.output


def test_check_handouts_names_file_and_line_of_a_bad_table(runner, tmp_path, monkeypatch):
    content = tmp_path / "content"
    content.mkdir()
    (content / "diary.md").write_text(
        "---\nslug: diary\ntitle: Diary\nsummary: S\nkind: guidance\nfocuses: [depression]\n"
        "modules: []\n---\nFill this in.\n\n:::table 40 | Day | Mood\n\nA favourite colour.\n"
    )
    monkeypatch.setattr("groups.handouts.library.CONTENT_DIR", content)
    result = runner.invoke(args=["check-handouts"])
    assert result.exit_code == 1
    assert "diary.md: line 11: a table needs 1 to 20 rows, not 40" in result.output
    assert "diary.md: line 13: UK spelling 'favourite', write 'favorite'" in result.output
    assert "diary.md: line 13: UK spelling 'colour', write 'color'" in result.output


def test_practice_phone_and_crisis_text_are_settings(monkeypatch, tmp_path):
    from groups.config import DEFAULT_CRISIS_TEXT, from_environment

    monkeypatch.delenv("PRACTICE_PHONE", raising=False)
    monkeypatch.delenv("CRISIS_TEXT", raising=False)
    config = from_environment(str(tmp_path))
    assert config["PRACTICE_PHONE"] is None
    assert config["CRISIS_TEXT"] == DEFAULT_CRISIS_TEXT
    assert DEFAULT_CRISIS_TEXT == "Call or text 988 (US), or 911 in an emergency"
    monkeypatch.setenv("PRACTICE_PHONE", " (555) 010-0123 ")
    monkeypatch.setenv("CRISIS_TEXT", "In a crisis, call 999")
    config = from_environment(str(tmp_path))
    assert config["PRACTICE_PHONE"] == "(555) 010-0123"
    assert config["CRISIS_TEXT"] == "In a crisis, call 999"


@pytest.mark.parametrize("phone", [None, "(555) 010-0123"])
def test_rendered_handouts_carry_the_configured_lines(app, runner, tmp_path, phone):
    app.config.update(PRACTICE_PHONE=phone, CRISIS_TEXT="In a crisis, call or text 988")
    out = tmp_path / "module.pdf"
    result = runner.invoke(args=["render-handout", SLUG, "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text().split())
    assert (
        "Test Practice · (555) 010-0123" in text if phone else "Test Practice In a crisis" in text
    )
    assert "In a crisis, call or text 988." in text
