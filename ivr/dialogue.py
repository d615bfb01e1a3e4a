"""How every menu of the hotline talks and listens.

A voice flow (ivr/flows/) is a set of *steps*.  A step is a function
`(conversation, **args) -> VoiceResponse` registered with `@step(flow, name)`
and reached at `POST /ivr/<flow>/<name>?<args>`.  Most steps describe a menu
(what to say, which keys and words lead where) and call `conversation.menu`,
which does the rest the same way everywhere:

- the first visit says the menu inside a <Gather> (keys and speech); the
  Gather posts back to the same step, so one function both asks and answers;
- no input falls through the Gather to a <Redirect> back to the step with
  `silence=1`;
- `0` (or "人工", "operator") reaches a person, `*` repeats, `#` goes back to
  where the caller came from; every menu ends with these keys, each said once
  with one meaning (`Conversation._ending`);
- when nobody can answer (out of hours, no agent with the skill logged in), `0`
  offers what can happen instead, a message or a callback, and is not offered
  where those are the choices;
- no input or a wrong key says so and asks again; after `max_failures` in a
  row the caller is offered a person (or, out of hours, told the hours) —
  there is no loop without an exit.

What a step needs travels in its URL (language, page, tries so far, and the
trail of menus `#` goes back along), so any web process can serve any step,
with or without Redis.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus, unquote

from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from ivr import speech
from ivr.state import CallStore
from records.calls import CallOpened
from records.directory import Directory
from records.patients import CallerMatch
from settings import Settings
from wording.prompts import t
from wording.speaking import key_name

log = logging.getLogger(__name__)

StepFunction = Callable[..., VoiceResponse]
STEPS: dict[tuple[str, str], StepFunction] = {}

# Spoken digits, for callers who say "one" instead of pressing it.
SPOKEN_KEYS = {
    **{word: str(i) for i, word in enumerate("零一二三四五六七八九")},
    **{
        word: str(i)
        for i, word in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    },
    "1": "1",
    "2": "2",
    "3": "3",
    "4": "4",
    "5": "5",
    "6": "6",
    "7": "7",
    "8": "8",
    "9": "9",
    "0": "0",
}
REPEAT_WORDS = ("重听", "再说一遍", "repeat", "again")
BACK_WORDS = ("返回", "上一级", "go back", "back")


def step(flow: str, name: str) -> Callable[[StepFunction], StepFunction]:
    def register(function: StepFunction) -> StepFunction:
        STEPS[(flow, name)] = function
        return function

    return register


# The small values every menu makes by the dozen (a target and a choice for each item of a
# list, a line for each sentence) are NamedTuples: made in half the time of a frozen
# dataclass, which sets each field through object.__setattr__ (issue 17's CPU).
NO_ARGS: Mapping[str, str] = MappingProxyType({})


class Target(NamedTuple):
    """A step and its arguments: where a key, a word or a redirect leads."""

    flow: str
    step: str
    args: Mapping[str, str] = NO_ARGS

    @property
    def name(self) -> str:
        return f"{self.flow}.{self.step}"


MAIN_MENU = Target("menu", "main")

# ---- the way back ----------------------------------------------------------------------------
# `#` goes back to where the caller came from: each choice taken in a menu adds the menu to
# the trail (newest first), which travels in the URL as `back=` like the language and the
# page.  A step reached in another way (a redirect after booking, a refusal) has an empty
# trail, and `#` leads where the step says (`menu(back=...)`).
MAX_TRAIL = 8  # menus remembered; older ones are dropped, the last one's own `back` applies
_STEP_NAME = re.compile(r"[a-z_]{1,40}\.[a-z_]{1,40}\Z")
_ARG_NAME = re.compile(r"[a-z_]{1,20}\Z")


def encode_trail(trail: Sequence[Target]) -> str:
    """'departments.detail;code=CARD;page=0|departments.start|menu.main'."""
    return "|".join(
        ";".join([target.name, *(f"{k}={_quote(str(v))}" for k, v in sorted(target.args.items()))])
        for target in trail[:MAX_TRAIL]
    )


def decode_trail(text: str | None) -> tuple[Target, ...]:
    """The trail a URL carries; anything malformed (a URL is caller-controlled) ends it
    there, and a step that does not exist is met like any unknown step (run_step)."""
    trail: list[Target] = []
    for part in (text or "")[:2000].split("|")[:MAX_TRAIL]:
        name, *pairs = part.split(";")
        if not _STEP_NAME.match(name):
            break
        args = dict(pair.partition("=")[::2] for pair in pairs)
        if not all(_ARG_NAME.match(k) for k in args):
            break
        flow, _, step_name = name.partition(".")
        trail.append(Target(flow, step_name, {k: unquote(v)[:200] for k, v in args.items()}))
    return tuple(trail)


# What quote() and urlencode() leave as it is: most of a step's URL (names, codes, numbers), given
# back without their work (a menu's two URLs were some 6 % of a webhook's CPU, issue 17).
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*\Z")


def _quote(text: str) -> str:
    return text if _PLAIN.match(text) else quote(text, safe="")


def _quote_plus(text: str) -> str:
    return text if _PLAIN.match(text) else quote_plus(text, safe="")


def query(args: Mapping[str, object]) -> str:
    """urlencode(sorted(args.items())): the same text."""
    return "&".join(f"{_quote_plus(k)}={_quote_plus(str(v))}" for k, v in sorted(args.items()))


class Choice(NamedTuple):
    target: Target
    key: str | None = None
    label: str | None = None  # the sentence offering it: "心血管内科请按1。"
    phrases: Sequence[str] = ()  # what a caller may say for it


class Heard(NamedTuple):
    """The caller's input on this request, as the carrier posted it."""

    digits: str | None = None
    speech: str | None = None
    confidence: float | None = None
    silence: bool = False
    failures: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.digits) or bool(self.speech and self.speech.strip()) or self.silence


