"""`validate_model`: the fitted model on the held-out split, with every KPI computable offline."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from charter.modeling._candidates import limited_threads, openmp_threads
from charter.modeling._errors import ModelingError
from charter.modeling._fitted import FittedModel
from charter.modeling._jsonable import jsonable, plain
from charter.modeling._kpis import (
    KpiValue,
    Predictions,
    describe_where,
    evaluate_kpi,
    group_labels,
    measure_latency,
    slice_mask,
)
from charter.modeling._progress import Progress, ProgressEvent, Step, emit
from charter.spec.metrics import METRICS, Metric, MetricError, MetricKind, get_metric
from charter.spec.schema import Charter

#: Curves are downsampled to at most this many points.
MAX_CURVE_POINTS = 200
#: Reliability-curve bins over [0, 1].
CALIBRATION_BINS = 10
#: Rows permuted for the permutation importance (a seeded sample of the holdout).
IMPORTANCE_ROWS = 1000
#: Permutations per feature.
IMPORTANCE_REPEATS = 5
#: Predicted-versus-actual points kept for a regression.
MAX_POINTS = 200
#: The metric the permutation importance uses per task (a drop in it is importance).
IMPORTANCE_METRIC = {
    "binary_classification": "roc_auc",
    "multiclass_classification": "log_loss",
    "regression": "rmse",
}


@dataclass(frozen=True)
class ValidationReport:
    """The model measured on the held-out split: metrics, KPIs, fairness, calibration, explanations.

    `to_dict()` is JSON data shaped as::

        {
          "task": str, "candidate": str, "rows": int, "threshold": float | None,
          "classes": [label], "seconds": float,
          "metrics": {metric: float},            # every applicable model metric
          "metric_errors": {metric: str},        # those undefined on this data, and why
          "train_metrics": {metric: float} | None,   # the same on the training rows
          "kpis": {kpi name: {"name", "metric", "kind", "gate", "value": float | None,
                              "at_least", "at_most", "estimate": bool, "note": str | None,
                              "rows": int | None, "where": {...} | None}},
          "business": [{"kpi": str, "costs": {...}, "value_per_prediction": float | None,
                        "total": float | None, "rows": int | None}],
          "fairness": {attribute: {"binned": bool, "error": str | None,
                        "groups": [{"group": str, "count": int, ...per-task metrics}],
                        "difference": {metric: float}}},
          "calibration": {"brier": float | None, "kind": "positive class" | "top label",
                          "bins": [{"lower", "upper", "count", "mean_predicted",
                                    "observed_rate"}]} | None,
          "slices": {label: {"where": {...}, "rows": int, "kpis": [str],
                             "metrics": {metric: float}, "error": str | None}},
          "curves": {"roc": {"fpr": [...], "tpr": [...], "thresholds": [...], "auc": float},
                     "pr": {"precision": [...], "recall": [...], "thresholds": [...],
                            "ap": float}} | None,
          "confusion": {"labels": [label], "matrix": [[int]] (rows: actual, columns:
                        predicted), "threshold": float | None} | None,
          "importance": {"metric": str, "rows": int, "repeats": int, "error": str | None,
                         "permutation": [{"feature", "mean", "std"}],
                         "contributions": [{"feature", "mean_abs"}] | None,
                         "contribution_method": "lightgbm pred_contrib" | None,
                         "contribution_bias": float | None},
          "regression": {"residuals": {"mean", "std", "min", "p05", "p25", "median", "p75",
                                       "p95", "max"},
                         "points": [{"actual", "predicted"}]} | None,
          "latency": {"p50_ms": float, "p99_ms": float, "rows": int, "estimate": true}
        }

    Fairness metrics per group: binary count, selection_rate, tpr, fpr, accuracy,
    base_rate; multiclass count, accuracy; regression count, mae, mean_prediction.
    Permutation importance is the drop in `metric` when a feature is shuffled (sorted,
    largest first); contributions are LightGBM's mean |SHAP-style contribution| per
    feature. Residuals are predicted minus actual. NaN and infinities are written as null.
    """

    task: str
    candidate: str
    rows: int
    threshold: float | None
    classes: tuple[Any, ...]
    metrics: dict[str, float]
    metric_errors: dict[str, str]
    kpis: Mapping[str, KpiValue]
    business: tuple[Mapping[str, Any], ...]
    fairness: Mapping[str, Any]
    calibration: Mapping[str, Any] | None
    slices: Mapping[str, Mapping[str, Any]]
    curves: Mapping[str, Any] | None
    confusion: Mapping[str, Any] | None
    importance: Mapping[str, Any]
    regression: Mapping[str, Any] | None
    latency: Mapping[str, Any]
    train_metrics: dict[str, float] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = jsonable(
            {
                "task": self.task,
                "candidate": self.candidate,
                "rows": self.rows,
                "threshold": self.threshold,
                "classes": list(self.classes),
                "seconds": self.seconds,
                "metrics": dict(self.metrics),
                "metric_errors": dict(self.metric_errors),
                "train_metrics": None if self.train_metrics is None else dict(self.train_metrics),
                "kpis": {name: kpi.to_dict() for name, kpi in self.kpis.items()},
                "business": [dict(item) for item in self.business],
                "fairness": dict(self.fairness),
                "calibration": None if self.calibration is None else dict(self.calibration),
                "slices": {label: dict(item) for label, item in self.slices.items()},
                "curves": None if self.curves is None else dict(self.curves),
                "confusion": None if self.confusion is None else dict(self.confusion),
                "importance": dict(self.importance),
                "regression": None if self.regression is None else dict(self.regression),
                "latency": dict(self.latency),
            }
        )
        return result


# --- pieces ----------------------------------------------------------------------------


def predictions_of(model: FittedModel, frame: pd.DataFrame, what: str) -> Predictions:
    """The model's predictions on `frame`, with the truth from its target column."""
    if model.target not in frame.columns:
        raise ModelingError(
            f"{what[:1].upper()}{what[1:]} must have the target column {model.target!r}. "
            "Got the columns "
            f"{sorted(map(str, frame.columns))[:20]} instead."
        )
    y = model.labels.encode(frame[model.target], what)
    data = frame.reset_index(drop=True)
    if model.task == "regression":
        return Predictions(model.task, y, data, values=model.score(data))
    return Predictions(
        model.task,
        y,
        data,
        proba=model.predict_proba(data),
        threshold=model.threshold,
        positive_code=model.labels.positive_code,
    )


