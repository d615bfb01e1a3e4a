#!/usr/bin/env bash
# The staffing benchmark in one command: our Erlang C seat search and roster side by
# side with pyworkforce's ErlangC and MinRequiredResources, in one run, on one day of
# 96 intervals x 20 queues; then 10,000 and 50,000 Erlangs.  pyworkforce goes into
# its own venv (.venv/bench-staffing, with the app's requirements), never the app's.
# Writes bench/results/staffing.md and staffing.json.
#
#   bash bench/staffing.sh               # the whole comparison (a few minutes on 2 cores)
#   bash bench/staffing.sh --repeat 3    # fewer timing repeats
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv/bench-staffing
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.installed" ] || [ requirements.txt -nt "$VENV/.installed" ] \
   || [ bench/requirements-staffing.txt -nt "$VENV/.installed" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt -r bench/requirements-staffing.txt
  touch "$VENV/.installed"
fi

BENCH_COMMAND="bash bench/staffing.sh${*:+ $*}" exec "$VENV/bin/python" bench/staffing.py "$@"
