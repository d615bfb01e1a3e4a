"""Calls per number (config call_limits): a number ringing too often hears the emergency
number and is asked to call later; other numbers, exempt numbers and a patient ringing back
a few times are never turned away."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

import settings as settings_module
from app import ROOT, create_app
from ivr.call_limits import WITHHELD, count_for
from records.models import CallRecord
from settings import CallLimits
from tests.test_webhooks import post
from tests.twiml import parse, spoken, verbs

NUMBER = "+8613912345678"


def call(app, n: int, from_: str = NUMBER, sid: str | None = None):
    form = {"CallSid": sid or f"CA{n:032d}", "From": from_, "To": "+861065281000", "CallStatus": "ringing"}
    response = post(app.test_client(), "/ivr/voice", form)
    assert response.status_code == 200
    return parse(response.data)


def turned_away(root) -> bool:
    return "多次来电" in spoken(root)


def test_each_number_counts_on_its_own_and_withheld_numbers_share_one_count():
    limits = CallLimits(calls_per_number=3, exempt_numbers=("+861065281111",))
    # The same mobile, as carriers write it, is one count.
    assert count_for("13912345678", limits, "CN") == count_for("+86 139 1234 5678", limits, "CN")
    assert count_for("+8613912345678", limits, "CN").allowed == 3
    for withheld in ("anonymous", "", "+266696687", "client:agent"):
        assert count_for(withheld, limits, "CN").key == WITHHELD
    assert count_for("010-65281111", limits, "CN") is None  # exempt, written another way
    assert count_for("anonymous", CallLimits(withheld_calls=None), "CN") is None


def test_the_call_over_the_limit_hears_the_emergency_number_and_goodbye(app):
    allowed = app.extensions["hotline"].settings.call_limits.calls_per_number
    for n in range(allowed):
        root = call(app, n)
        assert "欢迎致电" in spoken(root) and not turned_away(root)
    root = call(app, allowed)
    assert turned_away(root)
    assert "120" in spoken(root)
    assert verbs(root)[-1] == "Hangup"
    assert "Gather" not in verbs(root) and "Dial" not in verbs(root)
    # Another number is not affected.
    assert not turned_away(call(app, allowed + 1, from_="+8613800138000"))


def test_sixty_one_strangers_with_withheld_numbers_are_all_answered(app):
    # Issue 22, 15: withheld callers shared one count of 60 hospital-wide, so the 61st in ten
    # minutes was told "your number has called several times" without ever having called.
    for n in range(61):
        root = call(app, n, from_="anonymous")
        assert "欢迎致电" in spoken(root) and "来电过多" not in spoken(root), n


def test_a_flood_of_withheld_calls_is_turned_away_with_words_for_a_withheld_caller(environ, clock):
    settings = settings_module.load(ROOT / "config.yaml", environ=environ)
    limits = settings.call_limits.model_copy(update={"withheld_calls": 2})
    app = create_app(settings.model_copy(update={"call_limits": limits}), clock=clock)
    try:
        for n in range(2):
            assert "欢迎致电" in spoken(call(app, n, from_="anonymous"))
        root = call(app, 2, from_="")
        said = spoken(root)
        assert "目前来自隐藏号码的来电过多，请显示您的号码后再拨，或稍后再拨。" in said
        assert "120" in said and not turned_away(root)  # never "your number has called several times"
        assert verbs(root)[-1] == "Hangup" and "Gather" not in verbs(root)
        assert not turned_away(call(app, 3, from_=NUMBER))  # a shown number has its own count
    finally:
        app.extensions["hotline"].engine.dispose()


def test_the_carrier_retrying_one_call_counts_it_once(app):
    allowed = app.extensions["hotline"].settings.call_limits.calls_per_number
    for _ in range(allowed + 3):
        root = call(app, 0, sid="CA" + "r" * 32)
    assert not turned_away(root)


def test_a_number_is_welcome_again_once_the_window_has_passed(app, clock):
    limits = app.extensions["hotline"].settings.call_limits
    for n in range(limits.calls_per_number + 1):
        root = call(app, n)
    assert turned_away(root)
    clock.now += timedelta(minutes=limits.window_minutes, seconds=1)
    assert not turned_away(call(app, 100))


def test_exempt_numbers_are_never_limited(environ, clock):
    settings = settings_module.load(ROOT / "config.yaml", environ=environ)
    limits = settings.call_limits.model_copy(update={"calls_per_number": 1, "exempt_numbers": (NUMBER,)})
    app = create_app(settings.model_copy(update={"call_limits": limits}), clock=clock)
    try:
        assert not any(turned_away(call(app, n)) for n in range(5))
        assert turned_away(call(app, 9, from_="+8613800138000")) is False
        assert turned_away(call(app, 10, from_="+8613800138000")) is True
    finally:
        app.extensions["hotline"].engine.dispose()


def test_without_redis_nobody_is_turned_away(environ, clock):
    broken = {**environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    settings = settings_module.load(ROOT / "config.yaml", environ=broken)
    limits = settings.call_limits.model_copy(update={"calls_per_number": 1})
    app = create_app(settings.model_copy(update={"call_limits": limits}), clock=clock)
    try:
        for n in range(3):
            root = call(app, n)
            assert "欢迎致电" in spoken(root) and not turned_away(root)
    finally:
        app.extensions["hotline"].engine.dispose()


@pytest.mark.parametrize("bad", [{"calls_per_number": 0}, {"exempt_numbers": ["not a number"]}])
def test_a_bad_limit_in_config_names_the_key(environ, tmp_path, bad):
    import yaml

    document = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    document["call_limits"].update(bad)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(settings_module.ConfigError) as error:
        settings_module.load(path, environ=environ)
    assert "call_limits." in str(error.value)


def test_a_turned_away_call_is_logged_as_limited(app, records_worker, db):
    allowed = app.extensions["hotline"].settings.call_limits.calls_per_number
    for n in range(allowed + 1):
        call(app, n)
    for n in (0, allowed):  # the callers hang up: a call's record is written after its final status
        ended = {"CallSid": f"CA{n:032d}", "CallStatus": "completed", "SequenceNumber": "3"}
        assert post(app.test_client(), "/ivr/status", ended).status_code == 204
    records_worker.work()
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == f"CA{allowed:032d}"))
    assert record is not None and record.outcome == "limited"
    assert record.from_number == NUMBER
    earlier = db.scalar(select(CallRecord).where(CallRecord.call_sid == f"CA{0:032d}"))
    assert earlier.outcome != "limited"


def test_the_count_and_the_callers_files_still_read_when_redis_lost_its_scripts(app, monkeypatch):
    """The arrival's count and the caller's cached files are one Lua script (ivr/state.py): after a
    restart without it (NOSCRIPT) the number is still counted and the files still read."""
    store, cache = app.extensions["hotline"].calls, app.extensions["hotline"].caller_cache
    monkeypatch.setattr(store._arrival, "sha", "0" * 40)
    pipe = store.redis.pipeline()
    cache.keep(pipe, NUMBER, (7, 9))
    pipe.execute()
    key = cache.key(NUMBER)
    assert store.calls_from_and_read(NUMBER, "CA1", 1000.0, 60, key) == (1, "7,9")
    assert store.calls_from_and_read(NUMBER, "CA2", 1001.0, 60, None) == (2, None)
    assert store.calls_from_and_read(None, "CA3", 1002.0, 60, key) == (None, "7,9")
    assert store.calls_from_and_read(NUMBER, "CA1", 1070.5, 60, cache.key("+8613900000000")) == (1, None)
