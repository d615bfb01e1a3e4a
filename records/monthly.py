"""The monthly report's figures, from the records: calls offered and answered, service level,
abandons, the hospital's service rules, complaints and their time to close, follow-up calls,
satisfaction (after-call scores and the satisfaction programme) over six months, and quality
scores by agent.  The supervisors' report page and the RQ job that builds and stores the
month's report (queueing.reports) both call `figures`; the job stores what it returns as
JSON (MonthlyReport.figures), so a stored report and a live one render through one template.

The same functions as the supervisors' reports (contactcentre.metrics over the month's queue
waits), so the report's figures are the records' figures.  The caller owns the transaction.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from contactcentre import metrics
from records import call_log, satisfaction
from records.models import (
    ComplaintCase,
    FollowUpCampaign,
    FollowUpTask,
    MonthlyReport,
    QualityReview,
    SurveyResponse,
)
from settings import Settings

REACHED = ("completed", "incomplete")  # follow-up calls that spoke with the patient
TREND_MONTHS = 6
# The steps, for the job's progress bar (queueing.reports): one share of the work each.
STEPS = ("calls", "rules", "complaints", "followups", "satisfaction", "quality")
STEP_NAMES = {
    "calls": "电话服务 Calls",
    "rules": "服务承诺 Service rules",
    "complaints": "投诉与其他事项 Cases",
    "followups": "出院回访 Follow-ups",
    "satisfaction": "满意度 Satisfaction",
    "quality": "质检 Quality",
}
# A build asked for this long ago and still not done: its job was lost (a worker killed, Redis
# flushed); asking again queues a new one.
STALE = timedelta(minutes=30)


def month_bounds(month: str, zone) -> tuple[datetime, datetime]:
    first = date.fromisoformat(f"{month}-01")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime.combine(first, time(), zone), datetime.combine(following, time(), zone)


def previous_months(month: str, count: int) -> list[str]:
    year, number = map(int, month.split("-"))
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{number:02d}")
        year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    return list(reversed(months))


def is_month(value: str) -> bool:
    return (
        len(value) == 7
        and value[:4].isdigit()
        and value[4] == "-"
        and value[5:].isdigit()
        and "01" <= value[5:] <= "12"
    )


def figures(
    db: Session, settings: Settings, month: str, now: datetime, progress: Callable[[str], None] | None = None
) -> dict:
    """Everything the report shows, as plain JSON values; `progress(step)` after each step."""
    zone, records = settings.hospital.zone, settings.records
    start, end = month_bounds(month, zone)
    done = progress or (lambda step: None)
    entries = call_log.clip(call_log.entries_between(db, start, end), start, end)

    def targets(queue: str) -> metrics.Thresholds:
        target = records.targets_for(queue)
        return metrics.Thresholds(target.service_level_seconds, target.short_abandon_seconds)

    days = metrics.by_day(entries, zone, targets)
    report = {
        "month": month,
        "total": asdict(total(metrics.by_queue(entries, targets).values())),
        "days": [[f"{day:%d}", days[day].offered, days[day].service_level] for day in sorted(days)],
        "target": records.targets.service_level_target,
    }
    done("calls")
    report["rules"] = [
        {"zh": rule.name.zh, "en": rule.name.en, "result": _rule(result)}
        for rule, result in rule_results(db, settings, start, end, now)
    ]
    done("rules")
    report["complaints"] = _complaints(db, start, end)
    done("complaints")
    report["followups"] = _followups(db, month)
    done("followups")
    months = previous_months(month, TREND_MONTHS)
    report["satisfaction"] = [[m, *_survey_average(db, *month_bounds(m, zone))] for m in months]
    report["programme"] = {
        "rates": [asdict(rate) | {"response_rate": rate.response_rate} for rate in satisfaction.rates(db, [month])],
        "by_department": [asdict(score) for score in satisfaction.scores(db, [month], "department")],
    }
    done("satisfaction")
    quality = _quality_by_agent(db, start, end)
    names = call_log.staff_names(db, {agent for agent, *_ in quality})
    report["quality"] = [[names.get(agent, str(agent)), *rest] for agent, *rest in quality]
    done("quality")
    return report


def total(rows) -> metrics.Figures:
    """The rows' figures added up (a None stays None only if it is None in every row)."""
    summed = metrics.Figures()
    for row in rows:
        for name, value in vars(row).items():
            if value is not None:
                current = getattr(summed, name)
                setattr(summed, name, value if current is None else current + value)
    return summed


def rule_results(db: Session, settings: Settings, start: datetime, end: datetime, now: datetime) -> list:
    """Each configured hospital rule with its result over the period, or None where this
    installation keeps no record of what the rule times."""
    results = []
    for rule in settings.records.service_rules:
        rows = call_log.rule_items(db, rule.source, start, end)
        items = None if rows is None else [metrics.Item(ref, begun, finished) for ref, begun, finished in rows]
        within = timedelta(seconds=rule.within_seconds)
        results.append((rule, None if items is None else metrics.service_rule(rule.name.en, within, items, now)))
    return results


