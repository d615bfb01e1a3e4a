"""The supervisor's pages through the Flask test client: who may see them, filters,
keyset pages, CSV, the audit trail, the wallboard's data and the reports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from records.models import AuditEntry
from tests.conftest import OPEN
from tests.records.helpers import make_call, while_another_writes
from tests.web import log_in, make_staff

MS_WANG_PHONE = "+8613800138000"


@pytest.fixture
def environ(environ, media_carrier):
    return {**environ, "TWILIO_API_BASE": media_carrier.base_url}


@pytest.fixture
def agent(app):
    return make_staff(app, "agent", display_name="坐席小李")


@pytest.fixture
def a_morning(db, agent, media_carrier):
    make_call(db, "CA-a1", OPEN, phone=MS_WANG_PHONE, wait=8, agent_id=agent.id, disposition="booked")
    make_call(db, "CA-a2", OPEN + timedelta(minutes=5), wait=30, agent_id=agent.id)
    make_call(db, "CA-a3", OPEN + timedelta(minutes=10), wait=12, result="abandon")
    make_call(db, "CA-a4", OPEN + timedelta(minutes=40), queue=None)
    make_call(
        db, "CA-a5", OPEN + timedelta(minutes=45), wait=50, result="abandon", voicemail=True, carrier=media_carrier
    )


def queue(board: dict, name: str) -> dict:
    return next(row for row in board["queues"] if row["name"] == name)


def join_queue(app, call_sid: str, name: str, at) -> None:
    """A caller joins a queue as the seats' flow does it: in the ACD, and as a queue event."""
    hotline = app.extensions["hotline"]
    assert hotline.acd.enqueue(call_sid, name, priority=0, now=at.timestamp())
    hotline.calls.add_events(call_sid, at, [("enqueue", {"queue": name, "priority": 0})])


def sids(response) -> list[str]:
    html = response.get_data(as_text=True)
    return [part.split('"')[0] for part in html.split('data-call="')[1:]]


def test_only_supervisors_see_the_pages(app, agent):
    anonymous = app.test_client()
    assert anonymous.get("/supervisor/calls").status_code == 302
    as_agent = app.test_client()
    log_in(as_agent, agent.username, agent.password)
    for path in ("/supervisor/calls", "/supervisor/wallboard", "/supervisor/reports", "/supervisor/audit"):
        assert as_agent.get(path).status_code == 403, path


def test_the_log_filters_and_pages_newest_first(client, a_morning, agent, app):
    assert sids(client.get("/supervisor/calls")) == ["CA-a5", "CA-a4", "CA-a3", "CA-a2", "CA-a1"]
    assert sids(client.get("/supervisor/calls?outcome=abandoned")) == ["CA-a3"]
    assert sids(client.get("/supervisor/calls?outcome=voicemail")) == ["CA-a5"]
    assert sids(client.get("/supervisor/calls?outcome=self_service")) == ["CA-a4"]
    assert sids(client.get(f"/supervisor/calls?agent={agent.id}")) == ["CA-a2", "CA-a1"]
    assert sids(client.get("/supervisor/calls?disposition=booked")) == ["CA-a1"]
    assert sids(client.get("/supervisor/calls?phone=13800138000")) == ["CA-a1"]
    assert sids(client.get("/supervisor/calls?queue=general&outcome=answered")) == ["CA-a2", "CA-a1"]
    day = OPEN.date().isoformat()
    assert len(sids(client.get(f"/supervisor/calls?start={day}&end={day}"))) == 5
    assert sids(client.get(f"/supervisor/calls?end={(OPEN.date() - timedelta(days=1)).isoformat()}")) == []

    # Pages of the smallest size the settings allow, walked by their "next" links.
    hotline = app.extensions["hotline"]
    records = hotline.settings.records.model_copy(update={"page_size": 2})
    hotline.settings = hotline.settings.model_copy(update={"records": records})
    seen, url = [], "/supervisor/calls"
    while url:
        response = client.get(url)
        seen += sids(response)
        html = response.get_data(as_text=True)
        url = (
            html.split('class="next" href="')[1].split('"')[0].replace("&amp;", "&") if 'class="next"' in html else None
        )
    assert seen == ["CA-a5", "CA-a4", "CA-a3", "CA-a2", "CA-a1"]


