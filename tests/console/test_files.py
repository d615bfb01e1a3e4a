"""The screen pop's content (minimum necessary) and its audit rows, and the file search."""

from __future__ import annotations

from dataclasses import fields

import pytest
from sqlalchemy import select

from records import complaints, files
from records.db import begin_write
from records.models import AuditEntry
from tests.conftest import OPEN
from tests.test_sms import MR_LI, MS_WANG, ZHANG_LI, ZHANG_WEI, patient


def audit_rows(db) -> list[tuple]:
    db.rollback()
    rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    return [(row.staff_id, row.action, row.patient_id, row.call_sid, row.reason) for row in rows]


def summary_of(db, mrn: str, staff_id: int, **kwargs) -> files.CallerSummary:
    begin_write(db)
    found = files.caller_summary(db, patient(db, mrn).id, staff_id=staff_id, now=OPEN, **kwargs)
    db.commit()
    return found


def test_the_screen_pop_shows_who_calls_their_visits_cases_and_calls(db, team, ms_wangs_history):
    begin_write(db)
    wang = patient(db, MS_WANG)
    case = complaints.open_case(
        db,
        patient_id=wang.id,
        actor=complaints.Actor(team.other_agent.id),
        summary="候诊时间太长",
        now=OPEN,
        deadline_days=3,
    )
    db.commit()
    call_sid = "CA" + "c" * 32
    pop = summary_of(db, MS_WANG, team.agent.id, reason="来电弹屏", call_sid=call_sid)

    assert (pop.name_zh, pop.record_number, pop.age, pop.categories) == ("王秀英", MS_WANG, 78, ("aged_70_plus",))
    assert pop.phones == ("+86****00",)  # masked: enough to recognise, not to dial
    assert [visit.reference for visit in pop.last_visits] == ["P000000007", "P000000030"]  # newest first
    assert [visit.reference for visit in pop.upcoming] == [ms_wangs_history["upcoming"].reference]
    assert pop.last_visits[0].what_zh.count(" · ") == 1  # department · doctor
    assert [(c.id, c.summary, c.overdue, c.owner_id) for c in pop.open_cases] == [
        (case.id, "候诊时间太长", False, team.other_agent.id)
    ]
    assert [(c.call_sid, c.disposition, c.outcome) for c in pop.last_calls] == [
        ("CA" + "b" * 32, None, "transferred"),
        ("CA" + "a" * 32, "booked", "transferred"),
    ]
    assert audit_rows(db) == [(team.agent.id, "view_file", wang.id, call_sid, "来电弹屏")]


def test_the_screen_pop_reads_the_file_in_three_statements_and_audits_it_in_the_first(db, team, ms_wangs_history):
    """Issue 17: the phone rings while it loads.  On PostgreSQL the audit row is written by
    the statement that reads the file; SQLite (no data-modifying CTE, no network) adds its INSERT."""
    from sqlalchemy import event

    sent: list[str] = []
    engine = db.get_bind()
    listener = lambda *args: sent.append(args[2])  # noqa: E731
    wang = patient(db, MS_WANG)
    begin_write(db)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        pop = files.caller_summary(db, wang.id, staff_id=team.agent.id, reason="来电弹屏", now=OPEN)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    db.commit()
    reads = [s for s in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    writes = [s for s in sent if s.lstrip().upper().startswith("INSERT")]
    assert pop.upcoming and pop.last_visits and pop.last_calls
    if engine.dialect.name == "postgresql":
        assert len(sent) == len(reads) == 3 and "INSERT INTO audit_log" in reads[0]
    else:
        assert len(reads) == 3 and len(writes) == 1 and len(sent) == 4
    assert audit_rows(db) == [(team.agent.id, "view_file", wang.id, None, "来电弹屏")]


def test_the_screen_pop_holds_nothing_beyond_what_the_agent_needs():
    """No address, no identity number, no full phone, no birth date: the summary cannot carry them."""
    names = {field.name for field in fields(files.CallerSummary)}
    assert names == {
        "patient_id",
        "record_number",
        "name_zh",
        "name_en",
        "sex",
        "age",
        "preferred_language",
        "categories",
        "phones",
        "last_visits",
        "upcoming",
        "open_cases",
        "last_calls",
        "waitlist",  # the waiting lists and their offers (issue 20): the agent books from them
    }


def test_a_vip_is_marked_and_every_view_is_audited_again(db, team):
    first = summary_of(db, MR_LI, team.agent.id, reason="来电弹屏")
    summary_of(db, MR_LI, team.supervisor.id, reason="复核 review")
    assert first.categories == ("vip",) and first.preferred_language == "en"
    li = patient(db, MR_LI).id
    assert [(row[0], row[1], row[2]) for row in audit_rows(db)] == [
        (team.agent.id, "view_file", li),
        (team.supervisor.id, "view_file", li),
    ]


def test_no_such_patient_shows_nothing_and_audits_nothing(db, team):
    begin_write(db)
    assert files.caller_summary(db, 999999, staff_id=team.agent.id, reason="来电", now=OPEN) is None
    assert audit_rows(db) == []


def search(db, staff_id, query, reason="患者来电咨询"):
    begin_write(db)
    found = files.search(db, query, staff_id=staff_id, reason=reason, now=OPEN, record_number_prefix="M")
    db.commit()
    return found


@pytest.mark.parametrize("query", ["M00000002", "m00000002", "00000002"])
def test_a_search_by_record_number_finds_one_file_and_is_audited(db, team, query):
    [match] = search(db, team.agent.id, query)
    assert (match.record_number, match.name_zh, match.birth_year) == (MR_LI, "李明", 1985)
    [(staff_id, action, patient_id, call_sid, reason)] = audit_rows(db)
    assert (staff_id, action, patient_id, call_sid) == (team.agent.id, "search", match.patient_id, None)
    assert reason.startswith("患者来电咨询") and "1 found" in reason


def test_a_search_by_a_family_number_finds_each_file_and_logs_no_full_number(db, team):
    found = search(db, team.agent.id, "137 0000 1111")
    assert [match.record_number for match in found] == [ZHANG_WEI, ZHANG_LI]
    [(_, action, patient_id, _, reason)] = audit_rows(db)
    assert (action, patient_id) == ("search", None)  # several files: none named
    assert "13700001111" not in reason and "+86****11" in reason and "2 found" in reason


def test_a_search_that_finds_nothing_is_still_audited(db, team):
    assert search(db, team.agent.id, "M99999999") == []
    assert [row[1] for row in audit_rows(db)] == ["search"]


@pytest.mark.parametrize(
    ("query", "reason", "message"),
    [
        ("M00000002", "", "why"),
        ("M00000002", " a ", "why"),
        ("", "患者来电咨询", "record number"),
        ("王秀英", "患者来电咨询", "record number"),
    ],
)
def test_a_search_without_a_reason_or_a_number_is_refused_and_nothing_is_recorded(db, team, query, reason, message):
    begin_write(db)
    with pytest.raises(files.SearchRefused, match=message):
        files.search(db, query, staff_id=team.agent.id, reason=reason, now=OPEN, record_number_prefix="M")
    db.rollback()
    assert audit_rows(db) == []
