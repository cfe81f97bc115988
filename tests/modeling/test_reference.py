"""Reference statistics: bins and frequencies that add up, as strict JSON."""

from __future__ import annotations

import itertools
import json
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.modeling import reference_statistics, train_model
from charter.modeling._reference import numeric_bins
from tests.modeling.conftest import generated, make_charter


def test_telco_reference_counts_add_up_to_the_rows(telco_trained: Any) -> None:
    result, train, _, _ = telco_trained
    stats = reference_statistics(result.model, train)
    json.dumps(stats, allow_nan=False)
    assert stats["rows"] == len(train)
    assert set(stats["features"]) == set(result.model.features)
    for name, feature in stats["features"].items():
        counts = feature["counts"]
        total = sum(counts.values()) if isinstance(counts, dict) else sum(counts)
        assert total + feature["missing_count"] == len(train), name
    charges = stats["features"]["TotalCharges"]
    assert charges["kind"] == "numeric"
    assert charges["missing_count"] == int(train["TotalCharges"].isna().sum())
    edges = np.asarray(charges["edges"], dtype=float)
    assert edges[0] == -np.inf
    assert edges[-1] == np.inf
    assert len(charges["counts"]) == len(edges) - 1 == 10
    assert (np.diff(edges) > 0).all()
    contract = stats["features"]["Contract"]
    assert contract["kind"] == "categorical"
    assert set(contract["counts"]) == {"Month-to-month", "One year", "Two year", "__other__"}
    assert sum(contract["frequencies"].values()) == 1.0
    prediction = stats["prediction"]
    assert prediction["kind"] == "positive_score"
    assert len(prediction["edges"]) == 11
    assert sum(prediction["counts"]) == len(train)
    assert stats["target"]["counts"] == {
        "No": int((train["Churn"] == "No").sum()),
        "Yes": int((train["Churn"] == "Yes").sum()),
    }


def test_the_bins_follow_the_documented_convention() -> None:
    frame = generated(n=300)
    model = train_model(frame, make_charter()).model
    stats = reference_statistics(model, frame)
    x1 = stats["features"]["x1"]
    edges = np.asarray(x1["edges"], dtype=float)
    values = frame["x1"].to_numpy()
    expected = [int(((values >= lo) & (values < hi)).sum()) for lo, hi in itertools.pairwise(edges)]
    assert x1["counts"] == expected
    assert x1["mean"] == float(values.mean())
    assert stats["features"]["x2"]["missing_count"] == int(frame["x2"].isna().sum())


def test_rare_levels_pool_into_other() -> None:
    frame = generated(n=400)
    frame["city"] = pd.Series([f"c{i % 80}" for i in range(400)], dtype=object)
    model = train_model(frame, make_charter()).model
    city = reference_statistics(model, frame)["features"]["city"]
    assert len(city["counts"]) == 51
    assert city["counts"]["__other__"] == 400 - sum(
        n for level, n in city["counts"].items() if level != "__other__"
    )
    assert sum(city["counts"].values()) == 400


def test_multiclass_and_regression_prediction_distributions() -> None:
    frame = generated("multiclass_classification", n=300)
    model = train_model(frame, make_charter("multiclass_classification")).model
    stats = reference_statistics(model, frame)
    assert stats["prediction"]["kind"] == "class"
    assert set(stats["prediction"]["counts"]) == {"high", "low", "mid"}
    assert sum(stats["prediction"]["counts"].values()) == 300
    frame = generated("regression", n=300)
    model = train_model(frame, make_charter("regression")).model
    stats = reference_statistics(model, frame)
    assert stats["prediction"]["kind"] == "value"
    assert sum(stats["prediction"]["counts"]) == 300
    assert stats["target"]["kind"] == "value"
    json.dumps(stats, allow_nan=False)


def test_format_two_adds_percentile_bins_and_tail_sums() -> None:
    frame = generated(n=400)
    model = train_model(frame, make_charter()).model
    stats = reference_statistics(model, frame)
    assert stats["format"] == 2
    x2 = stats["features"]["x2"]
    values = frame["x2"].to_numpy()
    present = values[~np.isnan(values)]
    fine = np.asarray(x2["fine_edges"], dtype=float)
    assert fine[0] == -np.inf
    assert fine[-1] == np.inf
    assert (np.diff(fine[1:-1]) > 0).all()
    assert len(fine) == 101
    expected = [
        int(((present >= lo) & (present < hi)).sum()) for lo, hi in itertools.pairwise(fine)
    ]
    assert x2["fine_counts"] == expected
    assert sum(x2["fine_counts"]) + x2["missing_count"] == 400
    low, high = x2["tail_sums"]
    assert low == pytest.approx(float(np.sum(fine[1] - present[present < fine[1]])))
    assert high == pytest.approx(float(np.sum(present[present >= fine[-2]] - fine[-2])))
    prediction = stats["prediction"]
    assert sum(prediction["fine_counts"]) == 400
    assert 0.0 <= prediction["min"] <= prediction["max"] <= 1.0
    assert prediction["std"] > 0
    json.dumps(stats, allow_nan=False)


def test_fine_bins_of_repeated_huge_and_missing_values() -> None:
    constant = numeric_bins(np.full(50, 3.0))
    assert constant["fine_edges"] == ["-inf", 3.0, "inf"]
    assert constant["fine_counts"] == [0, 50]
    assert constant["tail_sums"] == [0.0, 0.0]
    huge = numeric_bins(np.array([1e308] * 60 + [-1e308] * 40))
    assert huge["tail_sums"][1] <= sys.float_info.max
    json.dumps(huge, allow_nan=False)
    empty = numeric_bins(np.full(5, np.nan))
    assert empty["fine_edges"] == ["-inf", "inf"]
    assert empty["fine_counts"] == [0]
    assert empty["tail_sums"] == [0.0, 0.0]