def test_a_search_by_patient_is_audited_with_its_reason(client, a_morning, db, supervisor):
    response = client.get("/supervisor/calls?patient=M00000001&why=投诉调查")
    assert sids(response) == ["CA-a1"]
    assert sids(client.get("/supervisor/calls?patient=王秀")) == ["CA-a1"]
    db.rollback()
    rows = db.scalars(select(AuditEntry).where(AuditEntry.action == "search").order_by(AuditEntry.id)).all()
    assert [(r.staff_id, r.reason) for r in rows] == [
        (supervisor.id, "投诉调查 [patient: M00000001]"),
        (supervisor.id, "通话质检 call review [patient: 王秀]"),
    ]
    # No reason, no search.
    assert sids(client.get("/supervisor/calls?patient=M00000001&why=")) == []


def test_a_patient_search_takes_wildcards_as_letters(client, a_morning, db):
    """Issue 22.7: `patient=%` listed every patient's calls (LIKE wildcards unescaped);
    `%`, `_` and `\\` are now letters a name would have to start with."""
    make_call(db, "CA-li", OPEN + timedelta(minutes=50), phone="+8613910002000")  # Mr Li, another patient
    assert sids(client.get("/supervisor/calls?patient=李&why=质检")) == ["CA-li"]
    for pattern in ("%", "_", "%%", "_%", "\\%", "王%", "Wang%"):
        assert sids(client.get("/supervisor/calls", query_string={"patient": pattern, "why": "质检"})) == [], pattern
    # The same rule in the audit trail's patient filter.
    client.get("/supervisor/calls/CA-a1?why=家属投诉")
    assert "家属投诉" in client.get("/supervisor/audit?patient=王").get_data(as_text=True)
    assert "家属投诉" not in client.get("/supervisor/audit?patient=%").get_data(as_text=True)


def test_the_call_detail_shows_the_timeline_and_is_audited(client, a_morning, db, supervisor):
    html = client.get("/supervisor/calls/CA-a1?why=质检").get_data(as_text=True)
    assert "王秀英" in html and "M00000001" in html
    for kind in ("menu", "key", "enqueue", "offer", "answer", "talk_end", "wrap_up_end"):
        assert f'class="event {kind}"' in html, kind
    assert "坐席小李" in html and "booked" in html
    db.rollback()
    (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "view_file")).all()
    assert (entry.staff_id, entry.call_sid, entry.reason, entry.patient_id) == (supervisor.id, "CA-a1", "质检", 1)
    assert client.get("/supervisor/calls/CA-nothing").status_code == 404


def test_the_call_detail_links_the_complaint_case_opened_from_it(client, a_morning, db, supervisor):
    from records.models import ComplaintCase

    case = ComplaintCase(patient_id=1, owner_id=supervisor.id, opened_by_id=supervisor.id, source="call",
                         call_sid="CA-a1", summary="排队太久", status="open", opened_at=OPEN,
                         deadline_at=OPEN + timedelta(days=3))  # fmt: skip
    db.add(case)
    db.commit()
    html = client.get("/supervisor/calls/CA-a1").get_data(as_text=True)
    assert f'href="/agent/cases/{case.id}">#{case.id}</a> (open)' in html
    assert 'class="case"' not in client.get("/supervisor/calls/CA-a2").get_data(as_text=True)


def test_voicemail_playback_is_audited(client, a_morning, db):
    html = client.get("/supervisor/calls/CA-a5").get_data(as_text=True)
    assert "<audio" in html
    response = client.get("/supervisor/calls/CA-a5/voicemail/1?why=回访")
    # Streamed from the carrier: the browser never learns the carrier's address.
    assert response.status_code == 200 and response.data.startswith(b"RIFF") and "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    db.rollback()
    (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "play_recording")).all()
    assert (entry.call_sid, entry.reason) == ("CA-a5", "回访")
    assert client.get("/supervisor/calls/CA-a1/voicemail/1").status_code == 404


