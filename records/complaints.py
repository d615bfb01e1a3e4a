"""Complaint cases: opened from a call (or by hand), owned by whoever took the complaint
until it is closed, answered within the deadline, handed over only explicitly.

Rules, from the hospital's plan ("the first person who takes a complaint is responsible
for it until it is closed, answer within 3 days"):

- the agent who opens a case owns it; ownership changes only by `hand_over`, done by the
  owner or a supervisor, with a reason, and recorded as a `CaseHandover`;
- the deadline is `opened_at + deadline_days` (config: console.complaint_deadline_days);
  a case that is neither answered nor closed by then is overdue, and the overdue sweep
  escalates it to the supervisors once (`escalate_overdue`);
- the owner or a supervisor may work on a case (notes, linked calls, status); others may
  not even read it (`can_read`);
- a case is answered by writing the answer given to the patient; it cannot be closed
  without one;
- a case shows the patient's name and record number, so opening one is a look at their
  file: it needs a reason and writes an audit row (`open_case_for_record`), and a refusal
  never says whether a record number exists.

Consultations and errands (issue 20) are cases too, of another `kind` (config
console.case_types), each with its own deadline (consultation 24 h, complex consultation
48 h...), owned and handed over by the same rules.  An errand ("mail the report") also keeps
the address, its progress (ERRAND_STATUSES) and the carrier's tracking number.

Functions take a session and never commit (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from records.audit import record_access
from records.db import changed
from records.models import CallRecord, CaseCall, CaseHandover, CaseNote, ComplaintCase, Patient, Staff
from records.patients import by_record_number

STATUSES = ("open", "waiting_on_department", "answered", "closed")
ERRAND_STATUSES = ("to_do", "sent", "delivered", "returned")
ADDRESS_MAX = 300
ACTIVE = ("open", "waiting_on_department")  # the deadline's clock still runs
SUMMARY_MAX = 2000
NOTE_MAX = 4000
REASON_MAX = 500
# One answer for a record number nobody has and for one this case cannot be for (the call
# is another patient's): the difference would tell an agent which record numbers exist.
NO_FILE = "找不到该病历号，或不能为其建立投诉 (no file with that record number that you may open a case for)"


class CaseError(ValueError):
    """The change is not possible; the message says why, in words for the agent."""


class NotAllowed(CaseError):
    """This person may not do this to this case."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a Staff id and whether they supervise (supervisors and admins)."""

    staff_id: int
    supervisor: bool = False


def can_read(case: ComplaintCase, actor: Actor) -> bool:
    return actor.supervisor or case.owner_id == actor.staff_id


def _require(case: ComplaintCase, actor: Actor) -> None:
    if not can_read(case, actor):
        raise NotAllowed("只有负责人或主管可以处理此投诉 (only the case owner or a supervisor may do this)")


