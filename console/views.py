"""The agent console: the web page an agent works the phone from, the screen pop, the
file search, complaint cases, and the Twilio Voice SDK token.

The routing engine (the ACD in acd/, its JSON API under /agent/api/) owns the agent's
state, offers and calls; this page's script (static/console.js) talks to that API
directly and asks this blueprint only for what is the patient's: the screen pop for
the call it is offered, files found by a search, and cases.  Views are a few lines:
the rules live in records.files and records.complaints.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from accounts import background, role_required
from acd import desk
from extensions import get_db, hotline
from headers import allow_connections
from records import complaints, files
from records.complaints import Actor, CaseError, NotAllowed
from records.db import begin_write
from records.seats import NOT_GIVEN
from settings import Localized

bp = Blueprint("console", __name__, template_folder="templates")

AGENTS = ("agent", "supervisor")  # supervisors take calls and work cases too
TOKEN_TTL = 3600
NOT_GIVEN_LABEL = Localized(zh="未填写（话后处理超时）", en="not given (wrap-up timed out)")


@bp.app_template_filter("localtime")
def localtime(moment) -> str:
    """A stored (UTC) time as the hospital's clock shows it."""
    if moment is None:
        return ""
    return moment.astimezone(settings().hospital.zone).strftime("%Y-%m-%d %H:%M")


CASE_STATUS = {
    "open": "处理中 Open",
    "waiting_on_department": "等待科室 Waiting on department",
    "answered": "已答复 Answered",
    "closed": "已结案 Closed",
}


@bp.app_template_filter("case_status")
def case_status(status: str) -> str:
    return CASE_STATUS.get(status, status)


ERRAND_STATUS = {
    "to_do": "待办 To do",
    "sent": "已寄出 Sent",
    "delivered": "已送达 Delivered",
    "returned": "已退回 Returned",
}


@bp.app_template_filter("errand_status")
def errand_status(status: str) -> str:
    return ERRAND_STATUS.get(status, status)


@bp.app_template_filter("case_kind")
def case_kind(kind: str) -> str:
    found = settings().console.case_type(kind)
    return f"{found.label.zh} {found.label.en}" if found else kind


def actor() -> Actor:
    return Actor(current_user.id, supervisor=current_user.role in ("supervisor", "admin"))


def settings():
    return hotline().settings


# ---- the console -------------------------------------------------------------------------------


# Where the Twilio softphone connects besides this origin: its signaling WebSocket
# (voice-js.<edge>.twilio.com, then the edge Twilio prefers for the agent), the insights
# gateway (eventgw[.<home region>].twilio.com) and its ring and key tones (sdk.twilio.com).
TWILIO_CONNECT = ("wss://*.twilio.com", "https://*.twilio.com")


@bp.get("/agent")
@role_required(*AGENTS)
def console():
    phone = settings().console.phone
    if phone.kind == "twilio":
        allow_connections(*TWILIO_CONNECT)
    return render_template(
        "console/console.html",
        console=settings().console,
        phone=phone,
        # The demo phone needs the carrier emulator; without it the console says so.
        emulator=bool(settings().env.twilio_api_base),
        console_id=desk.open_console(hotline(), current_user.id),  # one console per agent
    )


@bp.get("/agent/screen-pop")
@role_required(*AGENTS)
def screen_pop():
    """The caller's file for a call this agent is offered, on, or wrapping up (audited)."""
    call_sid = request.args.get("call_sid", "")
    if not call_sid or not _agent_has_call(call_sid):
        return render_template("console/_no_file.html", reason="not_yours"), 403
    db = get_db()
    patient_id, matched = _caller_of(db, call_sid)
    if patient_id is None:
        return render_template("console/_no_file.html", reason="family" if matched > 1 else "unknown", matched=matched)
    begin_write(db)
    summary = _file_summary(db, patient_id, "来电弹屏 screen pop for the call", call_sid=call_sid)
    db.commit()
    return _render_file(db, summary, call_sid=call_sid, fragment=True)


def _file_summary(db, patient_id: int, reason: str, call_sid: str | None = None):
    """The patient's file as the agent sees it, with the audit row saying why it was opened."""
    return files.caller_summary(
        db,
        patient_id,
        staff_id=current_user.id,
        reason=reason,
        call_sid=call_sid,
        now=hotline().now(),
        limit=settings().console.recent_items,
    )


