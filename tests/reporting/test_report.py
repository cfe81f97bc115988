"""The HTML run report: structure, verdicts, offline, escaping, missing stages, determinism."""

from __future__ import annotations

import copy
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import charter.reporting
from charter.errors import CharterError
from charter.reporting import RunReport, render_run_report, write_run_report

from . import evidence
from .conftest import RUNS, ReportFactory, check_html, remote_references, svgs

MAX_BYTES = 1_500_000


def render(report: RunReport) -> str:
    html = render_run_report(report)
    check_html(html)
    return html


def kpi_results(html: str) -> dict[str, str]:
    """KPI name -> the result words in the summary's verdict table."""
    table = re.search(r'<table class="kpis">(.*?)</table>', html, flags=re.S)
    assert table is not None, "the summary has no KPI table"
    rows = re.findall(
        r'<th scope="row">(.*?)</th>.*?<span class="badge \w+">(.*?)</span>', table.group(1)
    )
    return dict(rows)


def chart_titles(html: str) -> list[str]:
    return [m.group(1) for m in (re.search(r"<title>(.*?)</title>", s) for s in svgs(html)) if m]


# --------------------------------------------------------------------------- every kind of run


@pytest.mark.parametrize("kind", sorted(RUNS))
def test_every_run_renders_a_well_formed_offline_page(
    make_report: ReportFactory, kind: str
) -> None:
    html = render(make_report(kind))
    assert remote_references(html) == []
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert len(html.encode()) < MAX_BYTES
    assert '<meta name="viewport"' in html
    assert "@media print" in html
    assert "@media (max-width" in html


@pytest.mark.parametrize("kind", sorted(RUNS))
def test_sections_come_in_order_with_the_summary_first(
    make_report: ReportFactory, kind: str
) -> None:
    html = render(make_report(kind))
    order = ["summary", "context", "audit", "training", "validation", "fairness", "lineage"]
    positions = [html.index(f'<section id="{name}">') for name in order]
    assert positions == sorted(positions)
    assert html.index("KPIs against their targets") < html.index('<section id="context">')


def test_a_successful_run_reads_ready_to_deploy(make_report: ReportFactory) -> None:
    html = render(make_report("full"))
    assert "Ready to deploy: every deploy gate passes." in html
    assert kpi_results(html) == {
        "auc": "✓ PASS",
        "value": "✓ PASS",
        "parity": "✓ PASS",
        "senior-parity": "✓ PASS",
        "monthly-recall": "✓ PASS",
        "p99": "— NOT MEASURED",
    }
    assert "logistic_regression" in html
    assert "highest CV auc (0.846) among finalists that pass every offline gate" in html
    assert "version <strong>4</strong>" in html
    finalists = html[html.index("<h3>Finalists</h3>") : html.index("<h3>Best trials")]
    assert re.search(r"logistic_regression.*?<td class=\"num\">0.846</td>", finalists, flags=re.S)
    assert "Primary KPI</dt><dd>auc</dd>" in html
    assert '<td class="num">3,488</td>' in html


def test_a_failed_gate_reads_not_deployable_with_the_reason(make_report: ReportFactory) -> None:
    html = render(make_report("failed_at_validation"))
    assert "Not deployable: parity 0.14 exceeds at_most 0.10." in html
    results = kpi_results(html)
    assert results["parity"] == "✗ FAIL"
    assert results["auc"] == "✓ PASS"
    assert 'class="verdict blocked"' in html
    # The chart marks the group under the parity limit in words, not only in colour.
    assert "0.31 ✗ FAIL" in html
    assert "Not registered: this run recorded no model version." in html


def test_the_verdict_names_a_kpi_below_its_minimum(make_report: ReportFactory) -> None:
    verdicts = evidence.verdicts()
    verdicts[0].update(value=0.8195, passed=False, margin=-0.0005)
    html = render(make_report("full", verdicts=verdicts))
    assert "Not deployable: auc 0.8195 is below at_least 0.8200." in html


def test_an_unmeasured_gate_kpi_blocks_deployment(make_report: ReportFactory) -> None:
    verdicts = evidence.verdicts()
    verdicts[1].update(value=None, margin=None, passed=None, reason="value not measured.")
    verdicts[0].update(estimate=True)
    html = render(make_report("full", verdicts=verdicts))
    assert "Not deployable: value was not measured, and a gate needs every KPI." in html
    assert kpi_results(html)["value"] == "— NOT MEASURED"
    assert '<span class="muted" title="an offline estimate">~</span>0.8457' in html


