"""The numeric kernels behind `Metric.compute`: validated inputs in, one finite float out.

Vectorised numpy only; scikit-learn and fairlearn are the references in the tests, never
imported here. Each model kernel takes a `_Data`, the validated arrays of one metric: the
inputs are checked once (lengths, NaN, probability range, labels against the classes) and
the task, the positive label and the class order are resolved once, on all rows, so a
per-group slice is computed exactly like the whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from charter.spec.metrics import (
    PSI_EPSILON,
    REGRESSION_COSTS,
    WORST_GROUP_PREFIX,
    Metric,
    MetricError,
    MetricInputs,
    get_metric,
    parse_by,
    parse_column,
    parse_costs,
    parse_k,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]
AnyArray = NDArray[Any]

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
# Rows of multiclass probabilities must sum to 1 within this; float32 output passes.
_ROW_SUM_TOLERANCE = 1e-6


# --- conversion and validation ----------------------------------------------------------


def _fail(metric: str, field: str, constraint: str, got: str) -> MetricError:
    return MetricError(
        f"The {field!r} of the inputs to metric {metric!r} must be {constraint}. Got {got} instead."
    )


def _asarray(metric: str, field: str, values: object, dtype: Any = None) -> AnyArray:
    try:
        arr: AnyArray = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        wanted = "numbers" if dtype is not None else "a one-dimensional array"
        raise _fail(metric, field, wanted, f"values numpy cannot convert ({exc})") from None
    return arr


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    # pandas' NA and NaT, recognised without importing pandas.
    return type(value).__name__ in ("NAType", "NaTType")


def _missing_mask(arr: AnyArray) -> BoolArray:
    kind = arr.dtype.kind
    if kind in "fc":
        return np.asarray(np.isnan(arr), dtype=np.bool_)
    if kind in "mM":
        return np.asarray(np.isnat(arr), dtype=np.bool_)
    if kind == "O":
        return np.fromiter((_is_missing(v) for v in arr.ravel()), np.bool_, arr.size)
    return np.zeros(arr.shape, dtype=np.bool_)


def _labels(metric: str, field: str, values: object) -> AnyArray:
    arr = _asarray(metric, field, values)
    if arr.ndim != 1:
        raise _fail(metric, field, "a one-dimensional array of labels", f"shape {arr.shape}")
    if arr.size == 0:
        raise _fail(metric, field, "non-empty", "an empty array")
    missing = _missing_mask(arr)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise _fail(metric, field, "labels without missing values", f"{arr[row]!r} at row {row}")
    return arr


def _numbers(metric: str, field: str, values: object, ndim: int = 1) -> FloatArray:
    arr = _asarray(metric, field, values, dtype=np.float64)
    if arr.ndim != ndim:
        shape = "(n,)" if ndim == 1 else "(n, n_classes)"
        raise _fail(metric, field, f"an array of numbers of shape {shape}", f"shape {arr.shape}")
    if arr.size == 0:
        raise _fail(metric, field, "non-empty", "an empty array")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise _fail(metric, field, "finite numbers", f"{arr[tuple(where)]} at row {where[0]}")
    return arr


def _probabilities(metric: str, values: object, ndim: int) -> FloatArray:
    arr = _numbers(metric, "y_score", values, ndim)
    low, high = float(arr.min()), float(arr.max())
    if low < 0.0 or high > 1.0:
        raise _fail(metric, "y_score", "probabilities in [0, 1]", f"values from {low} to {high}")
    if ndim == 2:
        sums = arr.sum(axis=1)
        off = np.abs(sums - 1.0) > _ROW_SUM_TOLERANCE
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise _fail(
                metric, "y_score", "rows of probabilities summing to 1", f"{sums[row]} at row {row}"
            )
    return arr


def _same_length(metric: str, arrays: Mapping[str, Any]) -> int:
    lengths = {name: len(arr) for name, arr in arrays.items() if arr is not None}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise MetricError(
            f"The inputs to metric {metric!r} must have one row per prediction. "
            f"Got different lengths instead: {listed}."
        )
    return next(iter(lengths.values()))


def _factorize(arr: AnyArray) -> tuple[list[Any], IntArray]:
    """The distinct values (sorted when they sort) and each row's index into them."""
    try:
        uniques, inverse = np.unique(arr, return_inverse=True)
        return list(uniques.tolist()), np.asarray(inverse, dtype=np.intp).reshape(-1)
    except TypeError:  # mixed types that do not sort: first-seen order
        seen: dict[Any, int] = {}
        codes = [seen.setdefault(v, len(seen)) for v in arr.tolist()]
        return list(seen), np.asarray(codes, dtype=np.intp)


