"""No patient names and no full phone numbers in the logs.

A representative set of calls and texts (a recognised caller booking, an English VIP
asking for a person, a family number, a stranger failing identification, a text reply,
a forged webhook, the call records written by the worker) with every logger captured
at DEBUG, including the HTTP server's access lines; then the whole output is searched
for the callers' names (Chinese and English) and their numbers in any spelling."""

import logging
import re

from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN
from tests.test_calls import FAMILY, MR_LI, MS_WANG, UNKNOWN

NAMES = ["王秀英", "Wang Xiuying", "李明", "Li Ming", "张伟", "Zhang Wei", "张丽", "Zhang Li"]
NUMBERS = ["13800138000", "13910002000", "13700001111", "13912345678"]


def digits_only(text: str) -> str:
    """The log with spaces, dashes and dots between digits taken out, so '139 1000 2000'
    and '139-1000-2000' are found too."""
    return re.sub(r"(?<=\d)[\s.\-()]+(?=\d)", "", text)


def test_a_day_of_calls_leaves_no_names_or_numbers_in_the_logs(dial, carrier, app, caplog, records_worker):
    caplog.set_level(logging.DEBUG)

    wang = dial(MS_WANG)  # recognised, books a specialist
    wang.press("5")
    wang.press("0502#")
    wang.press("1")
    wang.speak("心内科")
    wang.press("9")  # the first available doctor: read back at once
    wang.press("1")
    wang.hangup()

    li = dial(MR_LI)  # English VIP, asks for a person
    li.press("0")
    li.wait(30)
    li.hangup()

    family = dial(FAMILY)  # one number, two files
    family.press("5")
    family.press("0715#")
    family.hangup()

    stranger = dial(UNKNOWN)  # three wrong identifications
    stranger.press("5")
    for _ in range(3):
        stranger.press("99999999#")
        stranger.press("19851120#")
    stranger.hangup()

    client = app.test_client()
    reply = {"From": "+8613800138000", "To": "+861065281000", "Body": "1", "MessageSid": "SM" + "1" * 32}
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://localhost/ivr/sms/incoming", reply)
    assert client.post("/ivr/sms/incoming", data=reply, headers={"X-Twilio-Signature": signature}).status_code == 200
    forged = {"CallSid": "CA" + "9" * 32, "From": "+86 139 1000 2000", "To": "+861065281000"}
    assert client.post("/ivr/voice", data=forged, headers={"X-Twilio-Signature": "Zm9yZ2Vk"}).status_code == 403

    records_worker.work()

    text = "\n".join(
        f"{record.name} {record.levelname} {record.getMessage()} {record.exc_text or ''} {record.args!r}"
        for record in caplog.records
    )
    assert len(caplog.records) > 20  # the calls above did log (a sanity check of the capture)
    assert "rejected unsigned or forged webhook" in text
    found_names = [name for name in NAMES if name in text]
    found_numbers = [number for number in NUMBERS if number in digits_only(text)]
    assert found_names == [] and found_numbers == [], (found_names, found_numbers)


def test_a_failed_statement_logs_its_sql_but_not_its_values(app, caplog):
    """Issue 22.5: a wrap-up's SQL error line printed the agent's notes.  The engine hides
    every statement's parameters (hide_parameters), in the error a view's traceback logs
    and in SQLAlchemy's own statement log alike."""
    from flask import Blueprint
    from sqlalchemy import text

    from extensions import get_db

    secret = "患者诉说夜间胸闷 13800138000"
    bp = Blueprint("failing", __name__)

    @bp.get("/failing-statement")
    def failing():
        get_db().execute(text("INSERT INTO no_such_table (notes) VALUES (:notes)"), {"notes": secret})
        return "unreachable"

    app.register_blueprint(bp)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # logged by Flask, as in production
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # the statement log too
    try:
        assert app.test_client().get("/failing-statement").status_code == 500
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)
    assert "INSERT INTO no_such_table" in caplog.text  # the SQL is still there to debug with
    assert "夜间胸闷" not in caplog.text and "13800138000" not in digits_only(caplog.text)
