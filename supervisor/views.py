"""The supervisors' pages: call log, call detail, wallboard, reports, access audit.

Views translate: query string in, records.call_log and contactcentre.metrics called,
a template out.  Every look at a patient's file, every search by patient, every
voicemail played and every export leaves an audit row (records.audit).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

import redis
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup

import charts
from accounts import background, role_required
from contactcentre import metrics
from extensions import get_db, hotline
from queueing import health
from records import agent_states, audit, call_log, monthly, seats
from records.call_log import Cursor, Filters
from records.db import begin_write
from records.patients import mask, to_e164
from records.titles import STATE_TITLES, reason_title, state_title
from supervisor import media

log = logging.getLogger(__name__)
bp = Blueprint("supervisor", __name__, url_prefix="/supervisor", template_folder="templates")
DEFAULT_REASON = "通话质检 call review"


@bp.context_processor
def job_health() -> dict:
    """Every supervisor page says when the processes that run the jobs are not running."""
    return {"job_health": _job_health()}


def _job_health() -> str:
    app = hotline()
    return health.check(app.queue_redis, app.settings.env.redis_prefix).line()


# ---- call log -----------------------------------------------------------------------------------------


@bp.get("/calls")
@role_required("supervisor")
def calls():
    filters, reason = _filters(), request.args.get("why", DEFAULT_REASON).strip()
    if filters.names_someone and not reason:
        flash("按患者或电话查询须注明原因。Say why you search for a patient or a number.", "error")
        page = call_log.Page([], None)
    else:
        _audit_search(filters, reason, "search")
        page = _search(filters)
    return render_template("supervisor/calls.html", **_call_log_page(page, filters, reason))


def _search(filters: Filters) -> call_log.Page:
    """One page of the call log, from the cursor in the query string."""
    app = hotline()
    return call_log.search(
        get_db(),
        filters,
        after=Cursor.decode(request.args.get("after")),
        limit=app.settings.records.page_size,
        zone=app.settings.hospital.zone,
        region=app.settings.hospital.phone_region,
    )


def _call_log_page(page: call_log.Page, filters: Filters, reason: str) -> dict:
    app, db = hotline(), get_db()
    return dict(
        page=page,
        filters=filters,
        reason=reason,
        names=call_log.staff_names(db, {a for row in page.rows for a in row.agent_ids}),
        **_filter_choices(),
        zone=app.settings.hospital.zone,
        mask=mask,
        masked_name=_masked_name,
        next_url=_with_args(after=page.next.encode()) if page.next else None,
        # The export form carries the filters, and a reason of its own, typed, never suggested.
        export_filters={k: v for k, v in request.args.items() if v and k not in ("after", "why")},
    )


def _filter_choices() -> dict:
    """What the call log's filter form offers to choose from."""
    app = hotline()
    return dict(
        agents=call_log.agents(get_db()),
        queues=list(app.settings.routing.queues),
        dispositions=app.settings.console.dispositions,
        outcomes=call_log.OUTCOMES,
    )


CALL_LOG_COLUMNS = ["call_sid", "started_at", "ended_at", "direction", "caller", "record_number", "outcome", "queues",
                    "agents", "dispositions", "waited_seconds", "duration_seconds", "menu_path", "sms_sent",
                    "reconstructed"]  # fmt: skip


@bp.get("/calls.csv")
@role_required("supervisor")
def calls_csv():
    filters, reason = _filters(), request.args.get("why", "").strip()
    if not reason:
        flash("导出须注明原因。Say why you export the call log.", "error")
        return redirect(_with_args(_endpoint="supervisor.calls", why=None))
    _audit_search(filters, reason, "export", always=True)
    filename = f"calls-{hotline().now():%Y%m%d-%H%M}.csv"
    return _download(stream_with_context(_csv(_call_log_rows(filters))), filename)