def _is_zero_one(labels: Iterable[Any]) -> bool:
    return all(
        isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) and v in (0, 1)
        for v in labels
    )


def _matches(arr: AnyArray, value: object) -> BoolArray:
    uniques, codes = _factorize(arr)
    flags = np.array([bool(u == value) for u in uniques], dtype=np.bool_)
    return np.asarray(flags[codes], dtype=np.bool_)


def _codes(metric: str, field: str, arr: AnyArray, index: Mapping[Any, int]) -> IntArray:
    uniques, codes = _factorize(arr)
    try:
        mapped = np.array([index[u] for u in uniques], dtype=np.intp)
    except (KeyError, TypeError):
        unknown = [u for u in uniques if u not in index]
        raise _fail(
            metric, field, f"labels among the classes {list(index)}", f"{unknown[:5]!r}"
        ) from None
    return np.asarray(mapped[codes], dtype=np.intp)


# --- validated data for one metric ------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    """The checked arrays a model metric reads, with the task and labels resolved."""

    metric: str
    task: str
    n: int
    y_true: FloatArray | None = None  # regression values
    y_pred: FloatArray | None = None
    y_score: FloatArray | None = None  # binary (n,), multiclass (n, n_classes)
    truth: BoolArray | None = None  # y_true == positive
    predicted: BoolArray | None = None  # y_pred == positive
    true_codes: IntArray | None = None  # multiclass: index into classes
    pred_codes: IntArray | None = None
    classes: tuple[Any, ...] = ()
    positive: Any = None

    def take(self, rows: IntArray) -> _Data:
        """The same data restricted to `rows`."""
        changes: dict[str, Any] = {"n": len(rows)}
        for name in (
            "y_true",
            "y_pred",
            "y_score",
            "truth",
            "predicted",
            "true_codes",
            "pred_codes",
        ):
            arr = getattr(self, name)
            if arr is not None:
                changes[name] = arr[rows]
        return replace(self, **changes)

    def need(self, name: str) -> Any:
        value = getattr(self, name)
        if value is None:  # a registry inconsistency, not a user error
            raise AssertionError(f"metric {self.metric!r} read {name!r} but did not declare it")
        return value


def _class_list(metric: str, inputs: MetricInputs) -> list[Any] | None:
    """`inputs.classes` as plain Python values (numpy scalars print badly), or None."""
    classes = inputs.classes
    if classes is None:
        return None
    if isinstance(classes, np.ndarray):
        if classes.ndim != 1:
            raise _fail(metric, "classes", "a list of labels", f"shape {classes.shape}")
        return list(classes.tolist())
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise _fail(metric, "classes", "a list of labels", repr(classes))
    return list(classes)


def _declared_task(metric: Metric, inputs: MetricInputs, hint: str | None) -> str | None:
    """The task when the inputs, the metric or the caller's hint settle it; else None."""
    if inputs.task is not None:
        return inputs.task
    if len(metric.tasks) == 1:
        return next(iter(metric.tasks))
    return hint


def _inferred_task(metric: Metric, inputs: MetricInputs, seen: list[Any]) -> str:
    """Binary or multiclass, from the classes, the score's shape or the labels seen."""
    classes = _class_list(metric.name, inputs)
    if classes is not None:
        return BINARY if len(classes) == 2 else MULTICLASS
    if "y_score" in metric.inputs and inputs.y_score is not None and np.ndim(inputs.y_score) == 2:
        return MULTICLASS
    return BINARY if len(seen) <= 2 else MULTICLASS


