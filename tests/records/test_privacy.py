"""A patient's copy and erasure, through the supervisor's page: every kind of row for the
patient and nothing of another; erasure refused while a case is open; recordings deleted at
the carrier; every copy, erasure and purge audited; the patient's calls not yet written (the
dead letters in Redis) given in the copy with their content (a part that cannot be read, as
such) and deleted by the erasure; the parts of their calls spooled in the database listed in
the copy with their content, and deleted by the erasure once set aside."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select

from emulator import Recording
from queueing import recording
from queueing import retention as purge_job
from queueing.handover import RecordKeys
from records import calls, privacy, retention, spool
from records.db import begin_write
from records.models import AuditEntry, CallEvent, CallRecord, ComplaintCase, Patient, RecordSpool, SmsMessage
from tests.conftest import OPEN
from tests.records.helpers import another_writes, spool_payload
from tests.records.test_dead_letters import GONE, cli, refused_call, set_aside
from tests.records.test_recording import MS_WANG_PHONE, status
from tests.records.test_retention import NO_LETTERS, _seed
from tests.web import csrf_token, log_in, make_staff

REASON = "患者申请 PIPL-2026-031"


@pytest.fixture
def environ(environ, media_carrier):
    return {**environ, "TWILIO_API_BASE": media_carrier.base_url}


@pytest.fixture
def two_patients(db, supervisor, media_carrier):
    """Ms Wang (the first demo patient) with one of every kind of row and a recording at the
    carrier; another patient with a text of their own."""
    wang, other = db.scalars(select(Patient).order_by(Patient.id).limit(2)).all()
    sid = "RE" + "4" * 32
    media_carrier.recordings[sid] = Recording(
        sid, "CA" + "4" * 32, media_carrier.account_sid, 9, 0.0, media_carrier.recording_url(sid)
    )
    _seed(db, OPEN - timedelta(days=2), n=41, staff_id=supervisor.id, recording_sid=sid)
    db.add(
        SmsMessage(
            patient_id=other.id,
            kind="reminder",
            to_number="+8613900000000",
            body="另一位患者的提醒",
            status="sent",
            created_at=OPEN,
        )
    )
    db.commit()
    return wang, other, sid


def _post(client, path, **form):
    token = csrf_token(client.get("/supervisor/privacy").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **form})


def test_the_copy_holds_every_kind_of_row_for_the_patient_and_nothing_of_another(client, db, two_patients):
    wang, other, sid = two_patients
    answer = _post(client, "/supervisor/privacy/copy", mrn=wang.mrn, reason=REASON, format="json")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    copy = json.loads(answer.get_data(as_text=True))
    assert copy["patient"]["mrn"] == wang.mrn
    assert [event["text"] for call in copy["calls"] for event in call["events"] if event["kind"] == "speech"] == [
        "我要挂心内科"
    ]
    assert copy["calls"][0]["recordings"] == [sid]
    for kind in ("calls", "cases", "texts", "wrap_up_notes", "file_notes", "surveys", "accesses"):
        assert copy[kind], f"the copy has no {kind}"
    assert "另一位患者的提醒" not in answer.get_data(as_text=True)
    assert other.mrn not in answer.get_data(as_text=True)
    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "patient_copy_json")).all()
    assert [(entry.patient_id, entry.reason) for entry in audit] == [(wang.id, REASON)]


def test_the_readable_copy_shows_what_was_said_and_is_not_kept_by_the_browser(client, two_patients):
    wang, _, _ = two_patients
    answer = _post(client, "/supervisor/privacy/copy", mrn=wang.mrn, reason=REASON, format="html")
    page = answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    assert "我要挂心内科" in page and "候诊太久" in page and "王女士，您已预约" in page


def test_a_copy_needs_a_reason(client, db, two_patients):
    wang, _, _ = two_patients
    answer = _post(client, "/supervisor/privacy/copy", mrn=wang.mrn, reason="", format="json")
    assert answer.status_code == 302
    assert "Say why" in client.get(answer.location).get_data(as_text=True)
    assert db.scalar(select(AuditEntry).where(AuditEntry.action.like("patient_copy%"))) is None


def test_erasure_is_refused_while_a_case_is_open_then_done_with_the_recording_deleted(
    client, db, two_patients, media_carrier
):
    wang, other, sid = two_patients
    case = db.scalar(select(ComplaintCase).where(ComplaintCase.patient_id == wang.id))
    case.status, case.closed_at = "open", None
    db.commit()

    refused = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    page = client.get(refused.location).get_data(as_text=True)
    assert "尚未关闭" in page and "is not closed yet" in page
    assert sid in media_carrier.recordings  # nothing was touched
    db.expire_all()
    assert db.scalar(select(CallRecord).where(CallRecord.patient_id == wang.id)) is not None

    case.status, case.closed_at = "closed", OPEN
    db.commit()
    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    page = client.get(done.location).get_data(as_text=True)
    assert "已删除病历号" in page and "Erased the hotline" in page
    assert sid not in media_carrier.recordings
    db.expire_all()
    assert db.scalar(select(CallRecord).where(CallRecord.patient_id == wang.id)) is None
    assert db.scalars(select(CallEvent.kind).where(CallEvent.detail["text"].as_string() == "我要挂心内科")).all() == []
    assert db.scalar(select(SmsMessage.body).where(SmsMessage.patient_id == other.id)) == "另一位患者的提醒"
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.patient_id == wang.id)).all()
    assert "erasure_refused" in actions and "erasure" in actions


def test_every_purge_leaves_an_audit_row_said_by_the_hotline(client, db, settings):
    purge_job.purge(db, lambda: OPEN, settings.retention, "nightly", lambda sid: True, NO_LETTERS)
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "retention_purge"))
    assert entry.staff_id is None and "retention purge" in entry.reason
    page = client.get("/supervisor/audit").get_data(as_text=True)
    assert "retention_purge" in page and "系统 the hotline" in page
    overview = client.get("/supervisor/privacy").get_data(as_text=True)
    assert "完成 done" in overview
    days = retention.dead_letter_days(settings.retention)  # the shortest period: speech's 90 days
    assert f"Dead letters (calls the database refused, not yet written)</td><td>{days}</td>" in overview
    assert "<th>dead_letters</th>" in overview  # what each run deleted of them


def test_agents_cannot_reach_the_privacy_page(app):
    agent = make_staff(app, "agent")
    client = app.test_client()
    log_in(client, agent.username, agent.password)
    assert client.get("/supervisor/privacy").status_code == 403


def test_a_copy_is_given_while_the_records_worker_writes(client, db, two_patients, database_url):
    """The audit row was written in the transaction the request opened to read: on SQLite,
    with the records worker writing, 'database is locked' (the cause of issue 22.19)."""
    from tests.records.helpers import while_another_writes

    wang, _, _ = two_patients
    answer = while_another_writes(
        database_url, lambda: _post(client, "/supervisor/privacy/copy", mrn=wang.mrn, reason=REASON, format="json")
    )
    assert answer.status_code == 200 and wang.mrn in answer.get_data(as_text=True)


def test_the_erasure_deletes_at_the_carrier_while_the_others_write(
    client, db, two_patients, media_carrier, database_url, monkeypatch
):
    """The erasure's deletions at the carrier (seconds each when it is slow) come before its
    write transaction: the others write meanwhile, as they must on SQLite (one writer)."""
    from queueing.retention import delete_recording
    from tests.records.helpers import another_writes

    wang, _, sid = two_patients

    def slow_carrier(client):
        def delete(recording_sid):
            another_writes(database_url, "UPDATE call_records SET duration_seconds = duration_seconds")
            return delete_recording(client)(recording_sid)

        return delete

    monkeypatch.setattr("supervisor.privacy.delete_recording", slow_carrier)
    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    assert "已删除病历号" in client.get(done.location).get_data(as_text=True)
    assert sid not in media_carrier.recordings


# ---- the patient's calls not yet written: the dead letters in Redis --------------------------------

LETTER_RECORDING = "RE" + "5" * 32
LETTER_SPEECH, STRANGERS_SPEECH = "我想问一下化验结果", "另一位来电者的话"


@pytest.fixture
def unwritten(app, db, records_worker, monkeypatch, media_carrier):
    """Two calls the database kept refusing, set aside as dead letters: one matched to a file
    that was removed, then restored from the hospital's system (nobody has retried the letter
    since: its call is not written), with what the caller said and a voicemail at the carrier;
    one matched to a file still gone, with what its caller said.  The restored patient and the
    letters' prefix."""
    hotline = app.extensions["hotline"]
    media_carrier.recordings[LETTER_RECORDING] = Recording(
        LETTER_RECORDING, "CAletter", media_carrier.account_sid, 9, 0.0, media_carrier.recording_url(LETTER_RECORDING)
    )
    voicemail = {"queue": "general", "recording_sid": LETTER_RECORDING, "duration": 9}
    said = ("speech", {"step": "menu.main", "text": LETTER_SPEECH})
    refused_call(hotline, "CAletter", events=(("menu", {"step": "menu.main"}), said, ("voicemail", voicemail)))
    strangers = ("speech", {"step": "menu.main", "text": STRANGERS_SPEECH})
    refused_call(hotline, "CAstranger", events=(strangers,), file=GONE - 1)
    set_aside(app, hotline, records_worker, monkeypatch, "CAletter", "CAstranger")
    restored = Patient(id=GONE, mrn="M00999999", name_zh="王芳", name_en="Wang Fang", family_name_zh="王",
                       family_name_en="Wang", sex="F", birth_date=date(1980, 1, 1))  # fmt: skip
    db.add(restored)
    db.commit()
    return restored, hotline.settings.env.redis_prefix