def _call_log_rows(filters: Filters) -> Iterator[list]:
    """The export's header, then one row per call (staff names looked up as they first appear)."""
    app = hotline()
    zone, region = app.settings.hospital.zone, app.settings.hospital.phone_region
    yield CALL_LOG_COLUMNS
    names: dict[int, str] = {}
    # Its own session, closed when the stream ends: the request's (get_db) is closed when
    # the view returns, before the body is streamed, and reusing it would leave its
    # connection to the garbage collector.
    with app.sessions() as db:
        for row in call_log.every_row(db, filters, zone=zone, region=region):
            missing = set(row.agent_ids) - names.keys()
            if missing:
                names.update(call_log.staff_names(db, missing))
            yield _call_log_row(row, names, zone)


def _call_log_row(row, names: dict[int, str], zone) -> list:
    call = row.call
    return [
        call.call_sid,
        call.started_at.astimezone(zone).isoformat(timespec="seconds"),
        call.ended_at.astimezone(zone).isoformat(timespec="seconds") if call.ended_at else "",
        call.direction,
        mask(call.from_number),
        call.patient.mrn if call.patient else "",
        call.outcome or "",
        " ".join(row.queues),
        " ".join(names.get(a, str(a)) for a in row.agent_ids),
        " ".join(row.dispositions),
        " ".join(f"{e.waited:.0f}" for e in row.entries if e.waited is not None),
        call.duration_seconds if call.duration_seconds is not None else "",
        call.menu_path,
        row.texts,
        call.reconstructed_why if call.reconstructed else "",
    ]


def _download(body, filename: str) -> Response:
    """A CSV file the browser saves rather than shows."""
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ---- one call ------------------------------------------------------------------------------------------


@bp.get("/calls/<call_sid>")
@role_required("supervisor")
def call(call_sid: str):
    db = get_db()
    row = call_log.call_detail(db, call_sid)
    if row is None:
        abort(404)
    reason = _why()
    if row.call.patient_id is not None:
        _audit("view_file", reason, patient_id=row.call.patient_id, call_sid=call_sid)
    wrap_ups = seats.wrap_ups(db, call_sid)  # the agents' dispositions and notes
    return render_template("supervisor/call.html", **_call_page(row, wrap_ups, reason))


def _call_page(row, wrap_ups, reason: str) -> dict:
    db, call_sid = get_db(), row.call.call_sid
    return dict(
        row=row,
        events=sorted(row.call.events, key=lambda event: (event.at, event.sequence)),
        names=call_log.staff_names(db, _people_on(row) | {wrap_up.staff_id for wrap_up in wrap_ups}),
        cases=call_log.complaint_cases(db, call_sid),
        texts=call_log.texts_sent(db, call_sid),
        recordings=call_log.recordings(row.call),
        wrap_ups=wrap_ups,
        zone=hotline().settings.hospital.zone,
        reason=reason,
        mask=mask,
    )


def _people_on(row) -> set[int]:
    """The staff the call reached: its agents and the talk's people (issue 14), to show by name."""
    return set(row.agent_ids) | {
        e.detail.get(key)
        for e in row.call.events
        for key in ("agent_id", "to_agent", "staff_id")
        if isinstance(e.detail.get(key), int)
    }


def _why() -> str:
    """Why the supervisor opens the file: as asked, or a call review."""
    return request.args.get("why", DEFAULT_REASON).strip() or DEFAULT_REASON


@bp.get("/calls/<call_sid>/voicemail/<int:position>")
@role_required("supervisor")
def voicemail(call_sid: str, position: int):
    """Play a voicemail: audited, then handed to the browser's player."""
    row = call_log.call_detail(get_db(), call_sid)
    entry = next((e for e in row.entries if e.position == position), None) if row else None
    if entry is None or not entry.voicemail_url:
        abort(404)
    return _play(row.call, entry.voicemail_url)


@bp.get("/calls/<call_sid>/recording/<recording_sid>")
@role_required("supervisor")
def recording(call_sid: str, recording_sid: str):
    """Play the recorded talk with an agent: audited, then handed to the browser's player."""
    row = call_log.call_detail(get_db(), call_sid)
    found = next((r for r in call_log.recordings(row.call) if r.sid == recording_sid), None) if row else None
    if found is None:
        abort(404)
    return _play(row.call, found.url)


