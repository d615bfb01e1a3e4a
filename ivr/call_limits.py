"""Which count a call belongs to under `call_limits` (config.yaml): one count per caller's
number, none for exempt numbers, and for withheld numbers, which cannot be told apart, a
separate hospital-wide budget that only a flood exhausts (settings.CallLimits says why).

The counting itself is a moving window in Redis (`CallStore.calls_from`).  Flask-Limiter
and `limits` count HTTP requests and answer 429; here the unit is a call (one `/ivr/voice`
per CallSid, whatever the carrier retries) and the answer must be TwiML a caller hears.
"""

from __future__ import annotations

from dataclasses import dataclass

from records.patients import to_e164
from settings import CallLimits

WITHHELD = "withheld"


@dataclass(frozen=True)
class Count:
    key: str  # an E.164 number, or WITHHELD
    allowed: int  # calls within the window

    @property
    def withheld(self) -> bool:
        return self.key == WITHHELD


def count_for(from_number: str, limits: CallLimits, region: str) -> Count | None:
    """The count a call from `from_number` adds to, or None when it is never limited."""
    return count_for_number(to_e164(from_number, region), limits)


def count_for_number(number: str | None, limits: CallLimits) -> Count | None:
    """count_for, given the caller's number in E.164 (None: withheld, or not a number)."""
    if number is None:
        return None if limits.withheld_calls is None else Count(WITHHELD, limits.withheld_calls)
    if number in limits.exempt_numbers:
        return None
    return Count(number, limits.calls_per_number)