def _letters(app, prefix: str) -> list[str]:
    return [fields["call_sid"] for _, fields in recording.dead_letters(app.extensions["hotline"].redis, prefix)]


def test_the_copy_gives_the_patients_calls_not_yet_written_with_their_content_and_nothing_of_anothers(
    client, unwritten
):
    """A dead letter holds the call whole (her number, what she said, her voicemail's
    address): the copy listed only when it began and its CallSid."""
    patient, _ = unwritten
    answer = _post(client, "/supervisor/privacy/copy", mrn=patient.mrn, reason=REASON, format="json")
    copy = json.loads(answer.get_data(as_text=True))
    assert copy["calls"] == []  # the database has not written it
    ((letter, opening, events, final),) = [
        (call, *call.pop("parts")) for call in copy["unwritten_calls"]
    ]  # fmt: skip
    assert letter == {"call_sid": "CAletter", "started_at": OPEN.isoformat(), "record": "not yet written"}
    assert opening == {
        "part": "opening",
        "content": {"direction": "inbound", "from_number": MS_WANG_PHONE, "started_at": OPEN.isoformat(),
                    "language": "zh"},
    }  # fmt: skip
    assert events["part"] == "events" and events["content"]["recordings"] == [LETTER_RECORDING]
    assert [(event["kind"], event.get("text")) for event in events["content"]["events"]] == [
        ("menu", None), ("speech", LETTER_SPEECH), ("voicemail", None)
    ]  # fmt: skip
    assert final == {
        "part": "final status",
        "content": {"status": "completed", "at": OPEN.isoformat(), "duration_seconds": 20},
    }
    assert "CAstranger" not in answer.get_data(as_text=True) and STRANGERS_SPEECH not in answer.get_data(as_text=True)

    page = _post(client, "/supervisor/privacy/copy", mrn=patient.mrn, reason=REASON, format="html")
    text = page.get_data(as_text=True)
    assert "尚未写入的通话 Calls not yet written (1)" in text and "CAletter" in text and "CAstranger" not in text
    for said in ("尚未写入 not yet written", "开头 opening", "事件 events", "最终状态 final status", MS_WANG_PHONE,
                 f"“{LETTER_SPEECH}”", LETTER_RECORDING):  # fmt: skip
        assert said in text, said
    assert STRANGERS_SPEECH not in text


