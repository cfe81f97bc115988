"""Operational KPIs of a window, from the prediction log alone: latency, errors, throughput."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from charter.spec.metrics import MetricError, MetricInputs, get_metric


def is_error(record: Mapping[str, Any]) -> bool:
    """Whether a logged record is a failed request (the server logs those with an `error`)."""
    output = record.get("output")
    return bool(record.get("error")) or (isinstance(output, Mapping) and "error" in output)


def operational(
    records: Sequence[Mapping[str, Any]], start: datetime, end: datetime
) -> dict[str, float | None]:
    """Latency p50/p99 (ms), error rate and throughput (requests per second) of the records.

    The throughput divides the records by the window's span (at least one second, so a
    burst logged within one timestamp does not read as infinite). Latencies that are
    missing or not finite are left out. The values come from the KPI metric registry, so
    they mean exactly what a charter's operational KPI means.
    """
    latencies = np.array(
        [
            float(r["latency_ms"])
            for r in records
            if isinstance(r.get("latency_ms"), int | float)
            and not isinstance(r["latency_ms"], bool)
        ],
        dtype=np.float64,
    )
    latencies = latencies[np.isfinite(latencies)]
    errors = np.array([is_error(r) for r in records], dtype=bool)
    duration = max((end - start).total_seconds(), 1.0)
    out: dict[str, float | None] = {}
    for name, inputs in (
        ("latency_p50_ms", MetricInputs(latencies_ms=latencies)),
        ("latency_p99_ms", MetricInputs(latencies_ms=latencies)),
        ("error_rate", MetricInputs(errors=errors)),
        ("throughput", MetricInputs(latencies_ms=np.zeros(len(records)), duration_s=duration)),
    ):
        try:
            out[name] = float(get_metric(name).compute(inputs))
        except MetricError:  # an empty window: no value, said by None
            out[name] = None
    return out
