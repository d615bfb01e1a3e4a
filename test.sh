#!/usr/bin/env bash
# Run the whole test suite: on SQLite, and on PostgreSQL when it answers at
# HOTLINE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test);
# real Redis at HOTLINE_TEST_REDIS (default redis://127.0.0.1:6379/15), else an
# embedded one.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"

source scripts/venv.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .  # one layout for everyone: `ruff format .` before committing
# The layers (.importlinter): the maths imports nothing of the hotline, records no web area
# or job, no package imports one above it.  And the types of the maths and the records (mypy.ini).
.venv/bin/lint-imports --no-cache
.venv/bin/mypy
# The menus in config.yaml: unreachable menus, dead ends, missing translations (ivr/menu_check.py).
.venv/bin/flask --app app menus check
# Views and voice steps of at most 15 lines: the work lives in records/ and named helpers (issue 19).
.venv/bin/python tools/check_view_lengths.py
# Three processes (HOTLINE_TEST_WORKERS): most of a test's time is spent waiting on a served
# app, the emulator or a worker, so this is about twice as fast on two cores.  Each test file's
# tests on each database stay in one process (--dist loadgroup, the groups set in tests/conftest.py):
# its module fixtures are set up once, and the fuzz modules count their own requests.  The
# slowest groups first, in tests/conftest.py's order (not xdist's, by number of tests).
exec .venv/bin/python -m pytest -q -n "${HOTLINE_TEST_WORKERS:-3}" --dist loadgroup --no-loadscope-reorder "$@"
