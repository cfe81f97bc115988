"""Tests for charter.engines: partial aggregates merge to the statistics of the whole frame."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import charter.engines
from charter.engines import (
    MISSING,
    OTHER,
    Binning,
    ColumnStats,
    Crosstab,
    DistinctSketch,
    Engine,
    ExactSum,
    Outside,
    PandasEngine,
    QuantileSketch,
    RowCounts,
    TopValues,
    column_stats_of,
    crosstab_of,
    folds_of,
    merge,
    merge_all,
)
from charter.engines._partials import SKETCH_ALPHA

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
WORDS = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "Δ", "", " "]), st.text(max_size=4))


def cuts(size: int) -> st.SearchStrategy[list[int]]:
    """Sorted cut points that split `size` rows into consecutive chunks."""
    return st.lists(st.integers(0, size), max_size=4).map(sorted)


def pieces(values: list[Any], points: list[int]) -> list[list[Any]]:
    bounds = [0, *points, len(values)]
    return [values[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def split_values(draw: st.DrawFn, elements: st.SearchStrategy[Any]) -> tuple[list[Any], list[int]]:
    values = draw(st.lists(elements, max_size=60))
    return values, draw(cuts(len(values)))


def test_public_api_is_pinned() -> None:
    assert charter.engines.__all__ == [
        "DEFAULT_CHUNK_ROWS",
        "DEFAULT_MASTER",
        "MISSING",
        "OTHER",
        "ROW_LABEL",
        "UNSEEN_OTHER",
        "Binning",
        "ColumnPlan",
        "ColumnStats",
        "Crosstab",
        "DistinctSketch",
        "DriftCounts",
        "DriftError",
        "DriftPlan",
        "Engine",
        "EngineError",
        "ExactSum",
        "FeatureCounts",
        "GroupedRowCounts",
        "Outside",
        "PandasEngine",
        "QuantileSketch",
        "RowCounts",
        "SparkEngine",
        "TopValues",
        "column_kind",
        "column_stats_of",
        "count_columns",
        "crosstab_of",
        "folds_of",
        "hash_values",
        "merge",
        "merge_all",
        "merge_maps",
        "plain",
        "quiet_pandas_version",
        "row_number_of",
        "spark_column",
        "spark_session",
    ]


def test_engine_is_a_base_class_and_pandas_the_default() -> None:
    with pytest.raises(TypeError, match=r"abstract"):
        Engine()  # type: ignore[abstract]
    assert PandasEngine.name == "pandas"
    with pytest.raises(ValueError, match=r"chunk_rows must be at least 1\. Got 0 instead\."):
        PandasEngine(chunk_rows=0)


# -- exact sums -----------------------------------------------------------------------------------


@settings(deadline=None)
@given(split_values(FINITE))
def test_exact_sums_are_exact_and_merge_exactly(case: tuple[list[float], list[int]]) -> None:
    values, points = case
    whole = ExactSum.of(np.array(values, dtype=np.float64))
    squares = ExactSum.of(np.array(values, dtype=np.float64), square=True)
    assert whole.fraction == sum((Fraction(v) for v in values), Fraction(0))
    assert squares.fraction == sum((Fraction(v) ** 2 for v in values), Fraction(0))
    parts = [ExactSum.of(np.array(p, dtype=np.float64)) for p in pieces(values, points)]
    assert merge_all(parts) == whole
    try:
        expected = float(whole.fraction)
    except OverflowError:
        expected = math.inf if whole.numerator > 0 else -math.inf
    assert whole.value == expected


def test_exact_sum_survives_cancellation() -> None:
    values = np.array([1e16, 1.0, -1e16, 1.0])
    assert ExactSum.of(values).value == 2.0
    assert float(np.sum(values)) != 2.0  # what a float sum gives


# -- column statistics ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(split_values(FLOATS))
def test_numeric_column_stats_merge_to_the_whole(case: tuple[list[float], list[int]]) -> None:
    values, points = case
    whole = column_stats_of(pd.Series(values, dtype=np.float64), name="x")
    parts = [
        column_stats_of(pd.Series(p, dtype=np.float64), name="x") for p in pieces(values, points)
    ]
    merged = merge_all(parts)
    assert merged == whole
    series = pd.Series(values, dtype=np.float64)
    finite = series[np.isfinite(series)]
    assert merged.rows == len(values)
    assert merged.missing == int(series.isna().sum())
    assert merged.infinite == int(np.isinf(series).sum())
    assert merged.minimum == (float(finite.min()) if len(finite) else None)
    assert merged.maximum == (float(finite.max()) if len(finite) else None)
    assert merged.total is not None
    assert merged.total.fraction == sum((Fraction(v) for v in finite), Fraction(0))
    assert merged.distinct.estimate == series.dropna().nunique()
    assert dict(merged.top.counts) == {
        (0.0 if k == 0 else k): int(c) for k, c in series.dropna().value_counts().items()
    }


@settings(deadline=None)
@given(split_values(WORDS))
def test_text_column_stats_merge_to_the_whole(case: tuple[list[Any], list[int]]) -> None:
    values, points = case
    whole = column_stats_of(pd.Series(values, dtype=object), name="t")
    parts = [column_stats_of(pd.Series(p, dtype=object), name="t") for p in pieces(values, points)]
    assert merge_all(parts) == whole
    present = [v for v in values if v is not None]
    assert whole.kind == "text"
    assert whole.missing == len(values) - len(present)
    assert whole.distinct.estimate == len(set(present))
    assert sum(whole.top.counts.values()) == len(present)


@settings(deadline=None)
@given(
    st.lists(FINITE, max_size=30),
    st.lists(FINITE, max_size=30),
    st.lists(FINITE, max_size=30),
)
def test_merge_is_associative_and_commutative(
    a: list[float], b: list[float], c: list[float]
) -> None:
    x, y, z = (column_stats_of(pd.Series(v, dtype=np.float64), name="x") for v in (a, b, c))
    assert merge(merge(x, y), z) == merge(x, merge(y, z))
    assert merge(x, y) == merge(y, x)


def test_stats_of_different_columns_do_not_merge() -> None:
    x = column_stats_of(pd.Series([1.0]), name="x")
    y = column_stats_of(pd.Series([1.0]), name="y")
    with pytest.raises(ValueError, match=r"cannot merge statistics of 'y'"):
        merge(x, y)


def test_datetime_column_stats() -> None:
    stamps = pd.Series(pd.to_datetime(["2024-01-02", None, "2023-05-06", "2024-01-02"]))
    stats = column_stats_of(stamps, name="when")
    assert stats.kind == "datetime"
    assert (stats.rows, stats.missing) == (4, 1)
    assert stats.minimum == pd.Timestamp("2023-05-06").value
    assert stats.distinct.estimate == 2
    halves = merge(
        column_stats_of(stamps[:2], name="when"), column_stats_of(stamps[2:], name="when")
    )
    assert halves == stats


@settings(deadline=None)
@given(st.lists(FINITE, min_size=1, max_size=80), st.floats(0, 1))
def test_quantiles_are_within_the_sketch_accuracy(values: list[float], q: float) -> None:
    sketch = QuantileSketch.of(np.array(values))
    estimate = sketch.quantile(q)
    assert estimate is not None
    ordered = sorted(values)
    true = ordered[math.floor(q * (len(values) - 1))]
    if abs(true) <= 1e-12:  # the zero bucket
        assert estimate == 0.0
    else:
        assert abs(estimate - true) <= SKETCH_ALPHA * abs(true) * (1 + 1e-9)


@settings(deadline=None)
@given(split_values(FINITE))
def test_quantile_sketches_merge_exactly(case: tuple[list[float], list[int]]) -> None:
    values, points = case
    whole = QuantileSketch.of(np.array(values, dtype=np.float64))
    parts = [QuantileSketch.of(np.array(p, dtype=np.float64)) for p in pieces(values, points)]
    assert merge_all(parts) == whole
    assert whole.count == len(values)


def test_exact_quantiles_match_pandas_while_values_are_few() -> None:
    series = pd.Series([3.0, 1.0, 1.0, 7.0, 2.0, 9.0, 9.0, 4.0])
    stats = column_stats_of(series, name="x")
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert stats.quantile(q) == pytest.approx(series.quantile(q))


@settings(deadline=None)
@given(split_values(st.integers(0, 40)))
def test_distinct_sketches_merge_exactly_even_when_they_saturate(
    case: tuple[list[int], list[int]],
) -> None:
    values, points = case
    whole = DistinctSketch.of(np.array(values, dtype=np.int64), k=8)
    parts = [DistinctSketch.of(np.array(p, dtype=np.int64), k=8) for p in pieces(values, points)]
    assert merge_all(parts) == whole
    if len(set(values)) < 8:
        assert whole.exact
        assert whole.estimate == len(set(values))


def test_distinct_estimate_beyond_k() -> None:
    sketch = DistinctSketch.of(np.arange(50_000, dtype=np.int64), k=1024)
    assert not sketch.exact
    assert abs(sketch.estimate - 50_000) / 50_000 < 0.1


@settings(deadline=None)
@given(split_values(st.integers(0, 12)))
def test_top_values_beyond_the_cap_keep_their_error_bound(
    case: tuple[list[int], list[int]],
) -> None:
    values, points = case
    parts = [TopValues.of(pd.Series(p, dtype=np.int64), cap=3) for p in pieces(values, points)]
    merged = merge_all(parts)
    truth = pd.Series(values, dtype=np.int64).value_counts()
    assert len(merged.counts) <= 3
    for value, count in truth.items():
        kept = merged.counts.get(value, 0)
        assert count - merged.error <= kept <= count
    if truth.size <= 3:
        assert merged.exact
        assert merged.counts == {k: int(c) for k, c in truth.items()}


# -- rows, cross-tables, fences ------------------------------------------------------------------


ROWS = st.lists(
    st.tuples(st.sampled_from(["a", "b", None]), st.integers(0, 3), st.sampled_from([0, 1])),
    max_size=50,
)


def frame_of(rows: list[tuple[Any, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "g": pd.Series([r[0] for r in rows], dtype=object),
            "n": pd.Series([float(r[1]) for r in rows], dtype=np.float64),
            "y": pd.Series([r[2] for r in rows], dtype=np.int64),
        }
    )


@settings(deadline=None)
@given(ROWS, st.integers(1, 7))
def test_row_counts_merge_and_count_duplicates(rows: list[tuple[Any, int, int]], size: int) -> None:
    frame = frame_of(rows)
    chunked = PandasEngine(chunk_rows=size).row_counts(frame, ["g", "n", "y"])
    assert chunked == RowCounts.of(frame)
    assert chunked.duplicates == int(frame.duplicated().sum())
    assert chunked.rows == len(frame)


@settings(deadline=None)
@given(ROWS, st.integers(1, 7))
def test_crosstabs_merge_to_the_whole(rows: list[tuple[Any, int, int]], size: int) -> None:
    frame = frame_of(rows)
    binnings = {
        "g": Binning("g", values=("a",)),
        "n": Binning("n", edges=(1.0, 2.5)),
    }
    whole = PandasEngine().crosstabs(frame, "y", binnings, classes=(0, 1))
    chunked = PandasEngine(chunk_rows=size).crosstabs(frame, "y", binnings, classes=(0, 1))
    assert chunked == whole
    g = whole["g"].by_key() if frame.size else {}
    expected_g = frame.assign(key=frame["g"].map({"a": "a", "b": OTHER}).fillna(MISSING))
    for key, group in expected_g.groupby("key"):
        assert g[key] == ((group["y"] == 0).sum(), (group["y"] == 1).sum())
    n = whole["n"].by_key() if frame.size else {}
    for key, group in frame.groupby(np.searchsorted([1.0, 2.5], frame["n"], side="right")):
        assert n[int(key)] == ((group["y"] == 0).sum(), (group["y"] == 1).sum())


def test_regression_crosstab_holds_sums() -> None:
    frame = pd.DataFrame({"g": ["a", "a", "b"], "y": [1.0, 3.0, 5.0]}, dtype=object)
    table = crosstab_of(frame, Binning("g", values=("a", "b")), "y", None)
    assert table.classes == 0
    assert table.by_key() == {"a": (2.0, 4.0, 10.0), "b": (1.0, 5.0, 25.0)}


def test_crosstabs_of_different_columns_do_not_merge() -> None:
    with pytest.raises(ValueError, match=r"cannot merge cross-tables"):
        merge(Crosstab("a", 2), Crosstab("b", 2))


def test_binning_needs_edges_or_values() -> None:
    with pytest.raises(ValueError, match=r"exactly one of edges or values"):
        Binning("x")


@settings(deadline=None)
@given(st.lists(st.one_of(FINITE, st.just(math.nan)), max_size=40), st.integers(1, 9))
def test_outside_counts_merge(values: list[float], size: int) -> None:
    frame = pd.DataFrame({"x": pd.Series(values, dtype=np.float64)})
    fences = {"x": (-1.0, 1.0)}
    chunked = PandasEngine(chunk_rows=size).outside(frame, fences)
    assert chunked == Outside.of(frame, fences)
    below = sum(1 for v in values if v < -1.0)
    above = sum(1 for v in values if v > 1.0)
    assert chunked.counts == {"x": (below, above)}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(FLOATS, WORDS, st.integers(-3, 3)), max_size=40),
    st.integers(1, 9),
)
def test_engine_column_stats_do_not_depend_on_the_chunk_size(
    rows: list[tuple[float, Any, int]], size: int
) -> None:
    frame = pd.DataFrame(
        {
            "f": pd.Series([r[0] for r in rows], dtype=np.float64),
            "t": pd.Series([r[1] for r in rows], dtype=object),
            "i": pd.Series([r[2] for r in rows], dtype=np.int64),
        }
    )
    whole = PandasEngine().column_stats(frame)
    chunked = PandasEngine(chunk_rows=size).column_stats(frame)
    assert chunked == whole
    assert isinstance(whole["i"], ColumnStats)
    assert whole["i"].kind == "numeric"


def test_folds_are_a_stable_balanced_hash_of_the_row_label() -> None:
    labels = pd.RangeIndex(10_000)
    folds = folds_of(labels)
    assert set(np.unique(folds).tolist()) == {0, 1}
    assert abs(folds.mean() - 0.5) < 0.03
    assert np.array_equal(folds[5000:], folds_of(pd.Index(np.arange(5000, 10_000))))
    assert folds_of(pd.Index(["a", "b"])).tolist() == folds_of(pd.RangeIndex(2)).tolist()


def test_merge_all_needs_a_part() -> None:
    with pytest.raises(ValueError, match=r"at least one partial"):
        merge_all([])
    assert reduce(merge, [RowCounts({1: 1}), RowCounts({1: 2})]).duplicates == 2
