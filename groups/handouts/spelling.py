"""One language: the practice is in the US, so handouts use US spelling.

``check-handouts`` refuses a content file that uses a listed UK spelling, so
a new or edited handout stays consistent with the rest. The list holds word
stems; a stem also catches its endings ("behaviour" finds "behavioural").
Module keys such as ``adhd-03-prioritising`` are identifiers that pacing
records refer to and never change, so they are not checked.
"""

from __future__ import annotations

import re

# Endings a stem may take. "realis" + ISE finds "realise" and "realisation"
# but not "realistic"; "analys" + ISE is not "analysis".
ANY = None
ISE = ("e", "ed", "es", "ing", "ation", "ations", "er", "ers")
WORD = ("", "s")
# UK stem -> (US stem, allowed endings).
UK_TO_US = {
    "behaviour": ("behavior", ANY),
    "colour": ("color", ANY),
    "favour": ("favor", ANY),
    "flavour": ("flavor", ANY),
    "honour": ("honor", ANY),
    "humour": ("humor", ANY),
    "labour": ("labor", ANY),
    "neighbour": ("neighbor", ANY),
    "rumour": ("rumor", ANY),
    "practis": ("practic", ISE),
    "organis": ("organiz", ISE),
    "recognis": ("recogniz", ISE),
    "realis": ("realiz", ISE),
    "prioritis": ("prioritiz", ISE),
    "apologis": ("apologiz", ISE),
    "criticis": ("criticiz", ISE),
    "minimis": ("minimiz", ISE),
    "maximis": ("maximiz", ISE),
    "summaris": ("summariz", ISE),
    "memoris": ("memoriz", ISE),
    "visualis": ("visualiz", ISE),
    "normalis": ("normaliz", ISE),
    "personalis": ("personaliz", ISE),
    "specialis": ("specializ", ISE),
    "utilis": ("utiliz", ISE),
    "categoris": ("categoriz", ISE),
    "energis": ("energiz", ISE),
    "stabilis": ("stabiliz", ISE),
    "emphasis": ("emphasiz", ("e", "ed", "es", "ing")),
    "analys": ("analyz", ("e", "ed", "ing")),
    "paralys": ("paralyz", ("e", "ed", "ing")),
    "centre": ("center", ANY),
    "metre": ("meter", ANY),
    "litre": ("liter", ANY),
    "fibre": ("fiber", ANY),
    "programme": ("program", WORD),
    "counsell": ("counsel", ANY),
    "travell": ("travel", ANY),
    "labell": ("label", ANY),
    "modell": ("model", ANY),
    "fulfil": ("fulfill", ("", "s", "ment")),
    "enrol": ("enroll", ("", "s", "ment", "ments")),
    "judgement": ("judgment", ANY),
    "ageing": ("aging", WORD),
    "defence": ("defense", ANY),
    "offence": ("offense", ANY),
    "licence": ("license", WORD),
    "sceptic": ("skeptic", ANY),
    "grey": ("gray", WORD),
    "physiotherap": ("physical therap", ANY),
    "paediatric": ("pediatric", ANY),
    "anaesthe": ("anesthe", ANY),
    "towards": ("toward", ("",)),
    "whilst": ("while", ("",)),
    "amongst": ("among", ("",)),
    "learnt": ("learned", ("",)),
    "fortnight": ("two weeks", ("",)),
    "maths": ("math", ("",)),
    "mum": ("mom", WORD),
}
UK_WORDS = tuple(UK_TO_US)  # the list check-handouts applies, for messages and docs

_WORD_RE = re.compile(r"[A-Za-z]+")
# Most words start with no listed stem; one regex rules them out before the
# loop below, which keeps the start-up check of the whole library quick.
_ANY_STEM_RE = re.compile("|".join(map(re.escape, UK_TO_US)))
MODULE_KEY_RE = re.compile(r"\b[a-z]+-\d{2}-[a-z0-9-]+")


def _uk_match(word: str) -> str | None:
    """The US form of ``word`` if it is a listed UK spelling, else None."""
    lower = word.lower()
    if not _ANY_STEM_RE.match(lower):
        return None
    for uk, (us, endings) in UK_TO_US.items():
        if lower.startswith(uk):
            ending = lower[len(uk) :]
            if endings is ANY or ending in endings:
                if uk.endswith("re") and ending.startswith("d"):
                    ending = "e" + ending  # centred -> centered
                return us + ending
    return None


def uk_spellings(text: str) -> list[tuple[int, str, str]]:
    """``(line number, UK word, US word)`` for every listed UK spelling."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for word in _WORD_RE.findall(MODULE_KEY_RE.sub(" ", line)):
            us = _uk_match(word)
            if us is not None:
                found.append((number, word, us))
    return found


def spelling_problems(text: str) -> list[str]:
    return [
        f"line {number}: UK spelling {word!r}, write {us!r} (the practice uses US English)"
        for number, word, us in uk_spellings(text)
    ]
