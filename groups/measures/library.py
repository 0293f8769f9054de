"""The measure library: one YAML file per measure in this package's folder.

Each ``<code>.yaml`` file describes one measure (the format is documented in
docs/outcomes.md)::

    code: phq9                  # equals the file name without .yaml
    title: Patient Health Questionnaire (PHQ-9)
    version: "1"                # raise when wording or scoring changes
    recall_period: Over the last 2 weeks, ...
    options:                    # shared by every item unless it has its own
      - {score: 0, label: Not at all, loinc: LA6568-5}
    items:
      - {text: Little interest or pleasure in doing things, loinc: 44250-9}
    loinc: 44261-6              # the LOINC code of the total
    bands:                      # cover min..max total without gap or overlap
      - {min: 0, max: 4, key: minimal, label: Minimal}
    caseness: 10                # totals at or above are a clinical case
    reliable_change: 6          # points of change beyond measurement error
    safety_items: [9]           # item numbers; above their lowest score = alert
    licence: ...
    source: ...

Checking reports every problem at once, each naming the file and the key,
so a practice adding a licensed measure fixes its file in one pass. Loading
is pure and cached until a file changes, like the handout library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

import yaml

from ..contentfiles import Catalog, DirectoryCache, parse_each
from .measure import Band, Item, Measure, Option

MEASURES_DIR = Path(__file__).resolve().parent
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
LOINC_RE = re.compile(r"^(\d{1,7})-(\d)$")
LOINC_ANSWER_RE = re.compile(r"^LA\d{1,7}-\d$")
TEXT_KEYS = ("title", "recall_period", "licence", "source")
REQUIRED_KEYS = (
    "code",
    "title",
    "version",
    "recall_period",
    "items",
    "loinc",
    "bands",
    "caseness",
    "reliable_change",
    "safety_items",
    "licence",
    "source",
)
ALLOWED_KEYS = frozenset(REQUIRED_KEYS) | {"options"}
ITEM_KEYS = frozenset({"text", "loinc", "options"})
OPTION_KEYS = frozenset({"score", "label", "loinc"})
BAND_KEYS = frozenset({"min", "max", "key", "label"})


class MeasureError(ValueError):
    """Measure files are malformed; each message names the file and the key."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class MeasureSet(Catalog[Measure]):
    """An immutable set of measures, in code order, looked up by code."""

    def __init__(self, measures: Iterable[Measure], directory: Path | None = None):
        super().__init__(sorted(measures, key=lambda m: m.code), lambda m: m.code, directory)

    def codes(self) -> list[str]:
        return [m.code for m in self._all]


def loinc_is_valid(code: object) -> bool:
    """A LOINC code with a correct mod-10 check digit (LOINC's own rule)."""
    match = LOINC_RE.match(code) if isinstance(code, str) else None
    if not match:
        return False
    total = 0
    for position, char in enumerate(reversed(match[1])):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit // 10 + digit % 10
    return (10 - total % 10) % 10 == int(match[2])