def _distinct(arrays: Iterable[AnyArray]) -> list[Any]:
    seen: list[Any] = []
    for arr in arrays:
        for value in _factorize(arr)[0]:
            if value not in seen:
                seen.append(value)
    try:
        return sorted(seen)
    except TypeError:
        return seen


def _resolve_positive(name: str, inputs: MetricInputs, seen: list[Any]) -> Any:
    classes = _class_list(name, inputs)
    if inputs.positive is not None:
        positive = inputs.positive
        if classes is not None and positive not in classes:
            raise _fail(name, "positive", f"one of the classes {classes}", repr(positive))
        if classes is None and len(seen) == 2 and positive not in seen:
            raise _fail(name, "positive", f"one of the labels seen {seen}", repr(positive))
        return positive
    if classes is not None:
        if len(classes) != 2:
            raise _fail(name, "classes", "two labels for a binary task", repr(classes))
        return classes[1]
    if _is_zero_one(seen):
        return 1
    raise _fail(name, "positive", f"the positive label among {seen}", "None")


def _prepare(metric: Metric, inputs: MetricInputs, hint: str | None = None) -> _Data:
    """Validate the inputs `metric` reads and resolve its task, classes and positive label."""
    name = metric.name
    read = metric.inputs
    raw: dict[str, Any] = {f: getattr(inputs, f) for f in ("y_true", "y_pred") if f in read}
    task = _declared_task(metric, inputs, hint)
    if task == REGRESSION:
        numbers = {f: _numbers(name, f, v) for f, v in raw.items()}
        n = _same_length(name, numbers)
        return _Data(name, REGRESSION, n, numbers.get("y_true"), numbers.get("y_pred"))

    labels: dict[str, AnyArray] = {f: _labels(name, f, v) for f, v in raw.items()}
    seen = _distinct(labels.values())
    if task is None:
        task = _inferred_task(metric, inputs, seen)
    if task not in metric.tasks:
        raise _fail(name, "task", f"one of {sorted(metric.tasks)}", repr(task))

    if task == BINARY:
        score = _probabilities(name, inputs.y_score, 1) if "y_score" in read else None
        n = _same_length(name, {**labels, "y_score": score})
        if len(seen) > 2:
            field = " and ".join(labels)
            raise _fail(name, field, "at most two labels for a binary task", repr(seen[:5]))
        given_classes = _class_list(name, inputs)
        if given_classes is not None:
            outside = [v for v in seen if v not in given_classes]
            if outside:
                raise _fail(name, "y_true", f"labels among {given_classes}", repr(outside))
        positive = _resolve_positive(name, inputs, seen)
        flags = {f: _matches(arr, positive) for f, arr in labels.items()}
        return _Data(
            name,
            BINARY,
            n,
            y_score=score,
            truth=flags.get("y_true"),
            predicted=flags.get("y_pred"),
            positive=positive,
        )

    # multiclass
    given_classes = _class_list(name, inputs)
    classes = tuple(seen if given_classes is None else given_classes)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise _fail(name, "classes", "two or more distinct labels", repr(list(classes)))
    score = _probabilities(name, inputs.y_score, 2) if "y_score" in read else None
    n = _same_length(name, {**labels, "y_score": score})
    if score is not None and score.shape[1] != len(classes):
        given = "given" if inputs.classes is not None else "found in y_true; pass inputs.classes"
        raise _fail(
            name,
            "y_score",
            f"one column per class ({len(classes)} {given})",
            f"{score.shape[1]} columns",
        )
    index = {c: i for i, c in enumerate(classes)}
    codes = {f: _codes(name, f, arr, index) for f, arr in labels.items()}
    positive = inputs.positive
    is_positive: dict[str, BoolArray] = {}
    if positive is not None:
        if positive not in index:
            raise _fail(name, "positive", f"one of the classes {list(classes)}", repr(positive))
        is_positive = {f: np.asarray(c == index[positive]) for f, c in codes.items()}
    return _Data(
        name,
        MULTICLASS,
        n,
        y_score=score,
        truth=is_positive.get("y_true"),
        predicted=is_positive.get("y_pred"),
        true_codes=codes.get("y_true"),
        pred_codes=codes.get("y_pred"),
        classes=classes,
        positive=positive,
    )


