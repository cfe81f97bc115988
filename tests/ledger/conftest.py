"""Fixtures for the ledger tests: every ledger test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from charter.ledger import Ledger
from charter.ledger._engine import LEDGER_URL_ENV
from charter.ledger._ledger import ARTIFACTS_URL_ENV
from tests.pg_server import make_postgres_database, postgres_server  # noqa: F401

from .ledger_support import LedgerTarget


@pytest.fixture(autouse=True)
def _no_ledger_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own CHARTER_LEDGER_URL must never point the tests at a real ledger.
    monkeypatch.delenv(LEDGER_URL_ENV, raising=False)
    monkeypatch.delenv(ARTIFACTS_URL_ENV, raising=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerTarget:
    """A fresh, not yet opened ledger: a temp charter folder, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        return LedgerTarget("sqlite", tmp_path, None)
    # Asked for lazily so that a run of SQLite tests alone never starts PostgreSQL.
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    return LedgerTarget("postgresql", tmp_path, make())


@pytest.fixture
def ledger(target: LedgerTarget) -> Iterator[Ledger]:
    """An opened ledger on a fresh database, closed after the test."""
    with target.open() as opened:
        yield opened
