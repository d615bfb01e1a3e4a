"""The supervisors' staffing page: who may see it, what it shows, editing targets,
and the recompute that an RQ worker carries out while the page shows its progress."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from queueing import staffing_jobs
from records import staffing as records
from records.db import begin_write
from records.models import StaffingRun
from tests.conftest import OPEN
from tests.staffing.test_runs import busy_weeks
from tests.test_sms import worker as worker  # noqa: F401  (the fixture)
from tests.web import csrf_token, log_in, log_in_page, make_staff

TOMORROW = OPEN.date() + timedelta(days=1)


def planned(db, settings, **targets) -> int:
    begin_write(db)
    run = records.create_run(
        db,
        inputs=staffing_jobs.run_inputs(settings.staffing, targets),
        first_day=TOMORROW,
        days=1,
        trigger="nightly",
        at=OPEN,
    )
    db.commit()
    assert staffing_jobs.compute_staffing(run.id) == "done"
    return run.id


@pytest.fixture
def supervisor(app):
    client = app.test_client()
    staff = make_staff(app, "supervisor")
    log_in(client, staff.username, staff.password)
    return client


def test_only_supervisors_and_admins_see_it(app):
    stranger = app.test_client()
    assert stranger.get("/staffing").status_code == 302
    agent = app.test_client()
    staff = make_staff(app, "agent")
    log_in(agent, staff.username, staff.password)
    assert agent.get("/staffing").status_code == 403
    assert agent.get("/staffing/runs/1").status_code == 403
    admin = app.test_client()
    staff = make_staff(app, "admin")
    log_in(admin, staff.username, staff.password)
    assert admin.get("/staffing").status_code == 200


def test_the_day_shows_calls_seats_roster_and_people_per_seat(db, settings, supervisor, worker):
    busy_weeks(db, 3, {20: 40})
    run_id = planned(db, settings)
    html = supervisor.get(f"/staffing?day={TOMORROW}").get_data(as_text=True)
    assert f'方案 <span class="en">Plan</span> {run_id}' in html
    assert "<svg" in html and 'class="required"' in html and 'class="rostered"' in html
    row = re.search(r"<td>10:00</td><td>([\d.]+)</td><td>(\d+)</td>\s*<td class=\"seats\">(\d+)", html)
    ten = records.day_intervals(db, run_id, TOMORROW, "general")[20]
    assert float(row.group(1)) == pytest.approx(ten.calls, abs=0.05) and int(row.group(3)) == ten.seats
    assert "People per seat" in html and "People for the month" in html
    run = db.get(StaffingRun, run_id)
    day, inputs = run.summary["days"][f"general/{TOMORROW}"], run.inputs
    month = re.search(r'id="people-for-month">([\d.]+)', html).group(1)
    on_the_phone = day["required_seat_hours"] * inputs["open_days_per_month"] / inputs["statutory_monthly_hours"]
    assert float(month) == pytest.approx(on_the_phone / (1 - inputs["shrinkage"]), abs=0.05)
    assert f"/ (1 − {inputs['shrinkage']:.0%} shrinkage)" in html


def test_targets_that_cannot_be_met_are_refused_with_a_message(db, supervisor):
    page = supervisor.get(f"/staffing?day={TOMORROW}").get_data(as_text=True)
    form = {
        "csrf_token": csrf_token(page),
        "day": TOMORROW.isoformat(),
        "queue": "general",
        "service_level": "100",
        "answer_seconds": "0",
        "max_occupancy": "85",
    }
    answer = supervisor.post("/staffing/recompute", data=form, follow_redirects=True)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Targets not valid, nothing recomputed" in html
    assert "no number of seats answers every one of them in time" in html
    db.rollback()
    assert db.query(StaffingRun).count() == 0
    form["service_level"] = "eighty"
    html = supervisor.post("/staffing/recompute", data=form, follow_redirects=True).get_data(as_text=True)
    assert "expected a percentage such as 80" in html


def test_recompute_needs_the_csrf_token(supervisor):
    answer = supervisor.post("/staffing/recompute", data={"day": TOMORROW.isoformat(), "service_level": "90"})
    assert answer.status_code == 400


def test_a_supervisor_changes_a_target_and_sees_the_new_plan(app, db, settings, server, page, worker):
    busy_weeks(db, 3, {20: 40, 21: 25})
    old = planned(db, settings)
    old_ten = records.day_intervals(db, old, TOMORROW, "general")[20]
    staff = make_staff(app, "supervisor")
    log_in_page(page, server, staff.username, staff.password)
    page.goto(f"{server}/staffing?day={TOMORROW}")
    expect(page.locator("#run-targets")).to_contain_text("80% / 20 s")
    ten = page.locator("#intervals tr", has_text="10:00").locator("td.seats")
    expect(ten).to_have_text(str(old_ten.seats))

    page.get_by_label("服务水平 Service level (%)").fill("95")
    page.get_by_label("应答时间 Answer within (s)").fill("10")
    page.get_by_role("button", name="重新计算 Recompute").click()
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress .message")).to_contain_text("queued")

    worker.work()  # an RQ worker takes the job; the page notices by itself

    expect(page.locator("#progress")).to_have_count(0, timeout=15_000)
    expect(page.locator("#run-targets")).to_contain_text("95% / 10 s")
    db.rollback()
    new = records.latest_run(db, TOMORROW)
    assert new.id != old and new.trigger == "supervisor" and new.inputs["targets"]["service_level"] == 0.95
    new_ten = records.day_intervals(db, new.id, TOMORROW, "general")[20]
    assert new_ten.seats > old_ten.seats
    expect(ten).to_have_text(str(new_ten.seats))


def test_what_if_people_call_in_sick(db, settings, supervisor, worker):
    busy_weeks(db, 3, {20: 60})
    run_id = planned(db, settings)
    ten = records.day_intervals(db, run_id, TOMORROW, "general")[20]
    html = supervisor.get(f"/staffing?day={TOMORROW}&slot=20&absent=3").get_data(as_text=True)
    shown = re.search(
        r'id="what-if-result">10:00: (\d+) / (\d+) .*?Erlang A: ([\d.]+)%.*?simulated: ([\d.]+)%', html, re.S
    )
    assert int(shown.group(2)) == ten.roster_seats and int(shown.group(1)) == ten.roster_seats - 3
    full = float(re.search(r"<td>10:00</td>.*?</tr>", html, re.S).group(0).split("<td>")[-1].split("%")[0])
    assert float(shown.group(3)) < full and abs(float(shown.group(3)) - float(shown.group(4))) < 10
    html = supervisor.get(f"/staffing?day={TOMORROW}&slot=20&absent=99").get_data(as_text=True)
    assert "absent must be between 0 and the" in html
    html = supervisor.get(f"/staffing?day={TOMORROW}&slot=20&absent=many").get_data(as_text=True)
    assert "absent: expected a whole number" in html


def test_the_chart_draws_every_interval_and_marks_the_ones_that_cannot_be_met():
    import xml.etree.ElementTree as ET

    from charts import Point, day_chart

    points = [
        Point(f"{h:02d}:00", calls, seats, rostered, sl, met)
        for h, (calls, seats, rostered, sl, met) in enumerate(
            [(0, 0, 0, None, True), (40, 9, 10, 0.93, True), (400, 20, 20, 0.0, False), (10, 3, 2, 0.5, True)]
        )
    ]
    svg = ET.fromstring(str(day_chart(points, target=0.8, title="general <today>")))
    ns = {"s": "http://www.w3.org/2000/svg"}
    bars = svg.findall("s:rect[@class='calls']", ns)
    assert len(bars) == 4
    assert [b.get("fill") for b in bars][2] != bars[1].get("fill")  # the interval that cannot be met
    assert "cannot meet" in bars[2].find("s:title", ns).text
    heights = [float(b.get("height")) for b in bars]
    assert heights[2] == max(heights) and heights[0] == 0
    dots = svg.findall("s:circle[@class='sl']", ns)
    assert len(dots) == 3 and {d.get("fill") for d in dots[1:]} == {"#b3261e"}
    assert svg.find("s:title", ns).text == "general <today>"  # escaped, then read back
