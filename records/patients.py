"""Patient files: finding who is calling from their phone number."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import phonenumbers
import redis
from sqlalchemy import Engine, bindparam, event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from records.models import Patient, PatientPhone

log = logging.getLogger(__name__)


def to_e164(raw: str, region: str = "CN") -> str | None:
    """A number as Chinese callers and carriers write it (+86, 0086, 0-prefixed
    landlines, spaces and dashes) in E.164, or None if it is not a valid number."""
    if not raw or len(raw) > 40:
        return None
    if (as_sent := _valid_as_sent(raw)) is not None:
        return as_sent
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# '+' and digits: what the carrier sends for a caller it knows (Twilio's From).
_E164_TEXT = re.compile(r"\+([1-9]\d{6,14})\Z")


def _valid_as_sent(raw: str) -> str | None:
    """`raw` itself when it is a valid number already written in E.164, else None (then the
    parser decides).  phonenumbers' parse costs an incoming call more than the rest of its
    number's handling (issue 17's CPU), and for these texts it only splits off the country
    code, which is the one prefix of 1-3 digits that is a country's (ITU's codes are
    prefix-free); validity is still phonenumbers'.  A national part starting with 0, or
    one not valid as written (the parser may strip a national prefix: '+1 1 212...'), goes
    to the parser (tests/test_identify.py checks both ways agree on every region's numbers)."""
    written = _E164_TEXT.match(raw)
    if written is None:
        return None
    digits = written.group(1)
    for length in (1, 2, 3):
        code = int(digits[:length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[length:]
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
            return raw if national[0] != "0" and phonenumbers.is_valid_number(number) else None
    return None


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
    return CallerMatch(e164, files_of(session, e164))


def files_of(session: Session, e164: str) -> tuple[int, ...]:
    """The patient files a number (E.164) belongs to, in file order."""
    ids = session.scalars(
        select(PatientPhone.patient_id).where(PatientPhone.e164 == e164).order_by(PatientPhone.patient_id)
    ).all()
    return tuple(dict.fromkeys(ids))


class Greeting(NamedTuple):
    """What a call's greeting reads of the caller's file (ivr.flows.main.greet: a title and the
    surname, never the full name; and the language to greet in)."""

    sex: str
    family_name_zh: str
    family_name_en: str
    preferred_language: str

    def language_only(self) -> Greeting:
        """The greeting of a hospital that does not greet callers by name: the language to
        answer in, and nothing more kept (minimum necessary)."""
        return self._replace(sex="", family_name_zh="", family_name_en="")


class Cached(NamedTuple):
    """What the caller cache holds for a number: its files, and the greeting of the one file
    it names (None when it names none or several, or the greeting is not kept yet)."""

    files: tuple[int, ...]
    greeting: Greeting | None = None


class CallerCache:
    """Which files each number belongs to (a CallerMatch's patient_ids) and, when it names
    one, that file's greeting, kept in Redis so that an incoming call reads them with the
    round trip that counts the call (ivr/webhooks.py) instead of querying the database.
    Forgotten in the commit that changes them (`when_callers_change`: a patient's numbers,
    or the title, surname or language of a file a number names; the import, an edit,
    through the ORM); `ttl_seconds` bounds what a change made around the ORM (raw SQL), or
    racing a lookup, could leave stale.  The greeting is the least the call says: the
    surname and sex, never the full name or anything medical, gone after ttl_seconds."""

    # What forgetting leaves in a number's place, for HOLD_SECONDS: a call that read the file
    # before the change committed, and keeps what it read after the change was forgotten,
    # must not put the old match or name back for ttl_seconds.  A keep only writes where
    # nothing is (SET NX), so it cannot write over the mark; the mark reads as nothing kept
    # (the file is read).  60 s is more than any webhook takes (Twilio gives up after 15 s).
    # "0" is no file's id: the release before, which knows no mark, reads it as one file
    # without its greeting and so reads the file afresh too (it read "!" as no file at all).
    CHANGED = "0"
    HOLD_SECONDS = 60

    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: int = 600):
        self.redis = client
        self.prefix = prefix
        self.ttl = ttl_seconds

    def key(self, e164: str) -> str:
        # 'caller:', not the 'caller-files:' of the files alone, which a process of the release
        # before would read as no file at all during a rolling upgrade (or a rollback).
        return f"{self.prefix}caller:{e164}"

    @staticmethod
    def decode(raw: str | bytes | None) -> Cached | None:
        """What is kept for a number; None when nothing is, or a change's mark ('' is kept:
        no file).  The files as '3,17', then the greeting (JSON) on a second line; a value
        kept before the greeting was (no second line), or one that does not read, has none."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        if text is None or text == CallerCache.CHANGED:
            return None
        files, _, greeting = text.partition("\n")
        ids = tuple(int(part) for part in files.split(",") if part.isdigit())
        if not greeting or len(ids) != 1:
            return Cached(ids)
        try:
            fields = json.loads(greeting)
        except ValueError:
            return Cached(ids)
        if not (isinstance(fields, list) and len(fields) == 4 and all(isinstance(f, str) for f in fields)):
            return Cached(ids)
        return Cached(ids, Greeting(*fields))

    def keep(self, pipe, e164: str, ids: tuple[int, ...], greeting: Greeting | None = None) -> None:
        """Add keeping them to a pipeline (sent with the webhook's own round trip), unless
        something is kept already: a value another call kept meanwhile, or the mark of a
        change made since they were read (`forget`)."""
        value = ",".join(map(str, ids))
        if greeting is not None:
            value += "\n" + json.dumps(list(greeting), ensure_ascii=False)
        pipe.set(self.key(e164), value, ex=self.ttl, nx=True)

    def forget(self, numbers: set[str]) -> None:
        if not numbers:
            return
        # An edit changes a number or two; an import, all of its patients' at once: sent
        # 10,000 at a time, so that one reply does not hold Redis (and every call) up.  Each
        # mark is some 100 bytes of Redis's memory for HOLD_SECONDS (100 MB for a first import
        # of a million numbers).
        ordered = sorted(numbers)
        try:
            for start in range(0, len(ordered), 10_000):
                pipe = self.redis.pipeline(transaction=False)
                for number in ordered[start : start + 10_000]:
                    pipe.set(self.key(number), self.CHANGED, ex=self.HOLD_SECONDS)
                pipe.execute()
        except redis.RedisError as exc:  # kept at most ttl_seconds more
            log.warning("%d changed numbers not forgotten by the caller cache: %s", len(numbers), exc)


def when_callers_change(sessions: sessionmaker, forget: Callable[[set[str]], None]) -> None:
    """Call `forget(numbers)` with the phone numbers whose files, or whose file's greeting,
    changed in a session made by `sessions`, once its transaction commits (not before: a
    call meanwhile would cache the old rows again)."""
    event.listen(sessions, "after_flush", _note_changed_numbers)

    # SQLAlchemy runs after_commit when a savepoint is released too (records.booking, the
    # waitlist and the calls use them): only the outermost commit makes a change visible.
    @event.listens_for(sessions, "after_commit")
    def _committed(session: Session) -> None:
        if not session.in_nested_transaction():
            forget(session.info.pop(CHANGED, set()))

    # A savepoint rolled back keeps what was noted before it (over-forgetting what it undid
    # is harmless); the outermost transaction's end, committed or not, clears the notes.
    @event.listens_for(sessions, "after_transaction_end")
    def _ended(session: Session, transaction) -> None:
        if transaction.parent is None:
            session.info.pop(CHANGED, None)


CHANGED = "changed_phone_numbers"


def _note_changed_numbers(session: Session, _context) -> None:
    """The numbers of the phone rows this flush added, changed (old and new) or deleted, and
    the numbers of the files whose greeting it changed (a deleted file's phones are deleted
    with it, by the ORM's cascade, so they are among the first)."""
    changed = session.info.setdefault(CHANGED, set())
    renamed = []
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, PatientPhone):
            history = inspect(row).attrs.e164.history
            changed.update(number for number in (row.e164, *history.deleted) if number)
        elif isinstance(row, Patient) and row.id is not None and _greeting_changed(row):
            renamed.append(row.id)
    if renamed:  # the session's connection: no autoflush, the rows as this flush left them
        found = session.connection().scalars(select(PatientPhone.e164).where(PatientPhone.patient_id.in_(renamed)))
        changed.update(found)


def _greeting_changed(patient: Patient) -> bool:
    attrs = inspect(patient).attrs
    return any(getattr(attrs, name).history.has_changes() for name in Greeting._fields)


def get_patient(session: Session, patient_id: int) -> Patient | None:
    return session.get(Patient, patient_id)


# What a call's greeting reads of the caller's file, when the caller cache does not hold it.
# Read as a row, without a Session, by a statement built once (the file's id a parameter):
# the ORM's object, identity map and events, and a statement built and keyed for the cache
# on every call, cost an incoming call from a known number more than the rest of its Python
# (issue 17's CPU); the same one SELECT.
GREETING = select(*(getattr(Patient, name) for name in Greeting._fields)).where(Patient.id == bindparam("patient_id"))


def greeting_of(engine: Engine, patient_id: int) -> Greeting | None:
    """The caller's file as the greeting reads it, or None if there is no such file."""
    with engine.connect() as connection:
        row = connection.execute(GREETING, {"patient_id": patient_id}).first()
    return Greeting(*row) if row is not None else None


def by_record_number(session: Session, digits: str, prefix: str = "") -> Patient | None:
    """The patient whose medical record number is these digits (with the hospital's
    letter prefix, if it uses one)."""
    if not digits.isdigit():
        return None
    return session.scalar(select(Patient).where(Patient.mrn.in_([digits, prefix + digits])))


def patients(session: Session, ids: list[int]) -> list[Patient]:
    return list(session.scalars(select(Patient).where(Patient.id.in_(ids)).order_by(Patient.id))) if ids else []
