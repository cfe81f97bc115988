"""Feedback: delayed labels by prediction id, idempotent across threads and processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from charter.serving._feedback import FeedbackStore
from charter.serving._log import PredictionLog, PredictionLogError

CHILD = Path(__file__).with_name("log_child.py")


def make_record(prediction_id: str) -> dict[str, Any]:
    return {
        "prediction_id": prediction_id,
        "time": "2026-01-01T00:00:00+00:00",
        "model_version": "1",
        "input": {"tenure": 3},
        "output": {"prediction": "Yes"},
        "latency_ms": 0.5,
    }


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[PredictionLog, FeedbackStore]]:
    """A durable log holding predictions p0..p99, and a feedback store beside it."""
    log = PredictionLog(tmp_path / "log", mode="durable")
    log.append([make_record(f"p{i}") for i in range(100)])
    log.flush().result(10)  # the writer indexes a batch's ids right after acknowledging it
    store = FeedbackStore(log.folder, log=log, classes={"Yes", "No"})
    yield log, store
    store.close()
    log.close()


def test_created_duplicate_conflict_unknown_refused(
    logged: tuple[PredictionLog, FeedbackStore],
) -> None:
    _, store = logged
    assert store.record("p1", "Yes") == "created"
    assert store.record("p1", "Yes") == "duplicate"
    assert store.record("p1", "No") == "conflict"
    assert store.record("never-predicted", "Yes") == "unknown"
    assert store.record("p2", "Maybe") == "refused"
    stats = store.stats()
    assert (stats.created, stats.duplicate, stats.conflict, stats.unknown, stats.refused) == (
        1,
        1,
        1,
        1,
        1,
    )
    stored = store.get("p1")
    assert stored is not None
    assert (stored.prediction_id, stored.label) == ("p1", "Yes")
    assert store.get("p2") is None


def test_a_batch_is_one_transaction_with_one_outcome_per_label(
    logged: tuple[PredictionLog, FeedbackStore],
) -> None:
    _, store = logged
    pairs = [("p1", "Yes"), ("p1", "Yes"), ("p2", "No"), ("p2", "Yes"), ("x", "No")]
    outcomes = store.record_many(pairs)
    assert outcomes == ["created", "duplicate", "created", "conflict", "unknown"]


def test_labels_compare_by_value_not_by_spelling(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, mode="durable") as log, FeedbackStore(tmp_path, log=log) as store:
        log.append([make_record(f"p{i}") for i in range(3)])
        assert store.record("p0", 1) == "created"
        assert store.record("p0", 1.0) == "duplicate"
        assert store.record("p0", True) == "conflict"
        assert store.record("p1", 0.25) == "created"
        assert store.get("p1") is not None
        assert store.get("p1").label == 0.25  # type: ignore[union-attr]


def test_the_observation_time_is_kept_in_utc(logged: tuple[PredictionLog, FeedbackStore]) -> None:
    _, store = logged
    paris = timezone(timedelta(hours=1))
    store.record("p1", "Yes", at=datetime(2026, 3, 1, 13, 0, tzinfo=paris))
    store.record("p2", "Yes", at="2026-03-01T12:00:00")
    assert store.get("p1").at == "2026-03-01T12:00:00+00:00"  # type: ignore[union-attr]
    assert store.get("p2").at == "2026-03-01T12:00:00+00:00"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"'at' of a feedback label must be an ISO 8601 time"):
        store.record("p3", "Yes", at="soon")
    assert store.get("p3") is None


def test_an_id_still_queued_in_memory_is_known(tmp_path: Path) -> None:
    # Fast mode, an hour between writes: the prediction is nowhere on disk yet.
    with PredictionLog(tmp_path, mode="fast", flush_interval_s=3600) as log:
        log.submit([make_record("queued")])
        assert log.stats().written == 0
        with FeedbackStore(tmp_path, log=log) as store:
            assert store.record("queued", "Yes") == "created"
        # Another process (no log= here) learns of it once the writer indexed it.
        with FeedbackStore(tmp_path) as elsewhere:
            assert not elsewhere.is_known("queued")
            log.flush().result(10)
            assert not log.knows("queued")
            assert elsewhere.is_known("queued")


def test_a_writer_indexes_what_a_dead_writer_logged(tmp_path: Path) -> None:
    # A segment whose writer died before indexing it: written by hand, never indexed.
    lines = b"".join(orjson.dumps(make_record(f"old{i}")) + b"\n" for i in range(5))
    (tmp_path / f"segment-{0:020d}-{'b' * 32}.jsonl").write_bytes(lines + b'{"cut')
    with FeedbackStore(tmp_path) as store:
        assert store.record("old3", "Yes") == "unknown"
        with PredictionLog(tmp_path, mode="durable"):
            assert store.record("old3", "Yes") == "created"
            assert all(store.is_known(f"old{i}") for i in range(5))


def test_eight_threads_posting_the_same_labels_create_each_once(
    logged: tuple[PredictionLog, FeedbackStore],
) -> None:
    _, store = logged
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def post(number: int) -> None:
        barrier.wait()
        # Half the threads post the same label, the other half a different one.
        label = "Yes" if number % 2 else "No"
        mine = [store.record(f"p{i}", label) for i in range(50)]
        with lock:
            outcomes.extend(mine)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Per id: one thread wins, the three that agree with it are duplicates, four conflict.
    assert Counter(outcomes) == {"created": 50, "duplicate": 150, "conflict": 200}
    assert len(list(store.labels())) == 50


def test_two_processes_posting_the_same_labels_create_each_once(
    logged: tuple[PredictionLog, FeedbackStore],
) -> None:
    log, _ = logged
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), "feedback", str(log.folder), "100", "Yes"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    totals: Counter[str] = Counter()
    for child in children:
        stdout, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr
        totals.update(json.loads(stdout.strip().splitlines()[-1]))
    assert totals == {"created": 100, "duplicate": 100}


def test_labels_are_read_incrementally_by_sequence(
    logged: tuple[PredictionLog, FeedbackStore],
) -> None:
    _, store = logged
    for index in range(25):
        store.record(f"p{index}", "Yes" if index % 3 else "No")
    first = list(store.labels(batch=4))
    assert [f.prediction_id for f in first] == [f"p{i}" for i in range(25)]
    assert [f.seq for f in first] == sorted(f.seq for f in first)
    last_seen = first[-1].seq
    store.record("p40", "No")
    store.record("p40", "No")
    assert [f.prediction_id for f in store.labels(since=last_seen)] == ["p40"]


def test_a_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "feedback.sqlite").write_bytes(b"not a database, not at all" * 100)
    with pytest.raises(PredictionLogError, match=r"feedback\.sqlite cannot be used: file is not a"):
        FeedbackStore(tmp_path)


def test_lookup_joins_many_ids_with_their_labels_in_batches(
    logged: tuple[PredictionLog, FeedbackStore],
) -> None:
    _log, store = logged
    store.record_many([(f"p{i}", "Yes" if i % 2 else "No") for i in range(0, 100, 3)])
    wanted = [f"p{i}" for i in range(100)] + ["nope", "p3"]
    found = store.lookup(wanted, batch=7)
    assert set(found) == {f"p{i}" for i in range(0, 100, 3)}
    assert found["p3"].label == "Yes"
    assert found["p0"].label == "No"
    assert store.lookup([]) == {}
