"""`flask --app app seed --demo` and `flask --app app import FILE`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from extensions import hotline
from records import loader
from records.db import migrate
from records.staff import ROLES, StaffError, create_staff, find_staff

DEMO = Path(__file__).parent / "demo" / "hospital.yaml"


DEMO_PASSWORD = "hotline-demo"
DEMO_STAFF = (
    ("admin", "管理员 Admin", "admin"),
    ("supervisor", "张主管 Supervisor Zhang", "supervisor"),
    ("reviewer", "李质检 Reviewer Li", "reviewer"),
    *((f"agent{n}", f"坐席{n} Agent {n}", "agent") for n in range(1, 7)),
)


def register(app: Flask) -> None:
    app.cli.add_command(seed)
    app.cli.add_command(import_file)
    app.cli.add_command(staff_group)


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
        _demo_staff()
        _demo_skills()


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(loader.SECTIONS), help="What a CSV file holds, if its name does not say.")
@click.option("--days", default=14, show_default=True, help="Days of clinic sessions to create from timetables.")
def import_file(path: Path, kind: str | None, days: int) -> None:
    """Import departments, doctors, services, exams, patients or clinic sessions from YAML or CSV.

    A CSV file's kind comes from the end of its name (departments.csv, bad-patients.csv)
    unless --kind says.  The whole file is checked first; if anything is wrong, every
    problem is listed with the file and line and nothing is imported."""
    migrate(hotline().engine)
    _load(path, kind, days)


def _load(path: Path, kind: str | None, days: int) -> None:
    app = hotline()
    try:
        hospital = loader.read(path, kind, today=app.now().date())
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
        count = len(exc.problems)
        raise click.ClickException(
            f"{path}: {count} 处问题，未导入任何数据 {count} problem(s); nothing was imported"
        ) from None
    click.echo(f"{path}: {report.summary()}")


def _demo_staff() -> None:
    """The demo's logins (password 'hotline-demo'); existing accounts are left as they are."""
    made = []
    with hotline().sessions.begin() as session:
        for username, name, role in DEMO_STAFF:
            if find_staff(session, username) is None:
                create_staff(session, username=username, display_name=name, role=role, password=DEMO_PASSWORD)
                made.append(username)
    if made:
        click.echo(f"demo staff: {', '.join(made)} (password {DEMO_PASSWORD!r})")


# The demo agents' skills (issue 4): who answers which desk, and how well.
DEMO_SKILLS = {
    "agent1": {"general": 4, "booking": 3, "complaints": 4},
    "agent2": {"general": 3, "booking": 4},
    "agent3": {"medicine": 5, "general": 2, "nurse": 4},
    "agent4": {"surgery": 4, "women_children": 3, "general": 2},
    "agent5": {"english": 5, "general": 3, "booking": 2},
    "agent6": {"complaints": 5, "general": 2, "medicine": 1},
}


def _demo_skills() -> None:
    """Skills for the demo agents that have none yet."""
    from records.seats import agent_skills, set_skills

    with hotline().sessions.begin() as session:
        for username, skills in DEMO_SKILLS.items():
            staff = find_staff(session, username)
            if staff is not None and not agent_skills(session, staff.id):
                set_skills(session, staff.id, skills)


@click.group("staff")
def staff_group() -> None:
    """Staff accounts: agents, supervisors, administrators."""


@staff_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", default="", help="The name shown on screens.")
@click.password_option(help="Asked for when not given; at least 10 characters.")
def add_staff(username: str, role: str, display_name: str, password: str) -> None:
    """Create a staff account."""
    try:
        with hotline().sessions.begin() as session:
            staff = create_staff(session, username=username, display_name=display_name, role=role, password=password)
            click.echo(f"created {staff.username} ({staff.role})")
    except StaffError as error:
        raise click.ClickException(str(error)) from None


@staff_group.command("skills")
@click.argument("username")
@click.argument("skills", nargs=-1)
def staff_skills(username: str, skills: tuple[str, ...]) -> None:
    """Show an agent's skills, or replace them: `staff skills agent1 general=4 booking=2`."""
    from records.seats import SkillError, agent_skills, set_skills

    known = {queue.skill for queue in hotline().settings.routing.queues.values()}
    with hotline().sessions.begin() as session:
        staff = find_staff(session, username)
        if staff is None:
            raise click.ClickException(f"no staff member {username!r}")
        if skills:
            wanted = {}
            for item in skills:
                skill, _, level = item.partition("=")
                if not level.isdigit():
                    raise click.ClickException(f"{item!r}: expected skill=level, e.g. general=3")
                wanted[skill] = int(level)
            try:
                set_skills(session, staff.id, wanted, known)
            except SkillError as error:
                raise click.ClickException(str(error)) from None
        held = agent_skills(session, staff.id)
        click.echo(", ".join(f"{skill}={level}" for skill, level in sorted(held.items())) or "no skills")
