"""The reconstruction sweep: calls whose record lost part of the call, completed from what
is known and marked as reconstructed rather than left silently truncated (issue 16).

A Redis that lost its data (a FLUSHALL, a restart without persistence) loses the record
jobs still queued with it: a call's opening, some of its events, its final status. Every
records.reconstruct_every_seconds RQ's cron runs `reconstruct_calls` on the records queue, which

1. replays the record spool first: what it holds is known, not reconstructed;
2. drains the finished calls' stream (a drain job lost with Redis's queue leaves them there);
3. finds the calls still without a final status: open in Redis (the open calls' sorted set,
   scored by their last webhook) or, in the database, a record without one or known only by
   a placeholder, records.reconstruct_after_minutes after their last event, and asks the
   carrier's Calls API (the app's Twilio client) for their caller, final status and
   duration; an open call the carrier says ended is written from what Redis kept of it
   (queueing.recording.write_open_calls), then completed with the carrier's status;
4. finds the calls that ended in the last GAPS_LOOKBACK whose stored events show a loss
   (records.calls.lost_events: a gap in their numbering, Redis's numbering started
   again, or a completed call in with no event at all);
5. lists the carrier's finished calls to the hospital's number that ended since the last
   sweep's listing (its mark is kept in the database, records.calls.calls_listed_through,
   so that the Redis that lost the calls does not lose it too; CARRIER_OVERLAP before it,
   CARRIER_LOOKBACK the first time, never more than CARRIER_MOST), every page of them, and
   opens a record for each that has none: a call handed over at its final status whose
   stream entry and keys Redis lost before the drain wrote it; then moves the mark;

and hands each to records.calls.reconstruct, one short transaction per call, with no
HTTP request made inside a transaction.  Running it again changes nothing.  A record job
that comes after all (retried, spooled) still writes the call's own data over what was
filled in, and takes the reason back (records.calls.apply_status says how).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import func, select
from twilio.base.exceptions import TwilioException

from queueing import context
from queueing.handover import RecordKeys
from queueing.recording import drain_finished, replay_spool, write_open_calls
from records import calls
from records.db import begin_write
from records.models import CallEvent, CallRecord

log = logging.getLogger(__name__)

SWEEP_TIMEOUT = 300
LOOKBACK = timedelta(hours=24)  # how far back calls without a final status are looked for
GAPS_LOOKBACK = timedelta(hours=1)  # ended calls whose events are checked (each about 10 times)
# The carrier's calls listed to find those with no record: from the last listing's mark,
# with an overlap (the carrier's list may show a call a little after it ended), the first
# time this far back, and never further back than CARRIER_MOST, however old the mark
# (a scheduler stopped for weeks: what ended before then is the operators' to look into).
CARRIER_OVERLAP = timedelta(minutes=10)
CARRIER_LOOKBACK = timedelta(hours=2)
CARRIER_MOST = timedelta(days=7)
CARRIER_PAGE = 1000  # calls a page (Twilio's largest)


def reconstruct_calls() -> str:
    hotline = context.get()
    now = hotline.now()
    # A final status callback comes seconds after the hang-up and a record job's retries
    # are mostly over within minutes: after this, silence means it was lost (or the call
    # goes on, which the carrier says).
    quiet = timedelta(minutes=hotline.settings.records.reconstruct_after_minutes)
    replay_spool(limit=10**9)
    drain_finished()  # calls handed over whose drain job was lost (a Redis that lost its queue)
    open_calls = _quiet_open_calls(hotline, now, quiet)
    with hotline.sessions() as session:
        unfinished, lost = _candidates(session, now, quiet)
        recorded = set(unfinished) | set(lost)
        known = {sid: _fetch(hotline.twilio, sid) for sid in {*unfinished, *open_calls}}
        unrecorded = _unrecorded(session, hotline, now, now - quiet)
        known |= {carrier_call.call_sid: carrier_call for carrier_call in unrecorded or ()}
        session.rollback()  # nothing held while the carrier answers
        ended = [sid for sid in open_calls if (known.get(sid) or _GOES_ON).status in calls.FINAL_STATUSES]
        write_open_calls(ended)  # what Redis kept of them, before the carrier's status
        done = 0
        for sid in recorded | set(known):
            begin_write(session)
            record = calls.reconstruct(session, sid, carrier=known.get(sid), lost=lost.get(sid), at=now)
            session.commit()
            done += record is not None and record.reconstructed
        if unrecorded is not None:  # listed, and each call without a record now has one
            begin_write(session)
            calls.mark_calls_listed(session, now - quiet)
            session.commit()
    return f"{done} calls reconstructed or checked again, {len(unfinished) + len(open_calls)} without a final status"


# What a call the carrier cannot tell about is taken for: still going on.
_GOES_ON = calls.CarrierCall("", "in-progress", "", "", "inbound", None, None, None)


def _quiet_open_calls(hotline, now: datetime, quiet: timedelta) -> list[str]:
    """The calls still open in Redis (no final status came) with no activity for `quiet`;
    those older than LOOKBACK are forgotten."""
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    try:
        pipe = hotline.redis.pipeline(transaction=False)
        pipe.zremrangebyscore(keys.open_calls, "-inf", (now - LOOKBACK).timestamp())
        pipe.zrangebyscore(keys.open_calls, "-inf", (now - quiet).timestamp(), start=0, num=1000)
        return list(pipe.execute()[1])
    except RedisError as exc:
        log.warning("the open calls not read (%s)", type(exc).__name__)
        return []


def _candidates(session, now: datetime, quiet: timedelta) -> tuple[list[str], dict[str, str]]:
    """The calls to ask the carrier about, and those whose events show a loss (with why)."""
    quiet_since = now - quiet
    last_event = select(func.max(CallEvent.at)).where(CallEvent.call_id == CallRecord.id).scalar_subquery()
    unfinished = session.execute(
        select(CallRecord.id, CallRecord.call_sid).where(
            CallRecord.started_at >= now - LOOKBACK,
            CallRecord.started_at < quiet_since,
            (CallRecord.status.not_in(calls.FINAL_STATUSES)) | (CallRecord.from_number == "unknown"),
            func.coalesce(last_event, CallRecord.started_at) < quiet_since,
        )
    ).all()
    ended = session.execute(
        select(CallRecord.id, CallRecord.call_sid, CallRecord.direction, CallRecord.status).where(
            CallRecord.ended_at >= now - GAPS_LOOKBACK,
            CallRecord.ended_at < quiet_since,
            CallRecord.reconstructed.is_(False),
        )
    ).all()
    # A completed call in with no event lost them all; an unfinished one is known to be
    # completed only once the carrier says so (records.calls.reconstruct checks it then).
    completed_in = {row.id for row in ended if row.direction == "inbound" and row.status == "completed"}
    sids = dict(unfinished) | {row.id: row.call_sid for row in ended}
    sequences: dict[int, list[int]] = {}
    if sids:
        rows = session.execute(select(CallEvent.call_id, CallEvent.sequence).where(CallEvent.call_id.in_(sids)))
        for call_id, sequence in rows:
            sequences.setdefault(call_id, []).append(sequence)
    lost = {
        sids[call_id]: why
        for call_id in sids
        if (why := calls.lost_events(sequences.get(call_id, ()), completed_call_in=call_id in completed_in))
    }
    return [sid for _, sid in unfinished], lost


def _fetch(twilio, call_sid: str) -> calls.CarrierCall | None:
    """The carrier's view of one call, or None if it cannot say now (the next sweep asks again)."""
    try:
        return _carrier_call(twilio.calls(call_sid).fetch())
    except (TwilioException, OSError) as exc:
        log.warning("call %s: the carrier's Calls API did not answer (%s)", call_sid, type(exc).__name__)
        return None


