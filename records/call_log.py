"""The supervisors' reading of call records: the call log (filters, keyset pages,
every row for a CSV), one call's detail, the entries behind the reports and the
wallboard, and the access audit.

The log is paged by keyset, newest first on (started_at, id), which the index
ix_call_records_started_at_id serves: page 10,000 costs what page 1 costs, where
OFFSET would read and throw away every row before it.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, make_dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload

from contactcentre import metrics
from records.models import (
    AuditEntry,
    CallRecord,
    CaseCall,
    ComplaintCase,
    Patient,
    QueueEntry,
    ResultReady,
    SmsMessage,
    Staff,
)
from records.patients import to_e164

OUTCOMES = (
    "self_service",
    "greeting_hangup",
    "answered",
    "abandoned",
    "voicemail",
    "callback",
    "timeout",
    "queued",
    "transferred",
    "error",
    "limited",
)


@dataclass(frozen=True)
class Filters:
    start: date | None = None  # hospital days, both included
    end: date | None = None
    phone: str = ""
    patient: str = ""  # record number, or the start of a name
    queue: str = ""
    agent_id: int | None = None
    disposition: str = ""
    outcome: str = ""

    @property
    def names_someone(self) -> bool:
        """A patient or a phone number: either lists someone's calls, with their record
        number, so either needs a reason and is audited."""
        return bool(self.patient.strip() or self.phone.strip())


@dataclass(frozen=True)
class Cursor:
    started_at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.started_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None) -> Cursor | None:
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            at, _, id_ = raw.partition("|")
            started = datetime.fromisoformat(at)
            return cls(started, int(id_)) if started.tzinfo else None
        except (ValueError, UnicodeDecodeError):
            return None  # a mangled link starts again at the newest call


@dataclass
class LogRow:
    call: CallRecord
    entries: list[QueueEntry] = field(default_factory=list)
    texts: int = 0  # text messages queued during the call

    @property
    def queues(self) -> list[str]:
        return list(dict.fromkeys(entry.queue for entry in self.entries))

    @property
    def agent_ids(self) -> list[int]:
        return list(dict.fromkeys(entry.agent_id for entry in self.entries if entry.agent_id is not None))

    @property
    def dispositions(self) -> list[str]:
        return list(dict.fromkeys(entry.disposition for entry in self.entries if entry.disposition))


@dataclass
class Page:
    rows: list[LogRow]
    next: Cursor | None


def _filtered(filters: Filters, zone: ZoneInfo, region: str) -> Select:
    query = select(CallRecord)
    if filters.start:
        query = query.where(CallRecord.started_at >= datetime.combine(filters.start, time(), zone))
    if filters.end:
        query = query.where(CallRecord.started_at < datetime.combine(filters.end + timedelta(days=1), time(), zone))
    if filters.phone.strip():
        number = to_e164(filters.phone, region) or filters.phone.strip()
        query = query.where(CallRecord.from_number == number)
    if filters.patient.strip():
        wanted = filters.patient.strip()
        patients = select(Patient.id).where(
            or_(
                Patient.mrn == wanted.upper(),
                # autoescape: '%' and '_' are letters of the name typed, not LIKE's wildcards
                Patient.name_zh.startswith(wanted, autoescape=True),
                Patient.name_en.startswith(wanted, autoescape=True),
            )
        )
        query = query.where(CallRecord.patient_id.in_(patients))
    if filters.outcome:
        query = query.where(CallRecord.outcome == filters.outcome)
    entry = []
    if filters.queue:
        entry.append(QueueEntry.queue == filters.queue)
    if filters.agent_id is not None:
        entry.append(QueueEntry.agent_id == filters.agent_id)
    if filters.disposition:
        entry.append(QueueEntry.disposition == filters.disposition)
    if entry:
        query = query.where(exists().where(QueueEntry.call_id == CallRecord.id, *entry))
    return query


def search(
    session: Session, filters: Filters, *, after: Cursor | None, limit: int, zone: ZoneInfo, region: str = "CN"
) -> Page:
    """One page of calls matching the filters, newest first, after the cursor."""
    query = _filtered(filters, zone, region).options(selectinload(CallRecord.patient))
    if after is not None:
        query = query.where(tuple_(CallRecord.started_at, CallRecord.id) < tuple_(after.started_at, after.id))
    query = query.order_by(CallRecord.started_at.desc(), CallRecord.id.desc()).limit(limit + 1)
    calls = list(session.scalars(query))
    more = len(calls) > limit
    calls = calls[:limit]
    by_call: dict[int, list[QueueEntry]] = defaultdict(list)
    if calls:
        for entry in session.scalars(
            select(QueueEntry).where(QueueEntry.call_id.in_([c.id for c in calls])).order_by(QueueEntry.position)
        ):
            by_call[entry.call_id].append(entry)
    texts = texts_counts(session, [call.call_sid for call in calls])
    rows = [LogRow(call, by_call[call.id], texts.get(call.call_sid, 0)) for call in calls]
    last = calls[-1] if calls else None
    return Page(rows, Cursor(last.started_at, last.id) if more and last else None)


def every_row(
    session: Session, filters: Filters, *, zone: ZoneInfo, region: str = "CN", batch: int = 500
) -> Iterator[LogRow]:
    """Every matching call, a keyset page at a time (for the streamed CSV)."""
    cursor = None
    while True:
        page = search(session, filters, after=cursor, limit=batch, zone=zone, region=region)
        yield from page.rows
        if page.next is None:
            return
        cursor = page.next
        session.expunge_all()  # a million rows must not stay in the session


def call_detail(session: Session, call_sid: str) -> LogRow | None:
    call = session.scalar(
        select(CallRecord)
        .where(CallRecord.call_sid == call_sid)
        .options(selectinload(CallRecord.events), selectinload(CallRecord.patient))
    )
    if call is None:
        return None
    entries = session.scalars(select(QueueEntry).where(QueueEntry.call_id == call.id).order_by(QueueEntry.position))
    return LogRow(call, list(entries))


def staff_names(session: Session, ids: set[int] | list[int]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {
        row.id: row.display_name
        for row in session.execute(select(Staff.id, Staff.display_name).where(Staff.id.in_(ids)))
    }


def agents(session: Session) -> list[Staff]:
    return list(
        session.scalars(select(Staff).where(Staff.role.in_(("agent", "supervisor"))).order_by(Staff.display_name))
    )


# ---- the entries behind the reports and the wallboard ----------------------------------------------


def entries_between(session: Session, start: datetime, end: datetime, queue: str = "") -> list[QueueEntry]:
    """Entries that left the queue, or whose wrap-up ended, in [start, end): a report
    counts each part of a call in the period it happened in."""
    query = select(QueueEntry).where(
        or_(
            (QueueEntry.left_at >= start) & (QueueEntry.left_at < end),
            (QueueEntry.wrap_up_end_at >= start) & (QueueEntry.wrap_up_end_at < end),
        )
    )
    if queue:
        query = query.where(QueueEntry.queue == queue)
    return list(session.scalars(query))


def clip(entries: list[QueueEntry], start: datetime, end: datetime) -> list:
    """Copies of the entries without the parts outside [start, end), so an entry that
    left the queue before the report's period counts only its wrap-up, and vice versa."""
    clipped = []
    for entry in entries:
        left_inside = entry.left_at is not None and start <= entry.left_at < end
        wrap_inside = entry.wrap_up_end_at is not None and start <= entry.wrap_up_end_at < end
        clipped.append(
            replace(
                _plain(entry),
                left_at=entry.left_at if left_inside else None,
                result=entry.result if left_inside else "outside",
                wrap_up_end_at=entry.wrap_up_end_at if wrap_inside else None,
            )
        )
    return clipped


