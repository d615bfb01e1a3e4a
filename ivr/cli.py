"""`flask --app app call`: ring the hotline from the local carrier emulator's phone."""

from __future__ import annotations

import click
from flask import Flask

from extensions import hotline


def register(app: Flask) -> None:
    app.cli.add_command(call)
    app.cli.add_command(menus)


@click.group("menus")
def menus() -> None:
    """The menus written in config.yaml."""


@menus.command("check")
def check_menus() -> None:
    """Unreachable menus, dead ends and missing translations (exit 1); menus over 5 options
    (a warning); each menu's spoken length."""
    from ivr.menu_check import check

    report = check(hotline().settings)
    for name, seconds in report.seconds.items():
        said = ", ".join(f"{lang} {value:.1f} s" for lang, value in seconds.items())
        click.echo(f"menus.{name}: {said}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    for problem in report.problems:
        click.echo(problem, err=True)
    if report.problems:
        raise SystemExit(1)
    click.echo("菜单检查通过 The menus pass the check.")


@click.command("call")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="Where the hotline is running.")
@click.option("--from", "from_", default="+8613912345678", show_default=True, help="The number you call from.")
@click.option("--carrier", "carrier_url", help="A running carrier emulator (python -m emulator serve) to call through.")
def call(url: str, from_: str, carrier_url: str | None) -> None:
    """Call the running hotline: hear each prompt, type keys or speech."""
    from emulator import Carrier
    from emulator.phone import run_phone

    settings = hotline().settings
    if not _answers(url, "/healthz"):
        click.echo(
            f"热线没有在运行：{url} 没有应答。请先在另一个终端里启动它：bash run.sh\n"
            f"The hotline is not running: nothing answers at {url}. Start it first, in another terminal: bash run.sh",
            err=True,
        )
        raise SystemExit(1)
    if carrier_url and _answers(carrier_url, "/_emulator/calls"):
        run_phone(carrier_url, to=settings.hospital.main_number, from_=from_)
        return
    carrier = Carrier(account_sid=settings.env.twilio_account_sid, auth_token=settings.env.twilio_auth_token or "")
    base = url.rstrip("/")
    carrier.add_number(
        settings.hospital.main_number,
        voice_url=f"{base}/ivr/voice",
        status_callback=f"{base}/ivr/status",
        status_events=settings.twilio.status_events,
    )
    run_phone(carrier, to=settings.hospital.main_number, from_=from_)


def _answers(base_url: str, path: str) -> bool:
    import requests

    try:
        return requests.get(f"{base_url.rstrip('/')}{path}", timeout=2).ok
    except requests.RequestException:
        return False