def test_erasure_deletes_the_patients_dead_letters_their_recordings_first_at_the_carrier(
    app, client, db, unwritten, media_carrier, monkeypatch
):
    patient, prefix = unwritten
    with monkeypatch.context() as carrier_keeps:
        carrier_keeps.setattr("supervisor.privacy.delete_recording", lambda client: lambda sid: False)
        refused = _post(client, "/supervisor/privacy/erase", mrn=patient.mrn, reason=REASON, confirm="yes")
    assert "The carrier did not delete 1 recordings" in client.get(refused.location).get_data(as_text=True)
    assert _letters(app, prefix) == ["CAletter", "CAstranger"]  # nothing was touched

    done = _post(client, "/supervisor/privacy/erase", mrn=patient.mrn, reason=REASON, confirm="yes")
    page = client.get(done.location).get_data(as_text=True)
    assert "data for M00999999: dead_letters 1." in page
    assert LETTER_RECORDING not in media_carrier.recordings
    assert _letters(app, prefix) == ["CAstranger"]  # another patient's letter stays
    copy = _post(client, "/supervisor/privacy/copy", mrn=patient.mrn, reason=REASON, format="json")
    assert json.loads(copy.get_data(as_text=True))["unwritten_calls"] == []


def test_a_retry_does_not_write_back_a_letter_the_patients_erasure_deleted_after_it_listed_them(
    app, client, db, unwritten, monkeypatch
):
    """The operator's `--retry` lists the letters, then writes each under the letters' lock.
    A supervisor erasing the patient in between deletes the letter and commits: the retry,
    reading it again under the lock, does not bring the erased call back."""
    patient, prefix = unwritten
    take_lock, erased = recording.letters_lock, []

    def erasure_first(*args, **kwargs):
        if not erased:  # the retry has listed the letters and is about to write the first
            erased.append("under way")  # (the erasure takes the lock through here too)
            erased[0] = _post(client, "/supervisor/privacy/erase", mrn=patient.mrn, reason=REASON, confirm="yes")
            assert "CAletter" not in _letters(app, prefix)
        return take_lock(*args, **kwargs)

    monkeypatch.setattr(recording, "letters_lock", erasure_first)
    out = cli(app, "--retry", "CAletter")
    db.rollback()
    assert calls.find_call(db, "CAletter") is None, out.output
    assert "data for M00999999: dead_letters 1." in client.get(erased[0].location).get_data(as_text=True)


