"""Encoders read from a fitted pipeline once, and the hand-written kernels that follow them.

A charter pipeline is `FramePrep` -> an encoder -> the estimator. `read_encoder` reads the
fitted encoder's numbers (medians, scaler means and scales, one-hot columns, LightGBM
category codes) into an `Encoder`, which then turns records (dicts) or a frame's columns
into the float64 matrix the estimator sees, with plain Python and numpy: no DataFrame per
record. The value rules copy `charter.modeling`'s feature preparation (which this package
may not import): numbers through `float`, categories as text with `1.0` and `1` one
category, datetimes as UTC parts. The parity check at compile time is what proves the
copy faithful for a given model.

Kernels map the encoded matrix to probabilities (n, classes) or values (n,): `LinearKernel`
(a dot product and a sigmoid or softmax) and `BoosterKernel` (LightGBM's booster).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from charter.values import category_strings, datetime_series, normalize_value, numeric_values

#: The parts a datetime feature is expanded into, as `FramePrep` does.
DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour")
#: Batches at least this long may use every core; shorter ones run on one thread.
PARALLEL_ROWS = 10_000

Family = Literal["dense", "native"]
Link = Literal["logistic", "softmax", "identity"]


class UnsupportedPipeline(Exception):
    """The pipeline has a shape the encoder does not know; the message says which part."""


# --- values ------------------------------------------------------------------------------


def number(value: Any) -> float:
    """A record's value as a float, NaN when missing or not a number (as `pd.to_numeric`)."""
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    if value is None:
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if not text or "_" in text or not text.isascii():  # Python reads "1_000", "١٢"
            return math.nan
        try:
            return float(text)
        except ValueError:
            return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def category_key(value: Any) -> str | None:
    """A record's category as text (`1.0` and `1` give "1"), None when missing.

    The rule is training's (`charter.values.normalize_value`), so the fast path and the
    fitted pipeline see the same categories.
    """
    if isinstance(value, str):
        return value
    key = normalize_value(value)
    return key if isinstance(key, str) else None


