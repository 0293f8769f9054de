"""Charge lines: one CPT 90853 line per signed member progress note, and their export.

Rules (docs/clinical-notes.md, "Charges"):

- A line is created in the transaction that signs the progress note, and
  only then: no note, no charge; an absent member has neither. The unique
  ``member_note`` column backs "one line per note".
- The line copies what a claim needs at signing time: the member's
  diagnosis codes from their enrollment, the codes from configuration
  (``CHARGE_CPT``; a telehealth session gets ``CHARGE_TELEHEALTH_MODIFIERS``
  and ``CHARGE_TELEHEALTH_POS``, one in person ``CHARGE_IN_PERSON_POS``),
  and the signing provider with their NPI. Later edits of an enrollment or
  an account never rewrite a line.
- The export (CLI ``export-charges`` and the admin page) has exactly the
  columns in ``COLUMNS``; several diagnosis codes are joined with ``;``.
  Each export is audited with its range and row count, never a name. Names
  that a spreadsheet would read as a formula are neutralised.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from peewee import JOIN

from .. import audit
from ..clock import local_date
from ..db import write_transaction
from ..models import ChargeLine, MemberNote, Session, User
from . import ServiceError
from .attendance import safe_cell

COLUMNS = (
    "date_of_service",
    "session_id",
    "member_id",
    "member_name",
    "diagnosis",
    "cpt",
    "modifiers",
    "place_of_service",
    "units",
    "rendering_provider",
    "rendering_npi",
    "note_signed_at",
)
# The longest range one export covers: a few years of billing fits easily,
# a typo such as 2205 for 2025 does not.
MAX_RANGE_DAYS = 3 * 366


@dataclass(frozen=True)
class ChargeCodes:
    cpt: str
    modifiers: str
    place_of_service: str


def codes_for(*, telehealth: bool) -> ChargeCodes:
    """The configured CPT, modifiers and place of service of a session's modality."""
    config = current_app.config
    if telehealth:
        return ChargeCodes(
            config["CHARGE_CPT"],
            config["CHARGE_TELEHEALTH_MODIFIERS"],
            config["CHARGE_TELEHEALTH_POS"],
        )
    return ChargeCodes(config["CHARGE_CPT"], "", config["CHARGE_IN_PERSON_POS"])


def create_charge(
    note: MemberNote,
    *,
    session: Session,
    telehealth: bool,
    diagnoses: tuple[str, ...],
    provider: User,
) -> ChargeLine:
    """The charge line of a note being signed; call inside the signing transaction.

    Refused (and so the signing with it) without a diagnosis on the member's
    enrollment or an NPI on the signing provider's account: a line without
    them cannot be billed.
    """
    if not diagnoses:
        raise ServiceError(
            "Add this member's diagnosis (ICD-10-CM) to their enrollment before signing.",
            f"member-{note.member_id}-diagnosis",
        )
    if not provider.npi:
        raise ServiceError("Add your NPI to your account before signing notes.", "npi")
    codes = codes_for(telehealth=telehealth)
    line = ChargeLine.create(
        member_note=note,
        session=session,
        member=note.member_id,
        date_of_service=local_date(session.starts_at, session.group.timezone),
        diagnosis_codes=" ".join(diagnoses),
        cpt=codes.cpt,
        modifiers=codes.modifiers,
        place_of_service=codes.place_of_service,
        units=1,
        rendering_provider=provider,
        rendering_npi=provider.npi,
        note_signed_at=note.signed_at,
    )
    audit.record(
        "charge_created",
        actor=provider,
        target=line,
        target_type="charge_line",
        member_note_id=note.id,
        session_id=session.id,
        member_id=note.member_id,
    )
    return line


def check_range(start: datetime.date | None, end: datetime.date | None) -> None:
    """Both days given, in order, and not years apart (``ServiceError`` naming the field)."""
    if start is None:
        raise ServiceError("Enter the first day (YYYY-MM-DD).", "start")
    if end is None:
        raise ServiceError("Enter the last day (YYYY-MM-DD).", "end")
    if end < start:
        raise ServiceError("The last day is before the first day.", "end")
    if (end - start).days > MAX_RANGE_DAYS:
        raise ServiceError("Choose a range of at most three years.", "end")


def charge_lines(start: datetime.date, end: datetime.date, provider: User | None = None):
    """Lines with a date of service in [start, end], oldest first, with member and provider."""
    check_range(start, end)
    Member = User.alias("member")
    Rendering = User.alias("rendering")
    query = (
        ChargeLine.select(ChargeLine, Member.name, Rendering.name)
        .join(Member, JOIN.INNER, on=(ChargeLine.member == Member.id), attr="member_row")
        .switch(ChargeLine)
        .join(
            Rendering,
            JOIN.INNER,
            on=(ChargeLine.rendering_provider == Rendering.id),
            attr="provider_row",
        )
        .where(ChargeLine.date_of_service.between(start, end))
        .order_by(ChargeLine.date_of_service, ChargeLine.session, Member.name, ChargeLine.id)
    )
    if provider is not None:
        query = query.where(ChargeLine.rendering_provider == provider)
    return query


def row_of(line: ChargeLine) -> list:
    signed = line.note_signed_at.astimezone(datetime.UTC)
    return [
        line.date_of_service.isoformat(),
        line.session_id,
        line.member_id,
        safe_cell(line.member_row.name),
        ";".join(line.diagnosis_codes.split()),
        line.cpt,
        " ".join(line.modifiers.split()),
        line.place_of_service,
        line.units,
        safe_cell(line.provider_row.name),
        line.rendering_npi,
        signed.isoformat(timespec="seconds").replace("+00:00", "Z"),
    ]


def write_csv(
    lines, handle, progress: Callable[[int], None] | None = None, every: int = 500
) -> int:
    """Write the header and one row per line to ``handle``; returns the row count."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for line in lines.iterator():
        writer.writerow(row_of(line))
        count += 1
        if progress is not None and count % every == 0:
            progress(count)
    return count


def record_export(
    count: int, *, by: User | None, start, end, provider: User | None, via: str
) -> None:
    with write_transaction():
        audit.record_export(
            "charges_exported", by=by, scope=provider, start=start, end=end, rows=count, via=via
        )


def export_charges(
    start: datetime.date | None,
    end: datetime.date | None,
    provider: User | None = None,
    *,
    by: User,
) -> tuple[bytes, str]:
    """The admin page's download: (CSV bytes, file name), audited."""
    check_range(start, end)
    out = io.StringIO()
    count = write_csv(charge_lines(start, end, provider), out)
    record_export(count, by=by, start=start, end=end, provider=provider, via="page")
    suffix = f"-provider-{provider.id}" if provider else ""
    return out.getvalue().encode("utf-8"), f"charges-{start}-to-{end}{suffix}.csv"
