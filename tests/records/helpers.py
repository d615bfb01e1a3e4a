"""Calls with queue events, written the way the record jobs write them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from records import calls, spool
from records.db import begin_write
from records.patients import match_caller


def make_call(
    db,
    sid: str,
    at: datetime,
    *,
    phone: str = "+8613912345678",
    queue: str | None = "general",
    wait: float = 10,
    result: str = "answer",
    agent_id: int | None = None,
    talk: float = 60,
    wrap_up: float = 30,
    disposition: str | None = "information_given",
    voicemail: bool = False,
    recorded: bool = False,
    carrier=None,
) -> None:
    """A finished call: the voice menus, then (with `queue`) a wait ending in `result`."""
    begin_write(db)
    caller = match_caller(db, phone)
    calls.open_call(db, calls.CallOpened(sid, phone, "+861065281000", caller, "zh", at))
    events = [("menu", {"step": "menu.main"}, 0), ("key", {"digits": "0"}, 2)]
    end = at + timedelta(seconds=5)
    if queue:
        entered = at + timedelta(seconds=3)
        left = entered + timedelta(seconds=wait)
        events.append(("enqueue", {"queue": queue, "priority": 0}, 3))
        if result == "answer":
            events.append(("offer", {"queue": queue, "agent_id": agent_id}, 3 + wait / 2))
            events.append(("answer", {"queue": queue, "agent_id": agent_id, "waited": wait}, 3 + wait))
            events.append(
                ("talk_end", {"queue": queue, "agent_id": agent_id, "talk": talk, "hold": 0}, 3 + wait + talk)
            )
            kwargs = {"queue": queue, "agent_id": agent_id, "wrap_up": wrap_up, "disposition": disposition}
            events.append(("wrap_up_end", kwargs, 3 + wait + talk + wrap_up))
            if recorded:  # the carrier's recording callback, a little after the talk
                detail = {"queue": queue, "agent_id": agent_id, "recording_sid": f"RC{sid}",
                          "recording_url": media(carrier, f"RC{sid}", sid, int(talk)), "duration": int(talk)}  # fmt: skip
                events.append(("recording", detail, 3 + wait + talk + 1))
            end = left + timedelta(seconds=talk)
        elif voicemail:
            detail = {
                "queue": queue,
                "recording_sid": f"RE{sid}",
                "recording_url": media(carrier, f"RE{sid}", sid, 12),
                "duration": 12,
            }
            events.append(("voicemail", detail, 3 + wait))
            end = left + timedelta(seconds=15)
        else:
            events.append((result, {"queue": queue, "waited": wait}, 3 + wait))
            end = left
    numbered = [calls.Event(i, at + timedelta(seconds=s), kind, d) for i, (kind, d, s) in enumerate(events, start=1)]
    calls.record_events(db, sid, numbered, at)
    duration = int((end - at).total_seconds())
    calls.apply_status(db, sid, status="completed", sequence=5, duration_seconds=duration, at=end)
    db.commit()


def media(carrier, recording_sid: str, call_sid: str, seconds: int) -> str:
    """A recording's address: kept by the carrier emulator when one is given (so it can be
    played), else one no carrier has."""
    if carrier is None:
        return f"/recordings/{recording_sid}"
    from emulator.model import Recording

    url = carrier.recording_url(recording_sid)
    carrier.recordings[recording_sid] = Recording(recording_sid, call_sid, carrier.account_sid, seconds, 0.0, url)
    return url


def while_another_writes(database_url: str, request):
    """`request()`'s result, called while another connection holds SQLite's write lock, as
    the records worker does many times a second: BEGIN IMMEDIATE on a connection of its own,
    released once the request has finished or after 3 s, whichever comes first (a request
    that waits its turn then goes on; one that reads and then writes in the same transaction
    fails at once with 'database is locked': SQLite does not wait for the lock when a read
    transaction is open).  On PostgreSQL, just the request."""
    import sqlite3
    import threading

    import sqlalchemy as sa

    url = sa.make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return request()
    holder = sqlite3.connect(url.database, isolation_level=None, timeout=15)
    holder.execute("BEGIN IMMEDIATE")
    result: dict = {}

    def run():
        try:
            result["answer"] = request()
        except BaseException as error:  # re-raised in the test's thread
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(3)
    holder.execute("COMMIT")
    holder.close()
    thread.join(60)
    if "error" in result:
        raise result["error"]
    return result["answer"]


def another_writes(database_url: str, statement: str, waits: float = 0.5) -> None:
    """`statement` written from a connection of its own, as the desk's save or the webhooks'
    spool would, waiting at most `waits` seconds for the database's locks (SQLite's busy
    timeout, PostgreSQL's lock_timeout): raises when a transaction holds them that long."""
    import sqlite3

    import sqlalchemy as sa

    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        writer = sqlite3.connect(url.database, isolation_level=None, timeout=waits)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute(statement)
            writer.execute("COMMIT")
        finally:
            writer.close()
        return
    engine = sa.create_engine(url, connect_args={"options": f"-c lock_timeout={int(waits * 1000)}"})
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def spool_payload(db, call_sid: str, job: str, payload, at: datetime):
    """A spool row holding `payload` as it is, committed: an object, or (a str) text stored
    raw, which the driver may not decode (SQLite only: PostgreSQL's JSON column refuses it)."""
    begin_write(db)
    row = spool.spool(db, call_sid=call_sid, job=job, payload={}, at=at)
    db.flush()
    if isinstance(payload, str):
        db.execute(
            text("UPDATE record_spool SET payload = :payload WHERE id = :id"), {"payload": payload, "id": row.id}
        )
    else:
        row.payload = payload
    db.commit()
    return row
