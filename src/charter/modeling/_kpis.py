"""KPI values computed offline, through the metric registry: on out-of-fold or held-out rows.

One `Predictions` holds the truth and the model's output on some rows with the rows' data
(for `by` groups and `where` slices). `evaluate_kpi` computes a charter KPI on it:
model, business and fairness metrics from the registry, the latency KPIs from an
in-process estimate, `missing_rate` on the data; the rest (served errors, throughput,
drift) only exist once the model is served and come back as None with the reason.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from charter.modeling._features import MISSING_LABEL
from charter.spec.metrics import Metric, MetricError, MetricInputs, MetricKind, get_metric
from charter.spec.schema import KPI, Task
from charter.values import category_strings, normalize_value

#: Numeric `by` columns with more distinct values than this are cut into quantile groups.
MAX_NUMERIC_GROUPS = 10
#: The number of quantile groups a numeric `by` column is cut into.
QUANTILE_GROUPS = 4
#: Latency KPIs measured in process (the server measures the live ones).
LATENCY_METRICS = frozenset({"latency_p50_ms", "latency_p99_ms"})
#: The thresholds tried when the decision threshold is chosen for value.
THRESHOLD_GRID = tuple(round(0.01 * step, 2) for step in range(1, 100))


@dataclass(frozen=True)
class Predictions:
    """Truth and predictions on some rows, with the rows' data for groups and slices.

    Classification: `y_true` holds class codes and `proba` the (n, K) probabilities;
    binary decisions use `threshold`. Regression: `y_true` and `values` are numbers.
    """

    task: Task
    y_true: np.ndarray
    frame: pd.DataFrame
    proba: np.ndarray | None = None
    values: np.ndarray | None = None
    threshold: float | None = None
    positive_code: int | None = None

    @property
    def n(self) -> int:
        return len(self.y_true)

    @property
    def n_classes(self) -> int:
        return 0 if self.proba is None else int(self.proba.shape[1])

    def predicted(self) -> np.ndarray:
        """Predicted codes (classification) or values (regression)."""
        if self.task == "regression":
            assert self.values is not None
            return self.values
        assert self.proba is not None
        if self.task == "binary_classification":
            threshold = 0.5 if self.threshold is None else self.threshold
            return (self.proba[:, 1] >= threshold).astype(np.int64)
        return np.asarray(self.proba.argmax(axis=1), dtype=np.int64)

    def take(self, mask: np.ndarray) -> Predictions:
        """The same predictions on the rows where `mask` holds."""
        rows = np.flatnonzero(mask)
        return replace(
            self,
            y_true=self.y_true[rows],
            frame=self.frame.iloc[rows].reset_index(drop=True),
            proba=None if self.proba is None else self.proba[rows],
            values=None if self.values is None else self.values[rows],
        )

    def inputs(self, groups: Mapping[str, np.ndarray] | None = None) -> MetricInputs:
        """The registry's inputs for these rows."""
        if self.task == "regression":
            return MetricInputs(
                y_true=self.y_true, y_pred=self.predicted(), groups=groups, task=self.task
            )
        assert self.proba is not None
        score = self.proba[:, 1] if self.task == "binary_classification" else self.proba
        return MetricInputs(
            y_true=self.y_true,
            y_pred=self.predicted(),
            y_score=score,
            classes=list(range(self.n_classes)),
            positive=self.positive_code,
            groups=groups,
            task=self.task,
        )


@dataclass(frozen=True)
class KpiValue:
    """A KPI's value where it can be computed offline, else None with the reason in `note`.

    `estimate` marks a value measured in process that the server measures for real
    (latency; `note` says so); `rows` is the number of rows it was computed on.
    """

    name: str
    metric: str
    kind: str
    gate: str
    value: float | None
    at_least: float | None = None
    at_most: float | None = None
    estimate: bool = False
    note: str | None = None
    rows: int | None = None
    where: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "kind": self.kind,
            "gate": self.gate,
            "value": self.value,
            "at_least": self.at_least,
            "at_most": self.at_most,
            "estimate": self.estimate,
            "note": self.note,
            "rows": self.rows,
            "where": None if self.where is None else dict(self.where),
        }


def meets(kpi: KPI, value: float) -> bool:
    """Whether `value` is within the KPI's `at_least` and `at_most`."""
    if kpi.at_least is not None and value < kpi.at_least:
        return False
    return not (kpi.at_most is not None and value > kpi.at_most)


def fmt(value: float) -> str:
    """A number for a reason or a label: four significant digits."""
    return f"{value:.4g}"


# --- groups and slices -----------------------------------------------------------------


def group_labels(series: pd.Series) -> tuple[np.ndarray, bool]:
    """Each row's group as text, and whether numeric values were cut into quantile groups.

    Missing values form the group "(missing)". A numeric column with more than
    `MAX_NUMERIC_GROUPS` distinct values is cut at its quartiles into "[a, b)" groups.
    """
    if ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(numbers)
        if len(np.unique(numbers[present])) > MAX_NUMERIC_GROUPS:
            quantiles = np.linspace(0, 1, QUANTILE_GROUPS + 1)[1:-1]
            inner = np.unique(np.quantile(numbers[present], quantiles))
            edges = [-np.inf, *inner.tolist(), np.inf]
            names = [
                f"[{fmt(low) if np.isfinite(low) else '-inf'}, "
                f"{fmt(high) if np.isfinite(high) else 'inf'})"
                for low, high in itertools.pairwise(edges)
            ]
            codes = np.searchsorted(inner, numbers, side="right")
            out = np.empty(len(series), dtype=object)
            out[:] = MISSING_LABEL
            named = np.asarray(names, dtype=object)
            out[present] = named[codes[present]]
            return out, True
    labels = category_strings(series)
    missing = pd.isna(labels)
    labels[missing] = MISSING_LABEL
    return labels, False