def test_a_recorded_talk_is_played_from_the_call_page_and_audited(client, db, agent, media_carrier):
    make_call(db, "CA-r1", OPEN, phone=MS_WANG_PHONE, wait=8, agent_id=agent.id, talk=75, recorded=True,
              carrier=media_carrier)  # fmt: skip
    html = client.get("/supervisor/calls/CA-r1").get_data(as_text=True)
    player = "/supervisor/calls/CA-r1/recording/RCCA-r1"
    row = html.split('<tr class="recording">', 1)[1].split("</tr>", 1)[0]
    assert player in row and "坐席小李" in row and "75 s" in row and "general" in row
    # The recording's address is only reached through the audited route, not the timeline.
    assert media_carrier.recording_url("RCCA-r1") not in html
    response = client.get(player + "?why=质检抽查")
    assert response.status_code == 200 and response.mimetype.startswith("audio/") and response.data[:4] == b"RIFF"
    db.rollback()
    (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "play_recording")).all()
    assert (entry.call_sid, entry.reason, entry.patient_id) == ("CA-r1", "质检抽查", 1)
    assert client.get("/supervisor/calls/CA-r1/recording/RCnot-this-one").status_code == 404


def test_the_agents_wrap_up_notes_are_on_the_calls_page(client, a_morning, db, agent):
    from records.seats import save_wrap_up

    save_wrap_up(db, call_sid="CA-a1", staff_id=agent.id, queue="general", disposition="booked",
                 notes="患者要求改约下周三上午", at=OPEN + timedelta(minutes=2))  # fmt: skip
    db.commit()
    html = client.get("/supervisor/calls/CA-a1").get_data(as_text=True)
    row = html.split('<tr class="wrap-up">', 1)[1].split("</tr>", 1)[0]
    assert "坐席小李" in row and "booked" in row and "患者要求改约下周三上午" in row
    assert 'class="wrap-up"' not in client.get("/supervisor/calls/CA-a2").get_data(as_text=True)


def test_a_recording_not_at_the_carrier_is_not_fetched_nor_counted_as_played(client, db, agent):
    make_call(db, "CA-r2", OPEN, phone=MS_WANG_PHONE, wait=8, agent_id=agent.id, recorded=True)  # no carrier
    assert client.get("/supervisor/calls/CA-r2/recording/RCCA-r2").status_code == 404
    db.rollback()
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "play_recording")).all() == []


def test_the_csv_holds_the_filtered_set_and_the_export_is_audited(client, a_morning, db):
    response = client.get("/supervisor/calls.csv?queue=general&why=月度质检")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    response.close()  # a streamed response's request ends (and closes its session) when closed
    assert [row["call_sid"] for row in rows] == ["CA-a5", "CA-a3", "CA-a2", "CA-a1"]
    assert rows[-1]["caller"] == "+86****00" and rows[-1]["record_number"] == "M00000001"
    assert rows[-1]["outcome"] == "answered" and rows[-1]["waited_seconds"] == "8"
    db.rollback()
    assert db.execute(select(AuditEntry.action, AuditEntry.reason)).all() == [("export", "月度质检")]


def test_a_search_by_phone_number_is_audited_too(client, a_morning, db, supervisor):
    """Issue 22.18: a phone-number search lists a patient's calls with the record number,
    like a patient search, but wrote no audit row."""
    assert sids(client.get("/supervisor/calls?phone=138 0013 8000&why=家属来电核实")) == ["CA-a1"]
    db.rollback()
    (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "search")).all()
    assert (entry.staff_id, entry.reason) == (supervisor.id, "家属来电核实 [phone: +86****00]")  # masked, as in logs
    response = client.get("/supervisor/calls?phone=13800138000&why=")
    assert sids(response) == [] and "Say why you search" in response.get_data(as_text=True)
    assert client.get("/supervisor/calls?queue=general").status_code == 200  # no one named: nothing to audit
    db.rollback()
    assert len(db.scalars(select(AuditEntry)).all()) == 1