def _rule(result: metrics.RuleResult | None) -> dict | None:
    if result is None:
        return None
    return {"met": result.met, "missed": len(result.missed), "pending": result.pending, "share_met": result.share_met}


def _complaints(db: Session, start: datetime, end: datetime) -> dict:
    """Complaints opened in the month; of those, how many closed, and the median days to
    close; and the same for each kind of case (complaint, consultation, errand...)."""
    rows = db.execute(
        select(ComplaintCase.kind, ComplaintCase.opened_at, ComplaintCase.closed_at).where(
            ComplaintCase.opened_at >= start, ComplaintCase.opened_at < end
        )
    ).all()
    kinds: dict[str, list] = {}
    for kind, opened, closed in rows:
        kinds.setdefault(kind, []).append((opened, closed))
    by_kind = {kind: _closing(cases) for kind, cases in sorted(kinds.items())}
    return {**by_kind.get("complaint", _closing([])), "by_kind": by_kind}


def _closing(cases: list) -> dict:
    days = [(closed - opened).total_seconds() / 86400 for opened, closed in cases if closed]
    return {"opened": len(cases), "closed": len(days), "median_days": statistics.median(days) if days else None}


def _followups(db: Session, month: str) -> dict | None:
    campaign = db.scalar(select(FollowUpCampaign).where(FollowUpCampaign.month == month))
    if campaign is None:
        return None
    statuses = db.execute(
        select(FollowUpTask.status, func.count())
        .where(FollowUpTask.campaign_id == campaign.id)
        .group_by(FollowUpTask.status)
    ).all()
    counts = dict(statuses)
    planned = sum(counts.values())
    reached = sum(counts.get(status, 0) for status in REACHED)
    return {
        "discharges": campaign.discharges,
        "planned": planned,
        "reached": reached,
        "share": metrics.ratio(reached, planned),
    }


def _survey_average(db: Session, start: datetime, end: datetime) -> tuple[float | None, int]:
    query = select(SurveyResponse.score).where(
        SurveyResponse.at >= start, SurveyResponse.at < end, SurveyResponse.score.is_not(None)
    )
    scores = [score for score in db.scalars(query) if score is not None]  # `if`: for mypy
    return (sum(scores) / len(scores) if scores else None), len(scores)


def _quality_by_agent(db: Session, start: datetime, end: datetime) -> list[tuple[int, float, int, int]]:
    """(agent, average score %, reviews scored, passed) for reviews scored in the month."""
    rows = db.execute(
        select(
            QualityReview.agent_id,
            func.avg(QualityReview.percent),
            func.count(),
            func.sum(case((QualityReview.passed.is_(True), 1), else_=0)),
        )
        .where(QualityReview.scored_at >= start, QualityReview.scored_at < end, QualityReview.percent.is_not(None))
        .group_by(QualityReview.agent_id)
        .order_by(QualityReview.agent_id)
    ).all()
    return [(agent, float(average), count, int(passed or 0)) for agent, average, count, passed in rows]


# ---- stored reports (queueing.reports builds them) --------------------------------------------------


def stored(db: Session, month: str) -> MonthlyReport | None:
    return db.scalar(select(MonthlyReport).where(MonthlyReport.month == month))


def requested(db: Session, month: str, *, staff_id: int | None, now: datetime) -> bool:
    """Mark the month's report to build (True), unless it is being built already (False):
    a second click while the job runs queues nothing more."""
    report = stored(db, month)
    if report is None:
        db.add(MonthlyReport(month=month, status="queued", progress=0, requested_by=staff_id, requested_at=now))
        db.flush()
        return True
    if report.status in ("queued", "running") and in_hand(report, now):
        return False
    report.status, report.progress, report.step, report.error = "queued", 0, None, None
    report.requested_by, report.requested_at = staff_id, now
    return True


def in_hand(report: MonthlyReport, now: datetime) -> bool:
    """Done, or being built by a job that is still alive: one asked for or started within
    STALE.  Older, its job was lost (a worker killed, Redis flushed, the database away when
    it tried to say 'failed') and building it again is right."""
    if report.status == "done":
        return True
    if report.status not in ("queued", "running"):
        return False
    return now - max(report.requested_at, report.started_at or report.requested_at) < STALE


def started(db: Session, month: str, now: datetime) -> None:
    report = stored(db, month)
    if report is None:  # the scheduler's run: no one asked on the page
        report = MonthlyReport(month=month, requested_at=now)
        db.add(report)
    report.status, report.progress, report.step, report.started_at, report.error = "running", 0, None, now, None


def step_done(db: Session, month: str, step: str) -> None:
    report = stored(db, month)
    assert report is not None, "started() stores it"
    report.step = step
    report.progress = round(100 * (STEPS.index(step) + 1) / len(STEPS))


def finished(db: Session, month: str, data: dict, now: datetime) -> None:
    report = stored(db, month)
    assert report is not None, "started() stores it"
    report.status, report.progress, report.figures, report.finished_at = "done", 100, data, now


def failed(db: Session, month: str, error: str, now: datetime) -> None:
    report = stored(db, month)
    if report is not None:
        report.status, report.error, report.finished_at = "failed", error[:300], now