# --- classification from labels ---------------------------------------------------------


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """num / den with 0 where den is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _confusion(data: _Data) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per label: true positives, predicted count, true count; over the labels present."""
    if data.task == BINARY:
        t, p = data.need("truth"), data.need("predicted")
        true_codes, pred_codes = t.astype(np.intp), p.astype(np.intp)
        size = 2
    else:
        true_codes, pred_codes = data.need("true_codes"), data.need("pred_codes")
        size = len(data.classes)
    tp = np.bincount(true_codes[true_codes == pred_codes], minlength=size).astype(np.float64)
    predicted = np.bincount(pred_codes, minlength=size).astype(np.float64)
    actual = np.bincount(true_codes, minlength=size).astype(np.float64)
    present = (predicted + actual) > 0
    return tp[present], predicted[present], actual[present]


def accuracy(data: _Data, params: Mapping[str, object]) -> float:
    if data.task == BINARY:
        return float(np.mean(data.need("truth") == data.need("predicted")))
    return float(np.mean(data.need("true_codes") == data.need("pred_codes")))


def balanced_accuracy(data: _Data, params: Mapping[str, object]) -> float:
    tp, _, actual = _confusion(data)
    support = actual > 0
    return float(np.mean(tp[support] / actual[support]))


def _positive_counts(data: _Data) -> tuple[float, float, float]:
    t, p = data.need("truth"), data.need("predicted")
    return float(np.sum(t & p)), float(np.sum(p)), float(np.sum(t))


def precision(data: _Data, params: Mapping[str, object]) -> float:
    if data.task == BINARY:
        tp, predicted, _ = _positive_counts(data)
        return tp / predicted if predicted else 0.0
    tps, predicted_counts, _ = _confusion(data)
    return float(np.mean(_ratio(tps, predicted_counts)))


def recall(data: _Data, params: Mapping[str, object]) -> float:
    if data.task == BINARY:
        tp, _, actual = _positive_counts(data)
        return tp / actual if actual else 0.0
    tps, _, actual_counts = _confusion(data)
    return float(np.mean(_ratio(tps, actual_counts)))


def f1(data: _Data, params: Mapping[str, object]) -> float:
    if data.task == BINARY:
        tp, predicted, actual = _positive_counts(data)
        return 2 * tp / (predicted + actual) if predicted + actual else 0.0
    tps, predicted_counts, actual_counts = _confusion(data)
    return float(np.mean(_ratio(2 * tps, predicted_counts + actual_counts)))


# --- classification from scores ---------------------------------------------------------


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_group = np.empty(len(values), dtype=np.bool_)
    starts_group[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_group[1:])
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], len(values))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((starts + 1 + ends) / 2.0)[group]
    return ranks


