"""validate_model on the held-out split: metrics, KPIs, fairness, calibration, explanations."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.modeling import (
    ModelingError,
    ProgressEvent,
    ValidationReport,
    train_model,
    validate_model,
)
from charter.spec import METRICS, MetricKind
from tests.conftest import datasets_dir
from tests.modeling.conftest import generated, make_charter


@pytest.fixture(scope="module")
def telco_report(telco_trained: Any) -> tuple[ValidationReport, Any, pd.DataFrame]:
    result, train, test, charter = telco_trained
    events: list[ProgressEvent] = []
    report = validate_model(result.model, test, charter, train=train, progress=events.append)
    assert events[-1].step == "done"
    assert events[-1].stage == "validate"
    return report, result, test


def test_telco_holdout_auc_is_sensible(telco_report: Any) -> None:
    report, _result, test = telco_report
    assert report.rows == len(test)
    assert report.metrics["roc_auc"] >= 0.80
    assert report.kpis["auc"].value == pytest.approx(report.metrics["roc_auc"])
    assert report.train_metrics is not None
    assert "roc_auc" in report.train_metrics


def test_every_applicable_model_metric_is_computed(telco_report: Any) -> None:
    report, _, _ = telco_report
    expected = {
        name
        for name, metric in METRICS.items()
        if metric.kind is MetricKind.MODEL and "binary_classification" in metric.tasks
    }
    # recall_at_k needs k and no KPI sets it; precision_at_k gets the KPI's k.
    assert set(report.metrics) | set(report.metric_errors) == expected - {"recall_at_k"}
    assert "precision_at_k" in report.metrics


def test_kpis_are_valued_or_explained(telco_report: Any) -> None:
    report, result, _ = telco_report
    kpis = report.kpis
    assert list(kpis) == [
        "auc",
        "value",
        "parity",
        "senior-recall",
        "top-precision",
        "p99",
        "drift",
    ]
    assert kpis["drift"].value is None
    assert kpis["drift"].note is not None
    assert "monitor-only" in kpis["drift"].note
    assert kpis["p99"].estimate is True
    assert kpis["p99"].value is not None
    assert kpis["senior-recall"].rows == report.slices["SeniorCitizen=1"]["rows"]
    assert kpis["parity"].value == pytest.approx(
        report.fairness["gender"]["difference"]["selection_rate"]
    )
    business = report.business[0]
    assert business["kpi"] == "value"
    assert business["total"] == pytest.approx(business["value_per_prediction"] * report.rows)
    assert report.threshold == result.model.threshold


def test_fairness_per_protected_group(telco_report: Any) -> None:
    report, _, test = telco_report
    gender = report.fairness["gender"]
    assert [g["group"] for g in gender["groups"]] == ["Female", "Male"]
    assert sum(g["count"] for g in gender["groups"]) == len(test)
    assert set(gender["groups"][0]) == {
        "group",
        "count",
        "selection_rate",
        "tpr",
        "fpr",
        "accuracy",
        "base_rate",
    }
    senior = report.fairness["SeniorCitizen"]
    assert [g["group"] for g in senior["groups"]] == ["0", "1"]
    assert not senior["binned"]


def test_calibration_curves_and_confusion(telco_report: Any) -> None:
    report, _, test = telco_report
    calibration = report.calibration
    assert calibration is not None
    assert len(calibration["bins"]) == 10
    assert sum(b["count"] for b in calibration["bins"]) == len(test)
    assert calibration["brier"] == pytest.approx(report.metrics["brier"])
    curves = report.curves
    assert curves is not None
    assert len(curves["roc"]["fpr"]) <= 200
    assert curves["roc"]["fpr"][0] == 0.0
    assert curves["roc"]["tpr"][-1] == 1.0
    assert curves["roc"]["auc"] == pytest.approx(report.metrics["roc_auc"])
    assert len(curves["pr"]["precision"]) <= 200
    confusion = report.confusion
    assert confusion is not None
    assert confusion["labels"] == ["No", "Yes"]
    assert np.asarray(confusion["matrix"]).sum() == len(test)


def test_permutation_importance_ranks_features(telco_report: Any) -> None:
    report, result, _ = telco_report
    importance = report.importance
    assert importance["metric"] == "roc_auc"
    ranked = importance["permutation"]
    assert {row["feature"] for row in ranked} == set(result.model.features)
    means = [row["mean"] for row in ranked]
    assert means == sorted(means, reverse=True)
    assert ranked[0]["mean"] > 0


def test_to_dict_is_strict_json(telco_report: Any) -> None:
    report, _, _ = telco_report
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["kpis"]["drift"]["value"] is None
    assert data["latency"]["estimate"] is True
    assert data["regression"] is None


def test_lightgbm_contributions_are_reported() -> None:
    frame = generated(n=400)
    charter = make_charter(model={"candidates": ["lightgbm"]}, data={"protected": ["sex"]})
    model = train_model(frame, charter).model
    report = validate_model(model, generated(n=200, seed=1), charter)
    contributions = report.importance["contributions"]
    assert report.importance["contribution_method"] == "lightgbm pred_contrib"
    assert {row["feature"] for row in contributions} == set(model.features)
    assert contributions[0]["feature"] == "x1"
    logistic = train_model(frame, make_charter())
    assert validate_model(logistic.model, frame, make_charter()).importance["contributions"] is None


def test_multiclass_validation() -> None:
    charter = make_charter(
        "multiclass_classification",
        model={"candidates": ["lightgbm"]},
        data={"protected": ["sex"]},
    )
    model = train_model(generated("multiclass_classification", n=300), charter).model
    test = generated("multiclass_classification", n=150, seed=1)
    report = validate_model(model, test, charter)
    assert {"accuracy", "log_loss", "roc_auc", "f1"} <= set(report.metrics)
    assert report.curves is None
    assert report.calibration is not None
    assert report.calibration["kind"] == "top label"
    assert np.asarray(report.confusion["matrix"]).shape == (3, 3)  # type: ignore[index]
    assert sum(g["count"] for g in report.fairness["sex"]["groups"]) == 150
    assert report.importance["contributions"] is not None


def test_regression_validation() -> None:
    charter = make_charter(
        "regression",
        kpis=[
            {"name": "rmse", "metric": "rmse", "at_most": 20},
            {"name": "cost", "metric": "expected_value", "costs": {"over": -1, "under": -3}},
        ],
    )
    model = train_model(generated("regression", n=300), charter).model
    test = generated("regression", n=150, seed=1)
    report = validate_model(model, test, charter)
    assert {"rmse", "mae", "r2", "mape"} == set(report.metrics)
    assert report.regression is not None
    assert len(report.regression["points"]) == 150
    assert report.regression["residuals"]["p05"] <= report.regression["residuals"]["p95"]
    assert report.calibration is None
    assert report.curves is None
    assert report.confusion is None
    assert report.kpis["cost"].value is not None
    assert report.kpis["cost"].value < 0
    assert report.importance["metric"] == "rmse"


def test_a_numeric_protected_attribute_is_cut_into_quartiles() -> None:
    frame = pd.read_csv(datasets_dir() / "adult_train.csv").sample(n=5000, random_state=7)
    frame = frame.astype(
        {c: object for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])}
    )
    frame = frame.astype({c: "float64" for c in frame.columns if frame[c].dtype != object})
    charter = make_charter(
        target="income",
        positive=">50K",
        data={"id": None, "protected": ["sex", "age"]},
        kpis=[{"name": "auc", "metric": "roc_auc", "at_least": 0.8}],
    )
    train, test = frame.iloc[:4000], frame.iloc[4000:]
    model = train_model(train, charter).model
    report = validate_model(model, test, charter)
    assert report.metrics["roc_auc"] >= 0.85
    age = report.fairness["age"]
    assert age["binned"]
    assert len(age["groups"]) == 4
    assert sum(g["count"] for g in age["groups"]) == 1000


def test_a_test_frame_without_the_target_is_refused(telco_trained: Any) -> None:
    result, _, test, charter = telco_trained
    with pytest.raises(ModelingError, match=r"The test data must have the target column 'Churn'"):
        validate_model(result.model, test.drop(columns=["Churn"]), charter)