def test_an_erasure_while_a_retry_writes_a_letter_is_refused_and_touches_nothing(
    app, client, db, unwritten, monkeypatch
):
    patient, prefix = unwritten
    monkeypatch.setattr("supervisor.privacy.ERASURE_WAITS_SECONDS", 0.1)
    hotline = app.extensions["hotline"]
    with recording.letters_lock(hotline.redis, prefix):  # a retry's write under way
        refused = _post(client, "/supervisor/privacy/erase", mrn=patient.mrn, reason=REASON, confirm="yes")
    page = client.get(refused.location).get_data(as_text=True)
    assert "are being written or purged right now: try again in a minute" in page
    assert _letters(app, prefix) == ["CAletter", "CAstranger"]
    done = _post(client, "/supervisor/privacy/erase", mrn=patient.mrn, reason=REASON, confirm="yes")
    assert "dead_letters 1." in client.get(done.location).get_data(as_text=True)


def test_a_letter_without_its_opening_is_the_patients_whose_number_its_final_status_gives(
    app, client, db, two_patients
):
    """A letter set aside before letters kept the call, its Redis keys since expired: only its
    final status is left, whose caller the reconstruction sweep would have matched, as here."""
    wang, _, _ = two_patients
    hotline = app.extensions["hotline"]
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    status = calls.StatusCallback("CAold", "completed", 5, 20, OPEN, from_number=MS_WANG_PHONE)
    hotline.redis.xadd(keys.dead_letters, {"call_sid": "CAold", "status": json.dumps(status.to_json()), "attempts": 5})
    answer = _post(client, "/supervisor/privacy/copy", mrn=wang.mrn, reason=REASON, format="json")
    began = (OPEN - timedelta(seconds=20)).isoformat()
    final = {"status": "completed", "at": OPEN.isoformat(), "duration_seconds": 20, "from_number": MS_WANG_PHONE}
    assert json.loads(answer.get_data(as_text=True))["unwritten_calls"] == [
        {
            "call_sid": "CAold",
            "started_at": began,
            "record": "not yet written",
            "parts": [{"part": "final status", "content": final}],
        }
    ]
    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    assert "dead_letters 1" in client.get(done.location).get_data(as_text=True)
    assert _letters(app, keys.prefix) == []


CUT_SHORT = '{"call_sid": "CA'
A_MENU = json.dumps({"at": OPEN.isoformat(), "kind": "menu", "detail": {"step": "menu.main"}})
UNREADABLE_LETTERS = {
    # Read part by part: the parts that can be read given, beside those that cannot.
    "an event and the final status cut short": (
        {"events": json.dumps([A_MENU, '{"at": "2026']), "status": CUT_SHORT},
        [("events", ["menu"]), ("events", "cannot be read"), ("final status", "cannot be read")],
    ),
    "events not a list": ({"events": "7"}, [("events", "cannot be read")]),
    # Read whole, as a retry would, yet not what the copy can say.
    "an event's detail not an object": (
        {"events": json.dumps([json.dumps({"at": OPEN.isoformat(), "kind": "menu", "detail": 7})])},
        [("events", "cannot be read")],
    ),
}


@pytest.mark.parametrize("letter, parts", UNREADABLE_LETTERS.values(), ids=UNREADABLE_LETTERS.keys())
def test_a_letter_of_the_patients_whose_parts_cannot_be_read_is_listed_as_such_and_the_copy_given(
    app, client, two_patients, letter, parts
):
    """A letter is set aside because the database refused its call: what it holds may be
    what this version cannot read.  Its opening names her (so it is hers): what can be read
    is given, the rest said to be unreadable, the rest of the copy given."""
    wang, _, _ = two_patients
    hotline = app.extensions["hotline"]
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    opened = calls.CallOpened(
        "CAunreadable", MS_WANG_PHONE, "", calls.CallerMatch(MS_WANG_PHONE, (wang.id,)), "zh", OPEN
    )
    hotline.redis.xadd(
        keys.dead_letters, {"call_sid": "CAunreadable", "opened": json.dumps(opened.to_json()), "attempts": 5, **letter}
    )
    (call,) = json.loads(_copy(client, wang, "json"))["unwritten_calls"]
    opening, *rest = [(part["part"], part["content"]) for part in call["parts"]]
    assert opening == ("opening", {"direction": "inbound", "from_number": MS_WANG_PHONE,
                                   "started_at": OPEN.isoformat(), "language": "zh"})  # fmt: skip
    kinds = [(part, said if said == "cannot be read" else [e["kind"] for e in said["events"]]) for part, said in rest]
    assert kinds == parts

    page = _copy(client, wang, "html")
    assert "Calls not yet written (1)" in page and "CAunreadable" in page and "无法读取 cannot be read" in page
    assert "我要挂心内科" in page  # the rest of the copy is given


