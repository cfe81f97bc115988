"""Opening a ledger: where it lives, migrations, SQLite settings, unreachable servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect

from charter.errors import LedgerError
from charter.ledger import _migrate as migrate_module
from charter.ledger import open_ledger
from charter.ledger._engine import LEDGER_URL_ENV, mask
from charter.ledger._models import Base

from .ledger_support import LedgerTarget

TABLES = {
    "aliases",
    "alembic_version",
    "artifacts",
    "charter_revisions",
    "deployments",
    "events",
    "evidence",
    "incidents",
    "model_version_artifacts",
    "model_versions",
    "monitoring_windows",
    "projects",
    "runs",
    "stage_executions",
}


def test_head_constant_matches_the_migration_scripts() -> None:
    scripts = ScriptDirectory(str(migrate_module.MIGRATIONS))
    assert scripts.get_current_head() == migrate_module.HEAD


def test_migrations_apply_from_empty_and_reopen_is_a_no_op(
    target: LedgerTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    with target.open():
        pass
    engine = target.engine()
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()
    assert target.query("SELECT version_num FROM alembic_version") == [(migrate_module.HEAD,)]

    def no_upgrade(*_: object) -> None:
        raise AssertionError("a ledger at head must not be migrated again")

    monkeypatch.setattr(migrate_module, "_upgrade", no_upgrade)
    with target.open() as ledger:
        assert ledger.summary("p").is_empty


def test_models_match_the_migrations(target: LedgerTarget) -> None:
    with target.open():
        pass
    engine = target.engine()
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_a_failed_migration_leaves_nothing_behind(
    target: LedgerTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upgrade = migrate_module._upgrade

    def upgrade_then_fail(connection: object) -> None:
        real_upgrade(connection)  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    monkeypatch.setattr(migrate_module, "_upgrade", upgrade_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        target.open()
    engine = target.engine()
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    monkeypatch.setattr(migrate_module, "_upgrade", real_upgrade)
    with target.open() as ledger:
        assert ledger.revisions("p") == []


def test_a_ledger_from_a_newer_charter_is_refused(target: LedgerTarget) -> None:
    with target.open():
        pass
    target.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(
        LedgerError, match=r"Got revision '9999' instead; it was written by a newer"
    ):
        target.open()


def test_sqlite_ledger_lives_in_the_charter_folder(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        database = tmp_path / ".charter" / "ledger.db"
        assert ledger.url == f"sqlite:///{database}"
        assert database.is_file()
        assert (tmp_path / ".charter" / "ledger.db.lock").is_file()
        assert repr(ledger) == f"Ledger('sqlite:///{database}')"


def test_sqlite_connections_are_tuned_for_several_processes(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        engine = ledger._engine
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000
            assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
        statements: list[str] = []

        @event.listens_for(engine, "before_cursor_execute")
        def keep(_c: object, _cur: object, statement: str, *_: object) -> None:
            statements.append(statement)

        ledger.record_event("p", "note", "a write")
        ledger.events("p")
        begins = [s for s in statements if s.startswith("BEGIN")]
        assert begins == ["BEGIN IMMEDIATE", "BEGIN"]


def test_explicit_sqlite_url_and_missing_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'team.db'}"
    with open_ledger(tmp_path / "does-not-matter", url) as ledger:
        assert ledger.url == url
    with pytest.raises(LedgerError, match=r"The 'charter_dir' of the ledger must be an existing"):
        open_ledger(tmp_path / "missing")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", r"must be a database URL .* Got 'not a url' instead"),
        ("mysql://u:pw@localhost/db", r"must use SQLite or PostgreSQL. Got 'mysql://u:\*\*\*@"),
        ("sqlite://", "must name a SQLite file that several processes can share"),
        ("sqlite:///:memory:", "must name a SQLite file"),
    ],
)
def test_unusable_urls_are_refused(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        open_ledger(tmp_path, url)


def test_unreachable_server_is_reported_without_its_password(tmp_path: Path) -> None:
    url = "postgresql://charter:s3cret-pw@127.0.0.1:1/ledger"
    with pytest.raises(LedgerError, match="cannot be used") as raised:
        open_ledger(tmp_path, url)
    message = str(raised.value)
    assert "s3cret-pw" not in message
    assert "postgresql+psycopg://charter:***@127.0.0.1:1/ledger" in message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_mask_hides_passwords_in_free_text() -> None:
    assert mask("see postgresql://me:pw@host/db and x") == "see postgresql://me:***@host/db and x"
    assert mask("no secrets here") == "no secrets here"


@pytest.mark.postgres
def test_postgres_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_postgres_database: object
) -> None:
    url = make_postgres_database()  # type: ignore[operator]
    with_password = url.replace("postgres@", "postgres:hunter2@")
    monkeypatch.setenv(LEDGER_URL_ENV, with_password)
    with open_ledger(tmp_path) as ledger:
        assert ledger.url == url.replace("postgres@", "postgres:***@")
        ledger.record_event("p", "note", "hello")
    assert not (tmp_path / ".charter" / "ledger.db").exists()
    # An explicit URL wins over the environment.
    with open_ledger(tmp_path, f"sqlite:///{tmp_path / 'own.db'}") as ledger:
        assert ledger.url.startswith("sqlite:///")
        assert ledger.events("p") == []
