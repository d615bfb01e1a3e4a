"""What the hotline texts a patient, one copy of each helper: the texts about an
appointment (confirmation, cancellation, moved, reminder, the answers to a reply; worded in
wording/prompts.py, SMS), and after care's results-ready notices (that results are ready
and how to get them, never the results) and the answer to an opt-out reply."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

import phonenumbers
from sqlalchemy.orm import Session

from records import messages, waitlist
from records.models import Appointment, Patient, SmsMessage, WaitlistEntry, localized
from settings import LANGUAGES, Settings
from wording import speaking
from wording.prompts import AFTERCARE_SMS, SMS, TITLES, fill, t


def addressee(patient: Patient, lang: str) -> str:
    """'王女士' / 'Ms Wang': title and surname, never the full name."""
    return t("mr" if patient.sex == "M" else "ms", lang, family=localized(patient, "family_name", lang))


def language(patient: Patient | None, settings: Settings) -> str:
    preferred = patient.preferred_language if patient is not None else None
    return preferred if preferred in LANGUAGES else settings.hospital.default_language


# ---- appointments ---------------------------------------------------------------------------------


def appointment_text(settings: Settings, appointment: Appointment, kind: str, lang: str) -> str:
    """The text about one appointment: kind is confirmation | cancellation | moved | reminder."""
    exam = appointment.session.exam_type
    prep = SMS["preparation"][lang].format(text=localized(exam, "preparation", lang)) if exam else ""
    return say(kind, settings, appointment, lang, prep=prep)


def period(appointment: Appointment) -> str:
    """morning | afternoon | evening, from the session's start."""
    hour = appointment.session.start_time.hour
    return "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


def when(appointment: Appointment, lang: str) -> str:
    start = appointment.session.start_time
    return SMS["when"][lang].format(
        day=speaking.day(appointment.date, lang),
        period=t(period(appointment), lang),
        start=f"{start.hour}:{start.minute:02d}",
    )


def what(appointment: Appointment, lang: str) -> str:
    """The department and doctor, or the exam, and where."""
    session = appointment.session
    exam = session.exam_type
    if exam is not None:
        name, place = localized(exam, "name", lang), localized(exam, "location", lang)
        return f"{name}（{place}）" if lang == "zh" else f"{name}, {place}"
    doctor = session.doctor
    title = TITLES[doctor.title][lang]
    department = localized(doctor.department, "name", lang)
    if lang == "zh":
        return f"{department} {doctor.name_zh}{title}"
    return f"{department}, {title} {doctor.name_en}"


def say(key: str, settings: Settings, appointment: Appointment | None, lang: str, **values: object) -> str:
    hospital = settings.hospital.name(lang)
    if appointment is not None:
        values = {
            "name": addressee(appointment.patient, lang),
            "when": when(appointment, lang),
            "what": what(appointment, lang),
            "place": appointment.place,
            "reference": appointment.reference,
            **values,
        }
    return fill(SMS[key][lang], lang, hospital=hospital, phone=hospital_phone(settings), **values).strip()


def queue_appointment_sms(
    db: Session,
    settings: Settings,
    appointment: Appointment,
    kind: str,
    now: datetime,
    call_sid: str | None = None,
    lang: str | None = None,
) -> SmsMessage | None:
    """Store the text about an appointment for its patient's mobile (None if they have no
    mobile), in `lang`, the language of the call it is sent during (`call_sid`), or else the
    patient's.  No commit; then queueing.enqueue_sms."""
    number = messages.mobile_number(appointment.patient, settings.hospital.phone_region)
    if number is None:
        return None
    return messages.queue_sms(
        db,
        to_number=number,
        body=appointment_text(
            settings, appointment, kind, lang if lang in LANGUAGES else language(appointment.patient, settings)
        ),
        kind=kind,
        now=now,
        patient_id=appointment.patient_id,
        appointment_id=appointment.id,
        call_sid=call_sid,
    )


# ---- waiting lists (records.waitlist) ------------------------------------------------------


def text_offers(db: Session, settings: Settings, entries, now: datetime) -> list[int]:
    """Queue the text of each waitlist offer to the patient's mobile, in their language, and
    note where it went (a reply from that number answers it), each offer claimed first by a
    conditional UPDATE (records.waitlist.claim_text), so an offer is texted once however many
    workers text offers at once.  No commit; then hand the ids to queueing.enqueue_sms."""
    ids = []
    for entry in entries:
        number = messages.mobile_number(entry.patient, settings.hospital.phone_region)
        if number is None:  # joined with a mobile since removed: the sweep lets the offer expire
            continue
        if not waitlist.claim_text(db, entry, number):  # texted by another worker meanwhile
            continue
        lang = language(entry.patient, settings)
        until = entry.offer_expires_at.astimezone(settings.hospital.zone)
        body = say("waitlist_offer", settings, _Offer(entry), lang, until=f"{until.hour}:{until.minute:02d}")  # type: ignore[arg-type]
        message = messages.queue_sms(
            db, to_number=number, body=body, kind="waitlist_offer", now=now, patient_id=entry.patient_id
        )
        ids.append(message.id)
    return ids


class _Offer:
    """A waitlist entry as the appointment texts read one (its patient, session and day)."""

    def __init__(self, entry: WaitlistEntry):
        self.patient, self.session, self.date = entry.patient, entry.session, entry.session.date
        self.place, self.reference = "", ""


# ---- after care ----------------------------------------------------------------------------


def results_ready(settings: Settings, patient: Patient) -> str:
    lang = language(patient, settings)
    how = settings.aftercare.results.how_to_collect(lang)
    return _format("results_ready", settings, lang, name=addressee(patient, lang), how=how)


def satisfaction(settings: Settings, patient: Patient, *, department: str, month: str, link: str, until: date) -> str:
    """The satisfaction programme's question: the visit's month and department, never its reason."""
    lang = language(patient, settings)
    month_name = f"{int(month[5:])}月" if lang == "zh" else f"{month}"
    last_day = f"{until.month}月{until.day}日" if lang == "zh" else f"{until:%d %B}"
    return _format(
        "satisfaction",
        settings,
        lang,
        name=addressee(patient, lang),
        department=department,
        month=month_name,
        link=link,
        until=last_day,
    )


def opted_out(settings: Settings, lang: str) -> str:
    return _format("opted_out", settings, lang)


def is_opt_out(body: str, settings: Settings) -> bool:
    """'TD', 'td', 'ＴＤ', ' 退订 ', 'Stop.': the whole text is one of the opt-out words."""
    text = unicodedata.normalize("NFKC", body or "").strip().strip(".。!！").strip().upper()
    return text in {word.upper() for word in settings.aftercare.opt_out_words}


def hospital_phone(settings: Settings) -> str:
    number = phonenumbers.parse(settings.hospital.main_number, settings.hospital.phone_region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _format(key: str, settings: Settings, lang: str, **values: str) -> str:
    return AFTERCARE_SMS[key][lang].format(
        hospital=settings.hospital.name(lang), phone=hospital_phone(settings), **values
    )
