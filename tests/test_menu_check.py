"""The menu check finds what a caller would meet in a menu tree, and fails on it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

import settings as settings_module
from app import ROOT
from ivr.menu_check import MAX_OPTIONS, check


def _config(edit=None) -> dict:
    document = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    if edit:
        edit(document)
    return document


def _settings(edit=None):
    return settings_module.parse(_config(edit), environ={})


def _option(key, goto, zh=("说",), en=("say",)):
    return {
        "key": key,
        "label": {"zh": f"选项{key}", "en": f"option {key}"},
        "speech": {"zh": list(zh), "en": list(en)},
        "goto": goto,
    }


def test_the_hospitals_menus_pass():
    report = check(_settings())
    assert report.problems == ()
    assert set(report.seconds) == set(_config()["menus"]) and all(
        v > 0 for m in report.seconds.values() for v in m.values()
    )


def test_an_unreachable_menu_is_found():
    def orphan(document):
        document["menus"]["forgotten"] = {
            "title": {"zh": "孤立", "en": "orphan"},
            "options": [_option("1", "flow:booking")],
        }

    assert any("menus.forgotten" in problem and "reach" in problem for problem in check(_settings(orphan)).problems)


def test_menus_that_only_lead_to_each_other_are_a_dead_end():
    def loop(document):
        document["menus"]["main"]["options"].append(_option("7", "menu:a"))
        document["menus"]["a"] = {"title": {"zh": "甲", "en": "a"}, "options": [_option("1", "menu:b")]}
        document["menus"]["b"] = {"title": {"zh": "乙", "en": "b"}, "options": [_option("1", "menu:a")]}

    problems = check(_settings(loop)).problems
    assert {p.split(":")[0] for p in problems if "dead end" in p} == {"menus.a", "menus.b"}


def test_a_speech_list_in_one_language_only_is_a_missing_translation():
    def half(document):
        document["menus"]["main"]["options"][0]["speech"] = {"zh": ["介绍"], "en": []}

    assert any("missing in en" in problem for problem in check(_settings(half)).problems)


def test_a_long_menu_is_a_warning():
    def long(document):
        document["menus"]["main"]["options"] = [_option(str(n), "flow:booking") for n in range(1, MAX_OPTIONS + 3)]

    report = check(_settings(long))
    assert report.problems == () and any(f"{MAX_OPTIONS + 2} options" in w for w in report.warnings)


@pytest.mark.parametrize("broken", [False, True])
def test_the_command_fails_on_a_bad_config(tmp_path, broken):
    def orphan(document):
        document["menus"]["forgotten"] = {
            "title": {"zh": "孤立", "en": "orphan"},
            "options": [_option("1", "flow:booking")],
        }

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(orphan if broken else None), allow_unicode=True), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "menus", "check"],
        cwd=ROOT, env={"HOTLINE_CONFIG": str(path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == (1 if broken else 0), done.stderr
    assert ("menus.forgotten" in done.stderr) == broken
