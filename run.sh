#!/usr/bin/env bash
# Run the hotline with the demo hospital on the embedded defaults (a SQLite file
# and an embedded Redis under instance/), with an RQ worker, the scheduler and the
# local carrier emulator; or call it from the emulator's phone.
#
#   bash run.sh          # the hotline on http://127.0.0.1:5000 (webhook: /ivr/voice)
#   bash run.sh call     # in a second terminal: ring it and walk the menus
#
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

case "${1:-serve}" in
  serve)
    .venv/bin/flask --app app seed --demo
    # The local carrier emulator plays Twilio: it rings the hotline and takes its SMS and calls.
    .venv/bin/python -m emulator serve --port "$CARRIER_PORT" --realtime \
      --number "$NUMBER" --voice-url "http://127.0.0.1:$PORT/ivr/voice" \
      --status-callback "http://127.0.0.1:$PORT/ivr/status" --endpoint "$OPERATOR=answer" &
    pids=$!
    export TWILIO_API_BASE="http://127.0.0.1:$CARRIER_PORT" PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
    .venv/bin/flask --app app worker & pids="$pids $!"   # SMS and reminders; several may run
    .venv/bin/flask --app app cron & pids="$pids $!"     # the scheduler; exactly one
    trap 'kill $pids 2>/dev/null; wait' EXIT INT TERM
    echo "The hotline answers at http://127.0.0.1:$PORT/ivr/voice. Call it with: bash run.sh call"
    echo "Texts it sends: http://127.0.0.1:$CARRIER_PORT/_emulator/messages"
    .venv/bin/flask --app app run --port "$PORT"
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
