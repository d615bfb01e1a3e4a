"""Whole-call fixtures for the seats: the carrier emulator serves Twilio's REST API
(the ACD dequeues and calls back through it) and the hotline's clock follows the
carrier's virtual clock, so rings, waits and wrap-ups take the time they take."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import settings as settings_module
from app import ROOT
from tests.conftest import AUTH_TOKEN, OPEN


class CarrierClock:
    """The hotline's clock: `start` plus the seconds the carrier's clock has moved."""

    def __init__(self, virtual, start: datetime):
        self.virtual = virtual
        self.origin = virtual.time()
        self.start = start

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.virtual.time() - self.origin)

    @property
    def now(self) -> datetime:
        return self()

    @now.setter
    def now(self, when: datetime) -> None:
        self.origin = self.virtual.time()
        self.start = when


@pytest.fixture
def network(settings_account_sid="AC" + "1" * 32):
    from emulator import Carrier

    carrier = Carrier(account_sid=settings_account_sid, auth_token=AUTH_TOKEN)
    carrier.serve()
    yield carrier
    carrier.stop()


@pytest.fixture
def environ(database_url, redis_url, redis_prefix, network):
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": network.account_sid,
        "TWILIO_API_BASE": network.base_url,
    }


@pytest.fixture
def record_calls():
    """The seats' tests ring agents without the recording notice first (it delays the ring by
    the time it takes to say); tests of recording parametrize this to True."""
    return False


@pytest.fixture
def settings(environ, record_calls):
    settings = settings_module.load(ROOT / "config.yaml", environ=environ)
    return settings.model_copy(update={"routing": settings.routing.model_copy(update={"record_calls": record_calls})})


@pytest.fixture
def clock(network):
    return CarrierClock(network.clock, OPEN)


@pytest.fixture
def carrier(server, settings, network):
    network.add_number(
        settings.hospital.main_number,
        voice_url=f"{server}/ivr/voice",
        status_callback=f"{server}/ivr/status",
        status_events=("completed",),
    )
    return network


@pytest.fixture
def hotline(app):
    return app.extensions["hotline"]
