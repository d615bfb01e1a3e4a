"""The hotline for a gunicorn started by a test, on the tests' fixed clock (a Tuesday
morning in opening hours): `gunicorn 'tests.fixed_clock_app:create()'`."""

from app import create_app
from tests.conftest import OPEN


def create():
    return create_app(clock=lambda: OPEN)
