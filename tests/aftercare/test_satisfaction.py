"""The satisfaction programme: the monthly sample by visit type, the texted link, the
patient's one-question page, the supervisors' results, the weekly summary, and a comment
turned into a complaint case in one click."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from sqlalchemy import func, select

from queueing import context
from queueing import satisfaction as jobs
from records import aftercare, retention, satisfaction
from records import aftercare_rules as rules
from records.audit import accesses
from records.db import begin_write
from records.models import (
    Appointment,
    ClinicSession,
    ComplaintCase,
    Doctor,
    ExamType,
    Patient,
    SatisfactionSurvey,
    SmsMessage,
)
from tests.aftercare.conftest import add_discharges
from tests.conftest import OPEN
from tests.web import csrf_token, log_in, make_staff

MONTH = "2026-10"  # OPEN is in November: the programme asks about October's visits
MS_WANG, LI_MING, NO_MOBILE = "M00000001", "M00000002", "M00024067"


def patient_id(db, mrn: str) -> int:
    return db.scalar(select(Patient.id).where(Patient.mrn == mrn))


def past_visits(db, rows: list[tuple[str, int | None, str | None, date]]) -> list[int]:
    """(mrn, doctor id or None, exam code or None, day): appointments kept in October."""
    ids = []
    for number, (mrn, doctor_id, exam, day) in enumerate(rows):
        exam_id = db.scalar(select(ExamType.id).where(ExamType.code == exam)) if exam else None
        session = ClinicSession(
            doctor_id=doctor_id,
            exam_type_id=exam_id,
            date=day,
            start_time=time(8, number % 60),
            end_time=time(12),
            capacity=30,
            booked=1,
        )
        db.add(session)
        db.flush()
        appointment = Appointment(
            reference=f"9{number:07d}{day:%d}",
            patient_id=patient_id(db, mrn),
            session_id=session.id,
            doctor_id=doctor_id,
            exam_type_id=exam_id,
            date=day,
            place=1,
            booked_at=OPEN - timedelta(days=60),
        )
        db.add(appointment)
        db.flush()
        ids.append(appointment.id)
    db.commit()
    return ids


def doctors(db, count: int) -> list[Doctor]:
    return list(db.scalars(select(Doctor).order_by(Doctor.id).limit(count)))


def a_sent_survey(db, settings, mrn: str = MS_WANG, token: str = "a-test-token-1234", days: int = 14):
    """October's outpatient sample holding one visit (share 1), its text sent with `token`."""
    doctor = doctors(db, 1)[0]
    past_visits(db, [(mrn, doctor.id, None, date(2026, 10, 15))])
    programme = settings.aftercare.satisfaction.model_copy(update={"shares": {"outpatient": 1.0}})
    begin_write(db)
    campaign, _ = satisfaction.create_campaign(db, MONTH, "outpatient", programme, OPEN)
    survey = satisfaction.planned(db, campaign.id)[0]
    message = SmsMessage(to_number="+8613800138000", body="x", kind="satisfaction", created_at=OPEN)
    db.add(message)
    db.flush()
    satisfaction.sent(db, survey, token=token, sms_id=message.id, now=OPEN, days=days)
    db.commit()
    return survey.id


# ---- the sample ---------------------------------------------------------------------------------


