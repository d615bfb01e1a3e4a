"""What the hospital's systems send: discharges and results-ready events, checked
with pydantic before anything is stored.

A batch is a JSON object `{"events": [...]}`, a JSON list, or one event.  Each
event carries the sending system's own id (`event_id`): sending it again is
harmless (idempotent), so a system that is unsure whether a post arrived simply
posts it again.  Problems name the field as `events[2].ward`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from types import GenericAlias
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter, ValidationError, field_validator

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

MAX_BATCH = 5000

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Annotated[Text, StringConstraints(max_length=64)]
    mrn: Annotated[Text, StringConstraints(max_length=20)]  # the patient's medical record number


class DischargeEvent(Event):
    ward: Annotated[Text, StringConstraints(max_length=64)]
    discharge_date: date
    attending_doctor: Annotated[Text, StringConstraints(max_length=100)]


class ResultEvent(Event):
    test: Annotated[Text, StringConstraints(max_length=100)]
    # With its UTC offset, or in the hospital's time if it has none (see `ready_at_in`).
    ready_at: datetime

    @field_validator("ready_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        if value.year < 2000:
            raise ValueError(f"expected a recent date and time, got {value.isoformat()}")
        return value


class Problem(BaseModel):
    field: str
    message: str


class BadBatch(Exception):
    """The batch cannot be stored; nothing of it was."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Batch(Generic[E]):
    events: list[E]
    prefix: str  # "events", or "" for a single event posted alone

    def field(self, index: int, name: str) -> str:
        return _where(self.prefix, index, name)


def parse_batch(kind: type[E], data: Any) -> Batch[E]:
    """The events of a batch, or BadBatch naming every wrong field."""
    if isinstance(data, dict) and "events" in data and set(data) == {"events"}:
        data, prefix = data["events"], "events"
    elif isinstance(data, list):
        prefix = "events"
    elif isinstance(data, dict):
        data, prefix = [data], ""
    else:
        raise BadBatch([Problem(field="body", message="expected a JSON object or a list of them")])
    if not isinstance(data, list):
        raise BadBatch([Problem(field="events", message="expected a list of events")])
    if not data:
        raise BadBatch([Problem(field="events", message="expected at least one event")])
    if len(data) > MAX_BATCH:
        raise BadBatch([Problem(field="events", message=f"at most {MAX_BATCH} events a batch, got {len(data)}")])
    try:
        events: list[E] = TypeAdapter(_list_of(kind)).validate_python(data)
    except ValidationError as error:
        raise BadBatch([_problem(e, prefix) for e in error.errors()]) from None
    seen: dict[str, int] = {}
    problems = []
    for index, event in enumerate(events):
        if event.event_id in seen:
            problems.append(
                Problem(field=_where(prefix, index, "event_id"), message=f"the same id as event {seen[event.event_id]}")
            )
        seen.setdefault(event.event_id, index)
    if problems:
        raise BadBatch(problems)
    return Batch(events, prefix)


def _list_of(kind: type[E]) -> Any:
    """list[kind], a type made at run time (which mypy cannot read as a type)."""
    return GenericAlias(list, (kind,))


def _where(prefix: str, index: int, field: str) -> str:
    return f"{prefix}[{index}].{field}" if prefix else field


def _problem(error: ErrorDetails, prefix: str) -> Problem:
    location = list(error["loc"])
    index = location.pop(0) if location and isinstance(location[0], int) else None
    field = ".".join(str(part) for part in location) or "event"
    if index is not None and prefix:
        field = f"{prefix}[{index}].{field}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "this field is required"
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message} (got {str(error['input'])[:60]!r})"
    return Problem(field=field, message=message)
