"""Fixtures for the notify tests: a real HTTP receiver on loopback, and factories.

The receiver is a `ThreadingHTTPServer` in a thread. It records every request (path,
headers, body) and answers from a script: `receiver.answer(500, 500)` makes the next two
requests fail, `receiver.default = 400` changes every later answer, and `HANG` makes a
request wait (without answering) until the test ends, so the client's timeout fires.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from charter.notify import Notice, Notifier
from charter.spec.schema import Stakeholder

#: A scripted answer that never comes: the handler waits until the receiver stops.
HANG = "hang"
Answer = int | str


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A loopback HTTP endpoint that records requests and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.default: Answer = 200
        self.redirect_to = "/elsewhere"
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self.released = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll keeps shutdown (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order, then with `default`."""
        with self._lock:
            self._script.extend(answers)

    def _next(self, request: Received) -> Answer:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = receiver._next(Received("POST", self.path, headers, body))
                if answer == HANG:
                    receiver.released.wait(timeout=30)
                    return
                assert isinstance(answer, int)
                self.send_response(answer)
                if 300 <= answer < 400:
                    self.send_header("Location", receiver.redirect_to)
                text = b"ok" if answer < 300 else f"scripted {answer}".encode()
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output for the tests

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running loopback receiver, stopped (hanging requests released) after the test."""
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens: connecting to it is refused."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


MakeNotice = Callable[..., Notice]


@pytest.fixture
def make_notice() -> MakeNotice:
    """A valid incident notice; keyword arguments override any field."""

    def make(**overrides: Any) -> Notice:
        values: dict[str, Any] = {
            "project": "telco-churn",
            "kind": "incident.opened",
            "key": "incident-12-opened",
            "title": "AUC fell below its threshold",
            "text": "Window 07:00-08:00 UTC: AUC 0.76 on 1,204 labelled rows.\nThreshold: 0.80.",
            "fields": {"KPI": "auc", "value": 0.7612, "threshold": ">= 0.80", "window": "1h"},
            "time": datetime(2026, 1, 31, 7, 30, tzinfo=timezone.utc),
        }
        values.update(overrides)
        return Notice(**values)

    return make


def stakeholder(name: str, notify: str = "console", target: str | None = None) -> Stakeholder:
    """A stakeholder as the charter's schema validates it."""
    return Stakeholder.model_validate({"name": name, "notify": notify, "target": target})


@dataclass
class Sleeps:
    """The waits a Notifier asked for, recorded instead of slept."""

    delays: list[float]

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


MakeNotifier = Callable[..., Notifier]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps([])


@pytest.fixture
def make_notifier(tmp_path: Path, sleeps: Sleeps) -> MakeNotifier:
    """A Notifier rooted in tmp_path, sleeping into `sleeps`, with an empty environment."""

    def make(stakeholders: list[Stakeholder], **options: Any) -> Notifier:
        options.setdefault("base_dir", tmp_path)
        options.setdefault("environ", {})
        options.setdefault("sleep", sleeps)
        options.setdefault("timeout_s", 2.0)
        return Notifier(stakeholders, **options)

    return make