def _caller_of(db, call_sid: str) -> tuple[int | None, int]:
    """Whose file the call is about, and how many files its number matched: who the caller
    proved to be in the IVR, else the one file their number belongs to (the call's state in
    Redis, live), else the call's record (written by a worker, so perhaps not yet)."""
    calls = hotline().calls
    identified = calls.identified(call_sid)
    if identified is not None:
        return identified, 1
    _number, matches = calls.matches(call_sid)
    if matches:
        return (matches[0] if len(matches) == 1 else None), len(matches)
    return files.call_patient(db, call_sid)


def _agent_has_call(call_sid: str) -> bool:
    """The routing engine offered this call to this agent: it rings for them, they are on
    it or wrapping it up (the engine's state), or the call's queue events say so (the
    contract every part shares; it also covers the moment between the two)."""
    try:
        agent = hotline().acd.agent(current_user.id)
        if call_sid in (agent.get("offer"), agent.get("call"), agent.get("wrap_call")):
            return True
        events = hotline().calls.events(call_sid)
    except Exception:  # Redis down: no file rather than anyone's file
        current_app.logger.warning("screen pop refused: the call's state is unavailable", exc_info=True)
        return False
    return any(
        event.kind in ("offer", "answer") and str(event.detail.get("agent_id")) == str(current_user.id)
        for event in events
    )


def _render_file(db, summary, *, call_sid=None, fragment=False):
    owners = files.staff_names(db, [case.owner_id for case in summary.open_cases])
    dispositions = {item.code: item.label for item in settings().console.dispositions}
    dispositions[NOT_GIVEN] = NOT_GIVEN_LABEL
    template = "console/_summary.html" if fragment else "console/file.html"
    return render_template(template, file=summary, owners=owners, call_sid=call_sid, dispositions=dispositions)


# ---- looking a file up -------------------------------------------------------------------------


@bp.route("/agent/search", methods=["GET", "POST"])
@role_required(*AGENTS)
def search():
    if request.method != "POST":
        return render_template("console/search.html", query="", reason="", matches=None)
    query, reason = request.form.get("query", ""), request.form.get("reason", "")
    db = get_db()
    begin_write(db)
    try:
        matches = _search_files(db, query, reason)
        db.commit()  # the search's audit row
    except files.SearchRefused as refused:
        db.rollback()
        flash(str(refused), "error")
        return render_template("console/search.html", query=query, reason=reason, matches=None), 400
    return render_template("console/search.html", query=query, reason=reason, matches=matches)


def _search_files(db, query: str, reason: str):
    return files.search(
        db,
        query,
        staff_id=current_user.id,
        reason=reason,
        now=hotline().now(),
        region=settings().hospital.phone_region,
        record_number_prefix=settings().identification.record_number_prefix,
        min_reason=settings().console.search_reason_min_length,
    )


@bp.post("/agent/files/<int:patient_id>")
@role_required(*AGENTS)
def view_file(patient_id: int):
    """A file opened from the search results, with the search's reason (audited)."""
    reason = " ".join(request.form.get("reason", "").split())
    if len(reason) < settings().console.search_reason_min_length:
        flash("请填写查询原因 (say why you open this file)", "error")
        return redirect(url_for("console.search"))
    db = get_db()
    begin_write(db)
    summary = _file_summary(db, patient_id, f"查询 search: {reason}")
    if summary is None:
        abort(404)
    db.commit()
    return _render_file(db, summary)


# ---- complaint cases ---------------------------------------------------------------------------


@bp.get("/agent/cases")
@role_required(*AGENTS)
def my_cases():
    db = get_db()
    cases = complaints.my_cases(db, current_user.id, include_closed=request.args.get("closed") == "1")
    return render_template("console/cases.html", cases=cases, now=hotline().now(), mine=True, owners={})


@bp.get("/supervisor/cases")
@role_required("supervisor")
def all_cases():
    db = get_db()
    now = hotline().now()
    cases = complaints.open_cases(db)
    if request.args.get("overdue") == "1":
        cases = [case for case in cases if complaints.is_overdue(case, now)]
    # Escalated (overdue) cases first, then the nearest deadline.
    cases = sorted(cases, key=lambda case: (case.escalated_at is None, case.deadline_at, case.id))
    owners = files.staff_names(db, [case.owner_id for case in cases])
    return render_template("console/cases.html", cases=cases, now=now, mine=False, owners=owners)


