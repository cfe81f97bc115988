"""The KPI metric registry: one conformance suite over every metric, and the references.

scikit-learn and fairlearn are the references: each model metric must equal scikit-learn's
and each fairness metric fairlearn's, to 1e-9, on random data with tied scores.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from charter.spec import metrics as registry
from charter.spec.metrics import (
    METRICS,
    PSI_EPSILON,
    TASKS,
    WORST_GROUP_PREFIX,
    Metric,
    MetricError,
    MetricInputs,
    MetricKind,
    UnknownMetricError,
    get_metric,
    metric_names,
    suggest,
)

TOL = 1e-9
SEEDS = range(5)
BINARY, MULTICLASS, REGRESSION = TASKS
MODEL_METRICS = sorted(n for n, m in METRICS.items() if m.kind is MetricKind.MODEL)

# --- factories ----------------------------------------------------------------------------


def binary_data(seed: int, n: int = 240, labels: tuple[Any, Any] = ("No", "Yes")) -> MetricInputs:
    """Binary labels with tied scores (two decimals), predictions and two protected columns."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.4
    score = np.round(np.clip(0.25 * truth + 0.75 * rng.random(n), 0.0, 1.0), 2)
    predicted = rng.random(n) < score
    negative, positive = labels
    return MetricInputs(
        y_true=np.where(truth, positive, negative),
        y_pred=np.where(predicted, positive, negative),
        y_score=score,
        positive=positive,
        groups={"sex": rng.choice(["F", "M"], n), "age": rng.choice(["<40", "40+"], n)},
        task=BINARY,
    )


def multiclass_data(seed: int, n: int = 300) -> MetricInputs:
    """Three classes, probability rows with ties, predictions not always the argmax."""
    rng = np.random.default_rng(seed)
    classes = np.array(["bird", "cat", "dog"])
    codes = rng.integers(0, 3, n)
    raw = np.round(rng.dirichlet([1.0, 1.0, 1.0], n) + np.eye(3)[codes] * 0.5, 1)
    score = raw / raw.sum(axis=1, keepdims=True)
    noisy = np.where(rng.random(n) < 0.3, rng.integers(0, 3, n), score.argmax(axis=1))
    return MetricInputs(
        y_true=classes[codes],
        y_pred=classes[noisy],
        y_score=score,
        classes=list(classes),
        positive="cat",
        groups={"sex": rng.choice(["F", "M"], n), "age": rng.choice(["<40", "40+"], n)},
        task=MULTICLASS,
    )


def regression_data(seed: int, n: int = 200) -> MetricInputs:
    rng = np.random.default_rng(seed)
    y_true = rng.normal(50.0, 10.0, n)
    return MetricInputs(
        y_true=y_true,
        y_pred=y_true + rng.normal(0.0, 5.0, n),
        groups={"sex": rng.choice(["F", "M"], n), "age": rng.choice(["<40", "40+"], n)},
        task=REGRESSION,
    )


def serving_and_data(inputs: MetricInputs, seed: int = 0) -> MetricInputs:
    """`inputs` plus serving logs, raw columns and bin counts, for the other metric kinds."""
    rng = np.random.default_rng(seed)
    return dataclasses.replace(
        inputs,
        latencies_ms=rng.gamma(2.0, 5.0, 500),
        errors=rng.random(500) < 0.02,
        duration_s=60.0,
        columns={"tenure": [1.0, np.nan, 3.0, 4.0], "plan": ["a", None, None, "b"]},
        reference_counts={"tenure": [10, 20, 30, 0], "plan": [5, 5]},
        current_counts={"tenure": [12, 18, 25, 5], "plan": [6, 4]},
    )


DATA: dict[str, Callable[[int], MetricInputs]] = {
    BINARY: binary_data,
    MULTICLASS: multiclass_data,
    REGRESSION: regression_data,
}

COSTS = {
    BINARY: {"tp": 300.0, "fp": -50.0},
    MULTICLASS: {"tp": 10.0, "fn": -5.0},
    REGRESSION: {"over": -1.0, "under": -3.0},
}


def example(metric: Metric, task: str) -> tuple[MetricInputs, dict[str, object]]:
    """A valid input and parameters for `metric` on `task`."""
    params: dict[str, object] = {
        "k": 0.2,
        "costs": COSTS[task],
        "by": "sex",
    }
    return serving_and_data(DATA[task](0)), {p: params[p] for p in metric.required_params}


CASES = [
    pytest.param(name, task, id=f"{name}-{task.split('_')[0]}")
    for name in metric_names()
    for task in TASKS
    if task in METRICS[name].tasks
]


# --- the conformance suite over every registered metric ---------------------------------


