"""Quality review (质检): the sampler picks the configured share per agent and always the
complaints; a failed critical item fails the call; reviewers score through the page (the
playback and the score audited); an agent sees only their own scores; calibration compares
two reviewers."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import select

from records import scorecard
from records.models import AuditEntry, QualityReview
from records.scorecard import MET, NOT_APPLICABLE, NOT_MET, Reviewable
from tests.conftest import OPEN
from tests.records.helpers import make_call
from tests.web import csrf_token, log_in, make_staff

# ---- the rules, without a server -------------------------------------------------------------------


def _calls(agent_id: int, count: int, complaints: int) -> list[Reviewable]:
    return [
        Reviewable(f"CA{agent_id}-{n:03d}", agent_id, "complaints" if n < complaints else "general", n < complaints)
        for n in range(count)
    ]


@pytest.mark.parametrize("share, minimum", [(0.1, 2), (0.25, 1), (0.0, 3), (1.0, 0)])
def test_the_sampler_takes_the_share_of_each_agent_and_every_complaint(share, minimum):
    calls = _calls(1, 40, 3) + _calls(2, 5, 0) + _calls(3, 1, 1) + _calls(4, 12, 0)
    picked = scorecard.sample(calls, share, minimum, seed="2026-11-23")
    for agent_id in (1, 2, 3, 4):
        theirs = [call for call in calls if call.agent_id == agent_id]
        chosen = [item for item in picked if item.call.agent_id == agent_id]
        expected = min(len(theirs), max(math.ceil(share * len(theirs)), minimum, sum(c.complaint for c in theirs)))
        assert len(chosen) == expected, agent_id
        assert {c.call_sid for c in theirs if c.complaint} <= {item.call.call_sid for item in chosen}
        assert all(item.reason == ("complaint" if item.call.complaint else "sample") for item in chosen)
        assert len({item.call.call_sid for item in chosen}) == len(chosen)  # no call twice


def test_the_draw_is_the_same_for_the_same_day_and_another_for_another_day():
    calls = _calls(1, 60, 0)
    first = [item.call.call_sid for item in scorecard.sample(calls, 0.1, 2, "2026-11-23")]
    assert first == [item.call.call_sid for item in scorecard.sample(calls, 0.1, 2, "2026-11-23")]
    assert first != [item.call.call_sid for item in scorecard.sample(calls, 0.1, 2, "2026-11-24")]


def test_calls_go_to_reviewers_in_turn_never_to_the_agent_themself():
    picked = scorecard.sample(_calls(7, 10, 0) + _calls(8, 10, 0), 0.5, 0, "d")
    assigned = scorecard.assign(picked, [7, 8, 9])
    assert all(reviewer != item.call.agent_id for item, reviewer in assigned)
    assert {reviewer for _, reviewer in assigned} == {7, 8, 9}
    assert scorecard.assign(picked[:1], [picked[0].call.agent_id]) == [(picked[0], None)]


def test_a_failed_critical_item_fails_the_call_whatever_the_score(settings):
    form = settings.quality.forms["standard"]
    critical = next(q for q in form.questions if q.critical)
    all_met = {q.id: MET for q in form.questions}
    assert scorecard.score(form, all_met) == scorecard.Score(100.0, (), True)
    failed = scorecard.score(form, {**all_met, critical.id: NOT_MET})
    total = sum(q.weight for q in form.questions)
    assert failed.percent == round(100 * (total - critical.weight) / total, 1) >= form.pass_mark
    assert failed.failed_critical == (critical.id,) and not failed.passed


def test_not_applicable_items_leave_the_total_and_the_pass_mark_decides(settings):
    form = settings.quality.forms["standard"]
    plain = [q for q in form.questions if not q.critical]
    answers = {q.id: NOT_APPLICABLE for q in form.questions}
    answers[plain[0].id], answers[plain[1].id] = MET, NOT_MET
    result = scorecard.score(form, answers)
    assert result.percent == round(100 * plain[0].weight / (plain[0].weight + plain[1].weight), 1)
    assert result.passed == (result.percent >= form.pass_mark)
    assert scorecard.score(form, {}).percent is None and not scorecard.score(form, {}).passed
    assert scorecard.unanswered(form, {plain[0].id: MET}) == [q.id for q in form.questions if q.id != plain[0].id]


# ---- the daily sample and the pages -------------------------------------------------------------------


@pytest.fixture
def environ(environ, media_carrier):
    return {**environ, "TWILIO_API_BASE": media_carrier.base_url}


@pytest.fixture
def people(app):
    return {
        "agent1": make_staff(app, "agent", display_name="坐席甲"),
        "agent2": make_staff(app, "agent", display_name="坐席乙"),
        "reviewer": make_staff(app, "reviewer", display_name="质检员"),
        "supervisor": make_staff(app, "supervisor", display_name="主管"),
    }


@pytest.fixture
def yesterday(db, people, media_carrier):
    """Yesterday's recorded talks: 12 for agent 1 (one in the complaints queue), 3 for agent 2."""
    day = OPEN - timedelta(days=1)
    for n in range(12):
        queue = "complaints" if n == 0 else "general"
        make_call(db, f"CA-q1-{n:02d}", day + timedelta(minutes=5 * n), queue=queue,
                  agent_id=people["agent1"].id, recorded=True, carrier=media_carrier)  # fmt: skip
    for n in range(3):
        make_call(db, f"CA-q2-{n:02d}", day + timedelta(minutes=7 * n), agent_id=people["agent2"].id,
                  recorded=True, carrier=media_carrier)  # fmt: skip
    make_call(db, "CA-not-recorded", day, agent_id=people["agent2"].id)
    make_call(db, "CA-today", OPEN, agent_id=people["agent1"].id, recorded=True, carrier=media_carrier)
    return day.date()