def timestamp_parts(value: Any) -> tuple[float, ...]:
    """A record's datetime as (year, month, day, day of week, hour) in UTC; NaN when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (math.nan,) * len(DATETIME_PARTS)
    stamp = pd.to_datetime(value, errors="coerce", utc=True, format="mixed")
    if stamp is pd.NaT or not isinstance(stamp, pd.Timestamp):
        return (math.nan,) * len(DATETIME_PARTS)
    return tuple(float(getattr(stamp, part)) for part in DATETIME_PARTS)


def numbers_of(series: pd.Series) -> np.ndarray:
    """A column as float64, NaN where missing or not a number (training's rule)."""
    return numeric_values(series)


def keys_of(series: pd.Series) -> np.ndarray:
    """A column's categories as text in an object array, None where missing."""
    out = category_strings(series)
    out[pd.isna(out)] = None
    return out


def parts_of(series: pd.Series) -> list[np.ndarray]:
    """A column's datetime parts, each as float64 with NaN where missing."""
    parsed = datetime_series(series)
    return [
        getattr(parsed.dt, part).astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        for part in DATETIME_PARTS
    ]


# --- the encoder -------------------------------------------------------------------------


@dataclass(frozen=True)
class NumericSlot:
    """One number (a numeric feature, or one part of a datetime) and where it goes.

    Present values become `(x - mean) / scale`; a missing one becomes `missing` (the
    imputed value already scaled; NaN for native models). `indicator` is the column of
    its missing indicator, -1 when there is none.
    """

    feature: str
    part: str | None
    column: int
    mean: float = 0.0
    scale: float = 1.0
    missing: float = math.nan
    indicator: int = -1
    indicator_present: float = 0.0
    indicator_missing: float = 0.0


@dataclass(frozen=True)
class CategorySlot:
    """One categorical feature: one-hot columns, or a LightGBM category code in one column.

    `index` maps a category's text to its one-hot column (or to its code, with `codes`).
    A missing category goes to `missing`, an unseen one to `unseen` (-1: no column set;
    for codes, NaN).
    """

    feature: str
    index: Mapping[str, int]
    missing: int = -1
    unseen: int = -1
    codes: bool = False
    column: int = -1


@dataclass(frozen=True)
class Encoder:
    """Turns records or a frame into the float64 matrix the estimator sees."""

    family: Family
    width: int
    features: tuple[str, ...]
    numeric: tuple[NumericSlot, ...]
    categories: tuple[CategorySlot, ...]
    #: The feature each encoded column comes from (datetime parts share their feature).
    sources: tuple[str, ...]
    _plan: tuple[tuple[str, int, Any], ...] = field(init=False, repr=False, compare=False)
    #: Per category slot, its known categories as an object Index and their targets.
    _lookups: tuple[tuple[pd.Index, np.ndarray], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The record loop's plan: per feature, its slots as plain tuples (attribute lookups
        # on dataclasses cost more than the arithmetic), in feature order.
        plan: list[tuple[str, int, Any]] = []
        by_feature: dict[str, list[NumericSlot]] = {}
        for slot in self.numeric:
            by_feature.setdefault(slot.feature, []).append(slot)
        category = {slot.feature: slot for slot in self.categories}
        for name in self.features:
            if name in category:
                found = category[name]
                if found.codes:
                    plan.append((name, _CODE, (dict(found.index), found.column)))
                else:
                    plan.append((name, _ONE_HOT, (dict(found.index), found.missing, found.unseen)))
            elif name in by_feature:
                slots = by_feature[name]
                if slots[0].part is None:
                    plan.append((name, _NUMBER, _numeric_plan(slots[0])))
                else:
                    parts = {slot.part: _numeric_plan(slot) for slot in slots}
                    plan.append((name, _DATETIME, [parts.get(part) for part in DATETIME_PARTS]))
        object.__setattr__(self, "_plan", tuple(plan))  # frozen: set once, here
        lookups = tuple(
            (
                pd.Index(list(slot.index), dtype=object),
                np.asarray(list(slot.index.values()), dtype=np.int64),
            )
            for slot in self.categories
        )
        object.__setattr__(self, "_lookups", lookups)

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The records as an (n, width) float64 matrix; a missing key counts as missing."""
        plan = self._plan
        width = self.width
        rows = []
        for record in records:
            row = [0.0] * width
            for name, op, how in plan:
                value: Any = record.get(name)
                if op == _NUMBER:
                    kind = type(value)
                    x = value if kind is float else float(value) if kind is int else number(value)
                    _put(row, how, x)
                elif op == _ONE_HOT:
                    key = value if type(value) is str else category_key(value)
                    column = how[1] if key is None else how[0].get(key, how[2])
                    if column >= 0:
                        row[column] = 1.0
                elif op == _CODE:
                    key = value if type(value) is str else category_key(value)
                    code = None if key is None else how[0].get(key)
                    row[how[1]] = math.nan if code is None else float(code)
                else:
                    for part_plan, part in zip(how, timestamp_parts(value), strict=True):
                        if part_plan is not None:
                            _put(row, part_plan, part)
            rows.append(row)
        return np.array(rows, dtype=np.float64).reshape(len(rows), width)

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """A frame's feature columns as an (n, width) float64 matrix, column by column."""
        rows = len(frame)
        out = np.zeros((rows, self.width), dtype=np.float64)
        parts: dict[str, list[np.ndarray]] = {}
        for slot in self.numeric:
            if slot.part is None:
                values = numbers_of(frame[slot.feature])
            else:
                if slot.feature not in parts:
                    parts[slot.feature] = parts_of(frame[slot.feature])
                values = parts[slot.feature][DATETIME_PARTS.index(slot.part)]
            missing = np.isnan(values)
            out[:, slot.column] = np.where(missing, slot.missing, (values - slot.mean) / slot.scale)
            if slot.indicator >= 0:
                out[:, slot.indicator] = np.where(
                    missing, slot.indicator_missing, slot.indicator_present
                )
        for slot_, (known, targets) in zip(self.categories, self._lookups, strict=True):
            keys = keys_of(frame[slot_.feature])
            missing = np.asarray(pd.isna(keys), dtype=bool)
            # An object Index, so that pandas does not turn the text into its string dtype
            # (and back) on every batch; None is no category, so missing keys are not found.
            found = known.get_indexer(pd.Index(keys, dtype=object))
            mapped = np.where(found >= 0, targets[np.maximum(found, 0)], -1)
            if slot_.codes:
                codes = np.where(missing | (found < 0), np.nan, mapped.astype(np.float64))
                out[:, slot_.column] = codes
                continue
            columns = np.where(missing, slot_.missing, np.where(found >= 0, mapped, slot_.unseen))
            hit = np.flatnonzero(columns >= 0)
            out[hit, columns[hit]] = 1.0
        return out

    def to_dict(self) -> dict[str, Any]:
        """The encoder as JSON data (`from_dict` reads it back)."""
        return {
            "family": self.family,
            "width": self.width,
            "features": list(self.features),
            "numeric": [vars(slot) for slot in self.numeric],
            "categories": [{**vars(slot), "index": dict(slot.index)} for slot in self.categories],
            "sources": list(self.sources),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Encoder:
        return cls(
            family=data["family"],
            width=int(data["width"]),
            features=tuple(data["features"]),
            numeric=tuple(NumericSlot(**slot) for slot in data["numeric"]),
            categories=tuple(CategorySlot(**slot) for slot in data["categories"]),
            sources=tuple(data["sources"]),
        )


_NUMBER, _ONE_HOT, _CODE, _DATETIME = range(4)


def _numeric_plan(slot: NumericSlot) -> tuple[int, float, float, float, int, float, float]:
    return (
        slot.column,
        slot.mean,
        slot.scale,
        slot.missing,
        slot.indicator,
        slot.indicator_present,
        slot.indicator_missing,
    )


def _put(
    row: list[float], how: tuple[int, float, float, float, int, float, float], x: float
) -> None:
    column, mean, scale, missing, indicator, present, absent = how
    if x != x:  # NaN
        row[column] = missing
        if indicator >= 0:
            row[indicator] = absent
    else:
        row[column] = (x - mean) / scale
        if indicator >= 0:
            row[indicator] = present


# --- reading a fitted pipeline -------------------------------------------------------------


def pipeline_parts(pipeline: Any) -> tuple[Any, Any, Any]:
    """The (prep, encoder, estimator) steps of a charter pipeline."""
    steps = getattr(pipeline, "steps", None)
    if not isinstance(steps, list) or len(steps) != 3:
        raise UnsupportedPipeline("the pipeline is not charter's prep, encoder, estimator")
    prep, encoder, estimator = (step[1] for step in steps)
    if not hasattr(prep, "names_out_") or not hasattr(prep, "sources_"):
        raise UnsupportedPipeline("the pipeline's first step is not charter's fitted FramePrep")
    return prep, encoder, estimator


def inner_estimator(estimator: Any) -> Any:
    """The estimator itself: a custom candidate's wrapper is unwrapped."""
    if type(estimator).__name__ == "CustomEstimator" and hasattr(estimator, "estimator_"):
        return estimator.estimator_
    return estimator


def read_encoder(pipeline: Any, features: Sequence[str], kinds: Mapping[str, str]) -> Encoder:
    """The `Encoder` of a fitted charter pipeline; `UnsupportedPipeline` for other shapes."""
    prep, encoder, _ = pipeline_parts(pipeline)
    names = [str(name) for name in prep.names_out_]
    sources = [str(source) for source in prep.sources_]
    parts: list[str | None] = []
    seen: dict[str, int] = {}
    for source in sources:
        if kinds.get(source) == "datetime":
            parts.append(DATETIME_PARTS[seen.get(source, 0)])
            seen[source] = seen.get(source, 0) + 1
        else:
            parts.append(None)
    where = {name: i for i, name in enumerate(names)}
    if hasattr(encoder, "transformers_") and hasattr(encoder, "output_indices_"):
        return _read_dense(encoder, tuple(features), names, sources, parts, where)
    if type(encoder).__name__ == "CategoryCaster" and hasattr(encoder, "categories_"):
        return _read_native(encoder, tuple(features), names, sources, parts, kinds)
    raise UnsupportedPipeline(f"the encoder {type(encoder).__name__} is not one charter builds")


def _read_native(
    caster: Any,
    features: tuple[str, ...],
    names: list[str],
    sources: list[str],
    parts: list[str | None],
    kinds: Mapping[str, str],
) -> Encoder:
    categories: dict[str, list[str]] = dict(caster.categories_)
    numeric: list[NumericSlot] = []
    coded: list[CategorySlot] = []
    for column, (name, source, part) in enumerate(zip(names, sources, parts, strict=True)):
        if name in categories:
            index = {str(value): code for code, value in enumerate(categories[name])}
            coded.append(CategorySlot(source, index, codes=True, column=column))
        elif kinds.get(source) == "categorical":
            raise UnsupportedPipeline(f"the categorical feature {source!r} has no categories")
        else:
            numeric.append(NumericSlot(source, part, column))
    return Encoder("native", len(names), features, tuple(numeric), tuple(coded), tuple(sources))


def _read_dense(
    transformer: Any,
    features: tuple[str, ...],
    names: list[str],
    sources: list[str],
    parts: list[str | None],
    where: Mapping[str, int],
) -> Encoder:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    numeric: list[NumericSlot] = []
    categories: list[CategorySlot] = []
    width = 0
    out_sources: dict[int, str] = {}
    for name, step, columns in transformer.transformers_:
        block = transformer.output_indices_.get(name, slice(0, 0))
        width = max(width, int(block.stop))
        if isinstance(step, str) or len(columns) == 0:
            if step != "drop" and len(columns):
                raise UnsupportedPipeline(f"the column block {name!r} passes columns through")
            continue
        positions = []
        for column in columns:
            if column not in where:
                raise UnsupportedPipeline(f"the encoder reads a column {column!r} prep lacks")
            positions.append(where[column])
        start = int(block.start)
        if isinstance(step, Pipeline):
            slots = _numeric_block(step, positions, sources, parts, start)
            numeric.extend(slots)
            for slot in slots:
                out_sources[slot.column] = slot.feature
                if slot.indicator >= 0:
                    out_sources[slot.indicator] = slot.feature
        elif isinstance(step, OneHotEncoder):
            slots_ = _one_hot_block(step, positions, sources, start)
            categories.extend(slots_)
            for slot_ in slots_:
                for column in {*slot_.index.values(), slot_.missing, slot_.unseen} - {-1}:
                    out_sources[column] = slot_.feature
        else:
            raise UnsupportedPipeline(f"the column block {name!r} is a {type(step).__name__}")
    if set(out_sources) != set(range(width)):
        raise UnsupportedPipeline("the encoder's output columns could not all be traced")
    return Encoder(
        "dense",
        width,
        features,
        tuple(numeric),
        tuple(categories),
        tuple(out_sources[column] for column in range(width)),
    )


def _numeric_block(
    pipeline: Any, positions: list[int], sources: list[str], parts: list[str | None], start: int
) -> list[NumericSlot]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    steps = [step for _, step in pipeline.steps]
    imputer = steps[0] if steps else None
    if not isinstance(imputer, SimpleImputer) or not _is_nan(imputer.missing_values):
        raise UnsupportedPipeline("the numeric block does not start with a NaN SimpleImputer")
    if len(steps) > 2 or (len(steps) == 2 and not isinstance(steps[1], StandardScaler)):
        raise UnsupportedPipeline("the numeric block holds steps besides impute and scale")
    fills = np.asarray(imputer.statistics_, dtype=np.float64)
    if np.isnan(fills).any():
        raise UnsupportedPipeline("the imputer drops columns that were empty in training")
    indicated = [] if imputer.indicator_ is None else [int(i) for i in imputer.indicator_.features_]
    width = len(positions) + len(indicated)
    means, scales = np.zeros(width), np.ones(width)
    if len(steps) == 2:
        scaler = steps[1]
        if scaler.mean_ is not None:
            means = np.asarray(scaler.mean_, dtype=np.float64)
        if scaler.scale_ is not None:
            scales = np.asarray(scaler.scale_, dtype=np.float64)
    indicator_at = {j: len(positions) + k for k, j in enumerate(indicated)}
    slots = []
    for j, position in enumerate(positions):
        mean, scale = float(means[j]), float(scales[j])
        k = indicator_at.get(j, -1)
        slots.append(
            NumericSlot(
                feature=sources[position],
                part=parts[position],
                column=start + j,
                mean=mean,
                scale=scale,
                missing=(float(fills[j]) - mean) / scale,
                indicator=-1 if k < 0 else start + k,
                indicator_present=0.0 if k < 0 else (0.0 - float(means[k])) / float(scales[k]),
                indicator_missing=0.0 if k < 0 else (1.0 - float(means[k])) / float(scales[k]),
            )
        )
    return slots


def _one_hot_block(
    encoder: Any, positions: list[int], sources: list[str], start: int
) -> list[CategorySlot]:
    if getattr(encoder, "drop_idx_", None) is not None:
        raise UnsupportedPipeline("the one-hot encoder drops a category")
    unknown = encoder.handle_unknown
    if unknown not in ("ignore", "infrequent_if_exist", "warn"):
        raise UnsupportedPipeline(f"the one-hot encoder's handle_unknown is {unknown!r}")
    infrequent_all = getattr(encoder, "infrequent_categories_", None)
    slots = []
    offset = start
    for j, position in enumerate(positions):
        categories = list(encoder.categories_[j])
        infrequent = [] if infrequent_all is None else infrequent_all[j]
        infrequent = [] if infrequent is None else list(infrequent)
        rare = {_category_text(value) for value in infrequent}
        frequent = [value for value in categories if _category_text(value) not in rare]
        pooled = offset + len(frequent) if rare else -1
        index: dict[str, int] = {}
        missing = -1
        for k, value in enumerate(frequent):
            text = _category_text(value)
            if text is None:
                missing = offset + k
            else:
                index[text] = offset + k
        for value in infrequent:
            text = _category_text(value)
            if text is None:
                missing = pooled
            else:
                index[text] = pooled
        # "warn" encodes like "infrequent_if_exist" (after warning, which native does too).
        unseen = pooled if unknown in ("infrequent_if_exist", "warn") else -1
        if missing < 0:
            missing = unseen  # a missing value training never saw is an unknown category
        slots.append(CategorySlot(sources[position], index, missing=missing, unseen=unseen))
        offset += len(frequent) + (1 if rare else 0)
    return slots


def _category_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --- kernels -------------------------------------------------------------------------------


def threads_for(rows: int) -> int:
    """Threads for a booster call: one for request-sized batches, up to 8 for big ones."""
    return 1 if rows < PARALLEL_ROWS else max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class LinearKernel:
    """A linear model as a dot product: `link` is logistic (binary), softmax or identity."""

    coef: np.ndarray
    intercept: np.ndarray
    link: Link

    def __call__(self, encoded: np.ndarray) -> np.ndarray:
        # Extreme but valid inputs (1e300) overflow the dot product to ±inf: the logistic
        # link still gives 0 or 1, and callers refuse what is not finite, so no warning.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._apply(encoded)

    def _apply(self, encoded: np.ndarray) -> np.ndarray:
        if self.link == "logistic":
            from scipy.special import expit  # the same stable sigmoid scikit-learn uses

            decision = encoded @ self.coef[0] + self.intercept[0]
            out = np.empty((len(encoded), 2))
            out[:, 1] = expit(decision)
            out[:, 0] = 1.0 - out[:, 1]
            return out
        if self.link == "softmax":
            decision = encoded @ self.coef.T + self.intercept
            decision -= decision.max(axis=1, keepdims=True)
            np.exp(decision, out=decision)
            decision /= decision.sum(axis=1, keepdims=True)
            return np.asarray(decision, dtype=np.float64)
        return np.asarray(encoded @ self.coef[0] + self.intercept[0], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "link": self.link,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearKernel:
        return cls(
            np.asarray(data["coef"], dtype=np.float64),
            np.asarray(data["intercept"], dtype=np.float64),
            data["link"],
        )


def linear_kernel(estimator: Any, task: str, classes: int) -> LinearKernel:
    """The `LinearKernel` of a scikit-learn linear model; `UnsupportedPipeline` otherwise."""
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge

    estimator = inner_estimator(estimator)
    name = type(estimator).__name__
    coef = np.atleast_2d(np.asarray(getattr(estimator, "coef_", np.zeros(0)), dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(getattr(estimator, "intercept_", 0.0), dtype=np.float64))
    if task == "regression":
        if not isinstance(estimator, LinearRegression | Ridge | Lasso | ElasticNet):
            raise UnsupportedPipeline(f"no hand-written kernel for {name}")
        if coef.shape[0] != 1 or intercept.shape != (1,):
            raise UnsupportedPipeline(f"the {name} predicts more than one value")
        return LinearKernel(coef, intercept, "identity")
    if not isinstance(estimator, LogisticRegression):
        raise UnsupportedPipeline(f"no hand-written kernel for {name}")
    if list(np.asarray(estimator.classes_).tolist()) != list(range(classes)):
        raise UnsupportedPipeline(f"the {name}'s classes are not the codes 0..{classes - 1}")
    link: Link = "logistic" if classes == 2 else "softmax"
    return LinearKernel(coef, intercept, link)


class BoosterKernel:
    """LightGBM's booster on the encoded matrix (category codes as numbers, NaN missing)."""

    def __init__(self, model_string: str, task: str) -> None:
        import lightgbm

        self.model_string = model_string
        self.task = task
        self.booster = lightgbm.Booster(model_str=model_string)

    def __call__(self, encoded: np.ndarray) -> np.ndarray:
        raw = self.booster.predict(encoded, num_threads=threads_for(len(encoded)))
        predicted = np.asarray(raw, dtype=np.float64)
        if self.task == "binary_classification":
            out = np.empty((len(predicted), 2))
            out[:, 1] = predicted
            out[:, 0] = 1.0 - predicted
            return out
        return predicted

    def contributions(self, encoded: np.ndarray) -> np.ndarray:
        """Per-column contributions to the raw score, the bias last (per class, multiclass)."""
        raw = self.booster.predict(
            encoded, pred_contrib=True, num_threads=threads_for(len(encoded))
        )
        return np.asarray(raw, dtype=np.float64)


def booster_string(estimator: Any, classes: int) -> str:
    """The model string of a fitted LightGBM estimator; `UnsupportedPipeline` otherwise."""
    estimator = inner_estimator(estimator)
    booster = getattr(estimator, "booster_", None)
    if booster is None or not hasattr(booster, "model_to_string"):
        raise UnsupportedPipeline(f"no hand-written kernel for {type(estimator).__name__}")
    labels = getattr(estimator, "classes_", None)
    if classes and list(np.asarray(labels).tolist()) != list(range(classes)):
        raise UnsupportedPipeline("the LightGBM classes are not the codes 0..K-1")
    return str(booster.model_to_string())
