"""scripts/audit.py's verdict on pip-audit's report (the service itself is not called here)."""

import importlib.util

from app import ROOT

spec = importlib.util.spec_from_file_location("audit", ROOT / "scripts" / "audit.py")
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)

FLASK = {"name": "flask", "version": "3.1.3", "vulns": []}


def test_a_known_vulnerability_fails():
    jinja = {"name": "jinja2", "version": "2.4.1", "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}]}
    code, lines = audit.verdict({"dependencies": [FLASK, jinja]}, "pypi")
    assert code == 1
    assert "pip-audit: jinja2 2.4.1: PYSEC-2019-217 (fixed in 2.10.1)" in lines


def test_a_service_that_answered_but_audited_nothing_fails():
    skipped = [{"name": "flask", "version": "3.1.3", "skip_reason": "Dependency not found on PyPI"}]
    code, lines = audit.verdict({"dependencies": skipped}, "pypi")
    assert code == 1
    assert lines[-1] == "pip-audit: FAILED: pypi answered, yet no package was audited"
    assert "1 of 1 packages NOT AUDITED" in lines[0]


def test_clean_packages_pass_and_say_how_many_were_audited():
    code, lines = audit.verdict({"dependencies": [FLASK]}, "osv")
    assert code == 0 and lines == ["pip-audit (osv): 1 of 1 packages audited, 0 with known vulnerabilities"]


def test_without_a_service_it_says_nothing_was_audited_and_passes(monkeypatch, capsys):
    monkeypatch.setattr(audit, "unanswered", lambda service: f"{service} unreachable")
    assert audit.main() == 0
    out = capsys.readouterr().out
    assert "NOTHING WAS AUDITED" in out and "pypi: pypi unreachable; osv: osv unreachable" in out
