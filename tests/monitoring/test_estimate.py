"""Confidence-based performance estimation: what calibrated scores predict before labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from charter.monitoring import compare, estimate_binary, estimate_multiclass, expected_roc_auc


def test_on_calibrated_scores_the_estimates_match_the_realised_metrics() -> None:
    rng = np.random.default_rng(7)
    p = rng.beta(2, 3, size=200_000)
    y = rng.uniform(size=p.size) < p  # labels drawn from the scores: calibrated by design
    estimate = estimate_binary(p, 0.5)
    said = p >= 0.5
    assert estimate["accuracy"] == pytest.approx(accuracy_score(y, said), abs=0.005)
    assert estimate["precision"] == pytest.approx(precision_score(y, said), abs=0.005)
    assert estimate["recall"] == pytest.approx(recall_score(y, said), abs=0.005)
    assert estimate["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=0.005)


def test_overconfident_scores_overestimate_and_the_comparison_says_by_how_much() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(size=50_000)
    y = rng.uniform(size=truth.size) < truth
    overconfident = np.clip((truth - 0.5) * 3 + 0.5, 0, 1)
    estimate = estimate_binary(overconfident, 0.5)
    realised = {"accuracy": float(accuracy_score(y, overconfident >= 0.5))}
    gap = compare(estimate, realised)["accuracy"]
    assert gap["error"] > 0.05  # the estimate is only as good as the calibration


def test_degenerate_inputs_give_none_not_errors() -> None:
    assert estimate_binary(np.array([]), 0.5) == dict.fromkeys(
        ("accuracy", "precision", "recall", "roc_auc")
    )
    only_negative = estimate_binary(np.zeros(10), 0.5)
    assert only_negative["accuracy"] == 1.0
    assert only_negative["precision"] is None
    assert only_negative["roc_auc"] is None
    with_nan = estimate_binary(np.array([np.nan, 0.9, 0.1, 2.0, -1.0]), 0.5)
    assert with_nan["accuracy"] is not None
    assert expected_roc_auc(np.ones(5)) is None


def test_ties_move_together_as_in_the_realised_curve() -> None:
    p = np.array([0.5] * 10)
    assert expected_roc_auc(p) == pytest.approx(0.5)


def test_multiclass_expects_the_mean_top_probability() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [np.nan, 0.5, 0.5]])
    assert estimate_multiclass(proba)["accuracy"] == pytest.approx(0.55)
    assert estimate_multiclass(np.zeros((0, 3)))["accuracy"] is None


def test_compare_skips_what_is_missing_on_either_side() -> None:
    assert compare({"accuracy": 0.8, "roc_auc": None}, {"accuracy": 0.75, "recall": 0.5}) == {
        "accuracy": {"estimated": 0.8, "realised": 0.75, "error": pytest.approx(0.05)}
    }