class Line(NamedTuple):
    text: str
    lang: str


@dataclass
class Conversation:
    """One request of one call: what the caller did, and what the steps need."""

    settings: Settings
    # The request's database session, opened on first use: most steps read none (issue 17).
    db_source: Callable[[], Session]
    calls: CallStore
    call_sid: str
    lang: str
    now: datetime
    base_url: str
    here: Target = MAIN_MENU
    came_from: tuple[Target, ...] = ()  # the menus `#` goes back through, newest first
    heard: Heard = Heard()
    form: Mapping[str, str] = field(default_factory=dict)  # what the carrier posted
    preamble: list[Line] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    directory_source: Callable[[], Directory] | None = None
    # SMS committed in this request, handed to the RQ workers once the response is built.
    texts_to_send: list[int] = field(default_factory=list)
    # A cancellation or a move committed in this request held the freed place for a waiting
    # patient: their text is handed to the RQ workers once the response is built.
    offers_to_text: bool = False
    # The record of a call the hotline placed, opened by this request: kept in Redis with
    # the request's events (ivr.webhooks._answer).
    opened: CallOpened | None = None
    # Why no person can answer this caller now ('closed', 'nobody'), or None when one can
    # (ivr.flows.person.nobody_to_answer; None here: a person is offered).
    availability: Callable[[Conversation], str | None] | None = None
    # The directory as this request first read it (`directory`): a step and the steps it goes
    # on to read it several times, and each reading checked its age against the clock.
    read_directory: Directory | None = field(default=None, repr=False)

    # ---- building blocks for steps ---------------------------------------------------------

    @property
    def db(self) -> Session:
        return self.db_source()

    @property
    def directory(self) -> Directory:
        """Departments, doctors and services (a recent snapshot, see records.directory)."""
        if self.read_directory is None:
            self.read_directory = self.directory_source()
        return self.read_directory

    def t(self, prompt: str, **values: object) -> str:
        return t(prompt, self.lang, **values)

    def url(self, target: Target, **extra: object) -> str:
        args = {**target.args, "lang": self.lang, **{k: str(v) for k, v in extra.items()}}
        if target == self.here and self.came_from:
            args["back"] = encode_trail(self.came_from)
        return f"{self.base_url}/ivr/{target.flow}/{target.step}?{query(args)}"

    def event(self, kind: str, **detail: Any) -> None:
        self.events.append((kind, detail))

    def say(self, node, text: str, lang: str | None = None) -> None:
        voice = self.settings.voice(lang or self.lang)
        node.say(text, voice=voice.voice, language=voice.say_language)

    def go(self, target: Target, *preamble: Line, came_from: tuple[Target, ...] = ()) -> VoiceResponse:
        """Continue at another step in this same request (no extra round trip); `came_from`
        is the trail `#` goes back along from there."""
        lang = target.args.get("lang", self.lang)
        if lang != self.lang:
            self.event("language", lang=lang)
        args = {k: v for k, v in target.args.items() if k != "lang"}
        moved = replace(
            self,
            here=Target(target.flow, target.step, args),
            came_from=came_from[:MAX_TRAIL],
            lang=lang,
            heard=Heard(),
            form={},
            preamble=list(preamble),
        )
        result = run_step(moved, target.flow, target.step, args)
        self.events = moved.events
        self.texts_to_send = moved.texts_to_send
        self.offers_to_text = moved.offers_to_text
        return result

    def forward(self, target: Target, *preamble: Line) -> VoiceResponse:
        """Go on to `target` as the caller's choice here: `#` there comes back here.  Another
        page of the same list keeps the trail (`#` leaves the list, not the page); the main
        menu starts a new one."""
        if target.name == MAIN_MENU.name:
            trail: tuple[Target, ...] = ()
        elif target.name == self.here.name:
            trail = self.came_from
        else:
            trail = (self.here, *self.came_from)
        return self.go(target, *preamble, came_from=trail)

    def nobody_to_answer(self) -> str | None:
        """Why no person can answer this caller now ('closed', 'nobody'), None if one can."""
        return self.availability(self) if self.availability is not None else None

    def person_target(self, step: str = "transfer") -> Target:
        """A person, for a caller who is *here*: the seats' routing picks the queue from where
        they are (a department's desk, booking help) and what they were looking at."""
        args = {"at": self.here.flow}
        code = self.here.args.get("department") or self.here.args.get("code")
        if code:
            args["code"] = str(code)[:20]
        return Target("person", step, args)

    def line(self, prompt: str, **values: object) -> Line:
        return Line(self.t(prompt, **values), self.lang)

    def hang_up(self, *lines: Line) -> VoiceResponse:
        """What is still to be said (this step's preamble, then `lines`), then the end of the call."""
        response = VoiceResponse()
        for said in [*self.preamble, *lines]:
            self.say(response, said.text, said.lang)
        response.hangup()
        return response

    def open_outbound_record(self, patient_id: int) -> None:
        """The record of a call the hotline placed to a patient (a reminder, a follow-up),
        linked to their file: kept with this request's events, written once the call ends."""
        self.opened = CallOpened(
            call_sid=self.call_sid,
            from_number=self.form.get("From", ""),
            to_number=self.form.get("To", ""),
            caller=CallerMatch(None, (patient_id,)),
            language=self.lang,
            at=self.now,
            direction=self.form.get("Direction", "outbound-api"),
        )

    # ---- the menu ----------------------------------------------------------------------------

    def menu(
        self,
        lines: Sequence[str | Line],
        choices: Sequence[Choice] = (),
        *,
        back: Target | None = MAIN_MENU,
        on_speech: Callable[[str], VoiceResponse | None] | None = None,
        give_up: Target | None = None,
        person: bool = True,
    ) -> VoiceResponse:
        """Ask, or act on the answer to, a menu.  `back` is where `#` leads when the caller
        did not come here by a choice (None at the top: no `#`).  `person=False` in a menu
        whose choices are what a caller who asked for a person can have instead: there `0`
        is not offered, and pressing it is a wrong key, so nothing loops back here."""
        heard = self.heard
        way_back = self._way_back(back)
        if not heard.anything:
            return self._ask(lines, choices, way_back, person)
        dialogue = self.settings.dialogue
        if heard.digits:
            digits = heard.digits.strip()
            self.event("key", step=self.here.name, digits=digits[:20])
            if digits == dialogue.person_key and person:
                return self.go(self.person_target())
            if digits == dialogue.repeat_key:
                return self._ask(lines, choices, way_back, person)
            if digits == dialogue.back_key:
                return self._go_back(way_back) if way_back else self._ask(lines, choices, way_back, person)
            for choice in choices:
                if choice.key == digits:
                    return self.forward(choice.target)
            wrong = key_name(digits, self.lang) if len(digits) == 1 else ""
            return self._failed(self.line("invalid_key", key=wrong), lines, choices, way_back, person, give_up)
        if heard.speech and heard.speech.strip():
            said = heard.speech.strip()[:500]
            self.event("speech", step=self.here.name, text=said, confidence=heard.confidence)
            answer = self._understand(said, choices, way_back, person, on_speech)
            if answer is not None:
                return answer if isinstance(answer, VoiceResponse) else self._ask(lines, choices, way_back, person)
            return self._failed(self.line("not_understood"), lines, choices, way_back, person, give_up)
        self.event("no_input", step=self.here.name)
        return self._failed(self.line("no_input"), lines, choices, way_back, person, give_up)

    def _way_back(self, back: Target | None) -> tuple[Target, ...]:
        """Where `#` leads, then the trail from there: the menu the caller came from, or `back`."""
        if back is None:
            return ()
        return self.came_from or (back,)

    def _go_back(self, way_back: tuple[Target, ...]) -> VoiceResponse:
        return self.go(way_back[0], came_from=way_back[1:])

    def _understand(self, said, choices, way_back, person, on_speech) -> VoiceResponse | bool | None:
        if person and speech.mentions(said, self._person_words()):
            return self.go(self.person_target())
        spoken_key = SPOKEN_KEYS.get(speech.normalize(said))
        if spoken_key:
            for choice in choices:
                if choice.key == spoken_key:
                    return self.forward(choice.target)
        matches = speech.best_match(said, [(c, c.phrases) for c in choices if c.phrases])
        if len(matches) == 1:
            return self.forward(matches[0].target)
        if on_speech is not None:
            custom = on_speech(said)
            if custom is not None:
                return custom
        if speech.mentions(said, REPEAT_WORDS):
            return True
        if way_back and speech.mentions(said, BACK_WORDS):
            return self._go_back(way_back)
        return None

    def _failed(self, sorry: Line, lines, choices, way_back, person, give_up) -> VoiceResponse:
        return self._retry(sorry, give_up, lambda: self._ask(lines, choices, way_back, person))

    def _retry(self, sorry: Line, give_up: Target | None, ask: Callable[[], VoiceResponse]) -> VoiceResponse:
        """Say what went wrong and ask again, or, after max_failures in a row, give up
        (by default: put the caller through to a person)."""
        failures = self.heard.failures + 1
        if failures >= self.settings.dialogue.max_failures:
            self.event("gave_up", step=self.here.name)
            return self.go(give_up or self.person_target("give_up"))
        self.heard = Heard(failures=failures)
        self.preamble = [sorry]
        return ask()

    def _ask(self, lines, choices, way_back, person) -> VoiceResponse:
        said = [Line(choice.label, self.lang) for choice in choices if choice.label]
        said += self._ending(way_back, person)
        hints = list(dict.fromkeys(phrase[:100] for choice in choices for phrase in choice.phrases))[:500]
        # One key ends a menu choice; '#' is our back key, not the end of input.
        return self._gather([*lines, *said], num_digits=1, finish_on_key="", hints=",".join(hints) or None)

    def _ending(self, way_back: tuple[Target, ...], person: bool) -> list[Line]:
        """The keys every menu ends with, each said once with its one meaning (the menu's own
        lines offer its choices, never these keys): `0` as PERSON_OFFER says, `*` at the main
        menu only (callers learn it there; it repeats every menu, issue 20's shorter
        prompts), and `#` named by where it leads (BACK_TO)."""
        dialogue = self.settings.dialogue
        ending = []
        if person:
            offer = PERSON_OFFER[self.nobody_to_answer() is None][0]
            ending.append(self.line(offer, key=dialogue.person_key))
        if self.here.name == MAIN_MENU.name:  # said once, at the top: `*` repeats any menu
            ending.append(self.line("repeat_option", key=key_name(dialogue.repeat_key, self.lang)))
        if way_back:
            back_to = BACK_TO.get(way_back[0].name, "back_option")
            ending.append(self.line(back_to, key=key_name(dialogue.back_key, self.lang)))
        return ending

    def person_offer_by_voice(self) -> Line:
        """For number entry, where every key is data: how to reach a person (or, when nobody
        can answer, a message or a callback) by voice."""
        return self.line(PERSON_OFFER[self.nobody_to_answer() is None][1])

    def _gather(self, lines: Sequence[str | Line], **listen: object) -> VoiceResponse:
        """Say the preamble and `lines` inside a <Gather> that posts back to this step (with
        the tries so far), falling through to a <Redirect> back here when nothing is heard."""
        self.event("menu", step=self.here.name, **dict(self.here.args))
        said = [*self.preamble, *(line if isinstance(line, Line) else Line(line, self.lang) for line in lines)]
        action, on_silence = self._step_urls(self.heard.failures)
        response = VoiceResponse()
        gather = response.gather(
            input="dtmf speech",
            action=action,
            method="POST",
            timeout=self.settings.dialogue.gather_timeout,
            speech_timeout="auto",
            language=self.settings.voice(self.lang).speech_language,
            **listen,
        )
        for line in _merge(said):
            self.say(gather, line.text, line.lang)
        response.redirect(on_silence, method="POST")
        return response

    def _step_urls(self, failures: int) -> tuple[str, str]:
        """`url(self.here, f=failures)` and the same with `silence=1`: where a <Gather> posts
        and where silence leads, from one set of arguments (the trail encoded once)."""
        args = {**self.here.args, "lang": self.lang, "f": str(failures)}
        if self.came_from:
            args["back"] = encode_trail(self.came_from)
        path = f"{self.base_url}/ivr/{self.here.flow}/{self.here.step}?"
        # `query` of both, each argument quoted once and the names sorted once (issue 17's CPU).
        pairs = {name: f"{_quote_plus(name)}={_quote_plus(str(value))}" for name, value in args.items()}
        names = sorted(pairs)
        action = path + "&".join(pairs[name] for name in names)
        if "silence" not in pairs:
            bisect.insort(names, "silence")
        pairs["silence"] = "silence=1"
        return action, path + "&".join(pairs[name] for name in names)

    # ---- typed-in numbers (birth dates, record numbers) -----------------------------------------

    def entry(
        self,
        lines: Sequence[str | Line],
        on_digits: Callable[[str], VoiceResponse],
        *,
        back: Target | None = MAIN_MENU,
        give_up: Target | None = None,
    ) -> VoiceResponse:
        """Ask for a number keyed in and ended with '#' (or said aloud).  Here every digit,
        0 included, is data: a person is reached by saying so, or after repeated silence."""
        heard = self.heard
        if not heard.anything:
            return self._ask_entry(lines)
        if heard.speech and speech.mentions(heard.speech, self._person_words()):
            self.event("speech", step=self.here.name, text="(person)")
            return self.go(self.person_target())
        digits = (heard.digits or "").strip() or spoken_digits(heard.speech or "")
        if digits == "*":
            return self._ask_entry(lines)
        if digits:
            # What was keyed is personal data: the event says how much, not what.
            self.event("entry", step=self.here.name, length=len(digits))
            return on_digits(digits[:40])
        if heard.speech and heard.speech.strip():  # words that are not digits ("M 一二三")
            self.event("speech", step=self.here.name, text="(not digits)")
            return self.failed_entry(self.line("digits_only"), lines, give_up)
        self.event("no_input", step=self.here.name)
        return self.failed_entry(self.line("no_input"), lines, give_up)

    def failed_entry(self, sorry: Line, lines: Sequence[str | Line], give_up: Target | None = None) -> VoiceResponse:
        return self._retry(sorry, give_up, lambda: self._ask_entry(lines))

    def _ask_entry(self, lines: Sequence[str | Line]) -> VoiceResponse:
        return self._gather(lines, finish_on_key="#")  # any number of digits, ended by '#'

    def _person_words(self) -> tuple[str, ...]:
        words = self.settings.dialogue.person_words
        return words.zh + words.en

    # ---- small helpers -----------------------------------------------------------------------

    def int_arg(self, value: str | None, default: int = 0) -> int:
        return int(value) if is_id(value) else default


