"""A webhook's events go to Redis in one round trip (ivr/state.py: the append script by
EVALSHA in the request's pipeline), and still do when Redis has lost the script."""

import redis

from tests.conftest import OPEN


def sent(monkeypatch) -> list:
    """What every Redis connection sends from now on, one entry per write to the socket."""
    writes: list = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        writes.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return writes


def test_a_webhooks_events_are_one_round_trip(app, monkeypatch):
    store = app.extensions["hotline"].calls
    store.add_events("CAwarm", OPEN, [("menu", {"step": "menu.main"})])  # the connection made
    writes = sent(monkeypatch)
    store.add_events("CAone", OPEN, [("menu", {"step": "menu.main"}), ("key", {"digits": "2"})])
    assert len(writes) == 1
    assert [event.kind for event in store.events("CAone")] == ["menu", "key"]


def test_redis_without_the_script_still_keeps_the_events(app, monkeypatch):
    store = app.extensions["hotline"].calls
    monkeypatch.setattr(store._append, "sha", "0" * 40)  # as after a restart: NOSCRIPT
    store.add_events("CAlost", OPEN, [("menu", {"step": "menu.main"})])
    store.add_events("CAlost", OPEN, [("key", {"digits": "1"})])
    assert [(event.kind, event.detail) for event in store.events("CAlost")] == [
        ("menu", {"step": "menu.main"}),
        ("key", {"digits": "1"}),
    ]


def test_with_other_writes_still_one_round_trip_and_without_the_script_too(app, monkeypatch):
    """The request's other writes (the caller kept, an opening) go in the same round trip as
    the events, a pipeline (a menu step's events alone are one EVALSHA)."""
    store = app.extensions["hotline"].calls
    store.add_events("CAwarm", OPEN, [("menu", {"step": "menu.main"})])
    writes = sent(monkeypatch)
    also = lambda call_sid: lambda pipe: store.keep_caller(pipe, call_sid, "+8613900000000", (7,))  # noqa: E731
    store.add_events("CAboth", OPEN, [("menu", {"step": "menu.main"})], also=also("CAboth"))
    assert len(writes) == 1
    monkeypatch.setattr(store._append, "sha", "0" * 40)  # as after a restart: NOSCRIPT
    store.add_events("CAboth", OPEN, [("key", {"digits": "1"})], also=also("CAboth"))
    assert [(event.kind, event.detail) for event in store.events("CAboth")] == [
        ("menu", {"step": "menu.main"}),
        ("key", {"digits": "1"}),
    ]
    assert store.matches("CAboth") == ("+8613900000000", [7])
