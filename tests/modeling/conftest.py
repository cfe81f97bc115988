"""Factories for the modeling tests: charters, generated frames, and the shared datasets."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.spec import Charter
from tests.conftest import datasets_dir

TASK_TARGETS = {
    "binary_classification": "label",
    "multiclass_classification": "label",
    "regression": "amount",
}


def make_charter(
    task: str = "binary_classification",
    *,
    target: str | None = None,
    positive: Any = "yes",
    kpis: list[dict[str, Any]] | None = None,
    model: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Charter:
    """A valid charter for the generated frames; every section can be overridden."""
    if kpis is None:
        kpis = {
            "binary_classification": [{"name": "auc", "metric": "roc_auc", "at_least": 0.5}],
            "multiclass_classification": [{"name": "acc", "metric": "accuracy"}],
            "regression": [{"name": "rmse", "metric": "rmse", "at_most": 100.0}],
        }[task]
    objective: dict[str, Any] = {"task": task, "target": target or TASK_TARGETS[task]}
    if task == "binary_classification" and positive is not None:
        objective["positive"] = positive
    return Charter.model_validate(
        {
            "project": {"name": "test", "problem": "A test.", "owner": "tests@example.com"},
            "objective": objective,
            "data": {"source": "data.csv", "id": "id", **(data or {})},
            "kpis": kpis,
            "model": {
                "candidates": [
                    "linear_regression" if task == "regression" else "logistic_regression"
                ],
                "budget": {"trials": 1, "seconds": None},
                "cv_folds": 3,
                **(model or {}),
            },
        }
    )


def generated(task: str = "binary_classification", n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Numeric, categorical and missing values, with a target that depends on them.

    Typed like the data package hands frames over: numbers as float64 with NaN, text as
    object with None.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n)
    shift = np.where(color == "red", 1.0, np.where(color == "green", -0.5, 0.0))
    signal = 1.5 * x1 - x2 + shift
    frame = pd.DataFrame(
        {
            "id": np.arange(n).astype(float),
            "x1": x1,
            "x2": np.where(rng.random(n) < 0.1, np.nan, x2),
            "color": pd.Series(color, dtype=object).where(rng.random(n) > 0.05, None),
            "sex": pd.Series(rng.choice(np.array(["F", "M"], dtype=object), size=n), dtype=object),
        }
    )
    noise = rng.normal(scale=0.7, size=n)
    if task == "binary_classification":
        frame["label"] = pd.Series(np.where(signal + noise > 0, "yes", "no"), dtype=object)
    elif task == "multiclass_classification":
        cuts = np.digitize(signal + noise, [-0.7, 0.7])
        names = np.array(["low", "mid", "high"], dtype=object)
        frame["label"] = pd.Series(names[cuts], dtype=object)
    else:
        frame["amount"] = 10.0 * signal + 50.0 + noise
    return frame


@functools.cache
def _telco() -> pd.DataFrame:
    path = datasets_dir() / "telco_churn.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in ("tenure", "MonthlyCharges", "TotalCharges", "SeniorCitizen"):
        frame[column] = pd.to_numeric(frame[column].str.strip().replace("", np.nan))
    frame = frame.astype(dict.fromkeys(("tenure", "MonthlyCharges", "TotalCharges"), "float64"))
    frame["SeniorCitizen"] = frame["SeniorCitizen"].astype("float64")
    texts = [c for c in frame.columns if c not in ("tenure", "MonthlyCharges", "TotalCharges")]
    texts.remove("SeniorCitizen")
    return frame.astype(dict.fromkeys(texts, object))


def telco() -> pd.DataFrame:
    """The Telco churn data, typed as the data package hands it over (a fresh copy)."""
    return _telco().copy()


def telco_split(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified 80/20 split of Telco churn."""
    from sklearn.model_selection import train_test_split

    frame = telco()
    train, test = train_test_split(frame, test_size=0.2, random_state=seed, stratify=frame["Churn"])
    return train.reset_index(drop=True), test.reset_index(drop=True)


TELCO_CHARTER: dict[str, Any] = {
    "project": {"name": "telco", "problem": "Predict churn.", "owner": "tests@example.com"},
    "objective": {"task": "binary_classification", "target": "Churn", "positive": "Yes"},
    "data": {
        "source": "telco_churn.csv",
        "id": "customerID",
        "contract": {
            "gender": {"type": "category", "values": ["Female", "Male"]},
            "SeniorCitizen": {"type": "int", "values": [0, 1]},
            "tenure": {"type": "int", "min": 0},
            "TotalCharges": {"type": "float", "nullable": True},
            "Contract": {"type": "category"},
        },
        "protected": ["gender", "SeniorCitizen"],
    },
    "kpis": [
        {"name": "auc", "metric": "roc_auc", "at_least": 0.8, "gate": "deploy"},
        {
            "name": "value",
            "metric": "expected_value",
            "costs": {"tp": 300, "fp": -50},
            "at_least": 0,
            "gate": "deploy",
        },
        {
            "name": "parity",
            "metric": "demographic_parity_difference",
            "by": "gender",
            "at_most": 0.1,
            "gate": "deploy",
        },
        {
            "name": "senior-recall",
            "metric": "recall",
            "where": {"SeniorCitizen": 1},
            "at_least": 0.5,
        },
        {"name": "top-precision", "metric": "precision_at_k", "k": 0.1, "at_least": 0.5},
        {"name": "p99", "metric": "latency_p99_ms", "at_most": 50, "gate": "monitor"},
        {"name": "drift", "metric": "max_psi", "at_most": 0.2, "gate": "monitor"},
    ],
    "model": {
        "candidates": ["logistic_regression", "lightgbm"],
        "budget": {"trials": 4, "seconds": None},
        "cv_folds": 3,
    },
}


def telco_charter(**model: Any) -> Charter:
    """The Telco charter, with `model` keys overridden."""
    data = {**TELCO_CHARTER, "model": {**TELCO_CHARTER["model"], **model}}
    return Charter.model_validate(data)


@pytest.fixture(scope="session")
def telco_trained() -> Any:
    """A model trained on the Telco split once for the session: (result, train, test, charter)."""
    from charter.modeling import train_model

    train, test = telco_split()
    charter = telco_charter()
    return train_model(train, charter), train, test, charter