def test_without_redis_neither_copy_nor_erasure_is_given_they_would_leave_the_letters_out(
    app, client, db, two_patients, media_carrier, monkeypatch
):
    wang, _, sid = two_patients
    token = csrf_token(client.get("/supervisor/privacy").get_data(as_text=True))
    dead = redis_lib.Redis(port=1, decode_responses=True, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 1))
    monkeypatch.setattr(app.extensions["hotline"], "redis", dead)  # nothing listens there
    form = {"csrf_token": token, "mrn": wang.mrn, "reason": REASON}
    copy = client.post("/supervisor/privacy/copy", data={**form, "format": "json"})
    erased = client.post("/supervisor/privacy/erase", data={**form, "confirm": "yes"})
    assert copy.status_code == erased.status_code == 302
    page = client.get(erased.location).get_data(as_text=True)
    assert page.count("the calls not yet written (dead letters) cannot be read") == 2
    assert sid in media_carrier.recordings  # nothing was touched
    db.expire_all()
    assert db.scalar(select(CallRecord).where(CallRecord.patient_id == wang.id)) is not None
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.patient_id == wang.id)).all()
    assert "erasure_refused" in actions and "erasure" not in actions and "patient_copy_json" not in actions


# ---- the patient's calls still in Redis: going on, or handed over and not yet drained -------------


def test_an_erasure_while_the_patients_call_waits_to_be_written_is_refused_then_done_once_it_is(
    app, client, db, two_patients, records_worker, media_carrier
):
    """A call of the patient ended and was handed over (an entry in the finished calls' stream,
    its opening and events in Redis), and the drain has not written it yet.  An erasure then
    would be said done, and the drain would write the call afterwards with the patient's number
    and words.  It is refused, touching nothing, until the call is written; then it erases it."""
    from tests.records.test_pipeline import keep_call

    wang, _, sid = two_patients
    keep_call(app, "CAjustnow")  # Ms Wang's number, matched to her file
    status(app, "CAjustnow", "completed", 5, duration=20)  # handed over; the drain job waits

    refused = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    page = client.get(refused.location).get_data(as_text=True)
    assert "通话记录尚在写入" in page and "still being written: try again in a minute" in page
    assert sid in media_carrier.recordings  # nothing was touched
    copy = _post(client, "/supervisor/privacy/copy", mrn=wang.mrn, reason=REASON, format="json")
    assert {"call_sid": "CAjustnow", "started_at": (OPEN - timedelta(seconds=20)).isoformat(),
            "record": "being written"} in json.loads(copy.get_data(as_text=True))["unwritten_calls"]  # fmt: skip

    records_worker.work()  # the drain writes it
    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    assert "已删除病历号" in client.get(done.location).get_data(as_text=True)
    db.expire_all()
    record = calls.find_call(db, "CAjustnow")
    assert (record.patient_id, record.from_number) == (None, retention.PURGED)
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.patient_id == wang.id)).all()
    assert actions.count("erasure_refused") == 1 and "erasure" in actions


def test_an_erasure_while_the_patient_is_on_a_call_is_refused(app, client, db, two_patients):
    """A call going on (its opening in Redis, no final status yet) is written once it ends."""
    from tests.records.test_pipeline import keep_call

    wang, _, _ = two_patients
    keep_call(app, "CAongoing")
    refused = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    assert "still being written" in client.get(refused.location).get_data(as_text=True)
    db.expire_all()
    assert db.scalar(select(CallRecord).where(CallRecord.patient_id == wang.id)) is not None


def test_another_patients_call_waiting_to_be_written_does_not_hold_back_an_erasure(app, client, db, two_patients):
    from tests.records.test_pipeline import keep_call

    wang, other, _ = two_patients
    store = app.extensions["hotline"].calls
    opened = calls.CallOpened(
        "CAother", "13900000000", "", calls.CallerMatch("+8613900000000", (other.id,)), "zh", OPEN
    )
    store.add_events("CAother", OPEN, [("menu", {"step": "menu.main"})], opened=opened)
    status(app, "CAother", "completed", 5, duration=20)
    keep_call(app, "CAold")  # Ms Wang's, whose Redis keys...
    store.redis.delete(store.keys.open_calls)  # ...are no longer a call going on
    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    assert "已删除病历号" in client.get(done.location).get_data(as_text=True)


# ---- the patient's calls' parts spooled in the database while Redis was away ----------------------


def _spool(db, wang, other, *, aside: bool):
    """Spool rows of Ms Wang's calls: a part of her written call (its CallSid), the opening of
    a call not written whose caller match names her file, a final status alone from her
    number (its opening lost), a voicemail of that call whose address is in the row alone;
    and another patient's opening.  All set aside (`aside`), or Ms Wang's written call's part
    still awaiting its replay."""
    from tests.records.test_retention import _spooled, _voicemail

    begin_write(db)
    written = _spooled(db, f"CA{41:032d}", OPEN, job="apply_status", set_aside=aside)
    opening = calls.CallOpened("CAspooled", "13800138000", "", calls.CallerMatch(MS_WANG_PHONE, (wang.id,)), "zh", OPEN)
    _spooled(db, "CAspooled", OPEN, payload=opening.to_json(), set_aside=True)
    final = calls.StatusCallback("CAlostopening", "completed", 5, 20, OPEN, from_number=MS_WANG_PHONE)
    _spooled(db, "CAlostopening", OPEN, job="finish", payload=final.to_json(), set_aside=True)
    voicemail = _voicemail("CAlostopening", OPEN, SPOOLED_RECORDING)
    _spooled(db, "CAlostopening", OPEN, job="write_events", payload=voicemail, set_aside=True)
    theirs = calls.CallOpened(
        "CAother", "13900000000", "", calls.CallerMatch("+8613900000000", (other.id,)), "zh", OPEN
    )
    _spooled(db, "CAother", OPEN, payload=theirs.to_json(), set_aside=True)
    db.commit()
    return written.id


