"""ICD-10-CM diagnosis codes, NPIs and the interventions checklist.

ICD-10-CM codes are checked for their shape only (a letter, a digit, a
digit or letter, then optionally a dot and one to four letters or digits):
the full code set changes every October and is not shipped. A short list of
common codes for the practice's three focuses is bundled as suggestions
(icd10_common.yaml).

An NPI is ten digits whose last digit is a Luhn check digit computed as if
the number carried the card-issuer prefix 80840 (CMS, "Requirements for NPI
Check Digit").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..services import ServiceError

HERE = Path(__file__).resolve().parent
ICD10_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?")
# How many diagnosis codes one enrollment (and so one charge line) carries:
# the claim form's diagnosis pointers go from A to L.
MAX_DIAGNOSES = 12
NPI_PREFIX = "80840"


@dataclass(frozen=True)
class CommonCode:
    code: str
    description: str
    focus: str


def normalize_icd10(code: str) -> str:
    """Upper case, with the dot after the third character ("f411" -> "F41.1")."""
    code = code.strip().upper()
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code


def is_icd10(code: str) -> bool:
    return ICD10_SHAPE.fullmatch(normalize_icd10(code)) is not None


def parse_icd10(text: str, field: str = "diagnosis_codes") -> tuple[str, ...]:
    """Codes separated by spaces, commas or semicolons, normalized, duplicates dropped."""
    codes: list[str] = []
    for raw in re.split(r"[\s,;]+", (text or "").strip()):
        if not raw:
            continue
        code = normalize_icd10(raw)
        if ICD10_SHAPE.fullmatch(code) is None:
            raise ServiceError(
                f"“{raw[:20]}” is not an ICD-10-CM code: codes look like F41.1 or F32.A.",
                field,
            )
        if code not in codes:
            codes.append(code)
    if len(codes) > MAX_DIAGNOSES:
        raise ServiceError(f"Enter at most {MAX_DIAGNOSES} diagnosis codes.", field)
    return tuple(codes)


@functools.cache
def common_codes() -> tuple[CommonCode, ...]:
    """The bundled suggestions, by focus in the file's order."""
    data = yaml.safe_load((HERE / "icd10_common.yaml").read_text(encoding="utf-8"))
    return tuple(
        CommonCode(code=str(code), description=str(text), focus=focus)
        for focus, codes in data.items()
        for code, text in codes.items()
    )


def describe(code: str) -> str:
    """The bundled description of ``code``, or "" for a code not on the short list."""
    return next((c.description for c in common_codes() if c.code == code), "")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            value -= 9 if value > 9 else 0
        total += value
    return total % 10 == 0


def npi_with_check_digit(nine_digits: str) -> str:
    """The NPI made of ``nine_digits`` and its check digit (demo data, tests)."""
    for digit in "0123456789":
        if _luhn_ok(NPI_PREFIX + nine_digits + digit):
            return nine_digits + digit
    raise ValueError(nine_digits)


def is_npi(text: str) -> bool:
    text = (text or "").strip()
    return len(text) == 10 and text.isascii() and text.isdigit() and _luhn_ok(NPI_PREFIX + text)


def parse_npi(text: str, field: str = "npi") -> str | None:
    """A checked NPI, or None for an empty entry (spaces and dashes are ignored)."""
    value = re.sub(r"[\s-]", "", text or "")
    if not value:
        return None
    if not is_npi(value):
        raise ServiceError(
            "An NPI is 10 digits with a valid check digit; check it against the NPPES registry.",
            field,
        )
    return value


# ---- The interventions checklist of a group note --------------------------------


@dataclass(frozen=True)
class Intervention:
    key: str
    label: str


MODULE_KEY = "module"


@functools.cache
def _interventions() -> dict[str, dict[str, str]]:
    return yaml.safe_load((HERE / "interventions.yaml").read_text(encoding="utf-8"))


def interventions_for(focus: str, module_title: str) -> list[Intervention]:
    """The checklist for a session: its module first, then common, then the focus's items."""
    data = _interventions()
    items = [Intervention(MODULE_KEY, f"Module taught: {module_title}")] if module_title else []
    seen = {MODULE_KEY}
    for section in ("common", focus):
        for key, label in (data.get(section) or {}).items():
            if key not in seen:
                seen.add(key)
                items.append(Intervention(key, label))
    return items
