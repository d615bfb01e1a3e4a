"""The nightly purge of what has passed its retention period (records.retention), run by
RQ's cron at retention.run_time, or by `flask --app app records purge`.

One RetentionRun row per run: its counts are written after every batch (one short
transaction each), so the supervisor sees the progress, a run killed midway leaves what
it did committed, and the next run finishes the rest.  Two runs at once would only race
to blank the same rows (each batch's statements are idempotent), but a Redis lock keeps
it to one anyway, so the counts of a run are its own.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException

from queueing import context, recording
from records import audit, retention, spool
from records.db import begin_write
from records.models import RetentionRun

log = logging.getLogger(__name__)

PURGE_TIMEOUT = 2 * 3600
LOCK_SECONDS = PURGE_TIMEOUT


def purge_expired(trigger: str = "nightly") -> str:
    """The RQ job: every kind of data past its period, in batches, with a run row."""
    hotline = context.get()
    lock = hotline.redis.lock(f"{hotline.settings.env.redis_prefix}retention:purge", timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return "another purge is running"
    try:
        delete_at_carrier = delete_recording(hotline.twilio)
        prefix = hotline.settings.env.redis_prefix

        def dead_letters(cutoff: datetime, batch: int, kept: set[str]) -> int:
            return recording.forget_dead_letters(hotline.redis, prefix, cutoff, batch, delete_at_carrier, kept)

        with hotline.sessions() as db:
            counts = purge(db, hotline.now, hotline.settings.retention, trigger, delete_at_carrier, dead_letters)
    finally:
        lock.release()
    return ", ".join(f"{kind} {count}" for kind, count in counts.items())


def delete_recording(client):
    """Delete one recording at the carrier: True when it is gone (deleted now, or before:
    'not found' is what a second run hears after a run killed between the two steps)."""

    def delete(sid: str) -> bool:
        try:
            client.recordings(sid).delete()
        except TwilioRestException as exc:
            if exc.status == 404:
                return True
            log.warning("retention: the carrier kept recording %s (%s %s)", sid, exc.status, exc.code)
            return False
        return True

    return delete


def purge(db: Session, clock, periods, trigger: str, delete_at_carrier, forget_dead_letters) -> dict[str, int]:
    """Run every step to the end, committing each batch and the run's counts with it.
    `forget_dead_letters(cutoff, batch, kept)` deletes a batch of the dead letters in Redis
    (queueing.recording.forget_dead_letters), `kept` the ones whose recording the carrier kept."""
    now = clock()
    begin_write(db)
    run = RetentionRun(started_at=now, trigger=trigger, status="running", counts={}, message="")
    db.add(run)
    db.commit()
    cutoffs = retention.cutoffs(now, periods)
    counts = {kind: 0 for kind in retention.KINDS}
    kept: set[str] = set()  # recordings the carrier refused to delete: tried again next run
    walked: dict[str, int] = {}  # the recordings' walk: each table's last row seen
    letters_kept: set[str] = set()  # dead letters holding such a recording
    try:
        for kind in retention.KINDS:
            after = 0
            while True:
                # The steps asking the carrier begin their write once it has answered (each
                # delete a network call, seconds when it is slow): SQLite has one writer, and
                # the webhooks' spool, the desk and the records worker would wait meanwhile.
                if kind == "recordings":
                    done = _recordings_batch(db, cutoffs[kind], periods.batch, delete_at_carrier, kept, walked)
                elif kind == "spool":
                    done, after = _spool_batch(db, cutoffs[kind], periods.batch, after, delete_at_carrier, kept)
                elif kind == "dead_letters":  # Redis and the carrier only
                    done = forget_dead_letters(cutoffs[kind], periods.batch, letters_kept)
                    begin_write(db)
                else:
                    begin_write(db)
                    done, after = retention.STEPS[kind](db, cutoffs[kind], periods.batch, after)
                counts[kind] += done
                run.counts = dict(counts)
                db.commit()
                if done == 0:
                    break
    except Exception as exc:
        db.rollback()
        run.status, run.finished_at = "failed", clock()
        run.message = f"{type(exc).__name__} during the purge; the next run goes on from here"
        db.commit()
        raise
    run.status, run.finished_at = "done", clock()
    kept |= letters_kept
    run.message = f"{len(kept)} recordings kept by the carrier, tried again next run" if kept else ""
    summary = ", ".join(f"{kind} {count}" for kind, count in counts.items())
    audit.record_access(
        db, staff_id=None, action="retention_purge", reason=f"保留期清理 retention purge #{run.id}: {summary}"
    )
    db.commit()
    log.info("retention purge: %s", counts)
    return counts


def _recordings_batch(
    db: Session, cutoff: datetime, batch: int, delete_at_carrier, kept: set[str], walked: dict[str, int]
) -> int:
    """Delete a batch at the carrier and forget those gone; 0 only when no expired recording
    is left past `walked` (each table's last row seen, moved on here): a batch the carrier
    refused entirely is passed over, as `_spool_batch` does, not found again at the front of
    every batch and run.  Read, then the carrier with no transaction open, then the write:
    ends in a write transaction."""
    while found := retention.expired_recordings(db, cutoff, batch, walked):
        db.commit()  # ends the read (nothing was written in it): no transaction open at the carrier
        for item in found:
            walked[item.table] = max(walked.get(item.table, 0), item.row_id)
        gone = [item for item in found if item.sid not in kept and delete_at_carrier(item.sid)]
        kept.update(item.sid for item in found if item not in gone)
        if gone:
            begin_write(db)
            return retention.forget_recordings(db, cutoff, gone)
    begin_write(db)
    return 0


def _spool_batch(db: Session, cutoff: datetime, batch: int, after: int, delete_at_carrier, kept: set[str]):
    """Delete a batch of expired spool rows, the recordings each names first at the carrier;
    a row whose recording the carrier kept stays for the next run.  Walked by id, a batch the
    carrier refused entirely passed over: 0 only when no expired row is left after `after`.
    As `_recordings_batch`: the carrier asked with no transaction open; ends in a write one."""
    while found := [(row.id, spool.recordings(row)) for row in retention.expired_spool(db, cutoff, batch, after)]:
        db.commit()  # ends the read (nothing was written in it): no transaction open at the carrier
        after = found[-1][0]
        gone = [row_id for row_id, sids in found if _recordings_gone(sids, delete_at_carrier, kept)]
        if gone:
            begin_write(db)
            if forgotten := retention.forget_spool(db, cutoff, gone):
                return forgotten, after
            # A replay applied (and deleted) them meanwhile: not the end of the expired rows.
    begin_write(db)
    return 0, after


def _recordings_gone(sids: list[str], delete_at_carrier, kept: set[str]) -> bool:
    refused = [sid for sid in sids if sid in kept or not delete_at_carrier(sid)]
    kept.update(refused)
    return not refused
