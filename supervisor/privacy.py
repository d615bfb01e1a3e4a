"""Patient data over time, for supervisors: the retention periods and the purge's runs,
a patient's copy of their data, and erasure on request.  Each copy and erasure asks why
and leaves an audit row (records.audit); records.privacy and records.retention do the work.
The patient's calls not yet written (the dead letters in Redis, queueing.recording) are read
here for both: the copy gives them with their content, erasure deletes them, their
recordings first.  So are the patient's calls still in Redis (going on, or ended and waiting
for the records worker): the copy lists them, and erasure waits until they are written.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager, suppress
from typing import NamedTuple

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from redis.exceptions import LockError, RedisError
from sqlalchemy import select

from accounts import role_required
from extensions import get_db, hotline
from queueing import recording
from queueing.retention import delete_recording
from records import audit, privacy, retention
from records.calls import DeadLetter, FinishedCall
from records.db import begin_write
from records.models import Patient, RetentionRun

log = logging.getLogger(__name__)

bp = Blueprint("privacy", __name__, url_prefix="/supervisor/privacy", template_folder="templates")
NO_STORE = {"Cache-Control": "no-store"}


@bp.get("")
@role_required("supervisor")
def overview():
    app, db = hotline(), get_db()
    runs = db.scalars(select(RetentionRun).order_by(RetentionRun.started_at.desc()).limit(20)).all()
    return render_template(
        "supervisor/privacy.html",
        periods=app.settings.retention,
        kinds=retention.KINDS,
        dead_letter_days=retention.dead_letter_days(app.settings.retention),
        runs=runs,
        zone=app.settings.hospital.zone,
    )


@bp.post("/copy")
@role_required("supervisor")
def patient_copy():
    patient, reason = _patient_and_reason()
    if patient is None:
        return redirect(url_for("privacy.overview"))
    db = get_db()
    unwritten = _unwritten_of(db, patient)
    if unwritten is None:
        flash(f"{REDIS_AWAY.zh} {REDIS_AWAY.en}", "error")
        return redirect(url_for("privacy.overview"))
    data = privacy.patient_copy(db, patient, unwritten.letters, unwritten.writing)
    kind = "json" if request.form.get("format") == "json" else "html"
    _audit(db, f"patient_copy_{kind}", reason, patient)
    if kind == "json":
        return _json_file(data, patient)
    page = render_template("supervisor/patient_copy.html", copy=data, reason=reason)
    return Response(page, headers=NO_STORE)


def _json_file(data: dict, patient: Patient) -> Response:
    """The patient's copy as a JSON file to hand over, kept in no cache."""
    body = json.dumps(data, ensure_ascii=False, indent=2)
    disposition = f'attachment; filename="patient-{patient.mrn}.json"'
    return Response(body, mimetype="application/json", headers={**NO_STORE, "Content-Disposition": disposition})


@bp.post("/erase")
@role_required("supervisor")
def erase():
    patient, reason = _patient_and_reason()
    if patient is None or not _request_checked():
        return redirect(url_for("privacy.overview"))
    db = get_db()
    with _letters_held() as busy:  # a retry must not write back a letter erased here
        unwritten = _unwritten_of(db, patient) if busy is None else None
        refused = busy or _refusal(db, patient, unwritten)
        if refused is not None or unwritten is None:  # (None comes with a refusal: REDIS_AWAY)
            refused = refused or REDIS_AWAY
            _audit(db, "erasure_refused", reason, patient)
            flash(f"{refused.zh} {refused.en}", "error")
            return redirect(url_for("privacy.overview"))
        flash(*_erased(db, patient, reason, unwritten.letters))
    return redirect(url_for("privacy.overview"))


LETTERS_BUSY = privacy.Refusal(
    zh="尚未写入的通话记录正在写入或清理中，请一分钟后重试。",
    en="The calls not yet written (dead letters) are being written or purged right now: try again in a minute.",
)
ERASURE_WAITS_SECONDS = 10  # for a retry's write of one letter, or the purge's run


@contextmanager
def _letters_held():
    """The dead letters' lock (queueing.recording.letters_lock) for an erasure, from reading
    the letters to its commit; yields None when held, else why the erasure cannot go on."""
    app = hotline()
    lock = recording.letters_lock(app.redis, app.settings.env.redis_prefix, wait=ERASURE_WAITS_SECONDS)
    try:
        held = lock.acquire()
    except RedisError:
        yield REDIS_AWAY
        return
    try:
        yield None if held else LETTERS_BUSY
    finally:
        if held:
            with suppress(LockError, RedisError):  # expired meanwhile, or Redis gone: it lapses
                lock.release()


def _request_checked() -> bool:
    """The supervisor ticked the box saying the patient's request was checked (and is told to if not)."""
    if request.form.get("confirm") == "yes":
        return True
    flash("请先确认已核实申请。Tick the box to say the request was checked.", "error")
    return False


REDIS_AWAY = privacy.Refusal(
    zh="Redis 未应答，无法查看尚未写入的通话记录，请稍后重试。",
    en="Redis did not answer: the calls not yet written (dead letters) cannot be read. Try again later.",
)