class _Checker:
    """Collects problems as ``key: message`` for one file."""

    def __init__(self):
        self.problems: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def text(self, value, key: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.add(key, "must be non-empty text")
            return None
        return " ".join(value.split())

    def integer(self, value, key: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(key, f"must be a whole number, not {value!r}")
            return None
        return value

    def mapping(self, value, key: str, allowed: frozenset[str]) -> dict | None:
        if not isinstance(value, dict):
            self.add(key, "must be a mapping of 'key: value' pairs")
            return None
        for name in value:
            if name not in allowed:
                self.add(f"{key}.{name}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def entries(self, value, key: str, allowed: frozenset[str], least: int, what: str):
        """(index, where, mapping) for each entry of the list under ``key``; None,
        and a problem, unless it is a list of at least ``least`` entries. An entry
        that is not a mapping is left out (its problem is noted)."""
        if not isinstance(value, list) or len(value) < least:
            self.add(key, f"must be a {what}")
            return None
        found = []
        for index, raw in enumerate(value):
            where = f"{key}[{index}]"
            if (entry := self.mapping(raw, where, allowed)) is not None:
                found.append((index, where, entry))
        return found

    def require(self, entry: dict, where: str, names: tuple[str, ...]) -> None:
        for name in names:
            if name not in entry:
                self.add(f"{where}.{name}", "missing")

    def loinc(self, value, key: str) -> str | None:
        if not loinc_is_valid(value):
            self.add(key, f"{value!r} is not a LOINC code with a valid check digit")
            return None
        return value

    def options(self, value, key: str) -> tuple[Option, ...] | None:
        before = len(self.problems)
        entries = self.entries(value, key, OPTION_KEYS, 2, "list of at least two answer options")
        if entries is None:
            return None
        options = []
        for _, where, entry in entries:
            self.require(entry, where, ("score", "label"))
            score = self.integer(entry["score"], f"{where}.score") if "score" in entry else None
            label = self.text(entry["label"], f"{where}.label") if "label" in entry else None
            code = entry.get("loinc")
            if code is not None and not (isinstance(code, str) and LOINC_ANSWER_RE.match(code)):
                self.add(f"{where}.loinc", f"{code!r} is not a LOINC answer code (LA...-n)")
            options.append(Option(score, label, code))
        if len(self.problems) > before:
            return None
        scores = [option.score for option in options]
        if any(b <= a for a, b in pairwise(scores)):
            self.add(key, f"scores must rise strictly from first to last option, not {scores}")
        labels = [option.label.casefold() for option in options]
        if len(set(labels)) != len(labels):
            self.add(key, "two options have the same label")
        return tuple(options) if len(self.problems) == before else None


def _parse(path: Path, data: bytes) -> tuple[Measure | None, list[str]]:
    """Parse one file; return the measure (None if broken) and its problems."""
    try:
        meta = yaml.safe_load(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return None, [f"not valid UTF-8 ({exc.reason} at byte {exc.start})"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [f"invalid YAML{where}: {problem}"]
    check = _Checker()
    if not isinstance(meta, dict):
        return None, ["the file must be a mapping of 'key: value' lines"]
    for key in REQUIRED_KEYS:
        if key not in meta:
            check.add(key, "missing required key")
    for key in meta:
        if key not in ALLOWED_KEYS:
            check.add(str(key), "unknown key")

    code = meta.get("code")
    if "code" in meta:
        if not isinstance(code, str) or not CODE_RE.match(code):
            check.add("code", f"{code!r} must use only a-z, 0-9 and '-'")
        elif code != path.stem:
            check.add("code", f"'{code}' does not match the file name '{path.name}'")
    texts = {key: check.text(meta[key], key) for key in TEXT_KEYS if key in meta}
    version = meta.get("version")
    if "version" in meta and (not isinstance(version, str) or not version.strip()):
        check.add("version", f'must be quoted text such as "1", not {version!r}')
    loinc = check.loinc(meta["loinc"], "loinc") if "loinc" in meta else None

    shared = check.options(meta["options"], "options") if "options" in meta else None
    items = _items(meta, shared, check)
    bands = _bands(meta.get("bands"), items, check) if "bands" in meta else None
    caseness = reliable = None
    safety: tuple[int, ...] = ()
    if items:
        low, high = sum(i.lowest for i in items), sum(i.highest for i in items)
        if "caseness" in meta:
            caseness = check.integer(meta["caseness"], "caseness")
            if caseness is not None and not low < caseness <= high:
                check.add("caseness", f"{caseness} must lie above {low} and at most {high}")
        if "reliable_change" in meta:
            reliable = check.integer(meta["reliable_change"], "reliable_change")
            if reliable is not None and not 1 <= reliable <= high - low:
                check.add("reliable_change", f"{reliable} must lie between 1 and {high - low}")
        if "safety_items" in meta:
            safety = _safety_items(meta["safety_items"], len(items), check)

    if check.problems:
        return None, check.problems
    measure = Measure(
        code=code,
        title=texts["title"],
        version=version.strip(),
        recall_period=texts["recall_period"],
        items=items,
        loinc=loinc,
        bands=bands,
        caseness=caseness,
        reliable_change=reliable,
        safety_items=safety,
        licence=texts["licence"],
        source=texts["source"],
        source_path=path,
    )
    return measure, []


def _items(meta: dict, shared: tuple[Option, ...] | None, check: _Checker):
    if "items" not in meta:
        return None
    before = len(check.problems)
    entries = check.entries(meta["items"], "items", ITEM_KEYS, 1, "non-empty list of items")
    if entries is None:
        return None
    items = []
    for index, where, entry in entries:
        text = check.text(entry.get("text"), f"{where}.text")
        code = check.loinc(entry["loinc"], f"{where}.loinc") if "loinc" in entry else None
        if "options" in entry:
            options = check.options(entry["options"], f"{where}.options")
        elif "options" in meta:
            options = shared
        else:
            check.add(f"{where}.options", "missing, and the file has no shared 'options'")
            options = None
        items.append(Item(index + 1, text, options, code))
    if len(check.problems) > before or any(item.options is None for item in items):
        return None
    return tuple(items)


def _bands(raw, items, check: _Checker) -> tuple[Band, ...] | None:
    before = len(check.problems)
    entries = check.entries(raw, "bands", BAND_KEYS, 1, "non-empty list of bands")
    if entries is None:
        return None
    bands = []
    for _, where, entry in entries:
        check.require(entry, where, ("min", "max", "key", "label"))
        if len(check.problems) > before:
            continue
        low = check.integer(entry["min"], f"{where}.min")
        high = check.integer(entry["max"], f"{where}.max")
        key = entry["key"]
        if not isinstance(key, str) or not CODE_RE.match(key):
            check.add(f"{where}.key", f"{key!r} must use only a-z, 0-9 and '-'")
        label = check.text(entry["label"], f"{where}.label")
        if low is not None and high is not None and low > high:
            check.add(where, f"min {low} is above max {high}")
        bands.append(Band(low, high, key, label))
    if len(check.problems) > before:
        return None
    keys = [band.key for band in bands]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        check.add("bands", f"key '{key}' is used by more than one band")
    for index, (previous, band) in enumerate(pairwise(bands), start=1):
        if band.min > previous.max + 1:
            check.add(
                f"bands[{index}].min",
                f"gap: no band covers {previous.max + 1}..{band.min - 1}",
            )
        elif band.min <= previous.max:
            check.add(f"bands[{index}].min", f"overlaps the band before it ({previous.max})")
    if items:
        low, high = sum(i.lowest for i in items), sum(i.highest for i in items)
        if bands[0].min != low:
            check.add("bands[0].min", f"must be {low}, the lowest possible total")
        if bands[-1].max != high:
            check.add(f"bands[{len(bands) - 1}].max", f"must be {high}, the highest possible total")
    return tuple(bands) if len(check.problems) == before else None


def _safety_items(raw, count: int, check: _Checker) -> tuple[int, ...]:
    if not isinstance(raw, list):
        check.add("safety_items", "must be a list of item numbers (empty if none)")
        return ()
    numbers = []
    for index, value in enumerate(raw):
        number = check.integer(value, f"safety_items[{index}]")
        if number is None:
            continue
        if not 1 <= number <= count:
            check.add(f"safety_items[{index}]", f"there is no item {number} (items 1..{count})")
        elif number in numbers:
            check.add(f"safety_items[{index}]", f"item {number} is listed twice")
        else:
            numbers.append(number)
    return tuple(numbers)


def _scan(directory: Path) -> tuple[list[Measure], list[str]]:
    if not directory.is_dir():
        return [], [f"{directory}: measure directory not found"]
    measures, problems = [], []
    problems.extend(
        f"{path.name}: measure files must end in .yaml" for path in sorted(directory.glob("*.yml"))
    )
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        problems.append(f"{directory}: no measure files (*.yaml)")
    measures += [m for _, m in parse_each(paths, lambda path: path.name, _parse, problems)]
    return measures, problems


def check_measures(directory: Path | str | None = None) -> list[str]:
    """Every problem in the measure files, one message per problem."""
    return _scan(Path(directory) if directory is not None else MEASURES_DIR)[1]


_measure_sets = DirectoryCache("*.y*ml", _scan, MeasureSet, MeasureError)


def load_measures(directory: Path | str | None = None) -> MeasureSet:
    """Load (or reuse) every measure; raise ``MeasureError`` listing every problem."""
    return _measure_sets.get(directory if directory is not None else MEASURES_DIR)
