"""Offline KPI values through the metric registry: slices, groups, latency, thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from charter.modeling._kpis import (
    MISSING_LABEL,
    Predictions,
    best_threshold,
    evaluate_kpi,
    group_labels,
    measure_latency,
    meets,
    slice_mask,
    value_kpi,
)
from charter.spec import KPI, MetricInputs, get_metric


def _binary(n: int = 200, seed: int = 0) -> Predictions:
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < 0.4).astype(np.int64)
    score = np.clip(0.3 * truth + 0.7 * rng.random(n), 0.0, 1.0)
    frame = pd.DataFrame(
        {
            "sex": pd.Series(rng.choice(["F", "M"], n), dtype=object),
            "senior": rng.integers(0, 2, n).astype(float),
            "age": rng.uniform(18, 90, n),
        }
    )
    proba = np.column_stack([1.0 - score, score])
    return Predictions(
        "binary_classification", truth, frame, proba=proba, threshold=0.5, positive_code=1
    )


def _kpi(**fields: object) -> KPI:
    return KPI.model_validate({"name": "k", **fields})


def test_a_model_kpi_equals_the_registry_on_the_same_rows() -> None:
    predictions = _binary()
    value = evaluate_kpi(_kpi(metric="roc_auc", at_least=0.7), predictions)
    expected = get_metric("roc_auc").compute(
        MetricInputs(
            y_true=predictions.y_true, y_score=predictions.proba[:, 1], task="binary_classification"
        )  # type: ignore[index]
    )
    assert value.value == pytest.approx(expected)
    assert value.rows == 200
    assert value.kind == "model"
    assert value.at_least == 0.7


def test_a_slice_restricts_the_rows_with_normalised_values() -> None:
    predictions = _binary()
    kpi = _kpi(metric="accuracy", where={"senior": 1, "sex": ["F"]})
    value = evaluate_kpi(kpi, predictions)
    mask = (predictions.frame["senior"] == 1.0) & (predictions.frame["sex"] == "F")
    assert value.rows == int(mask.sum())
    picked = predictions.take(mask.to_numpy())
    expected = float(np.mean(picked.predicted() == picked.y_true))
    assert value.value == pytest.approx(expected)
    assert value.where == {"senior": 1, "sex": ("F",)}


def test_empty_or_missing_slices_explain_why() -> None:
    predictions = _binary()
    empty = evaluate_kpi(_kpi(metric="accuracy", where={"sex": "X"}), predictions)
    assert empty.value is None
    assert empty.rows == 0
    assert empty.note == "no rows in the slice sex='X'"
    absent = evaluate_kpi(_kpi(metric="accuracy", where={"region": "north"}), predictions)
    assert absent.note == "the slice column 'region' is not in the data"


def test_fairness_kpis_use_the_by_column_and_bin_numeric_ones() -> None:
    predictions = _binary()
    parity = evaluate_kpi(_kpi(metric="demographic_parity_difference", by="sex"), predictions)
    predicted = predictions.predicted()
    rates = [predicted[predictions.frame["sex"] == g].mean() for g in ("F", "M")]
    assert parity.value == pytest.approx(abs(rates[0] - rates[1]))
    by_age = evaluate_kpi(_kpi(metric="demographic_parity_difference", by="age"), predictions)
    assert by_age.value is not None
    missing = evaluate_kpi(_kpi(metric="demographic_parity_difference", by="race"), predictions)
    assert missing.note == "the 'by' column 'race' is not in the data"


def test_business_value_follows_the_threshold() -> None:
    predictions = _binary()
    kpi = _kpi(metric="expected_value", costs={"tp": 10, "fp": -2})
    low = evaluate_kpi(kpi, Predictions(**{**predictions.__dict__, "threshold": 0.0}))
    assert low.value == pytest.approx(
        (10 * predictions.y_true.sum() - 2 * (1 - predictions.y_true).sum()) / 200
    )
    chosen = best_threshold(kpi, predictions)
    best = evaluate_kpi(kpi, Predictions(**{**predictions.__dict__, "threshold": chosen}))
    assert best.value is not None
    assert low.value is not None
    assert best.value >= low.value
    assert value_kpi((_kpi(metric="roc_auc"), kpi)) is kpi
    assert value_kpi((_kpi(metric="roc_auc"),)) is None


def test_operational_and_monitor_only_kpis() -> None:
    predictions = _binary()
    latencies = np.array([1.0, 2.0, 3.0, 100.0])
    p50 = evaluate_kpi(_kpi(metric="latency_p50_ms"), predictions, latencies)
    assert p50.value == pytest.approx(2.5)
    assert p50.estimate is True
    assert p50.note is not None
    assert "estimate" in p50.note
    no_timing = evaluate_kpi(_kpi(metric="latency_p99_ms"), predictions)
    assert no_timing.value is None
    assert evaluate_kpi(_kpi(metric="error_rate"), predictions).note == (
        "measured while the model is served"
    )
    drift = evaluate_kpi(_kpi(metric="max_psi"), predictions)
    assert drift.value is None
    assert drift.note is not None
    assert "monitor-only" in drift.note
    frame = predictions.frame.copy()
    frame.loc[:9, "sex"] = None
    gaps = Predictions(**{**predictions.__dict__, "frame": frame})
    missing = evaluate_kpi(_kpi(metric="missing_rate", column="sex"), gaps)
    assert missing.value == pytest.approx(10 / 200)


def test_a_metric_the_data_cannot_support_gives_its_reason() -> None:
    predictions = _binary()
    one_class = predictions.take(predictions.y_true == 1)
    value = evaluate_kpi(_kpi(metric="roc_auc"), one_class)
    assert value.value is None
    assert value.note is not None
    assert "needs both classes" in value.note


def test_group_labels_keep_categories_and_cut_numbers() -> None:
    labels, binned = group_labels(pd.Series(["a", None, "b"], dtype=object))
    assert labels.tolist() == ["a", MISSING_LABEL, "b"]
    assert not binned
    few, binned = group_labels(pd.Series([0.0, 1.0, np.nan]))
    assert few.tolist() == ["0", "1", MISSING_LABEL]
    assert not binned
    many, binned = group_labels(pd.Series(np.arange(100.0)))
    assert binned
    assert len(set(many.tolist())) == 4
    assert many[0] == "[-inf, 24.75)"


def test_slice_mask_matches_text_and_numbers() -> None:
    frame = pd.DataFrame({"n": [1.0, 2.0, np.nan], "t": pd.Series(["a", "b", None], dtype=object)})
    assert slice_mask(frame, {"n": [1, 2]}).tolist() == [True, True, False]
    assert slice_mask(frame, {"t": "b", "n": 2}).tolist() == [False, True, False]
    with pytest.raises(KeyError):
        slice_mask(frame, {"zz": 1})


def test_meets_checks_both_bounds() -> None:
    assert meets(_kpi(metric="accuracy", at_least=0.5), 0.5)
    assert not meets(_kpi(metric="accuracy", at_least=0.5), 0.49)
    assert not meets(_kpi(metric="log_loss", at_most=0.3), 0.31)


def test_latency_is_measured_per_single_row() -> None:
    seen: list[int] = []
    frame = pd.DataFrame({"a": np.arange(500)})
    timings = measure_latency(lambda row: seen.append(len(row)), frame, rows=20, warmup=3)
    assert len(timings) == 20
    assert set(seen) == {1}
    assert len(seen) == 23
    assert (timings >= 0).all()
    assert len(measure_latency(lambda row: None, frame.head(0))) == 0
