"""The candidate models: built-in ones with their search spaces, and custom `module:function`.

A candidate knows its encoder family, its defaults (the first trial it gets) and its
Optuna search space. Parameters are suggested under the candidate's name
(`lightgbm.learning_rate`), so one study can search every candidate at once. Each
space is bounded so that one trial's cost is bounded: no candidate can grow more than
1000 trees or iterations.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from charter.modeling._errors import CandidateError
from charter.modeling._features import Family, FeaturePlan, encoder, prep_step
from charter.spec.schema import BUILTIN_CANDIDATES, Task

CLASSIFICATION = ("binary_classification", "multiclass_classification")


#: Below this many rows, OpenMP models (LightGBM, HistGradientBoosting) run on one thread:
#: their per-tree work is too small to share, and on a busy or small machine spinning
#: worker threads can make a fit ten times slower instead of faster.
OPENMP_MIN_ROWS = 50_000


def threads() -> int:
    """The worker threads a model may use: the CPUs, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


def openmp_threads(rows: int) -> int:
    """The OpenMP threads for fitting on `rows` rows: one for small data, else `threads()`."""
    return 1 if rows < OPENMP_MIN_ROWS else threads()


@contextlib.contextmanager
def limited_threads(count: int) -> Iterator[None]:
    """Cap the native thread pools (OpenMP, BLAS) of the libraries at `count` threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=count):
        yield


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: its range or choices and its default."""

    name: str
    kind: Literal["float", "int", "choice"]
    default: Any
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any, prefix: str) -> Any:
        key = f"{prefix}.{self.name}"
        if self.kind == "float":
            return trial.suggest_float(key, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(key, list(self.choices))


Builder = Callable[[Mapping[str, Any], Task, int, int], Any]


@dataclass(frozen=True)
class Candidate:
    """A candidate model: how to build it, its encoder family and its search space."""

    name: str
    family: Family
    scale: bool
    build: Builder
    space: tuple[Param, ...] = ()
    custom: bool = False
    tasks: frozenset[str] = field(default_factory=lambda: frozenset(CLASSIFICATION))

    @property
    def defaults(self) -> dict[str, Any]:
        """The parameters of the candidate's first trial."""
        return {param.name: param.default for param in self.space}

    @property
    def tunable(self) -> bool:
        """Whether the candidate has hyper-parameters to search."""
        return bool(self.space)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Parameters drawn by an Optuna trial, keyed by their plain names."""
        return {param.name: param.suggest(trial, self.name) for param in self.space}

    def enqueued(self) -> dict[str, Any]:
        """The defaults keyed as the study knows them, for `study.enqueue_trial`."""
        return {"candidate": self.name, **{f"{self.name}.{k}": v for k, v in self.defaults.items()}}

    def pipeline(
        self,
        plan: FeaturePlan,
        task: Task,
        params: Mapping[str, Any],
        seed: int,
        openmp: int = 1,
    ) -> Any:
        """A fresh, unfitted pipeline: FramePrep, the family's encoder, the estimator.

        `openmp` is the thread count for LightGBM (see `openmp_threads`).
        """
        return Pipeline(
            [
                ("prep", prep_step(plan)),
                ("encode", encoder(self.family, scale=self.scale, frame_output=self.custom)),
                ("model", self.build(params, task, seed, openmp)),
            ]
        )


# --- the built-in candidates -----------------------------------------------------------


def _logistic(params: Mapping[str, Any], task: Task, seed: int, openmp: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    weight = params.get("class_weight", "none")
    return LogisticRegression(
        C=float(params.get("C", 1.0)),
        class_weight=None if weight == "none" else weight,
        max_iter=1000,
        random_state=seed,
    )


def _ridge(params: Mapping[str, Any], task: Task, seed: int, openmp: int) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=float(params.get("alpha", 1.0)), random_state=seed)


def _forest(params: Mapping[str, Any], task: Task, seed: int, openmp: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    depth = int(params.get("max_depth", 0))
    features = str(params.get("max_features", "sqrt"))
    common = {
        "n_estimators": int(params.get("n_estimators", 100)),
        "max_depth": depth or None,
        "min_samples_leaf": int(params.get("min_samples_leaf", 1)),
        "max_features": features if features == "sqrt" else float(features),
        "n_jobs": threads(),
        "random_state": seed,
    }
    if task == "regression":
        return RandomForestRegressor(**common)
    return RandomForestClassifier(**common)


def _hist(params: Mapping[str, Any], task: Task, seed: int, openmp: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    common = {
        "learning_rate": float(params.get("learning_rate", 0.1)),
        "max_iter": int(params.get("max_iter", 100)),
        "max_leaf_nodes": int(params.get("max_leaf_nodes", 31)),
        "min_samples_leaf": int(params.get("min_samples_leaf", 20)),
        "l2_regularization": float(params.get("l2_regularization", 0.0)),
        "categorical_features": "from_dtype",
        "early_stopping": "auto",
        "random_state": seed,
    }
    if task == "regression":
        return HistGradientBoostingRegressor(**common)
    return HistGradientBoostingClassifier(**common)


def _lightgbm(params: Mapping[str, Any], task: Task, seed: int, openmp: int) -> Any:
    import lightgbm

    common: dict[str, Any] = {
        "n_estimators": int(params.get("n_estimators", 100)),
        "learning_rate": float(params.get("learning_rate", 0.1)),
        "num_leaves": int(params.get("num_leaves", 31)),
        "min_child_samples": int(params.get("min_child_samples", 20)),
        "subsample": float(params.get("subsample", 1.0)),
        "subsample_freq": 1,
        "colsample_bytree": float(params.get("colsample_bytree", 1.0)),
        "reg_lambda": float(params.get("reg_lambda", 0.0)),
        "random_state": seed,
        "n_jobs": openmp,
        "deterministic": True,
        "force_col_wise": True,
        "verbose": -1,
    }
    if task == "regression":
        return lightgbm.LGBMRegressor(**common)
    return lightgbm.LGBMClassifier(**common)


_ALL = frozenset(("binary_classification", "multiclass_classification", "regression"))

BUILTINS: Mapping[str, Candidate] = {
    "logistic_regression": Candidate(
        "logistic_regression",
        "dense",
        True,
        _logistic,
        (
            Param("C", "float", 1.0, 1e-3, 1e2, log=True),
            Param("class_weight", "choice", "none", choices=("none", "balanced")),
        ),
    ),
    "linear_regression": Candidate(
        "linear_regression",
        "dense",
        True,
        _ridge,
        (Param("alpha", "float", 1.0, 1e-3, 1e3, log=True),),
        tasks=frozenset({"regression"}),
    ),
    "random_forest": Candidate(
        "random_forest",
        "dense",
        False,
        _forest,
        (
            Param("n_estimators", "int", 100, 50, 300, log=True),
            Param("max_depth", "choice", 0, choices=(0, 4, 8, 16)),
            Param("min_samples_leaf", "int", 1, 1, 30, log=True),
            Param("max_features", "choice", "sqrt", choices=("sqrt", "0.5", "1.0")),
        ),
        tasks=_ALL,
    ),
    "hist_gradient_boosting": Candidate(
        "hist_gradient_boosting",
        "native",
        False,
        _hist,
        (
            Param("learning_rate", "float", 0.1, 0.01, 0.3, log=True),
            Param("max_iter", "int", 100, 50, 300, log=True),
            Param("max_leaf_nodes", "int", 31, 8, 128, log=True),
            Param("min_samples_leaf", "int", 20, 5, 200, log=True),
            Param("l2_regularization", "float", 1e-6, 1e-6, 10.0, log=True),
        ),
        tasks=_ALL,
    ),
    "lightgbm": Candidate(
        "lightgbm",
        "native",
        False,
        _lightgbm,
        (
            Param("n_estimators", "int", 100, 50, 1000, log=True),
            Param("learning_rate", "float", 0.1, 0.01, 0.3, log=True),
            Param("num_leaves", "int", 31, 8, 128, log=True),
            Param("min_child_samples", "int", 20, 5, 100, log=True),
            Param("subsample", "float", 1.0, 0.5, 1.0),
            Param("colsample_bytree", "float", 1.0, 0.5, 1.0),
            Param("reg_lambda", "float", 1e-8, 1e-8, 10.0, log=True),
        ),
        tasks=_ALL,
    ),
}
assert set(BUILTINS) == set(BUILTIN_CANDIDATES), "the schema and the registry disagree"


# --- custom candidates -----------------------------------------------------------------


def _describe(value: object) -> str:
    return f"a {type(value).__name__}"


def load_factory(spec: str, task: Task, *, check: bool = True) -> Callable[[], Any]:
    """The zero-argument factory behind `module:function`; CandidateError when it is unusable.

    The function is called with `task=` when it accepts that keyword, else with nothing;
    every estimator it returns is checked. With `check`, it is called once right away, so
    a bad candidate is refused before any search starts.
    """
    where = f"The candidate {spec!r} of model.candidates"
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise CandidateError(f"{where} must be 'module:function'. Got {spec!r} instead.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CandidateError(
            f"{where} must name an importable module. Got an import error instead: {exc}."
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise CandidateError(
            f"{where} must name a function of the module {module_name!r}. "
            f"Got {'nothing' if function is None else _describe(function)} instead."
        )
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    takes_task = "task" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )

    def factory() -> Any:
        try:
            estimator = function(task=task) if takes_task else function()
        except Exception as exc:
            raise CandidateError(
                f"{where} must build an estimator when called. "
                f"Got {type(exc).__name__}: {exc} instead."
            ) from exc
        check_estimator(spec, estimator, task)
        return estimator

    if check:
        factory()
    return factory


def check_estimator(spec: str, estimator: object, task: Task) -> None:
    """Raise `CandidateError` when `estimator` lacks fit, predict or predict_proba."""
    needed = ["fit", "predict"] + (["predict_proba"] if task in CLASSIFICATION else [])
    lacking = [name for name in needed if not callable(getattr(estimator, name, None))]
    if lacking:
        raise CandidateError(
            f"The candidate {spec!r} of model.candidates must return a scikit-learn-compatible "
            f"estimator with {', '.join(needed)}. Got {_describe(estimator)} without "
            f"{' or '.join(lacking)} instead."
        )


class CustomEstimator(BaseEstimator):  # type: ignore[misc]
    """Adapts the estimator a custom `module:function` returns to a pipeline's last step.

    Each `fit` calls the function again, so every cross-validation fold starts fresh; the
    fitted estimator is `estimator_`. Pickling keeps the fitted estimator, so the module
    must be importable wherever the model is loaded.
    """

    def __init__(self, spec: str = "", task: Task = "binary_classification") -> None:
        self.spec = spec
        self.task = task

    def fit(self, X: Any, y: Any, **fit_params: Any) -> CustomEstimator:
        estimator = load_factory(self.spec, self.task, check=False)()
        estimator.fit(X, y, **fit_params)
        self.estimator_ = estimator
        classes = getattr(estimator, "classes_", None)
        if classes is not None:
            self.classes_ = np.asarray(classes)
        return self

    def predict(self, X: Any) -> Any:
        return self.estimator_.predict(X)

    def predict_proba(self, X: Any) -> Any:
        return self.estimator_.predict_proba(X)


def resolve(name: str, task: Task) -> Candidate:
    """The candidate called `name` for `task`; `CandidateError` when it cannot be used."""
    if name in BUILTINS:
        candidate = BUILTINS[name]
        if task not in candidate.tasks:
            instead = "logistic_regression" if task in CLASSIFICATION else "linear_regression"
            raise CandidateError(
                f"The candidate {name!r} of model.candidates must fit the task {task} "
                f"(use {instead!r}). Got {name!r} instead."
            )
        return candidate
    if ":" not in name:
        raise CandidateError(
            f"The candidate {name!r} of model.candidates must be one of "
            f"{', '.join(sorted(BUILTINS))} or 'module:function'. Got {name!r} instead."
        )
    load_factory(name, task)

    def build(params: Mapping[str, Any], task_: Task, seed: int, openmp: int) -> Any:
        return CustomEstimator(spec=name, task=task_)

    return Candidate(name, "dense", True, build, (), custom=True, tasks=_ALL)
