"""The monthly report for the hospital's leadership: its figures are those of the records it
is computed from (known data), and it renders in Chromium with its charts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from queueing import reports
from records.models import ComplaintCase, MonthlyReport, Patient, QualityReview, SurveyResponse
from tests.conftest import OPEN
from tests.records.helpers import make_call
from tests.test_sms import worker as worker  # noqa: F401  (the fixture)
from tests.web import log_in, log_in_page, make_staff

MONTH = f"{OPEN:%Y-%m}"


@pytest.fixture
def month_of_records(db, app):
    """November: 5 answered (4 within T = 20 s), 1 abandoned; 2 complaints (1 closed in 2 days);
    survey scores 4 and 5 (October: 3); two scored quality reviews of one agent (90 %, 70 %)."""
    agent = make_staff(app, "agent", display_name="坐席小周")
    for n, wait in enumerate((6, 8, 10, 12, 30)):
        make_call(db, f"CA-m{n}", OPEN - timedelta(days=n), wait=wait, agent_id=agent.id)
    make_call(db, "CA-m-gone", OPEN - timedelta(days=2), wait=40, result="abandon")
    make_call(db, "CA-october", OPEN - timedelta(days=40), wait=5, agent_id=agent.id)
    patient = db.scalar(select(Patient).order_by(Patient.id).limit(1))
    for n, closed in enumerate((OPEN - timedelta(days=8), None)):
        db.add(ComplaintCase(patient_id=patient.id, owner_id=agent.id, opened_by_id=agent.id, source="call",
                             summary="s", status="closed" if closed else "open", opened_at=OPEN - timedelta(days=10 - n),
                             deadline_at=OPEN, closed_at=closed))  # fmt: skip
    # A consultation closed in half a day: a case of its own kind, not a complaint.
    db.add(ComplaintCase(kind="consultation", patient_id=patient.id, owner_id=agent.id, opened_by_id=agent.id,
                         source="call", summary="c", status="closed", opened_at=OPEN - timedelta(days=3),
                         deadline_at=OPEN, closed_at=OPEN - timedelta(days=2, hours=12)))  # fmt: skip
    for sid, score, at in (
        ("CA-m0", 4, OPEN),
        ("CA-m1", 5, OPEN - timedelta(days=1)),
        ("CA-october", 3, OPEN - timedelta(days=40)),
    ):
        db.add(SurveyResponse(call_sid=sid, agent_id=agent.id, queue="general", score=score, at=at))
    for sid, percent in (("CA-m0", 90.0), ("CA-m1", 70.0)):
        db.add(QualityReview(call_sid=sid, agent_id=agent.id, reviewer_id=None, queue="general", form="standard",
                             reason="sample", sampled_on=OPEN.date(), status="scored", answers={}, percent=percent,
                             passed=percent >= 80, failed_critical=[], comment="", agent_comment="", scored_at=OPEN))  # fmt: skip
    db.commit()
    return agent


def test_the_figures_are_the_records_figures(app, month_of_records):
    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    page = client.get(f"/supervisor/monthly?month={MONTH}").get_data(as_text=True)
    assert '<td class="offered">6</td>' in page and '<td class="answered">5</td>' in page
    assert '<td class="sl">66.7%</td>' in page  # 4 within T / (5 answered + 1 abandoned)
    assert '<td class="abandon">16.7%</td>' in page  # 1 of 6
    assert '<strong class="complaints-opened">2</strong>' in page
    assert '<strong class="complaints-closed">1</strong>' in page
    assert '<strong class="complaints-median">2.0</strong>' in page
    consultations = page.split('<tr data-kind="consultation">')[1].split("</tr>")[0]
    assert "咨询" in consultations and "<td>1</td><td>1</td>" in consultations and "<td>0.5</td>" in consultations
    assert "<td>4.50</td>" in page and "<td>3.00</td>" in page  # November, October
    assert "坐席小周</td><td>80.0%</td><td>2</td><td>1</td>" in page


def test_the_report_renders_with_its_charts_in_chromium(app, page, server, month_of_records, tmp_path):
    supervisor = make_staff(app, "supervisor")
    log_in_page(page, server, supervisor.username, supervisor.password)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{server}/supervisor/monthly?month={MONTH}")
    charts = page.locator("figure.chart svg")
    expect(charts).to_have_count(2)
    expect(charts.first.locator("rect.offered")).not_to_have_count(0)
    box = charts.first.bounding_box()
    assert box["width"] > 600 and box["height"] > 150  # drawn at size, not collapsed
    shot = tmp_path / "monthly.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000  # a page with tables and charts, not a blank one
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()


# ---- built and stored by the report job (queueing.reports) ------------------------------------------


def test_the_report_is_built_by_a_job_and_stored_as_shown(app, db, month_of_records, worker):
    from tests.web import csrf_token

    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    live = client.get(f"/supervisor/monthly?month={MONTH}").get_data(as_text=True)
    assert 'id="live"' in live and 'id="stored-at"' not in live
    asked = client.post("/supervisor/monthly/build", data={"csrf_token": csrf_token(live), "month": MONTH})
    assert asked.status_code == 302
    building = client.get(f"/supervisor/monthly?month={MONTH}").get_data(as_text=True)
    assert 'id="build-progress" max="100" value="0"' in building and 'http-equiv="refresh"' in building
    # A second click while it is queued queues nothing more.
    client.post("/supervisor/monthly/build", data={"csrf_token": csrf_token(live), "month": MONTH})
    assert worker.pending() == 1
    worker.work()
    db.rollback()
    stored = db.scalar(select(MonthlyReport))
    assert (stored.status, stored.progress, stored.step) == ("done", 100, "quality")
    page = client.get(f"/supervisor/monthly?month={MONTH}").get_data(as_text=True)
    assert 'id="stored-at"' in page and 'http-equiv="refresh"' not in page
    # The stored figures are the records' figures, as the live page showed them.
    for figure in (
        '<td class="offered">6</td>',
        '<td class="sl">66.7%</td>',
        "<td>4.50</td>",
        "坐席小周</td><td>80.0%</td>",
    ):
        assert figure in page and figure in live


def test_the_scheduler_builds_last_month_once(app, db, month_of_records, worker, clock):
    clock.now = OPEN + timedelta(days=10)  # December: November's report is due
    assert reports.build_monthly_report() == f"{MONTH}: built"
    assert reports.build_monthly_report() == f"{MONTH}: done already"
    db.rollback()
    assert db.scalar(select(MonthlyReport)).figures["total"]["offered"] == 6


def test_a_failed_build_says_so_and_can_be_built_again(app, db, month_of_records, worker, monkeypatch, clock):
    def broken(*args, **kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(reports.monthly, "figures", broken)
    with pytest.raises(ConnectionError):
        reports.build_monthly_report(MONTH)
    monkeypatch.undo()
    db.rollback()
    assert (db.scalar(select(MonthlyReport)).status, db.scalar(select(MonthlyReport)).error) == (
        "failed",
        "ConnectionError",
    )
    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    assert "The last build failed (ConnectionError)" in client.get(f"/supervisor/monthly?month={MONTH}").get_data(
        as_text=True
    )
    clock.now = OPEN + timedelta(days=10)  # December's daily run tries November's failed build again
    assert reports.build_monthly_report() == f"{MONTH}: built"


def test_a_build_whose_job_was_lost_is_built_again_by_the_scheduler(app, db, month_of_records, worker, clock):
    """A worker killed mid-build (or the database away when it would say 'failed') leaves the
    report 'running': past monthly.STALE the daily run builds it instead of waiting for ever."""
    from records import monthly

    clock.now = OPEN + timedelta(days=10)
    db.add(MonthlyReport(month=MONTH, status="running", progress=33, requested_at=clock.now, started_at=clock.now))
    db.commit()
    assert reports.build_monthly_report() == f"{MONTH}: running already"  # its job may still be at it
    clock.now += monthly.STALE + timedelta(minutes=1)
    assert reports.build_monthly_report() == f"{MONTH}: built"
    db.rollback()
    assert db.scalar(select(MonthlyReport)).status == "done"
