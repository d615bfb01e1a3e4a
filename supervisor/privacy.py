"""Patient data over time, for supervisors: the retention periods and the purge's runs,
a patient's copy of their data, and erasure on request.  Each copy and erasure asks why
and leaves an audit row (records.audit); records.privacy and records.retention do the work.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from accounts import role_required
from extensions import get_db, hotline
from queueing.retention import delete_recording
from records import audit, privacy, retention
from records.db import begin_write
from records.models import Patient, RetentionRun

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
    data = privacy.patient_copy(db, patient)
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
    refused = _refusal(db, patient)
    if refused is not None:
        _audit(db, "erasure_refused", reason, patient)
        flash(f"{refused.zh} {refused.en}", "error")
        return redirect(url_for("privacy.overview"))
    flash(_erased(db, patient, reason))
    return redirect(url_for("privacy.overview"))


def _request_checked() -> bool:
    """The supervisor ticked the box saying the patient's request was checked (and is told to if not)."""
    if request.form.get("confirm") == "yes":
        return True
    flash("请先确认已核实申请。Tick the box to say the request was checked.", "error")
    return False


def _refusal(db, patient: Patient) -> privacy.Refusal | None:
    """Why the patient's data cannot be erased now: the records' reason, or recordings the carrier keeps."""
    refused = privacy.erasure_refused(db, patient)
    if refused is not None:
        return refused
    # Recordings first, at the carrier: a recording it keeps keeps the erasure from happening.
    kept = [item for item in privacy.recordings_of(db, patient) if not delete_recording(hotline().twilio)(item.sid)]
    if kept:
        return privacy.Refusal(
            zh=f"电话运营商未能删除 {len(kept)} 段录音，请稍后重试。",
            en=f"The carrier did not delete {len(kept)} recordings: try again later.",
        )
    return None


def _erased(db, patient: Patient, reason: str) -> str:
    """Erase the hotline's data for the patient, with its audit row; what was erased, in words."""
    begin_write(db)
    done = privacy.erase(db, patient)
    audit.record_access(db, staff_id=current_user.id, action="erasure", reason=reason, patient_id=patient.id)
    db.commit()
    summary = ", ".join(f"{kind} {count}" for kind, count in done.items() if count)
    return f"已删除病历号 {patient.mrn} 的热线资料。Erased the hotline's data for {patient.mrn}: {summary or 'nothing held'}."


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