# What `0` offers (a key in a menu, a word during number entry), by whether a person can
# answer now (Conversation.nobody_to_answer): when nobody can, the queue offers a message or
# a callback instead, so that is what `0` is said to give.
PERSON_OFFER = {True: ("person_option", "person_by_voice"), False: ("message_option", "message_by_voice")}
# How `#` is offered, by where it leads; anywhere else it is "back one level".
BACK_TO = {MAIN_MENU.name: "main_menu_option"}

MAX_ID = 2**31 - 1  # the databases' INTEGER: a bigger number in a URL is nobody's id


def is_id(value: str | None) -> bool:
    """An id or count from a URL or a form: ASCII digits only ('²' and '١' are digits to
    str.isdigit, and int('²') fails) and small enough for an INTEGER column."""
    return bool(value) and len(value) <= 10 and value.isascii() and value.isdigit() and int(value) <= MAX_ID


def spoken_digits(said: str) -> str:
    """'零三零五', 'zero three 0 five' -> '0305'; '' if anything else was said."""
    words = [w for w in re.split(r"[\s,，。.、-]+", said.strip().lower()) if w]
    digits = ""
    for word in words:
        if word in SPOKEN_KEYS:
            digits += SPOKEN_KEYS[word]
        elif all(ch in SPOKEN_KEYS or ch == "幺" for ch in word):
            digits += "".join("1" if ch == "幺" else SPOKEN_KEYS[ch] for ch in word)
        else:
            return ""
    return digits


