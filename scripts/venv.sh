# Sourced by run.sh, test.sh and bench/webhooks.sh from the project root: make .venv
# from requirements.txt the first time, and again whenever requirements.txt changes.
if [ ! -x .venv/bin/python ] || [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi
