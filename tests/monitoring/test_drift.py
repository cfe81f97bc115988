"""Drift reports: statistics checked against scipy, invariances, thresholds and bad windows."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sstats
from scipy.spatial.distance import jensenshannon

import charter.monitoring
from charter.modeling import reference_statistics, train_model
from charter.modeling._reference import SCORE_BINS, category_counts, fine_bins, numeric_bins
from charter.monitoring import (
    APPROXIMATION,
    DriftCounts,
    DriftError,
    DriftPlan,
    DriftReport,
    DriftThresholds,
    count_columns,
    drift_of_frame,
    drift_report,
    psi_counts,
)
from charter.monitoring._drift import binned_ks, binned_wasserstein, chi2_pvalue, jensen_shannon
from charter.spec import MetricInputs, get_metric
from charter.spec.metrics import PSI_EPSILON
from charter.values import category_strings, numeric_values
from tests.modeling.conftest import generated, make_charter

ReferenceFactory = Callable[..., dict[str, Any]]
FEATURE_KEYS = {
    "kind",
    "psi",
    "ks",
    "ks_pvalue",
    "wasserstein",
    "js",
    "chi2_pvalue",
    "unseen_share",
    "missing_rate",
    "reference_missing_rate",
    "absent",
    "drifted",
    "reasons",
}


def reference_of(
    frame: pd.DataFrame,
    categorical: tuple[str, ...] = ("plan",),
    *,
    score: np.ndarray | None = None,
) -> dict[str, Any]:
    """Format-2 reference statistics of a frame, by the functions training uses."""
    features: dict[str, Any] = {}
    for name in frame.columns:
        if name in categorical:
            features[name] = {
                "kind": "categorical",
                **category_counts(category_strings(frame[name])),
            }
        else:
            features[name] = {"kind": "numeric", **numeric_bins(numeric_values(frame[name]))}
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


def customers(
    n: int, seed: int, *, charge_scale: float = 1.0, plan_mix: Any = None
) -> pd.DataFrame:
    """Two numeric features (one skewed, with gaps) and a categorical one."""
    rng = np.random.default_rng(seed)
    charges = rng.gamma(4.0, 15.0, size=n) * charge_scale
    tenure = rng.integers(0, 72, size=n).astype(float)
    tenure[rng.random(n) < 0.05] = np.nan
    mix = plan_mix or [0.55, 0.25, 0.2]
    plan = rng.choice(np.array(["monthly", "yearly", "biennial"], dtype=object), size=n, p=mix)
    return pd.DataFrame({"charges": charges, "tenure": tenure, "plan": pd.Series(plan)})


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return reference_of(customers(20_000, seed=1))


# --- verdicts ---------------------------------------------------------------------------


@settings(deadline=None, max_examples=8)
@given(st.integers(0, 2**16))
def test_a_sample_from_the_reference_distribution_does_not_drift(
    reference: dict[str, Any], seed: int
) -> None:
    report = drift_of_frame(
        reference,
        customers(20_000, seed=seed + 100),
        DriftThresholds.from_mapping({"psi": 0.1, "js": 0.1, "wasserstein": 0.1}),
        chunk_rows=6_000,
    )
    assert report.drifted == ()
    assert report.max_psi < 0.01
    assert report.features["charges"].ks is not None
    assert report.features["charges"].ks < 0.05


def test_shifted_columns_drift_with_reasons(reference: dict[str, Any]) -> None:
    current = customers(20_000, seed=5, charge_scale=1.3, plan_mix=[0.2, 0.3, 0.5])
    thresholds = DriftThresholds.from_mapping({"psi": 0.2, "js": 0.1, "wasserstein": 0.1})
    report = drift_of_frame(reference, current, thresholds)
    assert report.drifted == ("charges", "plan")
    charges = report.features["charges"]
    assert any(r.startswith("Wasserstein ") and "> 0.1" in r for r in charges.reasons)
    assert any(r.startswith("KS ") for r in charges.reasons)
    plan = report.features["plan"]
    assert plan.kind == "categorical"
    assert any(r.startswith("JS ") for r in plan.reasons)
    assert plan.unseen_share == 0.0
    assert not report.features["tenure"].drifted


@settings(deadline=None, max_examples=15)
@given(st.permutations(list(range(300))))
def test_the_report_does_not_depend_on_row_order(
    reference: dict[str, Any], order: list[int]
) -> None:
    frame = customers(300, seed=9, charge_scale=1.1)
    shuffled = frame.iloc[order].reset_index(drop=True)
    first = drift_of_frame(reference, frame, chunk_rows=70).to_json()
    second = drift_of_frame(reference, shuffled, chunk_rows=110).to_json()
    assert first == second


# --- the statistics against direct computations -----------------------------------------


def test_psi_is_the_kpi_registrys_with_empty_bins_floored(reference: dict[str, Any]) -> None:
    current = customers(3_000, seed=3, charge_scale=2.0)
    report = drift_of_frame(reference, current)
    plan = DriftPlan.from_reference(reference)
    counts = count_columns(plan, {name: current[name] for name in current.columns})
    ref_cells, cur_cells = psi_counts(reference, counts)
    for name in ("charges", "tenure", "plan"):
        p = np.asarray(ref_cells[name], dtype=float) / sum(ref_cells[name])
        q = np.asarray(cur_cells[name], dtype=float) / sum(cur_cells[name])
        p, q = np.where(p == 0, PSI_EPSILON, p), np.where(q == 0, PSI_EPSILON, q)
        assert report.features[name].psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    kpi = get_metric("max_psi").compute(
        MetricInputs(reference_counts=ref_cells, current_counts=cur_cells)
    )
    assert kpi == report.max_psi


def test_ks_at_the_edges_is_exact_for_values_on_the_edges() -> None:
    rng = np.random.default_rng(0)
    edges = np.arange(1.0, 100.0)
    reference = rng.choice(np.concatenate([[0.0], edges]), size=4_000)
    current = rng.choice(np.concatenate([[0.0], edges]), size=3_000) + rng.choice([0, 3], 3_000)
    current = np.minimum(current, 99.0)
    ref_bins = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=100)
    cur_bins = np.bincount(np.searchsorted(edges, current, side="right"), minlength=100)
    statistic, pvalue = binned_ks(ref_bins.astype(float), cur_bins.astype(float))
    exact = sstats.ks_2samp(reference, current)
    assert statistic == pytest.approx(exact.statistic, abs=1e-12)
    effective = 4_000 * 3_000 / 7_000
    assert pvalue == pytest.approx(sstats.kstwobign.sf(math.sqrt(effective) * statistic))


@settings(deadline=None, max_examples=25)
@given(
    st.floats(-1.0, 1.0),
    st.floats(0.5, 2.0),
    st.integers(50, 3_000),
    st.integers(0, 2**16),
)
def test_binned_ks_is_within_the_stated_bound_of_scipy(
    reference: dict[str, Any], shift: float, scale: float, n: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    raw_reference = rng.gamma(4.0, 15.0, size=5_000)
    stats = reference_of(pd.DataFrame({"charges": raw_reference}), ())
    current = rng.gamma(4.0, 15.0, size=n) * scale + shift * 15
    report = drift_of_frame(stats, pd.DataFrame({"charges": current}))
    binned = report.features["charges"].ks
    assert binned is not None
    exact = sstats.ks_2samp(raw_reference, current).statistic
    counts = count_columns(DriftPlan.from_reference(stats), {"charges": current})
    largest_share = max(
        max(stats["features"]["charges"]["fine_counts"]) / 5_000,
        max(counts.features["charges"].fine) / n,
    )
    assert binned <= exact + 1e-12
    assert exact <= binned + largest_share + 1e-12


def test_wasserstein_is_close_to_scipy_normalised_by_the_reference_std() -> None:
    rng = np.random.default_rng(2)
    raw_reference = rng.gamma(4.0, 15.0, size=20_000)
    stats = reference_of(pd.DataFrame({"charges": raw_reference}), ())
    for scale in (1.0, 1.1, 1.3):
        current = rng.gamma(4.0, 15.0, size=20_000) * scale
        report = drift_of_frame(stats, pd.DataFrame({"charges": current}))
        exact = sstats.wasserstein_distance(raw_reference, current) / raw_reference.std()
        assert report.features["charges"].wasserstein == pytest.approx(exact, rel=0.01, abs=0.003)


def test_wasserstein_of_a_constant_column_and_its_tails() -> None:
    edges = np.array([5.0])
    same = binned_wasserstein(
        edges, np.array([0.0, 4.0]), (0.0, 0.0), np.array([0.0, 2.0]), (0.0, 0.0)
    )
    assert same == 0.0
    # Half the window lies 2 above the constant: the mean excess moves by 1.
    moved = binned_wasserstein(
        edges, np.array([0.0, 4.0]), (0.0, 0.0), np.array([0.0, 2.0]), (0.0, 2.0)
    )
    assert moved == pytest.approx(1.0)
    assert binned_wasserstein(edges, np.ones(2), (0.0, 1e308), np.ones(2), (0.0, -1e308)) > 1e300


@settings(deadline=None, max_examples=40)
@given(
    st.lists(st.integers(0, 500), min_size=2, max_size=8).filter(lambda c: sum(c) > 0),
    st.lists(st.integers(0, 500), min_size=2, max_size=8).filter(lambda c: sum(c) > 0),
)
def test_js_and_chi_square_agree_with_scipy(a: list[int], b: list[int]) -> None:
    size = min(len(a), len(b))
    p, q = np.asarray(a[:size], dtype=float), np.asarray(b[:size], dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return
    assert jensen_shannon(p, q) == pytest.approx(float(jensenshannon(p, q, base=2)), abs=1e-7)
    used = (p + q) > 0
    if used.sum() >= 2:
        table = np.vstack([p[used], q[used]])
        expected = sstats.chi2_contingency(table, correction=False).pvalue
        assert chi2_pvalue(p, q) == pytest.approx(expected)
    else:
        assert chi2_pvalue(p, q) == 1.0


# --- the prediction and a real model ----------------------------------------------------


def test_a_trained_models_reference_gives_no_drift_on_its_own_data() -> None:
    frame = generated(n=300)
    model = train_model(frame, make_charter()).model
    stats = reference_statistics(model, frame)
    assert stats["format"] == 2
    report = drift_of_frame(stats, frame, prediction=model.score(frame))
    assert report.max_psi == 0.0
    assert report.drifted == ()
    assert report.prediction is not None
    assert report.prediction.psi == 0.0
    assert report.prediction.ks == 0.0
    shifted = frame.assign(x1=frame["x1"] + 3)
    moved = drift_of_frame(stats, shifted, prediction=model.score(shifted))
    assert "x1" in moved.drifted
    assert moved.prediction is not None
    assert moved.prediction.drifted


def test_class_and_value_predictions() -> None:
    frame = customers(2_000, seed=4)
    labels = np.where(frame["charges"] > 60, "high", "low").astype(object)
    stats = reference_of(frame)
    stats["prediction"] = {
        "kind": "class",
        "counts": {"high": int((labels == "high").sum()), "low": int((labels == "low").sum())},
    }
    report = drift_of_frame(stats, frame, prediction=labels)
    assert report.prediction is not None
    assert report.prediction.kind == "categorical"
    assert report.prediction.psi == 0.0
    flipped = drift_of_frame(stats, frame, prediction=np.full(2_000, "other", dtype=object))
    assert flipped.prediction is not None
    assert flipped.prediction.unseen_share == 1.0
    assert flipped.prediction.drifted
    stats["prediction"] = {"kind": "value", **numeric_bins(frame["charges"].to_numpy())}
    value = drift_of_frame(stats, frame, prediction=frame["charges"].to_numpy() * 2)
    assert value.prediction is not None
    assert value.prediction.kind == "numeric"
    assert value.prediction.drifted


def test_a_format_one_reference_is_still_read(reference: dict[str, Any]) -> None:
    old = json.loads(json.dumps(reference))
    old["format"] = 1
    for entry in old["features"].values():
        for key in ("fine_edges", "fine_counts"):
            entry.pop(key, None)
    current = customers(5_000, seed=8, charge_scale=1.3)
    report = drift_of_frame(old, current)
    assert "charges" in report.drifted
    assert report.features["charges"].ks is not None
    assert report.features["charges"].ks > 0.1


# --- the JSON and bad windows -----------------------------------------------------------


def test_the_json_has_exactly_the_documented_shape(reference: dict[str, Any]) -> None:
    score = np.linspace(0, 1, 1_000)
    stats = reference_of(customers(1_000, seed=2), score=score)
    data = drift_of_frame(stats, customers(500, seed=3), prediction=score[:500]).to_json()
    assert set(data) == {"rows", "features", "prediction", "max_psi", "drifted", "approximation"}
    assert data["approximation"] == APPROXIMATION
    assert set(data["features"]) == {"charges", "tenure", "plan"}
    for feature in [*data["features"].values(), data["prediction"]]:
        assert set(feature) == FEATURE_KEYS
    assert data["features"]["plan"]["ks"] is None
    assert data["features"]["charges"]["js"] is None
    json.dumps(data, allow_nan=False)


def test_an_empty_window_says_so_without_dividing_by_zero(reference: dict[str, Any]) -> None:
    report = drift_of_frame(reference, customers(0, seed=0))
    assert report.rows == 0
    assert report.drifted == ()
    assert report.max_psi == 0.0
    for feature in report.features.values():
        assert feature.reasons == ("no rows in the window",)
        assert feature.missing_rate == 0.0
    empty = drift_report(reference, DriftCounts())
    assert empty.to_json()["features"]["charges"]["absent"] is False
    json.dumps(empty.to_json(), allow_nan=False)


def test_text_in_a_numeric_column_is_missing_and_reported(reference: dict[str, Any]) -> None:
    frame = customers(1_000, seed=4)
    frame["charges"] = frame["charges"].astype(object)
    frame.loc[:299, "charges"] = "n/a"
    charges = drift_of_frame(reference, frame).features["charges"]
    assert charges.missing_rate == 0.3
    assert charges.drifted
    assert "300 values are not numbers (counted as missing)" in charges.reasons
    assert any(r.startswith("missing rate 0.3 > training's 0 + 0.1") for r in charges.reasons)


def test_absent_all_missing_and_huge_columns(reference: dict[str, Any]) -> None:
    frame = customers(1_000, seed=6).drop(columns=["plan"])
    frame["tenure"] = np.nan
    frame.loc[:9, "charges"] = 1e308
    frame.loc[10:19, "charges"] = -1e308
    frame.loc[20, "charges"] = np.inf
    thresholds = DriftThresholds.from_mapping({"psi": 0.2, "wasserstein": 0.1})
    report = drift_of_frame(reference, frame, thresholds, chunk_rows=333)
    plan = report.features["plan"]
    assert plan.absent
    assert plan.missing_rate == 1.0
    assert "the column is absent from 1000 of 1000 rows" in plan.reasons
    tenure = report.features["tenure"]
    assert "every value is missing" in tenure.reasons
    assert tenure.psi == 0.0
    assert tenure.drifted
    charges = report.features["charges"]
    assert charges.wasserstein is not None
    assert math.isfinite(charges.wasserstein)
    assert charges.wasserstein > 1e300
    json.dumps(report.to_json(), allow_nan=False)
    assert set(report.drifted) == {"charges", "tenure", "plan"}


def test_unseen_levels_drift_beyond_trainings_share(reference: dict[str, Any]) -> None:
    frame = customers(1_000, seed=7)
    frame.loc[:99, "plan"] = "weekly"
    plan = drift_of_frame(reference, frame, DriftThresholds(psi=None)).features["plan"]
    assert plan.unseen_share == pytest.approx(0.1)
    assert plan.reasons == ("unseen share 0.1 > training's 0 + 0.05",)


def test_bad_references_counts_and_arguments_are_refused(reference: dict[str, Any]) -> None:
    with pytest.raises(DriftError, match=r"The 'format' of the reference statistics must be one"):
        drift_report({**reference, "format": 9}, DriftCounts())
    other = reference_of(customers(500, seed=1).assign(charges=1.0))
    counts = count_columns(DriftPlan.from_reference(other), {"charges": np.ones(3)})
    with pytest.raises(DriftError, match=r"The 'bins' of the drift counts of 'charges' must"):
        drift_report(reference, counts)
    with pytest.raises(DriftError, match=r"The 'chunk_rows' of drift_of_frame must be"):
        drift_of_frame(reference, customers(10, seed=0), chunk_rows=0)
    with pytest.raises(DriftError, match=r"The 'prediction' of drift_of_frame must hold one"):
        drift_of_frame(reference, customers(10, seed=0), prediction=np.zeros(3))


# --- thresholds -------------------------------------------------------------------------


def test_thresholds_come_from_the_charters_monitor_drift() -> None:
    default = DriftThresholds()
    assert (default.psi, default.js, default.wasserstein) == (0.2, None, None)
    given_ = DriftThresholds.from_mapping({"js": 0.1, "ks_pvalue": 0.01, "unseen_share": 0.2})
    assert given_.psi is None
    assert given_.js == 0.1
    assert given_.ks_pvalue == 0.01
    assert given_.unseen_share == 0.2
    assert given_.missing_change == default.missing_change


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"psy": 0.2}, r"The keys of the charter's monitor.drift must be among .*Got 'psy'"),
        ({"psi": -1}, r"The 'psi' of the charter's monitor.drift must be a positive finite"),
        ({"psi": math.inf}, r"The 'psi' .* must be a positive finite number. Got inf instead"),
        ({"wasserstein": True}, r"The 'wasserstein' .* Got True instead"),
        ({"js": 1.5}, r"The 'js' of the charter's monitor.drift must be a number in \(0, 1\]"),
        ({"ks_pvalue": "0.05"}, r"The 'ks_pvalue' .* Got '0.05' instead"),
        ({"missing_change": math.nan}, r"The 'missing_change'"),
    ],
)
def test_bad_thresholds_are_refused(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(DriftError, match=message):
        DriftThresholds.from_mapping(mapping)


def test_the_public_api_is_sorted_and_importable() -> None:
    names = charter.monitoring.__all__
    for name in (
        "DriftReport",
        "DriftThresholds",
        "drift_report",
        "drift_of_frame",
        "count_columns",
    ):
        assert name in names
    assert isinstance(drift_report(reference_of(customers(10, seed=0)), DriftCounts()), DriftReport)
