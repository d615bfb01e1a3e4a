"""`bash run.sh call` (flask call) with no hotline running says so plainly, in both languages."""

import os
import subprocess
import sys

from app import ROOT
from tests.faults import free_port


def test_calling_a_hotline_that_is_not_running_says_so_in_both_languages():
    nobody = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_API_BASE", "HOTLINE_CONFIG")}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "call", "--url", nobody, "--carrier", nobody],
        cwd=ROOT,
        env=env | {"TWILIO_AUTH_TOKEN": "demo-auth-token", "DATABASE_URL": "sqlite://"},
        capture_output=True,
        text=True,
        input="q\n",
        timeout=120,
    )
    assert done.returncode == 1
    assert f"热线没有在运行：{nobody} 没有应答" in done.stderr
    assert f"The hotline is not running: nothing answers at {nobody}" in done.stderr
    assert "bash run.sh" in done.stderr
    assert "application error" not in (done.stdout + done.stderr) and "Traceback" not in done.stderr