@pytest.mark.parametrize("name", metric_names())
def test_metadata_is_consistent(name: str) -> None:
    metric = METRICS[name]
    input_fields = {f.name for f in dataclasses.fields(MetricInputs)}
    assert metric.name == name
    assert metric is get_metric(name)
    assert isinstance(metric.kind, MetricKind)
    assert metric.direction in ("higher", "lower")
    assert metric.tasks
    assert metric.tasks <= set(TASKS)
    assert metric.inputs
    assert metric.inputs <= input_fields
    assert not metric.required_params & metric.optional_params
    assert metric.params <= {"k", "costs", "by", "column"}
    assert metric.description.strip()
    assert "\n" not in metric.description


@pytest.mark.parametrize(("name", "task"), CASES)
def test_computes_a_finite_float_on_a_valid_example(name: str, task: str) -> None:
    metric = get_metric(name)
    inputs, params = example(metric, task)
    value = metric.compute(inputs, **params)
    assert isinstance(value, float)
    assert math.isfinite(value)


@pytest.mark.parametrize("name", metric_names())
def test_better_agrees_with_direction(name: str) -> None:
    metric = get_metric(name)
    high, low = 0.9, 0.1
    assert metric.better(high, low) is (metric.direction == "higher")
    assert metric.better(low, high) is (metric.direction == "lower")
    assert not metric.better(0.5, 0.5)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_missing_required_params_raise(name: str, task: str) -> None:
    metric = get_metric(name)
    inputs, params = example(metric, task)
    for param in sorted(metric.required_params):
        rest = {k: v for k, v in params.items() if k != param}
        with pytest.raises(ValueError, match=rf"The '{param}' of metric '{name}' must be given"):
            metric.compute(inputs, **rest)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_missing_inputs_raise(name: str, task: str) -> None:
    metric = get_metric(name)
    inputs, params = example(metric, task)
    for field in sorted(metric.inputs):
        partial = dataclasses.replace(inputs, **{field: None})
        with pytest.raises(ValueError, match=rf"The '{field}' of the inputs to metric '{name}'"):
            metric.compute(partial, **params)


@pytest.mark.parametrize("name", metric_names())
def test_unknown_params_and_wrong_tasks_raise(name: str) -> None:
    metric = get_metric(name)
    task = next(t for t in TASKS if t in metric.tasks)
    inputs, params = example(metric, task)
    with pytest.raises(MetricError, match=rf"The metric '{name}' takes no parameter 'bogus'"):
        metric.compute(inputs, bogus=1, **params)
    for other in sorted(set(TASKS) - metric.tasks):
        wrong = dataclasses.replace(inputs, task=other)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=rf"The 'task' of metric '{name}' must be one of"):
            metric.compute(wrong, **params)


def test_registry_covers_the_design() -> None:
    model = {
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "precision_at_k",
        "recall_at_k",
        "rmse",
        "mae",
        "r2",
        "mape",
    }
    others = {
        "expected_value",
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "latency_p50_ms",
        "latency_p99_ms",
        "error_rate",
        "throughput",
        "missing_rate",
        "max_psi",
    }
    worst = {WORST_GROUP_PREFIX + m for m in model}
    assert set(MODEL_METRICS) == model
    assert set(metric_names()) == model | others | worst
    assert metric_names() == sorted(METRICS)
    for name in model:
        base, group = METRICS[name], METRICS[WORST_GROUP_PREFIX + name]
        assert (group.tasks, group.direction) == (base.tasks, base.direction)
        assert group.required_params == base.required_params | {"by"}
    with pytest.raises(TypeError, match="does not support item assignment"):
        METRICS["x"] = METRICS["f1"]  # type: ignore[index]


def test_an_inconsistent_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="direction 'up' is not 'higher' or 'lower'"):
        Metric(
            "odd",
            MetricKind.MODEL,
            frozenset({BINARY}),
            "up",  # type: ignore[arg-type]
            frozenset(),
            frozenset(),
            frozenset({"y_true"}),
            "An odd metric.",
        )


def test_unknown_names_suggest_close_ones() -> None:
    with pytest.raises(KeyError, match="roc_auc") as caught:
        get_metric("roc_aux")
    assert isinstance(caught.value, UnknownMetricError)
    assert str(caught.value).startswith("The 'metric' of a KPI must be")
    assert suggest("roc_aux")[0] == "roc_auc"
    assert suggest("precison") == ["precision", "precision_at_k"][: len(suggest("precison"))]
    with pytest.raises(KeyError, match=r"Got 'zzzz' instead\. See"):
        get_metric("zzzz")


