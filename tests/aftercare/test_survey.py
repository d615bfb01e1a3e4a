"""The satisfaction survey after an agent call (the caller is redirected to it
when the agent's leg ends): one keypad score, an optional recorded comment,
stored with the call, the agent and the queue; opting out by keypad, by a
text ('TD', '退订', 'STOP') and by a member of staff."""

from __future__ import annotations

from sqlalchemy import select

from queueing import jobs
from records import aftercare
from records.db import begin_write
from records.models import Appointment, CallEvent, CallRecord, OutreachOptOut, PatientNote, SurveyResponse
from tests.aftercare.conftest import MS_WANG_PHONE
from tests.conftest import OPEN
from tests.test_reminders import reply
from tests.test_sms import MS_WANG, TOMORROW, a_session, book, fresh


def after_an_agent(app, carrier, server, dial, number: str = "+8613912345678", *, agent_id: int = 7):
    """A call that an agent of the 'general' queue answered, whose agent leg has just ended."""
    call = dial(number)
    call.take_text()
    app.extensions["hotline"].calls.add_events(
        call.sid, OPEN, [("answer", {"queue": "general", "agent_id": agent_id, "waited": 12})]
    )
    carrier.update_call(call.sid, url=f"{server}/ivr/survey/start")
    call.wait(0)
    return call


def test_a_score_and_a_comment_belong_to_the_call_the_agent_and_the_queue(
    app, db, carrier, server, dial, records_worker
):
    call = after_an_agent(app, carrier, server, dial)
    assert "请您对本次服务进行评价" in call.take_text()
    call.press("4")
    heard = call.take_text()
    assert "感谢您的评价" in heard and "如需留言，请按1" in heard
    call.press("1")
    assert "请在提示音后留言，最长60秒" in call.take_text() and call.waiting_for == "record"
    call.speak("护士很耐心，谢谢")
    call.press("#")
    assert "您的留言已收到" in call.take_text() and call.ended

    records_worker.work()
    db.rollback()
    response = db.scalar(select(SurveyResponse).where(SurveyResponse.call_sid == call.sid))
    assert (response.score, response.agent_id, response.queue) == (4, 7, "general")
    assert response.comment_recording_sid in carrier.recordings and response.comment_seconds >= 1
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == call.sid))
    survey = [
        e.detail
        for e in db.scalars(select(CallEvent).where(CallEvent.call_id == record.id, CallEvent.kind == "survey"))
    ]
    assert survey == [{"score": 4, "agent_id": 7, "queue": "general"}]
    [(queue, n, average)] = [
        (r.name, r.responses, r.average) for r in aftercare.survey_scores(db, since=OPEN, by="queue")
    ]
    assert (queue, n, average) == ("general", 1, 4.0)


def test_a_wrong_key_asks_again_and_silence_ends_politely(app, db, carrier, server, dial):
    call = after_an_agent(app, carrier, server, dial)
    call.take_text()
    call.press("7")
    assert "请您对本次服务进行评价" in call.take_text()
    call.silence()
    call.silence()  # a wrong key and two silences in a row: three failures
    assert "感谢您的来电，再见" in call.take_text() and call.ended
    db.rollback()
    assert db.scalar(select(SurveyResponse)) is None


def test_the_patient_opts_out_by_keypad_after_the_survey(app, db, carrier, server, dial):
    call = after_an_agent(app, carrier, server, dial, MS_WANG_PHONE)  # her number: her file
    call.take_text()
    call.press("5")
    call.take_text()
    call.press("9")
    assert "确认请按1" in call.take_text()
    call.press("1")
    assert "已为您退订" in call.take_text() and call.ended
    db.rollback()
    opt_out = db.scalar(select(OutreachOptOut))
    assert opt_out.channel == "keypad" and opt_out.patient.mrn == "M00000001"


def test_an_unknown_caller_cannot_opt_out_by_keypad(app, db, carrier, server, dial):
    call = after_an_agent(app, carrier, server, dial, "+8613912345678")
    call.take_text()
    call.press("3")
    call.take_text()
    call.press("9")
    assert "无法确认您的身份" in call.take_text() and not call.ended
    db.rollback()
    assert db.scalar(select(OutreachOptOut)) is None


def test_replying_td_to_a_text_opts_out_everyone_on_that_number(app, db):
    answer = reply(app, "13700001111", "ｔｄ")  # the Zhang family's shared phone, typed full-width
    assert "已退订" in answer
    db.rollback()
    opted = sorted(o.patient.mrn for o in db.scalars(select(OutreachOptOut)))
    assert opted == ["M00000003", "M00000004"]
    assert all(o.channel == "sms" for o in db.scalars(select(OutreachOptOut)))
    assert "opted out of follow-ups by text" in db.scalars(select(PatientNote.text)).all()
    assert "已退订" in reply(app, MS_WANG_PHONE, "退订")
    assert "没有找到需要回复的预约" in reply(app, MS_WANG_PHONE, "TD please")  # not the word alone: not an opt-out


def test_an_opted_out_patient_gets_no_reminder_text_or_call(app, db, settings, worker, carrier):
    wang = book(db, settings, MS_WANG, a_session(db, TOMORROW))
    begin_write(db)
    aftercare.opt_out(db, wang.patient_id, channel="sms", now=OPEN)
    db.commit()
    assert jobs.send_reminders() == 0
    worker.work()
    assert carrier.messages == [] and carrier.calls == []
    assert fresh(db, Appointment, wang.id).reminded_at == OPEN  # claimed once: not tried again tonight
    assert jobs.call_reminder(wang.id) == "opted out"


def test_a_patient_who_opted_out_is_not_surveyed(app, db, carrier, server, dial):
    begin_write(db)
    aftercare.opt_out(db, aftercare.patient_by_mrn(db, "M00000001").id, channel="agent", now=OPEN)
    db.commit()
    call = after_an_agent(app, carrier, server, dial, MS_WANG_PHONE)
    heard = call.take_text()
    assert "评价" not in heard and "感谢您的来电，再见" in heard and call.ended