# The rules' older names for the cases of one kind (config console.case_types).
CASE_SOURCES = {"complaints": "complaint", "consultations": "consultation"}


def rule_items(
    session: Session, source: str, start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime | None]] | None:
    """What a hospital service rule times, begun in [start, end): (reference, begun, done or
    None); None for a source this installation keeps no record of."""
    kind = CASE_SOURCES.get(source) or (source.removeprefix("cases:") if source.startswith("cases:") else None)
    if kind is not None:  # a case of that kind: opened -> answered (records/complaints.py)
        cases = select(ComplaintCase.id, ComplaintCase.opened_at, ComplaintCase.answered_at).where(
            ComplaintCase.kind == kind, ComplaintCase.opened_at >= start, ComplaintCase.opened_at < end
        )
        return [(f"#{row[0]}", row[1], row[2]) for row in session.execute(cases.order_by(ComplaintCase.opened_at))]
    if source == "results_notices":  # results ready -> the patient notified (aftercare)
        notices = select(ResultReady.id, ResultReady.ready_at, ResultReady.notified_at).where(
            ResultReady.ready_at >= start, ResultReady.ready_at < end
        )
        return [(f"R{row[0]}", row[1], row[2]) for row in session.execute(notices.order_by(ResultReady.ready_at))]
    if source == "callbacks":  # callback requested -> an agent reached the patient
        callbacks = (
            select(CallRecord.call_sid, QueueEntry.left_at, QueueEntry.answered_at)
            .join(CallRecord, CallRecord.id == QueueEntry.call_id)
            .where(QueueEntry.result == "callback", QueueEntry.left_at >= start, QueueEntry.left_at < end)
        )
        rows = session.execute(callbacks.order_by(QueueEntry.left_at))
        # left_at is never NULL here (the query compares it): `if` tells mypy
        return [(sid, left_at, answered_at) for sid, left_at, answered_at in rows if left_at is not None]
    return None


