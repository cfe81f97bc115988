"""TrainingResult.to_dict: strict JSON in the documented shape."""

from __future__ import annotations

import json

from charter.modeling import train_model
from tests.modeling.conftest import generated, make_charter


def test_to_dict_is_strict_json_with_the_documented_shape() -> None:
    charter = make_charter(
        model={
            "candidates": ["logistic_regression", "hist_gradient_boosting"],
            "budget": {"trials": 3},
        }
    )
    result = train_model(generated(n=200), charter)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(data) == {
        "primary",
        "budget_used",
        "trials",
        "finalists",
        "threshold",
        "chosen",
        "model",
        "lineage",
        "notes",
    }
    assert set(data["trials"][0]) == {
        "number",
        "candidate",
        "params",
        "default",
        "state",
        "score",
        "score_std",
        "fold_scores",
        "seconds",
        "started_s",
        "error",
    }
    finalist = data["finalists"][0]
    assert set(finalist["kpis"]["auc"]) >= {"value", "constraint", "passes", "note"}
    assert data["chosen"]["candidate"] == result.model.candidate
    lineage = data["lineage"]
    assert {"seed", "versions", "candidate", "params", "n_rows", "features", "threshold"} <= set(
        lineage
    )
    assert {"numpy", "pandas", "scikit-learn", "lightgbm", "optuna", "python"} <= set(
        lineage["versions"]
    )
    assert lineage["n_rows"] == 200
    assert lineage["features"] == ["x1", "x2", "color", "sex"]
