"""Drift counts: what monitoring counts in a window of served rows, as partials that merge.

A `DriftPlan` is read from a model's reference statistics (`DriftPlan.from_reference`);
`count_columns(plan, columns, prediction)` counts one chunk of rows into `DriftCounts`;
counts of two chunks merge by addition (`merge`, associative and commutative), and the
statistics (PSI, KS, Wasserstein, Jensen-Shannon...) are computed later from merged counts
only. Counts travel as JSON (`to_json` / `from_json`).

The counting contract, which any other engine (Spark) must reproduce exactly:

- Normalisation. A numeric feature's values are read with `charter.values.numeric_values`
  (float64; booleans as 0/1; anything that is not a number is NaN); a datetime feature not
  already of a datetime dtype is parsed with `charter.values.datetime_values` (seconds
  since the epoch, UTC). A categorical feature's values are read with
  `charter.values.category_strings` (text; an integral number `1.0` is "1"). These are the
  functions training used for the reference statistics.
- Missing. NaN after normalisation counts in `missing`. Of those, the values that were not
  missing before normalisation (text in a numeric feature, an unparseable date) also count
  in `invalid`. A feature absent from the columns counts every row as missing and in
  `absent_rows`.
- Bins. With the plan's inner edges e[0] < ... < e[k-1] (the reference edges without the
  open ends), a present value v goes in bin i = number of inner edges <= v, i.e.
  `numpy.searchsorted(e, v, side="right")`: bin 0 holds v < e[0], bin i holds
  e[i-1] <= v < e[i], bin k holds v >= e[k-1]; +inf goes in bin k and -inf in bin 0.
  `bins` uses the decile edges, `fine` the percentile edges. The one exception is the
  binary model's positive score, whose `bins` follow training's rule
  `clip(int64(clip(v, 0, 1) * 10), 0, 9)`, so 1.0 falls in the last of ten bins.
- Range. `minimum` / `maximum` are the smallest / largest present value (None without any);
  they merge by min / max.
- Tails. With the outer fine edges f0 = fine_edges[0] and fl = fine_edges[-1], `tails`
  holds the sums of f0 - v over the finite v < f0 and of v - fl over the finite v >= fl,
  each difference rounded to float64 as computed (one past the float range is held at the
  largest float), then summed exactly (held as an exact
  binary fraction, so merging is exact; JSON writes each as [m, e] meaning m * 2**e, with
  m as text). An engine without exact sums may add them in float64: the Wasserstein
  distance then differs in the last digits only.
- Levels. Categorical `levels` count every present level, reference level or not. To bound
  memory, when more than `MAX_UNSEEN_LEVELS` distinct levels outside the reference
  accumulate, the smallest of them (ties by text) are pooled into `UNSEEN_OTHER`, keeping
  `MAX_UNSEEN_LEVELS - 1` plus the pool; the pool is unseen too, so the share of unseen
  values stays exact whatever the order of merging.

Everything but the pooled unseen levels merges exactly: counts are integers and the tail
sums exact binary fractions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.api import types as ptypes

from charter.engines._partials import _SUM_SCALE, _exact_numerator
from charter.errors import CharterError
from charter.values import category_strings, datetime_values, numeric_values

FloatArray = NDArray[np.float64]
ColumnKind = Literal["numeric", "categorical", "positive_score", "class", "value"]

#: The pooled level of the rarest unseen categories, once there are too many.
UNSEEN_OTHER = "__unseen_other__"
#: How many distinct unseen levels a feature's counts keep (the pool included).
MAX_UNSEEN_LEVELS = 10_000
#: The reference formats `DriftPlan.from_reference` reads.
REFERENCE_FORMATS = (1, 2)
#: The version of the counts' JSON shape.
COUNTS_FORMAT = 1
# What the reference statistics call the level that pools rare training levels.
_REFERENCE_OTHER = "__other__"
_NUMERIC_KINDS = frozenset({"numeric", "positive_score", "value"})


class DriftError(CharterError):
    """Reference statistics, drift counts or drift thresholds that cannot be used."""


def _fail(field_name: str, where: str, constraint: str, got: Any) -> DriftError:
    shown = repr(got)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return DriftError(f"The {field_name!r} of {where} must be {constraint}. Got {shown} instead.")


# --- the plan ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ColumnPlan:
    """How one column is counted: its kind, inner edges (numeric) or reference levels.

    `kind` is "numeric" (numeric and datetime features) or "categorical" for a feature;
    "positive_score", "class" or "value" for the prediction. `edges` are the inner decile
    edges (the reference edges without "-inf" and "inf"), `fine_edges` the inner percentile
    edges (the decile ones for a format-1 reference), `levels` the reference levels
    (without "__other__"), `datetime` whether values are parsed as dates.
    """

    kind: ColumnKind
    edges: FloatArray = field(default_factory=lambda: np.zeros(0))
    fine_edges: FloatArray = field(default_factory=lambda: np.zeros(0))
    levels: tuple[str, ...] = ()
    datetime: bool = False

    @property
    def numeric(self) -> bool:
        """Whether the column is binned (numeric, datetime, score or value)."""
        return self.kind in _NUMERIC_KINDS

    @property
    def score_bins(self) -> int:
        """How many fixed score bins a positive score has (0 for other columns)."""
        return len(self.edges) + 1 if self.kind == "positive_score" else 0


@dataclass(frozen=True, eq=False)
class DriftPlan:
    """What to count per feature and for the prediction, read from reference statistics."""

    features: Mapping[str, ColumnPlan]
    prediction: ColumnPlan | None = None

    @classmethod
    def from_reference(cls, stats: Mapping[str, Any]) -> DriftPlan:
        """The plan of reference statistics of format 1 or 2; `DriftError` when malformed."""
        where = "the reference statistics"
        if not isinstance(stats, Mapping):
            raise _fail("reference", "the drift monitor", "a mapping", type(stats).__name__)
        version = stats.get("format")
        if isinstance(version, bool) or version not in REFERENCE_FORMATS:
            raise _fail("format", where, f"one of {list(REFERENCE_FORMATS)}", version)
        features = stats.get("features")
        if not isinstance(features, Mapping):
            raise _fail("features", where, "a mapping of feature names", features)
        plans = {
            str(name): _feature_plan(entry, f"feature {name!r} of {where}")
            for name, entry in features.items()
        }
        prediction = stats.get("prediction")
        return cls(plans, None if prediction is None else _prediction_plan(prediction, where))


def inner_edges(edges: Any, where: str, key: str = "edges") -> FloatArray:
    """The finite inner edges of reference edges ["-inf", e0, ..., "inf"], increasing."""
    try:
        array = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(key, where, 'a list of numbers between "-inf" and "inf"', edges) from None
    if (
        array.ndim != 1
        or len(array) < 2
        or array[0] != -np.inf
        or array[-1] != np.inf
        or not np.isfinite(array[1:-1]).all()
        or (len(array) > 2 and not (np.diff(array[1:-1]) > 0).all())
    ):
        raise _fail(key, where, 'increasing numbers between "-inf" and "inf"', edges)
    inner: FloatArray = array[1:-1].copy()
    return inner


def _feature_plan(entry: Any, where: str) -> ColumnPlan:
    if not isinstance(entry, Mapping):
        raise _fail("entry", where, "a mapping", entry)
    kind = entry.get("kind")
    if kind == "categorical":
        return ColumnPlan("categorical", levels=_levels(entry.get("counts"), where))
    if kind in ("numeric", "datetime"):
        edges = inner_edges(entry.get("edges"), where)
        fine = entry.get("fine_edges")
        fine_edges = edges if fine is None else inner_edges(fine, where, "fine_edges")
        return ColumnPlan("numeric", edges, fine_edges, datetime=kind == "datetime")
    raise _fail("kind", where, "'numeric', 'datetime' or 'categorical'", kind)


def _prediction_plan(entry: Any, where: str) -> ColumnPlan:
    where = f"the prediction of {where}"
    if not isinstance(entry, Mapping):
        raise _fail("prediction", where, "a mapping", entry)
    kind = entry.get("kind")
    if kind == "class":
        return ColumnPlan("class", levels=_levels(entry.get("counts"), where))
    if kind == "positive_score":
        edges = np.asarray(entry.get("edges"), dtype=np.float64)
        if edges.ndim != 1 or len(edges) < 2 or not (np.diff(edges) > 0).all():
            raise _fail("edges", where, "increasing score bin edges", entry.get("edges"))
        fine = entry.get("fine_edges")
        inner = edges[1:-1].copy()
        fine_edges = inner if fine is None else inner_edges(fine, where, "fine_edges")
        return ColumnPlan("positive_score", inner, fine_edges)
    if kind == "value":
        inner = inner_edges(entry.get("edges"), where)
        fine = entry.get("fine_edges")
        fine_edges = inner if fine is None else inner_edges(fine, where, "fine_edges")
        return ColumnPlan("value", inner, fine_edges)
    raise _fail("kind", where, "'positive_score', 'class' or 'value'", kind)


def _levels(counts: Any, where: str) -> tuple[str, ...]:
    if not isinstance(counts, Mapping):
        raise _fail("counts", where, "a mapping of levels to counts", counts)
    return tuple(str(level) for level in counts if level != _REFERENCE_OTHER)


# --- the counts --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureCounts:
    """The counts of one column over some rows; `merge` adds two of them.

    `bins` and `fine` are per-bin counts of present values (numeric columns, else empty),
    `levels` the count per level (categorical columns, else empty). `rows` counts every
    row, `missing` the NaN ones (absent and invalid included).
    """

    rows: int = 0
    missing: int = 0
    invalid: int = 0
    absent_rows: int = 0
    bins: tuple[int, ...] = ()
    fine: tuple[int, ...] = ()
    levels: Mapping[str, int] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    tails: tuple[int, int] = (0, 0)

    @property
    def present(self) -> int:
        """Rows with a value."""
        return self.rows - self.missing

    @property
    def tail_sums(self) -> tuple[float, float]:
        """The two tail sums (see the module docstring) as floats (inf past the range)."""
        return _exact_float(self.tails[0]), _exact_float(self.tails[1])

    def merge(self, other: FeatureCounts) -> FeatureCounts:
        """The counts of both parts' rows; `DriftError` if they were counted on other bins."""
        if len(self.bins) != len(other.bins) or len(self.fine) != len(other.fine):
            raise _fail(
                "bins",
                "drift counts to merge",
                f"{len(self.bins)} and {len(self.fine)} long as in the first part",
                (len(other.bins), len(other.fine)),
            )
        levels = dict(self.levels)
        for level, count in other.levels.items():
            levels[level] = levels.get(level, 0) + count
        return FeatureCounts(
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            invalid=self.invalid + other.invalid,
            absent_rows=self.absent_rows + other.absent_rows,
            bins=tuple(a + b for a, b in zip(self.bins, other.bins, strict=True)),
            fine=tuple(a + b for a, b in zip(self.fine, other.fine, strict=True)),
            levels=levels,
            minimum=_extreme(min, self.minimum, other.minimum),
            maximum=_extreme(max, self.maximum, other.maximum),
            tails=(self.tails[0] + other.tails[0], self.tails[1] + other.tails[1]),
        )

    def bounded(self, reference_levels: frozenset[str]) -> FeatureCounts:
        """These counts with unseen levels pooled beyond `MAX_UNSEEN_LEVELS` (see the module)."""
        unseen = [(n, level) for level, n in self.levels.items() if level not in reference_levels]
        if len(unseen) <= MAX_UNSEEN_LEVELS:
            return self
        unseen.sort(key=lambda item: (-item[0], item[1]))
        kept = {level for _, level in unseen[: MAX_UNSEEN_LEVELS - 1] if level != UNSEEN_OTHER}
        levels: dict[str, int] = {}
        pooled = 0
        for level, count in self.levels.items():
            if level in reference_levels or level in kept:
                levels[level] = count
            else:
                pooled += count
        levels[UNSEEN_OTHER] = pooled
        return FeatureCounts(
            self.rows,
            self.missing,
            self.invalid,
            self.absent_rows,
            self.bins,
            self.fine,
            levels,
            self.minimum,
            self.maximum,
            self.tails,
        )

    def to_json(self) -> dict[str, Any]:
        """Strict JSON data (infinite extremes as the texts "inf" / "-inf")."""
        return {
            "rows": self.rows,
            "missing": self.missing,
            "invalid": self.invalid,
            "absent_rows": self.absent_rows,
            "bins": list(self.bins),
            "fine": list(self.fine),
            "levels": dict(sorted(self.levels.items())),
            "min": _float_json(self.minimum),
            "max": _float_json(self.maximum),
            "tails": [_exact_json(t) for t in self.tails],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "drift counts") -> FeatureCounts:
        """Counts from `to_json`'s data; `DriftError` naming the field at fault."""
        if not isinstance(data, Mapping):
            raise _fail("feature", where, "a mapping", data)
        numbers = {key: _count(data.get(key), key, where) for key in _COUNT_FIELDS}
        levels = data.get("levels")
        if not isinstance(levels, Mapping) or not all(isinstance(k, str) for k in levels):
            raise _fail("levels", where, "a mapping of levels to counts", levels)
        counts = cls(
            rows=numbers["rows"],
            missing=numbers["missing"],
            invalid=numbers["invalid"],
            absent_rows=numbers["absent_rows"],
            bins=_counts_list(data.get("bins"), "bins", where),
            fine=_counts_list(data.get("fine"), "fine", where),
            levels={k: _count(v, f"levels.{k}", where) for k, v in levels.items()},
            minimum=_float_from_json(data.get("min"), "min", where),
            maximum=_float_from_json(data.get("max"), "max", where),
            tails=_tails_from_json(data.get("tails"), where),
        )
        if counts.missing > counts.rows or sum(counts.bins) > counts.rows:
            raise _fail("missing", where, f"at most the {counts.rows} rows", counts.missing)
        return counts


