#!/usr/bin/env bash
# The webhook benchmark in one command: the hotline's whole-call menu steps against
# a one-file Flask app returning a fixed <Gather> menu, same gunicorn, same wrk.
# Writes bench/results/webhooks.md.  Needs the machine's Redis, and PostgreSQL
# (else SQLite) at 127.0.0.1; installs wrk with apt-get if it is missing.
#
#   bash bench/webhooks.sh                 # 50 connections, 5 s warm-up + 20 s per app
#   bash bench/webhooks.sh --help          # options (duration, workers, --unsigned, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
# py-spy samples the hotline's workers when it misses a target (bench/results/webhooks-profile.md)
if [ ! -x .venv/bin/py-spy ] || [ bench/requirements.txt -nt .venv/.bench-installed ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
  touch .venv/.bench-installed
fi
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else sudo apt-get install -y wrk >/dev/null; fi
fi

BENCH_COMMAND="bash bench/webhooks.sh${*:+ $*}" exec .venv/bin/python bench/webhooks.py "$@"
