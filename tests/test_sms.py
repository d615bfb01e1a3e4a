"""Text messages: stored, sent by an RQ worker through the local carrier emulator's
REST API, retried, and followed by the carrier's status callbacks.

RQ's own way of testing: real Redis, this test's own queues (REDIS_PREFIX), the
jobs run in-process by a SimpleWorker in burst mode (conftest.BurstWorker).  The job context is
pointed at this test's database, Redis, emulator and served app."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
import rq
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from extensions import Hotline
from queueing import URGENT, context, enqueue_sms, queue_name, queues
from queueing import jobs as job_functions
from records import booking
from records.booking import Outcome
from records.models import Appointment, ClinicSession, ExamType, Patient, SmsMessage
from tests.conftest import AUTH_TOKEN, OPEN, BurstWorker
from wording.texts import appointment_text, queue_appointment_sms

MS_WANG, MR_LI, ZHANG_WEI, ZHANG_LI = "M00000001", "M00000002", "M00000003", "M00000004"
MS_WANG_PHONE, FAMILY_PHONE = "+8613800138000", "+8613700001111"
DEAD = "redis://127.0.0.1:1/0"  # nothing listens there
TOMORROW = OPEN.date() + timedelta(days=1)  # a Wednesday


# ---- helpers (test_reminders.py uses them too) ---------------------------------------------


def patient(db, mrn: str) -> Patient:
    return db.scalar(select(Patient).where(Patient.mrn == mrn))


def a_session(db, day, *, exam: str | None = None, nth: int = 0) -> ClinicSession:
    query = select(ClinicSession).where(ClinicSession.date == day)
    if exam:
        query = query.join(ClinicSession.exam_type).where(ExamType.code == exam)
    else:
        query = query.where(ClinicSession.doctor_id.is_not(None))
    return db.scalars(query.order_by(ClinicSession.start_time, ClinicSession.id)).all()[nth]


def book(db, settings, mrn: str, session: ClinicSession) -> Appointment:
    result = booking.book(db, patient_id=patient(db, mrn).id, session_id=session.id, now=OPEN, rules=settings.booking)
    assert result.outcome is Outcome.BOOKED
    db.commit()
    return result.appointment


def fresh(db, model, id_):
    """What the worker and the webhooks committed (a new transaction sees it)."""
    db.rollback()
    return db.get(model, id_, populate_existing=True)


def signed_post(app, path: str, form: dict):
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://localhost" + path, form)
    return app.test_client().post(path, data=form, headers={"X-Twilio-Signature": signature})


@dataclass
class Worker:
    connection: redis.Redis
    prefix: str

    def queue(self, kind: str) -> rq.Queue:
        return rq.Queue(queue_name(self.prefix, kind), connection=self.connection)

    def work(self) -> None:
        BurstWorker(queues(self.connection, self.prefix), connection=self.connection).work(
            burst=True, logging_level="WARNING"
        )

    def retry_now(self) -> int:
        """What RQ's scheduler does once a retry's wait is over, without waiting."""
        waiting = 0
        for queue in queues(self.connection, self.prefix):
            for job_id in queue.scheduled_job_registry.get_job_ids():
                queue.scheduled_job_registry.requeue(job_id)
                waiting += 1
        return waiting

    def pending(self) -> int:
        return sum(queue.count for queue in queues(self.connection, self.prefix))


@pytest.fixture
def worker(app, environ, server, carrier, clock, monkeypatch):
    """An RQ worker's view of this test: its database, Redis and clock, the emulator's
    REST API, and the served hotline for callbacks and reminder calls."""
    api = carrier.serve()
    for name, value in {**environ, "TWILIO_API_BASE": api, "PUBLIC_BASE_URL": server}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    context.reset(clock=clock)
    hotline = app.extensions["hotline"]
    yield Worker(hotline.queue_redis, hotline.settings.env.redis_prefix)
    context.reset()
    carrier.stop()


def confirmation(db, settings, mrn: str = MS_WANG, **where) -> SmsMessage:
    appointment = book(db, settings, mrn, a_session(db, TOMORROW, **where))
    message = queue_appointment_sms(db, settings, appointment, "confirmation", OPEN)
    db.commit()
    return message


# ---- texts -------------------------------------------------------------------------------------


def test_an_appointment_text_says_when_where_and_its_reference_and_nothing_else(db, settings):
    appointment = book(db, settings, MS_WANG, a_session(db, TOMORROW))
    doctor = appointment.session.doctor
    text = appointment_text(settings, appointment, "confirmation", "zh")
    assert text.startswith("【明湖示范医院】王女士预约成功：11月25日周三上午")
    assert doctor.department.name_zh in text and doctor.name_zh in text
    assert f"就诊序号{appointment.place}" in text and f"预约号{appointment.reference}" in text
    assert "秀英" not in text and "M00000001" not in text  # title and surname only
    reminder = appointment_text(settings, appointment, "reminder", "zh")
    assert reminder.endswith("回复1确认就诊，回复2取消预约。") and len(reminder) < 300

    exam = book(db, settings, MR_LI, a_session(db, TOMORROW, exam="US"))
    english = appointment_text(settings, exam, "reminder", "en")
    assert english.startswith("【Minghu Demonstration Hospital】Reminder for Mr Li: Wednesday 25 November, morning")
    assert exam.session.exam_type.preparation_en in english
    assert english.endswith("Reply 1 to confirm, 2 to cancel.")
    assert "cancelled" in appointment_text(settings, exam, "cancellation", "en")


# ---- sending ------------------------------------------------------------------------------------


def test_a_confirmation_is_sent_by_a_worker_then_delivered_and_a_late_sent_changes_nothing(
    db, settings, worker, carrier
):
    message = confirmation(db, settings)
    enqueue_sms(worker.queue(URGENT), message.id, settings)
    worker.work()

    [sent] = carrier.messages
    assert (sent.to, sent.from_, sent.body) == (MS_WANG_PHONE, settings.twilio.caller_id, message.body)
    stored = fresh(db, SmsMessage, message.id)
    assert (stored.status, stored.provider_sid, stored.attempts) == ("sent", sent.sid, 1)
    assert stored.sent_at == OPEN

    carrier.advance(5)  # the carrier reports 'sent', then 'delivered'
    assert fresh(db, SmsMessage, message.id).status == "delivered"
    carrier.repost_status(sent, sequence=0)  # the 'sent' callback again, late
    assert fresh(db, SmsMessage, message.id).status == "delivered"
    assert all(response == 204 for d in sent.deliveries for response in d.responses)

    enqueue_sms(worker.queue(URGENT), message.id, settings)  # a duplicate job sends nothing
    worker.work()
    assert len(carrier.messages) == 1


def test_status_callbacks_must_be_signed_and_may_beat_the_workers_commit(app, db, settings):
    message = confirmation(db, settings)
    form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}
    forged = app.test_client().post(f"/ivr/sms/status?m={message.id}", data=form)
    assert forged.status_code == 403
    assert fresh(db, SmsMessage, message.id).status == "queued"
    # The carrier called back before the worker stored the sid: the id in the URL finds it.
    assert signed_post(app, f"/ivr/sms/status?m={message.id}", form).status_code == 204
    stored = fresh(db, SmsMessage, message.id)
    assert (stored.status, stored.provider_sid) == ("delivered", form["MessageSid"])


def test_a_carrier_error_is_retried_but_a_refusal_fails_for_good(db, settings, worker, carrier):
    retried, refused = confirmation(db, settings), confirmation(db, settings, MR_LI, nth=1)
    carrier.fail_next_messages(1)  # HTTP 500
    enqueue_sms(worker.queue(URGENT), retried.id, settings)
    worker.work()
    stored = fresh(db, SmsMessage, retried.id)
    assert (stored.status, stored.attempts) == ("queued", 1) and "HTTP 500" in stored.error
    assert carrier.messages == []

    assert worker.retry_now() == 1  # RQ scheduled the retry (Retry set by enqueue_sms)
    worker.work()
    stored = fresh(db, SmsMessage, retried.id)
    assert (stored.status, stored.attempts, stored.error) == ("sent", 2, None)
    assert len(carrier.messages) == 1

    carrier.fail_next_messages(1, status=400)
    enqueue_sms(worker.queue(URGENT), refused.id, settings)
    worker.work()
    stored = fresh(db, SmsMessage, refused.id)
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert stored.error.startswith("HTTP 400, error 20001")
    assert worker.retry_now() == 0 and len(carrier.messages) == 1


def test_with_redis_down_the_message_stays_queued_and_the_sweeper_sends_it(
    db, settings, worker, carrier, clock, caplog, tmp_path
):
    message = confirmation(db, settings)
    down = Hotline(settings.model_copy(update={"env": settings.env.model_copy(update={"redis_url": DEAD})}), tmp_path)
    started = time.monotonic()
    enqueue_sms(down.queue, message.id, settings)  # as a webhook does: no exception, no long wait
    assert time.monotonic() - started < 1
    assert "stays queued for the sweeper" in caplog.text and "13800138000" not in caplog.text
    assert fresh(db, SmsMessage, message.id).status == "queued"

    assert job_functions.requeue_stuck_sms() == 0  # too recent to be stuck
    clock.now = OPEN + timedelta(minutes=6)
    assert job_functions.requeue_stuck_sms() == 1
    worker.work()
    assert fresh(db, SmsMessage, message.id).status == "sent"
    assert len(carrier.messages) == 1


def test_a_message_whose_worker_died_after_the_carrier_took_it_is_not_sent_again(db, settings, worker, carrier):
    """'sending' means an attempt of unknown outcome: the carrier is asked first."""
    reached, lost = confirmation(db, settings), confirmation(db, settings, MR_LI, nth=1)
    for message in (reached, lost):
        message.status, message.attempts = "sending", 1
    db.commit()
    earlier = carrier.send_message(reached.to_number, reached.body, from_=settings.twilio.caller_id)

    for message in (reached, lost):
        enqueue_sms(worker.queue(URGENT), message.id, settings)
    worker.work()
    assert [m.to for m in carrier.messages] == [MS_WANG_PHONE, lost.to_number]  # only the lost one sent
    assert fresh(db, SmsMessage, reached.id).provider_sid == earlier.sid
    assert (fresh(db, SmsMessage, lost.id).status, fresh(db, SmsMessage, lost.id).attempts) == ("sent", 2)
