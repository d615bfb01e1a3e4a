#!/usr/bin/env bash
# Log lines an idle hotline's worker and scheduler print in a minute (after 20 s of start-up).
#
#   bash bench/idle_logs.sh [CHECKOUT]    # default: this one; uses this checkout's .venv
#
# Its own SQLite file, the machine's Redis (HOTLINE_TEST_REDIS, db 15) under its own prefix.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CHECKOUT="${1:-$HERE}"
WORK="$(mktemp -d /tmp/hotline-idle.XXXXXX)"
export DATABASE_URL="sqlite:///$WORK/hotline.db" REDIS_URL="${HOTLINE_TEST_REDIS:-redis://127.0.0.1:6379/15}"
export REDIS_PREFIX="idle-$(basename "$WORK"):" TWILIO_AUTH_TOKEN=idle TWILIO_API_BASE=http://127.0.0.1:9
cd "$CHECKOUT"
"$HERE/.venv/bin/flask" --app app seed --demo > /dev/null 2>&1
"$HERE/.venv/bin/flask" --app app worker > "$WORK/worker.log" 2>&1 & worker=$!
"$HERE/.venv/bin/flask" --app app cron > "$WORK/cron.log" 2>&1 & cron=$!
sleep 20
before_worker=$(wc -l < "$WORK/worker.log") before_cron=$(wc -l < "$WORK/cron.log")
sleep 60
after=$(cat "$WORK"/*.log | wc -l)
before=$((before_worker + before_cron))
kill "$worker" "$cron"; wait "$worker" "$cron" 2>/dev/null || true
echo "$CHECKOUT ($(git rev-parse --short HEAD)): $((after - before)) log lines in 60 s from an idle worker and scheduler"
if [ -n "${SHOW:-}" ]; then tail -n +"$((before_worker + 1))" "$WORK/worker.log"; tail -n +"$((before_cron + 1))" "$WORK/cron.log"; fi
"$HERE/.venv/bin/python" - "$REDIS_URL" "$REDIS_PREFIX" <<'PY'
import sys, redis
client = redis.Redis.from_url(sys.argv[1])
keys = [*client.scan_iter(f"*{sys.argv[2]}*")]
if keys:
    client.delete(*keys)
PY
rm -rf "$WORK"
