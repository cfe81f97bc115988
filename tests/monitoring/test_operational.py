"""Operational KPIs from the log alone: latency percentiles, error rate, throughput."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from charter.monitoring import is_error, operational

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def test_latency_errors_and_throughput_of_a_window() -> None:
    records = [{"latency_ms": float(i), "output": {"prediction": 1}} for i in range(1, 101)]
    records += [{"latency_ms": 5.0, "output": {"error": "model failed"}}] * 10
    figures = operational(records, T0, T0 + timedelta(seconds=10))
    latencies = [float(i) for i in range(1, 101)] + [5.0] * 10
    assert figures["latency_p50_ms"] == pytest.approx(np.percentile(latencies, 50))
    assert figures["latency_p99_ms"] == pytest.approx(np.percentile(latencies, 99))
    assert figures["error_rate"] == pytest.approx(10 / 110)
    assert figures["throughput"] == pytest.approx(11.0)


def test_bad_latencies_are_left_out_and_a_burst_is_not_infinite() -> None:
    records = [
        {"latency_ms": "slow"},
        {"latency_ms": True},
        {"latency_ms": float("nan")},
        {"latency_ms": 1e308},
        {},
        {"latency_ms": 2.0},
    ]
    figures = operational(records, T0, T0)
    assert figures["latency_p50_ms"] == pytest.approx((2.0 + 1e308) / 2)
    assert figures["throughput"] == pytest.approx(6.0)  # at least one second of span


def test_an_empty_window_has_no_figures() -> None:
    assert set(operational([], T0, T0).values()) == {None}


def test_error_records_are_recognised_both_ways() -> None:
    assert is_error({"error": "timeout"})
    assert is_error({"output": {"error": "bad"}})
    assert not is_error({"output": {"prediction": 1}})
