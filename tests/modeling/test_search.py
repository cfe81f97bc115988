"""train_model: the budget, determinism, constraint-aware selection, thresholds and lineage."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.modeling import ProgressEvent, TrainingError, train_model
from tests.modeling.conftest import generated, make_charter

CUSTOM = "tests.modeling.custom_candidates"


def test_a_trials_budget_is_exact_and_every_candidate_starts_at_its_defaults() -> None:
    events: list[ProgressEvent] = []
    charter = make_charter(
        model={
            "candidates": ["lightgbm", "logistic_regression"],
            "budget": {"trials": 5, "seconds": None},
        }
    )
    result = train_model(generated(n=300), charter, progress=events.append)
    trials = result.trials
    assert len(trials) == 5
    assert result.budget_used.trials == 5
    assert result.budget_used.stopped_by == "trials"
    assert [t.candidate for t in trials[:2]] == ["lightgbm", "logistic_regression"]
    assert [t.default for t in trials] == [True, True, False, False, False]
    assert trials[0].params["n_estimators"] == 100
    assert trials[1].params == {"C": 1.0, "class_weight": "none"}
    assert [t.number for t in trials] == [1, 2, 3, 4, 5]
    for trial in trials:
        assert trial.state == "complete"
        assert trial.score is not None
        assert len(trial.fold_scores) == 3
    trial_events = [e for e in events if e.step == "trial"]
    assert [e.trial for e in trial_events] == [1, 2, 3, 4, 5]
    assert trial_events[-1].fraction == 1.0
    assert trial_events[0].budget_trials == 5
    assert "auc" in trial_events[0].message
    assert str(trial_events[0]) == trial_events[0].message
    assert [e.step for e in events[-3:]] == ["finalists", "refit", "done"]


def test_a_seconds_budget_stops_the_search_near_the_budget() -> None:
    charter = make_charter(
        model={
            "candidates": ["logistic_regression", "lightgbm"],
            "budget": {"seconds": 3.0, "trials": None},
        }
    )
    result = train_model(generated(n=600), charter)
    used = result.budget_used
    assert used.stopped_by == "seconds"
    assert used.budget_seconds == 3.0
    assert used.trials >= 2
    assert used.search_seconds <= used.seconds
    assert used.seconds <= 3.0 * 1.5 + 1.0  # generous: one fold or a refit may overrun


def _fake_clock(step: float = 1.0) -> Any:
    counter = itertools.count()
    return lambda: next(counter) * step


def test_a_budget_too_small_for_any_candidate_says_what_it_needs() -> None:
    charter = make_charter(
        model={"candidates": ["logistic_regression"], "budget": {"seconds": 0.5}}
    )
    with pytest.raises(
        TrainingError,
        match=r"^No candidate finished within the budget of 0\.5 s; the fastest "
        r"\(logistic_regression, 3-fold cross-validation\) needs about 3 s\. "
        r"Raise model\.budget\.seconds\.$",
    ):
        train_model(generated(n=200), charter, now=_fake_clock())


@pytest.mark.parametrize("candidate", ["logistic_regression", "lightgbm"])
def test_a_tiny_real_budget_fails_cleanly(candidate: str) -> None:
    charter = make_charter(model={"candidates": [candidate], "budget": {"seconds": 0.001}})
    with pytest.raises(
        TrainingError,
        match=rf"No candidate finished within the budget of 0\.001 s; the fastest "
        rf"\({candidate}, 3-fold cross-validation\) needs (about|more than) .* s\. Raise",
    ):
        train_model(generated(n=300), charter)


def test_every_trial_failing_is_reported_with_the_first_error() -> None:
    charter = make_charter(model={"candidates": [f"{CUSTOM}:make_fails_to_fit"]})
    with pytest.raises(
        TrainingError,
        match=r"all 1 trials failed; the first, .*make_fails_to_fit, with ValueError: this "
        r"estimator never fits",
    ):
        train_model(generated(n=100), charter)


def test_a_failed_candidate_does_not_stop_the_others() -> None:
    charter = make_charter(
        model={
            "candidates": [f"{CUSTOM}:make_fails_to_fit", "logistic_regression"],
            "budget": {"trials": 2},
        }
    )
    result = train_model(generated(n=150), charter)
    assert [t.state for t in result.trials] == ["failed", "complete"]
    assert result.trials[0].error == "ValueError: this estimator never fits"
    assert result.model.candidate == "logistic_regression"


def test_the_same_charter_data_and_seed_give_the_same_model() -> None:
    charter = make_charter(
        model={
            "candidates": ["logistic_regression", "lightgbm", "random_forest"],
            "budget": {"trials": 6, "seconds": None},
        }
    )
    frame = generated(n=300, seed=1)
    first = train_model(frame, charter)
    second = train_model(frame.copy(), charter)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert first.model.candidate == second.model.candidate
    probe = generated(n=100, seed=2)
    np.testing.assert_array_equal(first.model.score(probe), second.model.score(probe))


def _biased(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """A target that depends strongly on `group` and less on `x`; x is independent of group."""
    rng = np.random.default_rng(seed)
    group = rng.choice(np.array(["a", "b"], dtype=object), size=n)
    x = rng.normal(size=n)
    logit = 2.0 * x + np.where(group == "a", 0.8, -0.8)
    label = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=float),
            "x": x,
            "group": pd.Series(group, dtype=object),
            "label": pd.Series(np.where(label, "yes", "no"), dtype=object),
        }
    )


def _fair_charter(at_most: float) -> Any:
    return make_charter(
        kpis=[
            {"name": "auc", "metric": "roc_auc", "at_least": 0.5},
            {
                "name": "parity",
                "metric": "demographic_parity_difference",
                "by": "group",
                "at_most": at_most,
                "gate": "deploy",
            },
            {"name": "p99", "metric": "latency_p99_ms", "at_most": 1000, "gate": "monitor"},
        ],
        model={
            "candidates": ["logistic_regression", f"{CUSTOM}:make_group_blind"],
            "budget": {"trials": 2},
            "threshold": 0.5,
        },
        data={"protected": ["group"]},
    )


def test_selection_takes_the_best_finalist_that_passes_every_gate_kpi() -> None:
    result = train_model(_biased(), _fair_charter(at_most=0.15))
    by_name = {f.candidate: f for f in result.finalists}
    sighted = by_name["logistic_regression"]
    blind = by_name[f"{CUSTOM}:make_group_blind"]
    assert sighted.primary_value is not None
    assert blind.primary_value is not None
    # The better AUC (0.872 against 0.842) fails parity (0.26 against 0.05).
    assert sighted.primary_value > blind.primary_value > sighted.primary_value - 0.05
    assert sighted.passes == {"parity": False}
    assert blind.passes == {"parity": True}
    assert result.model.candidate == f"{CUSTOM}:make_group_blind"
    assert blind.chosen
    assert not sighted.chosen
    assert sighted.reasons[0] == f"auc {sighted.primary_value:.4g} (best)"
    assert any(
        r.startswith("parity ") and r.endswith(" > 0.15 at_most: fails") for r in sighted.reasons
    )
    assert sighted.reasons[-1] == "lost: fails parity"
    assert "below the best" in blind.reasons[0]
    assert any(r.endswith("<= 0.15 at_most: passes") for r in blind.reasons)
    assert blind.reasons[-1] == (
        "chosen: the best auc among the finalists that pass every gate KPI"
    )
    # The monitor-gated latency KPI is recorded but does not constrain the choice.
    assert blind.kpis["p99"].estimate is True
    assert "p99" not in blind.passes
    assert blind.latency_p99_ms is not None


def test_when_no_finalist_passes_the_best_primary_is_taken_and_said() -> None:
    result = train_model(_biased(), _fair_charter(at_most=0.0001))
    chosen = result.chosen
    assert chosen.candidate == "logistic_regression"
    assert not chosen.passed
    assert chosen.reasons[-1] == (
        "chosen: no finalist passes every gate KPI, so the best auc was taken; it fails parity"
    )


def test_an_auto_threshold_maximises_expected_value() -> None:
    charter = make_charter(
        kpis=[
            {"name": "auc", "metric": "roc_auc"},
            {"name": "value", "metric": "expected_value", "costs": {"tp": 100, "fp": -1}},
        ]
    )
    result = train_model(generated(n=300), charter)
    # A cheap false positive and a valuable true positive push the threshold down.
    assert result.model.threshold is not None
    assert result.model.threshold < 0.5
    assert result.lineage["threshold"] == result.model.threshold
    assert "maximises value" in result.lineage["threshold_source"]
    plain = train_model(generated(n=300), make_charter())
    assert plain.model.threshold == 0.5
    fixed = train_model(generated(n=300), make_charter(model={"threshold": 0.3}))
    assert fixed.model.threshold == 0.3
    assert fixed.lineage["threshold_source"] == "model.threshold"


def test_the_primary_kpi_is_chosen_as_the_charter_says() -> None:
    kpis = [
        {"name": "parity", "metric": "demographic_parity_difference", "by": "sex"},
        {"name": "ll", "metric": "log_loss"},
        {"name": "auc", "metric": "roc_auc"},
    ]
    first = train_model(generated(n=200), make_charter(kpis=kpis))
    assert first.primary.to_dict() == {
        "kpi": "ll",
        "metric": "log_loss",
        "direction": "lower",
        "source": "first model KPI",
    }
    named = train_model(generated(n=200), make_charter(kpis=kpis, model={"primary": "auc"}))
    assert named.primary.name == "auc"
    assert named.primary.source == "model.primary"
    default = train_model(generated(n=200), make_charter(kpis=kpis[:1]))
    assert default.primary.to_dict()["source"] == "task default"
    assert default.primary.metric == "roc_auc"
    with pytest.raises(TrainingError, match=r"'model\.primary' .* must name a KPI \(parity, ll"):
        train_model(generated(n=200), make_charter(kpis=kpis, model={"primary": "nope"}))


def test_a_time_split_orders_the_rows_and_keeps_the_timestamp_out() -> None:
    frame = generated(n=300)
    frame["when"] = pd.date_range("2024-01-01", periods=300, freq="h")[::-1]
    charter = make_charter(data={"timestamp": "when", "split": {"method": "time"}})
    result = train_model(frame, charter)
    assert result.lineage["cv"] == {"method": "time_series", "folds": 3}
    assert "when" not in result.model.features


@pytest.mark.parametrize(
    ("frame", "charter", "message"),
    [
        (
            generated(n=100).drop(columns=["label"]),
            make_charter(),
            r"must have the target column 'label'",
        ),
        (generated(n=4), make_charter(), r"at least 6 rows for 3-fold cross-validation"),
        (
            generated(n=100).assign(label=["yes"] + ["no"] * 99),
            make_charter(),
            r"at least 2 rows of each class .* Got 1 of 'yes' instead",
        ),
        (
            generated(n=100),
            make_charter(data={"timestamp": "when", "split": {"method": "time"}}),
            r"must have the timestamp column",
        ),
    ],
)
def test_unusable_training_data_is_refused(frame: pd.DataFrame, charter: Any, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        train_model(frame, charter)


def test_small_classes_lower_the_folds_with_a_note() -> None:
    frame = generated(n=100).assign(label=["yes"] * 2 + ["no"] * 98)
    result = train_model(frame, make_charter())
    assert result.lineage["cv"]["folds"] == 2
    assert result.notes == ("model.cv_folds lowered from 3 to 2: the smallest class has 2 rows.",)