def _params_for(metric: Metric, charter: Charter) -> dict[str, Any] | None:
    """The parameters a metric needs, taken from the first KPI that sets them, else None."""
    if not metric.required_params:
        return {}
    for kpi in charter.kpis:
        if kpi.metric == metric.name:
            params = {k: v for k, v in kpi.params.items() if k in metric.params}
            if metric.required_params <= set(params):
                return params
    return None


def model_metrics(
    predictions: Predictions, charter: Charter
) -> tuple[dict[str, float], dict[str, str]]:
    """Every registered model metric for the task (one needing `k` when a KPI sets it)."""
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    inputs = predictions.inputs()
    for metric in METRICS.values():
        if metric.kind is not MetricKind.MODEL or predictions.task not in metric.tasks:
            continue
        params = _params_for(metric, charter)
        if params is None:
            continue
        try:
            values[metric.name] = metric.compute(inputs, **params)
        except MetricError as exc:
            errors[metric.name] = str(exc)
    return values, errors


def _fairness(predictions: Predictions, attribute: str) -> dict[str, Any]:
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, mean_absolute_error

    if attribute not in predictions.frame.columns:
        return {
            "binned": False,
            "error": f"the column {attribute!r} is not in the data",
            "groups": [],
            "difference": {},
        }
    groups, binned = group_labels(predictions.frame[attribute])
    predicted = predictions.predicted()
    metrics: dict[str, Callable[..., Any]]
    if predictions.task == "binary_classification":
        metrics = {
            "count": count,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "accuracy": accuracy_score,
            "base_rate": lambda y_true, y_pred: float(np.mean(y_true)),
        }
    elif predictions.task == "multiclass_classification":
        metrics = {"count": count, "accuracy": accuracy_score}
    else:
        metrics = {
            "count": count,
            "mae": mean_absolute_error,
            "mean_prediction": lambda y_true, y_pred: float(np.mean(y_pred)),
        }
    frame = MetricFrame(
        metrics=metrics,
        y_true=predictions.y_true,
        y_pred=predicted,
        sensitive_features=pd.Series(groups, name=attribute),
    )
    table = frame.by_group
    rows = []
    for group, values in table.iterrows():
        row: dict[str, Any] = {"group": str(group)}
        for name in metrics:
            value = values[name]
            row[name] = int(value) if name == "count" else float(value)
        rows.append(row)
    difference = {
        name: float(table[name].astype(float).max() - table[name].astype(float).min())
        for name in metrics
        if name != "count"
    }
    return {"binned": binned, "error": None, "groups": rows, "difference": difference}