def _run_sample(records_worker):
    from queueing.quality import sample_calls_for_review

    return sample_calls_for_review()


def test_the_daily_sample_stores_the_share_and_the_complaints_once(db, settings, people, yesterday, records_worker):
    _run_sample(records_worker)
    reviews = db.scalars(select(QualityReview)).all()
    by_agent = {staff: [r for r in reviews if r.agent_id == people[staff].id] for staff in ("agent1", "agent2")}
    share, minimum = settings.quality.share, settings.quality.min_per_agent
    assert len(by_agent["agent1"]) == min(12, max(math.ceil(share * 12), minimum))
    assert len(by_agent["agent2"]) == min(3, max(math.ceil(share * 3), minimum))
    assert "CA-q1-00" in {r.call_sid for r in by_agent["agent1"] if r.reason == "complaint"}
    assert not {"CA-not-recorded", "CA-today"} & {r.call_sid for r in reviews}
    assert {r.reviewer_id for r in reviews} <= {people["reviewer"].id, people["supervisor"].id}
    assert all(r.sampled_on == yesterday and r.status == "assigned" for r in reviews)
    _run_sample(records_worker)
    assert len(db.scalars(select(QualityReview)).all()) == len(reviews)


def _client(app, login):
    client = app.test_client()
    log_in(client, login.username, login.password)
    return client


def _review_of(db, reviewer_id):
    return db.scalar(select(QualityReview).where(QualityReview.reviewer_id == reviewer_id).order_by(QualityReview.id))


def test_a_reviewer_plays_and_scores_a_call_and_both_are_audited(app, db, settings, people, yesterday, records_worker):
    _run_sample(records_worker)
    review = _review_of(db, people["reviewer"].id)
    client = _client(app, people["reviewer"])
    page = client.get(f"/quality/reviews/{review.id}").get_data(as_text=True)
    form = settings.quality.forms["standard"]
    assert form.questions[0].text.zh in page and "audio" in page
    audio = client.get(f"/quality/reviews/{review.id}/recording/RC{review.call_sid}")
    assert audio.status_code == 200 and audio.headers["Cache-Control"] == "no-store"

    answers = {q.id: MET for q in form.questions}
    critical = next(q for q in form.questions if q.critical)
    answers[critical.id] = NOT_MET
    saved = client.post(
        f"/quality/reviews/{review.id}", data={"csrf_token": csrf_token(page), **answers, "comment": "未核实身份"}
    )
    assert saved.status_code == 302
    db.rollback()
    review = db.get(QualityReview, review.id)
    assert review.status == "scored" and review.passed is False and review.failed_critical == [critical.id]
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.call_sid == review.call_sid)).all()
    assert "play_recording" in actions and "score_call" in actions


