"""Candidates: every built-in fits every task; custom `module:function` ones and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from charter.modeling import CandidateError, train_model
from charter.modeling._candidates import BUILTINS, CustomEstimator, Param, load_factory, resolve
from charter.spec.schema import BUILTIN_CANDIDATES
from tests.modeling.conftest import generated, make_charter

TASKS = ["binary_classification", "multiclass_classification", "regression"]
CUSTOM = "tests.modeling.custom_candidates"


def _candidates_for(task: str) -> list[str]:
    linear = "linear_regression" if task == "regression" else "logistic_regression"
    return [linear, "random_forest", "hist_gradient_boosting", "lightgbm"]


def test_the_registry_matches_the_schema() -> None:
    assert sorted(BUILTINS) == sorted(BUILTIN_CANDIDATES)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_defaults_lie_inside_each_search_space(name: str) -> None:
    for param in BUILTINS[name].space:
        if param.kind == "choice":
            assert param.default in param.choices, param.name
        else:
            assert param.low <= param.default <= param.high, param.name


def test_params_are_suggested_under_the_candidate_name() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.keys: list[str] = []

        def suggest_float(self, key: str, low: float, high: float, log: bool) -> float:
            self.keys.append(key)
            return low

        def suggest_int(self, key: str, low: int, high: int, log: bool) -> int:
            self.keys.append(key)
            return low

        def suggest_categorical(self, key: str, choices: list[object]) -> object:
            self.keys.append(key)
            return choices[0]

    trial = Recorder()
    params = BUILTINS["lightgbm"].suggest(trial)
    assert trial.keys[0] == "lightgbm.n_estimators"
    assert set(params) == {p.name for p in BUILTINS["lightgbm"].space}
    assert Param("x", "choice", "a", choices=("a", "b")).suggest(trial, "c") == "a"


@pytest.mark.parametrize("task", TASKS)
def test_every_builtin_candidate_fits_and_predicts_each_task(task: str) -> None:
    frame = generated(task, n=240)
    charter = make_charter(
        task,
        model={"candidates": _candidates_for(task), "budget": {"trials": 4, "seconds": None}},
    )
    result = train_model(frame, charter)
    assert [t.candidate for t in result.trials] == _candidates_for(task)
    assert all(t.state == "complete" for t in result.trials), [t.error for t in result.trials]
    assert {f.candidate for f in result.finalists} == set(_candidates_for(task))
    model = result.model
    predicted = model.predict(frame.head(7))
    assert len(predicted) == 7
    if task == "regression":
        assert predicted.dtype == np.float64
    else:
        assert set(predicted) <= set(model.classes)
        proba = model.predict_proba(frame.head(7))
        assert proba.shape == (7, len(model.classes))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_a_candidate_unfit_for_the_task_is_refused() -> None:
    with pytest.raises(CandidateError, match=r"'linear_regression' .* must fit the task binary"):
        resolve("linear_regression", "binary_classification")
    with pytest.raises(CandidateError, match=r"must fit the task regression .*'linear_regression'"):
        resolve("logistic_regression", "regression")
    with pytest.raises(CandidateError, match=r"must be one of .* or 'module:function'"):
        resolve("xgboost", "regression")


@pytest.mark.parametrize("task", TASKS)
def test_a_custom_candidate_trains_for_every_task(task: str) -> None:
    frame = generated(task, n=240)
    charter = make_charter(
        task,
        model={
            "candidates": [f"{CUSTOM}:make_tree"],
            "budget": {"trials": 3, "seconds": None},
        },
    )
    result = train_model(frame, charter)
    # No search space: one trial at its own settings, then the search is exhausted.
    assert len(result.trials) == 1
    assert result.budget_used.stopped_by == "exhausted"
    assert result.model.candidate == f"{CUSTOM}:make_tree"
    assert isinstance(result.model.estimator, CustomEstimator)
    assert len(result.model.predict(frame.head(5))) == 5


def test_a_custom_function_without_arguments_is_called_plainly() -> None:
    factory = load_factory(f"{CUSTOM}:make_plain_tree", "binary_classification")
    assert hasattr(factory(), "predict_proba")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            f"{CUSTOM}:make_bad",
            r"must return a scikit-learn-compatible estimator with fit, predict, "
            r"predict_proba\. Got a dict without fit or predict or predict_proba instead\.",
        ),
        (f"{CUSTOM}:make_no_proba", r"Got a NoProba without predict_proba instead\."),
        (f"{CUSTOM}:make_broken", r"must build an estimator when called\. Got RuntimeError"),
        (f"{CUSTOM}:nothing_here", r"must name a function of the module .* Got nothing"),
        ("tests.modeling.no_such_module:make", r"must name an importable module"),
    ],
)
def test_a_bad_custom_candidate_is_refused_before_any_search(spec: str, message: str) -> None:
    charter = make_charter(model={"candidates": ["logistic_regression", spec]})
    with pytest.raises(CandidateError, match=message):
        train_model(generated(n=120), charter)
