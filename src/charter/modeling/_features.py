"""Feature preparation built from the charter's contract, and the encoders each model family needs.

Every fitted pipeline starts with `FramePrep`: it picks the feature columns by name (so
a frame may carry extra columns, in any order), coerces each to its kind and normalises
categorical values to text, so that `1`, `1.0` and `"1"` are one category and a missing
value is always NaN. Then comes the family's encoder:

- "dense" (linear models, random forest, custom candidates): numeric columns imputed with
  the median (plus a missing indicator) and, where the model needs it, standardised;
  categorical columns one-hot encoded, rare levels pooled, unseen levels ignored.
- "native" (histogram gradient boosting, LightGBM): numeric columns as they are (missing
  stays NaN); categorical columns as pandas categoricals whose categories are fixed at fit
  time, so an unseen level becomes NaN and the model's own categorical split handles it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from charter.modeling._errors import FeatureError, TrainingError
from charter.spec.schema import Charter
from charter.values import (
    category_strings,
    datetime_series,
    numeric_values,
)

FeatureKind = Literal["numeric", "categorical", "datetime"]
Family = Literal["dense", "native"]

#: The contract types and the feature kind each becomes.
CONTRACT_KINDS: Mapping[str, FeatureKind] = {
    "int": "numeric",
    "float": "numeric",
    "bool": "categorical",
    "category": "categorical",
    "string": "categorical",
    "datetime": "datetime",
}
#: One-hot: levels seen fewer times than this in training are pooled into one column.
MIN_FREQUENCY = 5
#: One-hot: at most this many columns per categorical feature (the pooled one included).
MAX_ONE_HOT = 50
#: Native: at most this many categories per feature (HistGradientBoosting allows 255 bins).
MAX_NATIVE_CATEGORIES = 250
#: The parts a datetime feature is expanded into.
DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour")
#: The label of the missing group in fairness groups and slices.
MISSING_LABEL = "(missing)"


@dataclass(frozen=True)
class FeaturePlan:
    """The feature columns, in training order, and the kind of each."""

    features: tuple[str, ...]
    kinds: Mapping[str, FeatureKind] = field(default_factory=dict)

    def of_kind(self, kind: FeatureKind) -> list[str]:
        """The features of `kind`, in order."""
        return [name for name in self.features if self.kinds[name] == kind]


def excluded_columns(charter: Charter) -> set[str]:
    """The columns that are never features: target, id, timestamp and `data.exclude`."""
    data = charter.data
    names = {charter.objective.target, *data.exclude}
    names.update(name for name in (data.id, data.timestamp) if name)
    return names


def kind_of(series: pd.Series, declared: str | None) -> FeatureKind:
    """A column's feature kind: from its contract type when declared, else from its dtype."""
    if declared is not None:
        return CONTRACT_KINDS[declared]
    if ptypes.is_bool_dtype(series):
        return "categorical"
    if ptypes.is_datetime64_any_dtype(series):
        return "datetime"
    if ptypes.is_numeric_dtype(series):
        return "numeric"
    return "categorical"


def plan_features(frame: pd.DataFrame, charter: Charter) -> FeaturePlan:
    """The features of `frame` under `charter`: every column but the excluded ones."""
    excluded = excluded_columns(charter)
    contract = charter.data.contract
    features = tuple(str(c) for c in frame.columns if str(c) not in excluded)
    if not features:
        raise TrainingError(
            "The training data must have at least one feature column besides the target, "
            f"id, timestamp and data.exclude. Got only {sorted(map(str, frame.columns))} instead."
        )
    kinds: dict[str, FeatureKind] = {}
    for name in features:
        column = contract.get(name)
        kinds[name] = kind_of(frame[name], column.type if column is not None else None)
    return FeaturePlan(features, kinds)


# Value normalisation lives in the foundation (`charter.values`); re-exported here.


