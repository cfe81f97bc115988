"""Custom candidates for the tests, referred to as `tests.modeling.custom_candidates:NAME`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor


def make_tree(task: str = "binary_classification") -> Any:
    """A shallow decision tree for the task."""
    if task == "regression":
        return DecisionTreeRegressor(max_depth=4, random_state=0)
    return DecisionTreeClassifier(max_depth=4, random_state=0)


def make_plain_tree() -> Any:
    """A classification tree, from a function that takes no arguments."""
    return DecisionTreeClassifier(max_depth=3, random_state=0)


def make_bad() -> Any:
    """Not an estimator: a mapping without fit."""
    return {"kind": "not an estimator"}


def make_no_proba() -> Any:
    """An estimator without predict_proba."""

    class NoProba:
        def fit(self, X: Any, y: Any) -> NoProba:
            return self

        def predict(self, X: Any) -> Any:
            return np.zeros(len(X))

    return NoProba()


def make_broken() -> Any:
    """A function that raises."""
    raise RuntimeError("the candidate is broken on purpose")


class GroupBlind(BaseEstimator):  # type: ignore[misc]
    """Logistic regression that ignores the one-hot columns of the feature `group`."""

    def fit(self, X: pd.DataFrame, y: Any) -> GroupBlind:
        self.columns_ = [c for c in X.columns if not c.startswith("categorical__group_")]
        self.model_ = LogisticRegression(random_state=0).fit(X[self.columns_], y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: pd.DataFrame) -> Any:
        return self.model_.predict(X[self.columns_])

    def predict_proba(self, X: pd.DataFrame) -> Any:
        return self.model_.predict_proba(X[self.columns_])


def make_group_blind() -> Any:
    """A model that cannot see `group`, so its selection rates do not depend on it."""
    return GroupBlind()


class FailsToFit(BaseEstimator):  # type: ignore[misc]
    """An estimator whose fit always raises."""

    def fit(self, X: Any, y: Any) -> FailsToFit:
        raise ValueError("this estimator never fits")

    def predict(self, X: Any) -> Any:
        raise AssertionError("unreachable")

    def predict_proba(self, X: Any) -> Any:
        raise AssertionError("unreachable")


def make_fails_to_fit() -> Any:
    """An estimator that passes the protocol check but cannot be fitted."""
    return FailsToFit()