def _play(call, url: str):
    """Audited, then streamed from the carrier (supervisor/media.py: never a redirect to it)."""
    app = hotline()
    try:
        audio = media.open_recording(app.settings.env, url)
    except media.NotAvailable as exc:
        log.warning("call %s: recording not played: %s", call.call_sid, exc)
        abort(404)
    _audit("play_recording", _why(), patient_id=call.patient_id, call_sid=call.call_sid)
    return Response(
        stream_with_context(audio.iter_content(64 * 1024)),
        mimetype=audio.headers.get("Content-Type", "audio/mpeg"),
        headers={"Cache-Control": "no-store"},
    )


# ---- wallboard ------------------------------------------------------------------------------------------


@bp.get("/wallboard")
@role_required("supervisor")
def wallboard():
    app = hotline()
    return render_template(
        "supervisor/wallboard.html",
        board=_board(),
        refresh=app.settings.records.wallboard_refresh_seconds,
    )


@bp.get("/wallboard.json")
@role_required("supervisor")
def wallboard_data():
    return jsonify(_board())


@bp.get("/wallboard/stream")
@background  # an open wallboard is not someone at work: the idle logout runs on
@role_required("supervisor")
def wallboard_stream():
    """A `change` event whenever an agent's state changes (queueing/push.py): the
    wallboard then asks wallboard.json at once instead of at its next refresh."""
    app = hotline()
    if not getattr(type(app), "acd", None):
        return jsonify(error="no ACD on this installation: the wallboard refreshes on a timer"), 404
    from queueing import push

    try:
        body = push.open_stream(push.hub(app.redis, app.settings.env.redis_prefix), lambda change: True)
    except push.Full:
        return jsonify(error=push.FULL_MESSAGE), 503, {"Retry-After": "60"}
    except redis.RedisError:
        return jsonify(error="实时推送暂不可用 Live updates unavailable: the page refreshes on a timer"), 503
    return Response(body, mimetype="text/event-stream", headers=push.HEADERS)


def _board() -> dict:
    """Per queue: callers waiting, longest wait, service level and abandon rate today; agents by state."""
    db, now = get_db(), hotline().now()
    rows = _today_by_queue(db, now)
    live = _live(now)
    if live is None:  # no ACD on this installation: what the records say is waiting
        live = _waiting_in_records(db, rows, now)
    return {
        "at": now.isoformat(timespec="seconds"),
        "queues": [_queue_today(queue, rows.get(queue["name"], metrics.Figures())) for queue in live["queues"]],
        "agents": _agents_by_state(live["agents"]),
        "agent_list": _agents_titled(live, now),
        "state_titles": STATE_TITLES,
        "health": _job_health(),
    }


def _today_by_queue(db, now: datetime) -> dict[str, metrics.Figures]:
    """Each queue's figures from midnight until now."""
    records = hotline().settings.records
    midnight = datetime.combine(now.date(), time(), now.tzinfo)
    today = call_log.clip(call_log.entries_between(db, midnight, now + timedelta(seconds=1)), midnight, now)
    return metrics.by_queue(today, lambda queue: _thresholds(records, queue))


def _waiting_in_records(db, rows: dict, now: datetime) -> dict:
    """The board's live part without an ACD: the callers the records say are waiting, per queue, no agents."""
    waiting = call_log.waiting_entries(db)
    names = sorted({e.queue for e in waiting} | set(rows))
    return {"queues": [_waiting_in(name, waiting, now) for name in names], "agents": []}


def _waiting_in(name: str, waiting: list, now: datetime) -> dict:
    return {
        "name": name,
        "title": {"zh": name, "en": name},
        "waiting": sum(1 for e in waiting if e.queue == name),
        "longest_wait": metrics.longest_wait([e for e in waiting if e.queue == name], now) or 0,
    }


def _queue_today(queue: dict, figures: metrics.Figures) -> dict:
    """A queue's live figures with today's, and its service level against its target."""
    target = hotline().settings.records.targets_for(queue["name"]).service_level_target
    return {
        **queue,
        "target": target,
        "standing": service_standing(figures.service_level, target),
        "longest_wait": round(queue.get("longest_wait") or 0),
        "offered": figures.offered,
        "answered": figures.answered,
        "abandoned": figures.abandoned,
        "service_level": figures.service_level,
        "abandon_rate": figures.abandon_rate,
    }


