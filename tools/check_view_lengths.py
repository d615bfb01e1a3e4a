#!/usr/bin/env python3
"""Views and voice steps stay short: at most 15 lines of body (issue 19).

A view (a function under a Flask route decorator: `@bp.route`, `@bp.get`, `@bp.post`) or
a voice step (`@step(...)`, ivr/dialogue.py) should read at a glance: parse the request,
call one domain or records function (or a small named helper beside it), answer.  The
rules live in records/ and the flows' helpers, where they can be tested without a request;
a long view is where rules hide.  The body is counted from its first statement after the
docstring to its last line, blank lines and comments included.

    .venv/bin/python tools/check_view_lengths.py            # the whole repository (test.sh)
    .venv/bin/python tools/check_view_lengths.py FILE...    # only these files

The files are the repository's Python files (`git ls-files`), but not tests/, bench/,
emulator/, tools/ or the migrations.  Prints each offender as `path:line name lines` and
exits with status 1 if there is any.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

MAX_LINES = 15
ROOT = Path(__file__).resolve().parent.parent
NOT_CHECKED = ("tests/", "bench/", "emulator/", "tools/")


def checked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if not name.startswith(NOT_CHECKED) and "migrations" not in name]


def is_view_or_step(decorator: ast.expr) -> bool:
    """`@bp.route(...)`, `@bp.get(...)`, `@bp.post(...)` or `@step(...)`."""
    if not isinstance(decorator, ast.Call):
        return False
    called = decorator.func
    if isinstance(called, ast.Attribute):
        return called.attr in ("route", "get", "post")
    return isinstance(called, ast.Name) and called.id == "step"


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def too_long(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [
        f"{shown}:{node.lineno} {node.name} {lines}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any(is_view_or_step(d) for d in node.decorator_list)
        and (lines := body_lines(node)) > MAX_LINES
    ]


def main(argv: list[str]) -> int:
    paths = [Path(name).resolve() for name in argv] if argv else checked_files()
    offenders = [line for path in paths for line in too_long(path)]
    if offenders:
        print(f"views and voice steps over {MAX_LINES} lines of body (move the work into a named helper):")
        print("\n".join(offenders))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