SPOOLED_RECORDING = "RE" + "6" * 32


def _spool_rows(db) -> list[str]:
    db.rollback()  # a new snapshot (SQLite): the test's session read before the erasure
    return db.scalars(select(RecordSpool.call_sid).order_by(RecordSpool.id)).all()


def test_erasure_deletes_the_patients_spool_rows_set_aside_their_recordings_first_at_the_carrier(
    client, db, two_patients, media_carrier
):
    """Spool rows set aside (their replay failed five times) stayed for ever, the patient's
    number, file and voicemail in them, whatever the erasure said."""
    wang, other, _ = two_patients
    media_carrier.recordings[SPOOLED_RECORDING] = Recording(
        SPOOLED_RECORDING, "CAlostopening", media_carrier.account_sid, 9, 0.0,
        media_carrier.recording_url(SPOOLED_RECORDING),
    )  # fmt: skip
    _spool(db, wang, other, aside=True)

    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    page = client.get(done.location).get_data(as_text=True)
    assert "已删除病历号" in page and "spool 4" in page
    assert SPOOLED_RECORDING not in media_carrier.recordings
    # Her written call's part, the opening naming her, the final status from her number and
    # its voicemail: another patient's row stays.
    assert _spool_rows(db) == ["CAother"]


def test_erasure_waits_for_the_patients_spool_rows_still_to_be_replayed(client, db, two_patients, media_carrier):
    """A row awaiting its replay is written within a minute (then erased with the written
    rows) or set aside after five replays (then deleted): deleted now, the call's record
    would lose what the reports count of it."""
    wang, other, sid = two_patients
    waiting = _spool(db, wang, other, aside=False)
    refused = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    page = client.get(refused.location).get_data(as_text=True)
    assert "尚待写入，请一分钟后重试" in page and "is still to be written: try again in a minute" in page
    assert sid in media_carrier.recordings  # nothing was touched
    assert len(_spool_rows(db)) == 5
    assert db.scalar(select(CallRecord).where(CallRecord.patient_id == wang.id)) is not None
    with pytest.raises(ValueError, match="erasure refused"):
        privacy.erase(db, wang)
    db.rollback()

    begin_write(db)
    db.get(RecordSpool, waiting).attempts = spool.SET_ASIDE_AFTER  # its fifth replay failed
    db.commit()
    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    assert "spool 4" in client.get(done.location).get_data(as_text=True)
    assert _spool_rows(db) == ["CAother"]


def test_a_spooled_part_that_arrives_during_the_erasure_is_a_refusal_not_an_error(
    client, db, two_patients, media_carrier, monkeypatch
):
    """Redis goes away for a moment while the supervisor erases: a part of her call is
    spooled after the checks and before the erasure's write.  The erasure checks again in its
    write and says so in both languages (it raised, a 500), with nothing erased."""
    import supervisor.privacy

    wang, other, sid = two_patients
    _spool(db, wang, other, aside=False)
    monkeypatch.setattr(supervisor.privacy, "_refusal", lambda db, patient, unwritten: None)  # checked before it came
    refused = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    assert refused.status_code == 302
    page = client.get(refused.location).get_data(as_text=True)
    assert "尚待写入，请一分钟后重试" in page and "is still to be written: try again in a minute" in page
    assert len(_spool_rows(db)) == 5
    assert db.scalar(select(CallRecord).where(CallRecord.patient_id == wang.id)) is not None


def test_her_spool_rows_are_found_in_a_spool_larger_than_a_statement_takes_parameters(db, two_patients):
    """A day's outage spools tens of thousands of calls: finding hers must not put every
    spooled CallSid in one statement (PostgreSQL takes 65,535 parameters, SQLite 32,766 as
    built by default)."""
    from sqlalchemy import insert

    wang, other, _ = two_patients
    _spool(db, wang, other, aside=True)
    begin_write(db)
    db.execute(
        insert(RecordSpool),
        [
            {"created_at": OPEN, "call_sid": f"CAoutage{n:06d}", "job": "write_events", "payload": {}}
            for n in range(66_000)
        ],
    )
    db.commit()
    assert {row.call_sid for row in privacy.spooled(db, wang)} == {f"CA{41:032d}", "CAspooled", "CAlostopening"}