def _binary_auc(metric: str, truth: BoolArray, score: FloatArray, what: str) -> float:
    positives = int(truth.sum())
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        only = "negative" if positives == 0 else "positive"
        raise MetricError(
            f"The metric {metric!r} needs both classes in y_true{what}; only {only} rows "
            "are present, so the ROC AUC is undefined."
        )
    # Mann-Whitney U: the share of (positive, negative) pairs ordered right, ties half.
    rank_sum = float(_average_ranks(score)[truth].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def roc_auc(data: _Data, params: Mapping[str, object]) -> float:
    score = data.need("y_score")
    if data.task == BINARY:
        return _binary_auc(data.metric, data.need("truth"), score, "")
    codes = data.need("true_codes")
    aucs = [
        _binary_auc(data.metric, codes == k, score[:, k], f" for class {label!r} (one-vs-rest)")
        for k, label in enumerate(data.classes)
    ]
    return float(np.mean(aucs))


def pr_auc(data: _Data, params: Mapping[str, object]) -> float:
    truth, score = data.need("truth"), data.need("y_score")
    positives = int(truth.sum())
    if positives == 0:
        raise MetricError(
            f"The metric {data.metric!r} needs at least one positive row in y_true; "
            "with none, recall and average precision are undefined."
        )
    order = np.argsort(-score, kind="mergesort")
    ordered_score, ordered_truth = score[order], truth[order]
    # The last row of each run of equal scores: one threshold per distinct score.
    last = np.flatnonzero(np.append(ordered_score[1:] != ordered_score[:-1], True))
    tps = np.cumsum(ordered_truth, dtype=np.float64)[last]
    precision_at = tps / (last + 1)
    recall_at = tps / positives
    return float(np.sum(np.diff(recall_at, prepend=0.0) * precision_at))


def _one_hot(data: _Data) -> FloatArray:
    codes = data.need("true_codes")
    out = np.zeros((data.n, len(data.classes)), dtype=np.float64)
    out[np.arange(data.n), codes] = 1.0
    return out


def log_loss(data: _Data, params: Mapping[str, object]) -> float:
    eps = float(np.finfo(np.float64).eps)
    score = data.need("y_score")
    if data.task == BINARY:
        truth = data.need("truth")
        chosen = np.where(truth, score, 1.0 - score)
    else:
        chosen = score[np.arange(data.n), data.need("true_codes")]
    return float(-np.mean(np.log(np.clip(chosen, eps, 1.0 - eps))))


def brier(data: _Data, params: Mapping[str, object]) -> float:
    score = data.need("y_score")
    if data.task == BINARY:
        return float(np.mean((data.need("truth") - score) ** 2))
    loss = float(np.mean(np.sum((_one_hot(data) - score) ** 2, axis=1)))
    # scikit-learn halves the two-column case so it equals the binary Brier score.
    return loss / 2.0 if len(data.classes) == 2 else loss


def _top_k_positives(data: _Data, params: Mapping[str, object]) -> tuple[float, int]:
    """Expected positives among the top-k rows, ties at the cut broken at random; and k."""
    truth, score = data.need("truth"), data.need("y_score")
    k = parse_k(data.metric, params["k"])
    if isinstance(k, float):
        rows = max(1, math.ceil(round(k * data.n, 9)))
    else:
        rows = k
        if rows > data.n:
            raise MetricError(
                f"The 'k' of metric {data.metric!r} must be at most the number of rows "
                f"({data.n}). Got {k} instead."
            )
    cut = np.partition(score, data.n - rows)[data.n - rows]
    above, tied = score > cut, score == cut
    slots = rows - int(above.sum())
    found = float(truth[above].sum()) + slots * float(truth[tied].sum()) / float(tied.sum())
    return found, rows


def precision_at_k(data: _Data, params: Mapping[str, object]) -> float:
    found, rows = _top_k_positives(data, params)
    return found / rows


def recall_at_k(data: _Data, params: Mapping[str, object]) -> float:
    positives = float(data.need("truth").sum())
    if positives == 0:
        raise MetricError(
            f"The metric {data.metric!r} needs at least one positive row in y_true; "
            "with none, recall is undefined."
        )
    found, _ = _top_k_positives(data, params)
    return found / positives


# --- regression ------------------------------------------------------------------------


def _residuals(data: _Data) -> FloatArray:
    residual: FloatArray = data.need("y_pred") - data.need("y_true")
    return residual


def rmse(data: _Data, params: Mapping[str, object]) -> float:
    return float(np.sqrt(np.mean(_residuals(data) ** 2)))


def mae(data: _Data, params: Mapping[str, object]) -> float:
    return float(np.mean(np.abs(_residuals(data))))


def r2(data: _Data, params: Mapping[str, object]) -> float:
    if data.n < 2:
        raise MetricError(f"The metric {data.metric!r} needs at least two rows. Got {data.n}.")
    y_true = data.need("y_true")
    residual = float(np.sum(_residuals(data) ** 2))
    total = float(np.sum((y_true - np.mean(y_true)) ** 2))
    if total == 0.0:  # a constant target: scikit-learn's finite convention
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def mape(data: _Data, params: Mapping[str, object]) -> float:
    y_true = data.need("y_true")
    floor = np.maximum(np.abs(y_true), np.finfo(np.float64).eps)
    return float(np.mean(np.abs(_residuals(data)) / floor))


# --- business ---------------------------------------------------------------------------


def expected_value(data: _Data, params: Mapping[str, object]) -> float:
    costs = parse_costs(data.metric, params["costs"])
    if data.task == REGRESSION:
        if not set(costs) <= REGRESSION_COSTS:
            raise MetricError(
                f"The 'costs' of metric {data.metric!r} must use over and under for a "
                f"regression task. Got {sorted(costs)} instead."
            )
        residual = _residuals(data)
        over, under = np.maximum(residual, 0.0), np.maximum(-residual, 0.0)
        value = costs.get("over", 0.0) * over + costs.get("under", 0.0) * under
        return float(np.mean(value))
    if set(costs) & REGRESSION_COSTS:
        raise MetricError(
            f"The 'costs' of metric {data.metric!r} must use tp, fp, tn, fn for a "
            f"classification task. Got {sorted(costs)} instead."
        )
    if data.truth is None or data.predicted is None:
        raise _fail(data.metric, "positive", "given for a multiclass task", "None")
    t, p = data.truth, data.predicted
    counts = {
        "tp": np.sum(t & p),
        "fp": np.sum(~t & p),
        "tn": np.sum(~t & ~p),
        "fn": np.sum(t & ~p),
    }
    total = sum(costs.get(key, 0.0) * float(count) for key, count in counts.items())
    return total / data.n


# --- fairness ---------------------------------------------------------------------------


def _groups(
    metric: str, inputs: MetricInputs, params: Mapping[str, object], n: int
) -> list[tuple[str, IntArray]]:
    """Each group of `by` (a column, or the intersection of several): its name and rows."""
    groups = inputs.groups or {}
    columns = parse_by(metric, params["by"])
    combined = np.zeros(n, dtype=np.intp)
    names: list[list[Any]] = []
    for column in columns:
        if column not in groups:
            known = sorted(groups)
            raise MetricError(
                f"The 'by' of metric {metric!r} must name a column of inputs.groups "
                f"({', '.join(known) or 'none given'}). Got {column!r} instead."
            )
        values = _labels(metric, f"groups.{column}", groups[column])
        if len(values) != n:
            raise MetricError(
                f"The 'groups.{column}' of the inputs to metric {metric!r} must have one value "
                f"per row ({n}). Got {len(values)} instead."
            )
        uniques, codes = _factorize(values)
        combined = combined * len(uniques) + codes
        names.append(uniques)
    keys, inverse = np.unique(combined, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="mergesort")
    bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
    result = []
    for g, key in enumerate(keys.tolist()):
        parts = []
        rest = int(key)
        for column, uniques in zip(reversed(columns), reversed(names), strict=True):
            rest, code = divmod(rest, len(uniques))
            parts.append(f"{column}={uniques[code]!r}")
        label = ", ".join(reversed(parts))
        result.append((label, np.asarray(order[bounds[g] : bounds[g + 1]], dtype=np.intp)))
    return result


def _selection_rates(
    metric: Metric, inputs: MetricInputs, params: Mapping[str, object]
) -> FloatArray:
    data = _prepare(metric, inputs)
    predicted = data.need("predicted")
    groups = _groups(metric.name, inputs, params, data.n)
    return np.array([predicted[rows].mean() for _, rows in groups], dtype=np.float64)


def demographic_parity_difference(
    metric: Metric, inputs: MetricInputs, params: Mapping[str, object]
) -> float:
    rates = _selection_rates(metric, inputs, params)
    return float(rates.max() - rates.min())


def demographic_parity_ratio(
    metric: Metric, inputs: MetricInputs, params: Mapping[str, object]
) -> float:
    rates = _selection_rates(metric, inputs, params)
    if rates.max() == 0.0:
        raise MetricError(
            f"The metric {metric.name!r} is undefined when no group has a positive "
            "prediction (every selection rate is 0)."
        )
    return float(rates.min() / rates.max())


def equalized_odds_difference(
    metric: Metric, inputs: MetricInputs, params: Mapping[str, object]
) -> float:
    data = _prepare(metric, inputs)
    truth, predicted = data.need("truth"), data.need("predicted")
    tprs, fprs = [], []
    for label, rows in _groups(metric.name, inputs, params, data.n):
        t, p = truth[rows], predicted[rows]
        positives, negatives = int(t.sum()), int((~t).sum())
        if positives == 0 or negatives == 0:
            lacking = "positive" if positives == 0 else "negative"
            raise MetricError(
                f"The metric {metric.name!r} needs positive and negative rows in every group; "
                f"the group {label} has no {lacking} row, so its "
                f"{'true' if positives == 0 else 'false'} positive rate is undefined."
            )
        tprs.append(float((t & p).sum()) / positives)
        fprs.append(float((~t & p).sum()) / negatives)
    return max(max(tprs) - min(tprs), max(fprs) - min(fprs))


ModelKernel = Callable[[_Data, Mapping[str, object]], float]
InputsKernel = Callable[[Metric, MetricInputs, Mapping[str, object]], float]

_MODEL_KERNELS: dict[str, ModelKernel] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "roc_auc": roc_auc,
    "pr_auc": pr_auc,
    "log_loss": log_loss,
    "brier": brier,
    "precision_at_k": precision_at_k,
    "recall_at_k": recall_at_k,
    "rmse": rmse,
    "mae": mae,
    "r2": r2,
    "mape": mape,
}


