"""Drift counts: the documented bin rule, normalisation, exact merges and a JSON round trip."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.engines._drift_counts import (
    MAX_UNSEEN_LEVELS,
    UNSEEN_OTHER,
    DriftCounts,
    DriftError,
    DriftPlan,
    FeatureCounts,
    count_columns,
)
from charter.errors import CharterError
from charter.modeling._reference import SCORE_BINS, category_counts, fine_bins, numeric_bins
from charter.values import category_strings, numeric_values

ReferenceFactory = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def make_reference() -> ReferenceFactory:
    """Reference statistics (format 2) of a frame, built by the functions training uses."""

    def make(
        frame: pd.DataFrame,
        categorical: tuple[str, ...] = (),
        *,
        score: np.ndarray | None = None,
        datetime: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        features: dict[str, Any] = {}
        for name in frame.columns:
            if name in categorical:
                features[name] = {
                    "kind": "categorical",
                    **category_counts(category_strings(frame[name])),
                }
            else:
                kind = "datetime" if name in datetime else "numeric"
                features[name] = {"kind": kind, **numeric_bins(numeric_values(frame[name]))}
        prediction = None
        if score is not None:
            index = np.clip((score * SCORE_BINS).astype(np.int64), 0, SCORE_BINS - 1)
            prediction = {
                "kind": "positive_score",
                "edges": [b / SCORE_BINS for b in range(SCORE_BINS + 1)],
                "counts": np.bincount(index, minlength=SCORE_BINS).tolist(),
                **fine_bins(score),
            }
        return {"format": 2, "rows": len(frame), "features": features, "prediction": prediction}

    return make


def sample_frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "color": pd.Series(rng.choice(["red", "green", "blue"], size=n), dtype=object),
        }
    )


@pytest.fixture(scope="module")
def plan(make_reference: ReferenceFactory) -> DriftPlan:
    return DriftPlan.from_reference(make_reference(sample_frame(), ("color",)))


def expected_bins(edges: np.ndarray, values: np.ndarray) -> list[int]:
    """The documented rule, written out: bin i holds e[i-1] <= v < e[i] with open ends."""
    full = np.concatenate([[-np.inf], edges, [np.inf]])
    present = values[~np.isnan(values)]
    counts = [int(((present >= lo) & (present < hi)).sum()) for lo, hi in itertools.pairwise(full)]
    counts[-1] += int((present == np.inf).sum())
    return counts


# --- the plan ---------------------------------------------------------------------------


def test_the_plan_reads_inner_edges_levels_and_the_prediction(
    make_reference: ReferenceFactory,
) -> None:
    frame = sample_frame()
    stats = make_reference(frame, ("color",), score=np.linspace(0, 1, len(frame)))
    plan = DriftPlan.from_reference(stats)
    x = plan.features["x"]
    assert x.kind == "numeric"
    assert x.edges.dtype == np.float64
    assert x.edges.tolist() == stats["features"]["x"]["edges"][1:-1]
    assert len(x.fine_edges) == 99
    assert plan.features["color"].kind == "categorical"
    assert set(plan.features["color"].levels) == {"red", "green", "blue"}
    assert plan.prediction is not None
    assert plan.prediction.kind == "positive_score"
    assert plan.prediction.score_bins == 10


def test_a_format_one_reference_falls_back_on_the_decile_edges(
    make_reference: ReferenceFactory,
) -> None:
    stats = make_reference(sample_frame(), ("color",))
    stats["format"] = 1
    for entry in stats["features"].values():
        entry.pop("fine_edges", None)
        entry.pop("fine_counts", None)
    plan = DriftPlan.from_reference(stats)
    assert plan.features["x"].fine_edges.tolist() == plan.features["x"].edges.tolist()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(format=3), r"The 'format' of the reference statistics must be one"),
        (lambda s: s.update(format=True), r"'format'.*Got True instead"),
        (lambda s: s.update(format="2"), r"'format'.*Got '2' instead"),
        (lambda s: s.update(features=[1]), r"The 'features' of the reference statistics must be"),
        (lambda s: s["features"]["x"].update(kind="text"), r"The 'kind' of feature 'x'"),
        (lambda s: s["features"]["x"].update(edges=[0, 1]), r"The 'edges' of feature 'x'"),
        (
            lambda s: s["features"]["x"].update(edges=["-inf", 2.0, 1.0, "inf"]),
            r"increasing numbers",
        ),
        (lambda s: s["features"]["x"].update(edges="abc"), r"The 'edges' of feature 'x'"),
        (lambda s: s["features"]["color"].update(counts=[1, 2]), r"The 'counts' of feature"),
        (lambda s: s.update(prediction={"kind": "proba"}), r"The 'kind' of the prediction"),
    ],
)
def test_a_malformed_reference_is_refused(
    make_reference: ReferenceFactory, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    stats = make_reference(sample_frame(), ("color",))
    mutate(stats)
    with pytest.raises(DriftError, match=message):
        DriftPlan.from_reference(stats)


def test_a_reference_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(CharterError, match=r"The 'reference' of the drift monitor must be a map"):
        DriftPlan.from_reference([1, 2])  # type: ignore[arg-type]


# --- counting ---------------------------------------------------------------------------


def test_values_on_the_edges_go_right_and_infinities_to_the_ends(plan: DriftPlan) -> None:
    edges = plan.features["x"].edges
    values = np.concatenate([edges, edges - 1e-9, [np.inf, -np.inf, np.nan, 1e308, -1e308]])
    counts = count_columns(plan, {"x": values})
    x = counts.features["x"]
    assert list(x.bins) == expected_bins(edges, values)
    assert list(x.fine) == expected_bins(plan.features["x"].fine_edges, values)
    assert x.rows == len(values)
    assert x.missing == 1
    assert x.invalid == 0
    assert x.minimum == -np.inf
    assert x.maximum == np.inf
    assert sum(x.bins) + x.missing == x.rows


def test_the_positive_score_follows_trainings_rule(make_reference: ReferenceFactory) -> None:
    scores = np.array([0.0, 0.05, 0.1, 0.3, 0.7, 0.99, 1.0, -0.2, 1.5, np.nan])
    stats = make_reference(sample_frame(), ("color",), score=np.linspace(0, 1, 500))
    plan = DriftPlan.from_reference(stats)
    counts = count_columns(plan, {}, scores).prediction
    assert counts is not None
    present = scores[~np.isnan(scores)]
    training = np.clip((np.clip(present, 0, 1) * 10).astype(np.int64), 0, 9)
    assert list(counts.bins) == np.bincount(training, minlength=10).tolist()
    assert counts.bins[-1] == 3  # 0.99, 1.0 and the clipped 1.5
    assert counts.missing == 1


def test_categories_are_normalised_as_in_training(plan: DriftPlan) -> None:
    column = pd.Series(["1", 1, 1.0, "red", None, np.nan, True], dtype=object)
    counts = count_columns(plan, {"color": column}).features["color"]
    assert counts.levels == {"1": 3, "red": 1, "True": 1}
    assert counts.missing == 2
    assert counts.present == 5


def test_text_in_a_numeric_feature_counts_as_missing_and_invalid(plan: DriftPlan) -> None:
    column = pd.Series(["0.5", "abc", None, 2, "", "1e3"], dtype=object)
    counts = count_columns(plan, {"x": column}).features["x"]
    assert counts.missing == 3
    assert counts.invalid == 2  # "abc" and ""; None was missing already
    assert sum(counts.bins) == 3
    assert counts.maximum == 1000.0


def test_an_absent_feature_counts_every_row_missing(plan: DriftPlan) -> None:
    counts = count_columns(plan, {"x": np.zeros(7)})
    color = counts.features["color"]
    assert (color.rows, color.missing, color.absent_rows) == (7, 7, 7)
    assert color.levels == {}
    only_rows = count_columns(plan, {}, rows=4)
    assert only_rows.features["x"].bins == (0,) * len(only_rows.features["x"].bins)
    assert only_rows.features["x"].absent_rows == 4


def test_all_missing_and_empty_columns(plan: DriftPlan) -> None:
    counts = count_columns(plan, {"x": np.full(5, np.nan), "color": np.array([None] * 5)})
    assert counts.features["x"].missing == 5
    assert counts.features["x"].minimum is None
    assert counts.features["color"].missing == 5
    empty = count_columns(plan, {"x": np.zeros(0), "color": np.zeros(0, dtype=object)})
    assert empty.rows == 0
    assert empty.features["x"].rows == 0


def test_datetime_features_are_read_as_epoch_seconds(make_reference: ReferenceFactory) -> None:
    dates = pd.Series(pd.date_range("2024-01-01", periods=200, freq="D"))
    stats = make_reference(pd.DataFrame({"when": dates}), datetime=("when",))
    plan = DriftPlan.from_reference(stats)
    as_text = pd.Series([d.isoformat() for d in dates] + ["not a date"], dtype=object)
    from_text = count_columns(plan, {"when": as_text}).features["when"]
    from_dates = count_columns(plan, {"when": dates}).features["when"]
    assert from_text.bins == from_dates.bins
    assert from_text.invalid == 1
    assert list(from_dates.bins) == stats["features"]["when"]["counts"]


def test_columns_of_different_lengths_are_refused(plan: DriftPlan) -> None:
    with pytest.raises(DriftError, match=r"The 'columns' of count_columns must be equally long"):
        count_columns(plan, {"x": np.zeros(3), "color": np.zeros(4)})
    with pytest.raises(DriftError, match=r"The 'rows' of count_columns must be a whole number"):
        count_columns(plan, {}, rows=-1)


def test_unseen_levels_are_pooled_beyond_the_bound_keeping_their_share(plan: DriftPlan) -> None:
    many = np.array(
        [f"level{i}" for i in range(MAX_UNSEEN_LEVELS + 50)] + ["red"] * 10, dtype=object
    )
    counts = count_columns(plan, {"color": many}).features["color"]
    unseen = {k: v for k, v in counts.levels.items() if k not in plan.features["color"].levels}
    assert len(unseen) == MAX_UNSEEN_LEVELS
    assert counts.levels[UNSEEN_OTHER] == 51
    assert sum(unseen.values()) == MAX_UNSEEN_LEVELS + 50
    assert counts.levels["red"] == 10
    merged = counts.merge(counts).bounded(frozenset(plan.features["color"].levels))
    assert sum(v for k, v in merged.levels.items() if k != "red") == 2 * (MAX_UNSEEN_LEVELS + 50)
    assert len(merged.levels) == MAX_UNSEEN_LEVELS + 1


# --- merging and JSON -------------------------------------------------------------------

VALUES = st.lists(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from([0.0, 1.0, -1.0]),
    ),
    min_size=0,
    max_size=60,
)
# Mixed types on purpose: 1, 1.0 and "1" are one level wherever the chunks are cut.
LEVEL_VALUES = st.sampled_from(["red", "green", "cyan", 1, 1.0, "1", None])


@st.composite
def chunks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    values = draw(VALUES)
    n = len(values)
    levels = draw(st.lists(LEVEL_VALUES, min_size=n, max_size=n))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return np.asarray(values, dtype=np.float64), np.asarray(levels, dtype=object), cuts


def count_parts(
    plan: DriftPlan, values: np.ndarray, levels: np.ndarray, cuts: list[int]
) -> list[DriftCounts]:
    bounds = [0, *cuts, len(values)]
    return [
        count_columns(plan, {"x": values[a:b], "color": levels[a:b]}, rows=b - a)
        for a, b in itertools.pairwise(bounds)
    ]


@settings(deadline=None, max_examples=60)
@given(chunks())
def test_merging_chunk_counts_equals_counting_the_whole(
    plan: DriftPlan, data: tuple[np.ndarray, np.ndarray, list[int]]
) -> None:
    values, levels, cuts = data
    whole = count_columns(plan, {"x": values, "color": levels}, rows=len(values))
    parts = count_parts(plan, values, levels, cuts)
    merged = DriftCounts()
    for part in parts:
        merged = merged.merge(part)
    assert merged == whole
    reversed_merge = DriftCounts()
    for part in reversed(parts):
        reversed_merge = part.merge(reversed_merge)
    assert reversed_merge == whole


@settings(deadline=None, max_examples=40)
@given(chunks(), chunks(), chunks())
def test_merge_is_associative_and_commutative(plan: DriftPlan, a: Any, b: Any, c: Any) -> None:
    ca, cb, cc = (count_columns(plan, {"x": v, "color": lv}, rows=len(v)) for v, lv, _ in (a, b, c))
    assert ca.merge(cb).merge(cc) == ca.merge(cb.merge(cc))
    assert ca.merge(cb) == cb.merge(ca)


@settings(deadline=None, max_examples=60)
@given(chunks())
def test_counts_survive_a_strict_json_round_trip(
    make_reference: ReferenceFactory, data: tuple[np.ndarray, np.ndarray, list[int]]
) -> None:
    values, levels, _ = data
    stats = make_reference(sample_frame(), ("color",), score=np.linspace(0, 1, 500))
    plan = DriftPlan.from_reference(stats)
    score = np.clip(np.nan_to_num(values, nan=0.5), 0, 1)
    counts = count_columns(plan, {"x": values, "color": levels}, score)
    text = json.dumps(counts.to_json(), allow_nan=False)
    assert DriftCounts.from_json(json.loads(text)) == counts


def test_merging_counts_of_other_bins_is_refused() -> None:
    with pytest.raises(DriftError, match=r"The 'bins' of drift counts to merge must be"):
        FeatureCounts(bins=(1, 2)).merge(FeatureCounts(bins=(1, 2, 3)))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format=2), r"The 'format' of the drift counts must be 1"),
        (lambda d: d.update(rows=-1), r"The 'rows' of the drift counts must be a whole number"),
        (lambda d: d.update(rows=True), r"The 'rows' of the drift counts.*Got True"),
        (lambda d: d.update(features=None), r"The 'features' of the drift counts must be"),
        (lambda d: d["features"]["x"].update(bins="1,2"), r"The 'bins' of feature 'x'"),
        (lambda d: d["features"]["x"].update(bins=[1.5]), r"The 'bins' of feature 'x'"),
        (lambda d: d["features"]["x"].update(min="big"), r"The 'min' of feature 'x'"),
        (lambda d: d["features"]["x"].update(missing=10**9), r"must be at most the"),
        (lambda d: d["features"]["color"].update(levels=[1]), r"The 'levels' of feature 'color'"),
        (lambda d: d["features"]["color"]["levels"].update(red=-3), r"'levels.red'"),
        (lambda d: d["features"].update(x=7), r"The 'feature' of feature 'x'"),
    ],
)
def test_malformed_counts_json_is_refused(
    plan: DriftPlan, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = count_columns(plan, {"x": np.arange(5.0), "color": np.array(["red"] * 5)}).to_json()
    mutate(data)
    with pytest.raises(DriftError, match=message):
        DriftCounts.from_json(data)
    with pytest.raises(DriftError, match=r"The 'counts' of the drift monitor must be a mapping"):
        DriftCounts.from_json("counts")


def test_decile_and_fine_edges_are_independent(
    make_reference: ReferenceFactory,
) -> None:
    stats = make_reference(sample_frame(), ("color",))
    stats["features"]["x"]["fine_edges"] = ["-inf", -0.77, 0.013, 0.5, "inf"]
    plan = DriftPlan.from_reference(stats)
    values = np.random.default_rng(3).normal(size=1_000)
    x = count_columns(plan, {"x": values}).features["x"]
    assert list(x.bins) == expected_bins(plan.features["x"].edges, values)
    assert list(x.fine) == expected_bins(plan.features["x"].fine_edges, values)


@pytest.mark.parametrize("dtype", ["string", "str", "category"])
def test_text_columns_count_the_same_whatever_their_dtype(plan: DriftPlan, dtype: str) -> None:
    values = ["red", None, "green", "", "red", "Red"]
    as_object = count_columns(plan, {"color": pd.Series(values, dtype=object)})
    typed = count_columns(plan, {"color": pd.Series(values, dtype=dtype)})
    assert typed == as_object
    assert as_object.features["color"].levels == {"red": 2, "green": 1, "": 1, "Red": 1}