def _copy(client, patient, kind: str) -> str:
    answer = _post(client, "/supervisor/privacy/copy", mrn=patient.mrn, reason=REASON, format=kind)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_the_copy_lists_the_patients_spool_rows_with_their_content_and_nothing_of_anothers(client, db, two_patients):
    """The parts of her calls kept in the database while Redis was away (her number, her
    file, her voicemail's address) were held about her and missing from her copy."""
    wang, other, _ = two_patients
    _spool(db, wang, other, aside=False)
    answer = _copy(client, wang, "json")
    parts = json.loads(answer)["spooled_parts"]
    assert {datetime.fromisoformat(part.pop("spooled_at")) for part in parts} == {OPEN}  # when each was spooled
    assert parts == [
        # Her written call's status part: spooled with its CallSid alone, as no replay could read it.
        {"call_sid": f"CA{41:032d}", "part": "status", "record": "still to be written", "content": "cannot be read"},
        {
            "call_sid": "CAspooled",
            "part": "opening",
            "record": "set aside",
            "content": {
                "direction": "inbound",
                "from_number": MS_WANG_PHONE,
                "started_at": OPEN.isoformat(),
                "language": "zh",
            },
        },
        {
            "call_sid": "CAlostopening",
            "part": "final status",
            "record": "set aside",
            "content": {
                "status": "completed",
                "at": OPEN.isoformat(),
                "duration_seconds": 20,
                "from_number": MS_WANG_PHONE,
            },
        },
        {
            "call_sid": "CAlostopening",
            "part": "events",
            "record": "set aside",
            "content": {
                "events": [
                    {
                        "at": OPEN.isoformat(),
                        "kind": "voicemail",
                        "queue": "general",
                        "recording_sid": SPOOLED_RECORDING,
                    }
                ],
                "recordings": [SPOOLED_RECORDING],
            },
        },
    ]
    assert "CAother" not in answer and "+8613900000000" not in answer

    page = _copy(client, wang, "html")
    assert "暂存的通话记录片段 Spooled call-record parts (4)" in page
    for said in ("开头 opening", "最终状态 final status", "事件 events", "尚待写入 still to be written",
                 "无法写入，已搁置 set aside", "无法读取 cannot be read", SPOOLED_RECORDING, MS_WANG_PHONE):  # fmt: skip
        assert said in page, said
    assert "CAother" not in page


UNREADABLE_PAYLOADS = {
    "payload cut short": '{"call_sid": "CA',
    "payload not an object": [1, 2],
    "an event cut short": {"call_sid": f"CA{41:032d}", "events": [[None, "2026"]]},
    "an event's detail not an object": {"call_sid": f"CA{41:032d}", "events": [[None, OPEN.isoformat(), "menu", 7]]},
}


@pytest.mark.parametrize("payload", UNREADABLE_PAYLOADS.values(), ids=UNREADABLE_PAYLOADS.keys())
def test_a_spool_row_of_the_patients_that_cannot_be_read_is_listed_as_such_and_the_copy_given(
    client, db, two_patients, payload
):
    wang, _, _ = two_patients
    if isinstance(payload, str) and db.get_bind().dialect.name == "postgresql":
        pytest.skip("PostgreSQL's JSON column refuses a payload it cannot decode")
    spool_payload(db, f"CA{41:032d}", "write_events", payload, OPEN)

    (part,) = json.loads(_copy(client, wang, "json"))["spooled_parts"]
    assert (part["call_sid"], part["part"], part["content"]) == (f"CA{41:032d}", "events", "cannot be read")
    page = _copy(client, wang, "html")
    assert "Spooled call-record parts (1)" in page and "无法读取 cannot be read" in page
    assert "我要挂心内科" in page  # the rest of the copy is given


# A letter without its opening, whose final status holds what the database may have refused:
# (what its status says instead of a call's, whether it is still hers).
ODD_FINAL_STATUSES = {
    "her call's duration as text": ({"duration_seconds": "20"}, True),
    "her call's duration past any date": ({"duration_seconds": 10**12}, True),
    "a caller's number not text": ({"from_number": 8613800138000}, False),
}


@pytest.mark.parametrize("odd, hers", ODD_FINAL_STATUSES.values(), ids=ODD_FINAL_STATUSES.keys())
def test_a_letter_whose_final_status_holds_what_no_call_does_takes_neither_copy_nor_erasure_down(
    app, client, two_patients, odd, hers
):
    """When her call began was its final status's time less its duration, a duration not a
    number (or one no date can be taken from) a 500 for her copy; whose a letter is, a caller's
    number not text, a 500 for every patient's copy and erasure, for as long as the letter
    stayed (the purge's period).  Such a letter begins when its final status came, and a
    number not text names no one."""
    wang, _, _ = two_patients
    hotline = app.extensions["hotline"]
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    final = calls.StatusCallback("CAodd", "completed", 5, 20, OPEN, from_number=MS_WANG_PHONE).to_json() | odd
    hotline.redis.xadd(keys.dead_letters, {"call_sid": "CAodd", "status": json.dumps(final), "attempts": 5})

    letters = json.loads(_copy(client, wang, "json"))["unwritten_calls"]

    assert [(call["call_sid"], call["started_at"]) for call in letters] == (
        [("CAodd", OPEN.isoformat())] if hers else []
    )
    assert "Calls not yet written" in _copy(client, wang, "html")
    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")
    assert f"data for {wang.mrn}: call_events 3" in client.get(done.location).get_data(as_text=True)
    assert _letters(app, keys.prefix) == ([] if hers else ["CAodd"])


