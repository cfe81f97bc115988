"""Gates: each KPI passes or fails with its value, threshold and margin."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.gates import judge, judge_kpi, threshold_text
from charter.spec import KPI


def kpi(**fields: object) -> KPI:
    base: dict[str, object] = {"name": "auc", "metric": "roc_auc", "gate": "deploy"}
    return KPI.model_validate({**base, **fields})


def test_a_value_above_at_least_passes_with_its_margin() -> None:
    verdict = judge_kpi(kpi(at_least=0.8), 0.85)
    assert verdict.passed is True
    assert verdict.margin == pytest.approx(0.05)
    assert verdict.threshold == "≥ 0.8"
    assert "meets ≥ 0.8" in verdict.reason


def test_a_value_above_at_most_fails_saying_by_how_much() -> None:
    verdict = judge_kpi(
        kpi(name="parity", metric="demographic_parity_difference", by="gender", at_most=0.1), 0.14
    )
    assert verdict.passed is False
    assert verdict.margin == pytest.approx(-0.04)
    assert verdict.reason == "parity 0.14 misses ≤ 0.1 by 0.04."


def test_a_band_needs_both_sides() -> None:
    band = kpi(at_least=0.5, at_most=0.9)
    assert threshold_text(band) == "between 0.5 and 0.9"
    assert judge_kpi(band, 0.95).passed is False
    assert judge_kpi(band, 0.45).passed is False
    assert judge_kpi(band, 0.7).passed is True


def test_the_threshold_itself_passes() -> None:
    assert judge_kpi(kpi(at_least=0.8), 0.8).passed is True


@pytest.mark.parametrize("value", [None, math.nan])
def test_an_unmeasured_kpi_shuts_the_gate(value: float | None) -> None:
    report = judge(
        [kpi(at_least=0.8)],
        {"auc": value},
        "deploy",
        notes={"auc": "the model scores no probabilities"},
    )
    (verdict,) = report.verdicts
    assert verdict.passed is None
    assert "not measured: the model scores no probabilities" in verdict.reason
    assert report.passed is False
    assert report.failures == (verdict,)


def test_a_gate_judges_only_its_own_kpis() -> None:
    kpis = [kpi(at_least=0.8), kpi(name="drift", metric="max_psi", at_most=0.2, gate="monitor")]
    report = judge(kpis, {"auc": 0.9, "drift": 0.5}, "deploy")
    assert [v.kpi for v in report.verdicts] == ["auc"]
    assert report.passed
    assert report.summary() == "The deploy gate passes: all 1 KPIs meet their targets."
    assert judge(kpis, {}, "validate").summary() == "The validate gate has no KPIs: it passes."


def test_the_report_serialises() -> None:
    report = judge([kpi(at_least=0.8)], {"auc": 0.7}, "deploy", estimates={"auc"})
    data = report.to_dict()
    assert data["passed"] is False
    assert data["verdicts"][0]["estimate"] is True
    assert "(estimate)" in data["verdicts"][0]["reason"]
    assert data["summary"].startswith("The deploy gate fails: auc 0.7 (estimate) misses")


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_pass_means_non_negative_margin(threshold: float, value: float) -> None:
    verdict = judge_kpi(
        kpi(metric="expected_value", name="v", costs={"tp": 1}, at_least=threshold), value
    )
    assert verdict.passed == (value >= threshold)
    assert verdict.margin is not None
    assert (verdict.margin >= 0) == verdict.passed