def test_gates_and_stages_show_words_and_icons(make_report: ReportFactory) -> None:
    html = render(make_report("failed_at_validation"))
    gates = re.search(r"<h3>Gates</h3>(.*?)</table>", html, flags=re.S)
    assert gates is not None
    assert re.findall(
        r'<th scope="row">(\w+)</th><td><span class="badge \w+">(.*?)</span>', gates.group(1)
    ) == [
        ("validate", "✓ PASS"),
        ("deploy", "✗ FAIL"),
    ]
    assert "✗ FAILED" in html


def test_the_report_carries_the_project_context(make_report: ReportFactory) -> None:
    html = render(make_report("full"))
    context = html[html.index('<section id="context">') : html.index('<section id="audit">')]
    assert "binary_classification" in context
    assert "Retention" in context
    assert "≥ 0.82" in context
    assert "costs tp: 300, fp: -50" in context
    assert "where Contract: Month-to-month" in context
    # R1 is checked by a KPI this run measured (and passed); R2's check was not measured.
    assert re.search(r"R1</th>.*?✓ MITIGATED.*?senior-parity = 0.212", context, flags=re.S)
    assert re.search(r"R2</th>.*?• OPEN.*?not measured by this run", context, flags=re.S)
    assert re.search(r"MVP validated</th>.*?✓ MET", context, flags=re.S)
    assert re.search(r"First deployment</th>.*?! AT RISK", context, flags=re.S)


def test_audit_findings_are_grouped_by_severity_with_examples(make_report: ReportFactory) -> None:
    html = render(make_report("no_training"))
    audit = html[html.index('<section id="audit">') : html.index('<section id="training">')]
    severities = re.findall(r'<h4><span class="badge \w+">(.*?)</span>', audit)
    assert severities == ["✗ BLOCKING", "! WARNING", "i INFO"]
    assert "TWF predicts the target almost perfectly" in audit
    assert "<code>17: -4.5</code>" in audit
    assert "By SeniorCitizen" in audit
    assert "41.7 %" in audit


def test_the_pictures_are_there_with_titles(make_report: ReportFactory) -> None:
    html = render(make_report("full"))
    titles = chart_titles(html)
    for expected in (
        "Search history: auc by trial",
        "ROC curve",
        "Precision-recall curve",
        "Confusion matrix at threshold 0.31",
        "Calibration (reliability curve)",
        "Permutation importance",
        "Selection rate by gender",
        "Selection rate by SeniorCitizen",
    ):
        assert expected in titles
    for svg in svgs(html):
        assert 'role="img"' in svg
        assert "aria-label=" in svg


def test_a_regression_run_shows_predictions_and_residuals(make_report: ReportFactory) -> None:
    html = render(make_report("regression"))
    titles = chart_titles(html)
    assert "Predicted against actual" in titles
    assert "Residuals (actual minus predicted)" in titles
    assert "Search history: rmse by trial" in titles
    assert "Mean absolute contribution (SHAP-style)" in titles
    assert "ROC curve" not in titles
    assert "Confusion" not in html
    assert "CV rmse (lower is better)" in html
    assert "Reason recorded: Accepted by the board on 2026-05-14" in html
    assert "champion" in html


def test_a_multiclass_run_shows_every_class(make_report: ReportFactory) -> None:
    html = render(make_report("multiclass"))
    matrix = next(s for s in svgs(html) if "<title>Confusion matrix</title>" in s)
    for label in ("setosa", "versicolor", "virginica", "unknown &lt;hybrid&gt;"):
        assert label in matrix
    roc = next(s for s in svgs(html) if "<title>ROC curve</title>" in s)
    assert roc.count('class="series"') == 4
    assert "Calibration" not in html


# --------------------------------------------------------------------------- missing evidence


def test_stages_that_did_not_run_say_so(make_report: ReportFactory) -> None:
    html = render(make_report("no_training"))
    assert "The train stage did not run in this run." in html
    assert "The validate stage did not run in this run." in html
    assert "Not deployable: the run stopped at the audit stage: A blocking finding" in html
    assert "no KPI" not in html


def test_a_failed_stage_without_evidence_gives_its_reason(make_report: ReportFactory) -> None:
    parts = evidence.failed_at_validation()
    parts["validate"] = None
    report = RunReport.from_evidence(**parts)
    html = render(report)
    assert "The validate stage failed: parity 0.14 exceeds at_most 0.10. Its evidence" in html


def test_an_empty_report_renders_and_says_not_recorded() -> None:
    html = render(RunReport())
    assert "Unnamed project" in html
    assert "did not run" in html
    assert "not recorded" in html
    assert "Not deployable: validation did not run, so no KPI was measured." in html


