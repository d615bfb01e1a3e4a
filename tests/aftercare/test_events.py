"""Discharges and results from the hospital's systems: the JSON API (a token,
4xx naming the wrong field, all or nothing, idempotent by event id) and the
CLI import; results-ready texts within the hour, their timing and misses."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app import create_app
from queueing import aftercare as jobs
from records import aftercare
from records.aftercare_events import ResultEvent, parse_batch
from records.db import begin_write
from records.models import Discharge, ResultReady, SmsMessage
from tests.aftercare.conftest import MS_WANG_PHONE, TOKEN
from tests.conftest import OPEN

DISCHARGE = {
    "event_id": "ADT-1001",
    "mrn": "M00000001",
    "ward": "心内科一病区",
    "discharge_date": "2026-11-20",
    "attending_doctor": "张伟",
}


def post(app, path: str, body, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().post(path, json=body, headers=headers)


def count(db, model) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(model))


def problems(response) -> dict[str, str]:
    return {p["field"]: p["message"] for p in response.get_json()["problems"]}


def test_discharges_are_stored_once_per_event_id(app, db):
    second = {**DISCHARGE, "event_id": "ADT-1002", "mrn": "m00000002", "ward": "骨科病区"}
    response = post(app, "/api/v1/discharges", {"events": [DISCHARGE, second]})
    assert response.status_code == 201 and response.get_json() == {"stored": 2, "duplicates": 0}
    again = post(app, "/api/v1/discharges", DISCHARGE)  # the same event, sent again alone
    assert again.status_code == 200 and again.get_json() == {"stored": 0, "duplicates": 1}
    stored = db.scalars(select(Discharge).order_by(Discharge.source_event_id)).all()
    assert [(d.source_event_id, d.patient.mrn, d.ward) for d in stored] == [
        ("ADT-1001", "M00000001", "心内科一病区"),
        ("ADT-1002", "M00000002", "骨科病区"),
    ]
    assert str(stored[0].discharged_on) == "2026-11-20" and stored[0].received_at == OPEN


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"events": [DISCHARGE, {**DISCHARGE, "event_id": "X2", "ward": ""}]}, "events[1].ward", "at least 1"),
        (
            {"events": [DISCHARGE, {**DISCHARGE, "event_id": "X2", "discharge_date": "2026-02-30"}]},
            "events[1].discharge_date",
            "2026-02-30",
        ),
        (
            {"events": [{**DISCHARGE, "mrn": "M09999999"}, {**DISCHARGE, "event_id": "X2"}]},
            "events[0].mrn",
            "no patient",
        ),
        (
            {
                "events": [
                    DISCHARGE,
                    {k: v for k, v in DISCHARGE.items() if k != "attending_doctor"} | {"event_id": "X2"},
                ]
            },
            "events[1].attending_doctor",
            "required",
        ),
        ({"events": [DISCHARGE, DISCHARGE]}, "events[1].event_id", "same id as event 0"),
        ({**DISCHARGE, "bed": "12"}, "bed", "unknown field"),
        ({"events": []}, "events", "at least one"),
        ("not an object", "body", "expected a JSON object"),
    ],
)
def test_a_bad_batch_is_refused_naming_the_field_and_nothing_is_stored(app, db, body, field, says):
    response = post(app, "/api/v1/discharges", body)
    assert response.status_code in (400, 422)
    found = problems(response)
    assert field in found and says in found[field]
    assert count(db, Discharge) == 0


def test_the_api_wants_a_known_token_and_json(app, db):
    assert post(app, "/api/v1/discharges", DISCHARGE, token=None).status_code == 401
    wrong = post(app, "/api/v1/discharges", DISCHARGE, token="guess")
    assert wrong.status_code == 401 and "Authorization" in problems(wrong)
    assert post(app, "/api/v1/discharges", DISCHARGE, token="other-system-token").status_code == 201
    raw = app.test_client().post(
        "/api/v1/discharges",
        data="{oops",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert raw.status_code == 400 and "body" in problems(raw)
    form = app.test_client().post("/api/v1/results", data={"x": "1"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert form.status_code == 400 and "Content-Type" in problems(form)
    assert count(db, Discharge) == 1


# ---- results-ready notices -------------------------------------------------------------------------


def result_event(event_id: str, ready_at, mrn: str = "M00000001") -> dict:
    return {"event_id": event_id, "mrn": mrn, "test": "血常规", "ready_at": ready_at.isoformat()}


def test_a_results_text_says_only_that_they_are_ready_and_records_how_fast(app, db, worker, carrier):
    ready = OPEN - timedelta(minutes=12)
    response = post(app, "/api/v1/results", result_event("LIS-1", ready.replace(tzinfo=None)))  # hospital time
    assert response.status_code == 201
    worker.work()
    [message] = carrier.messages
    assert message.to == MS_WANG_PHONE
    assert "王女士" in message.body and "检查结果已出" in message.body and "自助机" in message.body
    assert "血常规" not in message.body and "秀英" not in message.body  # never what was tested, nor the results
    db.rollback()
    found = db.scalar(select(ResultReady))
    assert found.ready_at == ready and found.due_at == ready + timedelta(hours=1)
    assert (found.notice_status, found.notified_at, found.notice_seconds) == ("sent", OPEN, 12 * 60)
    sms = db.get(SmsMessage, found.sms_message_id)
    assert (sms.kind, sms.status) == ("results_ready", "sent")
    report = aftercare.notice_report(db, since=OPEN - timedelta(days=1), until=OPEN, now=OPEN)
    assert (report.total, report.on_time, report.late, report.missed) == (1, 1, 0, [])
    assert post(app, "/api/v1/results", result_event("LIS-1", ready)).get_json() == {"stored": 0, "duplicates": 1}
    worker.work()
    assert len(carrier.messages) == 1  # posting it again texts nobody again


def test_late_and_overdue_notices_are_reported_as_missed(app, db, worker, carrier, clock):
    post(app, "/api/v1/results", result_event("LIS-LATE", OPEN - timedelta(minutes=90)))
    worker.work()  # sent, but 90 minutes after the results were ready
    clock.now = OPEN + timedelta(minutes=5)
    # The second one's job is lost (as if Redis was down when it was posted).
    begin_write(db)
    lost = parse_batch(ResultEvent, result_event("LIS-LOST", OPEN - timedelta(minutes=70), mrn="M00000002"))
    aftercare.store_results(db, lost, OPEN, zone=OPEN.tzinfo, within=timedelta(hours=1))
    db.commit()
    report = aftercare.notice_report(db, since=OPEN - timedelta(days=1), until=clock.now, now=clock.now)
    assert (report.total, report.on_time, report.late, report.overdue) == (2, 0, 1, 1)
    assert [r.source_event_id for r in report.missed] == ["LIS-LATE", "LIS-LOST"]
    assert report.slowest_seconds == 90 * 60
    # The sweeper sends the lost one (late) and warns.
    db.rollback()
    assert "1 notices queued again" in jobs.sweep_aftercare()
    worker.work()
    assert len(carrier.messages) == 2
    db.rollback()
    lost = db.scalar(select(ResultReady).where(ResultReady.source_event_id == "LIS-LOST"))
    assert lost.notice_status == "sent" and lost.notice_seconds == 75 * 60


def test_an_opted_out_patient_gets_no_results_text(app, db, worker, carrier):
    begin_write(db)
    patient = aftercare.patient_by_mrn(db, "M00000001")
    aftercare.opt_out(db, patient.id, channel="sms", now=OPEN)
    db.commit()
    post(app, "/api/v1/results", result_event("LIS-9", OPEN))
    worker.work()
    assert carrier.messages == []
    db.rollback()
    assert db.scalar(select(ResultReady.notice_status)) == "opted_out"


# ---- the CLI import ---------------------------------------------------------------------------------


def test_the_cli_imports_a_file_with_a_progress_bar_all_or_nothing(app, db, tmp_path):
    runner = app.test_cli_runner()
    good = tmp_path / "discharges.json"
    good.write_text(json.dumps([{**DISCHARGE, "event_id": f"ADT-{i}"} for i in range(1200)]), encoding="utf-8")
    result = runner.invoke(args=["aftercare", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "importing discharges" in result.output and "1200 discharges imported, 0 already there" in result.output
    assert count(db, Discharge) == 1200

    bad = tmp_path / "more-discharges.csv"
    rows = ["event_id,mrn,ward,discharge_date,attending_doctor", "N-1,M00000001,骨科病区,2026-11-21,李医生"]
    rows += [f"N-{i},M00000002,骨科病区,2026-11-21,李医生" for i in range(2, 800)]
    rows += ["N-800,M07777777,骨科病区,2026-11-21,李医生"]
    bad.write_text("\n".join(rows), encoding="utf-8")
    result = runner.invoke(args=["aftercare", "import", str(bad)])
    assert result.exit_code != 0
    assert "more-discharges.csv: events[799].mrn: no patient with the record number 'M07777777'" in result.output
    assert "nothing was imported" in result.output
    assert count(db, Discharge) == 1200


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.sampled_from(["M00000001", "2026-11-20"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*DISCHARGE, "events", "test", "ready_at", "x"]), children, max_size=6)
    ),
    max_leaves=20,
)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON, path=st.sampled_from(["/api/v1/discharges", "/api/v1/results"]))
def test_whatever_is_posted_the_api_answers_json_and_never_half_stores(app, db, body, path):
    before = count(db, Discharge), count(db, ResultReady)
    response = post(app, path, body)
    assert response.status_code in (200, 201, 400, 422), response.get_data(as_text=True)
    assert response.is_json
    if response.status_code >= 400:
        assert response.get_json()["problems"] and (count(db, Discharge), count(db, ResultReady)) == before


def test_a_batch_too_large_is_refused_whole(app, db):
    response = post(app, "/api/v1/discharges", [{**DISCHARGE, "event_id": f"E{i}"} for i in range(5001)])
    assert response.status_code == 422 and "at most 5000" in problems(response)["events"]
    assert count(db, Discharge) == 0


def test_without_any_token_configured_the_api_is_off(settings, clock):
    env = settings.env.model_copy(update={"aftercare_api_tokens": None})
    app = create_app(settings.model_copy(update={"env": env}), clock=clock)
    try:
        response = post(app, "/api/v1/discharges", DISCHARGE)
        assert response.status_code == 401 and "the API is off" in problems(response)["Authorization"]
    finally:
        app.extensions["hotline"].engine.dispose()