def test_an_incomplete_scorecard_is_not_saved(app, db, settings, people, yesterday, records_worker):
    _run_sample(records_worker)
    review = _review_of(db, people["reviewer"].id)
    client = _client(app, people["reviewer"])
    page = client.get(f"/quality/reviews/{review.id}").get_data(as_text=True)
    first = settings.quality.forms["standard"].questions[0].id
    answer = client.post(f"/quality/reviews/{review.id}", data={"csrf_token": csrf_token(page), first: MET})
    assert "Answer every item" in client.get(answer.location).get_data(as_text=True)
    db.rollback()
    assert db.get(QualityReview, review.id).status == "assigned"


def test_an_agent_sees_their_own_scores_only_and_can_dispute(app, db, settings, people, yesterday, records_worker):
    _run_sample(records_worker)
    form = settings.quality.forms["standard"]
    for review in db.scalars(select(QualityReview)):
        review.answers, review.status, review.percent, review.passed = (
            {q.id: MET for q in form.questions},
            "scored",
            100.0,
            True,
        )
        review.scored_at = OPEN
        review.comment = f"评语-{review.call_sid}"
    db.commit()
    mine = db.scalars(select(QualityReview).where(QualityReview.agent_id == people["agent1"].id)).all()
    theirs = db.scalar(select(QualityReview).where(QualityReview.agent_id == people["agent2"].id))

    client = _client(app, people["agent1"])
    page = client.get("/quality/mine").get_data(as_text=True)
    assert all(f"评语-{r.call_sid}" in page for r in mine)
    assert f"评语-{theirs.call_sid}" not in page
    token = csrf_token(page)
    assert (
        client.post(f"/quality/mine/{theirs.id}", data={"csrf_token": token, "answer": "acknowledge"}).status_code
        == 404
    )
    assert client.get(f"/quality/reviews/{theirs.id}").status_code == 403  # no reviewer pages for agents

    refused = client.post(f"/quality/mine/{mine[0].id}", data={"csrf_token": token, "answer": "dispute"})
    assert "Say why you dispute" in client.get(refused.location).get_data(as_text=True)
    client.post(f"/quality/mine/{mine[0].id}", data={"csrf_token": token, "answer": "dispute", "comment": "已核实"})
    db.rollback()
    assert db.get(QualityReview, mine[0].id).status == "disputed"


def test_calibration_compares_two_reviewers_of_one_call(app, db, settings, people, yesterday, records_worker):
    _run_sample(records_worker)
    review = _review_of(db, people["reviewer"].id)
    supervisor = _client(app, people["supervisor"])
    page = supervisor.get(f"/quality/calls/{review.call_sid}").get_data(as_text=True)
    added = supervisor.post(
        f"/quality/calls/{review.call_sid}/reviewers",
        data={"csrf_token": csrf_token(page), "reviewer": people["supervisor"].id},
    )
    assert added.status_code == 302
    db.rollback()
    form = settings.quality.forms["standard"]
    first, second = db.scalars(
        select(QualityReview).where(QualityReview.call_sid == review.call_sid).order_by(QualityReview.id)
    ).all()
    assert second.reason == "calibration" and second.reviewer_id == people["supervisor"].id
    for item, answer in ((first, MET), (second, NOT_MET)):
        item.answers = {q.id: MET for q in form.questions} | {form.questions[0].id: answer}
        item.status = "scored"
    db.commit()
    page = supervisor.get(f"/quality/calls/{review.call_sid}").get_data(as_text=True)
    assert "质检员" in page and "主管" in page
    assert page.count('class="differs"') == 1
    # A reviewer cannot reach the calibration view.
    assert _client(app, people["reviewer"]).get(f"/quality/calls/{review.call_sid}").status_code == 403


def test_a_recording_plays_while_the_records_worker_writes(app, db, people, yesterday, records_worker, database_url):
    """The playback's audit row was written in the request's reading transaction: on SQLite,
    with the records worker writing, 'database is locked' (the cause of issue 22.19)."""
    from tests.records.helpers import while_another_writes

    _run_sample(records_worker)
    review = _review_of(db, people["reviewer"].id)
    client = _client(app, people["reviewer"])

    def play():
        audio = client.get(f"/quality/reviews/{review.id}/recording/RC{review.call_sid}")
        audio.get_data()
        audio.close()
        return audio

    assert while_another_writes(database_url, play).status_code == 200
    db.rollback()
    assert "play_recording" in db.scalars(select(AuditEntry.action).where(AuditEntry.call_sid == review.call_sid)).all()