def test_the_sample_takes_the_share_of_each_visit_type_with_every_department(db, settings):
    every = doctors(db, 100)
    first = every[0]
    second = next(doctor for doctor in every if doctor.department_id != first.department_id)
    mrns = list(db.scalars(select(Patient.mrn).order_by(Patient.id).limit(21)))
    # 20 patients saw the first doctor, one saw the second; one patient came twice.
    rows = [(mrn, first.id, None, date(2026, 10, 1 + n)) for n, mrn in enumerate(mrns[:20])]
    rows += [(mrns[20], second.id, None, date(2026, 10, 3)), (mrns[0], first.id, None, date(2026, 10, 25))]
    past_visits(db, rows)
    programme = settings.aftercare.satisfaction.model_copy(update={"shares": {"outpatient": 0.10}})
    begin_write(db)
    campaign, created = satisfaction.create_campaign(db, MONTH, "outpatient", programme, OPEN)
    db.commit()
    surveys = list(db.scalars(select(SatisfactionSurvey).where(SatisfactionSurvey.campaign_id == campaign.id)))
    assert created and campaign.visits == 21  # 22 appointments, 21 patients: one question each
    assert len(surveys) == 3  # 10 % of 21, rounded up
    assert second.department.name_zh in {s.department for s in surveys}  # the small department is asked too
    assert len({s.patient_id for s in surveys}) == 3
    # Drawn again (a second run of the job): the same campaign, nothing added.
    begin_write(db)
    again, created_again = satisfaction.create_campaign(db, MONTH, "outpatient", programme, OPEN)
    db.commit()
    assert again.id == campaign.id and not created_again
    assert db.scalar(select(func.count()).select_from(SatisfactionSurvey)) == 3


def test_inpatients_are_sampled_by_ward_and_exams_by_their_department(db, settings):
    wards = ["心内科一病区"] * 9 + ["骨科病区"]
    mrns = list(db.scalars(select(Patient.mrn).order_by(Patient.id).limit(10)))
    add_discharges(db, [(mrn, ward, date(2026, 10, 5)) for mrn, ward in zip(mrns, wards, strict=True)])
    add_discharges(db, [(MS_WANG, "骨科病区", date(2026, 11, 5))])  # November: not October's
    past_visits(db, [(LI_MING, None, "US", date(2026, 10, 9))])
    programme = settings.aftercare.satisfaction  # 30 % of inpatients, 10 % of exams
    begin_write(db)
    inpatient, _ = satisfaction.create_campaign(db, MONTH, "inpatient", programme, OPEN)
    exam, _ = satisfaction.create_campaign(db, MONTH, "exam", programme, OPEN)
    db.commit()
    sampled = {t: satisfaction.planned(db, c.id) for t, c in (("inpatient", inpatient), ("exam", exam))}
    assert inpatient.visits == 10 and len(sampled["inpatient"]) == 3
    assert "骨科病区" in {s.department for s in sampled["inpatient"]}  # the small ward is asked too
    assert exam.visits == 1 and len(sampled["exam"]) == 1
    assert sampled["exam"][0].visit.startswith("appointment:")


# ---- the job and its texts ------------------------------------------------------------------------


def test_the_job_texts_a_link_to_each_sampled_patient_once(app, db, settings, worker):
    doctor = doctors(db, 1)[0]
    past_visits(
        db,
        [(m, doctor.id, None, date(2026, 10, 12)) for m in (MS_WANG, LI_MING, NO_MOBILE, "M00000003")],
    )
    begin_write(db)
    aftercare.opt_out(db, patient_id(db, "M00000003"), channel="agent", now=OPEN, note="test")
    db.commit()
    db.rollback()
    hotline = context.get()  # the worker's own (tests/test_sms.py:worker), with every visit asked
    programme = settings.aftercare.satisfaction.model_copy(update={"shares": {"outpatient": 1.0}})
    hotline.settings = hotline.settings.model_copy(
        update={
            "aftercare": hotline.settings.aftercare.model_copy(update={"satisfaction": programme}),
        }
    )
    said = jobs.run_satisfaction(MONTH)
    assert said.startswith("2026-10: outpatient drawn, 2 texts")
    db.rollback()
    statuses = dict(
        db.execute(
            select(Patient.mrn, SatisfactionSurvey.status).join(Patient, Patient.id == SatisfactionSurvey.patient_id)
        ).all()
    )
    assert statuses == {MS_WANG: "sent", LI_MING: "sent", NO_MOBILE: "no_mobile", "M00000003": "opted_out"}
    texts = list(db.scalars(select(SmsMessage).where(SmsMessage.kind == "satisfaction").order_by(SmsMessage.id)))
    assert len(texts) == 2
    wang = next(t for t in texts if t.to_number == "+8613800138000")
    assert wang.body.startswith("【明湖示范医院】王女士您好，感谢您10月在")
    assert doctor.name_zh not in wang.body and "王秀英" not in wang.body  # the department, not who or why
    link = re.search(r"https?://\S+/s/([\w-]+)", wang.body)
    assert link and satisfaction.by_token(db, link.group(1)).patient_id == patient_id(db, MS_WANG)
    # The next day's run: nothing drawn, nothing sent again.
    assert jobs.run_satisfaction(MONTH).startswith("2026-10: outpatient existed, 0 texts")
    db.rollback()
    assert db.scalar(select(func.count()).select_from(SmsMessage).where(SmsMessage.kind == "satisfaction")) == 2