def test_importing_the_registry_does_not_import_numpy() -> None:
    code = (
        "import sys, charter.spec.metrics; "
        "print(sorted(m for m in ('numpy', 'pandas', 'sklearn', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


# --- agreement with scikit-learn ------------------------------------------------------------


def _naive_top_k(truth: np.ndarray, score: np.ndarray, rows: int) -> float:
    """Positives among the top rows, averaged over every way to break ties at the cut."""
    order = np.argsort(-score, kind="stable")
    cut = score[order[rows - 1]]
    above = [i for i in order if score[i] > cut]
    tied = [i for i in order if score[i] == cut]
    slots = rows - len(above)
    picks = list(itertools.combinations(tied, slots)) if len(tied) <= 12 else None
    base = float(truth[above].sum())
    if picks is None:  # too many to enumerate: the expectation in closed form
        return base + slots * float(truth[tied].mean())
    return base + float(np.mean([truth[list(p)].sum() for p in picks]))


def _rows(k: float, n: int) -> int:
    return k if isinstance(k, int) else max(1, math.ceil(round(k * n, 9)))  # type: ignore[return-value]


def sk_reference(name: str, inputs: MetricInputs, **params: Any) -> float:
    """What scikit-learn (or a brute-force count, for the top-k metrics) makes of `inputs`."""
    y_true, y_pred, score = inputs.y_true, inputs.y_pred, inputs.y_score
    if inputs.task == REGRESSION:
        return float(
            {
                "rmse": skm.root_mean_squared_error,
                "mae": skm.mean_absolute_error,
                "r2": skm.r2_score,
                "mape": skm.mean_absolute_percentage_error,
            }[name](y_true, y_pred)
        )
    if inputs.task == BINARY:
        pos = inputs.positive
        labels = sorted({*np.unique(y_true).tolist(), pos})
        truth = np.asarray(y_true == pos)
        binary: dict[str, Callable[[], float]] = {
            "accuracy": lambda: skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": lambda: skm.balanced_accuracy_score(y_true, y_pred),
            "precision": lambda: skm.precision_score(
                y_true, y_pred, pos_label=pos, zero_division=0
            ),
            "recall": lambda: skm.recall_score(y_true, y_pred, pos_label=pos, zero_division=0),
            "f1": lambda: skm.f1_score(y_true, y_pred, pos_label=pos, zero_division=0),
            "roc_auc": lambda: skm.roc_auc_score(truth, score),
            "pr_auc": lambda: skm.average_precision_score(y_true, score, pos_label=pos),
            # scikit-learn reads a 1-D probability as that of the larger label.
            "log_loss": lambda: skm.log_loss(
                y_true, score if pos == labels[-1] else 1 - score, labels=labels
            ),
            "brier": lambda: skm.brier_score_loss(y_true, score, pos_label=pos),
            "precision_at_k": lambda: (
                _naive_top_k(truth, score, _rows(params["k"], len(truth)))
                / _rows(params["k"], len(truth))
            ),
            "recall_at_k": lambda: (
                _naive_top_k(truth, score, _rows(params["k"], len(truth))) / truth.sum()
            ),
        }
        return float(binary[name]())
    classes = list(inputs.classes or [])
    multiclass: dict[str, Callable[[], float]] = {
        "accuracy": lambda: skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y_true, y_pred),
        "precision": lambda: skm.precision_score(y_true, y_pred, average="macro", zero_division=0),
        "recall": lambda: skm.recall_score(y_true, y_pred, average="macro", zero_division=0),
        "f1": lambda: skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
        "roc_auc": lambda: skm.roc_auc_score(y_true, score, multi_class="ovr", labels=classes),
        "log_loss": lambda: skm.log_loss(y_true, score, labels=classes),
        "brier": lambda: skm.brier_score_loss(y_true, score, labels=classes),
    }
    return float(multiclass[name]())


MODEL_CASES = [
    pytest.param(name, task, id=f"{name}-{task.split('_')[0]}")
    for name in MODEL_METRICS
    for task in TASKS
    if task in METRICS[name].tasks
]