def _text(value: str | None, what: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise CaseError(f"请填写{what} ({what} is required)")
    if len(text) > limit:
        raise CaseError(f"{what}过长，最多 {limit} 字 ({what} is too long: at most {limit} characters)")
    return text


def is_overdue(case: ComplaintCase, now: datetime) -> bool:
    return case.status in ACTIVE and case.deadline_at <= now


def open_case(
    session: Session,
    *,
    patient_id: int,
    actor: Actor,
    summary: str,
    now: datetime,
    deadline_days: int,
    call_sid: str | None = None,
    kind: str = "complaint",
    deadline: timedelta | None = None,
    errand: bool = False,
    address: str | None = None,
) -> ComplaintCase:
    """A new case owned by the actor; from a call when `call_sid` is given (it is linked too).
    `deadline` (the kind's, from config) replaces `deadline_days`; an errand needs an address."""
    if session.get(Patient, patient_id) is None:
        raise CaseError("找不到该患者档案 (no such patient file)")
    if errand:
        address = _text(address, "地址", ADDRESS_MAX)
    case = ComplaintCase(
        kind=kind,
        address=address if errand else None,
        errand_status="to_do" if errand else None,
        patient_id=patient_id,
        owner_id=actor.staff_id,
        opened_by_id=actor.staff_id,
        source="call" if call_sid else "manual",
        call_sid=call_sid,
        summary=_text(summary, "投诉内容", SUMMARY_MAX),
        status="open",
        opened_at=now,
        deadline_at=now + (deadline if deadline is not None else timedelta(days=deadline_days)),
    )
    session.add(case)
    session.flush()
    if call_sid:
        link_call(session, case, call_sid=call_sid, actor=actor, now=now)
    return case


def open_case_for_record(
    session: Session,
    *,
    record_number: str,  # the digits typed, without the hospital's letter prefix
    record_number_prefix: str,
    actor: Actor,
    summary: str,
    reason: str,
    now: datetime,
    deadline_days: int,
    min_reason: int,
    call_sid: str | None = None,
    kind: str = "complaint",
    deadline: timedelta | None = None,
    errand: bool = False,
    address: str | None = None,
) -> ComplaintCase | None:
    """A case for the patient with this record number, as `open_case`, with an audit row
    ('open_case', the reason, the record number typed).

    The summary and the reason are checked first (CaseError), before anything is looked
    up.  Then a record number nobody has, and one whose patient is not the caller of
    `call_sid`, both give None (the view says NO_FILE), audited too: a run of tries shows
    in the audit log, and no answer tells which record numbers exist."""
    summary = _text(summary, "投诉内容" if kind == "complaint" else "内容", SUMMARY_MAX)
    if errand:
        _text(address, "地址", ADDRESS_MAX)
    reason = " ".join((reason or "").split())
    if len(reason) < min_reason:
        raise CaseError(
            f"请填写为该患者建立投诉的原因（至少 {min_reason} 个字） "
            f"(say why you open a case for this patient, at least {min_reason} characters)"
        )
    patient = by_record_number(session, record_number[:20], record_number_prefix)
    if patient is not None and call_sid and not _call_may_be_about(session, call_sid, patient.id):
        patient = None
    record_access(
        session,
        staff_id=actor.staff_id,
        action="open_case",
        reason=f"{reason[:REASON_MAX]} [record number {record_number[:24]}: {'opened' if patient else 'refused'}]",
        patient_id=patient.id if patient else None,
        call_sid=(call_sid or "")[:64] or None,
        at=now,
    )
    if patient is None:
        return None
    return open_case(
        session, patient_id=patient.id, actor=actor, summary=summary, now=now, deadline_days=deadline_days,
        call_sid=call_sid, kind=kind, deadline=deadline, errand=errand, address=address,
    )  # fmt: skip


def _call_may_be_about(session: Session, call_sid: str, patient_id: int) -> bool:
    """A call with no file (an unknown or a family's number), or this patient's."""
    call = session.scalar(select(CallRecord).where(CallRecord.call_sid == call_sid.strip()))
    return call is None or call.patient_id in (None, patient_id)


def get_case(session: Session, case_id: int, actor: Actor) -> ComplaintCase:
    """The case with its notes, calls and handovers, if the actor may see it."""
    case = session.scalar(
        select(ComplaintCase)
        .where(ComplaintCase.id == case_id)
        .options(
            selectinload(ComplaintCase.notes),
            selectinload(ComplaintCase.calls),
            selectinload(ComplaintCase.handovers),
            selectinload(ComplaintCase.patient),
        )
    )
    if case is None:
        raise LookupError(f"no complaint case {case_id}")
    _require(case, actor)
    return case


def add_note(
    session: Session, case: ComplaintCase, *, actor: Actor, text: str, now: datetime, kind: str = "note"
) -> CaseNote:
    _require(case, actor)
    if case.status == "closed":
        raise CaseError("投诉已结案，不能再添加记录 (the case is closed)")
    if kind not in ("note", "answer"):
        raise CaseError(f"unknown note kind {kind!r}")
    note = CaseNote(case=case, at=now, staff_id=actor.staff_id, kind=kind, text=_text(text, "记录", NOTE_MAX))
    session.add(note)
    return note


def link_call(session: Session, case: ComplaintCase, *, call_sid: str, actor: Actor, now: datetime) -> CaseCall:
    """Link a call to the case (idempotent: a call is linked once)."""
    _require(case, actor)
    call_sid = (call_sid or "").strip()
    if not call_sid:
        raise CaseError("请填写通话编号 (the call's id is required)")
    existing = session.scalar(select(CaseCall).where(CaseCall.case_id == case.id, CaseCall.call_sid == call_sid))
    if existing is not None:
        return existing
    call = session.scalar(select(CallRecord).where(CallRecord.call_sid == call_sid))
    if call is not None and call.patient_id not in (None, case.patient_id):
        raise CaseError("该通话属于另一位患者 (that call belongs to another patient's file)")
    link = CaseCall(case=case, call_sid=call_sid[:64], linked_at=now, linked_by_id=actor.staff_id)
    session.add(link)
    return link


def change_status(
    session: Session,
    case: ComplaintCase,
    *,
    actor: Actor,
    status: str,
    now: datetime,
    answer: str | None = None,
) -> ComplaintCase:
    """Move the case on.  'answered' needs the answer given to the patient (now, or
    written before); 'closed' needs an answer on the case.  Each change is a note."""
    _require(case, actor)
    if status not in STATUSES:
        raise CaseError(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
    if status == case.status:
        return case
    if case.status == "closed":
        raise CaseError("投诉已结案 (the case is closed)")
    if answer and answer.strip():
        add_note(session, case, actor=actor, text=answer, now=now, kind="answer")
    if status in ("answered", "closed") and not _has_answer(session, case):
        raise CaseError("结案前请先填写给患者的答复 (write the answer given to the patient first)")
    previous = case.status
    case.status = status
    if status in ("answered", "closed") and case.answered_at is None:
        case.answered_at = now
    if status == "closed":
        case.closed_at = now
    if status in ACTIVE:
        case.answered_at = None  # reopened: the clock runs again until it is answered
    session.add(CaseNote(case=case, at=now, staff_id=actor.staff_id, kind="status", text=f"{previous} → {status}"))
    return case


def _has_answer(session: Session, case: ComplaintCase) -> bool:
    session.flush()
    return bool(
        session.scalar(select(func.count(CaseNote.id)).where(CaseNote.case_id == case.id, CaseNote.kind == "answer"))
    )


def hand_over(
    session: Session, case: ComplaintCase, *, actor: Actor, to_staff_id: int, reason: str, now: datetime
) -> CaseHandover:
    """Give the case to someone else; only its owner or a supervisor may, with a reason."""
    _require(case, actor)
    if case.status == "closed":
        raise CaseError("投诉已结案，无需转交 (the case is closed)")
    if to_staff_id == case.owner_id:
        raise CaseError("此人已是负责人 (they already own the case)")
    taker = session.get(Staff, to_staff_id)
    if taker is None or not taker.active or taker.role not in ("agent", "supervisor"):
        raise CaseError("只能转交给在职的坐席或主管 (hand it to an active agent or supervisor)")
    handover = CaseHandover(
        case=case,
        at=now,
        from_staff_id=case.owner_id,
        to_staff_id=to_staff_id,
        by_staff_id=actor.staff_id,
        reason=_text(reason, "转交原因", NOTE_MAX),
    )
    session.add(handover)
    case.owner_id = to_staff_id
    return handover


def update_errand(
    session: Session,
    case: ComplaintCase,
    *,
    actor: Actor,
    status: str,
    now: datetime,
    tracking_number: str | None = None,
) -> ComplaintCase:
    """How far an errand got (sent with a tracking number, delivered, returned), as a note."""
    _require(case, actor)
    if case.errand_status is None:
        raise CaseError("这不是代办事项 (this case is not an errand)")
    if case.status == "closed":
        raise CaseError("已结案 (the case is closed)")
    if status not in ERRAND_STATUSES:
        raise CaseError(f"unknown errand status {status!r} (expected one of {', '.join(ERRAND_STATUSES)})")
    tracking = " ".join((tracking_number or "").split())[:64] or None
    if status == "sent" and not (tracking or case.tracking_number):
        raise CaseError("寄出时请填写快递单号 (give the tracking number when it is sent)")
    previous = case.errand_status
    case.errand_status = status
    if tracking:
        case.tracking_number = tracking
    text = f"{previous} → {status}" + (f" ({tracking})" if tracking else "")
    session.add(CaseNote(case=case, at=now, staff_id=actor.staff_id, kind="errand", text=text))
    return case


def _listing():
    return select(ComplaintCase).options(selectinload(ComplaintCase.patient))


def my_cases(session: Session, staff_id: int, *, include_closed: bool = False) -> Sequence[ComplaintCase]:
    """The cases someone owns, the nearest deadline first."""
    query = _listing().where(ComplaintCase.owner_id == staff_id)
    if not include_closed:
        query = query.where(ComplaintCase.status != "closed")
    return session.scalars(query.order_by(ComplaintCase.deadline_at, ComplaintCase.id)).all()


def open_cases(session: Session) -> Sequence[ComplaintCase]:
    """Every case not closed (the supervisors' list), the nearest deadline first."""
    query = _listing().where(ComplaintCase.status != "closed")
    return session.scalars(query.order_by(ComplaintCase.deadline_at, ComplaintCase.id)).all()


def overdue_cases(session: Session, now: datetime) -> Sequence[ComplaintCase]:
    query = _listing().where(ComplaintCase.status.in_(ACTIVE), ComplaintCase.deadline_at <= now)
    return session.scalars(query.order_by(ComplaintCase.deadline_at, ComplaintCase.id)).all()


def patient_open_cases(session: Session, patient_id: int) -> Sequence[ComplaintCase]:
    query = select(ComplaintCase).where(ComplaintCase.patient_id == patient_id, ComplaintCase.status != "closed")
    return session.scalars(query.order_by(ComplaintCase.deadline_at)).all()


def escalate_overdue(session: Session, now: datetime) -> list[int]:
    """Flag every overdue case not flagged yet, with a note; the ids flagged now.

    The conditional UPDATE (escalated_at IS NULL) makes it safe to run twice, or in two
    workers at once: each case is escalated, and noted, exactly once."""
    due = session.scalars(
        select(ComplaintCase.id).where(
            ComplaintCase.status.in_(ACTIVE),
            ComplaintCase.deadline_at <= now,
            ComplaintCase.escalated_at.is_(None),
        )
    ).all()
    flagged = []
    for case_id in due:
        escalated = changed(
            session,
            update(ComplaintCase)
            .where(ComplaintCase.id == case_id, ComplaintCase.escalated_at.is_(None))
            .values(escalated_at=now),
        )
        if escalated == 1:
            flagged.append(case_id)
            session.add(
                CaseNote(
                    case_id=case_id,
                    at=now,
                    staff_id=None,
                    kind="escalation",
                    text="已超过答复期限，已上报主管 (deadline passed unanswered: escalated to the supervisors)",
                )
            )
    return flagged