def test_missing_keys_inside_a_stage_read_not_recorded(make_report: ReportFactory) -> None:
    html = render(
        make_report(
            "full",
            audit={"rows": 10},
            train={"trials": [{"number": 0}], "finalists": [{}]},
            validate={"task": "binary_classification"},
        )
    )
    assert "Search history" in html
    assert "ROC curve: not recorded." in html
    assert "Confusion matrix: not recorded." in html
    assert "Calibration: not recorded." in html
    assert "Permutation importance: not recorded." in html
    assert "Fairness per group: not recorded" in html


junk = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_PART_KEYS = {
    "audit": ["rows", "fingerprint", "violations", "findings", "groups", "split"],
    "train": ["primary", "trials", "finalists", "budget_used", "threshold", "lineage"],
    "validate": [
        "task",
        "metrics",
        "kpis",
        "curves",
        "confusion",
        "calibration",
        "fairness",
        "slices",
        "importance",
        "regression",
        "verdicts",
        "gates",
    ],
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_malformed_evidence_never_crashes_the_report(data: st.DataObject) -> None:
    parts: dict[str, Any] = copy.deepcopy(evidence.full_run())
    for part, keys in _PART_KEYS.items():
        for key in data.draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
            parts[part][key] = data.draw(junk)
    parts["run"]["stages"] = data.draw(st.one_of(junk, st.just(parts["run"]["stages"])))
    parts["register"] = data.draw(st.one_of(junk, st.just(parts["register"])))
    html = render_run_report(RunReport.from_evidence(**parts))
    check_html(html)


# --------------------------------------------------------------------------- escaping


def test_user_text_is_escaped_everywhere() -> None:
    parts = evidence.with_hostile_text(evidence.full_run())
    html = render(RunReport.from_evidence(**parts))
    assert "<script" not in html.lower()
    assert "<b>keep</b>" not in html
    assert "&lt;script&gt;" in html
    assert "Spot &#34;churners&#34; &amp; &lt;b&gt;keep&lt;/b&gt; them" in html
    assert remote_references(html) == []


# --------------------------------------------------------------------------- size, determinism


def test_a_large_run_stays_small() -> None:
    parts = evidence.regression_run()
    points = parts["validate"]["regression"]["points"]
    parts["validate"]["regression"]["points"] = points * 20
    parts["train"] = evidence.training(trials=3000)
    many = evidence.full_run()
    many["validate"]["curves"] = {
        "roc": {
            "fpr": [i / 99_999 for i in range(100_000)],
            "tpr": [i / 99_999 for i in range(100_000)],
        },
        "pr": {"recall": [i / 99_999 for i in range(100_000)], "precision": [0.5] * 100_000},
    }
    many["train"] = evidence.training(trials=3000)
    many["validate"]["importance"]["permutation"] = [
        {"feature": f"feature_{i}", "mean": 1 / (i + 1), "std": 0.01} for i in range(500)
    ]
    for run in (parts, many):
        html = render(RunReport.from_evidence(**run))
        assert len(html.encode()) < MAX_BYTES


def test_the_same_run_renders_the_same_bytes(make_report: ReportFactory) -> None:
    assert render_run_report(make_report("full")) == render_run_report(make_report("full"))


def test_from_evidence_does_not_depend_on_todays_date(monkeypatch: pytest.MonkeyPatch) -> None:
    first = RunReport.from_evidence(**evidence.full_run())
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    second = RunReport.from_evidence(**evidence.full_run())
    assert first == second


# --------------------------------------------------------------------------- from_evidence


def test_from_evidence_rejects_an_unknown_part() -> None:
    with pytest.raises(TypeError, match=r"unknown part 'trainig'"):
        RunReport.from_evidence(trainig={})


def test_from_evidence_takes_field_names_and_stage_names_alike() -> None:
    parts = evidence.full_run()
    by_stage = RunReport.from_evidence(**parts)
    by_field = RunReport.from_evidence(
        charter=parts["charter"],
        run=parts["run"],
        audit=parts["audit"],
        training=parts["train"],
        validation=parts["validate"],
        model_version=parts["register"],
    )
    assert by_stage == by_field
    assert by_stage.verdicts == tuple(parts["validate"]["verdicts"])
    assert by_stage.gates == {"validate": True, "deploy": True}
    assert by_stage.lineage == parts["train"]["lineage"]
    assert by_stage.project["name"] == "telco-churn"
    assert [t["name"] for t in by_stage.kpi_targets][:2] == ["auc", "value"]


def test_explicit_parts_win_over_the_charter() -> None:
    report = RunReport.from_evidence(charter=evidence.charter(), project={"name": "other"})
    assert report.project == {"name": "other"}


@pytest.mark.parametrize(
    ("passed", "state"), [(True, "mitigated"), (False, "triggered"), (None, "open")]
)
def test_a_risk_reads_its_state_from_its_check(passed: bool | None, state: str) -> None:
    report = RunReport.from_evidence(
        risks=[{"id": "R1", "risk": "r", "check": "auc"}],
        verdicts=[{"kpi": "auc", "value": 0.9, "passed": passed}],
    )
    assert report.risks[0]["state"] == state


def test_a_recorded_state_is_kept() -> None:
    report = RunReport.from_evidence(
        risks=[{"id": "R1", "check": "auc", "state": "triggered"}],
        milestones=[{"name": "m", "stage": "audit", "due": "2020-01-01", "state": "met"}],
        verdicts=[{"kpi": "auc", "passed": True}],
    )
    assert report.risks[0]["state"] == "triggered"
    assert report.milestones[0]["state"] == "met"


@pytest.mark.parametrize(
    ("stage", "due", "state"),
    [
        ("validate", "2030-01-01", "met"),
        ("deploy", "2026-05-13", "late"),
        ("deploy", "2026-05-14", "at risk"),
        ("deploy", "2026-05-21", "at risk"),
        ("deploy", "2026-05-22", "on track"),
    ],
)
def test_a_milestone_is_judged_on_the_run_date(stage: str, due: str, state: str) -> None:
    run = evidence.run_record(
        [{"stage": "validate", "status": "passed"}], "succeeded"
    )  # finished 2026-05-14
    report = RunReport.from_evidence(
        run=run, gates={"validate": True}, milestones=[{"name": "m", "stage": stage, "due": due}]
    )
    assert report.milestones[0]["state"] == state
    if state == "met":
        assert report.milestones[0]["met_at"] == "2026-05-14"


def test_a_validate_stage_that_failed_its_gate_does_not_meet_a_milestone() -> None:
    run = evidence.run_record([{"stage": "validate", "status": "passed"}], "succeeded")
    report = RunReport.from_evidence(
        run=run,
        gates={"validate": False},
        milestones=[{"name": "m", "stage": "validate", "due": "2030-01-01"}],
    )
    assert report.milestones[0]["state"] == "on track"


# --------------------------------------------------------------------------- writing


def test_write_run_report_writes_atomically(tmp_path: Path, make_report: ReportFactory) -> None:
    target = tmp_path / "reports" / "run-12.html"
    written = write_run_report(make_report("full"), target)
    assert written == target
    first = target.read_text(encoding="utf-8")
    check_html(first)
    write_run_report(make_report("failed_at_validation"), target)
    assert "Not deployable" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["run-12.html"]


def test_a_failed_write_leaves_the_previous_report(
    tmp_path: Path, make_report: ReportFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "run.html"
    target.write_text("previous", encoding="utf-8")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(CharterError, match=r"must be writable\. Got No space left on device"):
        write_run_report(make_report("full"), target)
    assert target.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]


def test_a_report_path_under_a_file_is_a_clear_error(
    tmp_path: Path, make_report: ReportFactory
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(CharterError, match=r"must be in a writable folder"):
        write_run_report(make_report("full"), blocker / "run.html")


# --------------------------------------------------------------------------- packaging and API


def test_templates_and_styles_are_package_data() -> None:
    root = resources.files("charter.reporting")
    assert root.joinpath("templates", "run_report.html.j2").is_file()
    assert root.joinpath("static", "report.css").is_file()


def test_the_public_api() -> None:
    assert charter.reporting.__all__ == [
        "DASHBOARD_STATIC",
        "EMPTY_COLUMNS",
        "NOT_RECORDED",
        "TABLES",
        "LedgerSnapshot",
        "ProjectStatus",
        "RunReport",
        "charts",
        "dashboard_context",
        "derive_status",
        "extra_tables",
        "monitoring_series",
        "read_snapshot",
        "render_dashboard_page",
        "render_problem_page",
        "render_run_report",
        "rows_to_csv",
        "scope_diff",
        "table_rows",
        "write_run_report",
    ]
    assert set(charter.reporting.charts.__all__) == {
        "FAIL_COLOR",
        "NEUTRAL_COLOR",
        "PALETTE",
        "PASS_COLOR",
        "Bar",
        "Reference",
        "Series",
        "bar_chart",
        "binned_histogram",
        "downsample",
        "finite",
        "format_number",
        "heatmap",
        "histogram",
        "line_chart",
        "nice_ticks",
        "no_data",
        "standalone",
        "tick_labels",
    }
