"""Private session notes: one short note per session for the group's providers.

Notes never appear to members, in exports or in feeds. Reading and editing
are audited without the text (the audit log never holds clinical notes).
"""

from __future__ import annotations

from .. import audit
from ..clock import utcnow
from ..db import write_transaction
from ..models import SESSION_NOTE_MAX, Session, SessionNote, User
from . import ServiceError


class StaleNote(ServiceError):
    """The note changed since the form was opened: a real edit conflict (the page answers 409)."""


def note_of(session: Session) -> SessionNote | None:
    return SessionNote.get_or_none(SessionNote.session == session)


def version_of(note: SessionNote | None) -> str:
    """What the edit form carries, so a save never overwrites a newer note unseen."""
    return note.updated_at.isoformat() if note is not None else ""


def read_note(session: Session, *, by: User) -> SessionNote | None:
    note = note_of(session)
    audit.record("note_viewed", actor=by, target=session, exists=note is not None)
    return note


def save_note(session: Session, text: str, version: str, *, by: User) -> SessionNote:
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > SESSION_NOTE_MAX:
        raise ServiceError(
            f"Keep the note to {SESSION_NOTE_MAX:,} characters or fewer (it has {len(text):,}).",
            "text",
        )
    with write_transaction():
        note = note_of(session)
        if version != version_of(note):
            raise StaleNote(
                "This note was changed elsewhere after you opened it, so it was not saved. "
                "The saved note is shown below; your text is still in the box.",
                "text",
            )
        now = utcnow()
        if note is None:
            note = SessionNote.create(session=session, text=text, updated_by=by, updated_at=now)
        elif note.text != text:
            note.text, note.updated_by, note.updated_at = text, by, now
            note.save()
        else:
            return note
        audit.record("note_changed", actor=by, target=session, length=len(text))
    return note