def _agents_by_state(agents: list[dict]) -> dict[str, int]:
    states: dict[str, int] = {}
    for agent in agents:
        states[agent["state"]] = states.get(agent["state"], 0) + 1
    return states


def _agents_titled(live: dict, now: datetime) -> list[dict]:
    """The live agents, each given the titles of its state, break reason and queue, and how long in its state."""
    app = hotline()
    titles = {q["name"]: q["title"] for q in live["queues"]}
    for agent in live["agents"]:
        since = agent.get("since")
        agent["state_title"] = state_title(agent["state"])
        agent["reason_title"] = reason_title(agent.get("reason", ""), app.settings.console.break_reasons)
        agent["queue_title"] = titles.get(agent.get("queue") or "")
        agent["since_local"] = (
            datetime.fromtimestamp(since, app.settings.hospital.zone).strftime("%H:%M:%S") if since else None
        )
        agent["in_state_seconds"] = max(0, round(now.timestamp() - since)) if since else None
    return live["agents"]


NEAR = 0.1  # within ten points under the target: amber, not yet red


def service_standing(level: float | None, target: float) -> str:
    """A queue's service level today against its target: 'met', 'near' (within NEAR
    below it) or 'missed'; 'none' before any call counts."""
    if level is None:
        return "none"
    if level >= target:
        return "met"
    return "near" if level >= target - NEAR else "missed"


def _live(now: datetime) -> dict | None:
    app = hotline()
    acd = getattr(type(app), "acd", None) and app.acd
    if not acd:
        return None
    try:
        return acd.snapshot(now)
    except Exception:  # the wallboard shows the records' view rather than an error page
        return None


# ---- reports --------------------------------------------------------------------------------------------


@bp.get("/reports")
@role_required("supervisor")
def reports():
    app, db = hotline(), get_db()
    period = ReportPeriod.asked(request.args, app.settings.records, app.settings.hospital.zone, app.now().date())
    figures = _report_figures(db, period)
    if request.args.get("format") == "csv":
        return _report_csv(figures, period, request.args.get("table", "interval"))
    return render_template("supervisor/reports.html", **_report_page(db, period, figures))


@dataclass(frozen=True)
class ReportPeriod:
    """The days, the interval length and the queue a report covers, from its query string."""

    start: date
    end: date
    minutes: int
    queue: str
    zone: tzinfo

    @classmethod
    def asked(cls, args, settings, zone: tzinfo, today: date) -> ReportPeriod:
        start = _date(args.get("start")) or today
        end = _date(args.get("end")) or start
        if end < start:
            start, end = end, start
        minutes = 15 if args.get("interval") == "15" else settings.report_interval_minutes
        return cls(start, end, minutes, args.get("queue", ""), zone)

    @property
    def begin(self) -> datetime:
        return datetime.combine(self.start, time(), self.zone)

    @property
    def finish(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), self.zone)


@dataclass
class ReportFigures:
    """The report's figures per interval, day, queue and agent, their total, the agents' names."""

    intervals: dict
    days: dict
    queues: dict
    agents: dict
    total: metrics.Figures
    names: dict[int, str]


def _report_figures(db, period: ReportPeriod) -> ReportFigures:
    settings = hotline().settings.records
    begin, finish, minutes = period.begin, period.finish, period.minutes
    entries = call_log.clip(call_log.entries_between(db, begin, finish, period.queue), begin, finish)
    targets = lambda name: _thresholds(settings, name)  # noqa: E731
    intervals = metrics.by_interval(entries, minutes, period.zone, targets)
    days = metrics.by_day(entries, period.zone, targets)
    queues = metrics.by_queue(entries, targets)
    agents = metrics.by_agent(entries, targets)
    total = monthly.total(queues.values())
    if not period.queue:  # agents' idle time belongs to no one queue: occupancy only for them all
        _add_occupancy(db, begin, min(finish, hotline().now()), minutes, intervals, days, agents, total)
    return ReportFigures(intervals, days, queues, agents, total, call_log.staff_names(db, set(agents)))


