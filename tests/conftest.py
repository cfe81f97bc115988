"""Shared fixtures: the real command line, the shared datasets, and a project folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# The PostgreSQL server fixtures, shared by every test folder.
from tests.pg_server import make_postgres_database, postgres_server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

# Some tests press Ctrl-C on a `charter` child process. A test run started in the
# background of a non-interactive shell (`make test &`) ignores SIGINT, and every child
# would inherit that and never see the key: the children get the terminal's behaviour.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def datasets_dir() -> Path:
    """The shared datasets folder that sits beside the repository."""
    return REPO.parent / "shared" / "datasets"


@dataclass(frozen=True)
class Result:
    """What a finished `charter` process left."""

    code: int
    stdout: str
    stderr: str


CharterRunner = Callable[..., Result]


@pytest.fixture
def run_charter(tmp_path: Path) -> CharterRunner:
    """Run the installed `charter` command as a user would, in `cwd` (default: tmp_path)."""
    executable = Path(sys.executable).with_name("charter")
    assert executable.exists(), f"the charter entry point is not installed beside {sys.executable}"

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
        environment = {k: v for k, v in os.environ.items() if k != "CHARTER_LEDGER_URL"}
        environment.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
        done = subprocess.run(
            [str(executable), *args],
            cwd=cwd or tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def telco_project(tmp_path: Path) -> Path:
    """A copy of the telco-churn example in a fresh folder (its own ledger)."""
    target = tmp_path / "telco-churn"
    shutil.copytree(EXAMPLES / "telco-churn", target, ignore=shutil.ignore_patterns(".charter"))
    return target