_COUNT_FIELDS = ("rows", "missing", "invalid", "absent_rows")


@dataclass(frozen=True)
class DriftCounts:
    """The counts of a window (or a chunk of it): rows, each feature's, the prediction's."""

    rows: int = 0
    features: Mapping[str, FeatureCounts] = field(default_factory=dict)
    prediction: FeatureCounts | None = None

    def merge(self, other: DriftCounts) -> DriftCounts:
        """The counts of both parts' rows; a feature counted in one part only is kept."""
        features = dict(self.features)
        for name, counts in other.features.items():
            features[name] = features[name].merge(counts) if name in features else counts
        if self.prediction is None or other.prediction is None:
            prediction = self.prediction if other.prediction is None else other.prediction
        else:
            prediction = self.prediction.merge(other.prediction)
        return DriftCounts(self.rows + other.rows, features, prediction)

    def bounded(self, plan: DriftPlan) -> DriftCounts:
        """These counts with each feature's unseen levels bounded (see `FeatureCounts`)."""
        features = {
            name: counts.bounded(frozenset(plan.features[name].levels))
            if name in plan.features
            else counts
            for name, counts in self.features.items()
        }
        prediction = self.prediction
        if prediction is not None and plan.prediction is not None:
            prediction = prediction.bounded(frozenset(plan.prediction.levels))
        return DriftCounts(self.rows, features, prediction)

    def to_json(self) -> dict[str, Any]:
        """Strict JSON data that `from_json` reads back to equal counts."""
        return {
            "format": COUNTS_FORMAT,
            "rows": self.rows,
            "features": {name: counts.to_json() for name, counts in sorted(self.features.items())},
            "prediction": None if self.prediction is None else self.prediction.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> DriftCounts:
        """Counts from `to_json`'s data; `DriftError` naming the field at fault."""
        where = "the drift counts"
        if not isinstance(data, Mapping):
            raise _fail("counts", "the drift monitor", "a mapping", type(data).__name__)
        if data.get("format") != COUNTS_FORMAT or isinstance(data.get("format"), bool):
            raise _fail("format", where, str(COUNTS_FORMAT), data.get("format"))
        features = data.get("features")
        if not isinstance(features, Mapping):
            raise _fail("features", where, "a mapping of feature names", features)
        prediction = data.get("prediction")
        return cls(
            rows=_count(data.get("rows"), "rows", where),
            features={
                str(name): FeatureCounts.from_json(entry, f"feature {name!r} of {where}")
                for name, entry in features.items()
            },
            prediction=None
            if prediction is None
            else FeatureCounts.from_json(prediction, f"the prediction of {where}"),
        )


# --- counting ----------------------------------------------------------------------------

#: A column of one chunk: a numpy array or a pandas Series.
Column: TypeAlias = np.ndarray | pd.Series


def count_columns(
    plan: DriftPlan,
    columns: Mapping[str, Column],
    prediction: Column | None = None,
    *,
    rows: int | None = None,
) -> DriftCounts:
    """Count one chunk of rows by the plan (the contract is in the module docstring).

    `columns` maps feature names to equally long arrays or Series (extra names are
    ignored; a planned feature that is missing counts as absent); `prediction` holds the
    model's outputs for the same rows (scores, labels or values, by the plan's prediction
    kind). `rows` is the chunk's length, needed only when neither gives it.
    """
    length = _length(plan, columns, prediction, rows)
    features = {
        name: _count_column(column_plan, columns.get(name), length)
        for name, column_plan in plan.features.items()
    }
    predicted = None
    if prediction is not None and plan.prediction is not None:
        predicted = _count_column(plan.prediction, prediction, length)
    return DriftCounts(length, features, predicted)


def _length(
    plan: DriftPlan, columns: Mapping[str, Column], prediction: Column | None, rows: int | None
) -> int:
    lengths = {name: len(columns[name]) for name in plan.features if name in columns}
    if prediction is not None:
        lengths["(prediction)"] = len(prediction)
    if rows is not None:
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise _fail("rows", "count_columns", "a whole number >= 0", rows)
        lengths["(rows)"] = rows
    if len(set(lengths.values())) > 1:
        raise _fail("columns", "count_columns", "equally long", lengths)
    return next(iter(lengths.values()), 0)


def _count_column(plan: ColumnPlan, raw: Column | None, rows: int) -> FeatureCounts:
    if raw is None:
        return FeatureCounts(
            rows=rows,
            missing=rows,
            absent_rows=rows,
            bins=(0,) * (plan.score_bins or len(plan.edges) + 1) if plan.numeric else (),
            fine=(0,) * (len(plan.fine_edges) + 1) if plan.numeric else (),
        )
    series = raw if isinstance(raw, pd.Series) else pd.Series(np.asarray(raw))
    if plan.numeric:
        return _count_numeric(plan, series)
    return _count_levels(plan, series)


def _numbers(plan: ColumnPlan, series: pd.Series) -> FloatArray:
    if plan.datetime and not (
        ptypes.is_numeric_dtype(series) or ptypes.is_datetime64_any_dtype(series)
    ):
        return np.asarray(datetime_values(series).to_numpy(), dtype=np.float64)
    return numeric_values(series)


def _count_numeric(plan: ColumnPlan, series: pd.Series) -> FeatureCounts:
    values = _numbers(plan, series)
    nan = np.isnan(values)
    # Sorted once, every bin count is a difference of two positions: a SIMD sort and a
    # hundred binary searches beat searching each value among the edges by ten times.
    ordered = np.sort(values[~nan])
    missing = int(nan.sum())
    invalid = missing - int(np.count_nonzero(np.asarray(series.isna(), dtype=bool)))
    if plan.kind == "positive_score":
        # Training's rule (modeling/_reference.py): 1.0 falls in the last score bin.
        n = plan.score_bins
        index = np.clip((np.clip(ordered, 0.0, 1.0) * n).astype(np.int64), 0, n - 1)
        bins = np.bincount(index, minlength=n)
    else:
        bins = _sorted_counts(plan.edges, ordered)
    return FeatureCounts(
        rows=len(values),
        missing=missing,
        invalid=max(invalid, 0),
        bins=tuple(bins.tolist()),
        fine=tuple(_sorted_counts(plan.fine_edges, ordered).tolist()),
        minimum=float(ordered[0]) if len(ordered) else None,
        maximum=float(ordered[-1]) if len(ordered) else None,
        tails=_tails(plan.fine_edges, ordered),
    )


def _sorted_counts(edges: FloatArray, ordered: FloatArray) -> NDArray[np.int64]:
    """Counts per bin (edges[i-1] <= v < edges[i]) of sorted values: the module's rule."""
    positions = np.empty(len(edges) + 2, dtype=np.int64)
    positions[0], positions[-1] = 0, len(ordered)
    positions[1:-1] = np.searchsorted(ordered, edges, side="left")
    counts: NDArray[np.int64] = positions[1:] - positions[:-1]
    return counts


def _tails(edges: FloatArray, ordered: FloatArray) -> tuple[int, int]:
    if not len(edges):
        return (0, 0)
    first, last = edges[0], edges[-1]
    below = ordered[: np.searchsorted(ordered, first, side="left")]
    above = ordered[np.searchsorted(ordered, last, side="left") :]
    low = first - below[np.isfinite(below)]
    high = above[np.isfinite(above)] - last
    # A difference can overflow to inf (1e308 - -1e308): held at the largest float.
    low, high = (np.minimum(part, _FLOAT_MAX) for part in (low, high))
    return _exact_numerator(low, square=False), _exact_numerator(high, square=False)


def _count_levels(plan: ColumnPlan, series: pd.Series) -> FeatureCounts:
    if isinstance(series.dtype, pd.StringDtype):
        # Text already: category_strings would hand the same strings back, one Python
        # object at a time; pandas counts the column's own (Arrow) strings ten times faster.
        counted = series.value_counts(dropna=True, sort=False)
        missing = int(series.isna().sum())
    else:
        values = category_strings(series)
        counted = pd.Series(values, dtype=object, copy=False).value_counts(sort=False)
        # value_counts leaves NaN out: what it did not count is missing.
        missing = len(values) - int(counted.sum())
    levels = {str(level): int(n) for level, n in counted.items()}
    counts = FeatureCounts(rows=len(series), missing=missing, levels=levels)
    return counts.bounded(frozenset(plan.levels))


# --- helpers -----------------------------------------------------------------------------

_FLOAT_MAX = float(np.finfo(np.float64).max)


def _exact_float(numerator: int) -> float:
    try:
        return numerator / (1 << _SUM_SCALE)
    except OverflowError:
        return math.inf


def _exact_json(numerator: int) -> list[Any]:
    """An exact sum as [m, e] with value m * 2**e, m as text (JSON numbers lose digits)."""
    if numerator == 0:
        return ["0", 0]
    zeros = (numerator & -numerator).bit_length() - 1
    return [str(numerator >> zeros), zeros - _SUM_SCALE]


def _tails_from_json(value: Any, where: str) -> tuple[int, int]:
    constraint = "two [text of a whole number >= 0, whole number] pairs"
    if not isinstance(value, list) or len(value) != 2:
        raise _fail("tails", where, constraint, value)
    numerators = []
    for pair in value:
        ok = isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
        ok = ok and pair[0].isdigit() and isinstance(pair[1], int) and not isinstance(pair[1], bool)
        if not ok or pair[1] + _SUM_SCALE < 0 or len(pair[0]) > 700:
            raise _fail("tails", where, constraint, value)
        numerators.append(int(pair[0]) << (pair[1] + _SUM_SCALE))
    return numerators[0], numerators[1]


def _extreme(pick: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    chosen: float = pick(a, b)
    return chosen


def _float_json(value: float | None) -> float | str | None:
    if value is None or np.isfinite(value):
        return value
    return "inf" if value > 0 else "-inf"


def _float_from_json(value: Any, key: str, where: str) -> float | None:
    if value is None:
        return None
    if value in ("inf", "-inf"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or np.isnan(value):
        raise _fail(key, where, 'a number, "inf", "-inf" or null', value)
    return float(value)


def _count(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(key, where, "a whole number >= 0", value)
    return value


def _counts_list(value: Any, key: str, where: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple):
        raise _fail(key, where, "a list of whole numbers >= 0", value)
    return tuple(_count(v, key, where) for v in value)