def test_a_part_spooled_while_the_erasure_deletes_her_letters_does_not_leave_them_deleted_and_her_rows_kept(
    app, client, db, two_patients, database_url, monkeypatch
):
    """On PostgreSQL the erasure's write holds no lock a webhook's spool waits for: a part of
    her call spooled between the erasure's second check and its `privacy.erase` (the dead
    letters deleted in Redis meanwhile) made `erase` raise: a 500, her letters gone, her
    rows kept.  The rows are erased before the letters, in the same transaction."""
    if db.get_bind().dialect.name == "sqlite":
        pytest.skip("SQLite's write lock keeps the webhook's spool out until the erasure commits")
    wang, _, _ = two_patients
    hotline = app.extensions["hotline"]
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    final = calls.StatusCallback("CAold", "completed", 5, 20, OPEN, from_number=MS_WANG_PHONE)
    hotline.redis.xadd(keys.dead_letters, {"call_sid": "CAold", "status": json.dumps(final.to_json()), "attempts": 5})
    erase_letters = recording.erase_dead_letters

    def spooled_meanwhile(*args):
        another_writes(
            database_url,
            "INSERT INTO record_spool (created_at, call_sid, job, payload, attempts, error)"
            f" VALUES (now(), 'CA{41:032d}', 'apply_status', '{{}}', 0, '')",
        )
        return erase_letters(*args)

    monkeypatch.setattr(recording, "erase_dead_letters", spooled_meanwhile)
    done = _post(client, "/supervisor/privacy/erase", mrn=wang.mrn, reason=REASON, confirm="yes")

    assert done.status_code == 302
    assert "dead_letters 1" in client.get(done.location).get_data(as_text=True)
    assert _letters(app, keys.prefix) == []
    db.expire_all()
    assert db.scalar(select(CallRecord).where(CallRecord.patient_id == wang.id)) is None


def _others_spooled_openings(db, other, count: int) -> None:
    """A day's outage: `count` calls of another patient's, their openings spooled."""
    from sqlalchemy import insert

    begin_write(db)
    opening = calls.CallOpened("", "13900000000", "", calls.CallerMatch("+8613900000000", (other.id,)), "zh", OPEN)
    db.execute(
        insert(RecordSpool),
        [
            {"created_at": OPEN, "call_sid": f"CAoutage{n:06d}", "job": "open_call",
             "payload": opening.to_json() | {"call_sid": f"CAoutage{n:06d}"}}
            for n in range(count)
        ],
    )  # fmt: skip
    db.commit()


def _statements(db):
    """The SQL statements the session's engine runs (appended to the list returned)."""
    from sqlalchemy import event

    run: list[str] = []
    event.listen(db.get_bind(), "before_cursor_execute", lambda conn, cursor, sql, *rest: run.append(sql))
    return run


def test_finding_her_spool_rows_reads_the_others_openings_at_once_not_a_statement_each(db, two_patients):
    """Each other call's spooled opening was read by a statement of its own (the payload
    deferred, loaded row by row): with a day's outage spooled (tens of thousands of calls)
    her copy took minutes, her erasure (which finds her rows five times) longer."""
    wang, other, _ = two_patients
    _spool(db, wang, other, aside=True)
    _others_spooled_openings(db, other, 200)
    run = _statements(db)

    assert {row.call_sid for row in privacy.spooled(db, wang)} == {f"CA{41:032d}", "CAspooled", "CAlostopening"}
    assert len(run) < 20, len(run)


def test_her_copy_is_given_while_the_replay_applies_the_others_spooled_parts(client, db, two_patients, database_url):
    """After an outage the replay applies (and deletes) the spool's rows while a supervisor
    asks for a copy.  On PostgreSQL each statement sees the replay's commits: a row listed,
    then applied before its deferred payload was loaded, raised ObjectDeletedError, a 500."""
    from sqlalchemy import event

    wang, other, _ = two_patients
    _others_spooled_openings(db, other, 10)
    engine, replayed = db.get_bind(), []

    def replay_meanwhile(conn, cursor, statement, *rest):
        if not replayed and statement.startswith("SELECT record_spool.id, record_spool.created_at"):
            replayed.append(statement)
            another_writes(database_url, "DELETE FROM record_spool WHERE call_sid LIKE 'CAoutage%'")

    event.listen(engine, "after_cursor_execute", replay_meanwhile)
    try:
        copy = json.loads(_copy(client, wang, "json"))
    finally:
        event.remove(engine, "after_cursor_execute", replay_meanwhile)
    assert replayed and copy["spooled_parts"] == []
