"""Measures as data: the shipped files, scoring rules, file checks and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from groups.measures import (
    NO_RELIABLE_CHANGE,
    RECOVERED,
    RELIABLE_DETERIORATION,
    RELIABLE_IMPROVEMENT,
    AnswerError,
    MeasureError,
    check_measures,
    load_measures,
    loinc_is_valid,
)
from groups.measures import library as measure_library

SHIPPED = Path(measure_library.__file__).parent


@pytest.fixture(scope="module")
def measures():
    return load_measures()


@pytest.fixture
def phq9(measures):
    return measures["phq9"]


@pytest.fixture
def gad7(measures):
    return measures["gad7"]


def answers_totalling(measure, total: int) -> list[int]:
    """Scores in item order that add up to ``total``, filling items in order."""
    scores = []
    for item in measure.items:
        score = min(item.highest, total)
        scores.append(score)
        total -= score
    assert total == 0
    return scores


# --- the shipped files --------------------------------------------------------


def test_shipped_files_are_valid():
    assert check_measures() == []
    assert load_measures().codes() == ["gad7", "phq9"]


def test_phq9_file_holds_the_published_form(phq9):
    assert phq9.recall_period == (
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    )
    assert len(phq9.items) == 9
    assert phq9.items[0].text == "Little interest or pleasure in doing things"
    assert phq9.item(9).text == (
        "Thoughts that you would be better off dead or of hurting yourself in some way"
    )
    assert [o.label for o in phq9.items[0].options] == [
        "Not at all",
        "Several days",
        "More than half the days",
        "Nearly every day",
    ]
    assert all(item.scores == (0, 1, 2, 3) for item in phq9.items)
    assert (phq9.loinc, phq9.caseness, phq9.reliable_change) == ("44261-6", 10, 6)
    assert phq9.safety_items == (9,)
    assert phq9.item(9).loinc == "44260-8"
    assert "No permission required" in phq9.licence and "Kroenke" in phq9.source


def test_gad7_file_holds_the_published_form(gad7):
    assert gad7.recall_period == (
        "Over the last 2 weeks, how often have you been bothered by the following problems?"
    )
    assert [item.text for item in gad7.items][:2] == [
        "Feeling nervous, anxious or on edge",
        "Not being able to stop or control worrying",
    ]
    assert len(gad7.items) == 7 and (gad7.min_total, gad7.max_total) == (0, 21)
    assert (gad7.loinc, gad7.caseness, gad7.reliable_change) == ("70274-6", 8, 4)
    assert gad7.safety_items == ()
    assert "Spitzer" in gad7.source


def test_every_shipped_loinc_code_has_a_valid_check_digit(measures):
    for measure in measures:
        assert loinc_is_valid(measure.loinc)
        assert all(loinc_is_valid(item.loinc) for item in measure.items)


@pytest.mark.parametrize(
    ("code", "valid"),
    [("44261-6", True), ("70274-6", True), ("69725-0", True), ("44261-5", False), ("x-1", False)],
)
def test_loinc_check_digit(code, valid):
    assert loinc_is_valid(code) is valid


# --- bands and caseness -------------------------------------------------------

PHQ9_BANDS = [
    (0, "minimal"),
    (4, "minimal"),
    (5, "mild"),
    (9, "mild"),
    (10, "moderate"),
    (14, "moderate"),
    (15, "moderately-severe"),
    (19, "moderately-severe"),
    (20, "severe"),
    (27, "severe"),
]
GAD7_BANDS = [
    (0, "minimal"),
    (4, "minimal"),
    (5, "mild"),
    (9, "mild"),
    (10, "moderate"),
    (14, "moderate"),
    (15, "severe"),
    (21, "severe"),
]


@pytest.mark.parametrize(("total", "band"), PHQ9_BANDS)
def test_phq9_band_boundaries(phq9, total, band):
    assert phq9.band(total).key == band
    assert phq9.score(answers_totalling(phq9, total)).band.key == band


@pytest.mark.parametrize(("total", "band"), GAD7_BANDS)
def test_gad7_band_boundaries(gad7, total, band):
    assert gad7.band(total).key == band
    assert gad7.score(answers_totalling(gad7, total)).band.key == band


def test_band_labels(phq9):
    assert [b.label for b in phq9.bands] == [
        "Minimal",
        "Mild",
        "Moderate",
        "Moderately severe",
        "Severe",
    ]


@pytest.mark.parametrize(("code", "cut"), [("phq9", 10), ("gad7", 8)])
def test_caseness_is_at_or_above_the_cut_off(measures, code, cut):
    measure = measures[code]
    assert measure.is_case(cut) and not measure.is_case(cut - 1)


@pytest.mark.parametrize("total", [-1, 28])
def test_a_total_outside_the_range_is_refused(phq9, total):
    with pytest.raises(ValueError, match="outside 0..27"):
        phq9.band(total)


# --- reliable change and recovery -----------------------------------------------


@pytest.mark.parametrize(
    ("code", "baseline", "latest", "category"),
    [
        # PHQ-9: reliable change 6, caseness 10.
        ("phq9", 18, 12, RELIABLE_IMPROVEMENT),  # exactly 6 down, still a case
        ("phq9", 18, 13, NO_RELIABLE_CHANGE),  # 5 down
        ("phq9", 12, 17, NO_RELIABLE_CHANGE),  # 5 up
        ("phq9", 12, 18, RELIABLE_DETERIORATION),  # exactly 6 up
        ("phq9", 15, 9, RECOVERED),  # 6 down and from case to below caseness
        ("phq9", 10, 4, RECOVERED),  # at the cut-off counts as a case
        ("phq9", 10, 9, NO_RELIABLE_CHANGE),  # crosses the cut-off, within error
        ("phq9", 14, 9, NO_RELIABLE_CHANGE),  # crosses the cut-off, 5 down only
        ("phq9", 9, 0, RELIABLE_IMPROVEMENT),  # never a case: improvement, not recovery
        ("phq9", 16, 10, RELIABLE_IMPROVEMENT),  # lands on the cut-off: still a case
        ("phq9", 7, 7, NO_RELIABLE_CHANGE),
        # GAD-7: reliable change 4, caseness 8.
        ("gad7", 15, 11, RELIABLE_IMPROVEMENT),
        ("gad7", 15, 12, NO_RELIABLE_CHANGE),
        ("gad7", 5, 9, RELIABLE_DETERIORATION),
        ("gad7", 5, 8, NO_RELIABLE_CHANGE),
        ("gad7", 11, 7, RECOVERED),
        ("gad7", 8, 4, RECOVERED),
        ("gad7", 9, 7, NO_RELIABLE_CHANGE),
        ("gad7", 7, 0, RELIABLE_IMPROVEMENT),
    ],
)
def test_change_classification(measures, code, baseline, latest, category):
    change = measures[code].change(baseline, latest)
    assert change.category == category
    assert change.difference == latest - baseline


def test_change_labels(phq9):
    assert phq9.change(20, 5).label == "Recovered"
    assert phq9.change(5, 20).label == "Reliable deterioration"


# --- the safety item ------------------------------------------------------------


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_phq9_item9_above_zero_raises_a_flag_even_with_a_low_total(phq9, item9):
    answers = [0] * 8 + [item9]
    assert phq9.safety_flag(answers)
    score = phq9.score(answers)
    assert score.safety_flag and score.band.key == "minimal" and not score.is_case


def test_phq9_item9_at_zero_raises_nothing_whatever_the_total(phq9):
    # The highest total possible with item 9 at 0 is 24 (27 needs item 9 at 3).
    answers = [3] * 8 + [0]
    score = phq9.score(answers)
    assert score.total == 24 and score.band.key == "severe"
    assert not score.safety_flag and not phq9.safety_flag(answers)


def test_phq9_all_zero_raises_nothing(phq9):
    assert not phq9.safety_flag([0] * 9)


def test_gad7_has_no_safety_item(gad7):
    assert not gad7.safety_flag([3] * 7)


def test_safety_flag_refuses_partial_answers(phq9):
    # Never decide "no alert" from an incomplete form.
    with pytest.raises(AnswerError):
        phq9.safety_flag([0] * 8)


# --- answer validation ------------------------------------------------------------


def test_partial_answers_are_refused_naming_each_missing_item(phq9):
    with pytest.raises(AnswerError) as caught:
        phq9.validate([1, None, 2, "", 1, 1, 1])
    assert caught.value.problems == {
        2: "not answered",
        4: "not answered",
        8: "not answered",
        9: "not answered",
    }
    assert "item 2: not answered" in str(caught.value)


def test_out_of_range_answers_are_refused_naming_the_item(gad7):
    with pytest.raises(AnswerError) as caught:
        gad7.validate([0, 4, 1, -1, 1, "x", 2.0])
    assert set(caught.value.problems) == {2, 4, 6, 7}
    assert "not one of the scores 0, 1, 2, 3" in caught.value.problems[2]


def test_too_many_answers_are_refused(gad7):
    with pytest.raises(AnswerError) as caught:
        gad7.validate([0] * 8)
    assert caught.value.problems == {8: "there is no item 8; gad7 has 7 items"}


def test_booleans_are_not_scores(gad7):
    with pytest.raises(AnswerError):
        gad7.validate([True] + [0] * 6)


def test_answers_by_item_number_and_as_text(phq9):
    answers = {n: str(n % 4) for n in range(1, 10)}
    assert phq9.validate(answers) == (1, 2, 3, 0, 1, 2, 3, 0, 1)
    assert phq9.total(answers) == 13


def test_a_whole_string_is_not_a_list_of_answers(gad7):
    with pytest.raises(TypeError):
        gad7.validate("0000000")


# --- checking measure files ---------------------------------------------------------


@pytest.fixture
def measure_dir(tmp_path):
    """A folder holding a copy of the shipped GAD-7 file."""
    shutil.copy(SHIPPED / "gad7.yaml", tmp_path / "gad7.yaml")
    return tmp_path


def write_gad7(directory: Path, change) -> None:
    data = yaml.safe_load((SHIPPED / "gad7.yaml").read_text())
    change(data)
    (directory / "gad7.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))


def test_a_copy_of_a_shipped_file_is_valid(measure_dir):
    assert check_measures(measure_dir) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("caseness"), "gad7.yaml: caseness: missing required key"),
        (lambda d: d.pop("licence"), "gad7.yaml: licence: missing required key"),
        (lambda d: d.update(cut_off=8), "gad7.yaml: cut_off: unknown key"),
        (lambda d: d.update(code="gad-7"), "gad7.yaml: code: 'gad-7' does not match"),
        (lambda d: d.update(version=1), "gad7.yaml: version: must be quoted text"),
        (lambda d: d.update(title=" "), "gad7.yaml: title: must be non-empty text"),
        (lambda d: d.update(loinc="70274-5"), "gad7.yaml: loinc: '70274-5' is not a LOINC"),
        (lambda d: d["items"][2].update(loinc="123"), "gad7.yaml: items[2].loinc: '123'"),
        (lambda d: d["items"][1].pop("text"), "gad7.yaml: items[1].text: must be non-empty"),
        (lambda d: d.update(items=[]), "gad7.yaml: items: must be a non-empty list"),
        (
            lambda d: d["bands"][1].update(min=6),
            "gad7.yaml: bands[1].min: gap: no band covers 5..5",
        ),
        (
            lambda d: d["bands"][2].update(min=9),
            "gad7.yaml: bands[2].min: overlaps the band before it",
        ),
        (
            lambda d: d["bands"][3].update(max=20),
            "gad7.yaml: bands[3].max: must be 21, the highest possible total",
        ),
        (
            lambda d: d["bands"][0].update(min=1),
            "gad7.yaml: bands[0].min: must be 0, the lowest possible total",
        ),
        (lambda d: d["bands"][0].pop("label"), "gad7.yaml: bands[0].label: missing"),
        (
            lambda d: d["bands"][1].update(key="minimal"),
            "gad7.yaml: bands: key 'minimal' is used by more than one band",
        ),
        (
            lambda d: d["options"][2].update(score=1),
            "gad7.yaml: options: scores must rise strictly",
        ),
        (lambda d: d["options"][1].pop("score"), "gad7.yaml: options[1].score: missing"),
        (lambda d: d["options"][0].update(score="0"), "gad7.yaml: options[0].score: must be"),
        (lambda d: d.update(options=d["options"][:1]), "gad7.yaml: options: must be a list of"),
        (lambda d: d.update(caseness=22), "gad7.yaml: caseness: 22 must lie above 0"),
        (lambda d: d.update(caseness=0), "gad7.yaml: caseness: 0 must lie above 0"),
        (lambda d: d.update(reliable_change=0), "gad7.yaml: reliable_change: 0 must lie"),
        (lambda d: d.update(safety_items=[8]), "gad7.yaml: safety_items[0]: there is no item 8"),
        (lambda d: d.update(safety_items=[1, 1]), "gad7.yaml: safety_items[1]: item 1 is listed"),
        (lambda d: d.update(safety_items=None), "gad7.yaml: safety_items: must be a list"),
    ],
)
def test_file_problems_name_the_file_and_the_key(measure_dir, change, problem):
    write_gad7(measure_dir, change)
    problems = check_measures(measure_dir)
    assert any(p.startswith(problem) for p in problems), problems
    with pytest.raises(MeasureError):
        load_measures(measure_dir)


def test_every_problem_in_a_file_is_reported_at_once(measure_dir):
    write_gad7(measure_dir, lambda d: d.update(caseness=99, reliable_change=-1, source=""))
    problems = check_measures(measure_dir)
    assert [p.split(":")[1].strip() for p in problems] == [
        "source",
        "caseness",
        "reliable_change",
    ]


def test_an_item_may_carry_its_own_options(measure_dir):
    def own_options(data):
        data["items"][0]["options"] = [{"score": 0, "label": "No"}, {"score": 4, "label": "Yes"}]
        data["bands"][-1]["max"] = 22

    write_gad7(measure_dir, own_options)
    measure = load_measures(measure_dir)["gad7"]
    assert measure.items[0].scores == (0, 4) and measure.max_total == 22
    with pytest.raises(AnswerError):
        measure.validate([1] + [0] * 6)


def test_broken_yaml_and_wrong_extension_are_reported(measure_dir):
    (measure_dir / "broken.yaml").write_text("code: [unclosed\n")
    (measure_dir / "asrs.yml").write_text("code: asrs\n")
    problems = check_measures(measure_dir)
    assert problems[0] == "asrs.yml: measure files must end in .yaml"
    assert problems[1].startswith("broken.yaml: invalid YAML at line 2")


def test_an_empty_folder_is_a_problem(tmp_path):
    assert check_measures(tmp_path) == [f"{tmp_path}: no measure files (*.yaml)"]


def test_a_dropped_in_file_is_picked_up_without_code(measure_dir):
    """What a practice holding a licence does: add a file, nothing else."""
    data = yaml.safe_load((SHIPPED / "gad7.yaml").read_text())
    data.update(code="demo-scale", title="A licensed scale", safety_items=[3])
    load_measures(measure_dir)  # warm the cache: the new file must still appear
    (measure_dir / "demo-scale.yaml").write_text(yaml.safe_dump(data))
    measures = load_measures(measure_dir)
    assert measures.codes() == ["demo-scale", "gad7"]
    assert measures["demo-scale"].safety_flag([0, 0, 1, 0, 0, 0, 0])


# --- the CLI ---------------------------------------------------------------------------


def test_list_measures_prints_code_and_title(runner):
    result = runner.invoke(args=["list-measures"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "gad7  Generalized Anxiety Disorder scale (GAD-7)",
        "phq9  Patient Health Questionnaire (PHQ-9)",
    ]


def test_check_measures_passes_on_the_shipped_files(runner):
    result = runner.invoke(args=["check-measures"])
    assert result.exit_code == 0, result.output
    assert result.output == "All 2 measures are valid: gad7, phq9.\n"


def test_check_measures_lists_each_problem_and_fails(runner, measure_dir, monkeypatch):
    write_gad7(measure_dir, lambda d: d.update(caseness=30, safety_items=[9]))
    monkeypatch.setattr(measure_library, "MEASURES_DIR", measure_dir)
    result = runner.invoke(args=["check-measures"])
    assert result.exit_code == 1
    assert "gad7.yaml: caseness: 30 must lie above 0 and at most 21" in result.output
    assert "gad7.yaml: safety_items[0]: there is no item 9" in result.output
    assert "2 problem(s) in the measure files" in result.output


def test_list_measures_fails_on_a_broken_file(runner, measure_dir, monkeypatch):
    write_gad7(measure_dir, lambda d: d.pop("bands"))
    monkeypatch.setattr(measure_library, "MEASURES_DIR", measure_dir)
    result = runner.invoke(args=["list-measures"])
    assert result.exit_code == 1
    assert "gad7.yaml: bands: missing required key" in result.output
