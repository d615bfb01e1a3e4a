"""The console's pages with the Flask test client: who may see what, CSRF, the token."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import select

import settings as settings_module
from app import ROOT, create_app
from records import complaints
from records.calls import CallOpened, open_call
from records.complaints import Actor
from records.db import begin_write
from records.models import AuditEntry, ComplaintCase
from records.patients import match_caller
from tests.conftest import OPEN
from tests.console.conftest import past_call
from tests.test_sms import MS_WANG, patient
from tests.web import csrf_token, log_in


def client_for(app, who):
    client = app.test_client()
    response = log_in(client, who.username, who.password)
    assert response.status_code == 302
    return client


@pytest.fixture
def case(db, team):
    begin_write(db)
    found = complaints.open_case(
        db,
        patient_id=patient(db, MS_WANG).id,
        actor=Actor(team.agent.id),
        summary="药房排队太久",
        now=OPEN,
        deadline_days=3,
    )
    db.commit()
    return found


@pytest.mark.parametrize("path", ["/agent", "/agent/cases", "/agent/cases/1", "/supervisor/cases", "/agent/search"])
def test_anonymous_visitors_are_sent_to_log_in(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_token_is_for_logged_in_staff_only(app):
    response = app.test_client().get("/agent/token")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_agent_sees_the_console_and_their_own_case_but_not_anothers(app, team, case):
    owner, other = client_for(app, team.agent), client_for(app, team.other_agent)
    page = owner.get("/agent").get_data(as_text=True)
    assert "空闲 Available" in page and "投诉 Complaint" in page  # states and dispositions from config
    mine = owner.get("/agent/cases").get_data(as_text=True)
    assert "药房排队太久" in mine
    assert "药房排队太久" not in other.get("/agent/cases").get_data(as_text=True)
    assert owner.get(f"/agent/cases/{case.id}").status_code == 200
    assert other.get(f"/agent/cases/{case.id}").status_code == 403
    assert other.get("/supervisor/cases").status_code == 403
    assert owner.get("/agent/cases/999999").status_code == 404


def test_a_supervisor_sees_every_open_case_and_can_open_any(app, team, case):
    boss = client_for(app, team.supervisor)
    listing = boss.get("/supervisor/cases").get_data(as_text=True)
    assert "药房排队太久" in listing and "坐席一 Agent One" in listing
    assert boss.get(f"/agent/cases/{case.id}").status_code == 200


def test_overdue_cases_are_flagged_on_the_supervisors_list(app, db, team, case, clock):
    clock.now = OPEN + __import__("datetime").timedelta(days=3, hours=1)
    begin_write(db)
    complaints.escalate_overdue(db, clock.now)
    db.commit()
    listing = client_for(app, team.supervisor).get("/supervisor/cases?overdue=1").get_data(as_text=True)
    assert "超期 OVERDUE" in listing and "已上报 Escalated" in listing and "药房排队太久" in listing


def test_forms_without_the_csrf_token_are_refused(app, db, team, case):
    owner = client_for(app, team.agent)
    refused = owner.post(f"/agent/cases/{case.id}/notes", data={"text": "无令牌"})
    assert refused.status_code == 400
    token = csrf_token(owner.get(f"/agent/cases/{case.id}").get_data(as_text=True))
    accepted = owner.post(f"/agent/cases/{case.id}/notes", data={"text": "有令牌", "csrf_token": token})
    assert accepted.status_code == 302
    db.rollback()
    db.expire_all()
    assert [note.text for note in db.get(ComplaintCase, case.id).notes] == ["有令牌"]


def test_an_agent_opens_a_case_by_hand_and_hands_it_over(app, db, team):
    owner = client_for(app, team.agent)
    token = csrf_token(owner.get("/agent/cases/new").get_data(as_text=True))
    opened = owner.post(
        "/agent/cases",
        data={
            "record_number": "M00000001",
            "summary": "检查报告迟迟未出",
            "reason": "患者来信投诉",
            "csrf_token": token,
        },
    )
    assert opened.status_code == 302
    case_url = opened.headers["Location"]
    page = owner.get(case_url).get_data(as_text=True)
    assert "检查报告迟迟未出" in page and "坐席二 Agent Two" in page  # a colleague to hand over to
    handed = owner.post(
        case_url + "/handover",
        data={"to_staff_id": str(team.other_agent.id), "reason": "转给负责检查的同事", "csrf_token": token},
    )
    assert handed.status_code == 302 and handed.headers["Location"].endswith("/agent/cases")
    assert owner.get(case_url).status_code == 403  # no longer theirs
    taker = client_for(app, team.other_agent)
    page = taker.get(case_url).get_data(as_text=True)
    assert "转给负责检查的同事" in page and "坐席一 Agent One → 坐席二 Agent Two" in page


def test_an_unknown_record_number_opens_no_case(app, db, team):
    owner = client_for(app, team.agent)
    token = csrf_token(owner.get("/agent/cases/new").get_data(as_text=True))
    form = {"record_number": "M99999999", "summary": "x", "reason": "患者来信投诉", "csrf_token": token}
    refused = owner.post("/agent/cases", data=form)
    assert refused.status_code == 400 and "找不到该病历号" in refused.get_data(as_text=True)
    db.rollback()
    assert db.scalars(select(ComplaintCase)).all() == []


def flash_of(response) -> str:
    return response.get_data(as_text=True).split('class="flash error"', 1)[1].split("</", 1)[0]


def test_opening_a_case_for_a_patient_needs_a_reason_and_is_audited(app, db, team):
    """Issue 22.4: a case showed any patient's name and record number with no reason and
    no audit row."""
    owner = client_for(app, team.agent)
    token = csrf_token(owner.get("/agent/cases/new").get_data(as_text=True))
    case = {"record_number": "M00000001", "summary": "检查报告迟迟未出", "csrf_token": token}
    for reason in ("", "  ", "问"):  # none, blank, shorter than console.search_reason_min_length
        refused = owner.post("/agent/cases", data={**case, "reason": reason})
        assert refused.status_code == 400 and "say why you open a case for this patient" in flash_of(refused)
        assert "王秀英" not in refused.get_data(as_text=True)
    db.rollback()
    assert db.scalars(select(ComplaintCase)).all() == [] and db.scalars(select(AuditEntry)).all() == []

    opened = owner.post("/agent/cases", data={**case, "reason": "患者来信投诉检查报告"})
    assert opened.status_code == 302 and "王秀英" in owner.get(opened.headers["Location"]).get_data(as_text=True)
    db.rollback()
    (entry,) = db.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.staff_id, entry.patient_id) == ("open_case", team.agent.id, patient(db, MS_WANG).id)
    assert entry.reason == "患者来信投诉检查报告 [record number 00000001: opened]"


def test_a_refused_case_never_tells_which_record_numbers_exist(app, db, team):
    """Issue 22.4: an unknown record number got its own 400, so an agent could find out
    which exist.  An unknown number and a real one the case cannot be for (the call it
    came with is another patient's) now get the same answer, and both are audited."""
    begin_write(db)
    past_call(db, "13800138000", "CA-wang", 1)  # Ms Wang's call
    db.commit()
    owner = client_for(app, team.agent)
    token = csrf_token(owner.get("/agent/cases/new").get_data(as_text=True))
    base = {"summary": "排队太久", "reason": "来电投诉排队", "call_sid": "CA-wang", "csrf_token": token}
    unknown = owner.post("/agent/cases", data={**base, "record_number": "M99999999"})
    not_this_caller = owner.post("/agent/cases", data={**base, "record_number": "M00000002"})  # Mr Li exists
    assert unknown.status_code == not_this_caller.status_code == 400
    assert flash_of(unknown) == flash_of(not_this_caller)
    assert "李明" not in not_this_caller.get_data(as_text=True)
    db.rollback()
    assert db.scalars(select(ComplaintCase)).all() == []
    rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(r.action, r.patient_id, r.call_sid) for r in rows] == [("open_case", None, "CA-wang")] * 2


