"""The supervisors' staffing page: for a chosen day, the forecast calls, the seats
they need, the roster's seats and the service level it gives, people per seat;
targets to edit and a 'recompute' that has an RQ worker plan the day again."""

from staffing.views import bp

__all__ = ["bp"]
