"""Helpers shared by the ledger tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from charter.ledger import Ledger, open_ledger

CHILD = Path(__file__).with_name("ledger_child.py")


@dataclass(frozen=True)
class LedgerTarget:
    """Where a test's ledger lives: a charter folder, and a database URL or None (SQLite)."""

    backend: str
    charter_dir: Path
    url: str | None

    def open(self, **options: Any) -> Ledger:
        return open_ledger(self.charter_dir, self.url, **options)

    @property
    def database_url(self) -> str:
        """A URL a test can open its own engine on, to look at the raw tables."""
        if self.url is not None:
            return self.url
        return f"sqlite:///{self.charter_dir / '.charter' / 'ledger.db'}"

    def engine(self) -> Engine:
        return create_engine(self.database_url)

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of one raw SQL query, on a connection of the test's own."""
        engine = self.engine()
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql), params)]
        finally:
            engine.dispose()

    def execute(self, sql: str, **params: Any) -> None:
        """Run one raw SQL statement and commit it."""
        engine = self.engine()
        try:
            with engine.begin() as connection:
                connection.execute(text(sql), params)
        finally:
            engine.dispose()

    def child(self, mode: str, *args: str) -> subprocess.Popen[str]:
        """Start tests/ledger/ledger_child.py in MODE on this ledger, pipes open.

        Warnings are errors in the child too, as in the test run itself.
        """
        return subprocess.Popen(
            [
                sys.executable,
                "-W",
                "error",
                str(CHILD),
                mode,
                str(self.charter_dir),
                self.url or "-",
                *args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def release(children: list[subprocess.Popen[str]]) -> None:
    """Let children that printed "ready" go at once (the barrier of ledger_child.py)."""
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "ready\n", f"child {child.pid} said {line!r}"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()


def finish(children: list[subprocess.Popen[str]], timeout: float = 240) -> list[str]:
    """Wait for every child; each must exit 0 with nothing on stderr. Returns stdouts."""
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=timeout)
        assert child.returncode == 0, f"child {child.pid} failed:\n{err}"
        assert err == "", err
        outputs.append(out)
    return outputs