def _merge(lines: Sequence[Line]) -> list[Line]:
    """Consecutive lines in one language become one <Say>: fewer pauses between sentences."""
    merged: list[Line] = []
    for line in lines:
        if merged and merged[-1].lang == line.lang:
            joiner = "" if line.lang == "zh" else " "
            merged[-1] = Line(merged[-1].text + joiner + line.text, line.lang)
        else:
            merged.append(line)
    return merged


def run_step(conversation: Conversation, flow: str, name: str, args: Mapping[str, str]) -> VoiceResponse:
    function = STEPS.get((flow, name))
    if function is None:
        log.warning("call %s: no step %s.%s", conversation.call_sid, flow, name)
        conversation.event("error", reason="unknown step", step=f"{flow}.{name}"[:80])
        return conversation.go(MAIN_MENU, conversation.line("lost"))
    # Only the arguments the step takes: anything else in a URL is stale or hostile.
    accepted = _arguments(function)
    kwargs = {k: v for k, v in args.items() if k in accepted}
    conversation.here = Target(flow, name, kwargs)
    return function(conversation, **kwargs)


@functools.cache
def _arguments(function: StepFunction) -> frozenset[str]:
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset([name for name, p in inspect.signature(function).parameters.items() if p.kind in named][1:])


def paginate(items: Sequence, page: int, size: int) -> tuple[Sequence, int, int]:
    """The items on `page` (0-based, wrapped into range), that page and the page count."""
    pages = max(1, -(-len(items) // size))
    page = page % pages
    return items[page * size : (page + 1) * size], page, pages


def paged_choices(
    conversation: Conversation,
    items: Sequence[Any],
    page: int,
    *,
    list_target: Target,
    target_of: Callable[[Any], Target],
    label_of: Callable[[Any, str], str],
    phrases_of: Callable[[Any], Sequence[str]],
) -> tuple[list[Choice], list[str]]:
    """A long list read a page at a time: keys 1..page_size for this page's items,
    the 'more' key for the next page (the last page offers the start again), and
    every item's name may be said whatever page the caller is on."""
    size = conversation.settings.dialogue.page_size
    _, number, pages = paginate(items, page, size)
    first = number * size
    choices = []
    for index, item in enumerate(items):
        key = str(index - first + 1) if first <= index < first + size else None
        choices.append(Choice(target_of(item), key, label_of(item, key) if key else None, tuple(phrases_of(item))))
    lines = []
    if pages > 1:
        more = conversation.settings.dialogue.more_key
        label = "more_option" if number + 1 < pages else "from_start_option"
        following = Target(list_target.flow, list_target.step, {**list_target.args, "page": str((number + 1) % pages)})
        choices.append(Choice(following, more, conversation.t(label, key=more)))
        if number:  # the first page's "for more, press 8" says there is more
            lines.append(conversation.t("page_of", page=number + 1, pages=pages))
    return choices, lines
