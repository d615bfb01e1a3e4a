"""The dependency audit CI runs (.ci/run): pip-audit over the project's virtualenv.

Fails (exit 1) only when a package installed here has a known vulnerability.  When
the vulnerability service cannot be reached (no network, or an index without PyPI's
JSON API) it says so plainly, lists what could not be audited, and passes: CI must not
go red because the network is away, and must not stay green in silence either.

    .venv/bin/python scripts/audit.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def main() -> int:
    command = [str(VENV_BIN / "pip-audit"), "--format", "json", "--progress-spinner", "off"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print("pip-audit: NOT RUN: no answer from the vulnerability service within 10 minutes")
        return 0
    try:
        report = json.loads(done.stdout or "null")
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict):
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit: NOT RUN: the vulnerability service could not be reached ({reason[:300]})")
        return 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            print(f"pip-audit: {dependency['name']} {dependency.get('version', '?')}: {vuln['id']} (fixed in {fixes})")
    if skipped:
        print(f"pip-audit: {len(skipped)} of {len(dependencies)} packages NOT AUDITED (the package index does not "
              f"answer vulnerability queries here, e.g. {skipped[0]['skip_reason']!r})")  # fmt: skip
    print(f"pip-audit: {audited} packages audited, {len(vulnerable)} with known vulnerabilities")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