def slice_mask(frame: pd.DataFrame, where: Mapping[str, Any]) -> np.ndarray:
    """The rows of `frame` in the slice `where` (column -> value or values); KeyError if absent."""
    mask = np.ones(len(frame), dtype=bool)
    for column, wanted in where.items():
        if column not in frame.columns:
            raise KeyError(column)
        values = wanted if isinstance(wanted, list | tuple) else (wanted,)
        keys = {normalize_value(value) for value in values}
        mask &= np.isin(category_strings(frame[column]), list(keys))
    return mask


def describe_where(where: Mapping[str, Any]) -> str:
    return ", ".join(f"{column}={value!r}" for column, value in where.items())


# --- evaluation ------------------------------------------------------------------------


def _value(kpi: KPI, metric: Metric, value: float | None, **extra: Any) -> KpiValue:
    return KpiValue(
        name=kpi.name,
        metric=kpi.metric,
        kind=metric.kind.value,
        gate=kpi.gate,
        value=value,
        at_least=kpi.at_least,
        at_most=kpi.at_most,
        where=None if kpi.where is None else dict(kpi.where),
        **extra,
    )


def evaluate_kpi(
    kpi: KPI, predictions: Predictions, latencies_ms: np.ndarray | None = None
) -> KpiValue:
    """The KPI's value on `predictions` (its `where` slice, its `by` groups), or why not."""
    metric = get_metric(kpi.metric)
    if metric.kind is MetricKind.OPERATIONAL:
        if metric.name in LATENCY_METRICS and latencies_ms is not None and len(latencies_ms):
            value = metric.compute(MetricInputs(latencies_ms=latencies_ms))
            return _value(
                kpi,
                metric,
                value,
                estimate=True,
                rows=len(latencies_ms),
                note="an in-process estimate: single rows through the fitted pipeline; "
                "the served latency is measured live",
            )
        return _value(kpi, metric, None, note="measured while the model is served")
    if metric.name == "max_psi":
        return _value(kpi, metric, None, note="monitor-only: compares live data with the reference")
    rows = predictions
    if kpi.where:
        try:
            mask = slice_mask(predictions.frame, kpi.where)
        except KeyError as exc:
            return _value(kpi, metric, None, note=f"the slice column {exc} is not in the data")
        if not mask.any():
            return _value(
                kpi,
                metric,
                None,
                rows=0,
                note=f"no rows in the slice {describe_where(kpi.where)}",
            )
        rows = predictions.take(mask)
    params = kpi.params
    try:
        if metric.kind is MetricKind.DATA:
            columns = {str(c): rows.frame[c].to_numpy(dtype=object) for c in rows.frame.columns}
            value = metric.compute(MetricInputs(columns=columns), **params)
        else:
            groups = None
            if kpi.by is not None:
                if kpi.by not in rows.frame.columns:
                    return _value(
                        kpi, metric, None, note=f"the 'by' column {kpi.by!r} is not in the data"
                    )
                groups = {kpi.by: group_labels(rows.frame[kpi.by])[0]}
            value = metric.compute(rows.inputs(groups), **params)
    except MetricError as exc:
        return _value(kpi, metric, None, rows=rows.n, note=str(exc))
    return _value(kpi, metric, value, rows=rows.n)


def best_threshold(kpi: KPI, predictions: Predictions) -> float:
    """The binary threshold that maximises the `expected_value` KPI; ties go nearest 0.5."""
    best: tuple[float, float] | None = None
    chosen = 0.5
    for threshold in THRESHOLD_GRID:
        value = evaluate_kpi(kpi, replace(predictions, threshold=threshold)).value
        if value is None:
            continue
        key = (value, -abs(threshold - 0.5))
        if best is None or key > best:
            best, chosen = key, threshold
    return chosen


def value_kpi(kpis: tuple[KPI, ...]) -> KPI | None:
    """The first KPI whose metric is expected_value and that sets costs."""
    return next((k for k in kpis if k.metric == "expected_value" and k.costs), None)


# --- latency ---------------------------------------------------------------------------


def measure_latency(
    predict: Callable[[pd.DataFrame], Any],
    frame: pd.DataFrame,
    rows: int = 100,
    warmup: int = 5,
) -> np.ndarray:
    """Milliseconds per call of `predict` on single rows of `frame`, after a warm-up."""
    if len(frame) == 0:
        return np.zeros(0)
    picks = np.unique(np.linspace(0, len(frame) - 1, min(rows, len(frame))).astype(int))
    singles = [frame.iloc[[int(i)]] for i in picks]
    for single in singles[:warmup]:
        predict(single)
    timings = np.empty(len(singles))
    for index, single in enumerate(singles):
        start = time.perf_counter()
        predict(single)
        timings[index] = (time.perf_counter() - start) * 1000.0
    return timings