def _calibration(predictions: Predictions) -> dict[str, Any] | None:
    if predictions.proba is None:
        return None
    proba = predictions.proba
    if predictions.task == "binary_classification":
        score, hit, kind = proba[:, 1], predictions.y_true == 1, "positive class"
    else:
        score = proba.max(axis=1)
        hit = proba.argmax(axis=1) == predictions.y_true
        kind = "top label"
    try:
        brier: float | None = get_metric("brier").compute(predictions.inputs())
    except MetricError:
        brier = None
    index = np.clip((score * CALIBRATION_BINS).astype(np.int64), 0, CALIBRATION_BINS - 1)
    bins = []
    for b in range(CALIBRATION_BINS):
        rows = index == b
        n = int(rows.sum())
        bins.append(
            {
                "lower": b / CALIBRATION_BINS,
                "upper": (b + 1) / CALIBRATION_BINS,
                "count": n,
                "mean_predicted": float(score[rows].mean()) if n else None,
                "observed_rate": float(hit[rows].mean()) if n else None,
            }
        )
    return {"brier": brier, "kind": kind, "bins": bins}


def _downsample(*arrays: np.ndarray) -> list[list[Any]]:
    n = len(arrays[0])
    picks = np.unique(np.linspace(0, n - 1, min(n, MAX_CURVE_POINTS)).round().astype(int))
    return [array[picks].tolist() for array in arrays]


def _curves(predictions: Predictions) -> dict[str, Any] | None:
    if predictions.task != "binary_classification" or predictions.proba is None:
        return None
    from sklearn.metrics import precision_recall_curve, roc_curve

    truth = predictions.y_true
    if len(np.unique(truth)) < 2:
        return None
    score = predictions.proba[:, 1]
    fpr, tpr, roc_thresholds = roc_curve(truth, score)
    precision, recall, pr_thresholds = precision_recall_curve(truth, score)
    pr_thresholds = np.append(pr_thresholds, np.nan)  # the last point has no threshold
    fpr_l, tpr_l, roc_t = _downsample(fpr, tpr, roc_thresholds)
    precision_l, recall_l, pr_t = _downsample(precision, recall, pr_thresholds)
    inputs = predictions.inputs()
    return {
        "roc": {
            "fpr": fpr_l,
            "tpr": tpr_l,
            "thresholds": roc_t,
            "auc": get_metric("roc_auc").compute(inputs),
        },
        "pr": {
            "precision": precision_l,
            "recall": recall_l,
            "thresholds": pr_t,
            "ap": get_metric("pr_auc").compute(inputs),
        },
    }


