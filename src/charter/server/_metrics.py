"""Prometheus metrics of one app, in its own registry (two apps in a process never mix)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _LogCollector(Collector):
    """The prediction log's own figures (its lag and queue), read at scrape time."""

    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            stats = self._stats()
        except Exception:
            return
        if stats is None:
            return
        if not isinstance(stats, Mapping):
            stats = {
                name: getattr(stats, name)
                for name in dir(stats)
                if not name.startswith("_") and not callable(getattr(stats, name))
            }
        for name, value in sorted(stats.items()):
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            metric = "".join(c if c.isalnum() else "_" for c in str(name)).lower()
            yield GaugeMetricFamily(
                f"charter_prediction_log_{metric}",
                f"The prediction log writer's {str(name).replace('_', ' ')} (see LogStats).",
                value=float(value),
            )


class ServerMetrics:
    """The app's request, prediction, feedback, model and log metrics."""

    def __init__(self, regression: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "charter_requests",
            "HTTP requests answered, by endpoint and status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "charter_request_latency_seconds",
            "Time to answer an HTTP request, by endpoint and status.",
            ["endpoint", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "charter_predictions",
            "Predictions answered, by predicted class (classification).",
            ["model_version", "predicted"],
            registry=self.registry,
        )
        self.values = Histogram(
            "charter_predicted_value",
            "Predicted values (regression).",
            ["model_version"],
            buckets=(-1e6, -1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e6),
            registry=self.registry,
        )
        self.feedback = Counter(
            "charter_feedback",
            "Feedback labels received, by outcome (created, duplicate, conflict, unknown).",
            ["outcome"],
            registry=self.registry,
        )
        self.model = Gauge(
            "charter_model_info",
            "The model version being served (value 1), with its candidate and predictor kind.",
            ["version", "candidate", "predictor"],
            registry=self.registry,
        )
        self.switches = Counter(
            "charter_model_switches",
            "Model version switches while serving.",
            registry=self.registry,
        )
        self._prediction_children: dict[tuple[int, str], Any] = {}
        self._latency_children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def watch_log(self, stats: Callable[[], Any]) -> None:
        self.registry.register(_LogCollector(stats))

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, str(status))
        children = self._latency_children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(*key))
            self._latency_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_predictions(self, version: int, labels: list[Any]) -> None:
        counts: dict[str, int] = {}
        for label in labels:
            key = label if isinstance(label, str) else str(label)
            counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():
            child = self._prediction_children.get((version, key))
            if child is None:
                child = self.predictions.labels(str(version), key)
                self._prediction_children[(version, key)] = child
            child.inc(n)

    def observe_values(self, version: int, values: list[float]) -> None:
        child = self.values.labels(str(version))
        for value in values:
            child.observe(value)

    def set_model(self, version: int, candidate: str, predictor: str) -> None:
        self.model.clear()
        self.model.labels(str(version), candidate, predictor).set(1)

    def exposition(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data
