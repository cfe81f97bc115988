"""Cutting the prediction log into windows: by count, by time, per version, resumable."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.monitoring import WindowCutter, WindowError, WindowSpec, record_time, record_version

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def rec(i: int, version: int = 1, seconds: float | None = None) -> dict[str, Any]:
    when = T0 + timedelta(seconds=i if seconds is None else seconds)
    return {
        "prediction_id": f"p{i}",
        "time": when.isoformat(),
        "model_version": str(version),
        "input": {"x": i},
        "output": {"prediction": "Yes"},
        "latency_ms": 1.0,
    }


def test_count_windows_are_cut_per_version_in_log_order() -> None:
    cutter = WindowCutter(WindowSpec(predictions=3))
    records = [rec(i, version=1 + i % 2) for i in range(10)]
    windows = cutter.add(records)
    assert [(w.version, w.key, [r["prediction_id"] for r in w.records]) for w in windows] == [
        (1, "n3-00000000", ["p0", "p2", "p4"]),
        (2, "n3-00000000", ["p1", "p3", "p5"]),
    ]
    assert cutter.pending_records == 4
    assert windows[0].start == T0
    assert windows[0].end == T0 + timedelta(seconds=4)


def test_a_resumed_cutter_cuts_exactly_what_one_pass_would() -> None:
    records = [rec(i) for i in range(25)]
    whole = WindowCutter(WindowSpec(predictions=4)).add(records)
    first = WindowCutter(WindowSpec(predictions=4))
    got = first.add(records[:9])
    state = json.loads(json.dumps(first.state()))  # survives a JSON round trip
    second = WindowCutter(WindowSpec(predictions=4), state=state)
    got += second.add(records[9:])
    assert [(w.key, w.records) for w in got] == [(w.key, w.records) for w in whole]
    assert second.pending_records == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), max_size=6), st.integers(2, 7))
def test_any_cut_of_the_reads_gives_the_same_windows(cuts: list[int], size: int) -> None:
    records = [rec(i, version=1 + i % 3) for i in range(60)]
    whole = WindowCutter(WindowSpec(predictions=size)).add(records)
    got: list[Any] = []
    state = None
    bounds = [0, *sorted(cuts), 60]
    for start, stop in itertools.pairwise(bounds):
        cutter = WindowCutter(WindowSpec(predictions=size), state=state)
        got += cutter.add(records[start:stop])
        state = cutter.state()
    assert [(w.version, w.key, w.records) for w in got] == [
        (w.version, w.key, w.records) for w in whole
    ]


def test_time_windows_are_cut_once_their_span_and_the_grace_have_passed() -> None:
    cutter = WindowCutter(WindowSpec(predictions=None, minutes=1))
    cutter.add([rec(i, seconds=i * 20) for i in range(7)])  # 0 s .. 120 s
    assert cutter.due(T0 + timedelta(seconds=62)) == []  # within the grace
    first = cutter.due(T0 + timedelta(seconds=66))
    assert [w.key for w in first] == ["t1m-20260301T120000Z"]
    assert [r["prediction_id"] for r in first[0].records] == ["p0", "p1", "p2"]
    assert first[0].end - first[0].start == timedelta(minutes=1)
    # A record of the window already cut arrives late: counted, not evaluated.
    cutter.add([rec(99, seconds=30)])
    assert cutter.late == 1
    later = cutter.due(T0 + timedelta(minutes=10))
    assert [len(w.records) for w in later] == [3, 1]


def test_unreadable_records_are_counted_and_left_out() -> None:
    cutter = WindowCutter(WindowSpec(predictions=2))
    bad = [
        {**rec(0), "model_version": "latest"},
        {**rec(1), "time": "yesterday"},
        {**rec(2), "model_version": None},
        {**rec(3), "time": 17},
    ]
    assert cutter.add([*bad, rec(4), rec(5)])[0].size == 2
    assert cutter.unreadable == 4


def test_a_changed_spec_starts_its_windows_anew() -> None:
    old = WindowCutter(WindowSpec(predictions=3))
    old.add([rec(i) for i in range(5)])
    new = WindowCutter(WindowSpec(predictions=10), state=old.state())
    assert new.pending_records == 0


@pytest.mark.parametrize(
    ("predictions", "minutes"), [(None, None), (10, 5.0), (0, None), (None, -1.0)]
)
def test_a_bad_window_spec_is_refused(predictions: int | None, minutes: float | None) -> None:
    with pytest.raises(WindowError, match="must"):
        WindowSpec(predictions=predictions, minutes=minutes)


def test_a_state_of_another_format_is_refused_with_a_way_out() -> None:
    with pytest.raises(WindowError, match="Delete the state file"):
        WindowCutter(WindowSpec(), state={"version": 99, "pending": {}})


def test_record_time_and_version_read_what_the_server_writes() -> None:
    assert record_time({"time": "2026-03-01T12:00:00"}) == T0  # naive is UTC
    assert record_time({"time": "2026-03-01T13:00:00+01:00"}) == T0
    assert record_time({}) is None
    assert record_version({"model_version": "7"}) == 7
    assert record_version({"model_version": "0"}) is None
