"""Bring a ledger database to the newest schema, safely when several processes open it."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from charter.errors import LedgerError

from ._engine import WRITE_OPTION

MIGRATIONS = Path(__file__).with_name("migrations")
"""The Alembic script folder shipped inside the package."""

HEAD = "0001"
"""The newest schema revision this charter knows; a test pins it to the scripts' head."""

# pg_advisory_xact_lock takes a bigint; any fixed number unique to charter will do.
_PG_LOCK_KEY = 0x63686172746572  # "charter" in ASCII


def current_revision(connection: Connection) -> str | None:
    """The schema revision recorded in the database, None for an empty database."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine, lock_file: Path | None) -> None:
    """Upgrade the database to HEAD unless it is there already.

    Two processes opening a fresh ledger at once must not both create tables: SQLite
    ledgers are serialised by an fcntl lock on `lock_file` (which also covers the first
    connection switching the file to WAL), PostgreSQL ones by a transaction-scoped
    advisory lock. The upgrade runs in one transaction, so a failure leaves nothing
    half-applied.
    """
    with _file_lock(lock_file):
        with engine.connect() as connection, connection.begin():
            found = current_revision(connection)
        if found == HEAD:
            return
        _check_known(found)
        writer = engine.execution_options(**{WRITE_OPTION: True})
        with writer.connect() as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            # Another process may have migrated while this one waited for the lock.
            found = current_revision(connection)
            if found == HEAD:
                return
            _check_known(found)
            _upgrade(connection)


def _check_known(found: str | None) -> None:
    if found is not None and not any((MIGRATIONS / "versions").glob(f"{found}_*.py")):
        raise LedgerError(
            f"The schema of the ledger must be one this charter knows (up to {HEAD}). "
            f"Got revision '{found}' instead; it was written by a newer charter."
        )


def _upgrade(connection: Connection) -> None:
    # Imported here: alembic is only needed the first time a ledger is created or after
    # an upgrade of charter, not on every open.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