def test_a_search_then_opening_the_file_leaves_two_audit_rows(app, db, team):
    owner = client_for(app, team.agent)
    token = csrf_token(owner.get("/agent/search").get_data(as_text=True))
    found = owner.post(
        "/agent/search", data={"query": "13800138000", "reason": "患者询问检查结果", "csrf_token": token}
    )
    page = found.get_data(as_text=True)
    assert "王秀英" in page and "M00000001" in page
    wang = patient(db, MS_WANG).id
    opened = owner.post(f"/agent/files/{wang}", data={"reason": "患者询问检查结果", "csrf_token": token})
    text = opened.get_data(as_text=True)
    assert opened.status_code == 200 and "70岁以上 Aged 70+" in text and "13800138000" not in text
    db.rollback()
    rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(row.action, row.patient_id, row.staff_id) for row in rows] == [
        ("search", wang, team.agent.id),
        ("view_file", wang, team.agent.id),
    ]
    assert rows[1].reason == "查询 search: 患者询问检查结果"


def test_a_screen_pop_for_a_call_not_offered_to_the_agent_is_refused_and_not_audited(app, db, team):
    owner = client_for(app, team.agent)
    response = owner.get("/agent/screen-pop?call_sid=CA" + "e" * 32)
    assert response.status_code == 403
    db.rollback()
    assert db.scalars(select(AuditEntry)).all() == []


