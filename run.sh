#!/usr/bin/env bash
# Run the hotline with the demo hospital on the embedded defaults (a SQLite file
# and an embedded Redis under instance/), or call it from the emulator's phone.
#
#   bash run.sh          # the hotline on http://127.0.0.1:5000 (webhook: /ivr/voice)
#   bash run.sh call     # in a second terminal: ring it and walk the menus
#
# Set DATABASE_URL / REDIS_URL / TWILIO_AUTH_TOKEN / PUBLIC_BASE_URL to use real ones.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x .venv/bin/flask ] || [ requirements.txt -nt .venv/.installed ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi

# The phone signs what it sends with this token and the hotline checks it, as with Twilio.
export TWILIO_AUTH_TOKEN="${TWILIO_AUTH_TOKEN:-demo-auth-token}"

case "${1:-serve}" in
  serve)
    .venv/bin/flask --app app seed --demo
    echo "The hotline answers at http://127.0.0.1:${PORT:-5000}/ivr/voice. Call it with: bash run.sh call"
    exec .venv/bin/flask --app app run --port "${PORT:-5000}"
    ;;
  call)
    shift
    exec .venv/bin/flask --app app call --url "http://127.0.0.1:${PORT:-5000}" "$@"
    ;;
  *)
    echo "usage: bash run.sh [serve|call [--from NUMBER]]" >&2
    exit 2
    ;;
esac