def _report_csv(figures: ReportFigures, period: ReportPeriod, table: str) -> Response:
    """One of the report's tables as a CSV file (per interval unless another is asked for)."""
    tables = {"interval": figures.intervals, "day": figures.days, "queue": figures.queues, "agent": figures.agents}
    names = figures.names
    label = (lambda key: names.get(key, str(key))) if table == "agent" else _label
    filename = f"report-{table}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return _download(_csv(_report_rows(tables.get(table, figures.intervals), label)), filename)


def _report_page(db, period: ReportPeriod, figures: ReportFigures) -> dict:
    intervals, agents, names = figures.intervals, figures.agents, figures.names
    slots = sorted(intervals)
    agent_ids = sorted(agents, key=lambda a: (-agents[a].answered, names.get(a, str(a))))
    return dict(
        start=period.start, end=period.end, minutes=period.minutes, queue=period.queue, total=figures.total,
        intervals=[(f"{slot:%Y-%m-%d %H:%M}", intervals[slot]) for slot in slots],
        days=[(day.isoformat(), day_figures) for day, day_figures in sorted(figures.days.items())],
        queues=sorted(figures.queues.items()),
        agents=[(names.get(a, str(a)), agents[a]) for a in agent_ids],
        chart=_intervals_chart(period, intervals, slots), agent_chart=_agents_chart(agents, agent_ids, names),
        rules=_service_rules(db, period.begin, period.finish, hotline().now()),
        queue_names=list(hotline().settings.routing.queues), settings=hotline().settings.records,
        csv_url=lambda table: _with_args(format="csv", table=table),
    )  # fmt: skip


def _intervals_chart(period: ReportPeriod, intervals: dict, slots: list) -> Markup:
    return charts.intervals_chart(
        [f"{slot:%H:%M}" if period.start == period.end else f"{slot:%m-%d %H:%M}" for slot in slots],
        [intervals[slot].offered for slot in slots],
        [intervals[slot].service_level for slot in slots],
        hotline().settings.records.targets.service_level_target,
        "接入量与服务水平 Offered calls and service level",
    )


def _agents_chart(agents: dict, agent_ids: list, names: dict[int, str]) -> Markup:
    return charts.agents_chart(
        [names.get(a, str(a)) for a in agent_ids],
        [agents[a].answered for a in agent_ids],
        "每位坐席接听量与占用率 Answered and occupancy per agent",
        [agents[a].occupancy for a in agent_ids],
    )


REPORT_COLUMNS = (
    ("offered", "offered"),
    ("answered", "answered"),
    ("answered_within_t", "answered within T"),
    ("abandoned", "abandoned"),
    ("short_abandoned", "short abandons"),
    ("flow_outs", "flow-outs"),
    ("service_level", "SL = answered<=T / (answered + abandoned - short)"),
    ("service_level_answered", "SL answered = answered<=T / answered"),
    ("service_level_positive", "SL positive = (answered<=T + abandoned<=T) / (answered + abandoned)"),
    ("service_level_offered", "SL offered = answered<=T / offered"),
    ("average_speed_of_answer", "ASA seconds"),
    ("abandon_rate", "abandon rate"),
    ("abandon_rate_without_short", "abandon rate without short abandons"),
    ("average_abandon_time", "average abandon time seconds"),
    ("handled", "handled"),
    ("average_handle_time", "AHT seconds"),
    ("average_hold_time", "average hold seconds"),
    ("missed_offers", "offers not answered"),
    ("average_survey_score", "satisfaction"),
    ("available_seconds", "available idle seconds"),
    ("occupancy", "occupancy = handle / (handle + available idle), breaks excluded"),
)


def _add_occupancy(db, start: datetime, end: datetime, minutes: int, intervals, days, agents, total) -> None:
    """Each row's available idle seconds, from the agents' state history cut to
    [start, end) (end no later than now: the state an agent is in runs until now)."""
    zone = hotline().settings.hospital.zone
    spans = metrics.state_spans(agent_states.changes_between(db, start, end), start, end)
    pieces = metrics.split_spans(spans, minutes, zone)
    metrics.add_available(intervals, pieces, lambda s: metrics.interval_start(s.start, minutes, zone))
    metrics.add_available(days, pieces, lambda s: s.start.astimezone(zone).date())
    metrics.add_available(agents, spans, lambda s: s.staff_id)
    if spans:
        total.available_seconds = sum(span.seconds for span in spans if span.state == "available")