def test_without_twilio_api_keys_the_token_endpoint_says_what_is_missing(app, team):
    response = client_for(app, team.agent).get("/agent/token")
    assert response.status_code == 503
    assert "TWILIO_API_KEY_SID" in response.get_json()["message"]


def test_a_logged_in_agent_gets_a_voice_token_for_their_identity(environ, clock, team, app):
    keys = {
        "TWILIO_API_KEY_SID": "SK" + "2" * 32,
        "TWILIO_API_KEY_SECRET": "a-32-character-api-key-secret-xx",
        "TWILIO_TWIML_APP_SID": "AP" + "3" * 32,
    }
    configured = create_app(settings_module.load(ROOT / "config.yaml", environ={**environ, **keys}), clock=clock)
    configured.config["TESTING"] = True
    response = client_for(configured, team.agent).get("/agent/token")
    body = response.get_json()
    assert response.status_code == 200 and body["identity"] == f"agent-{team.agent.id}"
    claims = jwt.decode(body["token"], "a-32-character-api-key-secret-xx", algorithms=["HS256"])
    assert claims["iss"] == keys["TWILIO_API_KEY_SID"] and claims["sub"] == environ["TWILIO_ACCOUNT_SID"]
    assert claims["grants"]["identity"] == f"agent-{team.agent.id}"
    assert claims["grants"]["voice"]["outgoing"]["application_sid"] == keys["TWILIO_TWIML_APP_SID"]
    assert claims["grants"]["voice"]["incoming"]["allow"] is True
    configured.extensions["hotline"].engine.dispose()


def offered(app, call_sid: str, agent_id: int) -> None:
    """The queue event the ACD writes when it offers a call to an agent (the shared contract)."""
    app.extensions["hotline"].calls.add_events(call_sid, OPEN, [("offer", {"queue": "general", "agent_id": agent_id})])


def test_the_screen_pop_of_an_offered_call_shows_the_callers_file_and_is_audited(app, db, team, ms_wangs_history):
    call_sid = "CA" + "f" * 32
    begin_write(db)
    open_call(db, CallOpened(call_sid, "13800138000", "+861065281000", match_caller(db, "13800138000"), "zh", OPEN))
    db.commit()
    offered(app, call_sid, team.agent.id)
    owner, other = client_for(app, team.agent), client_for(app, team.other_agent)
    assert other.get(f"/agent/screen-pop?call_sid={call_sid}").status_code == 403  # offered to someone else
    response = owner.get(f"/agent/screen-pop?call_sid={call_sid}")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "王秀英" in text and "M00000001" in text and "70岁以上 Aged 70+" in text
    assert ms_wangs_history["upcoming"].reference in text and "已预约" in text  # the earlier call's disposition
    assert "13800138000" not in text and "+86****00" in text
    db.rollback()
    rows = db.scalars(select(AuditEntry)).all()
    assert [(r.staff_id, r.action, r.patient_id, r.call_sid) for r in rows] == [
        (team.agent.id, "view_file", patient(db, MS_WANG).id, call_sid)
    ]


