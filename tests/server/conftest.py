"""A served telco project (built once per session), and real servers on loopback."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from charter import lifecycle
from charter.server import ServerConfig, create_app
from charter.spec import load_charter
from tests.conftest import EXAMPLES

ROWS = 1500
TOKEN = "s3cret-token-that-must-never-be-logged"


def write_telco(
    folder: Path, *, rows: int = ROWS, edit: Callable[[str], str] | None = None
) -> Path:
    """A small telco charter (logistic regression, 2 trials) over the first `rows` rows."""
    source = EXAMPLES / "telco-churn"
    (folder / "data").mkdir(parents=True)
    with (source / "data" / "telco_churn.csv").open(encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(rows + 1)]
    (folder / "data" / "telco_churn.csv").write_text("".join(lines), encoding="utf-8")
    text = (source / "charter.yaml").read_text(encoding="utf-8")
    text = re.sub(
        r"(?ms)^model:\n.*?(?=^serve:)",
        "model:\n  candidates: [logistic_regression]\n  budget: {trials: 2, seconds: null}\n"
        "  cv_folds: 3\n\n",
        text,
    )
    if edit is not None:
        text = edit(text)
    (folder / "charter.yaml").write_text(text, encoding="utf-8")
    return folder / "charter.yaml"


def build_project(folder: Path, edit: Callable[[str], str] | None = None) -> Path:
    """Run and promote the small telco project in `folder`: a ledger with a champion."""
    charter = write_telco(folder, edit=edit)
    outcome = lifecycle.run(charter, write_report=False)
    assert outcome.model_version == 1, outcome
    lifecycle.promote(charter, "candidate", override="test")
    return folder


@pytest.fixture(scope="session")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory.mktemp("served") / "telco")


@pytest.fixture
def project(built_project: Path, tmp_path: Path) -> Path:
    """A private copy of the served project (its own ledger and log folder)."""
    target = tmp_path / "telco"
    shutil.copytree(built_project, target)
    return target


@pytest.fixture(scope="session")
def sample_records(built_project: Path) -> list[dict[str, Any]]:
    """Rows of the telco data as request records (typed as JSON would carry them)."""
    import pandas as pd

    frame = pd.read_csv(built_project / "data" / "telco_churn.csv").head(50)
    records = []
    for row in frame.to_dict(orient="records"):
        row.pop("Churn")
        total = str(row["TotalCharges"]).strip()
        row["TotalCharges"] = float(total) if total else None
        records.append(row)
    return records


def compiled_kind(project: Path) -> str:
    """The serving path registration compiled for version 1 (ONNX or a hand-written kernel)."""
    from charter.ledger import open_ledger

    with open_ledger(project) as ledger:
        kind: str = ledger.get_model_version("telco-churn", 1).metrics["serving"]["kind"]
    return kind


@pytest.fixture(scope="session")
def kind(built_project: Path) -> str:
    found = compiled_kind(built_project)
    assert found in ("linear", "onnx")
    return found


# --- servers ---------------------------------------------------------------------------------


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ThreadedUvicorn:
    """An ASGI app on uvicorn in a thread, listening on a loopback socket bound before it starts.

    The prediction server's and the dashboard's tests both host their app this way.
    """

    name: str = "the server"
    url: str = ""
    _server: Any = None
    _thread: threading.Thread | None = None
    _errors: list[BaseException] = field(default_factory=list)

    def start(self, app: Any, **options: Any) -> None:
        sock = free_socket()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_config=None, lifespan="on", **options)
        self._server = uvicorn.Server(config)

        def run() -> None:
            try:
                self._server.run(sockets=[sock])
            except BaseException as exc:  # surfaced by start()
                self._errors.append(exc)
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="uvicorn-test", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            self._thread.join(0.02)
            if not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start: {self._errors}")
            assert time.monotonic() < deadline, f"{self.name} did not start within 60 s"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(60)
            assert not self._thread.is_alive(), f"{self.name} did not stop"


@dataclass
class LiveServer:
    """The prediction server's app on uvicorn in a thread (see `ThreadedUvicorn`)."""

    config: ServerConfig
    access_log: bool = False
    app: Any = None
    host: ThreadedUvicorn = field(default_factory=ThreadedUvicorn)

    def start(self) -> LiveServer:
        self.app = create_app(self.config)
        self.host.start(self.app, access_log=self.access_log, log_level="debug")
        return self

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def state(self) -> Any:
        return self.app.state.charter

    def client(self, **kwargs: Any) -> httpx.Client:
        return self.host.client(**kwargs)

    def stop(self) -> None:
        self.host.stop()


