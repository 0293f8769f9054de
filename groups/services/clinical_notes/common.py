"""Shared by the clinical notes modules: errors, who may write, the name check, reading helpers."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from dataclasses import dataclass

from ...clock import local_date
from ...db import Prepared
from ...measures.library import load_measures
from ...models import (
    Attendance,
    CoFacilitator,
    Enrollment,
    Group,
    GroupNote,
    Module,
    NoteAddendum,
    Session,
    User,
)
from .. import ServiceError

# NGS LCD L33632: a group psychotherapy session has at most 12 participants,
# and the count is documented; above it the page warns before signing.
PARTICIPANT_LIMIT = 12
ATTENDING = ("present", "late")
MEMBER_TEXT_FIELDS = ("observations", "risk_text", "plan")
GROUP_TEXT_FIELDS = ("interventions_other", "themes", "group_process")


class NoteLocked(ServiceError):
    """A write to a signed note: the record is locked (the page answers 409)."""


@dataclass(frozen=True)
class NameHold:
    """A progress note whose text names another member: ``words`` as found in the text."""

    member_id: int
    words: list[str]


class NamesFound(ServiceError):
    """Signing held: the notes in ``holds`` name other members (edit, or sign with a reason)."""

    def __init__(self, holds: list[NameHold]):
        first = holds[0]
        super().__init__(
            "This note names another member of the group ("
            + ", ".join(first.words)
            + "). Edit the text, or give a reason to sign it as written.",
            f"member-{first.member_id}-name_check_reason",
        )
        self.holds = holds


@dataclass(frozen=True)
class AddendumView:
    text: str
    signed_by_name: str
    signature_name: str
    signed_at_local: datetime.datetime


@dataclass(frozen=True)
class ScoreView:
    measure: str
    title: str
    total: int
    band_label: str
    completed_on: datetime.date


# ---- Who may write -------------------------------------------------------------------


def providers_of(group: Group) -> set[int]:
    """The lead and co-facilitators of ``group`` (1 prepared query: the notes page asks
    on every view)."""
    return {group.lead_id} | {pid for (pid,) in _CO_FACILITATORS.tuples(group.id)}


_CO_FACILITATORS = Prepared(
    lambda group_id: CoFacilitator.select(CoFacilitator.provider).where(
        CoFacilitator.group == group_id
    )
)


def can_write(session: Session, by: User, providers: set[int], now=None) -> bool:
    return by.is_provider and by.id in providers and session.counts_as_held(now)


def require_writer(session: Session, by: User, now=None) -> None:
    if not by.is_provider or by.id not in providers_of(session.group):
        raise ServiceError("Only the group's own providers write and sign its notes.")
    if not session.counts_as_held(now):
        raise ServiceError(
            "Notes are written once the session has started and its attendance is taken."
        )


def attendance_of(session: Session) -> dict[int, tuple[User, str]]:
    """Member id -> (member, status) for every attendance row of the session (1 query)."""
    rows = (
        Attendance.select(Attendance, User)
        .join(User, on=(Attendance.member == User.id))
        .where(Attendance.session == session)
        .order_by(*User.by_name())
    )
    return {row.member_id: (row.member, row.status) for row in rows}


# ---- Name check -----------------------------------------------------------------------


def name_words(name: str) -> set[str]:
    """A person's first and last name (two letters or more), the words the check looks for."""
    parts = [p.strip(".,'\"()") for p in name.split()]
    parts = [p for p in parts if len(p) >= 2]
    return {parts[0], parts[-1]} if parts else set()


def group_names(group: Group) -> dict[int, set[str]]:
    """Member id -> name words, for everyone ever enrolled in the group (1 query)."""
    rows = (
        User.select(User.id, User.name)
        .join(Enrollment, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group)
        .distinct()
    )
    return {row.id: name_words(row.name) for row in rows}


def other_names(names: dict[int, set[str]], member_id: int) -> set[str]:
    """The name words of everyone in ``names`` but ``member_id``, less the words they share."""
    own = {w.casefold() for w in names.get(member_id, set())}
    return {
        w for mid, ws in names.items() if mid != member_id for w in ws if w.casefold() not in own
    }


def _pattern(words: set[str]) -> re.Pattern:
    """Any of ``words`` as a whole word, in any case."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b({alternatives})\b", re.IGNORECASE)


def names_in(texts: list[str], member_id: int, names: dict[int, set[str]]) -> list[str]:
    """Other members' names found in ``texts`` (whole words, any case), as written there."""
    words = other_names(names, member_id)
    if not words:
        return []
    pattern = _pattern(words)
    found: list[str] = []
    for text in texts:
        for match in pattern.finditer(text or ""):
            if match.group(0).casefold() not in {f.casefold() for f in found}:
                found.append(match.group(0))
    return found


