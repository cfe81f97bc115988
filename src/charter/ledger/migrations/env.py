"""Alembic environment for the ledger: runs on the connection charter hands it, nothing else.

charter calls `alembic.command.upgrade` itself (see `charter.ledger._migrate`) with an open
connection, already inside a write transaction and holding the migration lock, passed
through `config.attributes["connection"]`. Running alembic from the command line without
that connection is not supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from charter.ledger._models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "The ledger migrations run through charter.ledger.open_ledger, "
        "which passes an open connection; none was given."
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # The caller's transaction wraps every migration, so a failed upgrade leaves nothing
    # half-applied; SQLite supports this too once BEGIN is emitted explicitly.
    transactional_ddl=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
