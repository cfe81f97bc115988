"""The prediction log: modes, group commit, rotation, compaction, cursors, faults, kill -9."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.errors import CharterError, DataError
from charter.serving._feedback import FeedbackStore
from charter.serving._log import (
    Cursor,
    LogReader,
    PredictionLog,
    PredictionLogError,
    compact,
    scan_segments,
)

CHILD = Path(__file__).with_name("log_child.py")


def make_record(prediction_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "prediction_id": prediction_id,
        "time": "2026-01-01T00:00:00.000001+00:00",
        "model_version": "3",
        "input": {"tenure": 12, "Contract": "One year", "MonthlyCharges": 70.35, "note": None},
        "output": {"prediction": "No", "probabilities": {"No": 0.8, "Yes": 0.2}},
        "latency_ms": 0.125,
        **extra,
    }


def ids_of(records: list[dict[str, Any]]) -> list[str]:
    return [record["prediction_id"] for record in records]


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition another thread makes true (polled; fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "the condition did not become true in time"
        pause.wait(0.002)


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[..., PredictionLog]]:
    """A factory of logs in tmp_path/log (by default), all closed after the test."""
    made: list[PredictionLog] = []

    def make(folder: Path | None = None, **options: Any) -> PredictionLog:
        options.setdefault("mode", "durable")
        log = PredictionLog(folder or tmp_path / "log", **options)
        made.append(log)
        return log

    yield make
    for log in made:
        log.close()


class CountingFsync:
    """The fsync hook: counts calls, and can hold them until released."""

    def __init__(self, *, hold: bool = False) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        with self.lock:
            self.calls += 1
        self.entered.set()
        assert self.release.wait(30), "the test never released the fsync hook"
        os.fsync(fd)


# --------------------------------------------------------------------------- modes


def test_durable_future_resolves_only_after_the_fsync(
    open_log: Callable[..., PredictionLog],
) -> None:
    hook = CountingFsync(hold=True)
    log = open_log(mode="durable", fsync=hook)
    # The first fsync of a new segment is its folder's; hold every one of them.
    future = log.submit([make_record("a")])
    assert hook.entered.wait(10)
    assert not future.done()
    stats = log.stats()
    assert stats.lag_records == 1
    assert stats.lag_seconds >= 0
    hook.release.set()
    assert future.result(10) is None
    assert log.stats().durable == 1
    assert log.stats().lag_records == 0
    segment = log.folder / str(log.stats().segment)
    assert orjson.loads(segment.read_bytes())["prediction_id"] == "a"


def test_fast_future_resolves_at_once_and_the_writer_flushes_within_the_interval(
    open_log: Callable[..., PredictionLog],
) -> None:
    hook = CountingFsync()
    log = open_log(mode="fast", flush_interval_s=0.05, fsync=hook)
    future = log.submit([make_record("a"), make_record("b")])
    assert future.done()
    eventually(lambda: log.stats().written == 2)
    records, skipped, _ = LogReader(log.folder).read_all()
    assert ids_of(records) == ["a", "b"]
    assert skipped == []
    # Written to the OS, not fsynced: only the segment's folder was.
    assert log.stats().durable == 0
    log.flush().result(10)
    assert log.stats().durable == 2


def test_fast_mode_holds_records_until_the_interval_or_a_flush(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="fast", flush_interval_s=3600)
    log.submit([make_record("a")])
    stats = log.stats()
    assert (stats.appended, stats.written, stats.pending, stats.lag_records) == (1, 0, 1, 1)
    log.flush().result(10)
    stats = log.stats()
    assert (stats.written, stats.durable, stats.pending, stats.lag_records) == (1, 1, 0, 0)


def test_fast_mode_waits_for_the_write_once_too_much_is_pending(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="fast", flush_interval_s=3600, max_pending=0)
    log.submit([make_record("a")]).result(10)
    assert log.stats().written == 1
    assert log.stats().backpressure == 1


def test_fast_mode_applies_back_pressure_while_the_writer_is_stuck(
    open_log: Callable[..., PredictionLog],
) -> None:
    fsync = CountingFsync(hold=True)
    log = open_log(mode="fast", max_pending=10, fsync=fsync, compact=False)
    log.submit([make_record("first")])
    # The writer opens its first segment and stops in the folder's fsync, which is held.
    assert fsync.entered.wait(10)
    answered = [log.submit([make_record(f"r{i}")]) for i in range(9)]
    assert all(future.done() for future in answered)
    held = log.submit([make_record("r9")])
    assert not held.done(), "the 11th unwritten record must wait for the writer"
    stats = log.stats()
    assert (stats.pending, stats.backpressure) == (11, 1)
    assert stats.pending_bytes > 10 * 200
    fsync.release.set()
    held.result(10)
    log.flush().result(10)
    stats = log.stats()
    assert (stats.pending, stats.pending_bytes, stats.written) == (0, 0, 11)


def test_fast_mode_bounds_the_queued_bytes_too(open_log: Callable[..., PredictionLog]) -> None:
    fsync = CountingFsync(hold=True)
    log = open_log(mode="fast", max_pending_bytes=1, fsync=fsync, compact=False)
    assert log.submit([make_record("first")]).done()
    assert fsync.entered.wait(10)
    held = log.submit([make_record("second")])
    assert not held.done()
    assert log.stats().backpressure == 1
    fsync.release.set()
    held.result(10)


def test_durable_waits_are_not_counted_as_back_pressure(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="durable", max_pending=0)
    log.append([make_record("a")])
    assert log.stats().backpressure == 0


def test_threads_beyond_the_limit_wait_and_memory_stays_bounded(
    open_log: Callable[..., PredictionLog],
) -> None:
    """8 threads against a queue of 40 records: every record is logged once, and the
    unwritten records never exceed the limit by more than one submit per thread."""
    threads, per_thread, limit = 8, 400, 40
    log = open_log(mode="fast", max_pending=limit, flush_interval_s=0.05, compact=False)
    peaks: list[int] = []

    def work(number: int) -> None:
        peak = 0
        for index in range(per_thread):
            log.submit([make_record(f"t{number}-{index}")]).result(30)
            peak = max(peak, log.stats().pending)
        peaks.append(peak)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    log.close()
    assert max(peaks) <= limit + threads
    assert log.stats().backpressure > 0
    records, skipped, _ = LogReader(log.folder).read_all()
    assert sorted(ids_of(records)) == sorted(
        f"t{n}-{i}" for n in range(threads) for i in range(per_thread)
    )
    assert skipped == []


def test_close_writes_everything_and_is_idempotent(open_log: Callable[..., PredictionLog]) -> None:
    log = open_log(mode="fast", flush_interval_s=3600, compact=False)
    log.submit([make_record(f"r{i}") for i in range(50)])
    log.close()
    log.close()
    assert log.closed
    stats = log.stats()
    assert (stats.written, stats.durable, stats.segment) == (50, 50, None)
    assert [s.state for s in scan_segments(log.folder)] == ["closed"]
    with pytest.raises(PredictionLogError, match="is closed"):
        log.submit([make_record("late")])
    with pytest.raises(PredictionLogError, match="is closed"):
        log.flush()
    assert issubclass(PredictionLogError, CharterError)


def test_records_that_are_not_prediction_records_are_refused(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log()
    with pytest.raises(ValueError, match=r"record 1 cannot be logged: its 'model_version' must be"):
        log.submit([make_record("a"), {**make_record("b"), "model_version": 3}])
    with pytest.raises(ValueError, match=r"its 'latency_ms' must be a number\. Got nothing"):
        log.submit([{k: v for k, v in make_record("a").items() if k != "latency_ms"}])
    with pytest.raises(ValueError, match="'prediction_id' must not be empty"):
        log.submit([make_record("")])
    with pytest.raises(TypeError, match="not JSON serializable"):
        log.submit([make_record("a", extra=object())])
    assert log.stats().appended == 0


def test_numpy_values_are_logged_as_plain_json(open_log: Callable[..., PredictionLog]) -> None:
    log = open_log(mode="durable", compact=False)
    output = {"probabilities": np.array([0.25, 0.75], dtype=np.float32), "label": np.int64(1)}
    log.append([make_record("a", output=output, rank=np.float64(0.5))])
    log.close()
    for _ in ("jsonl", "parquet"):
        (record,) = LogReader(log.folder).read_all()[0]
        assert record["output"] == {"probabilities": [0.25, 0.75], "label": 1}
        assert record["rank"] == 0.5
        compact(log.folder)


def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'mode' of a prediction log must be 'durable' or 'fast'"):
        PredictionLog(tmp_path, mode="safe")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match="'segment_max_bytes' of a prediction log must be at least 1"
    ):
        PredictionLog(tmp_path, mode="fast", segment_max_bytes=0)
    with pytest.raises(ValueError, match="'flush_interval_s' of a prediction log must be positive"):
        PredictionLog(tmp_path, mode="fast", flush_interval_s=0)
    bad_options: list[dict[str, Any]] = [
        {"max_pending": -1},
        {"max_pending_bytes": 1.5},
        {"max_pending": True},
        {"max_pending_bytes": "1 MB"},
    ]
    for options in bad_options:
        (name,) = options
        with pytest.raises(
            ValueError, match=f"'{name}' of a prediction log must be a whole number of at least 0"
        ):
            PredictionLog(tmp_path, mode="fast", **options)


def test_a_failed_write_fails_the_durable_future_and_the_log_goes_on(
    open_log: Callable[..., PredictionLog],
) -> None:
    failing = threading.Event()

    def fsync(fd: int) -> None:
        if failing.is_set():
            raise OSError(28, "No space left on device")
        os.fsync(fd)

    log = open_log(mode="durable", fsync=fsync)
    log.append([make_record("before")])
    failing.set()
    with pytest.raises(PredictionLogError, match=r"could not write 1 records: .*No space left"):
        log.submit([make_record("lost")]).result(10)
    stats = log.stats()
    assert stats.failed == 1
    assert stats.last_error is not None
    assert "No space left" in stats.last_error
    failing.clear()
    log.append([make_record("after")])
    log.close()
    records, skipped, _ = LogReader(log.folder).read_all()
    # The failed record reached the file but was never acknowledged: it may be there.
    assert {"before", "after"} <= set(ids_of(records))
    assert skipped == []


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("mode", ["durable", "fast"])
def test_sixteen_threads_each_record_is_logged_once_in_thread_order(
    open_log: Callable[..., PredictionLog], mode: str
) -> None:
    log = open_log(mode=mode, segment_max_bytes=20_000, flush_interval_s=0.01)
    start = threading.Barrier(16)

    def worker(number: int) -> None:
        generator = random.Random(number)
        start.wait()
        index = 0
        while index < 150:
            size = generator.randint(1, 5)
            batch = [make_record(f"{number}-{index + k}") for k in range(size)]
            log.submit(batch).result(10)
            index += size

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = log.stats().appended
    log.close()
    records, skipped, _ = LogReader(log.folder).read_all()
    ids = ids_of(records)
    assert len(ids) == len(set(ids)) == total
    assert skipped == []
    for number in range(16):
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"{number}-")]
        assert mine == sorted(mine)


def test_group_commit_shares_fsyncs_between_concurrent_requests(
    open_log: Callable[..., PredictionLog],
) -> None:
    threads_count, rounds = 32, 10
    submitted = threading.Condition()
    state = {"round": 0, "in_round": 0}
    calls = [0]

    def fsync(fd: int) -> None:
        # Deterministic group commit: hold each fsync until every thread of the round has
        # submitted, so at most two fsyncs serve a round (the folder's one aside).
        with submitted:
            calls[0] += 1
            submitted.wait_for(lambda: state["in_round"] == threads_count, timeout=10)
        os.fsync(fd)

    log = open_log(mode="durable", fsync=fsync)
    barrier = threading.Barrier(threads_count, action=lambda: state.update(in_round=0))

    def worker(number: int) -> None:
        for index in range(rounds):
            barrier.wait()
            future = log.submit([make_record(f"{number}-{index}")])
            with submitted:
                state["in_round"] += 1
                submitted.notify_all()
            future.result(30)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    submits = threads_count * rounds
    assert log.stats().durable == submits
    assert calls[0] <= 2 * rounds + 1, calls[0]
    assert log.stats().fsyncs == calls[0]
    print(f"\ngroup commit: {submits} durable submits, {calls[0]} fsyncs")


@pytest.mark.parametrize("mode", ["durable", "fast"])
def test_appends_per_second_with_32_threads(
    open_log: Callable[..., PredictionLog], mode: str
) -> None:
    """A measurement, printed, never asserted: the machines are shared and noisy."""
    counter = CountingFsync()
    log = open_log(mode=mode, fsync=counter)
    per_thread = 300 if mode == "durable" else 1500
    barrier = threading.Barrier(33)

    def worker(number: int) -> None:
        barrier.wait()
        for index in range(per_thread):
            log.submit([make_record(f"{number}-{index}")]).result(30)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    log.flush().result(30)
    elapsed = time.perf_counter() - began
    total = 32 * per_thread
    assert log.stats().durable == total
    print(
        f"\n{mode}: {total / elapsed:,.0f} appends/s with 32 threads "
        f"({total} single-record submits, {counter.calls} fsyncs)"
    )


# --------------------------------------------------------------------------- rotation


def test_segments_rotate_at_the_size_limit_and_number_their_first_record(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="durable", segment_max_bytes=1500, compact=False)
    for index in range(40):
        log.append([make_record(f"r{index}")])
    log.close()
    segments = scan_segments(log.folder)
    assert len(segments) > 3
    assert all(s.state == "closed" for s in segments)
    assert all(s.size >= 1500 for s in segments[:-1])
    lines = [s.path.read_bytes().count(b"\n") for s in segments]
    starts = [s.start for s in segments]
    assert starts == [sum(lines[:i]) for i in range(len(lines))]
    assert log.stats().segments_closed == len(segments)

    # A writer that opens the folder again carries on after the last record.
    again = open_log(mode="durable", compact=False)
    again.append([make_record("next")])
    assert scan_segments(log.folder)[-1].start == sum(lines)


def test_two_writers_on_one_folder(open_log: Callable[..., PredictionLog]) -> None:
    first = open_log(mode="durable", segment_max_bytes=2000)
    second = open_log(mode="fast", segment_max_bytes=2000, flush_interval_s=0.01)
    expected = []
    for index in range(60):
        writer = first if index % 2 else second
        writer.submit([make_record(f"r{index}")])
        expected.append(f"r{index}")
    first.close()
    second.close()
    segments = scan_segments(first.folder)
    assert len({s.start for s in segments}) == len(segments)
    records, skipped, _ = LogReader(first.folder).read_all()
    assert sorted(ids_of(records)) == sorted(expected)
    assert skipped == []


# --------------------------------------------------------------------------- compaction


def test_compaction_turns_closed_segments_into_parquet_and_keeps_every_record(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="durable", segment_max_bytes=1500, compact=False)
    for index in range(30):
        log.append([make_record(f"r{index}", shard=index % 3)])
    log.flush().result(10)  # a segment is closed after the futures of its last batch resolve
    reader = LogReader(log.folder)
    before, _, _ = reader.read_all()
    made = compact(log.folder)
    states = [s.state for s in scan_segments(log.folder)]
    # Every closed segment is compacted; the open one (if any) is left to its writer.
    still_open = [] if log.stats().segment is None else ["open"]
    assert states == ["compacted"] * len(made) + still_open
    assert len(made) >= 3
    after, skipped, _ = reader.read_all()
    assert after == before
    assert after[4] == make_record("r4", shard=1)
    assert skipped == []
    assert not list(log.folder.glob("*.tmp"))


def test_the_writer_compacts_in_the_background(open_log: Callable[..., PredictionLog]) -> None:
    log = open_log(mode="durable", segment_max_bytes=1500)
    for index in range(30):
        log.append([make_record(f"r{index}")])
    eventually(lambda: log.stats().compacted >= log.stats().segments_closed)
    log.close()
    states = [s.state for s in scan_segments(log.folder)]
    # The last segment, closed by close(), may or may not be compacted before it returns.
    assert states.count("compacted") >= len(states) - 1
    records, _, _ = LogReader(log.folder).read_all()
    assert ids_of(records) == [f"r{i}" for i in range(30)]


def test_a_crash_in_the_middle_of_compaction_loses_nothing(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="durable", segment_max_bytes=1500, compact=False)
    for index in range(20):
        log.append([make_record(f"r{index}")])
    log.close()
    folder = log.folder
    first, second, third = scan_segments(folder)[:3]
    expected = [f"r{i}" for i in range(20)]
    reader = LogReader(folder)
    # Died while writing the Parquet file: a partial temporary file, ignored by readers.
    (folder / f".{first.stem}.parquet.tmp").write_bytes(b"PAR1 half written")
    assert reader.read_all()[:2] == (reader.read_all()[0], [])
    assert ids_of(reader.read_all()[0]) == expected
    second_bytes = second.path.read_bytes()
    compact(folder)  # replaces the partial file
    # Died after renaming the Parquet file into place, before removing the JSON lines; and
    # a temporary file whose segment is compacted already.
    (folder / f"{second.stem}.jsonl").write_bytes(second_bytes)
    (folder / f".{third.stem}.parquet.tmp").write_bytes(b"PAR1 half written")
    records, skipped, _ = reader.read_all()
    assert ids_of(records) == expected
    assert skipped == []
    # The next compaction cleans both leftovers.
    compact(folder)
    names = sorted(path.name for path in folder.iterdir() if "segment-" in path.name)
    assert all(name.endswith(".parquet") for name in names), names
    assert ids_of(reader.read_all()[0]) == [f"r{i}" for i in range(20)]


def test_a_stopped_compaction_leaves_the_segment_as_it_was(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="durable", segment_max_bytes=1500, compact=False)
    for index in range(20):
        log.append([make_record(f"r{index}")])
    log.close()
    checks = iter([False, False])  # stop in the middle of the first segment
    assert compact(log.folder, should_stop=lambda: next(checks, True)) == []
    assert {s.state for s in scan_segments(log.folder)} == {"closed"}
    assert not list(log.folder.glob(".*.tmp"))


# --------------------------------------------------------------------------- reading


def _write_closed_segment(folder: Path, lines: list[bytes], start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"segment-{start:020d}-{'a' * 32}.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def _line(prediction_id: str) -> bytes:
    return orjson.dumps(make_record(prediction_id)) + b"\n"


def test_a_truncated_last_record_is_skipped_and_reported_once(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    good = [_line(f"r{i}") for i in range(5)]
    _write_closed_segment(folder, [*good, _line("cut")[:40]])
    reader = LogReader(folder)
    records, skipped, cursor = reader.read_all()
    assert ids_of(records) == [f"r{i}" for i in range(5)]
    assert len(skipped) == 1
    assert skipped[0].offset == sum(len(line) for line in good)
    assert skipped[0].length == 40
    assert skipped[0].reason.startswith("truncated record: 40 bytes without an end of line")
    # Read again from the cursor: nothing new, not reported twice.
    assert reader.read_all(cursor)[:2] == ([], [])
    # Compacted, it still reports it to a reader that had not passed it, with the same records.
    compact(folder)
    assert reader.read_all() == (records, skipped, cursor)


def test_a_corrupt_line_in_the_middle_is_skipped_and_the_records_around_it_kept(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "log"
    lines = [
        _line("r0"),
        b"\x00\x00{garbage\n",
        _line("r1"),
        b'{"prediction_id": 7}\n',
        _line("r2"),
    ]
    _write_closed_segment(folder, lines)
    for _ in ("jsonl", "parquet"):
        records, skipped, _ = LogReader(folder, chunk_records=1).read_all()
        assert ids_of(records) == ["r0", "r1", "r2"]
        assert [(s.offset, s.reason.split(":")[0]) for s in skipped] == [
            (len(lines[0]), "invalid JSON"),
            (len(b"".join(lines[:3])), "not a prediction record"),
        ]
        compact(folder)


def test_an_incomplete_line_of_an_open_segment_waits_for_its_end(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="durable", compact=False)
    log.append([make_record("r0")])
    path = log.folder / str(log.stats().segment)
    line = _line("r1")
    with open(path, "ab") as file:  # a write caught half-way by the reader
        file.write(line[:30])
    reader = LogReader(log.folder)
    records, skipped, cursor = reader.read_all()
    assert (ids_of(records), skipped) == (["r0"], [])
    assert cursor.positions == {path.stem: len(_line("r0"))}
    with open(path, "ab") as file:
        file.write(line[30:])
    records, skipped, cursor = reader.read_all(cursor)
    assert (ids_of(records), skipped) == (["r1"], [])


def test_chunks_are_bounded_and_carry_their_own_cursor(
    open_log: Callable[..., PredictionLog],
) -> None:
    log = open_log(mode="durable", segment_max_bytes=3000, compact=False)
    log.append([make_record(f"r{i}") for i in range(45)])
    log.append([make_record(f"s{i}") for i in range(45)])
    reader = LogReader(log.folder, chunk_records=10)
    chunks, end = reader.read()
    chunks = list(chunks)
    assert all(len(chunk.records) <= 10 for chunk in chunks)
    assert chunks[-1].cursor == end
    # Resuming at any chunk's cursor yields exactly the records after that chunk.
    everything = [record for chunk in chunks for record in chunk.records]
    done = 0
    for chunk in chunks:
        done += len(chunk.records)
        assert reader.read_all(chunk.cursor)[0] == everything[done:]


def test_a_cursor_is_plain_json(tmp_path: Path) -> None:
    cursor = Cursor("segment-00000000000000000000-" + "a" * 32, {"segment-x": 12})
    text = orjson.dumps(cursor.to_json())
    assert Cursor.from_json(orjson.loads(text)) == cursor
    with pytest.raises(DataError, match=r"'version' of a prediction-log cursor must be 1\. Got 7"):
        Cursor.from_json({"version": 7})
    with pytest.raises(DataError, match="'positions' of a prediction-log cursor must map"):
        Cursor.from_json({"version": 1, "positions": {"a": -1}})
    with pytest.raises(DataError, match="'done_through' of a prediction-log cursor must be"):
        Cursor.from_json({"version": 1, "done_through": 3})
    assert LogReader(tmp_path / "absent").read_all() == ([], [], Cursor())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.integers(1, 12), min_size=1, max_size=12),
    segment_max_bytes=st.sampled_from([400, 1500, 1 << 20]),
    chunk_records=st.integers(1, 7),
    data=st.data(),
)
def test_reading_with_cursors_taken_anywhere_yields_every_record_once_in_order(
    batches: list[int], segment_max_bytes: int, chunk_records: int, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        log = PredictionLog(
            folder,
            mode="fast",
            segment_max_bytes=segment_max_bytes,
            flush_interval_s=0.001,
            compact=False,
        )
        reader = LogReader(folder, chunk_records=chunk_records)
        expected: list[str] = []
        seen: list[str] = []
        cursor: Cursor | None = None

        def read_some() -> Cursor | None:
            chunks, end = reader.read(cursor)
            stop = data.draw(st.integers(-1, 6), label="chunks to read (-1: all)")
            taken = cursor
            for number, chunk in enumerate(chunks):
                if number == stop:
                    break
                seen.extend(ids_of(chunk.records))
                assert chunk.skipped == []
                taken = chunk.cursor
            else:
                taken = end
            # Through JSON, as the monitor stores it in the ledger.
            return (
                None
                if taken is None
                else Cursor.from_json(orjson.loads(orjson.dumps(taken.to_json())))
            )

        try:
            for number, size in enumerate(batches):
                ids = [f"b{number}-{k}" for k in range(size)]
                log.submit([make_record(i) for i in ids])
                expected.extend(ids)
                action = data.draw(st.sampled_from(["none", "read", "flush+read", "compact"]))
                if action == "flush+read":
                    log.flush().result(10)
                if action in ("read", "flush+read"):
                    cursor = read_some()
                if action == "compact":
                    compact(folder)
        finally:
            log.close()
        if data.draw(st.booleans(), label="compact at the end"):
            compact(folder)
        cursor = read_some()
        records, skipped, _ = reader.read_all(cursor)
        seen.extend(ids_of(records))
        assert skipped == []
        assert seen == expected


# --------------------------------------------------------------------------- kill -9


def _start_child(
    folder: Path, mode: str, threads: int, segment_max_bytes: int
) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(CHILD), "write", str(folder), mode, str(threads)]
    return subprocess.Popen(
        [*command, str(segment_max_bytes)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _acknowledged(
    child: subprocess.Popen[bytes], until: Callable[[int, float], bool]
) -> tuple[dict[str, float], float]:
    """Read acknowledged ids until `until(count, seconds)`, SIGKILL the child, read the rest."""
    assert child.stdout is not None
    assert child.stderr is not None
    watchdog = threading.Timer(60, child.kill)  # a hung child fails the test, never hangs it
    watchdog.start()
    acknowledged: dict[str, float] = {}
    began = time.monotonic()
    try:
        while not until(len(acknowledged), time.monotonic() - began):
            line = child.stdout.readline()
            assert line, f"the child stopped: {child.stderr.read().decode()[-2000:]}"
            prediction_id, when = line.split()
            acknowledged[prediction_id.decode()] = float(when)
        killed_at = time.monotonic()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        watchdog.cancel()
    for line in child.stdout.read().splitlines():
        # Responses sent before the kill; a line cut by the kill was never sent whole.
        parts = line.split()
        if len(parts) == 2:
            acknowledged[parts[0].decode()] = float(parts[1])
    child.stdout.close()
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return acknowledged, killed_at


def test_kill_9_in_durable_mode_loses_no_acknowledged_prediction(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    acknowledged: set[str] = set()
    for kills, kill_point in enumerate((150, 400, 900), start=1):
        # The same folder each time: a restart after kill -9 carries on beside the wreck.
        child = _start_child(folder, "durable", threads=8, segment_max_bytes=24_000)
        acked, _ = _acknowledged(child, lambda count, _, k=kill_point: count >= k)
        acknowledged |= set(acked)
        records, skipped, _ = LogReader(folder).read_all()
        present = set(ids_of(records))
        missing = acknowledged - present
        assert not missing, (
            f"{len(missing)} acknowledged predictions lost, e.g. {sorted(missing)[:3]}"
        )
        assert len(ids_of(records)) == len(present), "a record was read twice"
        # At most one record per kill is cut short (its writer died mid-write).
        assert all(s.reason.startswith("truncated record") for s in skipped), skipped
        assert len(skipped) <= kills
    # A writer reopening the folder indexes what the dead ones wrote, so feedback knows
    # every acknowledged id; the wreck is compacted.
    with PredictionLog(folder, mode="durable") as log, FeedbackStore(folder, log=log) as store:
        assert all(store.is_known(prediction_id) for prediction_id in acknowledged)
    compact(folder)
    records, _, _ = LogReader(folder).read_all()
    assert acknowledged <= set(ids_of(records))


def test_kill_9_in_fast_mode_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    """The documented bound: only records acknowledged within ~flush_interval_s (0.1 s) of
    the kill may be lost. Asserted with a wide margin (1 s); the loss is printed."""
    folder = tmp_path / "log"
    child = _start_child(folder, "fast", threads=4, segment_max_bytes=1 << 20)
    acked, killed_at = _acknowledged(child, lambda count, seconds: count >= 2000 and seconds >= 1.5)
    records, skipped, _ = LogReader(folder).read_all()
    present = set(ids_of(records))
    lost = {i: killed_at - t for i, t in acked.items() if i not in present}
    old_and_lost = [i for i, age in lost.items() if age > 1.0]
    oldest_ms = max(lost.values(), default=0) * 1000
    print(
        f"\nfast mode, kill -9: {len(acked)} acknowledged, {len(lost)} lost "
        f"(the oldest lost was acknowledged {oldest_ms:.0f} ms before the kill)"
    )
    assert not old_and_lost
    assert all(s.reason.startswith("truncated record") for s in skipped)


def test_a_damaged_parquet_segment_is_named_not_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    _write_closed_segment(folder, [_line("r0")])
    (made,) = compact(folder)
    made.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"segment .*\.parquet cannot be read: .*Move it aside"):
        LogReader(folder).read_all()


def test_a_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(PredictionLogError, match=r"folder .*file/log cannot be created"):
        PredictionLog(tmp_path / "file" / "log", mode="durable")


def test_ids_reach_the_index_for_other_processes_soon_after_traffic_stops(
    open_log: Callable[..., PredictionLog], tmp_path: Path
) -> None:
    """The index is written at most every 0.5 s under load; once traffic stops, the ids
    still reach it (another worker's FeedbackStore reads only the index)."""
    log = open_log(mode="fast", compact=False)
    log.submit([make_record(f"quiet{i}") for i in range(3)])
    with FeedbackStore(tmp_path / "log") as other:
        eventually(lambda: all(other.is_known(f"quiet{i}") for i in range(3)), timeout=10)
    assert not log.knows("quiet0")
