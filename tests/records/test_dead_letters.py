"""The dead letters: finished calls whose record the database kept refusing.  A letter keeps
the whole call (its Redis keys expire), is written by `flask records dead-letters --retry`
once the cause is fixed (all, or one call; only what was written leaves; twice changes
nothing), and goes at the hospital's shortest retention period with the nightly purge."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import redis as redis_lib
from sqlalchemy import func, select

from queueing import recording
from queueing.handover import DEAD_LETTER_AFTER, RecordKeys
from records import calls
from records.models import CallEvent, Patient
from tests.conftest import OPEN
from tests.records.test_pipeline import MS_WANG
from tests.records.test_recording import MS_WANG_PHONE, status, stored

GONE = 999999  # a patient file the calls below were matched to, then removed: the foreign key refuses them
DAY = timedelta(days=1)


@pytest.fixture
def hotline(app):
    return app.extensions["hotline"]


def refused_call(hotline, sid: str, *, at=OPEN, events=(("menu", {"step": "menu.main"}),), file: int = GONE) -> None:
    """A call matched to a file that is gone, ended: the database refuses its record."""
    opened = calls.CallOpened(sid, MS_WANG, "+861065281000", calls.CallerMatch(MS_WANG_PHONE, (file,)), "zh", at)
    hotline.calls.add_events(sid, at, list(events), opened=opened)


def set_aside(app, hotline, records_worker, monkeypatch, *sids: str) -> None:
    """The calls ended, refused by DEAD_LETTER_AFTER drains, then their Redis keys expired."""
    monkeypatch.setattr(recording, "CLAIM_IDLE_MS", 0)  # each drain retakes what the last left
    for sid in sids:
        status(app, sid, "completed", 5, duration=20)
    for _ in range(DEAD_LETTER_AFTER):
        hotline.records_queue.enqueue(recording.drain_finished)
        records_worker.work()
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    assert sorted(f["call_sid"] for _, f in recording.dead_letters(hotline.redis, keys.prefix)) == sorted(sids)
    for sid in sids:  # the call's TTL has passed
        hotline.redis.delete(*(keys.call(sid, part) for part in ("opened", "events", "epoch", "finished", "caller")))


def cli(app, *args: str):
    with app.app_context():
        return app.test_cli_runner().invoke(args=["records", "dead-letters", *args])


def test_a_dead_letter_keeps_the_whole_call_after_its_redis_keys_expired(
    app, hotline, records_worker, monkeypatch, caplog
):
    refused_call(hotline, "CAgone", events=(("menu", {"step": "menu.main"}), ("key", {"digits": "1"})))
    set_aside(app, hotline, records_worker, monkeypatch, "CAgone")
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    ((_, letter),) = recording.dead_letters(hotline.redis, keys.prefix)
    call = recording.letter_call(hotline.redis, keys, letter)
    assert call.opened is not None and (call.opened.from_number, call.opened.caller.patient_ids) == (MS_WANG, (GONE,))
    assert [event.kind for event in call.events] == ["menu", "key"]
    assert call.status is not None and call.status.status == "completed"
    listed = cli(app)
    assert "CAgone  5 attempts  IntegrityError  保存 kept: 开头 opening + 2 events" in listed.output
    assert MS_WANG not in listed.output and MS_WANG not in caplog.text


def test_retry_writes_the_dead_letters_once_the_cause_is_fixed_and_only_those_written_leave(
    app, db, hotline, records_worker, monkeypatch
):
    refused_call(hotline, "CAgone")
    refused_call(hotline, "CAother")
    set_aside(app, hotline, records_worker, monkeypatch, "CAgone", "CAother")

    again = cli(app, "--retry", "CAgone")  # the cause is not fixed yet
    assert again.exit_code == 1
    assert "CAgone  未写入 not written (IntegrityError)" in again.output
    assert "Written 0, not written 1 (still set aside)." in again.output
    assert len(recording.dead_letters(hotline.redis, hotline.settings.env.redis_prefix)) == 2

    # The patient's file is back (restored from the hospital's system): the cause is fixed.
    db.add(Patient(id=GONE, mrn="M00999999", name_zh="王芳", name_en="Wang Fang", family_name_zh="王",
                   family_name_en="Wang", sex="F", birth_date=date(1980, 1, 1)))  # fmt: skip
    db.commit()
    one = cli(app, "--retry", "CAgone")
    assert one.exit_code == 0, one.output
    assert "CAgone  已写入 written" in one.output and "Written 1, not written 0" in one.output
    record, _ = stored(db, "CAgone")  # the whole call, from the letter: Redis no longer has it
    assert (record.status, record.from_number, record.patient_id) == ("completed", MS_WANG_PHONE, GONE)
    assert (record.menu_path, record.reconstructed) == ("menu.main", False)
    left = recording.dead_letters(hotline.redis, hotline.settings.env.redis_prefix)
    assert [fields["call_sid"] for _, fields in left] == ["CAother"]

    twice = cli(app, "--retry", "CAgone")
    assert (twice.exit_code, twice.output.strip()) == (0, "没有 CAgone 的搁置记录。No dead letter for CAgone.")
    every = cli(app, "--retry")
    assert "CAother  已写入 written" in every.output and "Written 1, not written 0" in every.output
    assert cli(app, "--retry").output.strip() == "没有搁置的通话记录。No dead letters."
    assert cli(app).output.strip() == "没有搁置的通话记录。No dead letters."
    stored(db, "CAother")
    events = select(func.count()).select_from(CallEvent).where(CallEvent.call_id == record.id)
    assert db.scalar(events) == 1  # written once


def killed_before_xdel(*args):
    raise SystemExit("the retry killed after its commit")


def test_a_retry_killed_between_its_commit_and_the_letters_removal_writes_nothing_twice(
    app, db, hotline, records_worker, monkeypatch
):
    refused_call(hotline, "CAgone", events=(("menu", {"step": "menu.main"}), ("key", {"digits": "1"})))
    set_aside(app, hotline, records_worker, monkeypatch, "CAgone")
    db.add(Patient(id=GONE, mrn="M00999999", name_zh="王芳", name_en="Wang Fang", family_name_zh="王",
                   family_name_en="Wang", sex="F", birth_date=date(1980, 1, 1)))  # fmt: skip
    db.commit()
    with monkeypatch.context() as killed:
        killed.setattr(redis_lib.Redis, "xdel", killed_before_xdel)
        with pytest.raises(SystemExit):
            recording.retry_dead_letters()
    assert cli(app, "--retry").exit_code == 0
    record, _ = stored(db, "CAgone")
    assert db.scalar(select(func.count()).select_from(CallEvent).where(CallEvent.call_id == record.id)) == 2
    assert recording.dead_letters(hotline.redis, hotline.settings.env.redis_prefix) == []


def test_the_nightly_purge_deletes_dead_letters_past_the_shortest_retention_period(
    app, hotline, records_worker, monkeypatch, clock, settings
):
    from records.retention import dead_letter_days

    days = dead_letter_days(settings.retention)
    assert days == min(settings.retention.speech_days, settings.retention.recordings_days)  # 90 by default
    voicemail = {"queue": "general", "recording_sid": "REold", "recording_url": "/recordings/REold", "duration": 9}
    refused_call(hotline, "CAold", at=OPEN - timedelta(minutes=30), events=(("voicemail", voicemail),))
    refused_call(hotline, "CAnew", at=OPEN)
    set_aside(app, hotline, records_worker, monkeypatch, "CAold", "CAnew")
    assert f"Each is kept {days} days (the shortest retention period)" in cli(app).output

    deleted: list[str] = []
    monkeypatch.setattr("queueing.retention.delete_recording", lambda client: lambda sid: deleted.append(sid) or True)
    clock.now = OPEN + days * DAY - timedelta(minutes=10)  # CAold began days + 20 min ago, CAnew days - 10 min
    with app.app_context():
        purged = app.test_cli_runner().invoke(args=["records", "purge"])
    assert "dead_letters 1" in purged.output, purged.output
    assert deleted == ["REold"]  # its recording at the carrier first: the letter was its only address
    left = recording.dead_letters(hotline.redis, hotline.settings.env.redis_prefix)
    assert [fields["call_sid"] for _, fields in left] == ["CAnew"]

    clock.now = OPEN + days * DAY + timedelta(minutes=1)
    with app.app_context():
        again = app.test_cli_runner().invoke(args=["records", "purge"])
    assert "dead_letters 1" in again.output
    assert recording.dead_letters(hotline.redis, hotline.settings.env.redis_prefix) == []


def test_a_dead_letter_whose_recording_the_carrier_keeps_stays_for_the_next_run(hotline, settings):
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    voicemail = {"kind": "voicemail", "at": OPEN.isoformat(), "detail": {"recording_sid": "REkept"}}
    opened = calls.CallOpened("CAkept", MS_WANG, "", calls.CallerMatch(None, ()), "zh", OPEN).to_json()
    fields = {"call_sid": "CAkept", "opened": json.dumps(opened), "events": json.dumps([json.dumps(voicemail)])}
    hotline.redis.xadd(keys.dead_letters, fields)
    later, kept = OPEN + 400 * DAY, set()
    assert recording.forget_dead_letters(hotline.redis, keys.prefix, later, 10, lambda sid: False, kept) == 0
    assert len(kept) == 1 and len(recording.dead_letters(hotline.redis, keys.prefix)) == 1
    assert recording.forget_dead_letters(hotline.redis, keys.prefix, later, 10, lambda sid: True, set()) == 1


A_STATUS = calls.StatusCallback("CAodd", "completed", 5, 20, OPEN, from_number=MS_WANG_PHONE).to_json()
ODD_LETTERS = {
    # What the patient's copy reads part by part (test_privacy's UNREADABLE_LETTERS) is here too.
    "events not a list": {"events": "7"},
    "a duration past any date": {"status": json.dumps(A_STATUS | {"duration_seconds": 10**12})},
    "an opening with no time zone": {
        "opened": json.dumps(
            calls.CallOpened(
                "CAodd", MS_WANG, "", calls.CallerMatch(None, ()), "zh", OPEN.replace(tzinfo=None)
            ).to_json()
        )
    },
}


@pytest.mark.parametrize("odd", ODD_LETTERS.values(), ids=ODD_LETTERS.keys())
def test_a_dead_letter_that_cannot_be_read_does_not_stop_the_purge_of_the_letters(hotline, odd):
    """A letter is set aside because its call is not what the database takes: the purge read
    its events, opening and final status as if they were, and one raising there failed the
    purge's last step every night, no letter ever deleted again.  What cannot be read names no
    recording and no earlier time: the letter goes at its period, as a spool row's does."""
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    hotline.redis.xadd(keys.dead_letters, {"call_sid": "CAodd", "attempts": 5, **odd})
    hotline.redis.xadd(keys.dead_letters, {"call_sid": "CAnext", "attempts": 5})
    far = OPEN + 4000 * DAY

    assert recording.forget_dead_letters(hotline.redis, keys.prefix, far, 10, lambda sid: True, set()) == 2
    assert recording.dead_letters(hotline.redis, keys.prefix) == []