@pytest.mark.parametrize(("name", "task"), MODEL_CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_model_metrics_equal_scikit_learn(name: str, task: str, seed: int) -> None:
    inputs = DATA[task](seed)
    metric = get_metric(name)
    for params in [{"k": 0.1}, {"k": 37}] if "k" in metric.required_params else [{}]:
        ours = metric.compute(inputs, **params)
        assert ours == pytest.approx(sk_reference(name, inputs, **params), abs=TOL, rel=TOL)


@pytest.mark.parametrize("labels", [(0, 1), (False, True), ("ham", "spam"), ("yes", "no")])
def test_binary_labels_of_any_type_and_order(labels: tuple[Any, Any]) -> None:
    inputs = binary_data(3, labels=labels)
    for name in ("f1", "roc_auc", "pr_auc", "log_loss", "brier", "balanced_accuracy"):
        ours = get_metric(name).compute(inputs)
        assert ours == pytest.approx(sk_reference(name, inputs), abs=TOL)


def test_binary_positive_defaults_to_one_or_the_second_class() -> None:
    inputs = binary_data(1, labels=(0, 1))
    f1 = get_metric("f1")
    expected = f1.compute(inputs)
    assert f1.compute(dataclasses.replace(inputs, positive=None, task=None)) == expected
    named = binary_data(1, labels=("No", "Yes"))
    unnamed = dataclasses.replace(named, positive=None, classes=["No", "Yes"], task=None)
    assert f1.compute(unnamed) == f1.compute(named)
    with pytest.raises(ValueError, match=r"The 'positive' of the inputs to metric 'f1' must be"):
        f1.compute(dataclasses.replace(named, positive=None, task=None))


def test_multiclass_is_inferred_and_classes_follow_the_score_columns() -> None:
    inputs = multiclass_data(2)
    auc = get_metric("roc_auc")
    expected = auc.compute(inputs)
    assert auc.compute(dataclasses.replace(inputs, task=None, positive=None)) == expected
    # Columns reordered together with `classes` describe the same predictions.
    order = [2, 0, 1]
    shuffled = dataclasses.replace(
        inputs,
        y_score=np.asarray(inputs.y_score)[:, order],
        classes=[list(inputs.classes or [])[i] for i in order],
    )
    assert auc.compute(shuffled) == pytest.approx(expected, abs=TOL)
    assert get_metric("log_loss").compute(shuffled) == pytest.approx(
        get_metric("log_loss").compute(inputs), abs=TOL
    )


def test_numpy_and_pandas_inputs_are_accepted() -> None:
    inputs = multiclass_data(4)
    as_numpy = dataclasses.replace(inputs, classes=np.asarray(inputs.classes))
    as_pandas = dataclasses.replace(
        inputs,
        y_true=pd.Series(inputs.y_true, dtype="category"),
        y_pred=pd.Series(inputs.y_pred),
        groups={k: pd.Series(v) for k, v in (inputs.groups or {}).items()},
    )
    for name in ("roc_auc", "f1", "worst_group_log_loss"):
        params = {"by": "sex"} if name.startswith(WORST_GROUP_PREFIX) else {}
        expected = get_metric(name).compute(inputs, **params)
        assert get_metric(name).compute(as_numpy, **params) == expected
        assert get_metric(name).compute(as_pandas, **params) == pytest.approx(expected, abs=TOL)
    mixed = MetricInputs(y_true=["a", "b", "b"], y_pred=["a", "c", "b"], task=BINARY, positive="a")
    with pytest.raises(ValueError, match=r"'y_true and y_pred' .* at most two labels"):
        get_metric("accuracy").compute(mixed)


def test_top_k_shares_tied_rows_evenly() -> None:
    inputs = MetricInputs(
        y_true=[1, 0, 1, 0, 0, 1], y_score=[0.9, 0.5, 0.5, 0.5, 0.1, 0.5], positive=1
    )
    # Top 3: row 0 (a positive), then 2 of the 4 rows tied at 0.5 holding 2 positives.
    assert get_metric("precision_at_k").compute(inputs, k=3) == pytest.approx((1 + 1) / 3)
    assert get_metric("recall_at_k").compute(inputs, k=3) == pytest.approx(2 / 3)
    assert get_metric("precision_at_k").compute(inputs, k=0.5) == pytest.approx(2 / 3)
    assert get_metric("precision_at_k").compute(inputs, k=1) == 1.0
    negatives = MetricInputs(y_true=[0, 0], y_score=[0.1, 0.2])
    with pytest.raises(ValueError, match="needs at least one positive row in y_true"):
        get_metric("recall_at_k").compute(negatives, k=1)


# --- agreement with fairlearn ---------------------------------------------------------------


def _zero_one(inputs: MetricInputs) -> tuple[np.ndarray, np.ndarray]:
    pos = inputs.positive
    return (
        np.asarray(inputs.y_true == pos, dtype=int),
        np.asarray(inputs.y_pred == pos, dtype=int),
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("by", ["sex", ["sex", "age"]])
def test_fairness_metrics_equal_fairlearn(seed: int, by: str | list[str]) -> None:
    inputs = binary_data(seed)
    y_true, y_pred = _zero_one(inputs)
    groups = inputs.groups or {}
    features = pd.DataFrame({c: groups[c] for c in ([by] if isinstance(by, str) else by)})
    references = {
        "demographic_parity_difference": flm.demographic_parity_difference,
        "demographic_parity_ratio": flm.demographic_parity_ratio,
        "equalized_odds_difference": flm.equalized_odds_difference,
    }
    for name, reference in references.items():
        expected = reference(y_true, y_pred, sensitive_features=features)
        assert get_metric(name).compute(inputs, by=by) == pytest.approx(expected, abs=TOL)


def _frame_reference(name: str, inputs: MetricInputs, by: str | list[str]) -> float:
    metric = get_metric(WORST_GROUP_PREFIX + name)
    groups = inputs.groups or {}
    features = pd.DataFrame({c: groups[c] for c in ([by] if isinstance(by, str) else by)})
    params = {"k": 0.25} if "k" in metric.required_params else {}

    def per_group(y_true: Any, y_other: Any) -> float:
        if "y_score" in metric.inputs:
            part = dataclasses.replace(
                inputs, y_true=np.asarray(y_true), y_score=np.asarray(y_other)
            )
        else:
            part = dataclasses.replace(
                inputs, y_true=np.asarray(y_true), y_pred=np.asarray(y_other)
            )
        return sk_reference(name, part, **params)

    other = inputs.y_score if "y_score" in metric.inputs else inputs.y_pred
    frame = flm.MetricFrame(
        metrics=per_group, y_true=inputs.y_true, y_pred=other, sensitive_features=features
    )
    return float(frame.group_min() if metric.direction == "higher" else frame.group_max())


@pytest.mark.parametrize(("name", "task"), MODEL_CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_worst_group_metrics_equal_metricframe(name: str, task: str, seed: int) -> None:
    inputs = DATA[task](seed)
    metric = get_metric(WORST_GROUP_PREFIX + name)
    params: dict[str, object] = {"k": 0.25} if "k" in metric.required_params else {}
    for by in ("sex", ["sex", "age"]):
        ours = metric.compute(inputs, by=by, **params)
        assert ours == pytest.approx(_frame_reference(name, inputs, by), abs=TOL, rel=TOL)


def test_worst_group_names_the_group_at_fault() -> None:
    inputs = MetricInputs(
        y_true=[0, 1, 0, 0],
        y_score=[0.1, 0.8, 0.3, 0.2],
        groups={"sex": ["F", "F", "M", "M"]},
    )
    with pytest.raises(ValueError, match=r"In the group sex='M': .*needs both classes"):
        get_metric("worst_group_roc_auc").compute(inputs, by="sex")


def test_fairness_degenerate_groups_raise() -> None:
    inputs = MetricInputs(y_true=[0, 1, 0, 0], y_pred=[0, 1, 1, 0], groups={"g": list("aabb")})
    with pytest.raises(ValueError, match=r"the group g='b' has no positive row"):
        get_metric("equalized_odds_difference").compute(inputs, by="g")
    nobody = dataclasses.replace(inputs, y_pred=[0, 0, 0, 0])
    with pytest.raises(ValueError, match="no group has a positive prediction"):
        get_metric("demographic_parity_ratio").compute(nobody, by="g")
    with pytest.raises(ValueError, match=r"must name a column of inputs.groups \(g\)"):
        get_metric("demographic_parity_difference").compute(inputs, by="sex")
    short = dataclasses.replace(inputs, groups={"g": ["a", "b"]})
    with pytest.raises(ValueError, match=r"'groups.g' .* must have one value per row \(4\)"):
        get_metric("demographic_parity_difference").compute(short, by="g")
    holes = dataclasses.replace(inputs, groups={"g": ["a", None, "b", "b"]})
    with pytest.raises(ValueError, match=r"without missing values\. Got None at row 1"):
        get_metric("demographic_parity_difference").compute(holes, by="g")
    with pytest.raises(ValueError, match=r"The 'by' of metric .* must be the name of a column"):
        get_metric("demographic_parity_difference").compute(inputs, by=["g", "g"])


# --- business, operational and data metrics -------------------------------------------------


def test_expected_value_by_hand() -> None:
    value = get_metric("expected_value")
    inputs = MetricInputs(y_true=["y", "y", "n", "n"], y_pred=["y", "n", "y", "n"], positive="y")
    costs = {"tp": 300, "fp": -50, "tn": 1, "fn": -100}
    assert value.compute(inputs, costs=costs) == pytest.approx((300 - 100 - 50 + 1) / 4)
    assert value.compute(inputs, costs={"tp": 4}) == pytest.approx(1.0)
    regression = MetricInputs(y_true=[10.0, 10.0, 10.0], y_pred=[12.0, 7.0, 10.0])
    expected = (2 * -1.0 + 3 * -4.0) / 3
    assert value.compute(regression, costs={"over": -1, "under": -4}) == pytest.approx(expected)
    multiclass = MetricInputs(
        y_true=["a", "b", "c"], y_pred=["a", "a", "c"], positive="a", task=MULTICLASS
    )
    assert value.compute(multiclass, costs={"tp": 3, "fp": -3, "tn": 1}) == pytest.approx(1 / 3)
    without = dataclasses.replace(multiclass, positive=None)
    with pytest.raises(ValueError, match="The 'positive' of the inputs to metric"):
        value.compute(without, costs={"tp": 3})
    with pytest.raises(ValueError, match="must use over and under for a regression task"):
        value.compute(dataclasses.replace(regression, task=REGRESSION), costs={"tp": 1})
    with pytest.raises(ValueError, match="must use tp, fp, tn, fn for a classification"):
        value.compute(dataclasses.replace(inputs, task=BINARY), costs={"over": 1})


@pytest.mark.parametrize(
    ("costs", "message"),
    [
        ({}, "must be a mapping with any of tp, fp, tn, fn"),
        ({"tp": 1, "over": 1}, "keys of both families mixed"),
        ({"tpp": 1}, r"unknown keys \['tpp'\]"),
        ({"tp": "a lot"}, r"The 'costs.tp' of metric 'expected_value' must be a finite number"),
        ({"tp": True}, r"The 'costs.tp' .* must be a finite number"),
        ({"fp": math.inf}, r"The 'costs.fp' .* must be a finite number"),
        ([("tp", 1)], "must be a mapping"),
    ],
)
def test_expected_value_rejects_bad_costs(costs: object, message: str) -> None:
    inputs = MetricInputs(y_true=[0, 1], y_pred=[0, 1])
    with pytest.raises(ValueError, match=message):
        get_metric("expected_value").compute(inputs, costs=costs)
    with pytest.raises(ValueError, match=message):
        get_metric("expected_value").validate_params({"costs": costs})


def test_operational_metrics() -> None:
    latencies = np.random.default_rng(5).gamma(2.0, 5.0, 1001)
    inputs = MetricInputs(latencies_ms=latencies, errors=[True, False, False, False], duration_s=4)
    assert get_metric("latency_p50_ms").compute(inputs) == pytest.approx(np.median(latencies))
    p99 = float(np.percentile(latencies, 99))
    assert get_metric("latency_p99_ms").compute(inputs) == pytest.approx(p99)
    assert get_metric("error_rate").compute(inputs) == 0.25
    assert get_metric("error_rate").compute(MetricInputs(errors=[0, 1, 1, 1])) == 0.75
    assert get_metric("throughput").compute(inputs) == pytest.approx(1001 / 4)
    with pytest.raises(ValueError, match=r"'duration_s' .* must be a positive number of seconds"):
        get_metric("throughput").compute(dataclasses.replace(inputs, duration_s=0.0))
    with pytest.raises(ValueError, match=r"'latencies_ms' .* must be non-negative"):
        get_metric("latency_p99_ms").compute(MetricInputs(latencies_ms=[1.0, -2.0]))
    with pytest.raises(ValueError, match=r"'errors' .* must be booleans"):
        get_metric("error_rate").compute(MetricInputs(errors=["ok", "fail"]))
    with pytest.raises(ValueError, match=r"'latencies_ms' .* must be non-empty"):
        get_metric("latency_p50_ms").compute(MetricInputs(latencies_ms=[]))


def test_missing_rate_counts_none_nan_and_pandas_missing() -> None:
    columns = {
        "a": [1.0, np.nan, 3.0, 4.0],
        "b": ["x", None, float("nan"), "y"],
        "c": pd.Series([1, None, 3, 4], dtype="Int64"),
        "d": pd.Series(pd.to_datetime(["2024-01-01", None, None, None])),
        "e": [1, 2, 3, 4],
    }
    inputs = MetricInputs(columns=columns)
    rate = get_metric("missing_rate")
    assert [rate.compute(inputs, column=c) for c in "abcde"] == [0.25, 0.5, 0.25, 0.75, 0.0]
    assert rate.compute(inputs) == 0.75
    with pytest.raises(ValueError, match=r"The 'column' of metric 'missing_rate' must be one of"):
        rate.compute(inputs, column="z")
    with pytest.raises(ValueError, match=r"'columns' .* must be a non-empty mapping"):
        rate.compute(MetricInputs(columns={}))


def test_max_psi_by_hand_and_with_empty_bins() -> None:
    reference, current = [50, 30, 20], [40, 30, 30]
    r, c = np.array(reference) / 100, np.array(current) / 100
    expected = float(np.sum((c - r) * np.log(c / r)))
    inputs = MetricInputs(
        reference_counts={"x": reference, "y": [1, 1]},
        current_counts={"x": current, "y": [1, 1]},
    )
    psi = get_metric("max_psi")
    assert psi.compute(inputs) == pytest.approx(expected)
    assert psi.compute(inputs, column="y") == 0.0
    empty = MetricInputs(reference_counts={"x": [10, 0]}, current_counts={"x": [5, 5]})
    by_hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - PSI_EPSILON) * math.log(0.5 / PSI_EPSILON)
    assert psi.compute(empty) == pytest.approx(by_hand)
    with pytest.raises(
        ValueError, match=r"must cover the same features .* only in current: \['z'\]"
    ):
        psi.compute(MetricInputs(reference_counts={"x": [1]}, current_counts={"x": [1], "z": [1]}))
    with pytest.raises(ValueError, match=r"must have the reference's 2 bins. Got 3 instead"):
        psi.compute(MetricInputs(reference_counts={"x": [1, 1]}, current_counts={"x": [1, 1, 1]}))
    with pytest.raises(ValueError, match="non-negative bin counts with a positive total"):
        psi.compute(MetricInputs(reference_counts={"x": [0, 0]}, current_counts={"x": [1, 1]}))


# --- degenerate inputs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inputs", "message"),
    [
        ("accuracy", MetricInputs(y_true=[], y_pred=[]), "'y_true' .* must be non-empty"),
        ("rmse", MetricInputs(y_true=[], y_pred=[]), "'y_true' .* must be non-empty"),
        ("roc_auc", MetricInputs(y_true=[0, 0], y_score=[0.1, 0.2]), "needs both classes"),
        (
            "accuracy",
            MetricInputs(y_true=[0, 1, 1], y_pred=[0, 1]),
            "must have one row per prediction. .*y_true has 3, y_pred has 2",
        ),
        ("roc_auc", MetricInputs(y_true=[0, 1], y_score=[0.1, 1.2]), r"probabilities in \[0, 1\]"),
        ("log_loss", MetricInputs(y_true=[0, 1], y_score=[-0.1, 0.5]), r"probabilities in \[0, 1"),
        ("roc_auc", MetricInputs(y_true=[0, 1], y_score=[0.1, np.nan]), "finite numbers. Got nan"),
        ("mae", MetricInputs(y_true=[1.0, np.nan], y_pred=[1.0, 2.0]), "finite numbers. Got nan"),
        ("mae", MetricInputs(y_true=["a", "b"], y_pred=[1.0, 2.0]), "must be numbers"),
        ("f1", MetricInputs(y_true=[0, np.nan], y_pred=[0, 1]), "without missing values"),
        ("f1", MetricInputs(y_true=[0, None], y_pred=[0, 1]), "without missing values"),
        ("f1", MetricInputs(y_true=[[0, 1]], y_pred=[[0, 1]]), "one-dimensional array of labels"),
        (
            "pr_auc",
            MetricInputs(y_true=[0, 1, 2], y_score=[0.1, 0.2, 0.3]),
            "at most two labels for a binary task",
        ),
        ("pr_auc", MetricInputs(y_true=[0, 0], y_score=[0.1, 0.2]), "at least one positive row"),
        (
            "f1",
            MetricInputs(y_true=["a", "b"], y_pred=["a", "b"], positive="c"),
            r"'positive' .* must be one of the labels seen \['a', 'b'\]",
        ),
        (
            "roc_auc",
            MetricInputs(
                y_true=["a", "b", "c"],
                y_score=[[0.5, 0.5, 0.5], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]],
                task=MULTICLASS,
            ),
            "rows of probabilities summing to 1. Got 1.5 at row 0",
        ),
        (
            "roc_auc",
            MetricInputs(y_true=["a", "b", "c"], y_score=[[0.5, 0.5]] * 3, task=MULTICLASS),
            r"one column per class \(3 found in y_true; pass inputs.classes\)",
        ),
        (
            "roc_auc",
            MetricInputs(
                y_true=["a", "b", "b"],
                y_score=[[0.2, 0.3, 0.5]] * 3,
                classes=["a", "b", "c"],
            ),
            "for class 'c' \\(one-vs-rest\\); only negative rows",
        ),
        (
            "log_loss",
            MetricInputs(y_true=["a", "d"], y_score=[[0.5, 0.5, 0.0]] * 2, classes=["a", "b", "c"]),
            r"labels among the classes \['a', 'b', 'c'\]. Got \['d'\]",
        ),
        ("r2", MetricInputs(y_true=[1.0], y_pred=[1.0]), "needs at least two rows"),
    ],
)
def test_degenerate_inputs_raise_clear_errors(
    name: str, inputs: MetricInputs, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        get_metric(name).compute(inputs)


@pytest.mark.parametrize(
    ("k", "message"),
    [
        (0, "must be an integer >= 1"),
        (-3, "must be an integer >= 1"),
        (1.0, "or a fraction in \\(0, 1\\)"),
        (1.5, "Got 1.5 instead"),
        (True, "Got True instead"),
        ("5", "Got '5' instead"),
        (11, r"must be at most the number of rows \(10\). Got 11 instead"),
    ],
)
def test_top_k_rejects_bad_k(k: object, message: str) -> None:
    inputs = binary_data(0, n=10)
    with pytest.raises(ValueError, match=message):
        get_metric("precision_at_k").compute(inputs, k=k)


def test_constant_regression_target_follows_scikit_learn() -> None:
    r2 = get_metric("r2")
    assert r2.compute(MetricInputs(y_true=[2.0, 2.0], y_pred=[2.0, 2.0])) == 1.0
    assert r2.compute(MetricInputs(y_true=[2.0, 2.0], y_pred=[2.0, 3.0])) == 0.0
    mape = get_metric("mape")
    zero = MetricInputs(y_true=[0.0, 1.0], y_pred=[1.0, 1.0])
    assert mape.compute(zero) == pytest.approx(skm.mean_absolute_percentage_error([0, 1], [1, 1]))


def test_validate_params_without_data() -> None:
    get_metric("precision_at_k").validate_params({"k": 10})
    get_metric("missing_rate").validate_params({"column": None})
    with pytest.raises(MetricError, match=r"takes no parameter 'cost' .*Did you mean 'costs'\?"):
        get_metric("expected_value").validate_params({"cost": {"tp": 1}, "costs": {"tp": 1}})
    with pytest.raises(MetricError, match="The 'column' of metric 'max_psi' must be the name"):
        get_metric("max_psi").validate_params({"column": 3})


# --- properties --------------------------------------------------------------------------------

_labelled_scores = st.lists(
    st.tuples(st.booleans(), st.integers(min_value=0, max_value=20)), min_size=2, max_size=60
).filter(lambda rows: len({label for label, _ in rows}) == 2)


@settings(max_examples=60, deadline=None)
@given(rows=_labelled_scores, seed=st.integers(0, 2**32 - 1))
def test_roc_auc_depends_only_on_the_ranking(rows: list[tuple[bool, int]], seed: int) -> None:
    truth = np.array([label for label, _ in rows])
    score = np.array([s for _, s in rows], dtype=float) / 20
    auc = get_metric("roc_auc")
    value = auc.compute(MetricInputs(y_true=truth, y_score=score))
    order = np.random.default_rng(seed).permutation(len(rows))
    shuffled = auc.compute(MetricInputs(y_true=truth[order], y_score=score[order]))
    transformed = auc.compute(MetricInputs(y_true=truth, y_score=np.sqrt(score) ** 3))
    assert shuffled == pytest.approx(value, abs=1e-12)
    assert transformed == pytest.approx(value, abs=1e-12)
    assert value == pytest.approx(skm.roc_auc_score(truth, score), abs=TOL)


@settings(max_examples=40, deadline=None)
@given(rows=_labelled_scores, seed=st.integers(0, 2**32 - 1), k=st.integers(1, 60))
def test_top_k_is_invariant_to_row_order(rows: list[tuple[bool, int]], seed: int, k: int) -> None:
    truth = np.array([label for label, _ in rows])
    score = np.array([s for _, s in rows], dtype=float) / 20
    k = min(k, len(rows))
    order = np.random.default_rng(seed).permutation(len(rows))
    for name in ("precision_at_k", "recall_at_k"):
        metric = get_metric(name)
        value = metric.compute(MetricInputs(y_true=truth, y_score=score), k=k)
        again = metric.compute(MetricInputs(y_true=truth[order], y_score=score[order]), k=k)
        assert again == pytest.approx(value, abs=1e-12)
        assert 0.0 <= value <= 1.0


_bins = st.lists(st.integers(0, 1000), min_size=1, max_size=12).filter(lambda c: sum(c) > 0)


@settings(max_examples=60, deadline=None)
@given(counts=_bins, data=st.data())
def test_psi_is_zero_on_identical_counts_and_never_negative(
    counts: list[int], data: st.DataObject
) -> None:
    psi = get_metric("max_psi")
    same = MetricInputs(reference_counts={"f": counts}, current_counts={"f": list(counts)})
    assert psi.compute(same) == 0.0
    other = data.draw(
        st.lists(st.integers(0, 1000), min_size=len(counts), max_size=len(counts)).filter(
            lambda c: sum(c) > 0
        )
    )
    value = psi.compute(MetricInputs(reference_counts={"f": counts}, current_counts={"f": other}))
    assert value >= 0.0
    assert math.isfinite(value)


_amount = st.floats(-1000, 1000, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    truth=st.lists(st.booleans(), min_size=1, max_size=50),
    tp=_amount,
    fp=_amount,
    tn=_amount,
    fn=_amount,
)
def test_expected_value_of_a_perfect_classifier(
    truth: Sequence[bool], tp: float, fp: float, tn: float, fn: float
) -> None:
    inputs = MetricInputs(y_true=list(truth), y_pred=list(truth))
    value = get_metric("expected_value").compute(
        inputs, costs={"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    )
    expected = np.mean([tp if t else tn for t in truth])
    assert value == pytest.approx(expected, abs=1e-9)


def test_kernels_load_on_compute_without_the_references() -> None:
    code = (
        "import sys; from charter.spec.metrics import get_metric, MetricInputs; "
        "a = 'charter.spec._metric_kernels' in sys.modules; "
        "get_metric('accuracy').compute(MetricInputs(y_true=[0, 1], y_pred=[0, 1])); "
        "print(a, 'charter.spec._metric_kernels' in sys.modules, "
        "any(m in sys.modules for m in ('sklearn', 'fairlearn')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True", "False"]
    assert registry.__name__ == "charter.spec.metrics"