# ---- the patient's page ---------------------------------------------------------------------------


def test_the_patient_answers_once_on_the_page_the_link_opens(app, db, settings):
    a_sent_survey(db, settings)
    client = app.test_client()
    page = client.get("/s/a-test-token-1234")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "10月" in html and "王" not in html.split("<main>")[1]
    assert client.post("/s/a-test-token-1234", data={"score": "2", "comment": "x"}).status_code == 400  # no CSRF
    token = csrf_token(html)
    refused = client.post("/s/a-test-token-1234", data={"csrf_token": token, "score": "9"})
    assert refused.status_code == 422 and "Choose a score from 1 to 5" in refused.get_data(as_text=True)
    too_long = "长" * (settings.aftercare.satisfaction.comment_chars + 1)
    assert (
        client.post("/s/a-test-token-1234", data={"csrf_token": token, "score": "2", "comment": too_long}).status_code
        == 422
    )
    done = client.post(
        "/s/a-test-token-1234", data={"csrf_token": token, "score": "2", "comment": "候诊太久 waited long"}
    )
    assert done.status_code == 200 and "Thank you for your answer" in done.get_data(as_text=True)
    again = client.post("/s/a-test-token-1234", data={"csrf_token": token, "score": "5"})
    assert again.status_code == 409 and "You have answered already" in again.get_data(as_text=True)
    db.rollback()
    survey = db.scalar(select(SatisfactionSurvey))
    assert (survey.status, survey.score, survey.comment) == ("answered", 2, "候诊太久 waited long")
    unknown = client.get("/s/not-a-token")
    assert unknown.status_code == 404 and "please check the link" in unknown.get_data(as_text=True)


def test_a_link_past_its_date_takes_no_answer(app, db, settings, clock):
    a_sent_survey(db, settings, days=1)
    clock.now = OPEN + timedelta(days=2)
    client = app.test_client()
    page = client.get("/s/a-test-token-1234")
    assert page.status_code == 410 and "This link has expired" in page.get_data(as_text=True)
    begin_write(db)
    assert (
        satisfaction.answer(db, "a-test-token-1234", score=5, comment=None, now=OPEN + timedelta(days=2)) == "expired"
    )
    db.rollback()


# ---- the supervisors' pages ------------------------------------------------------------------------


def answered(db, settings, score: int, comment: str | None):
    survey_id = a_sent_survey(db, settings)
    begin_write(db)
    assert satisfaction.answer(db, "a-test-token-1234", score=score, comment=comment, now=OPEN) == "answered"
    db.commit()
    return survey_id


