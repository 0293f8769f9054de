"""A symptom measure and its scoring rules, as pure values and functions.

A ``Measure`` is built from one checked YAML file (see ``library``); nothing
here reads files, a database or a request. Every rule a later screen, import
or export needs is a method here, so they all score the same way:

- ``validate(answers)``: every item answered, each score one of that item's
  options; otherwise ``AnswerError`` naming each bad item. Nothing partial
  is ever scored.
- ``total``, ``band``, ``is_case``: the sum of the item scores, its severity
  band and whether it is at or above the caseness cut-off.
- ``safety_flag``: any safety item above its lowest option, whatever the
  total.
- ``change(baseline, latest)``: reliable improvement, no reliable change,
  reliable deterioration or recovered (the rules are in ``change``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

RELIABLE_IMPROVEMENT = "reliable_improvement"
NO_RELIABLE_CHANGE = "no_reliable_change"
RELIABLE_DETERIORATION = "reliable_deterioration"
RECOVERED = "recovered"
CHANGE_LABELS = {
    RELIABLE_IMPROVEMENT: "Reliable improvement",
    NO_RELIABLE_CHANGE: "No reliable change",
    RELIABLE_DETERIORATION: "Reliable deterioration",
    RECOVERED: "Recovered",
}


class AnswerError(ValueError):
    """Answers that cannot be scored; ``problems`` maps item number to why."""

    def __init__(self, measure_code: str, problems: dict[int, str]):
        self.measure_code = measure_code
        self.problems = dict(sorted(problems.items()))
        super().__init__(
            f"{measure_code}: " + "; ".join(f"item {n}: {why}" for n, why in self.problems.items())
        )


@dataclass(frozen=True)
class Option:
    score: int
    label: str
    loinc: str | None = None


@dataclass(frozen=True)
class Item:
    number: int  # 1-based position on the form
    text: str
    options: tuple[Option, ...]
    loinc: str | None = None

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(option.score for option in self.options)

    @property
    def lowest(self) -> int:
        return self.options[0].score

    @property
    def highest(self) -> int:
        return self.options[-1].score


@dataclass(frozen=True)
class Band:
    min: int
    max: int
    key: str
    label: str

    def __contains__(self, total: object) -> bool:
        return isinstance(total, int) and self.min <= total <= self.max


@dataclass(frozen=True)
class Change:
    """How a member's latest total compares with their baseline."""

    baseline: int
    latest: int
    category: str  # one of the four constants above

    @property
    def difference(self) -> int:
        """Latest minus baseline: negative means fewer symptoms."""
        return self.latest - self.baseline

    @property
    def label(self) -> str:
        return CHANGE_LABELS[self.category]


@dataclass(frozen=True)
class Score:
    """One validated set of answers and everything derived from it."""

    answers: tuple[int, ...]
    total: int
    band: Band
    is_case: bool
    safety_flag: bool


@dataclass(frozen=True)
class Measure:
    code: str
    title: str
    version: str
    recall_period: str
    items: tuple[Item, ...]
    loinc: str
    bands: tuple[Band, ...]
    caseness: int
    reliable_change: int
    safety_items: tuple[int, ...]  # item numbers
    licence: str
    source: str
    source_path: Path | None = None

    # Worked out once per measure (its items never change): every total scored or
    # compared is checked against both.
    @functools.cached_property
    def min_total(self) -> int:
        return sum(item.lowest for item in self.items)

    @functools.cached_property
    def max_total(self) -> int:
        return sum(item.highest for item in self.items)

    def item(self, number: int) -> Item:
        return self.items[number - 1]

    def validate(self, answers: Sequence | Mapping) -> tuple[int, ...]:
        """The scores in item order, or ``AnswerError`` naming every bad item.

        ``answers`` is either a sequence in item order or a mapping from item
        number to score; ``None`` or an empty string counts as unanswered.
        Scores may be ints or their decimal text (as a form or CSV sends them).
        """
        if isinstance(answers, str | bytes):
            raise TypeError(f"{self.code}: split the answers into one score per item first")
        if isinstance(answers, Mapping):
            given = dict(answers)
        else:
            given = dict(enumerate(answers, start=1))
        for number in given:
            if isinstance(number, bool) or not isinstance(number, int):
                raise TypeError(f"{self.code}: answers are keyed by item number, not {number!r}")
        # An answer for an item that does not exist means the row or form is
        # misaligned: refuse it rather than guess which answer is which.
        problems = {
            number: f"there is no item {number}; {self.code} has {len(self.items)} items"
            for number in given
            if not 1 <= number <= len(self.items)
        }
        scores = []
        for item in self.items:
            value = given.get(item.number)
            score = _as_score(value)
            if value is None or value == "":
                problems[item.number] = "not answered"
            elif score is None or score not in item.scores:
                allowed = ", ".join(map(str, item.scores))
                problems[item.number] = f"{value!r} is not one of the scores {allowed}"
            else:
                scores.append(score)
        if problems:
            raise AnswerError(self.code, problems)
        return tuple(scores)

    def total(self, answers: Sequence | Mapping) -> int:
        return sum(self.validate(answers))

    def band(self, total: int) -> Band:
        self._check_total(total)
        return next(band for band in self.bands if total in band)

    def is_case(self, total: int) -> bool:
        """At or above the caseness cut-off."""
        self._check_total(total)
        return total >= self.caseness

    def safety_flag(self, answers: Sequence | Mapping) -> bool:
        """Any safety item above its lowest option; the total plays no part."""
        return self._safety(self.validate(answers))

    def score(self, answers: Sequence | Mapping) -> Score:
        """Validate once and derive total, band, caseness and the safety flag."""
        scores = self.validate(answers)
        total = sum(scores)
        return Score(scores, total, self.band(total), self.is_case(total), self._safety(scores))

    def change(self, baseline: int, latest: int) -> Change:
        """Classify the change between two totals of this measure.

        Reliable change follows Jacobson & Truax (1991) with this measure's
        fixed threshold: a fall of at least ``reliable_change`` points is a
        reliable improvement, a rise of at least as much a reliable
        deterioration; anything smaller is within measurement error.
        *Recovered* is a reliable improvement that also moves the member from
        at or above caseness to below it (IAPT's "reliable recovery"), so a
        one-point dip across the cut-off is not called recovery.
        """
        self._check_total(baseline)
        self._check_total(latest)
        fall = baseline - latest
        if fall >= self.reliable_change:
            recovered = self.is_case(baseline) and not self.is_case(latest)
            category = RECOVERED if recovered else RELIABLE_IMPROVEMENT
        elif -fall >= self.reliable_change:
            category = RELIABLE_DETERIORATION
        else:
            category = NO_RELIABLE_CHANGE
        return Change(baseline, latest, category)

    def _safety(self, scores: tuple[int, ...]) -> bool:
        return any(scores[n - 1] > self.item(n).lowest for n in self.safety_items)

    def _check_total(self, total: int) -> None:
        if isinstance(total, bool) or not isinstance(total, int):
            raise TypeError(f"{self.code}: a total is a whole number, not {total!r}")
        if not self.min_total <= total <= self.max_total:
            raise ValueError(
                f"{self.code}: total {total} is outside {self.min_total}..{self.max_total}"
            )


def _as_score(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
