"""The shared PostgreSQL test server helper fails loudly when it cannot run."""

from __future__ import annotations

import glob
import shutil

import pytest

from tests import pg_server


def test_missing_binaries_fail_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(glob, "glob", lambda _pattern: [])
    with pytest.raises(pg_server.PostgresUnavailable, match=r"initdb, pg_ctl\) must be installed"):
        pg_server.find_bindir()


@pytest.mark.postgres
def test_databases_are_fresh_and_separate(postgres_server: pg_server.PostgresServer) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    assert first != second
    assert first.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/")