@dataclass(frozen=True)
class Recording:
    """A recorded talk with an agent (routing.record_calls), as the carrier reported it."""

    sid: str
    url: str
    seconds: int | None
    agent_id: int | None
    queue: str
    at: datetime


def recordings(call: CallRecord) -> list[Recording]:
    """The call's recorded talks, oldest first, from its 'recording' events."""
    found = [
        Recording(
            sid=str(event.detail.get("recording_sid", "")),
            url=str(event.detail.get("recording_url", "")),
            seconds=event.detail.get("duration"),
            agent_id=event.detail.get("agent_id"),
            queue=str(event.detail.get("queue", "")),
            at=event.at,
        )
        for event in call.events
        if event.kind == "recording"
    ]
    # The carrier may post the same recording's callback more than once.
    unique = {r.sid: r for r in sorted(found, key=lambda r: r.at, reverse=True) if r.sid and r.url}
    return sorted(unique.values(), key=lambda r: r.at)


def complaint_cases(session: Session, call_sid: str) -> list[ComplaintCase]:
    """The complaint cases opened from this call or linked to it."""
    linked = select(CaseCall.case_id).where(CaseCall.call_sid == call_sid)
    query = select(ComplaintCase).where(or_(ComplaintCase.call_sid == call_sid, ComplaintCase.id.in_(linked)))
    return list(session.scalars(query.order_by(ComplaintCase.id)))


def texts_sent(session: Session, call_sid: str) -> list[SmsMessage]:
    """The text messages queued during this call (a booking's confirmation...), oldest first."""
    query = select(SmsMessage).where(SmsMessage.call_sid == call_sid)
    return list(session.scalars(query.order_by(SmsMessage.created_at, SmsMessage.id)))


def texts_counts(session: Session, call_sids: list[str]) -> dict[str, int]:
    """How many texts each call caused (calls without any are left out)."""
    if not call_sids:
        return {}
    query = (
        select(SmsMessage.call_sid, func.count())
        .where(SmsMessage.call_sid.in_(call_sids))
        .group_by(SmsMessage.call_sid)
    )
    return {sid: count for sid, count in session.execute(query) if sid is not None}


def waiting_entries(session: Session) -> list[QueueEntry]:
    """Callers the records say are still queued (the ACD's own view is live; this lags by a job)."""
    return list(session.scalars(select(QueueEntry).where(QueueEntry.result == "waiting")))


# A detached copy of what the figures read of an entry, made from metrics.EntryLike
# so the list of fields is written once.
_Plain = make_dataclass("_Plain", list(get_type_hints(metrics.EntryLike).items()), frozen=True)


def _plain(entry: QueueEntry) -> Any:
    """A _Plain: a metrics.EntryLike, and a dataclass (for replace), which mypy cannot see
    in a class made at run time."""
    return _Plain(**{attribute.name: getattr(entry, attribute.name) for attribute in fields(_Plain)})


# ---- the access audit -----------------------------------------------------------------------------------


def audit_trail(
    session: Session,
    *,
    staff_id: int | None = None,
    action: str = "",
    patient: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
) -> list[tuple[AuditEntry, str, Patient | None]]:
    """Who looked at which file or recording, when and why, newest first."""
    query = (
        select(AuditEntry, func.coalesce(Staff.display_name, "系统 the hotline"), Patient)
        .outerjoin(Staff, Staff.id == AuditEntry.staff_id)
        .outerjoin(Patient, Patient.id == AuditEntry.patient_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    if staff_id is not None:
        query = query.where(AuditEntry.staff_id == staff_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if patient.strip():
        wanted = patient.strip()
        query = query.where(or_(Patient.mrn == wanted.upper(), Patient.name_zh.startswith(wanted, autoescape=True)))
    if start is not None:
        query = query.where(AuditEntry.at >= start)
    if end is not None:
        query = query.where(AuditEntry.at < end)
    return [(entry, who, file) for entry, who, file in session.execute(query)]
