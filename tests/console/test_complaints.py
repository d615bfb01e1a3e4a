"""Complaint cases: ownership, deadline, notes and status, handover, the overdue sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from queueing import context
from queueing.complaints import escalate_overdue_cases
from records import complaints
from records.complaints import Actor, CaseError, NotAllowed
from records.db import begin_write
from records.models import CaseHandover, CaseNote, ComplaintCase
from tests.conftest import OPEN
from tests.test_sms import MR_LI, MS_WANG, patient

CALL = "CA" + "d" * 32


@pytest.fixture
def actors(team):
    return (Actor(team.agent.id), Actor(team.other_agent.id), Actor(team.supervisor.id, supervisor=True))


def open_one(db, settings, actor, mrn=MS_WANG, *, at=OPEN, call_sid=CALL, summary="挂号处态度不好"):
    begin_write(db)
    case = complaints.open_case(
        db,
        patient_id=patient(db, mrn).id,
        actor=actor,
        summary=summary,
        now=at,
        deadline_days=settings.console.complaint_deadline_days,
        call_sid=call_sid,
    )
    db.commit()
    return case


def test_a_case_opened_from_a_call_is_owned_by_its_agent_due_in_three_days_and_links_the_call(db, settings, actors):
    agent, _, _ = actors
    case = open_one(db, settings, agent)
    assert (case.owner_id, case.opened_by_id, case.source, case.status) == (
        agent.staff_id,
        agent.staff_id,
        "call",
        "open",
    )
    assert case.deadline_at == OPEN + timedelta(days=3) and settings.console.complaint_deadline_days == 3
    assert [link.call_sid for link in case.calls] == [CALL]
    by_hand = open_one(db, settings, agent, call_sid=None)
    assert by_hand.source == "manual" and by_hand.calls == []


def test_the_deadline_comes_from_config(db, settings, actors):
    begin_write(db)
    case = complaints.open_case(
        db, patient_id=patient(db, MS_WANG).id, actor=actors[0], summary="x", now=OPEN, deadline_days=5
    )
    assert case.deadline_at == OPEN + timedelta(days=5)


def test_an_empty_complaint_or_an_unknown_patient_is_refused(db, settings, actors):
    begin_write(db)
    with pytest.raises(CaseError, match="required"):
        complaints.open_case(
            db, patient_id=patient(db, MS_WANG).id, actor=actors[0], summary="  ", now=OPEN, deadline_days=3
        )
    with pytest.raises(CaseError, match="no such patient"):
        complaints.open_case(db, patient_id=999999, actor=actors[0], summary="x", now=OPEN, deadline_days=3)


def test_only_the_owner_and_supervisors_may_read_or_work_a_case(db, settings, actors):
    agent, other, supervisor = actors
    case = open_one(db, settings, agent)
    assert complaints.get_case(db, case.id, agent).id == case.id
    assert complaints.get_case(db, case.id, supervisor).id == case.id
    with pytest.raises(NotAllowed):
        complaints.get_case(db, case.id, other)
    with pytest.raises(NotAllowed):
        complaints.add_note(db, case, actor=other, text="我来看看", now=OPEN)
    with pytest.raises(NotAllowed):
        complaints.hand_over(db, case, actor=other, to_staff_id=other.staff_id, reason="我接手", now=OPEN)
    assert [c.id for c in complaints.my_cases(db, agent.staff_id)] == [case.id]
    assert complaints.my_cases(db, other.staff_id) == []


def test_a_case_cannot_be_closed_without_the_answer_given_to_the_patient(db, settings, actors):
    agent, _, _ = actors
    case = open_one(db, settings, agent)
    begin_write(db)
    complaints.change_status(db, case, actor=agent, status="waiting_on_department", now=OPEN + timedelta(hours=1))
    with pytest.raises(CaseError, match="answer"):
        complaints.change_status(db, case, actor=agent, status="closed", now=OPEN + timedelta(hours=2))
    complaints.add_note(db, case, actor=agent, text="已联系挂号处主任", now=OPEN + timedelta(hours=3))
    with pytest.raises(CaseError, match="answer"):
        complaints.change_status(db, case, actor=agent, status="answered", now=OPEN + timedelta(hours=4))
    complaints.change_status(
        db, case, actor=agent, status="answered", now=OPEN + timedelta(hours=5), answer="已致电患者道歉并说明整改"
    )
    complaints.change_status(db, case, actor=agent, status="closed", now=OPEN + timedelta(hours=6))
    db.commit()
    db.expire_all()
    stored = db.get(ComplaintCase, case.id)
    assert (stored.status, stored.answered_at, stored.closed_at) == (
        "closed",
        OPEN + timedelta(hours=5),
        OPEN + timedelta(hours=6),
    )
    kinds = [(note.kind, note.text) for note in stored.notes]
    assert kinds == [
        ("status", "open → waiting_on_department"),
        ("note", "已联系挂号处主任"),
        ("answer", "已致电患者道歉并说明整改"),
        ("status", "waiting_on_department → answered"),
        ("status", "answered → closed"),
    ]
    with pytest.raises(CaseError, match="closed"):
        complaints.add_note(db, stored, actor=agent, text="再补充", now=OPEN + timedelta(hours=7))


def test_a_handover_is_explicit_recorded_and_moves_the_case(db, settings, actors):
    agent, other, supervisor = actors
    case = open_one(db, settings, agent)
    begin_write(db)
    complaints.hand_over(
        db, case, actor=agent, to_staff_id=other.staff_id, reason="我休假 on leave", now=OPEN + timedelta(hours=1)
    )
    # ...and a supervisor may move it on, though neither giver nor taker.
    complaints.hand_over(
        db, case, actor=supervisor, to_staff_id=agent.staff_id, reason="回来了 back", now=OPEN + timedelta(hours=2)
    )
    with pytest.raises(CaseError, match="active agent or supervisor"):
        complaints.hand_over(db, case, actor=agent, to_staff_id=999999, reason="给不存在的人", now=OPEN)
    with pytest.raises(CaseError, match="reason|required"):
        complaints.hand_over(db, case, actor=agent, to_staff_id=other.staff_id, reason=" ", now=OPEN)
    db.commit()
    db.expire_all()
    handovers = db.scalars(select(CaseHandover).order_by(CaseHandover.id)).all()
    assert [(h.from_staff_id, h.to_staff_id, h.by_staff_id, h.reason, h.at) for h in handovers] == [
        (agent.staff_id, other.staff_id, agent.staff_id, "我休假 on leave", OPEN + timedelta(hours=1)),
        (other.staff_id, agent.staff_id, supervisor.staff_id, "回来了 back", OPEN + timedelta(hours=2)),
    ]
    assert db.get(ComplaintCase, case.id).owner_id == agent.staff_id


def test_a_call_is_linked_once_and_never_another_patients(db, settings, actors, ms_wangs_history):
    agent, _, _ = actors
    case = open_one(db, settings, agent, call_sid=None)
    begin_write(db)
    earlier = ms_wangs_history["calls"][0].call_sid
    complaints.link_call(db, case, call_sid=earlier, actor=agent, now=OPEN)
    complaints.link_call(db, case, call_sid=earlier, actor=agent, now=OPEN)
    db.commit()
    assert [link.call_sid for link in db.get(ComplaintCase, case.id).calls] == [earlier]
    li_case = open_one(db, settings, agent, MR_LI, call_sid=None)
    begin_write(db)
    with pytest.raises(CaseError, match="another patient"):
        complaints.link_call(db, li_case, call_sid=earlier, actor=agent, now=OPEN)


def test_overdue_cases_are_listed_and_escalated_once(db, settings, actors):
    agent, _, _ = actors
    late = open_one(db, settings, agent, at=OPEN - timedelta(days=4), summary="四天前的投诉")
    answered = open_one(db, settings, agent, at=OPEN - timedelta(days=5), summary="已答复")
    begin_write(db)
    complaints.change_status(
        db, answered, actor=agent, status="answered", now=OPEN - timedelta(days=4), answer="已答复患者"
    )
    db.commit()
    recent = open_one(db, settings, agent, at=OPEN - timedelta(days=1), summary="昨天的投诉")

    assert [c.id for c in complaints.overdue_cases(db, OPEN)] == [late.id]
    begin_write(db)
    assert complaints.escalate_overdue(db, OPEN) == [late.id]
    assert complaints.escalate_overdue(db, OPEN + timedelta(minutes=10)) == []
    db.commit()
    db.expire_all()
    assert db.get(ComplaintCase, late.id).escalated_at == OPEN
    assert db.get(ComplaintCase, recent.id).escalated_at is None
    notes = db.scalars(select(CaseNote).where(CaseNote.kind == "escalation")).all()
    assert [(note.case_id, note.staff_id) for note in notes] == [(late.id, None)]


def test_the_overdue_job_escalates_in_its_own_session_and_may_run_twice(
    db, settings, actors, environ, clock, monkeypatch
):
    agent, _, _ = actors
    late = open_one(db, settings, agent, at=OPEN - timedelta(days=3, minutes=1))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    context.reset(clock=clock)
    try:
        assert escalate_overdue_cases() == "1 escalated"
        assert escalate_overdue_cases() == "0 escalated"
    finally:
        context.reset()
    db.rollback()
    db.expire_all()
    assert db.get(ComplaintCase, late.id).escalated_at == OPEN
    assert len([n for n in db.get(ComplaintCase, late.id).notes if n.kind == "escalation"]) == 1


def test_the_overdue_sweep_is_scheduled_every_configured_interval(redis_url, redis_prefix, monkeypatch):
    import redis
    from rq.cron import CronScheduler

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_PREFIX", redis_prefix)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    context.reset()
    try:
        settings = context.get().settings
        scheduler = CronScheduler(connection=redis.Redis.from_url(redis_url))
        scheduler.load_config_from_file("queueing.cron")
        entries = {job.name: job for job in scheduler.get_jobs()}
        sweep = entries["escalate_overdue_cases"]
        assert sweep.interval == settings.console.overdue_sweep_minutes * 60
        assert sweep.queue_name == f"{redis_prefix}routine"
    finally:
        context.reset()