def _unrecorded(session, hotline, now: datetime, quiet_since: datetime) -> list[calls.CarrierCall] | None:
    """The carrier's finished calls to the hospital's number, ended since the last listing
    and before `quiet_since` (a call that ended later may still be on its way through the
    stream), that have no record at all (Redis lost them before the drain wrote them, or
    every job of theirs was lost).  Only calls in: each one opens a record at its first
    webhook, where the calls the hotline places include legs to the agents' phones that
    never have one of their own.  None when the carrier could not list them (the mark
    stays where it is, and the next sweep lists from there).  Every final status, not only
    "completed": a caller who hung up while /ivr/voice was answering is "canceled" at the
    carrier and has a record of their own (Twilio's list takes one status: filtered here)."""
    mark = calls.calls_listed_through(session)
    since = (mark - CARRIER_OVERLAP) if mark is not None else quiet_since - CARRIER_LOOKBACK
    since = max(since, now - CARRIER_MOST)
    try:
        # In UTC: twilio-python writes the datetime's wall time with a Z, whatever its zone.
        # Every page: twilio-python follows next_page_uri until there is none.
        listed = hotline.twilio.calls.list(
            to=str(hotline.settings.hospital.main_number),
            end_time_after=since.astimezone(UTC),
            page_size=CARRIER_PAGE,
        )
    except (TwilioException, OSError) as exc:
        log.warning("the carrier's calls not listed (%s)", type(exc).__name__)
        return None
    parents = [call for call in listed if not call.parent_call_sid]  # a dialled leg is part of its parent's record
    finished = [
        call
        for call in map(_carrier_call, parents)
        if call.status in calls.FINAL_STATUSES
        and call.direction == "inbound"
        and call.ended_at is not None
        and call.ended_at < quiet_since
    ]
    sids = [call.call_sid for call in finished]
    found: set[str] = set()
    for start in range(0, len(sids), CARRIER_PAGE):  # an IN list of at most a page
        chunk = sids[start : start + CARRIER_PAGE]
        found.update(session.scalars(select(CallRecord.call_sid).where(CallRecord.call_sid.in_(chunk))))
    unrecorded = [call for call in finished if call.call_sid not in found]
    if unrecorded:  # calls lost whole: worth a line (CallSids only, no numbers)
        log.info("%d of the carrier's %d finished calls since %s have no record: %s", len(unrecorded),
                 len(finished), since.isoformat(timespec="seconds"), " ".join(c.call_sid for c in unrecorded))  # fmt: skip
    return unrecorded


def _carrier_call(call) -> calls.CarrierCall:
    direction = call.direction or "inbound"
    return calls.CarrierCall(
        call_sid=call.sid,
        status=call.status or "",
        from_number=call._from or "",  # twilio-python names it so ("from" is a keyword)
        to_number=call.to or "",
        direction=direction,
        started_at=call.start_time,
        ended_at=call.end_time,
        duration_seconds=int(call.duration) if call.duration not in (None, "") else None,
    )