def _confusion(predictions: Predictions, classes: tuple[Any, ...]) -> dict[str, Any] | None:
    if predictions.task == "regression":
        return None
    from sklearn.metrics import confusion_matrix

    codes = list(range(len(classes)))
    matrix = confusion_matrix(predictions.y_true, predictions.predicted(), labels=codes)
    return {
        "labels": [plain(c) for c in classes],
        "matrix": matrix.tolist(),
        "threshold": predictions.threshold,
    }


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def _importance(model: FittedModel, test: pd.DataFrame, seed: int) -> dict[str, Any]:
    from sklearn.inspection import permutation_importance

    metric = get_metric(IMPORTANCE_METRIC[model.task])
    sample = _sample(test, IMPORTANCE_ROWS, seed)
    features = sample[list(model.features)]
    y = model.labels.encode(sample[model.target], "the test data")
    sign = 1.0 if metric.direction == "higher" else -1.0
    positive_code = model.labels.positive_code

    def scorer(estimator: Any, X: pd.DataFrame, y_true: np.ndarray) -> float:
        if model.task == "regression":
            predictions = Predictions(model.task, y_true, X, values=estimator.predict(X))
        else:
            proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
            predictions = Predictions(
                model.task, y_true, X, proba=proba, positive_code=positive_code
            )
        return sign * metric.compute(predictions.inputs())

    result: dict[str, Any] = {
        "metric": metric.name,
        "rows": len(sample),
        "repeats": IMPORTANCE_REPEATS,
        "error": None,
        "permutation": [],
    }
    try:
        found = permutation_importance(
            model.pipeline,
            features,
            y,
            scoring=scorer,
            n_repeats=IMPORTANCE_REPEATS,
            random_state=seed,
            n_jobs=1,
        )
    except MetricError as exc:
        result["error"] = str(exc)
        return result
    rows = [
        {"feature": name, "mean": float(mean), "std": float(std)}
        for name, mean, std in zip(
            model.features, found.importances_mean, found.importances_std, strict=True
        )
    ]
    result["permutation"] = sorted(rows, key=lambda row: -row["mean"])
    return result


def _contributions(model: FittedModel, test: pd.DataFrame, seed: int) -> dict[str, Any] | None:
    if model.candidate != "lightgbm":
        return None
    sample = _sample(test, IMPORTANCE_ROWS, seed)
    prepared = model.prepared(sample)
    raw = np.asarray(model.estimator.predict(prepared, pred_contrib=True), dtype=np.float64)
    width = prepared.shape[1] + 1
    per_class = raw.reshape(len(sample), -1, width)  # (rows, classes or 1, features + bias)
    sources = list(model.pipeline.named_steps["prep"].sources_)
    totals: dict[str, float] = {}
    for column, source in enumerate(sources):
        share = float(np.abs(per_class[:, :, column]).mean())
        totals[source] = totals.get(source, 0.0) + share
    features = [
        {"feature": name, "mean_abs": value}
        for name, value in sorted(totals.items(), key=lambda item: -item[1])
    ]
    return {
        "contribution_method": "lightgbm pred_contrib",
        "contribution_bias": float(per_class[:, :, -1].mean()),
        "contributions": features,
    }


def _regression(predictions: Predictions, seed: int) -> dict[str, Any] | None:
    if predictions.task != "regression" or predictions.values is None:
        return None
    residual = predictions.values - predictions.y_true
    quantiles = np.quantile(residual, [0.05, 0.25, 0.5, 0.75, 0.95])
    rng = np.random.default_rng(seed)
    picks = np.arange(len(residual))
    if len(picks) > MAX_POINTS:
        picks = np.sort(rng.choice(picks, size=MAX_POINTS, replace=False))
    return {
        "residuals": {
            "mean": float(residual.mean()),
            "std": float(residual.std()),
            "min": float(residual.min()),
            "p05": float(quantiles[0]),
            "p25": float(quantiles[1]),
            "median": float(quantiles[2]),
            "p75": float(quantiles[3]),
            "p95": float(quantiles[4]),
            "max": float(residual.max()),
        },
        "points": [
            {"actual": float(predictions.y_true[i]), "predicted": float(predictions.values[i])}
            for i in picks
        ],
    }


def _business(kpis: Mapping[str, KpiValue], charter: Charter) -> list[dict[str, Any]]:
    out = []
    for value in kpis.values():
        if value.metric != "expected_value":
            continue
        costs = charter.kpi(value.name).costs or {}
        total = None if value.value is None or value.rows is None else value.value * value.rows
        out.append(
            {
                "kpi": value.name,
                "costs": dict(costs),
                "value_per_prediction": value.value,
                "total": total,
                "rows": value.rows,
            }
        )
    return out


