#!/usr/bin/env bash
# Run the whole test suite: on SQLite, and on PostgreSQL when it answers at
# HOTLINE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test);
# real Redis at HOTLINE_TEST_REDIS (default redis://127.0.0.1:6379/15), else an
# embedded one.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"

source scripts/venv.sh

.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
