"""Complaint cases in a real browser (headless Chromium): open one by hand, work it,
close it; a supervisor sees the overdue ones."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from records import complaints
from records.db import begin_write
from tests.conftest import OPEN
from tests.test_sms import MS_WANG, patient
from tests.web import log_in_page


def test_an_agent_opens_answers_and_closes_a_case_in_the_browser(app, server, page, team):
    log_in_page(page, server, team.agent.username, team.agent.password)
    page.get_by_role("navigation").get_by_role("link", name="我的投诉 My cases").click()
    page.get_by_role("link", name="新建投诉 Open a case").click()
    page.get_by_label("病历号 Record number").fill("M00000001")
    page.get_by_label("投诉内容 What the complaint is about").fill("候诊两小时无人告知")
    page.get_by_label("建立原因 Why you open a case for this patient").fill("患者到服务台投诉")
    page.get_by_role("button", name="建立 Open case").click()

    expect(page.get_by_role("alert")).to_contain_text("已建立")
    expect(page.locator(".owner")).to_have_text("坐席一 Agent One")
    expect(page.locator(".case-status")).to_have_text("处理中 Open")

    # Closing without an answer is refused, with the reason shown.
    page.get_by_label("新状态 New status").select_option("closed")
    page.get_by_role("button", name="更新 Update").click()
    expect(page.get_by_role("alert")).to_contain_text("先填写给患者的答复")
    page.get_by_label("新状态 New status").select_option("closed")
    page.get_by_label("Answer to the patient (needed", exact=False).fill("已向患者致歉，门诊已增加叫号提示")
    page.get_by_role("button", name="更新 Update").click()
    expect(page.locator(".case-status")).to_have_text("已结案 Closed")
    expect(page.locator(".notes .answer")).to_contain_text("已向患者致歉")

    page.get_by_role("link", name="← 我的投诉 My cases").click()
    expect(page.get_by_text("没有投诉 No cases.")).to_be_visible()  # closed cases are hidden by default
    page.get_by_role("link", name="含已结案 Include closed").click()
    expect(page.locator("table.cases")).to_contain_text("候诊两小时无人告知")


def test_a_supervisor_sees_an_overdue_case_flagged_and_escalated(app, db, server, page, team, clock):
    begin_write(db)
    complaints.open_case(
        db,
        patient_id=patient(db, MS_WANG).id,
        actor=complaints.Actor(team.agent.id),
        summary="退费四天未处理",
        now=OPEN - timedelta(days=4),
        deadline_days=3,
    )
    complaints.escalate_overdue(db, OPEN)
    db.commit()
    log_in_page(page, server, team.supervisor.username, team.supervisor.password)
    page.get_by_role("navigation").get_by_role("link", name="全部投诉 All cases").click()
    row = page.locator("tr.case-row", has_text="退费四天未处理")
    expect(row).to_contain_text("超期 OVERDUE")
    expect(row).to_contain_text("已上报 Escalated")
    expect(row).to_contain_text("坐席一 Agent One")
