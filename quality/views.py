"""The quality pages: a reviewer's list and scoring page (with the recording, audited),
an agent's own scores (acknowledge or dispute), and the calibration view of one call.

Who sees what: reviewers the reviews assigned to them; supervisors all of them; an agent
only their own scored reviews (another agent's review answers 404, as if it did not exist).
Every playback and every score leaves an audit row."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import select

from accounts import role_required
from extensions import get_db, hotline
from records import audit, call_log, quality, scorecard
from records.db import begin_write
from records.models import QualityReview, Staff
from supervisor import media

bp = Blueprint("quality", __name__, url_prefix="/quality", template_folder="templates")


def _is_supervisor() -> bool:
    return current_user.role in ("supervisor", "admin")


def _review_for_reviewer(review_id: int) -> QualityReview:
    review = get_db().get(QualityReview, review_id)
    if review is None or (review.reviewer_id != current_user.id and not _is_supervisor()):
        abort(404)
    return review


@bp.get("")
@role_required("reviewer", "supervisor")
def reviews():
    db = get_db()
    query = select(QualityReview).order_by(QualityReview.sampled_on.desc(), QualityReview.id.desc()).limit(200)
    if not _is_supervisor():
        query = query.where(QualityReview.reviewer_id == current_user.id)
    status = request.args.get("status", "")
    if status in ("assigned", "scored", "acknowledged", "disputed"):
        query = query.where(QualityReview.status == status)
    rows = db.scalars(query).all()
    names = call_log.staff_names(db, {r.agent_id for r in rows} | {r.reviewer_id for r in rows if r.reviewer_id})
    return render_template("quality/reviews.html", reviews=rows, names=names, status=status)


@bp.get("/reviews/<int:review_id>")
@role_required("reviewer", "supervisor")
def review(review_id: int):
    app, db = hotline(), get_db()
    item = _review_for_reviewer(review_id)
    form = app.settings.quality.forms.get(item.form)
    if form is None:
        abort(404)
    return render_template(
        "quality/review.html",
        **_review_page(db, item),
        form=form,
        zone=app.settings.hospital.zone,
        answers=scorecard.ANSWERS,
    )


def _review_page(db, item: QualityReview) -> dict:
    """The reviewed call, its recordings with the agent (or with no agent) and the agent's name."""
    row = call_log.call_detail(db, item.call_sid)
    names = call_log.staff_names(db, {item.agent_id})
    recordings = [r for r in call_log.recordings(row.call) if r.agent_id in (None, item.agent_id)] if row else []
    return dict(review=item, call=row.call if row else None, recordings=recordings, agent=names.get(item.agent_id, "?"))


@bp.post("/reviews/<int:review_id>")
@role_required("reviewer", "supervisor")
def score(review_id: int):
    app, db = hotline(), get_db()
    item = _review_for_reviewer(review_id)
    if item.reviewer_id != current_user.id:
        flash("只有被指派的质检员可以评分。Only the assigned reviewer scores this call.", "error")
        return redirect(url_for("quality.review", review_id=review_id))
    form = app.settings.quality.forms[item.form]
    answers = {question.id: request.form.get(question.id, "") for question in form.questions}
    missing = scorecard.unanswered(form, answers)
    if missing:
        flash(f"请为每一项评分（缺 {len(missing)} 项）。Answer every item ({len(missing)} left).", "error")
        return redirect(url_for("quality.review", review_id=review_id))
    result = _save_score(db, item, form, answers)
    flash(_saved(result))
    return redirect(url_for("quality.reviews"))


def _save_score(db, item: QualityReview, form, answers: dict) -> scorecard.Score:
    """The review scored, with the reviewer's comment and an audit row, committed."""
    app = hotline()
    begin_write(db)
    result = scorecard.score(form, answers)
    quality.save_score(db, item, answers, result, request.form.get("comment", "").strip()[:2000], app.now())
    audit.record_access(
        db, staff_id=current_user.id, action="score_call", reason=f"质检评分 quality review #{item.id}",
        call_sid=item.call_sid, at=app.now(),
    )  # fmt: skip
    db.commit()
    return result


def _saved(result: scorecard.Score) -> str:
    """What the reviewer is told: the score and whether it passed."""
    verdict = "合格 passed" if result.passed else "不合格 failed"
    return f"已保存：{result.percent if result.percent is not None else '—'}%，{verdict}。Saved."


