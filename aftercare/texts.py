"""What after care says by text: results-ready notices (that results are ready and
how to get them, never the results) and the answer to an opt-out reply."""

from __future__ import annotations

import unicodedata

import phonenumbers

from ivr.prompts import AFTERCARE_SMS, t
from records import aftercare
from records.models import Patient, localized
from settings import LANGUAGES, Settings


def addressee(patient: Patient, lang: str) -> str:
    """'王女士' / 'Ms Wang': title and surname, never the full name."""
    return t("mr" if patient.sex == "M" else "ms", lang, family=localized(patient, "family_name", lang))


def language(patient: Patient | None, settings: Settings) -> str:
    preferred = patient.preferred_language if patient is not None else None
    return preferred if preferred in LANGUAGES else settings.hospital.default_language


def results_ready(settings: Settings, patient: Patient) -> str:
    lang = language(patient, settings)
    how = settings.aftercare.results.how_to_collect(lang)
    return _format("results_ready", settings, lang, name=addressee(patient, lang), how=how)


def opted_out(settings: Settings, lang: str) -> str:
    return _format("opted_out", settings, lang)


def is_opt_out(body: str, settings: Settings) -> bool:
    """'TD', 'td', 'ＴＤ', ' 退订 ', 'Stop.': the whole text is one of the opt-out words."""
    text = unicodedata.normalize("NFKC", body or "").strip().strip(".。!！").strip().upper()
    return text in {word.upper() for word in settings.aftercare.opt_out_words}


def hospital_phone(settings: Settings) -> str:
    number = phonenumbers.parse(settings.hospital.main_number, settings.hospital.phone_region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def opt_out_by_text(db, settings: Settings, number: str, now) -> str:
    """A reply of 'TD' (退订, STOP): every patient file with this number opts out; the answer to text back."""
    patient_ids = aftercare.patients_on_number(db, number)
    for patient_id in patient_ids:
        aftercare.opt_out(db, patient_id, channel="sms", now=now, note="replied to a text")
    lang = settings.hospital.default_language
    if len(patient_ids) == 1:
        lang = language(aftercare.patient(db, patient_ids[0]), settings)
    return opted_out(settings, lang)


def _format(key: str, settings: Settings, lang: str, **values: str) -> str:
    return AFTERCARE_SMS[key][lang].format(
        hospital=settings.hospital.name(lang), phone=hospital_phone(settings), **values
    )
