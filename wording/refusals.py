"""What a refused booking, move or cancel is called, in the prompts' keys (wording.prompts):
the phone says it (ivr/flows/booking.py), the agent's desk shows it (console/appointments.py),
so both front doors give the same reason in the same words."""

from __future__ import annotations

from records.booking import Outcome

# The booking rules said no: the caller chooses again.
REFUSALS = {
    Outcome.FULL: "session_full",
    Outcome.ALREADY_BOOKED: "already_booked",
    Outcome.DAILY_LIMIT: "daily_limit",
    Outcome.TOO_FAR: "too_far",
    Outcome.PAST: "session_over",
    Outcome.NOT_FOUND: "appointment_gone",
}

# An appointment another call (or the patient's text) cancelled or moved first: said as
# such, not as "not found", so the caller knows where they stand.
ALREADY = {
    Outcome.ALREADY_CANCELLED: "appointment_already_cancelled",
    Outcome.ALREADY_MOVED: "appointment_already_moved",
}
