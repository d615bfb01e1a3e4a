#!/usr/bin/env bash
# The first `bash run.sh` on a clean clone, timed until the hotline answers a call, then
# Ctrl-C (SIGINT) and a check that nothing it started is left running.
#
#   bash bench/first_run.sh [REPOSITORY [REF]]     # default: this checkout's HEAD
#
# The clone gets its own .venv (nothing is shared); free ports are picked.  Prints one
# line: seconds to the first answered call, and what was left running after Ctrl-C.
set -euo pipefail
REPO="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
REF="${2:-HEAD}"
WORK="$(mktemp -d /tmp/hotline-first-run.XXXXXX)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export PORT="$(free_port)" CARRIER_PORT="$(free_port)"

git clone --quiet "$REPO" "$WORK/hotline"
git -C "$WORK/hotline" checkout --quiet "$REF"
cd "$WORK/hotline"
started=$(date +%s.%N)
setsid bash run.sh > "$WORK/run.log" 2>&1 < /dev/null &
runner=$!

answered=""
while [ -z "$answered" ]; do
  if ! kill -0 "$runner" 2>/dev/null; then
    echo "run.sh stopped before answering a call; its log: $WORK/run.log" >&2
    tail -20 "$WORK/run.log" >&2
    exit 1
  fi
  if [ -x .venv/bin/flask ] && [ -f .venv/.installed ] \
     && echo q | timeout 30 bash run.sh call > "$WORK/call.log" 2>&1 && grep -q "欢迎致电" "$WORK/call.log"; then
    answered=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
  else
    sleep 1
  fi
done

kill -INT -- "-$runner"       # Ctrl-C in the terminal: the whole foreground group gets SIGINT
for _ in $(seq 1 60); do kill -0 "$runner" 2>/dev/null || break; sleep 0.5; done
sleep 1
# Anything still running from the clone: its path in the command line or as working folder.
left=$(python3 - "$WORK" "$$" <<'PY'
import os, sys


def ancestors(pid):
    while pid not in ("0", "1"):
        yield pid
        pid = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]


for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if sys.argv[2] in ancestors(pid):  # this script and what it runs now
            continue
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        continue
    if sys.argv[1] in cmd or cwd.startswith(sys.argv[1]):
        print(pid, cmd[:100])
PY
)
echo "first bash run.sh answered a call after ${answered} s (python: $(python3 -V 2>&1), uv: $(command -v uv || echo none)); left running after Ctrl-C: ${left:-nothing}"
for pid in $(echo "$left" | cut -d' ' -f1); do kill -KILL "$pid" 2>/dev/null || true; done
rm -rf "$WORK"