def test_supervisors_see_rates_scores_and_comments_and_open_a_case_in_one_click(app, db, settings):
    survey_id = answered(db, settings, 1, "医生态度不好 rude")
    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    html = client.get(f"/aftercare/satisfaction?month={MONTH}").get_data(as_text=True)
    rates = html.split('id="rates"')[1].split("</table>")[0]
    assert 'data-type="outpatient"' in rates and '<td class="rate">100%</td>' in rates
    assert "1.00" in html.split('id="by-department"')[1].split("</table>")[0]
    assert "医生态度不好 rude" in html.split('id="comments"')[1]
    opened = client.post(
        f"/aftercare/satisfaction/{survey_id}/complaint", data={"csrf_token": csrf_token(html), "month": MONTH}
    )
    assert opened.status_code == 302 and "/agent/cases/" in opened.headers["Location"]
    db.rollback()
    case = db.scalar(select(ComplaintCase))
    assert case.owner_id == supervisor.id and "医生态度不好 rude" in case.summary
    assert db.get(SatisfactionSurvey, survey_id).case_id == case.id
    assert [a.action for a in accesses(db, patient_id=case.patient_id)] == ["open_case"]
    # A second click opens nothing more.
    twice = client.post(
        f"/aftercare/satisfaction/{survey_id}/complaint",
        data={"csrf_token": csrf_token(html), "month": MONTH},
        follow_redirects=True,
    )
    assert "a case was already opened from this comment" in twice.get_data(as_text=True)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ComplaintCase)) == 1


def test_the_weekly_summary_counts_the_weeks_answers(app, db, settings):
    answered(db, settings, 2, "停车难 parking")
    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    week = f"{OPEN:%G-W%V}"
    html = client.get(f"/aftercare/satisfaction/week?week={week}").get_data(as_text=True)
    assert "1 answers, average 2.00, 1 dissatisfied (1-2), 1 comments." in html
    assert "停车难 parking" in html
    earlier = client.get(f"/aftercare/satisfaction/week?week={OPEN - timedelta(days=7):%G-W%V}").get_data(as_text=True)
    assert "0 answers, average –" in earlier


def test_agents_see_neither_results_nor_comments(app, db, settings):
    agent = make_staff(app, "agent")
    client = app.test_client()
    log_in(client, agent.username, agent.password)
    assert client.get("/aftercare/satisfaction").status_code == 403
    assert client.get("/aftercare/satisfaction/week").status_code == 403


def test_months_and_weeks_in_addresses_are_checked(app, db, settings):
    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    for query in ("month=2026-13", "month=<script>", "month=2026-1"):
        page = client.get(f"/aftercare/satisfaction?{query}")
        assert page.status_code == 200 and rules.previous_month(OPEN.date()) in page.get_data(as_text=True)
    assert client.get("/aftercare/satisfaction/week?week=2026-W99").status_code == 200


def test_past_the_survey_period_the_answer_keeps_its_score_but_not_who_or_what_was_said(db, settings):
    survey_id = answered(db, settings, 4, "护士很耐心 kind nurses")
    begin_write(db)
    # Cut-off after the visit: as the nightly purge does survey_days after it (records.retention).
    assert retention.forget_survey_answers(db, OPEN, 500) == 1
    db.commit()
    survey = db.get(SatisfactionSurvey, survey_id)
    assert (survey.patient_id, survey.comment, survey.token_hash) == (None, None, None)
    assert (survey.score, survey.status) == (4, "answered") and survey.department
    assert satisfaction.scores(db, [MONTH], "month")[0].average == 4.0  # the results stay
    begin_write(db)
    assert retention.forget_survey_answers(db, OPEN, 500) == 0  # nothing left to do
    db.rollback()


def test_without_a_public_address_no_text_carries_a_link_nobody_could_open(app, db, settings, worker):
    doctor = doctors(db, 1)[0]
    past_visits(db, [(MS_WANG, doctor.id, None, date(2026, 10, 12))])
    db.rollback()
    hotline = context.get()
    programme = settings.aftercare.satisfaction.model_copy(update={"shares": {"outpatient": 1.0}})
    hotline.settings = hotline.settings.model_copy(
        update={
            "aftercare": hotline.settings.aftercare.model_copy(update={"satisfaction": programme}),
            "env": hotline.settings.env.model_copy(update={"public_base_url": None}),
        }
    )
    assert jobs.run_satisfaction(MONTH).endswith("no texts: PUBLIC_BASE_URL is not set")
    db.rollback()
    assert db.scalar(select(func.count()).select_from(SmsMessage)) == 0
    assert db.scalar(select(SatisfactionSurvey.status)) == "planned"  # sent once the address is set
