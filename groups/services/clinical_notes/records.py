"""Diagnoses on enrollments and NPIs on provider accounts."""

from __future__ import annotations

from ... import audit
from ...clinical.codes import parse_icd10, parse_npi
from ...db import write_transaction
from ...models import Enrollment, User
from .. import ServiceError

# ---- Diagnoses and NPIs ----------------------------------------------------------------------


def set_diagnoses(enrollment: Enrollment, text: str, *, by: User) -> Enrollment:
    """Replace an enrollment's ICD-10-CM codes (space, comma or ; separated; "" clears)."""
    codes = " ".join(parse_icd10(text))
    if codes == enrollment.diagnosis_codes:
        return enrollment
    with write_transaction():
        enrollment.diagnosis_codes = codes
        enrollment.save()
        audit.record_change("diagnosis_changed", enrollment, by=by, count=len(codes.split()))
    return enrollment


def set_npi(user: User, text: str, *, by: User) -> User:
    """Set or clear (``""``) a provider's NPI after its check digit is verified."""
    if not user.is_provider:
        raise ServiceError("Only provider accounts carry an NPI.", "npi")
    npi = parse_npi(text)
    if npi == user.npi:
        return user
    with write_transaction():
        user.npi = npi
        user.save()
        audit.record("npi_changed", actor=by, target=user, cleared=npi is None)
    return user
