"""The modeling package's public API is pinned, and its errors are CharterErrors."""

from __future__ import annotations

import json

import numpy as np

import charter.modeling
from charter.errors import CharterError
from charter.modeling._jsonable import jsonable


def test_the_public_api_is_pinned() -> None:
    assert charter.modeling.__all__ == [
        "MODEL_FORMAT_VERSION",
        "REFERENCE_FORMAT_VERSION",
        "BudgetUsed",
        "CandidateError",
        "FeatureError",
        "Finalist",
        "FittedModel",
        "KpiValue",
        "ModelFormatError",
        "ModelingError",
        "Predictions",
        "PrimaryKPI",
        "Progress",
        "ProgressEvent",
        "TrainingError",
        "TrainingResult",
        "TrialRecord",
        "ValidationReport",
        "evaluate_kpi",
        "reference_statistics",
        "train_model",
        "validate_model",
    ]
    for name in charter.modeling.__all__:
        assert getattr(charter.modeling, name) is not None


def test_every_error_is_a_charter_error() -> None:
    for name in ("CandidateError", "FeatureError", "ModelFormatError", "TrainingError"):
        error = getattr(charter.modeling, name)
        assert issubclass(error, charter.modeling.ModelingError)
        assert issubclass(error, CharterError)
    assert issubclass(charter.modeling.CandidateError, charter.modeling.TrainingError)


def test_jsonable_turns_numpy_and_nan_into_plain_json() -> None:
    value = {
        "a": np.float32(1.5),
        "b": np.int64(3),
        "c": float("nan"),
        "d": (np.bool_(True), np.array([1.0, np.inf])),
        1: "x",
    }
    converted = jsonable(value)
    assert converted == {"a": 1.5, "b": 3, "c": None, "d": [True, [1.0, None]], "1": "x"}
    json.dumps(converted, allow_nan=False)
