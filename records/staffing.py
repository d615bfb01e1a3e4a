"""Staffing's data: the call history the forecast reads, and the runs (inputs,
progress, results per interval, shifts) the jobs write and the supervisor page reads.

Call history, per queue, from the queue events the ACD records
(`enqueue {queue}` counts an offered call; `talk_end {talk, hold}` and
`wrap_up_end {wrap_up}` add up its handle time, in the interval it was
enqueued).  Until queues exist, the inbound calls that reached the hotline
count as offered to the first queue ('general'), with no handle time.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from contactcentre.forecast import Observed, intervals_per_day
from records.models import CallEvent, CallRecord, StaffingInterval, StaffingRun, StaffingShift

QUEUE_EVENTS = ("enqueue", "talk_end", "wrap_up_end")


def _bounds(since: date, until: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(since, time(), zone).astimezone(UTC),
        datetime.combine(until + timedelta(days=1), time(), zone).astimezone(UTC),
    )


def call_history(
    session: Session,
    *,
    queue: str,
    since: date,
    until: date,
    interval_minutes: int,
    zone: ZoneInfo,
    inbound_fallback: bool = False,
) -> list[Observed]:
    """Offered calls and handle seconds per interval, each day from the first with a call to `until`."""
    slots = intervals_per_day(interval_minutes)
    start, end = _bounds(since, until, zone)
    calls: dict[date, list[float]] = defaultdict(lambda: [0.0] * slots)
    handle: dict[date, list[float]] = defaultdict(lambda: [0.0] * slots)
    handled: dict[date, list[bool]] = defaultdict(lambda: [False] * slots)

    def where(at: datetime) -> tuple[date, int]:
        local = at.astimezone(zone)
        return local.date(), (local.hour * 60 + local.minute) // interval_minutes

    has_queue_events = session.scalar(select(exists().where(CallEvent.kind == "enqueue")))
    if has_queue_events:
        rows = session.execute(
            select(CallEvent.call_id, CallEvent.kind, CallEvent.at, CallEvent.detail)
            .where(CallEvent.kind.in_(QUEUE_EVENTS), CallEvent.at >= start, CallEvent.at < end)
            .order_by(CallEvent.call_id, CallEvent.sequence)
        )
        entered: dict[int, tuple[date, int]] = {}
        day_slot: tuple[date, int] | None
        for call_id, kind, at, detail in rows:
            if (detail or {}).get("queue") != queue:
                continue
            if kind == "enqueue":
                entered[call_id] = day_slot = where(at)
                calls[day_slot[0]][day_slot[1]] += 1
                continue
            day_slot = entered.get(call_id)
            if day_slot is None:
                continue  # enqueued before the window
            seconds = sum(float(detail.get(key) or 0) for key in ("talk", "hold", "wrap_up"))
            handle[day_slot[0]][day_slot[1]] += seconds
            handled[day_slot[0]][day_slot[1]] = True
    elif inbound_fallback:
        for (at,) in session.execute(
            select(CallRecord.started_at).where(
                CallRecord.direction == "inbound", CallRecord.started_at >= start, CallRecord.started_at < end
            )
        ):
            day, slot = where(at)
            calls[day][slot] += 1
    if not calls:
        return []
    first = min(calls)
    days = [first + timedelta(days=k) for k in range((until - first).days + 1)]
    return [
        Observed(
            day,
            tuple(calls[day]) if day in calls else (0.0,) * slots,
            tuple(h if ok else None for h, ok in zip(handle[day], handled[day], strict=True))
            if day in handle
            else (None,) * slots,
        )
        for day in days
    ]


# ---- runs -----------------------------------------------------------------------------------


def create_run(
    session: Session,
    *,
    inputs: dict,
    first_day: date,
    days: int,
    trigger: str,
    at: datetime,
    requested_by: int | None = None,
) -> StaffingRun:
    run = StaffingRun(
        created_at=at,
        trigger=trigger,
        requested_by=requested_by,
        first_day=first_day,
        days=days,
        status="queued",
        progress=0.0,
        message="waiting for a worker",
        inputs=inputs,
        summary={},
    )
    session.add(run)
    session.flush()
    return run


def start_run(session: Session, run: StaffingRun, at: datetime) -> None:
    # A retried job starts over: what an earlier attempt stored goes.
    session.execute(delete(StaffingInterval).where(StaffingInterval.run_id == run.id))
    session.execute(delete(StaffingShift).where(StaffingShift.run_id == run.id))
    run.status, run.started_at, run.progress, run.message, run.summary = "running", at, 0.0, "started", {}


def note_progress(run: StaffingRun, progress: float, message: str) -> None:
    run.progress, run.message = max(0.0, min(1.0, progress)), message


def finish_run(session: Session, run: StaffingRun, at: datetime, summary: dict) -> None:
    run.status, run.progress, run.finished_at, run.summary = "done", 1.0, at, summary
    run.message = "done"


def fail_run(run: StaffingRun, at: datetime, message: str) -> None:
    run.status, run.finished_at, run.message = "failed", at, message


def get_run(session: Session, run_id: int) -> StaffingRun | None:
    return session.get(StaffingRun, run_id)


def latest_run(session: Session, day: date, *, done_only: bool = True) -> StaffingRun | None:
    """The newest run that covers `day` (finished ones only, unless asked)."""
    query = select(StaffingRun).where(StaffingRun.first_day <= day).order_by(StaffingRun.id.desc())
    if done_only:
        query = query.where(StaffingRun.status == "done")
    for run in session.scalars(query.limit(50)):
        if day < run.first_day + timedelta(days=run.days):
            return run
    return None


def day_intervals(session: Session, run_id: int, day: date, queue: str) -> list[StaffingInterval]:
    return list(
        session.scalars(
            select(StaffingInterval)
            .where(StaffingInterval.run_id == run_id, StaffingInterval.day == day, StaffingInterval.queue == queue)
            .order_by(StaffingInterval.slot)
        )
    )


def day_shifts(session: Session, run_id: int, day: date, queue: str) -> list[StaffingShift]:
    return list(
        session.scalars(
            select(StaffingShift)
            .where(StaffingShift.run_id == run_id, StaffingShift.day == day, StaffingShift.queue == queue)
            .order_by(StaffingShift.start_minute)
        )
    )


def store_day(session: Session, run_id: int, queue: str, day: date, intervals: list[dict], shifts: list[dict]) -> None:
    """One queue-day's results: a row per interval (StaffingInterval's fields) and per shift used."""
    session.add_all(StaffingInterval(run_id=run_id, queue=queue, day=day, **row) for row in intervals)
    session.add_all(StaffingShift(run_id=run_id, queue=queue, day=day, **shift) for shift in shifts)
