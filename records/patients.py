"""Patient files: finding who is calling from their phone number."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from records.models import Patient, PatientPhone


def to_e164(raw: str, region: str = "CN") -> str | None:
    """A number as Chinese callers and carriers write it (+86, 0086, 0-prefixed
    landlines, spaces and dashes) in E.164, or None if it is not a valid number."""
    if not raw or len(raw) > 40:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask(number: str | None) -> str:
    """What logs may show of a phone number: enough to tell calls apart, not to dial."""
    if not number:
        return "-"
    if len(number) <= 6:
        return "*" * len(number)
    return f"{number[:3]}****{number[-2:]}"


@dataclass(frozen=True)
class CallerMatch:
    """Who a phone number may belong to.  Only an exact single match names a patient;
    a family number (several files) names none."""

    e164: str | None
    patient_ids: tuple[int, ...]

    @property
    def patient_id(self) -> int | None:
        return self.patient_ids[0] if len(self.patient_ids) == 1 else None


def match_caller(session: Session, raw_number: str, region: str = "CN") -> CallerMatch:
    e164 = to_e164(raw_number, region)
    if e164 is None:
        return CallerMatch(None, ())
    ids = session.scalars(
        select(PatientPhone.patient_id).where(PatientPhone.e164 == e164).order_by(PatientPhone.patient_id)
    ).all()
    return CallerMatch(e164, tuple(dict.fromkeys(ids)))


def get_patient(session: Session, patient_id: int) -> Patient | None:
    return session.get(Patient, patient_id)


def by_record_number(session: Session, digits: str, prefix: str = "") -> Patient | None:
    """The patient whose medical record number is these digits (with the hospital's
    letter prefix, if it uses one)."""
    if not digits.isdigit():
        return None
    return session.scalar(select(Patient).where(Patient.mrn.in_([digits, prefix + digits])))


def patients(session: Session, ids: list[int]) -> list[Patient]:
    return list(session.scalars(select(Patient).where(Patient.id.in_(ids)).order_by(Patient.id))) if ids else []
