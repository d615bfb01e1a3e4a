"""Engines, sessions and migrations.

Domain functions in records/ take a Session and never commit: the caller (a
webhook, a CLI command, a job) owns the transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, CursorResult, Engine, Executable, Row, Table, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    # hide_parameters: a failed statement's error (logged with its traceback) names the SQL
    # but not the values, which are patients' names, numbers and agents' notes (issue 22.5).
    if url.startswith("sqlite"):
        _make_sqlite_folder(url)
        engine = create_engine(url, connect_args={"timeout": 15}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _make_sqlite_folder(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets several web processes read while one writes; foreign keys are
    # off by default in SQLite.
    # pysqlite's own transaction handling is turned off (isolation_level=None)
    # and `_sqlite_begin` starts every transaction instead, as SQLAlchemy's
    # SQLite docs recommend: pysqlite only begins before a write, so a SAVEPOINT
    # would open (and its RELEASE commit) a transaction of its own.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # A transaction opened with begin_write() takes the write lock at once (IMMEDIATE),
    # so one that reads and then writes waits its turn (busy timeout) instead of failing
    # with 'database is locked' when another process wrote in between.  Read-only
    # transactions stay DEFERRED and never block anyone (WAL).
    immediate = connection.get_execution_options().get("hotline_write")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write(session: Session) -> None:
    """On SQLite, end the session's current (reading) transaction and start one meant to write.

    Call it before a read-then-write unit of work (opening a call record, booking a
    place).  On PostgreSQL it does nothing: under READ COMMITTED every statement sees
    what others committed, and row locks and the conditional UPDATEs in records.booking
    do the rest, so the reading transaction simply goes on (ending it cost a COMMIT, a
    pool check-in/out and a pre-ping on every call that opened a record)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={"hotline_write": True})


def insert_new(
    session: Session, model: type, rows: list[dict], unique: list[str], returning: Sequence[str] = ()
) -> list[Row]:
    """INSERT ... ON CONFLICT (unique) DO NOTHING, in the session's dialect: a row already
    stored (a duplicate callback, a retried job, a second worker) is skipped, and never
    fails the rest of the batch.  With `returning`, those columns of the rows inserted (not
    of the ones skipped), in no particular order.  On PostgreSQL the rows go as one JSON
    document (`_from_json`); on SQLite by SQLAlchemy's insertmanyvalues (multi-row VALUES).
    Core statements on the model's table, so the ORM's bulk machinery is not in the way."""
    if not rows:
        return []
    session.flush()  # what the ORM's own INSERT would do first: the rows may refer to pending ones
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        rows = _with_defaults(table, rows)
        quote = dialect.identifier_preparer.quote
        sql = f"{_from_json(table, dialect, rows)} ON CONFLICT ({', '.join(map(quote, unique))}) DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(map(quote, returning))}"
        result = session.execute(text(sql), {"rows": _rows_json(table, dialect, rows)})
        return list(result) if returning else []
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=unique)
    if not returning:
        session.execute(statement, rows)
        return []
    return list(session.execute(statement.returning(*(table.c[name] for name in returning)), rows))


def _with_defaults(table: Table, rows: list[dict]) -> list[dict]:
    """The rows with the models' Python-side defaults (`mapped_column(default=...)`) for the
    columns they leave out: SQLAlchemy's insert() adds those, a text statement does not, and
    the column would get NULL (or the statement fail on NOT NULL)."""
    missing = [column for column in table.columns if column.name not in rows[0] and column.default is not None]
    if not missing:
        return rows
    for column in missing:
        if not (column.default.is_scalar or column.default.is_callable):  # type: ignore[union-attr]
            raise ValueError(f"{table.name}.{column.name}: a default only the database's INSERT can give")

    def value(column):
        default = column.default
        return default.arg if default.is_scalar else default.arg(None)  # callables wrapped to take a context

    return [{**row, **{column.name: value(column) for column in missing}} for row in rows]


