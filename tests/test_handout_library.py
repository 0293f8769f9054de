"""The handout library: loading, validation messages, caching, Markdown rules,
and checks on the real content shipped in groups/handouts/content/."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import textwrap
from pathlib import Path

import pytest
from handout_samples import GUIDANCE, MODULE

from groups.handouts.library import (
    CONTENT_DIR,
    FOCUSES,
    Handout,
    HandoutError,
    check_library,
    handout_html_body,
    load_library,
)
from groups.handouts.markup import markdown_to_html
from groups.handouts.spelling import uk_spellings


def write(directory: Path, relative: str, text: str) -> Path:
    path = directory / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def content(tmp_path) -> Path:
    directory = tmp_path / "content"
    write(directory, "guidance/sample-guidance.md", GUIDANCE)
    write(directory, "modules/sample-module.md", MODULE)
    return directory


def test_loads_sample_library(content):
    library = load_library(content)
    assert [h.slug for h in library.all()] == ["sample-guidance", "sample-module"]
    guidance = library["sample-guidance"]
    assert guidance.title == "Talking it through"
    assert guidance.kind == "guidance"
    assert guidance.focuses == ("anxiety", "depression")
    assert guidance.modules == ()
    assert guidance.body_markdown.startswith("Some calm words")
    assert guidance.source_path == (content / "guidance/sample-guidance.md").resolve()
    raw = (content / "guidance/sample-guidance.md").read_bytes()
    assert guidance.content_hash == hashlib.sha256(raw).hexdigest()
    assert library.get("nope") is None and "nope" not in library
    assert len(library) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        guidance.title = "changed"


def test_lookups_by_focus_and_module(content):
    library = load_library(content)
    assert [h.slug for h in library.for_focus("anxiety")] == ["sample-guidance"]
    assert [h.slug for h in library.for_focus("adhd")] == ["sample-module"]
    assert [h.slug for h in library.for_module("adhd-02-sample")] == ["sample-module"]
    assert library.for_module("unknown") == []


def test_all_lists_guidance_first_then_modules_by_title(content):
    write(
        content,
        "modules/aaa.md",
        MODULE.replace("sample-module", "aaa").replace("A module worksheet", "Zebra module"),
    )
    write(
        content,
        "guidance/zzz.md",
        GUIDANCE.replace("sample-guidance", "zzz").replace(
            "Talking it through", "Another guidance"
        ),
    )
    titles = [(h.kind, h.title) for h in load_library(content).all()]
    assert titles == [
        ("guidance", "Another guidance"),
        ("guidance", "Talking it through"),
        ("module", "A module worksheet"),
        ("module", "Zebra module"),
    ]


def test_library_is_cached_until_a_file_changes(content):
    first = load_library(content)
    assert load_library(content) is first
    path = content / "modules/sample-module.md"
    path.write_text(MODULE.replace("First thing", "First step"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = load_library(content)
    assert second is not first
    assert "First step" in second["sample-module"].body_markdown
    assert second["sample-module"].content_hash != first["sample-module"].content_hash


def test_library_notices_files_added_and_removed_in_any_folder_but_not_other_kinds(content):
    first = load_library(content)
    (content / "notes.txt").write_text("not a handout", encoding="utf-8")
    assert load_library(content) is first  # only Markdown files count
    write(
        content,
        "modules/extra/deeper-module.md",
        MODULE.replace("sample-module", "deeper-module").replace("Sample module", "Deeper"),
    )
    second = load_library(content)
    assert second is not first and "deeper-module" in second
    (content / "modules/extra/deeper-module.md").unlink()
    third = load_library(content)
    assert third is not second and "deeper-module" not in third


def replace_front(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


MALFORMED = {
    "missing key": (
        replace_front(GUIDANCE, "summary: A short sample handout for the tests.\n", ""),
        "missing required key 'summary'",
    ),
    "bad focus": (
        replace_front(GUIDANCE, "[anxiety, depression]", "[anxiety, insomnia]"),
        "unknown focus 'insomnia'",
    ),
    "empty focuses": (replace_front(GUIDANCE, "[anxiety, depression]", "[]"), "at least one focus"),
    "bad kind": (replace_front(GUIDANCE, "kind: guidance", "kind: leaflet"), "kind 'leaflet'"),
    "slug mismatch": (
        replace_front(GUIDANCE, "slug: sample-guidance", "slug: other-name"),
        "slug 'other-name' does not match the file name 'sample-guidance.md'",
    ),
    "bad slug": (
        replace_front(GUIDANCE, "slug: sample-guidance", "slug: Sample_Guidance"),
        "must use only a-z, 0-9 and '-'",
    ),
    "bad yaml": (
        replace_front(GUIDANCE, "title: Talking it through", "title: [unclosed"),
        "invalid YAML",
    ),
    "no front matter": ("Just a body, no front matter.\n", "missing YAML front matter"),
    "modules not a list": (
        replace_front(GUIDANCE, "modules: []", "modules: anxiety-01"),
        "'modules' must be a list",
    ),
    "bad lines directive": (
        GUIDANCE + "\n:::lines 45\n",
        "line 19: ':::lines 45' must be between 1 and 30",
    ),
    "table without headings": (
        GUIDANCE + "\n:::table 5\n",
        "line 19: expected ':::table ROWS | Heading | Heading ...', found ':::table 5'",
    ),
    "table with no rows": (GUIDANCE + "\n:::table 0 | A | B\n", "a table needs 1 to 20 rows"),
    "table too tall": (GUIDANCE + "\n:::table 3x4 | A | B\n", "1 to 3 lines tall, not 4"),
    "table empty heading": (
        GUIDANCE + "\n:::table 3 | A | | B\n",
        "column 2 of the table has no heading",
    ),
    "table bad width": (GUIDANCE + "\n:::table 3 | A {9} | B\n", "width {9} must be 1 to 6"),
    "table too wide": (
        GUIDANCE + "\n:::table 3 | A | B | C | D | E | F | G\n",
        "at most 6 columns, not 7",
    ),
    "unknown directive": (
        GUIDANCE + "\n:::tabel 3 | A | B\n",
        "line 19: unknown directive ':::tabel 3 | A | B'",
    ),
    "empty body": (GUIDANCE.split("Some calm")[0], "body is empty"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_is_reported_with_file_and_problem(content, case):
    text, problem = MALFORMED[case]
    write(content, "guidance/sample-guidance.md", text)
    with pytest.raises(HandoutError) as caught:
        load_library(content)
    message = str(caught.value)
    assert "guidance/sample-guidance.md: " in message
    assert problem in message
    assert "Traceback" not in message
    problems = check_library(content)
    assert any(p.startswith("guidance/sample-guidance.md: ") and problem in p for p in problems)


def test_duplicate_slug_names_both_files(content):
    write(content, "modules/extra/sample-guidance.md", GUIDANCE)
    with pytest.raises(HandoutError) as caught:
        load_library(content)
    message = str(caught.value)
    assert "duplicate slug 'sample-guidance'" in message
    assert "guidance/sample-guidance.md" in message
    assert "modules/extra/sample-guidance.md" in message


def test_check_library_reports_every_problem_at_once(content):
    write(
        content,
        "guidance/a.md",
        replace_front(GUIDANCE, "slug: sample-guidance", "slug: a").replace(
            "kind: guidance", "kind: nope"
        ),
    )
    write(content, "guidance/b.md", "no front matter")
    problems = check_library(content)
    assert len(problems) == 2
    assert problems[0].startswith("guidance/a.md: kind 'nope'")
    assert problems[1].startswith("guidance/b.md: missing YAML front matter")
    assert check_library(content / "missing")[0].endswith("content directory not found")


def test_check_library_against_module_keys(content):
    problems = check_library(content, module_keys=["adhd-01-sample", "adhd-03-uncovered"])
    assert "modules/sample-module.md: unknown module 'adhd-02-sample'" in problems
    assert "module 'adhd-03-uncovered' has no handout" in problems


def test_markdown_escapes_raw_html_and_drops_fetchable_things():
    html = markdown_to_html(
        textwrap.dedent(
            """\
            Hello <script>alert(1)</script> <b onclick="x">bold</b>

            <div><img src="file:///etc/passwd"></div>

            ![chart](file:///etc/passwd) [bad](javascript:alert(1)) [ok](https://example.org)
            """
        )
    )
    assert "<script" not in html and "<b " not in html and "<div>" not in html
    assert "&lt;script&gt;" in html and "&lt;div&gt;" in html
    assert "<img" not in html and "javascript:" not in html
    assert '<span class="image-alt">chart</span>' in html
    assert '<a href="https://example.org">ok</a>' in html


def test_markdown_worksheet_conventions():
    html = markdown_to_html("Prompt\n:::lines 3\n\n- [ ] Tick me\n- [ ] And me\n- plain\n")
    assert html.count('<div class="write-line"></div>') == 3
    assert '<div class="write-lines">' in html
    assert "<p>Prompt</p>" in html
    assert '<ul class="checklist">' in html
    assert '<li class="check"><span aria-hidden="true" class="box"></span>Tick me</li>' in html
    assert "<li>plain</li>" in html
    assert "[ ]" not in html


def test_markdown_table_to_fill_in():
    html = markdown_to_html(
        "My ladder\n:::table 8 | Step {4} | Expected distress (0-100) {2} | "
        "Actual distress {2} | Done\n\nAfter the table.\n"
    )
    assert "<p>My ladder</p>" in html and "<p>After the table.</p>" in html
    assert '<table class="fill rows-1">' in html
    assert html.count("<col ") == 4
    for width in ("w-45", "w-20", "w-10"):
        assert f'class="{width}"' in html
    headings = ["Step", "Expected distress (0-100)", "Actual distress", "Done"]
    assert [f'<th scope="col">{h}</th>' in html for h in headings] == [True] * 4
    assert html.count("<tr>") == 1 + 8
    assert html.count("<td></td>") == 8 * 4
    assert ":::" not in html and "{4}" not in html


def test_markdown_table_rows_can_be_taller_and_headings_are_text():
    html = markdown_to_html(":::table 2x3 | <b>Thought</b> | Feeling |\n")
    assert '<table class="fill rows-3">' in html
    assert "&lt;b&gt;Thought&lt;/b&gt;" in html and "<b>" not in html
    assert html.count("<td></td>") == 4
    assert html.count('class="w-50"') == 2


def test_a_broken_directive_is_not_a_table():
    assert "<table" not in markdown_to_html(":::table 0 | A\n")
    assert "<table" not in markdown_to_html(":::tabel 3 | A\n")


def test_table_worksheets_count_as_worksheets(content):
    write(content, "modules/sample-module.md", MODULE.replace(":::lines 3", ":::table 2 | A | B"))
    assert load_library(content)["sample-module"].is_worksheet


def test_uk_spelling_fails_the_check_but_not_the_library(content):
    write(
        content,
        "guidance/sample-guidance.md",
        GUIDANCE.replace("Some calm words", "Some calm words about behaviour and Practising"),
    )
    problems = check_library(content)
    assert problems == [
        "guidance/sample-guidance.md: line 9: UK spelling 'behaviour', write 'behavior' "
        "(the practice uses US English)",
        "guidance/sample-guidance.md: line 9: UK spelling 'Practising', write 'practicing' "
        "(the practice uses US English)",
    ]
    assert "behaviour" in load_library(content)["sample-guidance"].body_markdown


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            "behaviour behavioural colours favourite",
            ["behaviour", "behavioural", "colours", "favourite"],
        ),
        (
            "practise practised organisation recognise realise",
            ["practise", "practised", "organisation", "recognise", "realise"],
        ),
        (
            "prioritise apologise centre centred programme counselling",
            ["prioritise", "apologise", "centre", "centred", "programme", "counselling"],
        ),
        (
            "physiotherapist towards enrolment fulfilment mum",
            ["physiotherapist", "towards", "enrolment", "fulfilment", "mum"],
        ),
        ("realistic analysis specialist criticism programmer enrolled organism", []),
        ("practice fulfill toward mumble emphasis behavior", []),
        ("modules: [adhd-03-prioritising]", []),
    ],
)
def test_uk_spelling_list(text, found):
    assert [word for _, word, _ in uk_spellings(text)] == found


def test_markdown_short_checklists_print_in_columns_and_tables_work():
    options = "\n".join(f"- [ ] Value {n}" for n in range(8))
    assert '<ul class="checklist columns">' in markdown_to_html(options)
    table = markdown_to_html("| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<table>" in table and "<th>a</th>" in table


def test_repeated_title_heading_is_dropped_and_h1_demoted():
    html = markdown_to_html("# Same Title\n\nText\n\n# Part two\n", "Same title")
    assert "Same Title" not in html
    assert "<h2>Part two</h2>" in html and "<h1" not in html


def test_handout_html_body_is_markup(content):
    handout = load_library(content)["sample-module"]
    body = handout_html_body(handout)
    assert hasattr(body, "__html__")
    assert body.count('write-line"') == 3


# ---- The real content ------------------------------------------------------


@pytest.fixture(scope="module")
def real_library():
    problems = check_library(CONTENT_DIR)
    assert problems == [], "content problems:\n" + "\n".join(problems)
    return load_library(CONTENT_DIR)


def test_real_content_loads_without_problems(real_library):
    assert len(real_library) > 0
    assert all(isinstance(h, Handout) for h in real_library)


@pytest.mark.parametrize("focus", FOCUSES)
def test_every_focus_has_at_least_three_guidance_handouts(real_library, focus):
    guidance = [h for h in real_library.for_focus(focus) if h.kind == "guidance"]
    assert len(guidance) >= 3, f"{focus}: only {[h.slug for h in guidance]}"


def test_every_curriculum_module_has_a_handout(real_library):
    from groups.curricula import CURRICULA

    missing = [
        module.key
        for modules in CURRICULA.values()
        for module in modules
        if not real_library.for_module(module.key)
    ]
    assert missing == [], f"modules without a handout: {missing}"


def test_handouts_only_name_known_modules():
    from groups.curricula import CURRICULA

    keys = [module.key for modules in CURRICULA.values() for module in modules]
    problems = [p for p in check_library(CONTENT_DIR, module_keys=keys) if "unknown module" in p]
    assert problems == []


def test_curricula_and_print_template_use_us_spelling():
    from groups.curricula import CURRICULA
    from groups.handouts.render import TEMPLATE_NAME, TEMPLATES_DIR

    texts = [m.title + " " + m.purpose for modules in CURRICULA.values() for m in modules]
    texts.append((TEMPLATES_DIR / TEMPLATE_NAME).read_text(encoding="utf-8"))
    assert [uk_spellings(text) for text in texts if uk_spellings(text)] == []


@pytest.mark.parametrize(
    ("slug", "headings"),
    [
        ("depression-02-activity-monitoring", ["Day and time", "What I did", "Mood (0-10)"]),
        ("anxiety-04-catching-anxious-thoughts", ["Situation", "Thought", "Feeling"]),
        (
            "anxiety-07-building-an-exposure-ladder",
            ["Step", "Expected distress (0-100)", "Actual distress (0-100)", "Done"],
        ),
    ],
)
def test_worksheets_print_tables(real_library, slug, headings):
    html = str(handout_html_body(real_library[slug]))
    assert '<table class="fill' in html
    for heading in headings:
        assert f'<th scope="col">{heading}' in html, heading


def test_guidance_handouts_do_not_assume_a_partner(real_library):
    for handout in real_library:
        if handout.kind == "guidance":
            assert "If you are not in a relationship" in handout.body_markdown, handout.slug


def test_module_handouts_are_worth_taking_home(real_library):
    sections = ("## A worked example", "## Your home-practice plan", "## When it gets hard")
    for handout in real_library:
        if handout.kind == "module":
            missing = [s for s in sections if s not in handout.body_markdown]
            assert missing == [], f"{handout.slug}: {missing}"