BEING_WRITTEN = privacy.Refusal(
    zh="该患者有通话正在进行或刚刚结束，通话记录尚在写入，请一分钟后重试。",
    en="The patient has a call going on or just ended whose record is still being written: try again in a minute.",
)


class Unwritten(NamedTuple):
    """The patient's calls whose record is not in the database: the dead letters, and the
    calls still in Redis, going on or waiting for the drain."""

    letters: list[DeadLetter]
    writing: list[FinishedCall]


def _unwritten_of(db, patient: Patient) -> Unwritten | None:
    """The patient's calls not yet written, or None when Redis does not answer: then neither
    a copy nor an erasure is given, either would leave them out.  Read before the erasure's
    own reads of the database: a call no longer in Redis here has its record committed.  The
    calls being written before the dead letters, in the order a call goes (a drain moves one
    it keeps being refused to the letters meanwhile): so none is missed between the two."""
    app = hotline()
    try:
        writing = recording.being_written(app.redis, app.settings.env.redis_prefix)
        letters = recording.letter_calls(app.redis, app.settings.env.redis_prefix)
    except RedisError as exc:
        log.warning("privacy: the calls not yet written not read (%s)", type(exc).__name__)
        return None
    return Unwritten(privacy.unwritten_calls(db, patient, letters), privacy.being_written(db, patient, writing))


def _refusal(db, patient: Patient, unwritten: Unwritten | None) -> privacy.Refusal | None:
    """Why the patient's data cannot be erased now: the records' reason, the calls not yet
    written unread (None: Redis did not answer), a call of theirs still to be written from
    Redis, or recordings the carrier keeps."""
    refused = privacy.erasure_refused(db, patient)
    if refused is not None:
        return refused
    if unwritten is None:
        return REDIS_AWAY
    if unwritten.writing:
        # Its record comes from Redis in seconds (a call going on, once it ends): erased there
        # instead, a drain that has read it already would still write it after the erasure.
        return BEING_WRITTEN
    # Recordings first, at the carrier: a recording it keeps keeps the erasure from happening.
    # Those of the calls not yet written too: the letter (or the spool row set aside) is the
    # only place their address is.
    sids = [item.sid for item in privacy.recordings_of(db, patient)]
    sids += privacy.unwritten_recordings(letter.call for letter in unwritten.letters)
    sids += privacy.spooled_recordings(db, patient)
    kept = [sid for sid in sids if not delete_recording(hotline().twilio)(sid)]
    if kept:
        return privacy.Refusal(
            zh=f"电话运营商未能删除 {len(kept)} 段录音，请稍后重试。",
            en=f"The carrier did not delete {len(kept)} recordings: try again later.",
        )
    return None


def _erased(db, patient: Patient, reason: str, letters: list[DeadLetter]) -> tuple[str, str]:
    """Erase the hotline's data for the patient, with its audit row; what was erased, in words
    (and the message's category)."""
    begin_write(db)
    # The records' reasons asked again in the write: a part of a call spooled, or a complaint
    # opened, since the checks (Redis away a moment) is a refusal, not an erasure's error.
    refused = privacy.erasure_refused(db, patient)
    if refused is not None:
        db.rollback()
        _audit(db, "erasure_refused", reason, patient)
        return f"{refused.zh} {refused.en}", "error"
    # The rows, then the dead letters, inside the transaction: should the database then fail,
    # nothing is said done and the supervisor erases again; committed and audited first, an
    # erasure could be said done with the letters left.  The letters after the rows: on
    # PostgreSQL a part spooled meanwhile (no lock keeps it out) makes `erase` refuse, and
    # the letters must still be there.  (A letter `--retry` took first was committed as a row
    # before it left the dead letters: the rows erased include it.)
    done = privacy.erase(db, patient)
    app = hotline()
    ids = [letter.entry_id for letter in letters]
    done["dead_letters"] = recording.erase_dead_letters(app.redis, app.settings.env.redis_prefix, ids)
    audit.record_access(db, staff_id=current_user.id, action="erasure", reason=reason, patient_id=patient.id)
    db.commit()
    summary = ", ".join(f"{kind} {count}" for kind, count in done.items() if count)
    return (
        f"已删除病历号 {patient.mrn} 的热线资料。Erased the hotline's data for {patient.mrn}: {summary or 'nothing held'}.",
        "message",
    )


def _audit(db, action: str, reason: str, patient: Patient) -> None:
    """One audit row about the patient, committed.  Begun after reading: on SQLite, a write in
    the reading transaction fails while others write."""
    begin_write(db)
    audit.record_access(db, staff_id=current_user.id, action=action, reason=reason, patient_id=patient.id)
    db.commit()


def _patient_and_reason() -> tuple[Patient | None, str]:
    mrn = request.form.get("mrn", "").strip()[:20]
    reason = request.form.get("reason", "").strip()[:500]
    if len(reason) < hotline().settings.console.search_reason_min_length:
        flash("请注明原因（如患者申请的编号）。Say why (the patient's request, its reference).", "error")
        return None, reason
    patient = get_db().scalar(select(Patient).where(Patient.mrn == mrn)) if mrn else None
    if patient is None:
        flash(f"没有病历号为 {mrn or '(空)'} 的患者。No patient has the record number {mrn or '(empty)'}.", "error")
    return patient, reason