def _from_json(table: Table, dialect: Dialect, rows: list[dict]) -> str:
    """`INSERT INTO t (columns) SELECT columns FROM json_populate_recordset(NULL::t, :rows)`:
    the rows as one JSON array, which PostgreSQL spreads into the table's own row type, each
    value read by its column's input (one too long for its column is refused, as in a VALUES
    list).  One parameter whatever the number of rows, so the statement's text is the same
    for every batch: psycopg converts it once and PostgreSQL plans it once (prepared after a
    few runs).  A multi-row VALUES list has a placeholder per value and a text per batch
    size, which psycopg parses anew each time: for a drain batch's 200 records (3,200
    placeholders) that parse cost the records worker more than the rest of the INSERT."""
    names = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):  # a missing key would become NULL
        raise ValueError(f"rows for {table.name} with different columns")
    quote = dialect.identifier_preparer.quote
    columns, name = ", ".join(map(quote, names)), quote(table.name)
    values = ", ".join(_json_null(table.c[column], quote(column)) for column in names)
    return f"INSERT INTO {name} ({columns}) SELECT {values} FROM json_populate_recordset(NULL::{name}, CAST(:rows AS json))"


def _json_null(column, quoted: str) -> str:
    """A column's value as read from the rows' document.  A Python None in a JSON column is
    JSON null, as SQLAlchemy's JSON type (none_as_null=False), SQLite and `insert_made`'s COPY
    store it; json_populate_recordset reads a null as SQL NULL whatever the column, which a NOT
    NULL JSON column (call_events.detail) refuses: on PostgreSQL alone, and only for a call
    written on its own, not in a batch."""
    if isinstance(column.type, JSON) and not column.type.none_as_null:
        return f"COALESCE({quoted}, 'null')"
    return quoted


def _rows_json(table: Table, dialect: Dialect, rows: list[dict]) -> str:
    """The rows as a JSON array of objects: each value as its column's bind processing makes it
    (UtcDateTime's: aware, in UTC), the JSON columns' as they are, dates in ISO 8601."""
    processors = {
        name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in rows[0]
        if not isinstance(table.c[name].type, JSON)  # its processor wraps the value for psycopg
    }
    processors = {name: process for name, process in processors.items() if process is not None}
    if processors:
        rows = [{**row, **{name: process(row[name]) for name, process in processors.items()}} for row in rows]
    document = json.dumps(rows, default=_iso)
    if _NUL.search(document):
        # Refused here, as psycopg refuses a NUL in a text value before sending it: PostgreSQL
        # would refuse it too, but log the JSON around it (patient's words) in its own log.
        raise DataError("INSERT (rows as JSON)", None, ValueError("a NUL character in a text value"))
    return document


_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # an escaped NUL, not an escaped backslash then "u0000"


def _iso(value: object) -> str:
    if isinstance(value, date):  # datetimes too, with their offset: PostgreSQL's input reads it
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} in a row: no JSON for it")


def insert_made(session: Session, model: type, rows: list[dict]) -> None:
    """INSERT rows no one else can have stored: they belong to records this transaction has
    just made (the events and queue entries of a batch of new call records), so no conflict
    to skip.  On PostgreSQL by COPY: an executemany, even in psycopg's pipeline mode, binds
    and executes the statement once per row, and a batch's events cost the records worker
    more than the rest of the batch (bench/records_rate.py); psycopg's copy writes them in
    one stream.  The values go through the columns' own bind processing (aware UTC datetimes,
    JSON) as SQLAlchemy's would.  Elsewhere an executemany."""
    if not rows:
        return
    session.flush()
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    names = list(rows[0])
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    quote = dialect.identifier_preparer.quote
    sql = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in names)}) FROM STDIN"
    import psycopg  # the PostgreSQL driver (requirements.txt), only where it is in use

    driver = session.connection().connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([value if process is None else process(value) for value, process in zip(
                    (row[name] for name in names), processors, strict=True)])  # fmt: skip
    except psycopg.Error as exc:
        # As SQLAlchemy's own statements raise it (IntegrityError, DataError, OperationalError...):
        # the drain tells a refused row from an outage by these classes, and catches only them.
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows it matched: the row count that
    tells a conditional UPDATE's winner (1) from its losers (0).  Session.execute is typed
    as returning a Result, which has no rowcount; for these statements it is a CursorResult."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (what `seed` and tests use)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