def test_an_export_asks_why_and_suggests_no_reason(client, a_morning, db):
    """Issue 22.18: the export never asked why; its audit rows carried the reason the
    search form had prefilled ('通话质检 call review')."""
    html = client.get("/supervisor/calls?queue=general&why=通话质检 call review").get_data(as_text=True)
    form = html.split('<form class="card export"', 1)[1].split("</form>", 1)[0]
    assert 'action="/supervisor/calls.csv"' in form
    assert 'name="queue" value="general"' in form  # the filters go with it
    why = form.split('name="why"', 1)[1].split(">", 1)[0]
    assert "required" in why and "value" not in why  # typed by the supervisor, never suggested
    for asked in ("/supervisor/calls.csv?queue=general", "/supervisor/calls.csv?queue=general&why=%20"):
        refused = client.get(asked, follow_redirects=True)
        assert refused.mimetype == "text/html" and "导出须注明原因" in refused.get_data(as_text=True)
        assert "Say why you export" in refused.get_data(as_text=True)
    db.rollback()
    assert db.scalars(select(AuditEntry)).all() == []
    response = client.get("/supervisor/calls.csv?phone=13800138000&why=医务处调阅")
    assert [
        row["call_sid"] for row in csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))
    ] == ["CA-a1"]
    response.close()
    db.rollback()
    assert db.execute(select(AuditEntry.action, AuditEntry.reason)).all() == [
        ("export", "医务处调阅 [phone: +86****00]")
    ]


def test_the_log_and_its_export_answer_while_the_records_worker_writes(client, a_morning, database_url, db):
    """Issue 22.19: /supervisor/calls.csv answered 500 'database is locked' under the records
    worker's writes on SQLite.  The cause was the audit row, written in the transaction the
    request had opened to read (the login): SQLite fails such a write at once rather than
    wait.  Every audited look in the call log now waits its turn (records.db.begin_write)."""

    def export():
        response = client.get("/supervisor/calls.csv?queue=general&why=质检抽查")
        body = response.get_data(as_text=True)
        response.close()
        return response.status_code, body

    status, body = while_another_writes(database_url, export)
    assert status == 200 and "CA-a1" in body
    for url in ("/supervisor/calls?patient=M00000001&why=投诉调查", "/supervisor/calls/CA-a1?why=质检"):
        response = while_another_writes(database_url, lambda url=url: client.get(url))
        assert response.status_code == 200 and "M00000001" in response.get_data(as_text=True), url
    db.rollback()
    assert db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == ["export", "search", "view_file"]


def test_the_wallboard_counts_today_per_queue(client, a_morning, app, records_worker, clock):
    clock.now = OPEN + timedelta(hours=1)
    board = client.get("/supervisor/wallboard.json").get_json()
    general = queue(board, "general")
    # Answered 8 s (in T) and 30 s (late); abandoned 12 s, and 50 s to voicemail (a flow-out).
    assert (general["offered"], general["answered"], general["abandoned"], general["waiting"]) == (4, 2, 1, 0)
    assert general["service_level"] == pytest.approx(1 / 3)
    assert general["abandon_rate"] == pytest.approx(1 / 4)
    join_queue(app, "CA-new", "general", clock.now - timedelta(seconds=40))
    records_worker.work()
    general = queue(client.get("/supervisor/wallboard.json").get_json(), "general")
    assert (general["waiting"], general["longest_wait"]) == (1, 40)
    assert general["title"]["zh"] == "综合咨询"  # the ACD's live view, with the queue's title


def test_reports_by_interval_day_queue_and_agent_with_charts_and_csv(client, a_morning, agent):
    day = OPEN.date().isoformat()
    html = client.get(f"/supervisor/reports?start={day}&interval=30").get_data(as_text=True)
    assert html.count("<svg") == 2 and 'class="service-level"' in html
    assert "坐席小李" in html and "投诉3天内答复" in html
    response = client.get(f"/supervisor/reports?start={day}&interval=30&format=csv&table=interval")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    header, *body = rows
    offered = header.index("offered")
    # 10:00-10:30 holds three calls that left the queue; 10:30-11:00 the voicemail.
    assert [(row[0][11:16], row[offered]) for row in body] == [("10:00", "3"), ("10:30", "1")]
    agents = client.get(f"/supervisor/reports?start={day}&format=csv&table=agent").get_data(as_text=True)
    assert "坐席小李,2,2,1," in agents  # offered 2, answered 2, answered within T 1


def test_the_audit_view_lists_who_looked_at_what_and_why(client, a_morning, supervisor):
    client.get("/supervisor/calls/CA-a1?why=家属投诉")
    html = client.get("/supervisor/audit?action=view_file").get_data(as_text=True)
    assert "家属投诉" in html and "主管甲" in html and "M00000001 王**" in html
    assert "王秀英" not in html  # the audit list shows the record number, not the whole name


