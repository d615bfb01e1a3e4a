"""`flask --app app aftercare ...`: import events from a file, create a month's
campaign, report on results notices.  Long work shows a progress bar."""

from __future__ import annotations

import csv
import json
import re
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from extensions import hotline
from queueing.aftercare import create_and_queue, enqueue_notices, urgent_queue
from records import aftercare
from records import aftercare_rules as rules
from records.aftercare_events import BadBatch, DischargeEvent, ResultEvent, parse_batch
from records.db import begin_write

group = AppGroup("aftercare", help="After care: discharges and results, follow-up campaigns, notices.")
STEP = 500  # events stored per progress-bar step


def register(app: Flask) -> None:
    app.cli.add_command(group)


@group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind", type=click.Choice(["discharges", "results"]), help="What the file holds, if its name does not say."
)
def import_events(path: Path, kind: str | None) -> None:
    """Import discharges or results-ready events from JSON (a list, or {"events": [...]}),
    JSON lines, or CSV (a header row with the API's field names).

    Every event is checked first; if any is wrong, each problem is listed and nothing is
    imported.  Events already imported (same event_id) are skipped."""
    kind = kind or (
        "results" if "result" in path.name.lower() else "discharges" if "discharge" in path.name.lower() else None
    )
    if kind is None:
        raise click.UsageError("say what the file holds: --kind discharges or --kind results")
    try:
        batch = parse_batch(DischargeEvent if kind == "discharges" else ResultEvent, _read(path))
    except BadBatch as error:
        _fail(path, error)
    app = hotline()
    settings = app.settings
    stored = duplicates = 0
    ids: list[int] = []
    with app.sessions() as db:
        begin_write(db)
        try:
            aftercare.patients_for(db, batch)  # every unknown record number, before storing any
        except BadBatch as error:
            _fail(path, error)
        start = 0
        try:
            with click.progressbar(length=len(batch.events), label=f"importing {kind}") as bar:
                for start in range(0, len(batch.events), STEP):
                    part = type(batch)(batch.events[start : start + STEP], batch.prefix)
                    if kind == "discharges":
                        result = aftercare.store_discharges(db, part, app.now())
                    else:
                        within = timedelta(minutes=settings.aftercare.results.within_minutes)
                        result = aftercare.store_results(
                            db, part, app.now(), zone=settings.hospital.zone, within=within
                        )
                    stored, duplicates, ids = (
                        stored + result.stored,
                        duplicates + result.duplicates,
                        ids + list(result.ids),
                    )
                    bar.update(len(part.events))
        except BadBatch as error:
            db.rollback()
            _fail(path, _renumbered(error, start))
        db.commit()
    if ids:
        enqueue_notices(urgent_queue(app), ids)
    click.echo(f"{path.name}: {stored} {kind} imported, {duplicates} already there")


@group.command("campaign")
@click.option("--month", help="YYYY-MM (default: last month, hospital time).")
def campaign(month: str | None) -> None:
    """Create a month's follow-up campaign (if it does not exist) and queue its calls."""
    app = hotline()
    now = app.now()
    month = month or rules.previous_month(now.date())
    try:
        rules.month_bounds(month)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM, got {month!r}", param_hint="--month") from None
    bars = []

    def progress(done: int, total: int) -> None:
        if not bars:  # the sample's size is known once it is drawn
            bars.append(click.progressbar(length=total, label=f"campaign {month}: storing tasks", show_pos=True))
            bars[0].__enter__()
        bars[0].update(done)

    try:
        created, queued = create_and_queue(app, month, now, progress=progress)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    click.echo(f"campaign {month}: {'created' if created else 'already exists'}, {queued} calls queued")


@group.command("notices")
@click.option("--days", default=1, show_default=True, help="Results ready in the last N days.")
def notices(days: int) -> None:
    """How fast results-ready texts went out, and every missed deadline."""
    app = hotline()
    now = app.now()
    with app.sessions() as db:
        report = aftercare.notice_report(db, since=now - timedelta(days=days), until=now, now=now)
    click.echo(
        f"{report.total} results: {report.on_time} told on time, {report.late} late, {report.overdue} overdue, "
        f"{report.not_sendable} opted out or without a mobile"
    )
    for missed in report.missed:
        click.echo(
            f"  missed: results {missed.id} ({missed.source_event_id}), due {missed.due_at.astimezone(app.settings.hospital.zone):%Y-%m-%d %H:%M}, {missed.notice_status}"
        )


def _read(path: Path):
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return [{k: v for k, v in row.items() if k} for row in csv.DictReader(text.splitlines())]
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{path.name}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path.name}: line {exc.lineno}: not valid JSON ({exc.msg})") from None


def _renumbered(error: BadBatch, offset: int) -> BadBatch:
    """Problems found while storing a slice name the event's place in the whole file."""

    def shift(field: str) -> str:
        return re.sub(r"\[(\d+)\]", lambda m: f"[{int(m.group(1)) + offset}]", field, count=1)

    return BadBatch([p.model_copy(update={"field": shift(p.field)}) for p in error.problems])


def _fail(path: Path, error: BadBatch) -> None:
    for problem in error.problems:
        click.echo(f"{path.name}: {problem.field}: {problem.message}", err=True)
    raise click.ClickException(f"{path.name}: {len(error.problems)} problem(s); nothing was imported")
