"""Factories for the serving tests: fitted models of every built-in kind, and their holdouts.

Each model is trained once per session (one trial, its candidate forced) by the real
`train_model`, on the shared Telco data or on small generated frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.modeling import FittedModel, train_model
from charter.spec import Charter
from tests.conftest import datasets_dir

TELCO_NUMBERS = ("SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges")
#: Every model the tests use: "<data>-<candidate>".
CASES = (
    "telco-logistic_regression",
    "telco-lightgbm",
    "telco-random_forest",
    "telco-hist_gradient_boosting",
    "regression-linear_regression",
    "regression-lightgbm",
    "multiclass-logistic_regression",
    "multiclass-lightgbm",
    "mixed-logistic_regression",
    "mixed-lightgbm",
)
#: The kinds `compile_predictor` may serve each case on with prefer="auto".
FAST_KINDS = {
    "telco-logistic_regression": {"linear", "onnx"},
    "telco-lightgbm": {"lightgbm", "onnx"},
    "telco-random_forest": {"onnx"},
    "telco-hist_gradient_boosting": {"native"},
    "regression-linear_regression": {"linear", "onnx"},
    "regression-lightgbm": {"lightgbm", "onnx"},
    "multiclass-logistic_regression": {"linear", "onnx"},
    "multiclass-lightgbm": {"lightgbm", "onnx"},
    "mixed-logistic_regression": {"linear", "onnx"},
    "mixed-lightgbm": {"lightgbm", "onnx"},
}


@dataclass(frozen=True)
class Case:
    """A fitted model and the holdout it was not trained on."""

    name: str
    model: FittedModel
    holdout: pd.DataFrame

    @property
    def candidate(self) -> str:
        return self.name.split("-", 1)[1]


@functools.cache
def _telco() -> pd.DataFrame:
    frame = pd.read_csv(datasets_dir() / "telco_churn.csv", dtype=str, keep_default_na=False)
    for column in TELCO_NUMBERS:
        frame[column] = pd.to_numeric(frame[column].str.strip().replace("", np.nan))
    frame = frame.astype(dict.fromkeys(TELCO_NUMBERS, "float64"))
    texts = [column for column in frame.columns if column not in TELCO_NUMBERS]
    return frame.astype(dict.fromkeys(texts, object))


def telco() -> pd.DataFrame:
    """The Telco churn data, typed as charter's audit hands it over (a fresh copy)."""
    return _telco().copy()


def telco_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fixed 80/20 split of Telco churn."""
    frame = telco()
    order = np.random.default_rng(7).permutation(len(frame))
    cut = int(len(frame) * 0.8)
    train = frame.iloc[order[:cut]].reset_index(drop=True)
    test = frame.iloc[order[cut:]].reset_index(drop=True)
    return train, test


def generated(kind: str, n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Numbers with gaps, a category with gaps, and (for "mixed") rare levels and a date.

    `kind`: "regression" (target `amount`), "multiclass" or "mixed" (binary, target
    `label`). Rare levels (seen fewer than five times) pool into one-hot's infrequent
    column; "when" is a datetime feature.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n)
    shift = np.where(color == "red", 1.0, np.where(color == "green", -0.5, 0.0))
    frame = pd.DataFrame(
        {
            "id": [f"g{i:05d}" for i in range(n)],
            "x1": x1,
            "x2": np.where(rng.random(n) < 0.1, np.nan, x2),
            "color": pd.Series(color, dtype=object).where(rng.random(n) > 0.05, None),
        }
    )
    signal = 1.5 * x1 - np.nan_to_num(frame["x2"].to_numpy()) + shift
    if kind == "mixed":
        rare = rng.choice(np.array(["a", "b", "c"], dtype=object), size=n)
        rare[:12] = ["r1", "r1", "r2", "r2", "r2", "r3", "r4", "r4", "r5", "r6", "r7", "r7"]
        frame["rare"] = pd.Series(rare, dtype=object).where(rng.random(n) > 0.03, None)
        start = np.datetime64("2024-01-01T00:00")
        minutes = rng.integers(0, 60 * 24 * 365, size=n).astype("timedelta64[m]")
        frame["when"] = pd.Series(start + minutes).astype("datetime64[ns]")
        hours = frame["when"].dt.hour.to_numpy()
        signal = signal + np.where(hours >= 12, 1.0, -1.0) + np.where(rare == "a", 0.5, 0.0)
    noise = rng.normal(scale=0.5, size=n)
    if kind == "regression":
        frame["amount"] = 10.0 * signal + 50.0 + noise
    elif kind == "multiclass":
        names = np.array(["low", "mid", "high"], dtype=object)
        frame["label"] = pd.Series(names[np.digitize(signal + noise, [-0.7, 0.7])], dtype=object)
    else:
        frame["label"] = pd.Series(np.where(signal + noise > 0, "yes", "no"), dtype=object)
    return frame


def charter_for(data: str, candidate: str) -> Charter:
    """A charter that trains `candidate` alone, with one trial."""
    model = {
        "candidates": [candidate],
        "budget": {"trials": 1, "seconds": None},
        "cv_folds": 2,
    }
    project = {"name": "serving", "problem": "Serve it.", "owner": "tests@example.com"}
    if data == "telco":
        return Charter.model_validate(
            {
                "project": project,
                "objective": {
                    "task": "binary_classification",
                    "target": "Churn",
                    "positive": "Yes",
                },
                "data": {"source": "telco_churn.csv", "id": "customerID"},
                "kpis": [
                    {"name": "auc", "metric": "roc_auc", "at_least": 0.5},
                    # Costs make the decision threshold differ from 0.5.
                    {
                        "name": "value",
                        "metric": "expected_value",
                        "costs": {"tp": 300, "fp": -50},
                    },
                ],
                "model": model,
            }
        )
    task, target, kpi = {
        "regression": ("regression", "amount", {"name": "mae", "metric": "mae"}),
        "multiclass": ("multiclass_classification", "label", {"name": "acc", "metric": "accuracy"}),
        "mixed": ("binary_classification", "label", {"name": "auc", "metric": "roc_auc"}),
    }[data]
    objective: dict[str, Any] = {"task": task, "target": target}
    if data == "mixed":
        objective["positive"] = "yes"
    return Charter.model_validate(
        {
            "project": project,
            "objective": objective,
            "data": {"source": "data.csv", "id": "id"},
            "kpis": [kpi],
            "model": model,
        }
    )


@functools.cache
def case(name: str) -> Case:
    """The fitted model called `name` (see `CASES`), trained once per session."""
    data, candidate = name.split("-", 1)
    if data == "telco":
        train, holdout = telco_split()
    else:
        train, holdout = generated(data, n=800, seed=0), generated(data, n=600, seed=1)
    model = train_model(train, charter_for(data, candidate)).model
    return Case(name, model, holdout)


@pytest.fixture(params=CASES)
def any_case(request: pytest.FixtureRequest) -> Case:
    """Each fitted model in turn."""
    return case(str(request.param))