def make_config(project: Path, **changes: Any) -> ServerConfig:
    loaded = load_charter(project / "charter.yaml")
    charter = loaded.charter
    serve = changes.pop("serve", None)
    if serve:
        charter = charter.model_copy(update={"serve": charter.serve.model_copy(update=serve)})
    config = ServerConfig(
        charter=charter,
        charter_dir=loaded.base_dir,
        poll_seconds=None,
        host="127.0.0.1",
    )
    return replace(config, **changes)


ServerFactory = Callable[..., LiveServer]


@pytest.fixture
def start_server(project: Path) -> Iterator[ServerFactory]:
    """Start live servers on the test's project copy; each is stopped at teardown."""
    started: list[LiveServer] = []

    def start(folder: Path | None = None, access_log: bool = False, **changes: Any) -> LiveServer:
        server = LiveServer(make_config(folder or project, **changes), access_log=access_log)
        started.append(server.start())
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def server(start_server: ServerFactory) -> LiveServer:
    """The project's champion, served without a token in fast log mode."""
    return start_server()


# --- subprocess servers ----------------------------------------------------------------------


class Output:
    """A process's merged output, drained by a thread; `ready` is set once uvicorn listens."""

    def __init__(self, process: subprocess.Popen[str], workers: int = 1) -> None:
        self.process = process
        self.workers = workers
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            listening, started = False, 0
            for line in self.process.stdout:
                self.lines.append(line)
                listening = listening or "Uvicorn running on" in line
                started += "Application startup complete" in line
                if listening and started >= self.workers:
                    self.ready.set()
        self.ready.set()  # the process ended: nobody waits for ever

    def wait_ready(self) -> None:
        assert self.ready.wait(60), "the server did not start within 60 s"
        if self.process.poll() is not None and not any(
            "Uvicorn running on" in line for line in self.lines
        ):
            raise AssertionError(
                f"the server exited with {self.process.returncode}:\n{self.text()}"
            )

    def text(self) -> str:
        return "".join(self.lines)

    def finish(self) -> str:
        self._thread.join(60)
        return self.text()


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    url: str
    output: Output


def spawn(
    args: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CHARTER_LEDGER_URL"}
    environment.update(env or {})
    return subprocess.Popen(
        list(args),
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop_process(process: subprocess.Popen[str], output: Output | None = None) -> str:
    """SIGTERM (a graceful stop that flushes the log), then the process's output."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if output is not None:
        return output.finish()
    out, _ = process.communicate()
    return out


@pytest.fixture
def server_process(project: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`python -m charter.server` on a free loopback port; SIGTERMed at teardown."""
    running: list[ServerProcess] = []

    def start(
        *extra: str, env: Mapping[str, str] | None = None, charter: Path | None = None
    ) -> ServerProcess:
        port = free_port()
        args = [
            sys.executable,
            "-m",
            "charter.server",
            "--charter",
            str(charter or project / "charter.yaml"),
            "--port",
            str(port),
            *extra,
        ]
        process = spawn(args, {"CHARTER_TOKEN": TOKEN, **(env or {})})
        workers = int(extra[list(extra).index("--workers") + 1]) if "--workers" in extra else 1
        output = Output(process, workers)
        started = ServerProcess(process, f"http://127.0.0.1:{port}", output)
        running.append(started)
        output.wait_ready()
        return started

    yield start
    for started in running:
        stop_process(started.process, started.output)


@pytest.fixture(scope="module")
def shared_server(
    built_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server per test module, for tests that only read (and log predictions)."""
    folder = tmp_path_factory.mktemp("shared") / "telco"
    shutil.copytree(built_project, folder)
    server = LiveServer(make_config(folder, log_mode="durable")).start()
    yield server
    server.stop()