def _report_rows(source: dict, label) -> Iterator[list]:
    yield ["period"] + [title for _, title in REPORT_COLUMNS]
    for key in sorted(source, key=str):
        figures = source[key]
        values = [getattr(figures, name) for name, _ in REPORT_COLUMNS]
        yield [label(key)] + ["" if v is None else (round(v, 4) if isinstance(v, float) else v) for v in values]


def _label(key) -> str:
    return key.isoformat() if hasattr(key, "isoformat") else str(key)


def _service_rules(db, start: datetime, end: datetime, now: datetime) -> list[tuple[object, metrics.RuleResult | None]]:
    """Each configured hospital rule with its result over the report's period (records.monthly)."""
    return monthly.rule_results(db, hotline().settings, start, end, now)


# ---- access audit ----------------------------------------------------------------------------------------


@bp.get("/audit")
@role_required("supervisor")
def audit_view():
    app, db = hotline(), get_db()
    entries = call_log.audit_trail(db, **_audit_filters(app.settings.hospital.zone))
    return render_template(
        "supervisor/audit.html", entries=entries, zone=app.settings.hospital.zone, staff=call_log.agents(db),
        masked_name=_masked_name,
    )  # fmt: skip


def _audit_filters(zone) -> dict:
    """The audit trail's filters from the query string: whose looks, which action, which patient, which days."""
    start, end = _date(request.args.get("start")), _date(request.args.get("end"))
    staff = request.args.get("staff", "")
    return dict(
        staff_id=int(staff) if staff.isdigit() else None,
        action=request.args.get("action", ""),
        patient=request.args.get("patient", ""),
        start=datetime.combine(start, time(), zone) if start else None,
        end=datetime.combine(end + timedelta(days=1), time(), zone) if end else None,
    )


# ---- helpers ------------------------------------------------------------------------------------------------


def _filters() -> Filters:
    args = request.args
    agent = args.get("agent", "")
    outcome = args.get("outcome", "")
    return Filters(
        start=_date(args.get("start")),
        end=_date(args.get("end")),
        phone=args.get("phone", "")[:32],
        patient=args.get("patient", "")[:50],
        queue=args.get("queue", "")[:32],
        agent_id=int(agent) if agent.isdigit() else None,
        disposition=args.get("disposition", "")[:64],
        outcome=outcome if outcome in call_log.OUTCOMES else "",
    )


def _audit_search(filters: Filters, reason: str, action: str, *, always: bool = False) -> None:
    """Searching by patient or by phone number (or exporting) is a look at patient data:
    audited, with whom it looked for (a number masked, as everywhere outside the file)."""
    if not (filters.names_someone or always):
        return
    region = hotline().settings.hospital.phone_region
    named = []
    if filters.patient.strip():
        named.append(f"[patient: {filters.patient.strip()}]")
    if filters.phone.strip():
        named.append(f"[phone: {mask(to_e164(filters.phone, region) or filters.phone.strip())}]")
    _audit(action, " ".join([reason, *named]))


def _audit(action: str, reason: str, **about) -> None:
    """One audit row, committed.  The request has already read (the login, the call), and
    on SQLite a write in that same transaction fails at once with 'database is locked'
    whenever the records worker is writing: begin_write ends the read and waits its turn."""
    db = get_db()
    begin_write(db)
    audit.record_access(db, staff_id=current_user.id, action=action, reason=reason, at=hotline().now(), **about)
    db.commit()


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _with_args(_endpoint: str | None = None, **changes) -> str:
    args = {k: v for k, v in request.args.items() if v}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(_endpoint or request.endpoint, **args)


def _thresholds(records, queue: str) -> metrics.Thresholds:
    targets = records.targets_for(queue)
    return metrics.Thresholds(targets.service_level_seconds, targets.short_abandon_seconds)


def _masked_name(name: str | None) -> str:
    """The family name and a star per other character: enough to recognise a call, no more."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def _csv(rows: Iterable[list]) -> Iterator[str]:
    """CSV text a few rows at a time, with a BOM so spreadsheet programs read the Chinese."""
    yield "\ufeff"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for index, row in enumerate(rows, start=1):
        writer.writerow(row)
        if index % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
