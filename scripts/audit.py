"""The dependency audit CI runs (.ci/run): pip-audit over the project's virtualenv.

pip-audit asks a vulnerability service about every installed package: PyPI's JSON API
first, else OSV.  Each service is first asked about one package it must know; one that
does not answer that (no network, or an index mirror without PyPI's JSON API, which
answers 404 for everything, as on the developers' machines here) is not used.

- A package with a known vulnerability: FAILED (exit 1).
- A service answered the probe, yet pip-audit audited 0 packages: FAILED (exit 1): the
  audit is broken, and a green CI must not hide it.
- No service answered: it says in capitals that NOTHING WAS AUDITED, why, and passes:
  CI must not go red because the network is away, nor stay green in silence.

    .venv/bin/python scripts/audit.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

VENV_BIN = Path(sys.executable).parent
PROBE_TIMEOUT = 15
# What each service must answer about an old release with known vulnerabilities.
PROBES = {
    # pip-audit reads /pypi/<name>/<version>/json: a mirror may serve /pypi/<name>/json alone.
    "pypi": ("GET", "https://pypi.org/pypi/jinja2/2.4.1/json", None, "vulnerabilities"),
    "osv": ("POST", "https://api.osv.dev/v1/query", {"package": {"name": "jinja2", "ecosystem": "PyPI"},
                                                     "version": "2.4.1"}, "vulns"),
}  # fmt: skip


def unanswered(service: str) -> str | None:
    """Why the service cannot be used here, or None when it answers."""
    method, url, body, key = PROBES[service]
    try:
        response = requests.request(method, url, json=body, timeout=PROBE_TIMEOUT)
    except requests.RequestException as error:
        return f"{url}: {type(error).__name__}"
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict) or key not in answer:
        return f"{url}: HTTP {response.status_code}, not a vulnerability answer"
    return None


def verdict(report: dict, service: str) -> tuple[int, list[str]]:
    """Exit code and lines to print, from pip-audit's JSON report of a service that answered."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    lines = []
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            lines.append(
                f"pip-audit: {dependency['name']} {dependency.get('version', '?')}: {vuln['id']} (fixed in {fixes})"
            )
    if skipped:
        lines.append(
            f"pip-audit: {len(skipped)} of {len(dependencies)} packages NOT AUDITED, e.g. {skipped[0]['skip_reason']!r}"
        )
    lines.append(
        f"pip-audit ({service}): {audited} of {len(dependencies)} packages audited, {len(vulnerable)} with known vulnerabilities"
    )
    if audited == 0:
        lines.append(f"pip-audit: FAILED: {service} answered, yet no package was audited")
        return 1, lines
    return (1 if vulnerable else 0), lines


def run(service: str) -> dict | str:
    """pip-audit's report, or why there is none."""
    command = [str(VENV_BIN / "pip-audit"), "--format", "json", "--progress-spinner", "off",
               "--vulnerability-service", service]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "no report within 10 minutes"
    try:
        report = json.loads(done.stdout or "null")
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict):
        return (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return report


def main() -> int:
    reasons = []
    for service in PROBES:
        reason = unanswered(service)
        if reason is None:
            report = run(service)
            if isinstance(report, dict):
                code, lines = verdict(report, service)
                print("\n".join(lines))
                return code
            reason = f"pip-audit: {report}"
        reasons.append(f"{service}: {reason}")
    print("pip-audit: NOTHING WAS AUDITED: no vulnerability service answered here, so the installed packages were "
          "NOT checked for known vulnerabilities (" + "; ".join(reasons) + ")")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