def _slices(predictions: Predictions, charter: Charter) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for kpi in charter.kpis:
        if not kpi.where:
            continue
        label = describe_where(kpi.where)
        if label in seen:
            seen[label]["kpis"].append(kpi.name)
            continue
        entry: dict[str, Any] = {"where": dict(kpi.where), "kpis": [kpi.name]}
        try:
            mask = slice_mask(predictions.frame, kpi.where)
        except KeyError as exc:
            entry.update(rows=0, metrics={}, error=f"the slice column {exc} is not in the data")
        else:
            metrics, _ = model_metrics(predictions.take(mask), charter) if mask.any() else ({}, {})
            entry.update(rows=int(mask.sum()), metrics=metrics, error=None)
        seen[label] = entry
    return seen


# --- the whole validation --------------------------------------------------------------


def validate_model(
    model: FittedModel,
    test: pd.DataFrame,
    charter: Charter,
    *,
    train: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> ValidationReport:
    """Measure `model` on the held-out `test` rows against everything the charter asks.

    Every registered model metric for the task (those needing `k` when a KPI sets it),
    each KPI's value where it can be computed offline (None with the reason otherwise;
    the latency KPIs get an in-process estimate, marked `estimate`), the business value,
    fairness per protected attribute (fairlearn; numeric attributes cut into quartile
    groups), calibration, metrics per KPI slice, ROC and PR curves, the confusion matrix
    at the model's threshold, permutation importance (seeded, on at most 1000 rows) and,
    for LightGBM, mean |contribution| per feature from its own `pred_contrib`. With
    `train`, the model metrics on the training rows too (to show any overfitting). Gate
    verdicts are not decided here.
    """
    with limited_threads(openmp_threads(len(test))):
        return _validate(model, test, charter, train, progress)


def _validate(
    model: FittedModel,
    test: pd.DataFrame,
    charter: Charter,
    train: pd.DataFrame | None,
    progress: Progress | None,
) -> ValidationReport:
    clock = time.perf_counter
    start = clock()
    seed = charter.model.seed
    predictions = predictions_of(model, test, "the test data")

    def step(name: Step, message: str, fraction: float) -> None:
        emit(
            progress,
            ProgressEvent(
                stage="validate",
                step=name,
                message=message,
                elapsed_s=clock() - start,
                fraction=fraction,
            ),
        )

    metrics, metric_errors = model_metrics(predictions, charter)
    train_metrics = None
    if train is not None:
        train_metrics, _ = model_metrics(predictions_of(model, train, "the training data"), charter)
    step("metrics", f"{len(metrics)} metrics on {predictions.n} held-out rows", 0.2)

    latencies = measure_latency(model.predict, predictions.frame)
    kpis = {kpi.name: evaluate_kpi(kpi, predictions, latencies) for kpi in charter.kpis}
    fairness = {
        attribute: _fairness(predictions, attribute) for attribute in charter.data.protected
    }
    calibration = _calibration(predictions)
    curves = _curves(predictions)
    confusion = _confusion(predictions, model.classes)
    slices = _slices(predictions, charter)
    step("metrics", "KPIs, fairness, calibration and curves", 0.5)

    importance = _importance(model, test.reset_index(drop=True), seed)
    importance.update(
        _contributions(model, test.reset_index(drop=True), seed)
        or {"contributions": None, "contribution_method": None, "contribution_bias": None}
    )
    step("explain", "permutation importance and contributions", 0.9)

    latency = {
        "p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else None,
        "p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else None,
        "rows": len(latencies),
        "estimate": True,
    }
    report = ValidationReport(
        task=model.task,
        candidate=model.candidate,
        rows=predictions.n,
        threshold=model.threshold,
        classes=tuple(model.classes),
        metrics=metrics,
        metric_errors=metric_errors,
        kpis=kpis,
        business=tuple(_business(kpis, charter)),
        fairness=fairness,
        calibration=calibration,
        slices=slices,
        curves=curves,
        confusion=confusion,
        importance=importance,
        regression=_regression(predictions, seed),
        latency=latency,
        train_metrics=train_metrics,
        seconds=clock() - start,
    )
    step("done", f"validated {model.candidate} on {predictions.n} rows", 1.0)
    return report