@bp.get("/reviews/<int:review_id>/recording/<recording_sid>")
@role_required("reviewer", "supervisor")
def recording(review_id: int, recording_sid: str):
    """The reviewed call's recording: audited, then streamed from the carrier."""
    app, db = hotline(), get_db()
    item = _review_for_reviewer(review_id)
    row = call_log.call_detail(db, item.call_sid)
    found = next((r for r in call_log.recordings(row.call) if r.sid == recording_sid), None) if row else None
    if found is None:
        abort(404)
    try:
        audio = media.open_recording(app.settings.env, found.url)
    except media.NotAvailable:
        abort(404)
    _audit_playback(db, item, row.call)
    return _streamed(audio)


def _audit_playback(db, item: QualityReview, call) -> None:
    app = hotline()
    begin_write(db)  # after reading: on SQLite, a write in the reading transaction fails while others write
    audit.record_access(
        db, staff_id=current_user.id, action="play_recording", reason=f"质检评分 quality review #{item.id}",
        patient_id=call.patient_id, call_sid=item.call_sid, at=app.now(),
    )  # fmt: skip
    db.commit()


def _streamed(audio) -> Response:
    """The carrier's audio passed on to the browser's player, kept in no cache."""
    return Response(
        stream_with_context(audio.iter_content(64 * 1024)),
        mimetype=audio.headers.get("Content-Type", "audio/mpeg"),
        headers={"Cache-Control": "no-store"},
    )


@bp.get("/mine")
@role_required("agent")
def mine():
    db = get_db()
    rows = db.scalars(
        select(QualityReview)
        .where(QualityReview.agent_id == current_user.id, QualityReview.status != "assigned")
        .order_by(QualityReview.scored_at.desc())
    ).all()
    return render_template("quality/mine.html", reviews=rows, forms=hotline().settings.quality.forms)


@bp.post("/mine/<int:review_id>")
@role_required("agent")
def respond(review_id: int):
    app, db = hotline(), get_db()
    item = db.get(QualityReview, review_id)
    if item is None or item.agent_id != current_user.id or item.status == "assigned":
        abort(404)
    agrees = request.form.get("answer") == "acknowledge"
    comment = request.form.get("comment", "").strip()[:2000]
    if not agrees and not comment:
        flash("申诉请说明理由。Say why you dispute the score.", "error")
        return redirect(url_for("quality.mine"))
    begin_write(db)
    quality.respond(db, item, agrees=agrees, comment=comment, now=app.now())
    db.commit()
    return redirect(url_for("quality.mine"))


@bp.get("/calls/<call_sid>")
@role_required("supervisor")
def calibration(call_sid: str):
    """Two (or more) reviewers' scores of one call, item by item."""
    app, db = hotline(), get_db()
    rows = quality.reviews_of_call(db, call_sid)
    if not rows:
        abort(404)
    form = app.settings.quality.forms.get(rows[0].form)
    return render_template("quality/calibration.html", reviews=rows, form=form, **_calibration(db, rows, form))


def _calibration(db, rows: list[QualityReview], form) -> dict:
    """Who reviewed the call, who else could (not the agent), and the items on which their scores differ."""
    agent_id = rows[0].agent_id
    names = call_log.staff_names(db, {r.reviewer_id for r in rows if r.reviewer_id} | {agent_id})
    candidates = db.scalars(
        select(Staff).where(Staff.role.in_(quality.REVIEWER_ROLES), Staff.active.is_(True)).order_by(Staff.id)
    ).all()
    taken = {r.reviewer_id for r in rows}
    scored = [r for r in rows if r.status != "assigned"]
    return dict(
        names=names,
        others=[staff for staff in candidates if staff.id not in taken and staff.id != agent_id],
        differs={q.id for q in form.questions if len({r.answers.get(q.id) for r in scored}) > 1} if form else set(),
    )


@bp.post("/calls/<call_sid>/reviewers")
@role_required("supervisor")
def add_reviewer(call_sid: str):
    db = get_db()
    rows = quality.reviews_of_call(db, call_sid)
    chosen = request.form.get("reviewer", "")
    reviewer = db.get(Staff, int(chosen)) if chosen.isdigit() else None
    if not rows or reviewer is None or reviewer.role not in quality.REVIEWER_ROLES or reviewer.id == rows[0].agent_id:
        flash("请选择一位质检员（不能是该坐席本人）。Choose a reviewer other than the agent.", "error")
        return redirect(url_for("quality.calibration", call_sid=call_sid))
    begin_write(db)
    quality.add_reviewer(db, rows[0], reviewer.id)
    db.commit()
    return redirect(url_for("quality.calibration", call_sid=call_sid))
