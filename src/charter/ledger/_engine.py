"""Where the ledger lives and how to connect to it: URL choice, engines, error wording."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, Connection, make_url

from charter.errors import LedgerError

LEDGER_URL_ENV = "CHARTER_LEDGER_URL"
"""Environment variable naming the ledger's database URL (e.g. a PostgreSQL server)."""

BUSY_TIMEOUT_SECONDS = 30.0
"""How long a SQLite writer waits for another process's write lock before giving up."""

CONNECT_TIMEOUT_SECONDS = 10
"""How long a PostgreSQL connection attempt may take before the ledger reports it."""

WRITE_OPTION = "charter_write"
"""Execution option marking a connection whose transactions will write."""

_CREDENTIALS = re.compile(r"(?P<head>://[^:/@\s]*:)(?P<secret>[^@\s]*)(?P<tail>@)")


def mask(raw: str) -> str:
    """Return `raw` with the password of any URL inside it replaced by ***."""
    return _CREDENTIALS.sub(r"\g<head>***\g<tail>", raw)


def masked(url: URL) -> str:
    """The URL as text with its password hidden, fit for messages and logs."""
    return url.render_as_string(hide_password=True)


def resolve_url(charter_dir: Path, url: str | None) -> URL:
    """Pick the ledger's URL: `url` if given, else $CHARTER_LEDGER_URL, else the SQLite file.

    The default is `<charter_dir>/.charter/ledger.db`; its folder is created. A bare
    `postgresql://` URL is given the psycopg 3 driver, the one charter ships with.
    """
    raw = url if url is not None else os.environ.get(LEDGER_URL_ENV) or None
    if raw is None:
        if not charter_dir.is_dir():
            raise LedgerError(
                f"The 'charter_dir' of the ledger must be an existing folder. "
                f"Got '{charter_dir}' instead."
            )
        folder = charter_dir / ".charter"
        folder.mkdir(exist_ok=True)
        return URL.create("sqlite", database=str((folder / "ledger.db").resolve()))
    try:
        parsed = make_url(raw)
    except exc.ArgumentError:
        raise LedgerError(
            f"The 'url' of the ledger must be a database URL such as "
            f"'postgresql+psycopg://user@host/db' or 'sqlite:///path/ledger.db'. "
            f"Got '{mask(raw)}' instead."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise LedgerError(
                f"The 'url' of the ledger must name a SQLite file that several processes "
                f"can share. Got '{masked(parsed)}' instead."
            )
        path = Path(database).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path))
    raise LedgerError(
        f"The 'url' of the ledger must use SQLite or PostgreSQL. Got '{masked(parsed)}' instead."
    )


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for other backends."""
    if url.get_backend_name() != "sqlite" or url.database is None:
        return None
    return Path(url.database)


def create_ledger_engine(url: URL) -> Engine:
    """An engine tuned for a ledger that several processes write at once.

    SQLite: WAL journal (readers never block the writer), a busy timeout, foreign keys on,
    full sync, and transactions begun by SQLAlchemy: `BEGIN IMMEDIATE` on connections
    carrying the `charter_write` execution option, so a writer takes the write lock up
    front and never deadlocks upgrading a read lock; plain `BEGIN` otherwise.
    """
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "charter"},
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module's own transaction handling would issue a deferred BEGIN only
    # before DML; disabling it lets the "begin" hook below choose the BEGIN statement.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Switching to WAL needs an exclusive lock; once set it is persistent, so only
        # the first connection (made under the migration file lock) ever switches.
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def describe_failure(error: BaseException, url: URL) -> str:
    """One readable sentence about why the database refused, with secrets removed."""
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())
    if url.password:
        text = text.replace(str(url.password), "***")
    text = mask(text)
    if "database is locked" in text:
        return (
            f"another process holds its write lock (waited up to {BUSY_TIMEOUT_SECONDS:g} s: "
            f"{text})"
        )
    return text or type(original).__name__


@contextmanager
def translated_errors(url: URL) -> Iterator[None]:
    """Turn driver failures (unreachable server, locked file, ...) into LedgerError."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise LedgerError(
            f"The ledger at {masked(url)} cannot be used: {describe_failure(error, url)}."
        ) from None