@bp.get("/agent/cases/new")
@role_required(*AGENTS)
def new_case():
    return render_template(
        "console/new_case.html", form=request.args, min_reason=_min_reason(), case_types=settings().console.case_types
    )


@bp.post("/agent/cases")
@role_required(*AGENTS)
def open_case():
    """A case shows the patient's file: opened with a reason, audited (records.complaints).
    From the wrap-up of a call the agent took, the call is the reason."""
    form = request.form
    call_sid = form.get("call_sid", "").strip() or None
    reason = _case_reason(form, call_sid)
    kind = settings().console.case_type(form.get("kind") or "complaint")
    if kind is None:
        return _refused(form, "未知的个案类型 (unknown kind of case)")
    db = get_db()
    begin_write(db)
    try:
        case = _open_for_record(db, form, kind, reason, call_sid)
        db.commit()  # the audit row stays, refused or not
    except CaseError as error:
        db.rollback()
        return _refused(form, str(error))
    return _case_opened(form, case)


def _case_reason(form, call_sid: str | None) -> str:
    """The reason typed; from the wrap-up of a call the agent took, the call is the reason."""
    reason = form.get("reason", "")
    if not reason.strip() and call_sid and _agent_has_call(call_sid):
        return "投诉来电 complaint taken on the call"
    return reason


def _open_for_record(db, form, kind, reason: str, call_sid: str | None):
    return complaints.open_case_for_record(
        db,
        record_number=_digits(form.get("record_number", "")),
        record_number_prefix=settings().identification.record_number_prefix,
        actor=actor(),
        summary=form.get("summary", ""),
        reason=reason,
        now=hotline().now(),
        deadline_days=settings().console.complaint_deadline_days,
        min_reason=_min_reason(),
        call_sid=call_sid,
        kind=kind.code,
        deadline=settings().console.case_deadline(kind.code),
        errand=kind.errand,
        address=form.get("address"),
    )


def _case_opened(form, case):
    """No file for the record number, or the case opened: its id (JSON) or its page."""
    if case is None:
        return _refused(form, complaints.NO_FILE)
    if _wants_json():
        return jsonify(id=case.id, url=url_for("console.case", case_id=case.id)), 201
    flash(f"{case_kind(case.kind)} #{case.id} 已建立 (case #{case.id} opened)", "ok")
    return redirect(url_for("console.case", case_id=case.id))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _refused(form, message: str):
    if _wants_json():
        return jsonify(error=message), 400
    flash(message, "error")
    return render_template(
        "console/new_case.html", form=form, min_reason=_min_reason(), case_types=settings().console.case_types
    ), 400


def _min_reason() -> int:
    return settings().console.search_reason_min_length


def _digits(text: str) -> str:
    prefix = settings().identification.record_number_prefix.upper()
    text = text.strip().upper()
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


def _case_or_404(db, case_id: int):
    try:
        return complaints.get_case(db, case_id, actor())
    except LookupError:
        abort(404)
    except NotAllowed:
        abort(403)


@bp.get("/agent/cases/<int:case_id>")
@role_required(*AGENTS)
def case(case_id: int):
    db = get_db()
    found = _case_or_404(db, case_id)
    return render_template(
        "console/case.html",
        case=found,
        people=_people_on(db, found),
        now=hotline().now(),
        overdue=complaints.is_overdue(found, hotline().now()),
        colleagues=[c for c in files.colleagues(db) if c[0] != found.owner_id],
        statuses=complaints.STATUSES,
        errand_statuses=complaints.ERRAND_STATUSES,
    )


def _people_on(db, found) -> dict:
    """The names of everyone the case page mentions: owner, opener, note writers, handovers."""
    return files.staff_names(
        db,
        [found.owner_id, found.opened_by_id]
        + [note.staff_id for note in found.notes]
        + [h for item in found.handovers for h in (item.from_staff_id, item.to_staff_id, item.by_staff_id)],
    )


def _change(case_id: int, change) -> object:
    db = get_db()
    begin_write(db)
    found = _case_or_404(db, case_id)
    try:
        change(db, found, actor(), hotline().now())
        db.commit()
        flash("已保存 (saved)", "ok")
    except CaseError as error:
        db.rollback()
        flash(str(error), "error")
    if not complaints.can_read(found, actor()):  # handed over: no longer this agent's to see
        return redirect(url_for("console.my_cases"))
    return redirect(url_for("console.case", case_id=case_id))


