"""Partial aggregates that merge: what an engine computes on one chunk of rows.

Every type here has `merge(other)`, associative and commutative, so that statistics computed
chunk by chunk (or partition by partition on Spark) and merged equal the statistics of the
whole frame. Counts, minima, maxima, sums, the quantile sketch's buckets and the distinct
sketch merge exactly: sums are held as exact integers scaled by a power of two (every finite
float is a dyadic rational), so no rounding depends on how the rows were cut. Top values are
exact while a column holds at most `cap` distinct values and become a Misra-Gries summary
(each count low by at most `error`) beyond.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import pandas as pd

# frexp mantissas scaled to 53-bit integers have exponents down to -1074 - 52 for subnormals.
_SUM_SCALE = 1126
_SQUARE_SCALE = 2 * _SUM_SCALE
# Relative accuracy of the quantile sketch: a quantile is within 0.5% of a true value.
SKETCH_ALPHA = 0.005
_GAMMA = (1 + SKETCH_ALPHA) / (1 - SKETCH_ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
_LOG_MIDPOINT = math.log(2 / (_GAMMA + 1))
_LOG_MAX = math.log(sys.float_info.max)
# Magnitudes below this fall in the sketch's zero bucket.
_SKETCH_MIN = 1e-12
DISTINCT_K = 2048
TOP_CAP = 1000
MISSING = "(missing)"
OTHER = "(other)"

ColumnKind = Literal["numeric", "text", "datetime"]
Key = Hashable


class Mergeable(Protocol):
    """A partial aggregate: merging two gives the aggregate of both parts."""

    def merge(self, other: Any) -> Any:  # pragma: no cover - protocol
        ...


M = TypeVar("M", bound=Mergeable)


def merge(first: M, second: M) -> M:
    """The aggregate of two parts (`first.merge(second)`); associative and commutative."""
    merged: M = first.merge(second)
    return merged


def merge_all(parts: Iterable[M]) -> M:
    """The aggregate of every part; ValueError when there is none."""
    iterator = iter(parts)
    try:
        total = next(iterator)
    except StopIteration:
        raise ValueError("merge_all needs at least one partial aggregate") from None
    for part in iterator:
        total = merge(total, part)
    return total


def merge_maps(first: Mapping[str, M], second: Mapping[str, M]) -> dict[str, M]:
    """Merge two maps of partials key by key; a key in one map only is kept as it is."""
    merged = dict(first)
    for key, value in second.items():
        merged[key] = merge(merged[key], value) if key in merged else value
    return merged


def plain(value: Any) -> Any:
    """A numpy or pandas scalar as the plain Python value JSON can hold (NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


# -- exact sums ----------------------------------------------------------------------------


def _exact_numerator(values: np.ndarray, *, square: bool) -> int:
    """The exact sum of `values` (or of their squares) times 2**scale, as an integer."""
    if values.size == 0:
        return 0
    mantissa, exponent = np.frexp(values.astype(np.float64))
    # A float64 mantissa has 53 bits: scaled by 2**53 it is an exact integer.
    ints = (mantissa * 2.0**53).astype(np.int64)
    exponent = exponent.astype(np.int64) - 53
    if square:
        exponent = exponent * 2
        scale = _SQUARE_SCALE
    else:
        scale = _SUM_SCALE
    total = 0
    groups, inverse = np.unique(exponent, return_inverse=True)
    for position, group in enumerate(groups.tolist()):
        chosen = ints[inverse == position].astype(object)
        part = int((chosen * chosen).sum()) if square else int(chosen.sum())
        total += part << (int(group) + scale)
    return total


@dataclass(frozen=True)
class ExactSum:
    """A sum of floats held exactly: `numerator / 2**scale`."""

    numerator: int = 0
    scale: int = _SUM_SCALE

    @classmethod
    def of(cls, values: np.ndarray, *, square: bool = False) -> ExactSum:
        """The exact sum of finite `values`, or of their squares."""
        scale = _SQUARE_SCALE if square else _SUM_SCALE
        return cls(_exact_numerator(values, square=square), scale)

    def merge(self, other: ExactSum) -> ExactSum:
        if other.scale != self.scale:
            raise ValueError("cannot merge sums of different scales")
        return ExactSum(self.numerator + other.numerator, self.scale)

    @property
    def fraction(self) -> Fraction:
        """The sum as an exact fraction."""
        return Fraction(self.numerator, 1 << self.scale)

    @property
    def value(self) -> float:
        """The sum, correctly rounded to a float (inf when it overflows)."""
        try:
            return float(self.fraction)
        except OverflowError:
            return math.inf if self.numerator > 0 else -math.inf


# -- quantile sketch -------------------------------------------------------------------------


def _bucket_counts(magnitudes: np.ndarray) -> dict[int, int]:
    if magnitudes.size == 0:
        return {}
    index = np.ceil(np.log(magnitudes) / _LOG_GAMMA).astype(np.int64)
    keys, counts = np.unique(index, return_counts=True)
    return dict(zip(keys.tolist(), counts.tolist(), strict=True))


def _add_counts(first: Mapping[Any, int], second: Mapping[Any, int]) -> dict[Any, int]:
    merged = dict(first)
    for key, count in second.items():
        merged[key] = merged.get(key, 0) + count
    return merged


@dataclass(frozen=True)
class QuantileSketch:
    """A mergeable quantile sketch with relative accuracy (DDSketch, logarithmic buckets).

    A value x > 0 falls in bucket ceil(log(x) / log(gamma)); negative values in mirrored
    buckets; tiny magnitudes in a zero bucket. Buckets only count, so merging adds counts
    and is exact. A quantile is returned within `SKETCH_ALPHA` relative error of a value
    of the data at that rank.
    """

    positive: dict[int, int] = field(default_factory=dict)
    negative: dict[int, int] = field(default_factory=dict)
    zeros: int = 0

    @classmethod
    def of(cls, values: np.ndarray) -> QuantileSketch:
        """The sketch of finite `values`."""
        values = values.astype(np.float64)
        positive = values[values > _SKETCH_MIN]
        negative = -values[values < -_SKETCH_MIN]
        zeros = int(values.size - positive.size - negative.size)
        return cls(_bucket_counts(positive), _bucket_counts(negative), zeros)

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        return QuantileSketch(
            _add_counts(self.positive, other.positive),
            _add_counts(self.negative, other.negative),
            self.zeros + other.zeros,
        )

    @property
    def count(self) -> int:
        return sum(self.positive.values()) + sum(self.negative.values()) + self.zeros

    def quantile(self, q: float) -> float | None:
        """The value at quantile `q` (0..1), None for an empty sketch."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be within 0 and 1. Got {q} instead.")
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1)
        seen = 0
        for index in sorted(self.negative, reverse=True):
            seen += self.negative[index]
            if seen > rank:
                return -_bucket_value(index)
        seen += self.zeros
        if seen > rank:
            return 0.0
        for index in sorted(self.positive):
            seen += self.positive[index]
            if seen > rank:
                return _bucket_value(index)
        return _bucket_value(max(self.positive)) if self.positive else 0.0


def _bucket_value(index: int) -> float:
    """The estimate for bucket `index`: the relative midpoint of (gamma^(i-1), gamma^i]."""
    log_value = index * _LOG_GAMMA + _LOG_MIDPOINT
    if log_value >= _LOG_MAX:
        return sys.float_info.max
    return math.exp(log_value)


# -- distinct values ---------------------------------------------------------------------------


def hash_values(values: np.ndarray | pd.Series) -> np.ndarray:
    """Stable 64-bit hashes of values (the same value always gives the same hash)."""
    array = values.to_numpy() if isinstance(values, pd.Series) else values
    if array.dtype.kind == "f":
        array = array + 0.0  # -0.0 and 0.0 are one value
    elif array.dtype.kind not in "iub":
        array = np.asarray([_text_key(value) for value in array], dtype=object)
    hashed: np.ndarray = pd.util.hash_array(array, categorize=False)
    return hashed


def _text_key(value: Any) -> str:
    return value if isinstance(value, str) else repr(plain(value))


@dataclass(frozen=True)
class DistinctSketch:
    """A distinct-count sketch (k minimum values of a 64-bit hash); exact below `k` values.

    The sketch keeps the k smallest distinct hashes, so the sketch of a union is the k
    smallest of both sketches: merging is exact.
    """

    hashes: tuple[int, ...] = ()
    k: int = DISTINCT_K

    @classmethod
    def of(cls, values: np.ndarray | pd.Series, *, k: int = DISTINCT_K) -> DistinctSketch:
        """The sketch of present `values`."""
        if len(values) == 0:
            return cls((), k)
        unique = np.unique(hash_values(values))[:k]
        return cls(tuple(int(item) for item in unique.tolist()), k)

    def merge(self, other: DistinctSketch) -> DistinctSketch:
        if other.k != self.k:
            raise ValueError("cannot merge distinct sketches of different sizes")
        union = sorted(set(self.hashes) | set(other.hashes))[: self.k]
        return DistinctSketch(tuple(union), self.k)

    @property
    def exact(self) -> bool:
        """True when the estimate is the exact count of distinct values."""
        return len(self.hashes) < self.k

    @property
    def estimate(self) -> int:
        """The number of distinct values: exact below k, else within a few percent."""
        if self.exact:
            return len(self.hashes)
        kth = self.hashes[-1] + 1
        return round((self.k - 1) * (2**64) / kth)


# -- top values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopValues:
    """Value counts of a column: exact up to `cap` distinct values, a Misra-Gries summary beyond.

    Beyond the cap every kept count is low by at most `error` (and a value not kept had at
    most `error` rows), which is enough to see a dominant value or list the frequent ones.
    """

    counts: dict[Any, int] = field(default_factory=dict)
    cap: int = TOP_CAP
    error: int = 0

    @classmethod
    def of(cls, values: pd.Series, *, cap: int = TOP_CAP) -> TopValues:
        """The top values of present `values`."""
        if len(values) == 0:
            return cls({}, cap, 0)
        if values.dtype.kind == "f":
            values = values + 0.0  # -0.0 and 0.0 are one value
        tally = values.value_counts(sort=False, dropna=True)
        error = 0
        if len(tally) > cap:
            # The Misra-Gries reduction of `_reduced`, vectorised: most columns this large
            # are near-unique and keep nothing.
            counts = tally.to_numpy()
            error = int(np.partition(counts, len(counts) - cap - 1)[len(counts) - cap - 1])
            tally = tally[tally > error] - error
        kept = {_key(value): int(count) for value, count in tally.items()}
        return cls(kept, cap, error)

    def merge(self, other: TopValues) -> TopValues:
        if other.cap != self.cap:
            raise ValueError("cannot merge top values of different caps")
        return self._reduced(_add_counts(self.counts, other.counts), self.error + other.error)

    def _reduced(self, counts: dict[Any, int], error: int) -> TopValues:
        if len(counts) <= self.cap:
            return TopValues(counts, self.cap, error)
        ordered = sorted(counts.values(), reverse=True)
        cut = ordered[self.cap]
        kept = {key: count - cut for key, count in counts.items() if count > cut}
        return TopValues(kept, self.cap, error + cut)

    @property
    def exact(self) -> bool:
        return self.error == 0

    def most_common(self, n: int | None = None) -> list[tuple[Any, int]]:
        """(value, count) pairs, most frequent first (ties by value's text), at most n."""
        ordered = sorted(self.counts.items(), key=lambda item: (-item[1], str(item[0])))
        return ordered if n is None else ordered[:n]


def _key(value: Any) -> Any:
    """A value as a dictionary key: numpy scalars unwrapped, -0.0 as 0.0."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value == 0.0:
        return 0.0
    return value


# -- column statistics -------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnStats:
    """What one column holds, as partials that merge.

    `kind` is numeric (ints, floats, booleans), datetime (values as int nanoseconds) or text.
    `rows` counts every row, `missing` the null ones, `infinite` the numeric ±inf values,
    which sums and the sketch leave out.
    """

    name: str
    kind: ColumnKind
    rows: int
    missing: int
    top: TopValues
    distinct: DistinctSketch
    infinite: int = 0
    minimum: float | None = None
    maximum: float | None = None
    total: ExactSum | None = None
    total_sq: ExactSum | None = None
    sketch: QuantileSketch | None = None

    def merge(self, other: ColumnStats) -> ColumnStats:
        if (other.name, other.kind) != (self.name, self.kind):
            raise ValueError(
                f"cannot merge statistics of {other.name!r} ({other.kind}) into "
                f"{self.name!r} ({self.kind})"
            )
        return ColumnStats(
            name=self.name,
            kind=self.kind,
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            top=self.top.merge(other.top),
            distinct=self.distinct.merge(other.distinct),
            infinite=self.infinite + other.infinite,
            minimum=_extreme(min, self.minimum, other.minimum),
            maximum=_extreme(max, self.maximum, other.maximum),
            total=_merge_optional(self.total, other.total),
            total_sq=_merge_optional(self.total_sq, other.total_sq),
            sketch=_merge_optional(self.sketch, other.sketch),
        )

    @property
    def present(self) -> int:
        """Rows holding a value."""
        return self.rows - self.missing

    @property
    def finite(self) -> int:
        """Rows holding a finite value (numeric columns)."""
        return self.present - self.infinite

    @property
    def mean(self) -> float | None:
        if self.total is None or self.finite == 0:
            return None
        return float(self.total.fraction / self.finite)

    @property
    def std(self) -> float | None:
        """The population standard deviation of the finite values."""
        if self.total is None or self.total_sq is None or self.finite == 0:
            return None
        mean = self.total.fraction / self.finite
        variance = self.total_sq.fraction / self.finite - mean * mean
        return math.sqrt(max(float(variance), 0.0))

    def quantile(self, q: float) -> float | None:
        """The value at quantile `q` (linear between order statistics, as pandas does).

        Exact while every value's count is known (at most `cap` distinct values); else the
        sketch's estimate, within 0.5% of a value at that rank, clamped to the exact range.
        """
        if self.sketch is None or self.minimum is None or self.maximum is None:
            return None
        if q <= 0:
            return self.minimum
        if q >= 1:
            return self.maximum
        if self.top.exact and sum(self.top.counts.values()) == self.finite:
            return _exact_quantile(self.top.counts, q)
        value = self.sketch.quantile(q)
        if value is None:
            return None
        return min(max(value, self.minimum), self.maximum)


def _exact_quantile(counts: Mapping[Any, int], q: float) -> float:
    values = sorted((float(value), count) for value, count in counts.items() if _finite(value))
    total = sum(count for _, count in values)
    rank = q * (total - 1)
    below = math.floor(rank)
    low = _order_statistic(values, below)
    high = _order_statistic(values, min(below + 1, total - 1))
    return low + (high - low) * (rank - below)


def _order_statistic(values: list[tuple[float, int]], index: int) -> float:
    """The value at 0-based position `index` of the sorted data, from (value, count) pairs."""
    seen = 0
    for value, count in values:
        seen += count
        if seen > index:
            return value
    return values[-1][0]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _extreme(pick: Any, first: float | None, second: float | None) -> float | None:
    if first is None:
        return second
    if second is None:
        return first
    chosen: float = pick(first, second)
    return chosen


_P = TypeVar("_P", ExactSum, QuantileSketch)


def _merge_optional(first: _P | None, second: _P | None) -> _P | None:
    if first is None:
        return second
    if second is None:
        return first
    return first.merge(second)


def column_kind(series: pd.Series) -> ColumnKind:
    """How a column is summarised: numeric, datetime or text, from its dtype."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


def column_stats_of(series: pd.Series, *, name: str, top: int = TOP_CAP) -> ColumnStats:
    """The statistics of one chunk of one column."""
    kind = column_kind(series)
    rows = len(series)
    if kind == "datetime":
        present = series.dropna()
        nanos = present.dt.tz_localize(None) if present.dt.tz is not None else present
        ints = nanos.astype("datetime64[ns]").astype(np.int64).to_numpy()
        return ColumnStats(
            name=name,
            kind=kind,
            rows=rows,
            missing=rows - len(present),
            top=TopValues.of(pd.Series(ints), cap=top),
            distinct=DistinctSketch.of(ints),
            minimum=float(ints.min()) if ints.size else None,
            maximum=float(ints.max()) if ints.size else None,
        )
    if kind == "numeric":
        values = pd.to_numeric(series, errors="coerce").astype(np.float64).to_numpy()
        present = values[~np.isnan(values)]
        finite = present[np.isfinite(present)]
        return ColumnStats(
            name=name,
            kind=kind,
            rows=rows,
            missing=rows - present.size,
            top=TopValues.of(pd.Series(present), cap=top),
            distinct=DistinctSketch.of(present),
            infinite=int(present.size - finite.size),
            minimum=float(finite.min()) if finite.size else None,
            maximum=float(finite.max()) if finite.size else None,
            total=ExactSum.of(finite),
            total_sq=ExactSum.of(finite, square=True),
            sketch=QuantileSketch.of(finite),
        )
    text = series.dropna()
    text = text.map(_text_key).astype(object) if len(text) else text.astype(object)
    return ColumnStats(
        name=name,
        kind=kind,
        rows=rows,
        missing=rows - len(text),
        top=TopValues.of(text, cap=top),
        distinct=DistinctSketch.of(text.to_numpy(dtype=object)),
    )


# -- duplicates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowCounts:
    """How many rows carry each distinct row hash; duplicates are the rows beyond the first."""

    counts: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> RowCounts:
        if len(frame) == 0:
            return cls({})
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        keys, counts = np.unique(hashes, return_counts=True)
        return cls(dict(zip(keys.tolist(), counts.tolist(), strict=True)))

    def merge(self, other: RowCounts) -> RowCounts:
        return RowCounts(_add_counts(self.counts, other.counts))

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def duplicates(self) -> int:
        """Rows that repeat an earlier row exactly."""
        return sum(count - 1 for count in self.counts.values())


# -- target cross-tables ------------------------------------------------------------------------


@dataclass(frozen=True)
class Binning:
    """How a column is cut into keys for a cross-table with the target.

    With `edges`, a value's key is the number of edges at or below it (0..len(edges));
    with `values`, a value listed is its own key and any other is `OTHER`. A missing
    value's key is `MISSING` either way.
    """

    column: str
    edges: tuple[float, ...] | None = None
    values: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if (self.edges is None) == (self.values is None):
            raise ValueError("a Binning needs exactly one of edges or values")

    def keys(self, series: pd.Series) -> np.ndarray:
        """The key of every value of `series`, as an object array."""
        missing = series.isna().to_numpy()
        keys = np.empty(len(series), dtype=object)
        keys[missing] = MISSING
        present = series[~missing]
        if self.edges is not None:
            numbers = pd.to_numeric(present, errors="coerce").astype(np.float64).to_numpy()
            keys[~missing] = np.searchsorted(np.asarray(self.edges), numbers, side="right")
            return keys
        kept = {_key(value) for value in self.values or ()}
        mapped = [
            key if key in kept else OTHER
            for key in (_key(value) for value in present.to_numpy(dtype=object))
        ]
        keys[~missing] = np.asarray(mapped, dtype=object) if mapped else keys[~missing]
        return keys


@dataclass(frozen=True)
class Crosstab:
    """Target statistics per (fold, key) of one binned column.

    For classification, each cell holds the row count of every target class (in the order
    the classes were given); for regression it holds (rows, sum, sum of squares) of the
    target. Each row falls in fold 0 or 1 by a hash of its row label, so that a rule fitted
    on one fold can be judged on the other.
    """

    column: str
    classes: int
    cells: dict[tuple[int, Any], tuple[float, ...]] = field(default_factory=dict)

    def merge(self, other: Crosstab) -> Crosstab:
        if (other.column, other.classes) != (self.column, self.classes):
            raise ValueError("cannot merge cross-tables of different columns or classes")
        cells = dict(self.cells)
        for key, counts in other.cells.items():
            if key in cells:
                cells[key] = tuple(a + b for a, b in zip(cells[key], counts, strict=True))
            else:
                cells[key] = counts
        return Crosstab(self.column, self.classes, cells)

    def by_key(self, fold: int | None = None) -> dict[Any, tuple[float, ...]]:
        """Cells summed over folds (or of one fold), keyed by the column's key."""
        summed: dict[Any, tuple[float, ...]] = {}
        for (cell_fold, key), counts in self.cells.items():
            if fold is not None and cell_fold != fold:
                continue
            if key in summed:
                summed[key] = tuple(a + b for a, b in zip(summed[key], counts, strict=True))
            else:
                summed[key] = counts
        return summed


def folds_of(labels: pd.Index) -> np.ndarray:
    """Fold 0 or 1 of each row, from a 64-bit mix (splitmix64) of its integer row label."""
    if pd.api.types.is_integer_dtype(labels.dtype):
        raw = labels.to_numpy().astype(np.uint64)
    else:
        raw = np.arange(len(labels), dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = raw + np.uint64(0x9E3779B97F4A7C15)
        mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        mixed = mixed ^ (mixed >> np.uint64(31))
    folds: np.ndarray = (mixed & np.uint64(1)).astype(np.int64)
    return folds


def crosstab_of(
    frame: pd.DataFrame, binning: Binning, target: str, classes: tuple[Any, ...] | None
) -> Crosstab:
    """The cross-table of one chunk: classification when `classes` is given, else regression."""
    keys = binning.keys(frame[binning.column])
    folds = folds_of(frame.index)
    outcome = frame[target]
    if classes is not None:
        codes = pd.Categorical(outcome, categories=list(classes)).codes.astype(np.int64)
        keep = codes >= 0
        table = pd.DataFrame({"fold": folds[keep], "key": keys[keep], "code": codes[keep]})
        grouped = table.groupby(["fold", "key", "code"], sort=False).size()
        cells: dict[tuple[int, Any], list[float]] = {}
        for (fold, key, code), count in grouped.items():
            cell = cells.setdefault((int(fold), _key(key)), [0] * len(classes))
            cell[int(code)] += int(count)
        return Crosstab(
            binning.column, len(classes), {key: tuple(value) for key, value in cells.items()}
        )
    numbers = pd.to_numeric(outcome, errors="coerce").astype(np.float64).to_numpy()
    keep = np.isfinite(numbers)
    table = pd.DataFrame(
        {"fold": folds[keep], "key": keys[keep], "y": numbers[keep], "y2": numbers[keep] ** 2}
    )
    grouped_sums = table.groupby(["fold", "key"], sort=False).agg(
        n=("y", "size"), s=("y", "sum"), s2=("y2", "sum")
    )
    regression: dict[tuple[int, Any], tuple[float, ...]] = {
        (int(fold), _key(key)): (float(row.n), float(row.s), float(row.s2))
        for (fold, key), row in zip(
            grouped_sums.index, grouped_sums.itertuples(index=False), strict=True
        )
    }
    return Crosstab(binning.column, 0, regression)


# -- values outside fences ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outside:
    """Per column, how many values fall below and above given fences."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, frame: pd.DataFrame, fences: Mapping[str, tuple[float, float]]) -> Outside:
        counts: dict[str, tuple[int, int]] = {}
        for column, (low, high) in fences.items():
            values = pd.to_numeric(frame[column], errors="coerce").astype(np.float64).to_numpy()
            counts[column] = (int((values < low).sum()), int((values > high).sum()))
        return cls(counts)

    def merge(self, other: Outside) -> Outside:
        counts = dict(self.counts)
        for column, (low, high) in other.counts.items():
            before = counts.get(column, (0, 0))
            counts[column] = (before[0] + low, before[1] + high)
        return Outside(counts)