def test_a_family_numbers_call_pops_no_file_but_asks_who_is_calling(app, db, team):
    """The live path: the call's state in Redis, as /ivr/voice leaves it, before any record is written."""
    call_sid = "CA" + "9" * 32
    family = match_caller(db, "13700001111")
    app.extensions["hotline"].calls.start(call_sid, number=family.e164, patient_ids=family.patient_ids)
    offered(app, call_sid, team.agent.id)
    text = client_for(app, team.agent).get(f"/agent/screen-pop?call_sid={call_sid}").get_data(as_text=True)
    assert "2 files (a family's)" in text and "张" not in text
    db.rollback()
    assert db.scalars(select(AuditEntry)).all() == []


def test_an_agent_who_logs_out_goes_offline_at_once(app, team):
    from records.seats import set_skills

    with app.extensions["hotline"].sessions.begin() as session:
        set_skills(session, team.agent.id, {"general": 3})
    owner = client_for(app, team.agent)
    token = csrf_token(owner.get("/agent").get_data(as_text=True))
    went = owner.post("/agent/api/state", json={"state": "available"}, headers={"X-CSRFToken": token})
    assert went.status_code == 200 and went.get_json()["state"] == "available"
    owner.post("/logout", data={"csrf_token": token})
    assert app.extensions["hotline"].acd.agent(team.agent.id)["state"] == "offline"


def with_phone(environ, clock, kind: str):
    loaded = settings_module.load(ROOT / "config.yaml", environ=environ)
    console = loaded.console.model_copy(update={"phone": loaded.console.phone.model_copy(update={"kind": kind})})
    configured = create_app(loaded.model_copy(update={"console": console}), clock=clock)
    configured.config["TESTING"] = True
    return configured


@pytest.mark.parametrize("kind", ["twilio", "emulator"])
def test_only_the_console_with_the_twilio_softphone_may_connect_to_twilio(environ, clock, team, kind):
    """The softphone's signaling and insights are Twilio's servers: the console page's CSP
    lets it reach them when it runs the SDK, and no other page (and no script source) opens up."""
    configured = with_phone(environ, clock, kind)
    client = client_for(configured, team.agent)
    console = client.get("/agent")
    connect = next(
        part for part in console.headers["Content-Security-Policy"].split("; ") if part.startswith("connect-src")
    )
    sdk = "vendor/twilio-voice-sdk/twilio.min.js"
    if kind == "twilio":
        assert connect == "connect-src 'self' wss://*.twilio.com https://*.twilio.com"
        assert sdk in console.get_data(as_text=True)
    else:
        assert connect == "connect-src 'self'"
        assert sdk not in console.get_data(as_text=True)
    assert "script-src 'self' 'nonce-" in console.headers["Content-Security-Policy"]
    assert "twilio.com" not in client.get("/agent/cases").headers["Content-Security-Policy"]
    configured.extensions["hotline"].engine.dispose()


def test_the_demo_phone_without_the_carrier_emulator_says_calls_cannot_be_answered(environ, clock, team):
    """console.phone.kind left at 'emulator' in production (no TWILIO_API_BASE): the agent is told."""
    configured = with_phone({k: v for k, v in environ.items() if k != "TWILIO_API_BASE"}, clock, "emulator")
    page = client_for(configured, team.agent).get("/agent").get_data(as_text=True)
    assert "演示电话需要运营商模拟器 The demo phone needs the carrier emulator" in page
    configured.extensions["hotline"].engine.dispose()
