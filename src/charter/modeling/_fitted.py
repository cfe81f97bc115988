"""The fitted model: labels, the pipeline, predictions, and its bytes with a versioned header."""

from __future__ import annotations

import json
import pickle
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from charter.framing import unframe
from charter.modeling._errors import ModelFormatError, ModelingError, TrainingError
from charter.modeling._features import (
    FeatureKind,
    check_columns,
)
from charter.modeling._jsonable import jsonable, plain
from charter.spec.schema import Task
from charter.values import category_strings, normalize_value, numeric_values

#: The version of the bytes `FittedModel.to_bytes` writes; `from_bytes` reads only this one.
MODEL_FORMAT_VERSION = 1
#: The first line of every model's bytes.
MAGIC = b"CHARTER-MODEL\n"
#: The packages whose versions are recorded in lineage and in a model's header.
PACKAGES = ("numpy", "pandas", "scikit-learn", "lightgbm", "optuna", "fairlearn")


def package_versions() -> dict[str, str]:
    """The Python version and the installed versions of the modeling packages."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# --- labels ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """The target's classes in their original values, and how to encode them as 0..K-1.

    Binary: `classes` is (negative, positive), so the positive class is code 1.
    Multiclass: the sorted labels. Regression: no classes; values pass as float64.
    """

    task: Task
    target: str
    classes: tuple[Any, ...] = ()
    positive: Any = None

    @property
    def positive_code(self) -> int | None:
        """The code of the positive class, when there is one."""
        if self.task == "binary_classification":
            return 1
        if self.positive is None:
            return None
        return self.classes.index(self.positive)

    def encode(self, values: pd.Series, what: str) -> np.ndarray:
        """The target as codes (classification) or float64 (regression); ModelingError if unfit."""
        if self.task == "regression":
            numbers = numeric_values(values)
            if np.isnan(numbers).any():
                raise ModelingError(
                    f"The target column {self.target!r} of {what} must hold numbers without "
                    f"missing values. Got {int(np.isnan(numbers).sum())} missing or non-numeric "
                    "values instead."
                )
            return numbers
        keys = category_strings(values)
        index = {normalize_value(label): code for code, label in enumerate(self.classes)}
        codes = np.fromiter((index.get(key, -1) for key in keys), dtype=np.int64, count=len(keys))
        if (codes < 0).any():
            bad = values.to_numpy(dtype=object)[np.flatnonzero(codes < 0)[0]]
            raise ModelingError(
                f"The target column {self.target!r} of {what} must hold the labels the model "
                f"knows ({', '.join(map(str, self.classes))}). Got {plain(bad)!r} instead."
            )
        return codes


def _natural_order(labels: list[Any]) -> list[Any]:
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


def fit_labels(values: pd.Series, task: Task, positive: Any, target: str) -> Labels:
    """The `Labels` of a training target; TrainingError when it cannot train `task`."""
    if values.isna().any():
        raise TrainingError(
            f"The target column {target!r} must have no missing values. "
            f"Got {int(values.isna().sum())} instead."
        )
    if task == "regression":
        labels = Labels(task, target)
        try:
            labels.encode(values, "the training data")
        except ModelingError as exc:
            raise TrainingError(str(exc)) from None
        return labels
    keys = category_strings(values)
    originals: dict[Any, Any] = {}
    for key, value in zip(keys, values.to_numpy(dtype=object), strict=True):
        originals.setdefault(key, plain(value))
    found = _natural_order(list(originals.values()))
    if len(found) < 2:
        raise TrainingError(
            f"The target column {target!r} must hold at least two classes. "
            f"Got only {found!r} instead."
        )
    chosen = None
    if positive is not None:
        wanted = normalize_value(positive)
        chosen = next((label for label in found if normalize_value(label) == wanted), None)
    if task == "multiclass_classification":
        return Labels(task, target, tuple(found), chosen)
    if len(found) > 2:
        raise TrainingError(
            f"The target column {target!r} of a binary_classification must hold two classes. "
            f"Got {len(found)} instead: {found[:10]!r}."
        )
    if positive is not None and chosen is None:
        raise TrainingError(
            f"The 'objective.positive' of the charter must be one of the target's values "
            f"{found!r}. Got {positive!r} instead."
        )
    if chosen is None:
        chosen = found[1]
    negative = found[0] if found[1] == chosen else found[1]
    return Labels(task, target, (negative, chosen), chosen)


# --- the fitted model ------------------------------------------------------------------


@dataclass(eq=False)
class FittedModel:
    """A trained pipeline with everything needed to use it: task, labels, features, threshold.

    `predict_proba` returns one column per class in `classes` order; `score` the
    positive-class probability (binary), the probability matrix (multiclass) or the
    prediction (regression); `predict` labels in their original values (binary: positive
    when the score reaches `threshold`). Frames may carry extra columns in any order; a
    missing feature column raises `FeatureError` naming it.
    """

    task: Task
    target: str
    positive: Any
    classes: tuple[Any, ...]
    features: tuple[str, ...]
    kinds: Mapping[str, FeatureKind]
    candidate: str
    params: Mapping[str, Any]
    threshold: float | None
    pipeline: Any
    seed: int = 7
    n_rows: int = 0
    versions: Mapping[str, str] = field(default_factory=package_versions)

    @property
    def labels(self) -> Labels:
        """The model's `Labels`, to encode a target the way it was trained."""
        return Labels(self.task, self.target, self.classes, self.positive)

    @property
    def estimator(self) -> Any:
        """The fitted estimator, the pipeline's last step."""
        return self.pipeline.steps[-1][1]

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    def _check(self, frame: pd.DataFrame) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise ModelingError(
                f"The frame handed to the model must be a pandas DataFrame. "
                f"Got a {type(frame).__name__} instead."
            )
        check_columns(frame, self.features)

    def prepared(self, frame: pd.DataFrame) -> Any:
        """The frame as the estimator sees it: after feature preparation and encoding."""
        self._check(frame)
        return self.pipeline[:-1].transform(frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, shape (n, len(classes)), columns in `classes` order."""
        if not self.is_classifier:
            raise ModelingError(
                "The method 'predict_proba' of a model must be used for classification. "
                "Got a regression model instead; use predict."
            )
        self._check(frame)
        proba = np.asarray(self.pipeline.predict_proba(frame), dtype=np.float64)
        if proba.ndim != 2 or proba.shape[1] != len(self.classes):
            raise ModelingError(
                f"The probabilities of candidate {self.candidate!r} must have one column per "
                f"class ({len(self.classes)}). Got shape {proba.shape} instead."
            )
        return proba

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Binary: the positive-class probability; multiclass: probabilities; regression: values."""
        if self.task == "binary_classification":
            return self.predict_proba(frame)[:, 1]
        if self.task == "multiclass_classification":
            return self.predict_proba(frame)
        self._check(frame)
        return np.asarray(self.pipeline.predict(frame), dtype=np.float64)

    def predict_codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted class codes (index into `classes`), or values for regression."""
        if self.task == "binary_classification":
            threshold = 0.5 if self.threshold is None else self.threshold
            return (self.predict_proba(frame)[:, 1] >= threshold).astype(np.int64)
        if self.task == "multiclass_classification":
            return np.asarray(self.predict_proba(frame).argmax(axis=1), dtype=np.int64)
        return self.score(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted labels in their original values (object array), or float64 values."""
        predicted = self.predict_codes(frame)
        if self.task == "regression":
            return predicted
        labels = np.empty(len(self.classes), dtype=object)
        labels[:] = list(self.classes)
        return np.asarray(labels[predicted], dtype=object)

    def describe(self) -> dict[str, Any]:
        """The model's metadata as JSON data (no pipeline)."""
        described: dict[str, Any] = jsonable(
            {
                "task": self.task,
                "target": self.target,
                "positive": self.positive,
                "classes": list(self.classes),
                "features": list(self.features),
                "kinds": dict(self.kinds),
                "candidate": self.candidate,
                "params": dict(self.params),
                "threshold": self.threshold,
                "seed": self.seed,
                "n_rows": self.n_rows,
                "versions": dict(self.versions),
            }
        )
        return described

    # --- bytes -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The model as bytes: a magic line, a JSON header line, then the pickled model.

        The header carries the format version and the library versions; only load
        bytes whose sha256 you recorded (unpickling runs code).
        """
        header = {
            "format": MODEL_FORMAT_VERSION,
            "candidate": self.candidate,
            "task": self.task,
            "versions": package_versions(),
        }
        line = json.dumps(header, sort_keys=True).encode("utf-8") + b"\n"
        return MAGIC + line + pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> FittedModel:
        """A model from `to_bytes` output; ModelFormatError for other bytes or format versions."""
        header, payload = unframe(data, MAGIC, what="a charter model", error=ModelFormatError)
        version = header.get("format")
        if version != MODEL_FORMAT_VERSION:
            raise ModelFormatError(
                f"The model's format version must be {MODEL_FORMAT_VERSION}, the one this "
                f"charter reads. Got {version!r} instead; retrain the model or load it with the "
                "charter that saved it."
            )
        try:
            model = pickle.loads(payload)
        except Exception as exc:
            raise ModelFormatError(
                f"The model's bytes must unpickle. Got {type(exc).__name__}: {exc} instead."
            ) from None
        if not isinstance(model, cls):
            raise ModelFormatError(
                f"The model's bytes must hold a FittedModel. Got a {type(model).__name__} instead."
            )
        return model


def read_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a model's bytes; ModelFormatError when they are not a charter model."""
    return unframe(data, MAGIC, what="a charter model", error=ModelFormatError)[0]