def _worst_group(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    base = get_metric(metric.name.removeprefix(WORST_GROUP_PREFIX))
    kernel = _MODEL_KERNELS[base.name]
    data = replace(_prepare(base, inputs), metric=metric.name)
    values = []
    for label, rows in _groups(metric.name, inputs, params, data.n):
        try:
            values.append(kernel(data.take(rows), params))
        except MetricError as exc:
            raise MetricError(f"In the group {label}: {exc}") from None
    return min(values) if base.direction == "higher" else max(values)


def _expected_value(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    costs = parse_costs(metric.name, params["costs"])
    hint = None
    if inputs.task is None and set(costs) <= REGRESSION_COSTS:
        hint = REGRESSION
    return expected_value(_prepare(metric, inputs, hint), params)


# --- operational ------------------------------------------------------------------------


def _latencies(metric: Metric, inputs: MetricInputs) -> FloatArray:
    latencies = _numbers(metric.name, "latencies_ms", inputs.latencies_ms)
    if float(latencies.min()) < 0.0:
        raise _fail(metric.name, "latencies_ms", "non-negative", f"{latencies.min()}")
    return latencies


def latency_p50_ms(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    return float(np.percentile(_latencies(metric, inputs), 50))


def latency_p99_ms(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    return float(np.percentile(_latencies(metric, inputs), 99))


def error_rate(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    errors = _labels(metric.name, "errors", inputs.errors)
    if errors.dtype.kind != "b":
        if not _is_zero_one(_factorize(errors)[0]):
            raise _fail(metric.name, "errors", "booleans (true for a failed request)", "others")
        errors = errors.astype(np.bool_)
    return float(np.mean(errors))


def throughput(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    requests = len(_latencies(metric, inputs))
    duration = inputs.duration_s
    if (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float, np.integer, np.floating))
        or not math.isfinite(float(duration))
        or float(duration) <= 0.0
    ):
        raise _fail(metric.name, "duration_s", "a positive number of seconds", repr(duration))
    return requests / float(duration)


# --- data -------------------------------------------------------------------------------


def _select(
    metric: str, field: str, table: Mapping[str, Any], params: Mapping[str, object]
) -> list[str]:
    if not table:
        raise _fail(metric, field, "a non-empty mapping of columns", "an empty one")
    if "column" not in params:
        return sorted(table)
    column = parse_column(metric, params["column"])
    if column not in table:
        raise MetricError(
            f"The 'column' of metric {metric!r} must be one of {sorted(table)}. "
            f"Got {column!r} instead."
        )
    return [column]


def missing_rate(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    columns = inputs.columns or {}
    shares = []
    for column in _select(metric.name, "columns", columns, params):
        values = _asarray(metric.name, f"columns.{column}", columns[column])
        if values.ndim != 1 or values.size == 0:
            raise _fail(
                metric.name, f"columns.{column}", "a non-empty one-dimensional array", "otherwise"
            )
        shares.append(float(np.mean(_missing_mask(values))))
    return max(shares)


def _proportions(metric: str, field: str, counts: object) -> FloatArray:
    arr = _numbers(metric, field, counts)
    if float(arr.min()) < 0.0 or float(arr.sum()) <= 0.0:
        raise _fail(metric, field, "non-negative bin counts with a positive total", repr(counts))
    share = arr / arr.sum()
    # An empty bin would make the logarithm infinite; PSI_EPSILON stands in for it.
    return np.where(share == 0.0, PSI_EPSILON, share)


def psi(reference: FloatArray, current: FloatArray) -> float:
    """The Population Stability Index of two proportion vectors over the same bins."""
    return float(np.sum((current - reference) * np.log(current / reference)))


def max_psi(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    reference = inputs.reference_counts or {}
    current = inputs.current_counts or {}
    if set(reference) != set(current):
        raise MetricError(
            f"The 'current_counts' of the inputs to metric {metric.name!r} must cover the same "
            f"features as reference_counts. Got only in reference: "
            f"{sorted(set(reference) - set(current))}, only in current: "
            f"{sorted(set(current) - set(reference))} instead."
        )
    values = []
    for feature in _select(metric.name, "reference_counts", reference, params):
        ref = _proportions(metric.name, f"reference_counts.{feature}", reference[feature])
        cur = _proportions(metric.name, f"current_counts.{feature}", current[feature])
        if len(ref) != len(cur):
            raise MetricError(
                f"The 'current_counts.{feature}' of the inputs to metric {metric.name!r} must "
                f"have the reference's {len(ref)} bins. Got {len(cur)} instead."
            )
        values.append(psi(ref, cur))
    return max(values)


_INPUTS_KERNELS: dict[str, InputsKernel] = {
    "expected_value": _expected_value,
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "latency_p50_ms": latency_p50_ms,
    "latency_p99_ms": latency_p99_ms,
    "error_rate": error_rate,
    "throughput": throughput,
    "missing_rate": missing_rate,
    "max_psi": max_psi,
}


def compute(metric: Metric, inputs: MetricInputs, params: Mapping[str, object]) -> float:
    """Evaluate `metric`; the parameters are validated and None-free, the inputs present."""
    if metric.name.startswith(WORST_GROUP_PREFIX):
        value = _worst_group(metric, inputs, params)
    elif metric.name in _MODEL_KERNELS:
        value = _MODEL_KERNELS[metric.name](_prepare(metric, inputs), params)
    elif metric.name in _INPUTS_KERNELS:
        value = _INPUTS_KERNELS[metric.name](metric, inputs, params)
    else:
        raise AssertionError(f"no kernel for the registered metric {metric.name!r}")
    if not math.isfinite(value):
        raise MetricError(f"The metric {metric.name!r} is not finite on these inputs: {value}.")
    return float(value)
