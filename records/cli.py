"""`flask --app app seed --demo` and `flask --app app import FILE`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from extensions import hotline
from records import loader
from records.db import migrate

DEMO = Path(__file__).parent / "demo" / "hospital.yaml"


def register(app: Flask) -> None:
    app.cli.add_command(seed)
    app.cli.add_command(import_file)


@click.command("seed")
@click.option("--demo", is_flag=True, help="Also load the demo hospital (records/demo/hospital.yaml).")
@click.option("--days", default=14, show_default=True, help="Days of clinic sessions to create from timetables.")
def seed(demo: bool, days: int) -> None:
    """Create or upgrade the schema; with --demo, load the demo hospital. Safe to run again."""
    app = hotline()
    migrate(app.engine)
    click.echo(f"schema up to date ({app.engine.url.render_as_string(hide_password=True)})")
    if demo:
        _load(DEMO, None, days)


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(loader.SECTIONS), help="What a CSV file holds, if its name does not say.")
@click.option("--days", default=14, show_default=True, help="Days of clinic sessions to create from timetables.")
def import_file(path: Path, kind: str | None, days: int) -> None:
    """Import departments, doctors, services, patients or clinic sessions from YAML or CSV.

    Every row is checked first; if any is wrong, each bad row is listed by line and nothing is imported."""
    migrate(hotline().engine)
    _load(path, kind, days)


def _load(path: Path, kind: str | None, days: int) -> None:
    app = hotline()
    try:
        hospital = loader.read(path, kind)
        with app.sessions.begin() as session:
            report = loader.load(
                session,
                hospital,
                today=app.now().date(),
                days_ahead=days,
                walk_in_share=app.settings.booking.walk_in_share,
            )
    except loader.ImportError_ as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{path}: {len(exc.problems)} problem(s); nothing was imported") from None
    click.echo(f"{path}: {report.summary()}")
