"""Command line: run the carrier as a process, or call through it from the terminal.

python -m emulator serve --port 5055 --number +861065281234 --voice-url http://127.0.0.1:5000/ivr/voice
python -m emulator call --to +861065281234 [--from +8613800138000] [--carrier http://127.0.0.1:5055]
python -m emulator call --to +861065281234 --voice-url http://127.0.0.1:5000/ivr/voice   # no server needed
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence

from .carrier import DEFAULT_ACCOUNT_SID, Carrier
from .model import ENDPOINT_BEHAVIOURS
from .phone import run_phone

DEFAULT_CARRIER = "http://127.0.0.1:5055"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="A local stand-in for Twilio Voice.")
    commands = parser.add_subparsers(dest="command", required=True)

    def credentials(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID", DEFAULT_ACCOUNT_SID))
        sub.add_argument(
            "--auth-token",
            default=os.environ.get("TWILIO_AUTH_TOKEN", "secret"),
            help="signs webhooks and guards the REST API (default: $TWILIO_AUTH_TOKEN or 'secret')",
        )

    def number(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--number", help="a number of this carrier, e.g. +861065281234")
        sub.add_argument("--voice-url", help="where the number's calls go")
        sub.add_argument("--status-callback")
        sub.add_argument(
            "--status-events", default="completed", help="space-separated, e.g. 'ringing answered completed'"
        )
        sub.add_argument("--fallback-url")

    serve = commands.add_parser("serve", help="run the carrier: Twilio's REST API plus the /_emulator control API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5055)
    serve.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="TARGET=BEHAVIOUR",
        help=f"how a dialled number/client behaves: {', '.join(ENDPOINT_BEHAVIOURS)} (repeatable)",
    )
    serve.add_argument("--realtime", action="store_true", help="let the virtual clock follow the wall clock")
    credentials(serve)
    number(serve)

    call = commands.add_parser("call", help="be the caller, from this terminal")
    call.add_argument("--to", required=True)
    call.add_argument("--from", dest="from_", default="+8613800138000")
    call.add_argument("--carrier", help=f"a served carrier (default {DEFAULT_CARRIER} unless --voice-url is given)")
    credentials(call)
    number(call)
    return parser


def _carrier(args: argparse.Namespace) -> Carrier:
    carrier = Carrier(account_sid=args.account_sid, auth_token=args.auth_token)
    number = args.number or getattr(args, "to", None)
    if args.voice_url and number:
        carrier.add_number(number, args.voice_url, args.status_callback, args.status_events.split(), args.fallback_url)
    return carrier


def serve(args: argparse.Namespace) -> int:
    carrier = _carrier(args)
    for spec in args.endpoint:
        target, _, behaviour = spec.partition("=")
        carrier.set_endpoint(target, behaviour or "answer")
    base = carrier.serve(args.host, args.port)
    if args.realtime:
        carrier.start_realtime()
    print(f"carrier emulator at {base} (account {carrier.account_sid}); control API at {base}/_emulator", flush=True)
    for number in carrier.numbers.values():
        print(f"  {number.number} -> {number.voice_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        carrier.stop()
    return 0


def call(args: argparse.Namespace) -> int:
    # With a voice URL and no served carrier, the carrier runs inside this process.
    in_process = bool(args.voice_url and not args.carrier)
    target: Carrier | str = _carrier(args) if in_process else (args.carrier or DEFAULT_CARRIER)
    status = run_phone(target, to=args.to, from_=args.from_)
    return 0 if status == "completed" else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return serve(args) if args.command == "serve" else call(args)


if __name__ == "__main__":
    sys.exit(main())
