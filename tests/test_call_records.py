"""Call records are idempotent: retried webhooks and duplicate or late callbacks
neither double nor corrupt them."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from records import calls
from records.patients import match_caller

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def events(*kinds):
    return [calls.Event(i, T0 + timedelta(seconds=i), kind, {"step": f"s{i}"}) for i, kind in enumerate(kinds, start=1)]


def test_opening_a_call_twice_keeps_one_record_linked_to_the_patient(db):
    caller = match_caller(db, "13800138000")
    opened = calls.CallOpened("CA1", "13800138000", "+861065281000", caller, "zh", T0)
    first = calls.open_call(db, opened)
    again = calls.open_call(db, opened)
    db.commit()
    assert first.id == again.id
    assert first.patient_id == caller.patient_id is not None
    assert first.from_number == "+8613800138000"


def test_events_are_stored_once_each_and_make_the_menu_path(db):
    calls.record_events(db, "CA2", events("menu", "key", "menu"), T0)
    calls.record_events(db, "CA2", events("menu", "key", "menu", "transfer"), T0)
    db.commit()
    record = calls.find_call(db, "CA2")
    assert [e.sequence for e in record.events] == [1, 2, 3, 4]
    assert record.menu_path == "s1 > s3"
    assert record.outcome == "transferred"


def test_a_late_or_duplicate_status_does_not_undo_the_final_one(db):
    calls.apply_status(db, "CA3", status="completed", sequence=3, duration_seconds=61, at=T0)
    calls.apply_status(db, "CA3", status="ringing", sequence=1, duration_seconds=None, at=T0)
    calls.apply_status(db, "CA3", status="in-progress", sequence=2, duration_seconds=None, at=T0)
    calls.apply_status(db, "CA3", status="completed", sequence=3, duration_seconds=99, at=T0 + timedelta(hours=1))
    calls.apply_status(db, "CA3", status="completed", sequence=None, duration_seconds=5, at=T0)
    db.commit()
    record = calls.find_call(db, "CA3")
    assert (record.status, record.duration_seconds, record.status_sequence) == ("completed", 61, 3)
    assert record.ended_at.astimezone(ZoneInfo("Asia/Shanghai")) == T0


def ev(sequence: int, kind: str, **detail) -> calls.Event:
    return calls.Event(sequence, T0 + timedelta(seconds=sequence), kind, detail)


def test_the_record_keeps_the_language_the_caller_switched_to_whatever_order_jobs_run(db):
    # Issue 22, 16: the record kept 'zh' after the caller pressed 9 for English.
    switched = [
        ev(1, "menu", step="menu.main"),
        ev(2, "key", step="menu.main", digits="9"),
        ev(3, "language", lang="en"),
    ]
    caller = match_caller(db, "13912345678")
    opened = {"from_number": "13912345678", "to_number": "+861065281000", "caller": caller, "language": "zh", "at": T0}
    calls.open_call(db, calls.CallOpened(call_sid="CA4", **opened))
    calls.record_events(db, "CA4", switched, T0)
    calls.record_events(db, "CA5", switched, T0)  # the events' job before the call's opening job
    calls.open_call(db, calls.CallOpened(call_sid="CA5", **opened))
    db.commit()
    assert calls.find_call(db, "CA4").language == calls.find_call(db, "CA5").language == "en"
    calls.record_events(db, "CA4", [ev(4, "language", lang="zh")], T0)  # and back again
    assert calls.find_call(db, "CA4").language == "zh"


def test_a_caller_who_hangs_up_in_the_greeting_is_not_self_service():
    # Issue 22, 20: it was counted as self-service.
    greeted = [ev(1, "menu", step="menu.main")]
    assert calls.outcome(greeted) == "greeting_hangup"
    assert calls.outcome([*greeted, ev(2, "no_input", step="menu.main"), ev(3, "menu", step="menu.main")]) == (
        "greeting_hangup"
    )
    assert calls.outcome(
        [*greeted, ev(2, "key", step="menu.main", digits="1"), ev(3, "menu", step="introduction.start")]
    ) == ("self_service")
    # The calls the hotline places are judged by what happened in them, as before.
    assert calls.outcome([ev(1, "menu", step="reminder.ask")]) == "self_service"
    assert calls.outcome([]) == "self_service"


def test_a_call_whose_redis_state_was_flushed_mid_call_is_recorded_reconstructed(
    dial, app, db, records_worker, redis_prefix
):
    # Issue 16: Redis lost the call's keys mid-call (a FLUSHALL, a restart without
    # persistence).  Issue 17: nothing is written before the final status, so what Redis held
    # is gone with it; the record is written from what the status callback says of the call,
    # with the events kept after the loss, and marked reconstructed with the reason.  Only
    # this test's keys are deleted: the Redis is shared.
    call = dial("+8613912345678")
    call.press("2")  # the departments
    call.take_text()
    records_worker.work()
    store = app.extensions["hotline"].calls
    lost = list(store.redis.scan_iter(match=f"{redis_prefix}call:{call.sid}:*"))
    assert lost and store.redis.delete(*lost) == len(lost)

    call.press("1")  # a department's details
    call.press("#")  # back to the list
    call.hangup()
    records_worker.work()
    db.rollback()
    record = calls.find_call(db, call.sid)
    assert record.menu_path == "departments.detail > departments.start"
    keys = [(e.kind, e.detail.get("digits")) for e in sorted(record.events, key=lambda e: (e.at, e.sequence))]
    assert [digits for kind, digits in keys if kind == "key"] == ["1", "#"]
    assert (record.status, record.from_number, record.direction) == ("completed", "+8613912345678", "inbound")
    assert record.reconstructed and calls.LOST_FROM_REDIS in record.reconstructed_why


def test_a_call_numbered_before_epochs_goes_on_without_a_collision(app, redis_prefix):
    # A call in progress when 0012_event_numbering is deployed: its list, no epoch.
    store = app.extensions["hotline"].calls
    store.redis.rpush(
        f"{redis_prefix}call:CAold:events", '{"at": "2026-11-24T10:00:00+08:00", "kind": "menu", "detail": {}}'
    )
    store.add_events("CAold", T0, [("key", {"digits": "1"})])
    assert [e.sequence for e in store.events("CAold")] == [1, 2]
    store.redis.delete(f"{redis_prefix}call:CAold:events")  # then Redis loses it
    store.add_events("CAold", T0, [("key", {"digits": "2"})])
    (after,) = store.events("CAold")
    assert calls.epoch_and_position(after.sequence)[1] == 1 and after.sequence > 2
