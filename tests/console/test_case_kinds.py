"""Consultations and errands are cases beside complaints (issue 20): each kind's deadline from
config, owned by whoever took it until it is handed over, and reported on the service-rules
board."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from records import complaints
from records.complaints import Actor, CaseError
from records.models import CaseNote, ComplaintCase
from tests.conftest import OPEN
from tests.console.test_console_views import client_for
from tests.test_sms import MS_WANG, patient
from tests.web import csrf_token


def open_by_form(client, **fields) -> int:
    token = csrf_token(client.get("/agent/cases/new").get_data(as_text=True))
    form = {"record_number": MS_WANG, "reason": "患者来电咨询", "csrf_token": token, **fields}
    response = client.post("/agent/cases", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_a_consultation_opened_by_one_agent_is_overdue_at_24_hours_and_shows_on_the_board(app, db, clock, team):
    agent, other = client_for(app, team.agent), client_for(app, team.other_agent)
    case_id = open_by_form(agent, kind="consultation", summary="询问胃镜前能否服降压药")
    db.rollback()
    case = db.get(ComplaintCase, case_id)
    assert (case.kind, case.owner_id, case.deadline_at) == ("consultation", team.agent.id, OPEN + timedelta(hours=24))
    page = agent.get(f"/agent/cases/{case_id}").get_data(as_text=True)
    assert "咨询 Consultation" in page
    assert other.get(f"/agent/cases/{case_id}").status_code == 403  # first contact owns it

    supervisor = client_for(app, team.supervisor)
    clock.now = OPEN + timedelta(hours=23, minutes=59)
    assert f'data-case-id="{case_id}"' not in supervisor.get("/supervisor/cases?overdue=1").get_data(as_text=True)
    clock.now = OPEN + timedelta(hours=24, minutes=1)
    overdue = supervisor.get("/supervisor/cases?overdue=1").get_data(as_text=True)
    row = overdue.split(f'data-case-id="{case_id}"')[1].split("</tr>")[0]
    assert "咨询 Consultation" in row and "超期 OVERDUE" in row

    board = supervisor.get(f"/supervisor/reports?start={OPEN.date().isoformat()}").get_data(as_text=True)

    def cells(rule):
        row = board.split(rule)[1].split("</tr>")[0]
        return [cell.split(">", 1)[1].split("<")[0] for cell in row.split("<td")[1:]]

    assert cells("咨询24小时内答复") == ["0", "1", "0", f"#{case_id}"]  # met, missed, pending, misses
    assert cells("投诉3天内答复") == ["0", "0", "0", ""]  # a consultation is not a complaint
    assert cells("复杂咨询48小时内答复") == ["0", "0", "0", ""]


def test_a_consultation_handed_over_explicitly_and_answered_in_time_meets_its_rule(app, db, clock, team):
    agent = client_for(app, team.agent)
    case_id = open_by_form(agent, kind="complex_consultation", summary="询问术后康复方案")
    db.rollback()
    case = db.get(ComplaintCase, case_id)
    assert case.deadline_at == OPEN + timedelta(hours=48)
    token = csrf_token(agent.get(f"/agent/cases/{case_id}").get_data(as_text=True))
    agent.post(
        f"/agent/cases/{case_id}/handover",
        data={"to_staff_id": team.other_agent.id, "reason": "转康复科咨询专员", "csrf_token": token},
    )
    other = client_for(app, team.other_agent)
    clock.now = OPEN + timedelta(hours=30)
    token = csrf_token(other.get(f"/agent/cases/{case_id}").get_data(as_text=True))
    other.post(
        f"/agent/cases/{case_id}/status",
        data={"status": "answered", "answer": "已由康复科电话告知康复方案", "csrf_token": token},
    )
    db.rollback()
    db.expire_all()
    case = db.get(ComplaintCase, case_id)
    assert (case.owner_id, case.status, [h.to_staff_id for h in case.handovers]) == (
        team.other_agent.id,
        "answered",
        [team.other_agent.id],
    )
    board = client_for(app, team.supervisor).get(f"/supervisor/reports?start={OPEN.date().isoformat()}")
    row = board.get_data(as_text=True).split("复杂咨询48小时内答复")[1].split("</tr>")[0]
    assert [cell.split(">", 1)[1].split("<")[0] for cell in row.split("<td")[1:]] == ["1", "0", "0", ""]


def test_an_errand_keeps_its_address_progress_and_tracking_number(app, db, team):
    agent = client_for(app, team.agent)
    token = csrf_token(agent.get("/agent/cases/new").get_data(as_text=True))
    refused = agent.post(
        "/agent/cases",
        data={"record_number": MS_WANG, "reason": "患者来电", "kind": "errand", "summary": "邮寄CT报告",
              "csrf_token": token},
    )  # fmt: skip
    assert refused.status_code == 400 and "请填写地址" in refused.get_data(as_text=True)
    case_id = open_by_form(agent, kind="errand", summary="邮寄CT报告", address="北京市明湖区湖滨路1号 王秀英收")
    page = agent.get(f"/agent/cases/{case_id}").get_data(as_text=True)
    assert "湖滨路1号" in page and "待办 To do" in page
    token = csrf_token(page)
    no_number = agent.post(
        f"/agent/cases/{case_id}/errand", data={"errand_status": "sent", "csrf_token": token}, follow_redirects=True
    )
    assert "快递单号" in no_number.get_data(as_text=True)
    sent = agent.post(
        f"/agent/cases/{case_id}/errand",
        data={"errand_status": "sent", "tracking_number": "SF1234567890", "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "已寄出 Sent" in sent and "SF1234567890" in sent
    db.rollback()
    case = db.get(ComplaintCase, case_id)
    assert (case.kind, case.errand_status, case.tracking_number) == ("errand", "sent", "SF1234567890")
    notes = db.scalars(select(CaseNote.text).where(CaseNote.case_id == case_id, CaseNote.kind == "errand")).all()
    assert notes == ["to_do → sent (SF1234567890)"]


def test_only_an_errand_has_progress(db, team):
    case = complaints.open_case(
        db,
        patient_id=patient(db, MS_WANG).id,
        actor=Actor(team.agent.id),
        summary="挂号费疑问",
        now=OPEN,
        deadline_days=3,
        kind="consultation",
        deadline=timedelta(hours=24),
    )
    with pytest.raises(CaseError):
        complaints.update_errand(db, case, actor=Actor(team.agent.id), status="sent", now=OPEN, tracking_number="X1")


def test_an_erased_file_forgets_its_errands_address(db, team):
    from records import privacy

    wang = patient(db, MS_WANG)
    who = Actor(team.agent.id)
    errand = complaints.open_case(
        db, patient_id=wang.id, actor=who, summary="邮寄出院小结", now=OPEN, deadline_days=3, kind="errand",
        deadline=timedelta(days=3), errand=True, address="北京市明湖区湖滨路1号",
    )  # fmt: skip
    complaints.change_status(db, errand, actor=who, status="closed", now=OPEN, answer="已寄出")
    assert privacy.patient_copy(db, wang)["cases"][0]["address"] == "北京市明湖区湖滨路1号"  # theirs to read
    privacy.erase(db, wang)
    db.commit()
    db.refresh(errand)
    assert (errand.summary, errand.address) == ("", None)
