"""Performance before the labels arrive: confidence-based estimation from calibrated scores.

When a classifier's probabilities are calibrated, a prediction made with probability p of
the positive class is right with probability p (if it says positive) or 1 - p (if it says
negative). Summing those expectations over a window gives the expected confusion matrix,
and from it the expected accuracy, precision and recall. The expected ROC curve follows
the same way: at each score cut t, the expected true positives above t are the sum of p
over the rows scored above t and the expected false positives the sum of 1 - p, so the
expected ROC AUC is the area under (FPR(t), TPR(t)). This is NannyML's CBPE idea; it holds
only as far as the scores are calibrated, so every value here is labelled an estimate and
compared with the realised value once labels arrive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ESTIMATED_METRICS = ("accuracy", "precision", "recall", "roc_auc")


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else float(numerator / denominator)


def estimate_binary(
    positive_score: np.ndarray, threshold: float, *, decided: np.ndarray | None = None
) -> dict[str, float | None]:
    """Expected accuracy, precision, recall and ROC AUC from positive-class probabilities.

    `decided` says which rows the model called positive when its decisions came from other
    (uncalibrated) scores than the calibrated `positive_score`; by default p >= threshold.
    Scores outside [0, 1] are clipped and NaN scores dropped. Returns None for a metric whose
    expected denominator is zero (no predicted positives for precision, for example).
    """
    p = np.asarray(positive_score, dtype=np.float64)
    present = ~np.isnan(p)
    p = np.clip(p[present], 0.0, 1.0)
    n = len(p)
    if n == 0:
        return dict.fromkeys(ESTIMATED_METRICS)
    said_positive = p >= threshold if decided is None else np.asarray(decided, bool)[present]
    tp = float(p[said_positive].sum())
    fp = float((1.0 - p[said_positive]).sum())
    fn = float(p[~said_positive].sum())
    tn = float((1.0 - p[~said_positive]).sum())
    return {
        "accuracy": (tp + tn) / n,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "roc_auc": expected_roc_auc(p),
    }


def expected_roc_auc(positive_score: np.ndarray) -> float | None:
    """The area under the expected ROC curve of calibrated scores (None when undefined)."""
    p = np.sort(np.asarray(positive_score, dtype=np.float64))[::-1]
    positives = p.sum()
    negatives = (1.0 - p).sum()
    if positives <= 0 or negatives <= 0:
        return None
    # Cut between distinct scores only: tied scores move together, as in the realised curve.
    distinct = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]
    tpr = np.r_[0.0, np.cumsum(p)[distinct] / positives]
    fpr = np.r_[0.0, np.cumsum(1.0 - p)[distinct] / negatives]
    return float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else _trapezoid(tpr, fpr)


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def estimate_multiclass(probabilities: np.ndarray) -> dict[str, float | None]:
    """Expected accuracy of argmax decisions: the mean of the top probability per row."""
    proba = np.asarray(probabilities, dtype=np.float64)
    if proba.ndim != 2 or len(proba) == 0:
        return {"accuracy": None}
    rows = proba[~np.isnan(proba).any(axis=1)]
    if len(rows) == 0:
        return {"accuracy": None}
    return {"accuracy": float(rows.max(axis=1).mean())}


def compare(estimated: dict[str, Any], realised: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each metric in both: the estimate, the realised value and their difference."""
    out: dict[str, dict[str, Any]] = {}
    for name, guess in estimated.items():
        actual = realised.get(name)
        if guess is None or actual is None:
            continue
        out[name] = {
            "estimated": float(guess),
            "realised": float(actual),
            "error": float(guess) - float(actual),
        }
    return out