_NON_WORD = re.compile(r"\W")


class NameMatcher:
    """``names_in`` for every note of a page, with one pattern for the whole group.

    The pattern holds every member's name words; a note's own member's words
    are dropped from what it finds. Where one of those own words contains
    another member's word (a hyphenated "Mary-Jane" and a "Mary"), the
    combined pattern would take the whole own word and miss the other name,
    so such a note is checked with its own pattern as ``names_in`` does.
    """

    def __init__(self, names: dict[int, set[str]]):
        self.names = names
        words = {w for ws in names.values() for w in ws}
        self.pattern = _pattern(words) if words else None
        # Only a word with a non-word character in it ("-", "'") can hold
        # another whole word.
        self.shadowing = {
            w.casefold()
            for w in words
            if _NON_WORD.search(w)
            and any(
                len(v) < len(w) and re.search(rf"\b{re.escape(v)}\b", w, re.IGNORECASE)
                for v in words
            )
        }

    def found(self, texts: list[str], member_id: int) -> list[str]:
        """Other members' names in ``texts``, as written there (what ``names_in`` returns)."""
        if self.pattern is None:
            return []
        own = {w.casefold() for w in self.names.get(member_id, set())}
        found: list[str] = []
        seen: set[str] = set()
        for text in texts:
            for match in self.pattern.finditer(text or ""):
                key = match.group(0).casefold()
                if key in own:
                    if key in self.shadowing:
                        return names_in(texts, member_id, self.names)
                    continue
                if key not in seen:
                    seen.add(key)
                    found.append(match.group(0))
        return found


def mask_names(text: str, names: set[str]) -> str:
    """``text`` with each of ``names`` (whole words, any case) replaced by "[member]"."""
    if not names or not text:
        return text
    return _pattern(names).sub("[member]", text)


# ---- Reading ------------------------------------------------------------------------------


def local_or_none(group: Group, value):
    return group.local(value) if value is not None else None


def addenda_of(group_note: GroupNote | None, member_notes) -> dict[tuple[str, int], list]:
    """("group"|"member", note id) -> addenda in order, for the session (1 query)."""
    found: dict[tuple[str, int], list] = defaultdict(list)
    ids = [n.id for n in member_notes]
    condition = None
    if group_note is not None:
        condition = NoteAddendum.group_note == group_note.id
    if ids:
        more = NoteAddendum.member_note.in_(ids)
        condition = more if condition is None else (condition | more)
    if condition is None:
        return found
    for row in (
        NoteAddendum.select().where(condition).order_by(NoteAddendum.signed_at, NoteAddendum.id)
    ):
        key = ("group", row.group_note_id) if row.group_note_id else ("member", row.member_note_id)
        found[key].append(row)
    return found


def names_of(ids: set[int]) -> dict[int, str]:
    ids.discard(None)
    if not ids:
        return {}
    return {u.id: u.name for u in User.select(User.id, User.name).where(User.id.in_(list(ids)))}


def score_views(snapshot: list[dict]) -> list[ScoreView]:
    return [
        ScoreView(
            measure=s["measure"],
            title=s["title"],
            total=s["total"],
            band_label=s["band"],
            completed_on=datetime.date.fromisoformat(s["completed_on"]),
        )
        for s in snapshot
    ]


def scores_snapshot(group: Group, scores: dict[str, object], library=None) -> list[dict]:
    """The member's latest answer per measure, as stored on the note (plain data).

    ``library`` is ``load_measures()``: a page of many members passes it once.
    """
    library = library if library is not None else load_measures()
    out = []
    for code in sorted(scores):
        response = scores[code]
        measure = library.get(code)
        title, band = code.upper(), response.band
        if measure is not None:
            title = measure.title
            band = next((b.label for b in measure.bands if b.key == response.band), response.band)
        out.append(
            {
                "measure": code,
                "title": title,
                "total": response.total,
                "band": band,
                "completed_on": local_date(response.completed_at, group.timezone).isoformat(),
            }
        )
    return out


def module_title_of(session: Session) -> str:
    if session.module_id is None:
        return ""
    module = Module.get_or_none(Module.id == session.module_id)
    return module.title if module else ""


def diagnoses_of(group: Group, member_ids) -> dict[int, tuple[str, ...]]:
    """Member id -> diagnosis codes of their latest enrollment in the group (1 query)."""
    found: dict[int, tuple[str, ...]] = {}
    if not member_ids:
        return found
    rows = (
        Enrollment.select(Enrollment.member, Enrollment.diagnosis_codes)
        .where(Enrollment.group == group, Enrollment.member.in_(list(member_ids)))
        .order_by(Enrollment.requested_at, Enrollment.id)
    )
    for row in rows:
        found[row.member_id] = row.diagnoses
    return found
