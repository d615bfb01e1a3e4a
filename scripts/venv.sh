# Sourced by run.sh, test.sh, .ci/run and bench/webhooks.sh from the project root: make .venv
# from requirements.lock (every package pinned, with its hashes) the first time, and again
# whenever requirements.lock changes.  It installs with uv: the one on the PATH, else one
# fetched into .venv by pip (requirements-uv.lock); pip alone only if uv cannot be had.
# Either way it shows what it does.
#
# requirements.txt is what we choose; requirements.lock is made from it (with uv):
#   uv pip compile requirements.txt --universal --python-version 3.11 --generate-hashes --no-header -o requirements.lock
# (requirements-uv.lock likewise, from the one line uv==<version>).
hotline_python="${HOTLINE_PYTHON:-python3}"
if ! command -v "$hotline_python" > /dev/null 2>&1; then
  echo "The hotline needs Python 3.11 or newer, and $hotline_python was not found." >&2
  echo "  Debian/Ubuntu: sudo apt-get install python3 python3-venv   (or set HOTLINE_PYTHON=/path/to/python3.11)" >&2
  return 1
fi
if ! "$hotline_python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "The hotline needs Python 3.11 or newer; $hotline_python is $("$hotline_python" -V 2>&1)." >&2
  echo "  Install a newer one and point HOTLINE_PYTHON at it, e.g. HOTLINE_PYTHON=python3.11 bash run.sh" >&2
  return 1
fi
if [ ! -x .venv/bin/python ] || [ ! -f .venv/.installed ] || [ requirements.lock -nt .venv/.installed ]; then
  hotline_started=$SECONDS
  hotline_uv="$(command -v uv || true)"
  if [ -n "$hotline_uv" ]; then
    echo "Installing the hotline's packages into .venv with uv ($("$hotline_uv" --version))..."
    "$hotline_uv" venv --quiet --allow-existing --python "$hotline_python" .venv
  else
    if ! "$hotline_python" -c 'import ensurepip, venv' > /dev/null 2>&1; then
      echo "Python's venv module is missing, so the hotline cannot make its .venv." >&2
      echo "  Debian/Ubuntu: sudo apt-get install python3-venv   (or python3.11-venv)" >&2
      return 1
    fi
    echo "Making .venv and fetching uv into it (pip, a few seconds)..."
    "$hotline_python" -m venv .venv
    # uv (from PyPI, its hashes in requirements-uv.lock) installs the rest in seconds where
    # pip takes minutes; if it cannot be had here, pip does it all.
    if .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-uv.lock; then
      hotline_uv=.venv/bin/uv
      echo "Installing the hotline's packages into .venv with uv ($("$hotline_uv" --version))..."
    fi
  fi
  if [ -n "$hotline_uv" ]; then
    # --compile-bytecode: the packages' .pyc made once here.  Where PYTHONDONTWRITEBYTECODE is
    # set (this CI's machines) nothing else writes them, and every process the tests start
    # (gunicorn, flask, RQ workers) compiled twilio, SQLAlchemy, ... from source again: `import
    # app` took 3.3 s of CPU instead of 1.3 s.  pip compiles them by default.
    "$hotline_uv" pip install --python .venv/bin/python --require-hashes --compile-bytecode -r requirements.lock
  else
    echo "Installing the hotline's packages into .venv with pip (a few minutes)..."
    # pip's own progress: one line per package, a bar per download on a terminal.
    .venv/bin/pip install --disable-pip-version-check --progress-bar on --require-hashes -r requirements.lock
  fi
  touch .venv/.installed
  echo "Installed in $((SECONDS - hotline_started)) s."
fi
unset hotline_python hotline_started hotline_uv
