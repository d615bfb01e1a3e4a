"""The menu check: what a caller would meet in the menus written in config.yaml, found before
a caller meets it (`flask --app app menus check`; test.sh runs it on config.yaml).

Problems (the check fails):
- a menu no caller can reach from the main menu;
- a dead end: a menu from which no service can be reached, only other menus (callers go
  round and round);
- a missing translation: a speech list in one language only (a caller speaking the other
  could not say that option).
Warnings (listed, the check passes): a menu of more than MAX_OPTIONS options (callers
remember about five; the key for the other language in the main menu is not counted).
The demo hospital's main menu has five (the introduction and the featured services share one).
Figures: each menu's options as spoken, in seconds, per language (the keys every menu
also offers, *, # and 0, are said after them).
"""

from __future__ import annotations

from dataclasses import dataclass

from settings import LANGUAGES, Settings
from wording.prompts import t

MAX_OPTIONS = 5


@dataclass(frozen=True)
class Report:
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    seconds: dict[str, dict[str, float]]  # menu -> language -> seconds of its options


def _targets(settings: Settings, name: str) -> list[str]:
    return [option.goto for option in settings.menus[name].options]


def reachable(settings: Settings) -> set[str]:
    seen, todo = set(), ["main"]
    while todo:
        name = todo.pop()
        if name in seen or name not in settings.menus:
            continue
        seen.add(name)
        todo += [goto.split(":", 1)[1] for goto in _targets(settings, name) if goto.startswith("menu:")]
    return seen


def leads_to_a_service(settings: Settings, name: str) -> bool:
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for goto in _targets(settings, current):
            kind, _, target = goto.partition(":")
            if kind == "flow":
                return True
            todo.append(target)
    return False


def spoken_seconds(settings: Settings, name: str, lang: str) -> float:
    from emulator.twiml import speaking_seconds

    menu = settings.menus[name]
    lines = [t("option", lang, label=option.label(lang), key=option.key) for option in menu.options]
    lines.append(t("or_say", lang))
    if name == "main":
        other = next(code for code in LANGUAGES if code != lang)
        lines.append(t("language_offer", other, key=settings.dialogue.language_key))
    return round(sum(speaking_seconds(line) for line in lines), 1)


def check(settings: Settings) -> Report:
    problems, warnings = [], []
    linked = reachable(settings)
    for name, menu in settings.menus.items():
        where = f"menus.{name}"
        if name not in linked:
            problems.append(f"{where}: 主菜单无法到达 no caller can reach this menu from the main menu")
        if not leads_to_a_service(settings, name):
            problems.append(f"{where}: 死胡同 a dead end: it leads only to other menus, never to a service")
        if len(menu.options) > MAX_OPTIONS:
            warnings.append(
                f"{where}: 选项过多 {len(menu.options)} options, more than {MAX_OPTIONS}: split it into sub-menus"
            )
        for option in menu.options:
            said = {lang: option.speech(lang) for lang in LANGUAGES}
            if any(said.values()) and not all(said.values()):
                missing = ", ".join(lang for lang, words in said.items() if not words)
                problems.append(
                    f"{where}: option {option.key}: 缺少翻译 speech words missing in {missing} (callers could not say it)"
                )
    seconds = {name: {lang: spoken_seconds(settings, name, lang) for lang in LANGUAGES} for name in settings.menus}
    return Report(tuple(problems), tuple(warnings), seconds)
