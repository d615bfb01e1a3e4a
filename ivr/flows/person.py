"""Reaching a person: '0' (or "人工", "operator") anywhere, or a menu given up on.

The caller joins the seats' queue for where they are (ivr/flows/queue.py does
the waiting): English callers the English desk; from booking or their
appointments, booking help; from a department, a doctor of it, its desk; from
anywhere else, general enquiries.  Out of hours, or with nobody logged in, the
queue offers a voicemail or a callback, with the opening hours; `nobody_to_answer`
tells every menu so, and they offer that on `0` instead of a person."""

import logging

import redis
from twilio.twiml.voice_response import VoiceResponse

from acd import hours
from acd.hours import holiday
from ivr.dialogue import Conversation, Line, Target, step

log = logging.getLogger(__name__)

BOOKING_FLOWS = ("booking", "appointments", "identify")  # identification is asked before booking


def queue_for(conversation: Conversation, at: str, code: str) -> str:
    routing = conversation.settings.routing
    if conversation.lang == "en":
        return routing.english_queue
    if at in BOOKING_FLOWS:
        return routing.booking_queue
    if code and at in ("departments", "doctors"):
        directory = conversation.directory
        department = directory.department(code)
        doctor = None if department else directory.doctor(code)
        department_code = department.code if department else (doctor.department.code if doctor else None)
        return routing.queue_for_department(department_code) or routing.general_queue
    return routing.general_queue


def nobody_to_answer(conversation: Conversation, queue: str | None = None) -> str | None:
    """Why no person can answer this caller now, for `queue` or the queue `0` would join from
    where they are: 'closed', 'nobody', or None when someone can (acd.hours)."""
    offer_only = queue is None  # a menu's offer of a person: a reading of the seats a moment old will do
    if queue is None:
        target = conversation.person_target()
        queue = queue_for(conversation, target.args.get("at", ""), target.args.get("code", ""))
    try:
        seats = _seats()
        skills = seats.skills_logged_in_lately() if offer_only else seats.skills_logged_in()
    except redis.RedisError as exc:
        log.warning("call %s: the seats' state is unavailable: %s", conversation.call_sid, exc)
        skills = None
    settings = conversation.settings
    if not offer_only:
        return hours.nobody_to_answer(settings.seats, settings.routing, conversation.now, queue, skills)
    return _OFFERS.answer(settings, conversation.now, queue, skills)


class _Offers:
    """Every menu's offer of a person, by queue, remembered for one reading of the seats
    (already up to ACD.SKILLS_MAX_AGE old) within one minute: acd.hours compares the hours
    to the minute, so the answer is the same until the reading, the minute or the settings
    change, and each menu step is spared the hours and the routing (issue 17's CPU)."""

    def __init__(self) -> None:
        self._state: tuple[tuple, dict[str, str | None]] = ((), {})

    def answer(self, settings, now, queue: str, skills: frozenset[str] | None) -> str | None:
        key = (settings.seats, settings.routing, skills, now.replace(second=0, microsecond=0))
        seen, by_queue = self._state
        if not _same(seen, key):  # one swap of both: a thread racing this one only misses
            by_queue = {}
            self._state = (key, by_queue)
        if queue not in by_queue:
            by_queue[queue] = hours.nobody_to_answer(settings.seats, settings.routing, now, queue, skills)
        return by_queue[queue]


def _same(seen: tuple, key: tuple) -> bool:
    """The settings by identity (held here, so never another object's reused id), the rest by value."""
    return bool(seen) and seen[0] is key[0] and seen[1] is key[1] and seen[2:] == key[2:]


_OFFERS = _Offers()


def _seats():
    from extensions import hotline

    return hotline().acd


@step("person", "transfer")
def transfer(conversation: Conversation, *preamble: Line, at: str = "", code: str = "") -> VoiceResponse:
    queue = queue_for(conversation, at, code)
    conversation.event("to_person", queue=queue)
    return conversation.go(Target("queue", "join", {"q": queue}), *conversation.preamble, *preamble)


@step("person", "give_up")
def give_up(conversation: Conversation, at: str = "", code: str = "") -> VoiceResponse:
    """After too many failed tries in a menu (not promising a person nobody can be)."""
    sorry = (
        "give_up_transfer"
        if nobody_to_answer(conversation, queue_for(conversation, at, code)) is None
        else "give_up_no_person"
    )
    return transfer(conversation, conversation.line(sorry), at=at, code=code)


def closed(conversation: Conversation, *preamble: Line) -> VoiceResponse:
    """Out of hours, without a queue to offer (kept for flows that only need the hours)."""
    seats = conversation.settings.seats
    day_off = holiday(seats, conversation.now)
    lines = [*conversation.preamble, *preamble]
    if day_off is not None:
        lines.append(conversation.line("closed_holiday", holiday=day_off(conversation.lang)))
    else:
        lines.append(conversation.line("closed"))
    lines.append(Line(seats.hours_spoken(conversation.lang), conversation.lang))
    conversation.event("closed")
    return goodbye(conversation, *lines)


@step("person", "goodbye")
def goodbye(conversation: Conversation, *lines: Line) -> VoiceResponse:
    response = VoiceResponse()
    for line in [*lines, conversation.line("goodbye")]:
        conversation.say(response, line.text, line.lang)
    response.hangup()
    return response
