"""A patient's copy and erasure, through the supervisor's page: every kind of row for the
patient and nothing of another; erasure refused while a case is open; recordings deleted at
the carrier; every copy, erasure and purge audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from emulator import Recording
from queueing import retention as purge_job
from records import retention
from records.models import AuditEntry, CallEvent, CallRecord, ComplaintCase, Patient, SmsMessage
from tests.conftest import OPEN
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
