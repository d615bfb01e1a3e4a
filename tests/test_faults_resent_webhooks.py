"""A webhook request sent again (issue 18's nginx: `proxy_next_upstream error timeout
non_idempotent` resends a request whose web server died mid-request to the next one; the
carrier may retry one too): every sending of one request carries the same
I-Twilio-Idempotency-Token, so its events are appended to the call once and recorded once,
and a booking confirmed again is not booked twice (the caller hears "already booked").
Real HTTP, the test's Redis, the records queue's worker."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from records.models import Appointment, CallEvent, CallRecord, SmsMessage
from tests.conftest import AUTH_TOKEN
from tests.test_booking_calls import active, identified, ms_wang  # noqa: F401 (a fixture)
from tests.test_calls import UNKNOWN

ALREADY_BOOKED = "您当天已经预约了这位医生或这项检查"


class Sendings:
    """The webhook requests the emulator makes for one call, with their idempotency tokens."""

    def __init__(self, call):
        self.sent: list[tuple[str, str, dict, str]] = []
        session = call.session
        original = session.request

        def request(method, url, headers=None, data=None, **kwargs):
            self.sent.append((method, url, data, (headers or {}).get("I-Twilio-Idempotency-Token", "")))
            return original(method, url, headers=headers, data=data, **kwargs)

        session.request = request

    def again(self) -> str:
        """The last request sent once more, as nginx resends it: same URL, body and token."""
        method, url, data, token = self.sent[-1]
        assert method == "POST" and token
        form = dict(pair.split("=", 1) for pair in data.decode().split("&"))
        form = {k: urllib.parse.unquote_plus(v) for k, v in form.items()}
        headers = {
            "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form),
            "Content-Type": "application/x-www-form-urlencoded",
            "I-Twilio-Idempotency-Token": token,
        }
        request = urllib.request.Request(url, data=urlencode(form).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200
                return response.read().decode()
        except urllib.error.HTTPError as error:
            pytest.fail(f"HTTP {error.code}: {error.read()[:300]!r}")


def events(db, sid) -> list[tuple[int, str]]:
    db.rollback()
    db.expire_all()
    call_id = db.scalar(select(CallRecord.id).where(CallRecord.call_sid == sid))
    return db.execute(select(CallEvent.sequence, CallEvent.kind).where(CallEvent.call_id == call_id)).all()


def test_a_step_sent_again_keeps_its_events_once(dial, db, records_worker, app):
    call = dial(UNKNOWN)
    sendings = Sendings(call)
    call.press("2")  # the departments
    records_worker.work()
    kept = events(db, call.sid)
    listed = app.extensions["hotline"].calls.events(call.sid)

    sendings.again()
    sendings.again()
    records_worker.work()
    assert events(db, call.sid) == kept  # nothing stored twice
    assert app.extensions["hotline"].calls.events(call.sid) == listed  # nor appended twice in Redis

    call.press("1")  # the call goes on, its next step numbered after the first sending's
    call.hangup()
    records_worker.work()
    after = events(db, call.sid)
    assert len(after) > len(kept) and len({sequence for sequence, _ in after}) == len(after)
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == call.sid))
    assert record.menu_path == "menu.main > departments.start > departments.detail"


def test_a_booking_confirmed_again_books_once_and_the_caller_hears_already_booked(
    dial,
    db,
    records_worker,
    ms_wang,  # noqa: F811
    app,
):
    call = identified(dial)
    sendings = Sendings(call)
    call.press("1")
    call.speak("心内科")
    call.press("1")  # the first doctor of the list: his first free session read back at once (issue 20)
    call.press("1")  # confirmed: booked
    [appointment] = active(db, ms_wang)
    listed = app.extensions["hotline"].calls.events(call.sid)

    heard = sendings.again()  # the confirmation sent again
    assert ALREADY_BOOKED in heard
    assert active(db, ms_wang) == [appointment]
    assert db.scalar(select(func.count()).select_from(Appointment).where(Appointment.patient_id == ms_wang.id)) == 1
    assert (
        db.scalar(select(func.count()).select_from(SmsMessage).where(SmsMessage.appointment_id == appointment.id)) == 1
    )
    # The resend's events took the first sending's numbers: nothing appended in Redis, and the
    # record (written after the final status) has the booking once.
    assert app.extensions["hotline"].calls.events(call.sid) == listed
    call.hangup()
    records_worker.work()
    stored = events(db, call.sid)
    assert len({sequence for sequence, _ in stored}) == len(stored) == len(listed)
    assert [kind for _, kind in stored].count("booked") == 1