def test_the_callback_rule_lists_callbacks_not_returned_in_time(client, db, clock):
    from records import calls as call_records
    from records.db import begin_write

    def callback(sid, answered_after):
        events = [call_records.Event(1, OPEN, "enqueue", {"queue": "general"}),
                  call_records.Event(2, OPEN + timedelta(seconds=40), "callback_requested", {"queue": "general", "waited": 40})]  # fmt: skip
        if answered_after is not None:
            detail = {"queue": "general", "agent_id": 1}
            events.append(call_records.Event(3, OPEN + answered_after, "answer", detail))
        begin_write(db)
        call_records.record_events(db, sid, events, OPEN)
        db.commit()

    callback("CA-cb-soon", timedelta(hours=2))
    callback("CA-cb-late", timedelta(hours=30))
    callback("CA-cb-never", None)
    clock.now = OPEN + timedelta(days=2)
    html = client.get(f"/supervisor/reports?start={OPEN.date().isoformat()}").get_data(as_text=True)
    row = html.split("回电请求24小时内回复")[1].split("</tr>")[0]
    cells = [cell.split(">", 1)[1].split("<")[0] for cell in row.split("<td")[1:]]
    assert cells == ["1", "2", "0", "CA-cb-late, CA-cb-never"]


def test_complaint_and_results_rules_come_from_their_own_records(client, db, clock, supervisor):
    from records.models import ComplaintCase, ResultReady

    def case(hours_to_answer):
        answered = OPEN + timedelta(hours=hours_to_answer) if hours_to_answer is not None else None
        return ComplaintCase(patient_id=1, owner_id=supervisor.id, opened_by_id=supervisor.id, source="call",
                             summary="等太久", status="open", opened_at=OPEN, deadline_at=OPEN + timedelta(days=3),
                             answered_at=answered)  # fmt: skip

    def result(key, minutes_to_notice):
        notified = OPEN + timedelta(minutes=minutes_to_notice) if minutes_to_notice is not None else None
        return ResultReady(source_event_id=key, patient_id=1, test_name="血常规", ready_at=OPEN, received_at=OPEN,
                           due_at=OPEN + timedelta(hours=1), notice_status="sent", notified_at=notified)  # fmt: skip

    db.add_all([case(20), case(80), case(None), result("r1", 30), result("r2", 90)])
    db.commit()
    clock.now = OPEN + timedelta(days=1)  # the open case still has two days
    html = client.get(f"/supervisor/reports?start={OPEN.date().isoformat()}").get_data(as_text=True)

    def cells(rule):
        row = html.split(rule)[1].split("</tr>")[0]
        return [cell.split(">", 1)[1].split("<")[0] for cell in row.split("<td")[1:]]

    first = db.query(ComplaintCase).order_by(ComplaintCase.id).first().id
    assert cells("投诉3天内答复") == ["1", "1", "1", f"#{first + 1}"]
    first_result = db.query(ResultReady).order_by(ResultReady.id).first().id
    assert cells("检查结果1小时内通知") == ["1", "1", "0", f"R{first_result + 1}"]


def test_a_booking_calls_texts_on_its_page_and_in_the_csv(client, dial, records_worker, a_morning, db):
    from records.models import SmsMessage
    from tests.test_booking_calls import identified

    call = identified(dial)
    call.press("1")
    call.speak("心内科")
    call.press("1")  # the first doctor: his first free session is read back at once (issue 20)
    call.take_text()
    call.press("1")  # confirm
    assert "预约号是" in call.take_text()
    call.hangup()
    records_worker.work()
    db.rollback()
    sms = db.scalar(select(SmsMessage).where(SmsMessage.call_sid == call.sid))

    html = client.get(f"/supervisor/calls/{call.sid}").get_data(as_text=True)
    texts = html.split('class="texts"')[1].split("</table>")[0]
    assert texts.count('class="sms"') == 1
    assert 'class="kind">confirmation<' in texts and 'class="status">queued<' in texts  # no worker sent it
    assert sms.body not in html  # kind and status, not what the text says
    other = client.get("/supervisor/calls/CA-a1").get_data(as_text=True)
    assert "No texts sent during this call" in other

    response = client.get("/supervisor/calls.csv?why=短信核对")
    sent = {
        row["call_sid"]: row["sms_sent"]
        for row in csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))
    }
    response.close()
    assert sent[call.sid] == "1" and sent["CA-a1"] == "0"
