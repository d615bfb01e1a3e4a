"""Follow-up calls through the carrier emulator: the campaign's call rings the
patient, who proves who they are and answers the questions by keypad; a worrying
answer is flagged for a nurse; no answer, busy and machines are tried again at
spaced times, never outside the calling hours; opt-outs are honoured."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import rq
from sqlalchemy import select

from queueing import ROUTINE, queue_name
from queueing import aftercare as jobs
from records import aftercare
from records.db import begin_write
from records.models import CallRecord, PatientNote
from tests.aftercare.conftest import MS_WANG_PHONE, add_discharges, run_campaign, tasks
from tests.conftest import OPEN
from tests.test_sms import signed_post
from tests.twiml import parse, spoken, verbs

MR_LI_PHONE = "+8613910002000"


def answered(carrier, worker, number: str = MS_WANG_PHONE):
    worker.work()  # the job places the call
    call = carrier.ringing(number)
    call.answer()
    return call


def scheduled(worker) -> list[datetime]:
    registry = rq.Queue(queue_name(worker.prefix, ROUTINE), connection=worker.connection).scheduled_job_registry
    return sorted(registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids())


def test_the_patient_identified_answers_every_question(db, worker, carrier, ms_wang_discharged, records_worker):
    assert run_campaign(db) == "2026-10: created, 1 calls queued"
    call = answered(carrier, worker)
    heard = call.take_text()
    assert "明湖示范医院" in heard and "王女士" in heard and "出生月份和日期" in heard
    assert "出院" not in heard and "秀英" not in heard  # nothing about her stay before she proves who she is
    call.press("0502#")
    heard = call.take_text()
    assert "出院后的回访电话，有3个简单的问题" in heard and "感觉怎么样" in heard
    call.press("1")
    assert "用药方法" in call.take_text()
    call.press("1")
    assert "新症状" in call.take_text()
    call.press("2")
    assert "祝您早日康复" in call.take_text() and call.ended

    [task] = tasks(db)
    assert (task.status, task.attempts, task.flagged) == ("completed", 1, False)
    assert task.answers == {"feeling": "1", "medication": "1", "new_symptom": "2"}
    assert task.reached_at == OPEN and task.last_call_sid == call.sid
    records_worker.work()  # the call's record, written by the records worker
    db.rollback()
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == call.sid))
    assert record.patient_id == task.patient_id and record.status == "completed"
    note = db.scalar(select(PatientNote.text).where(PatientNote.kind == "followup"))
    assert note == "follow-up call: questionnaire answered"
    assert run_campaign(db) == "2026-10: exists, 0 calls queued"  # a second run calls nobody again


def test_a_worrying_answer_flags_the_task_and_asks_for_a_nurse(db, worker, carrier, ms_wang_discharged):
    run_campaign(db)
    call = answered(carrier, worker)
    call.press("0502#")
    call.press("3")  # unwell
    call.press("2")  # did not understand the medication
    call.press("2")
    heard = call.take_text()
    assert "护士会尽快给您回电" in heard and "120" in heard and call.ended

    [task] = tasks(db)
    assert task.status == "completed" and task.flagged
    assert task.flags == ["feeling", "medication"]
    assert task.nurse_requested_at == OPEN and task.nurse_done_at is None
    assert [t.id for t in aftercare.flags_waiting(db)] == [task.id]


def test_a_wrong_birthday_three_times_ends_the_call_and_tries_again_later(db, worker, carrier, ms_wang_discharged):
    run_campaign(db)
    call = answered(carrier, worker)
    for _ in range(2):
        call.press("0101#")
        assert "信息不符" in call.take_text()
    call.press("0101#")
    heard = call.take_text()
    assert "无法确认您的身份" in heard and "感觉" not in heard and call.ended
    [task] = tasks(db)
    assert (task.status, task.last_result, task.reached_at) == ("retry", "not_identified", None)


def test_no_answer_and_busy_are_tried_again_at_spaced_times_then_given_up(
    db, worker, carrier, clock, ms_wang_discharged
):
    carrier.set_endpoint(MS_WANG_PHONE, "no-answer")
    run_campaign(db)
    worker.work()
    carrier.advance(60)  # it rings out
    [task] = tasks(db)
    assert (task.status, task.attempts, task.last_result) == ("retry", 1, "no-answer")
    # Two hours later is 12:00, the lunch break: the retry waits for 14:00.
    assert task.next_attempt_at == OPEN.replace(hour=14)
    assert scheduled(worker) == [OPEN.replace(hour=14)]

    carrier.set_endpoint(MS_WANG_PHONE, "busy")
    clock.now = OPEN.replace(hour=13)  # a job run early (a duplicate) does not call
    worker.retry_now()
    worker.work()
    assert len(carrier.calls) == 1
    clock.now = OPEN.replace(hour=14)
    worker.retry_now()
    worker.work()
    carrier.advance(5)
    [task] = tasks(db)
    assert (task.status, task.attempts, task.last_result) == ("retry", 2, "busy")
    assert task.next_attempt_at == OPEN.replace(hour=14) + timedelta(days=1)  # then a day later

    clock.now = task.next_attempt_at
    worker.retry_now()
    worker.work()
    carrier.advance(5)
    [task] = tasks(db)
    assert (task.status, task.attempts) == ("unreached", 3)
    assert len([c for c in carrier.calls if c.to == MS_WANG_PHONE]) == 3
    assert scheduled(worker) == []  # given up: nothing more queued


def test_an_answering_machine_hears_only_the_hospital_and_its_number(db, worker, carrier, ms_wang_discharged):
    carrier.set_endpoint(MS_WANG_PHONE, "machine")
    run_campaign(db)
    worker.work()
    call = next(c for c in carrier.calls if c.to == MS_WANG_PHONE)
    carrier.advance(30)
    heard = " ".join(u.text for u in call.heard)
    assert call.answered_by == "machine_start" and call.ended
    assert "明湖示范医院" in heard and "0 1 0" in heard
    assert "王" not in heard and "出院" not in heard and "回访" not in heard
    [task] = tasks(db)
    assert (task.status, task.last_result, task.reached_at) == ("retry", "machine", None)


def test_never_called_outside_the_calling_hours(db, worker, carrier, clock, ms_wang_discharged):
    clock.now = OPEN.replace(hour=21)  # Tuesday 21:00; calls from 09:00
    run_campaign(db)
    worker.work()
    assert carrier.calls == []
    assert scheduled(worker) == [OPEN.replace(hour=9) + timedelta(days=1)]
    # A job that runs at night anyway (a worker catching up) puts itself back to 09:00.
    worker.retry_now()
    worker.work()
    assert carrier.calls == [] and scheduled(worker) == [OPEN.replace(hour=9) + timedelta(days=1)]

    clock.now = OPEN.replace(hour=9) + timedelta(days=1)
    worker.retry_now()
    worker.work()
    assert carrier.ringing(MS_WANG_PHONE).to == MS_WANG_PHONE


def test_an_opted_out_patient_is_not_called(db, worker, carrier, ms_wang_discharged):
    run_campaign(db)
    [task] = tasks(db)
    begin_write(db)
    assert aftercare.opt_out(db, task.patient_id, channel="agent", now=OPEN, by_staff_id=None)
    db.commit()
    worker.work()  # the job checks first
    assert carrier.calls == []
    [task] = tasks(db)
    assert task.status == "opted_out"


def test_a_late_callback_of_an_earlier_attempt_changes_nothing(db, worker, carrier, clock, ms_wang_discharged):
    carrier.set_endpoint(MS_WANG_PHONE, "no-answer")
    run_campaign(db)
    worker.work()
    carrier.advance(60)
    first = next(c for c in carrier.calls if c.to == MS_WANG_PHONE)
    carrier.set_endpoint(MS_WANG_PHONE, "manual")
    clock.now = OPEN.replace(hour=14)
    worker.retry_now()
    call = answered(carrier, worker)
    carrier.repost_status(first)  # attempt 1's 'no-answer', again, during attempt 2
    [task] = tasks(db)
    assert (task.status, task.attempts) == ("calling", 2)
    call.hangup()
    [task] = tasks(db)
    assert task.status == "retry" and task.attempts == 2


def test_a_step_for_another_number_or_attempt_says_nothing_about_the_patient(
    app, db, worker, carrier, ms_wang_discharged
):
    run_campaign(db)
    call = answered(carrier, worker)
    [task] = tasks(db)
    start = next(f for f in call.fetches if "/ivr/followup/start" in f["url"])
    assert f"task={task.id}" in start["url"] and "attempt=1" in start["url"]
    for to, attempt in (("+8613912345678", "1"), (MS_WANG_PHONE, "2")):
        path = f"/ivr/followup/identify?task={task.id}&attempt={attempt}&lang=zh"
        form = {"CallSid": call.sid, "From": "+861065281000", "To": to, "Digits": "0502"}
        root = parse(signed_post(app, path, form).get_data())
        assert "王" not in spoken(root) and "问题" not in spoken(root) and verbs(root)[-1] == "Hangup"


def test_an_english_speaking_patient_is_called_in_english(db, worker, carrier):
    add_discharges(db, [("M00000002", "骨科病区", date(2026, 10, 5))])  # Mr Li: English
    run_campaign(db)
    call = answered(carrier, worker, MR_LI_PHONE)
    heard = call.take_text()
    assert "Minghu Demonstration Hospital" in heard and "Mr Li" in heard and "month and day of your birth" in heard
    born = tasks(db)[0].patient.birth_date
    call.press(f"{born.month:02d}{born.day:02d}#")
    assert "3 short questions" in call.take_text()


def test_the_sweeper_retries_a_call_whose_status_never_came_and_requeues_lost_jobs(
    db, worker, carrier, clock, ms_wang_discharged
):
    run_campaign(db)
    worker.work()
    carrier.ringing(MS_WANG_PHONE)  # it rings, and the carrier never calls back (as if lost)
    [task] = tasks(db)
    assert task.status == "calling"
    clock.now = OPEN + timedelta(minutes=31)
    assert jobs.sweep_aftercare().startswith("0 calls")
    [task] = tasks(db)
    assert (task.status, task.last_result) == ("retry", "no_status")
    assert scheduled(worker) == [OPEN.replace(hour=14)]  # 10:31 + 2 h is lunch: 14:00

    # The retry's job is lost (Redis flushed): at 14:10 the sweeper queues the call again.
    registry = rq.Queue(queue_name(worker.prefix, ROUTINE), connection=worker.connection).scheduled_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id)
    clock.now = OPEN.replace(hour=14, minute=11)
    assert jobs.sweep_aftercare().startswith("1 calls")
    worker.work()
    assert len([c for c in carrier.calls if c.to == MS_WANG_PHONE]) == 2