def safe_names(names: Iterable[str]) -> list[str]:
    """Unique column names of letters, digits and underscores (LightGBM refuses JSON marks)."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "feature"
        candidate, index = base, 2
        while candidate in seen:
            candidate, index = f"{base}_{index}", index + 1
        seen.add(candidate)
        out.append(candidate)
    return out


def check_columns(frame: pd.DataFrame, features: Sequence[str]) -> None:
    """Raise `FeatureError` naming the feature columns `frame` lacks."""
    present = {str(c) for c in frame.columns}
    lacking = [name for name in features if name not in present]
    if lacking:
        listed = ", ".join(repr(name) for name in lacking)
        noun = "column" if len(lacking) == 1 else "columns"
        raise FeatureError(
            f"The frame must have the feature {noun} {listed} the model was trained on. "
            f"Got a frame without {'it' if len(lacking) == 1 else 'them'} instead."
        )


# --- transformers ----------------------------------------------------------------------


class FramePrep(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Select the features by name and coerce each to its kind; output a new DataFrame.

    Numeric features come out as float64, categorical ones as text (object) with NaN for
    missing, and each datetime feature as float64 parts (year, month, day, day of week,
    hour). Output names are made safe for every model library; `sources_` maps each
    output column back to its feature.
    """

    def __init__(
        self,
        features: Sequence[str] = (),
        kinds: Mapping[str, FeatureKind] | None = None,
    ) -> None:
        self.features = features
        self.kinds = kinds

    def fit(self, X: pd.DataFrame, y: object = None) -> FramePrep:
        check_columns(X, self.features)
        kinds = dict(self.kinds or {})
        names: list[str] = []
        sources: list[str] = []
        for name in self.features:
            if kinds.get(name, "numeric") == "datetime":
                names.extend(f"{name}_{part}" for part in DATETIME_PARTS)
                sources.extend([name] * len(DATETIME_PARTS))
            else:
                names.append(name)
                sources.append(name)
        self.names_out_ = safe_names(names)
        self.sources_ = sources
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_columns(X, self.features)
        kinds = dict(self.kinds or {})
        columns: dict[str, np.ndarray] = {}
        position = 0
        for name in self.features:
            series = X[name]
            kind = kinds.get(name, "numeric")
            if kind == "datetime":
                parsed = datetime_series(series)
                for part in DATETIME_PARTS:
                    values = getattr(parsed.dt, part).astype("float64")
                    columns[self.names_out_[position]] = values.to_numpy(
                        dtype=np.float64, na_value=np.nan
                    )
                    position += 1
                continue
            if kind == "categorical":
                columns[self.names_out_[position]] = category_strings(series)
            else:
                columns[self.names_out_[position]] = numeric_values(series)
            position += 1
        index = pd.RangeIndex(len(X))
        # Explicit dtypes: pandas 3 would otherwise turn text arrays into its `str` dtype.
        return pd.DataFrame(
            {
                name: pd.Series(values, index=index, dtype=values.dtype)
                for name, values in columns.items()
            },
            index=index,
        )

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.names_out_, dtype=object)


class CategoryCaster(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Turn text columns into pandas categoricals with the categories fixed at fit time.

    At most `max_categories` levels are kept (the most frequent; ties by name). A level
    not kept, unseen or missing becomes NaN, which LightGBM and HistGradientBoosting
    route through their missing-value branch instead of failing.
    """

    def __init__(self, max_categories: int = MAX_NATIVE_CATEGORIES) -> None:
        self.max_categories = max_categories

    def fit(self, X: pd.DataFrame, y: object = None) -> CategoryCaster:
        categories: dict[str, list[str]] = {}
        for name in X.columns:
            if X[name].dtype != object:
                continue
            counts = pd.Series(X[name]).dropna().value_counts()
            ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
            kept = sorted(str(value) for value, _ in ranked[: self.max_categories])
            categories[str(name)] = kept or ["(none)"]
        self.categories_ = categories
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        for name, categories in self.categories_.items():
            index = {value: code for code, value in enumerate(categories)}
            codes = np.fromiter(
                (index.get(value, -1) for value in X[name].to_numpy(dtype=object)),
                dtype=np.int32,
                count=len(X),
            )
            out[name] = pd.Categorical.from_codes(codes, categories=categories)
        return out


def encoder(family: Family, *, scale: bool, frame_output: bool = False) -> Any:
    """The encoding step of `family`, to follow `FramePrep` in a pipeline.

    With `frame_output`, the dense encoder returns a DataFrame whose columns are named
    "numeric__<feature>", "numeric__missingindicator_<feature>" and
    "categorical__<feature>_<level>" (rare levels pool into "..._infrequent_sklearn").
    """
    if family == "native":
        return CategoryCaster()
    numeric_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))
    ]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        min_frequency=MIN_FREQUENCY,
        max_categories=MAX_ONE_HOT,
        sparse_output=False,
    )
    transformer = ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), make_column_selector(dtype_include="number")),
            ("categorical", categorical, make_column_selector(dtype_include=object)),
        ],
        remainder="drop",
    )
    if frame_output:
        transformer.set_output(transform="pandas")
    return transformer


def prep_step(plan: FeaturePlan) -> FramePrep:
    """A `FramePrep` for `plan`."""
    return FramePrep(features=plan.features, kinds=dict(plan.kinds))
