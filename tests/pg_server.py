"""A throwaway PostgreSQL server for tests, shared by every test folder in one session.

Wire it into a conftest by importing the fixtures (pytest registers what a conftest
module holds):

    from pg_server import make_postgres_database, postgres_server  # noqa: F401

`postgres_server` (session scope) starts one server for the whole run, whichever conftest
asks first, and stops it at the end; `make_postgres_database` (function scope) is a factory:
each call creates a fresh, empty database and returns its SQLAlchemy URL.

The server runs from the system's PostgreSQL binaries (found with `pg_config --bindir`,
or under /usr/lib/postgresql/<version>/bin), with trust authentication, listening on
127.0.0.1 only, on a free port, with its unix socket inside its own temporary folder.
`initdb` refuses to run as root, so as root it runs as the `postgres` user (or `nobody`)
through `runuser`. Missing binaries fail the test with a clear message: they are never a
reason to skip, since CI installs PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TOOLS = ("initdb", "pg_ctl")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server would not start."""


def find_bindir() -> Path:
    """The folder holding initdb and pg_ctl; PostgresUnavailable when there is none."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    candidates += [
        Path(found)
        for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    ]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in _TOOLS):
            return folder
    raise PostgresUnavailable(
        "The PostgreSQL server binaries (initdb, pg_ctl) must be installed for the ledger's "
        "PostgreSQL tests. Got none from `pg_config --bindir`, /usr/lib/postgresql/*/bin or "
        "PATH instead; install the postgresql package (e.g. `apt-get install postgresql`)."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One running test server; `url(db)` and `create_database()` give SQLAlchemy URLs."""

    user = "postgres"
    host = "127.0.0.1"

    def __init__(self, root: Path, bindir: Path, run_as: str | None) -> None:
        self.root = root
        self.bindir = bindir
        self.run_as = run_as
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "server.log"
        self.port = 0

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self.run_as is not None:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        # The server user may not be able to enter the caller's working directory.
        return subprocess.run(
            argv, cwd=self.root, capture_output=True, text=True, check=False, timeout=120
        )

    def start(self) -> None:
        """initdb, then start on a free port (retrying if another process took it)."""
        self.sockets.mkdir()
        if self.run_as is not None:
            account = pwd.getpwnam(self.run_as)
            os.chown(self.sockets, account.pw_uid, account.pw_gid)
        result = self._run(
            "initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        if result.returncode != 0:
            raise PostgresUnavailable(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        for _ in range(5):
            self.port = _free_port()
            options = (
                f"-h {self.host} -p {self.port} -k {self.sockets} -F "
                "-c max_connections=200 -c full_page_writes=off -c synchronous_commit=off"
            )
            result = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", options, "start",
            )  # fmt: skip
            if result.returncode == 0:
                return
        log = self.log.read_text() if self.log.exists() else ""
        raise PostgresUnavailable(f"pg_ctl start failed:\n{result.stderr}\n{log}")

    def stop(self) -> None:
        """Stop the server at once and remove its files."""
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """A SQLAlchemy URL for a database of this server (any password is accepted)."""
        secret = f":{password}" if password is not None else ""
        return f"postgresql+psycopg://{self.user}{secret}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh empty database and return its URL."""
        import psycopg

        database = name or f"t_{uuid.uuid4().hex[:16]}"
        conninfo = f"host={self.host} port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)


def start_server() -> PostgresServer:
    """Start a new server in a fresh temporary folder; the caller must `stop()` it."""
    bindir = find_bindir()
    run_as: str | None = None
    if os.geteuid() == 0:
        for candidate in ("postgres", "nobody"):
            try:
                pwd.getpwnam(candidate)
            except KeyError:
                continue
            run_as = candidate
            break
        if run_as is None or shutil.which("runuser") is None:
            raise PostgresUnavailable(
                "initdb refuses to run as root, and neither a 'postgres' nor a 'nobody' "
                "user with `runuser` is available to run it."
            )
    # Under /tmp rather than pytest's basetemp: the server user must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="charter-pg-"))
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        os.chown(root, account.pw_uid, account.pw_gid)
    server = PostgresServer(root, bindir, run_as)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


_shared: PostgresServer | None = None
_users = 0


def acquire() -> PostgresServer:
    """The session's one shared server, started on first use."""
    global _shared, _users
    if _shared is None:
        _shared = start_server()
    _users += 1
    return _shared


def release() -> None:
    """Give back a server from `acquire`; the last release stops it."""
    global _shared, _users
    _users -= 1
    if _users <= 0 and _shared is not None:
        _shared.stop()
        _shared = None
        _users = 0


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole test session; fails when none can start."""
    try:
        server = acquire()
    except PostgresUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        release()


@pytest.fixture
def make_postgres_database(postgres_server: PostgresServer) -> Callable[[], str]:
    """A factory: each call creates a fresh empty database and returns its URL."""
    return postgres_server.create_database
