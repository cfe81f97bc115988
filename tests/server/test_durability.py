"""kill -9 through the live server under load: what was answered is in the prediction log.

The server runs as `python -m charter.server` in its own process; several client threads
post predictions over real HTTP and keep every prediction_id answered with 200 (and when);
SIGKILL lands mid-load; then the log folder is read with LogReader, and a restarted
server appends to the same log.

The promise per mode:
- durable: a record is written and fsynced before its answer is sent, so every
  acknowledged prediction is in the log after kill -9;
- fast: a record is handed to the OS within `flush_interval_s` (0.1 s) of its answer while
  the writer keeps up (and back-pressure makes answers wait when it does not), so only
  predictions answered within about one flush interval of the kill may be lost.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from charter.serving import LogReader, PredictionLog
from tests.server.conftest import TOKEN, ServerFactory, ServerProcess, stop_process
from tests.server.test_requests import RECORD

AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: How long before the kill a lost fast-mode prediction may have been answered: the 0.1 s
#: flush interval, with a wide margin for a busy 2-core machine.
FAST_LOSS_BOUND_S = 2.0


@dataclass
class Load:
    """Client threads posting predictions until the server stops answering."""

    url: str
    threads: int
    acknowledged: dict[str, float] = field(default_factory=dict)  # id -> monotonic answer time
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for number in range(self.threads):
            worker = threading.Thread(target=self._post, args=(number,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _post(self, number: int) -> None:
        record = {**RECORD, "tenure": number}
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post("/predict", json=record)
                except httpx.TransportError:
                    return  # the server died: this request was never answered
                if answer.status_code != 200:
                    with self._lock:
                        self.errors.append(f"{answer.status_code}: {answer.text[:200]}")
                    return
                with self._lock:
                    self.acknowledged[answer.json()["prediction_id"]] = time.monotonic()

    def wait_for(self, count: int, seconds: float = 0.0, timeout: float = 30.0) -> None:
        began = time.monotonic()
        pause = threading.Event()
        while len(self.acknowledged) < count or time.monotonic() - began < seconds:
            assert not self.errors, self.errors[:3]
            assert time.monotonic() - began < timeout, "the load never reached its target"
            pause.wait(0.01)

    def finish(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)
            assert not worker.is_alive(), "a client thread hung"


def _kill_9(started: ServerProcess) -> float:
    os.kill(started.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert started.process.wait(timeout=30) == -signal.SIGKILL
    return killed_at


def _logged(folder: Path) -> tuple[list[str], list[str]]:
    records, skipped, _ = LogReader(folder).read_all()
    return [r["prediction_id"] for r in records], [s.reason for s in skipped]


def test_kill_9_in_durable_mode_loses_no_answered_prediction_and_a_restart_appends(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    folder = tmp_path / "log"
    options = ("--log-mode", "durable", "--log-dir", str(folder), "--poll-seconds", "60")
    acknowledged: set[str] = set()
    for _round in range(2):
        started = server_process(*options)
        load = Load(started.url, threads=8).start()
        load.wait_for(300)
        _kill_9(started)
        load.finish()
        assert not load.errors, load.errors[:3]
        acknowledged |= set(load.acknowledged)
        ids, reasons = _logged(folder)
        missing = acknowledged - set(ids)
        assert not missing, f"{len(missing)} answered predictions lost, e.g. {sorted(missing)[:3]}"
        assert len(ids) == len(set(ids)), "a record was logged twice"
        assert all(reason.startswith("truncated record") for reason in reasons), reasons

    # SIGKILL cannot be timed inside write(2), so tear the last record the way a crash
    # mid-write would: the reader must skip it, report it and read everything else.
    last = LogReader(folder).segments()[-1]
    assert last.state == "closed"
    with open(last.path, "ab") as segment:
        segment.write(b'{"prediction_id": "torn", "time": "2026-')
    ids, reasons = _logged(folder)
    assert acknowledged <= set(ids)
    assert "torn" not in ids
    assert len(reasons) == 1
    assert reasons[0].startswith("truncated record")

    # A restarted server appends to the same log, knows the ids from before the kill
    # (feedback finds them), and its own answers are logged after a graceful stop.
    before = {segment.stem for segment in LogReader(folder).segments()}
    started = server_process(*options)
    with httpx.Client(base_url=started.url, headers=AUTH, timeout=10) as client:
        fresh = [client.post("/predict", json=RECORD) for _ in range(5)]
        assert all(answer.status_code == 200 for answer in fresh)
        old_id = sorted(acknowledged)[0]
        feedback = client.post("/feedback", json={"prediction_id": old_id, "label": "No"})
        assert feedback.status_code == 200, feedback.text
    stop_process(started.process, started.output)
    ids, reasons = _logged(folder)
    new_ids = {answer.json()["prediction_id"] for answer in fresh}
    assert (acknowledged | new_ids) <= set(ids)
    assert len(reasons) == 1  # still only the torn record
    assert {segment.stem for segment in LogReader(folder).segments()} > before


def test_kill_9_in_fast_mode_loses_at_most_the_last_flush_interval(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    folder = tmp_path / "log"
    started = server_process("--log-mode", "fast", "--log-dir", str(folder))
    load = Load(started.url, threads=4).start()
    load.wait_for(500, seconds=FAST_LOSS_BOUND_S + 1)
    killed_at = _kill_9(started)
    load.finish()
    assert not load.errors, load.errors[:3]
    ids, reasons = _logged(folder)
    present = set(ids)
    lost = {pid: killed_at - at for pid, at in load.acknowledged.items() if pid not in present}
    too_old = {pid: age for pid, age in lost.items() if age > FAST_LOSS_BOUND_S}
    print(
        f"\nfast mode, kill -9 of the server: {len(load.acknowledged)} answered, "
        f"{len(lost)} lost (the oldest answered "
        f"{max(lost.values(), default=0) * 1000:.0f} ms before the kill)"
    )
    assert not too_old, f"{len(too_old)} predictions answered long before the kill were lost"
    # Everything answered before the bound is there, in one piece.
    early = [pid for pid, at in load.acknowledged.items() if at < killed_at - FAST_LOSS_BOUND_S]
    assert early, "the load ran too briefly to test the bound"
    assert all(reason.startswith("truncated record") for reason in reasons), reasons


def test_a_full_fast_log_makes_answers_wait_for_the_write(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """Back-pressure through the server: past `max_pending` unwritten records, an answer
    waits until its record is written, and /metrics counts it."""
    release = threading.Event()

    def held_fsync(fd: int) -> None:
        assert release.wait(30), "the test never released the fsync"
        os.fsync(fd)

    logs: list[PredictionLog] = []

    def make_log(folder: Path, mode: str) -> PredictionLog:
        assert mode == "fast"
        logs.append(PredictionLog(folder, mode="fast", max_pending=2, fsync=held_fsync))
        return logs[0]

    server = start_server(log_mode="fast", log_factory=make_log, log_dir=tmp_path / "log")
    answers: list[httpx.Response] = []
    with server.client() as client:
        # The writer stops in the fsync of its first segment's folder: nothing gets written.
        for _ in range(2):
            assert client.post("/predict", json=RECORD).status_code == 200
        waiting = threading.Thread(
            target=lambda: answers.append(client.post("/predict", json=RECORD))
        )
        waiting.start()
        pause = threading.Event()
        deadline = time.monotonic() + 30
        while logs[0].stats().backpressure < 1:
            assert time.monotonic() < deadline, "the third prediction never met back-pressure"
            pause.wait(0.01)
        assert answers == [], "answered before its record was written"
        release.set()
        waiting.join(30)
        assert [answer.status_code for answer in answers] == [200]
        metrics = client.get("/metrics").text
    assert "charter_prediction_log_backpressure 1.0" in metrics
    assert "charter_prediction_log_pending_bytes " in metrics