@bp.post("/agent/cases/<int:case_id>/notes")
@role_required(*AGENTS)
def add_note(case_id: int):
    kind = "answer" if request.form.get("kind") == "answer" else "note"
    text = request.form.get("text", "")
    return _change(
        case_id, lambda db, case, who, now: complaints.add_note(db, case, actor=who, text=text, now=now, kind=kind)
    )


@bp.post("/agent/cases/<int:case_id>/status")
@role_required(*AGENTS)
def change_status(case_id: int):
    status, answer = request.form.get("status", ""), request.form.get("answer")
    return _change(
        case_id,
        lambda db, case, who, now: complaints.change_status(db, case, actor=who, status=status, now=now, answer=answer),
    )


@bp.post("/agent/cases/<int:case_id>/calls")
@role_required(*AGENTS)
def link_call(case_id: int):
    call_sid = request.form.get("call_sid", "")
    return _change(
        case_id, lambda db, case, who, now: complaints.link_call(db, case, call_sid=call_sid, actor=who, now=now)
    )


@bp.post("/agent/cases/<int:case_id>/errand")
@role_required(*AGENTS)
def update_errand(case_id: int):
    status, tracking = request.form.get("errand_status", ""), request.form.get("tracking_number")
    return _change(
        case_id,
        lambda db, case, who, now: complaints.update_errand(
            db, case, actor=who, status=status, now=now, tracking_number=tracking
        ),
    )


@bp.post("/agent/cases/<int:case_id>/handover")
@role_required(*AGENTS)
def hand_over(case_id: int):
    to = request.form.get("to_staff_id", "")
    reason = request.form.get("reason", "")

    def give(db, case, who, now):
        choices = {c[0] for c in files.colleagues(db)}
        if not to.isdigit() or int(to) not in choices:
            raise CaseError("请选择接手的同事 (choose who takes the case over)")
        complaints.hand_over(db, case, actor=who, to_staff_id=int(to), reason=reason, now=now)

    return _change(case_id, give)


# ---- the softphone's token ---------------------------------------------------------------------


@bp.get("/agent/token")
@background
@role_required(*AGENTS)
def voice_token():
    """An access token for the Twilio Voice JavaScript SDK (the agent's softphone)."""
    from twilio.jwt.access_token import AccessToken
    from twilio.jwt.access_token.grants import VoiceGrant

    env = settings().env
    if missing := [name for name in SOFTPHONE_SETTINGS if not getattr(env, name.lower())]:
        return _softphone_not_configured(missing)
    identity = f"agent-{current_user.id}"
    token = AccessToken(
        env.twilio_account_sid, env.twilio_api_key_sid, env.twilio_api_key_secret, identity=identity, ttl=TOKEN_TTL
    )
    token.add_grant(VoiceGrant(outgoing_application_sid=env.twilio_twiml_app_sid, incoming_allow=True))
    return jsonify(token=token.to_jwt(), identity=identity, ttl=TOKEN_TTL)


# What the softphone's token needs besides the account (README, "The softphone with a real Twilio account").
SOFTPHONE_SETTINGS = ("TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET", "TWILIO_TWIML_APP_SID")


def _softphone_not_configured(missing: list[str]):
    return jsonify(
        error="softphone not configured",
        message=f"软电话未配置 The softphone is not configured: the hotline needs {', '.join(missing)} "
        'in its environment (README, "The softphone with a real Twilio account").',
    ), 503


def _go_offline(app, user) -> None:
    """An agent who logs out takes no more calls: offline now, not when the heartbeats
    stop (a call offered meanwhile would ring an empty seat).  Mid-call, the ACD refuses
    and the heartbeat timeout does it later; logging out never fails because of it."""
    if getattr(user, "role", None) not in AGENTS:
        return
    from acd import desk

    try:
        desk.set_state(hotline(), get_db(), user.id, "offline")
    except desk.DeskError as refused:
        current_app.logger.info("agent %s logged out but stays %s", user.id, refused)
    except Exception:
        current_app.logger.warning("agent %s logged out, the ACD not told", user.id, exc_info=True)
