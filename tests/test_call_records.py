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
    first = calls.open_call(
        db, call_sid="CA1", from_number="13800138000", to_number="+861065281000", caller=caller, language="zh", at=T0
    )
    again = calls.open_call(
        db, call_sid="CA1", from_number="13800138000", to_number="+861065281000", caller=caller, language="zh", at=T0
    )
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
