"""The clinical record of a held session: a group note and a progress note per attending member.

Rules (docs/clinical-notes.md):

- A held session has at most one group note and one progress note per
  member recorded present or late. Absent and excused members get no note:
  their attendance is the record.
- Notes are drafts until signed with the provider's typed name and password.
  A signed note never changes again: a write to it raises ``NoteLocked``
  (the page answers 409); later words are signed addenda, append-only.
- Only the group's lead and co-facilitators write and sign. The lead
  co-signs a progress note a co-facilitator signed.
- A progress note may not name another member of the group: signing is held
  while its text holds another enrolled member's first or last name, unless
  the provider gives a reason (stored and audited).
- Signing a progress note creates its charge line (services/charges.py) in
  the same transaction. Risk "high" on a signed note opens a safety alert
  for the member (services/safety.py) unless one is still unresolved.
- The audit log gets ids only: never note text, a reason or a name.
- The private session note (services/notes.py, the HIPAA psychotherapy
  note) is a different record and is never read here.
"""

from .common import (
    ATTENDING,
    PARTICIPANT_LIMIT,
    AddendumView,
    NameHold,
    NamesFound,
    NoteLocked,
    ScoreView,
    mask_names,
    name_words,
    names_in,
)
from .due import DueSession, ProviderDue, notes_due_by_provider, notes_due_for
from .page import (
    AbsentRow,
    FormState,
    GroupSectionView,
    MemberBlock,
    NotesPage,
    Signed,
    notes_page,
)
from .printing import member_note_pdf
from .records import set_diagnoses, set_npi
from .writing import (
    GroupSection,
    MemberSection,
    SignResult,
    add_addendum,
    check_signature,
    cosign,
    save_draft,
    sign_notes,
)

__all__ = [
    "ATTENDING",
    "PARTICIPANT_LIMIT",
    "AbsentRow",
    "AddendumView",
    "DueSession",
    "FormState",
    "GroupSection",
    "GroupSectionView",
    "MemberBlock",
    "MemberSection",
    "NameHold",
    "NamesFound",
    "NoteLocked",
    "NotesPage",
    "ProviderDue",
    "ScoreView",
    "SignResult",
    "Signed",
    "add_addendum",
    "check_signature",
    "cosign",
    "mask_names",
    "member_note_pdf",
    "name_words",
    "names_in",
    "notes_due_by_provider",
    "notes_due_for",
    "notes_page",
    "save_draft",
    "set_diagnoses",
    "set_npi",
    "sign_notes",
]
