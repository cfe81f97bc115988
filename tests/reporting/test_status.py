"""Status derivations on real ledgers built per case: risks, milestones, budget, scope, KPIs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.ledger import Ledger, StageExecution, open_ledger
from charter.reporting import (
    LedgerSnapshot,
    ProjectStatus,
    derive_status,
    read_snapshot,
    rows_to_csv,
    scope_diff,
    table_rows,
)
from charter.reporting._status import duration_text, milestone_state, stage_first_met
from charter.spec import Charter, Milestone, load_charter

from .project_ledger import (
    PROJECT,
    UTC,
    fill_story,
    record_run,
    record_window,
    register,
    window_payload,
    write_project,
)

NOW = dt.datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


@dataclasses.dataclass
class Project:
    """A charter on disk and its open ledger."""

    path: Path
    ledger: Ledger

    @property
    def charter(self) -> Charter:
        return load_charter(self.path).charter

    def record_revision(self, text: str | None = None) -> int:
        text = self.path.read_text() if text is None else text
        self.path.write_text(text)
        return self.ledger.record_revision(PROJECT, str(self.path), text).id

    def snapshot(self) -> LedgerSnapshot:
        return read_snapshot(self.ledger, PROJECT)

    def status(self, now: dt.datetime = NOW, charter: Charter | None = None) -> ProjectStatus:
        return derive_status(charter or self.charter, self.snapshot(), now=now)


ProjectFactory = Callable[..., Project]


@pytest.fixture
def make_project(tmp_path: Path) -> Iterator[ProjectFactory]:
    """A fresh charter folder with an empty ledger; `edit` changes the charter text."""
    opened: list[Ledger] = []

    def make(edit: Callable[[str], str] | None = None, name: str = "p") -> Project:
        path = write_project(tmp_path / name, edit=edit)
        ledger = open_ledger(path.parent)
        opened.append(ledger)
        return Project(path, ledger)

    yield make
    for ledger in opened:
        ledger.close()


def _milestones(*items: tuple[str, str, str]) -> Callable[[str], str]:
    block = "milestones:\n" + "".join(
        f"  - {{name: {name}, stage: {stage}, due: {due}}}\n" for name, stage, due in items
    )

    def edit(text: str) -> str:
        start = text.index("milestones:")
        end = text.index("\nbudget:") + 1
        return text[:start] + block + "\n" + text[end:]

    return edit


# --------------------------------------------------------------------------- empty project


def test_a_project_with_no_runs_has_an_honest_empty_status(make_project: ProjectFactory) -> None:
    project = make_project()
    status = project.status()
    assert status.headline.state == "not started"
    assert status.timeline == ()
    assert all(row.validation is None and row.monitoring is None for row in status.kpis)
    assert [r.state for r in status.risks] == ["open", "open"]
    assert status.budget.cpu_hours == 0
    assert status.budget.share == 0
    assert status.time_to_deploy.text == "not deployed yet"
    assert status.scope.count == 0
    assert status.scope.latest is None
    assert status.champion is None
    assert status.challenger is None
    json.dumps(status.as_dict())  # JSON-ready as it is


# --------------------------------------------------------------------------- milestones


@pytest.mark.parametrize(
    ("now", "state", "days_left"),
    [
        (dt.datetime(2027, 1, 15, 23, 59, tzinfo=UTC), "at risk", 0),  # due today: not late yet
        (dt.datetime(2027, 1, 16, 0, 0, tzinfo=UTC), "late", -1),
        (dt.datetime(2027, 1, 8, 9, 0, tzinfo=UTC), "at risk", 7),
        (dt.datetime(2027, 1, 7, 9, 0, tzinfo=UTC), "on track", 8),
    ],
)
def test_a_milestone_not_met_is_on_track_at_risk_or_late(
    make_project: ProjectFactory, now: dt.datetime, state: str, days_left: int
) -> None:
    project = make_project(edit=_milestones(("Registered", "register", "2027-01-15")))
    record_run(project.ledger, values={"auc": 0.9})  # audit, train, validate: no register
    (milestone,) = project.status(now).milestones
    assert (milestone.state, milestone.days_left, milestone.met_at) == (state, days_left, None)


def test_a_milestone_is_met_the_day_its_stage_first_passed(make_project: ProjectFactory) -> None:
    project = make_project(
        edit=_milestones(
            ("Validated", "validate", "2027-01-15"),
            ("Checked", "check", "2027-01-15"),
            ("Validated late", "validate", "2020-01-01"),
        )
    )
    project.record_revision()
    record_run(project.ledger, stages=[("audit", True), ("validate", False)], values={"auc": 0.5})
    second = record_run(project.ledger, values={"auc": 0.9})
    passed = next(s for s in project.ledger.stage_executions(second) if s.stage == "validate")
    record_run(project.ledger, values={"auc": 0.91})
    met, checked, late = project.status(dt.datetime(2030, 1, 1, tzinfo=UTC)).milestones
    assert met.state == "met"
    assert met.on_time is True
    assert passed.finished_at is not None
    assert met.met_at == passed.finished_at.astimezone(UTC).isoformat(timespec="seconds")
    assert checked.state == "met"
    assert late.state == "met"
    assert late.on_time is False


def test_deploy_monitor_and_retrain_milestones_read_their_own_records(
    make_project: ProjectFactory,
) -> None:
    project = make_project(
        edit=_milestones(
            ("Deployed", "deploy", "2027-01-15"),
            ("Monitored", "monitor", "2027-01-15"),
            ("Retrained", "retrain", "2027-01-15"),
        )
    )
    run = record_run(project.ledger, values={"auc": 0.9})
    version = register(project.ledger, run, {"auc": 0.9}, alias="champion")
    assert [m.state for m in project.status().milestones] == ["at risk"] * 3
    project.ledger.record_deployment(PROJECT, version, "127.0.0.1", 8000)
    record_window(project.ledger, version, "w1", window_payload(psi={"x": 0.3}, kpis={}), "fail")
    assert [m.state for m in project.status().milestones] == ["met", "at risk", "at risk"]
    record_window(project.ledger, version, "w2", window_payload(psi={"x": 0.1}, kpis={}), "pass")
    project.ledger.record_event(PROJECT, "retrain.refused", "no", {})
    assert [m.state for m in project.status().milestones] == ["met", "met", "at risk"]
    project.ledger.record_event(PROJECT, "retrain.promoted", "yes", {})
    assert [m.state for m in project.status().milestones] == ["met", "met", "met"]
    assert stage_first_met(project.snapshot(), "audit") is not None


# --------------------------------------------------------------------------- risks


def test_risks_read_open_then_mitigated_then_triggered(make_project: ProjectFactory) -> None:
    project = make_project()
    assert {r.id: r.state for r in project.status().risks} == {"R1": "open", "R2": "open"}
    record_run(project.ledger, values={"senior-recall": 0.7, "auc": 0.9})
    r1, r2 = project.status().risks
    assert (r1.state, r1.value, r1.owner, r1.mitigation) == ("mitigated", 0.7, "ds-team", "reweigh")
    assert r2.state == "open"
    assert r2.note == "Not measured yet."
    record_run(project.ledger, values={"senior-recall": 0.4})
    assert project.status().risks[0].state == "triggered"


def test_a_risk_reads_the_newest_of_validation_and_monitoring(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    run = record_run(project.ledger, values={"drift": 0.05})
    version = register(project.ledger, run, {}, alias="champion")
    assert project.status().risks[1].state == "mitigated"
    payload = window_payload(
        psi={"MonthlyCharges": 0.4}, kpis={"drift": (0.4, 0.2, "at_most", False)}
    )
    record_window(project.ledger, version, "w1", payload, "fail")
    r2 = project.status().risks[1]
    assert (r2.state, r2.value) == ("triggered", 0.4)
    assert r2.source == "window w1 (v1)"


def test_an_open_incident_triggers_its_risk_and_resolving_it_does_not_hide_the_value(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    run = record_run(project.ledger, values={"drift": 0.05})
    register(project.ledger, run, {}, alias="champion")
    incident = project.ledger.open_or_update_incident(PROJECT, "drift", 0.5, 0.2)
    status = project.status()
    assert status.risks[1].state == "triggered"
    assert status.headline.state == "off track"
    assert "1 open incident" in status.headline.reasons
    project.ledger.resolve_incident(incident.id)
    assert project.status().risks[1].state == "mitigated"


def test_a_risk_whose_kpi_was_removed_from_the_charter_stays_open_with_a_note(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    record_run(project.ledger, values={"senior-recall": 0.2})
    charter = project.charter
    # The cross-check would refuse such a charter on load; the status must not crash on it.
    trimmed = charter.model_copy(
        update={"kpis": tuple(k for k in charter.kpis if k.name != "senior-recall")}
    )
    r1 = project.status(charter=trimmed).risks[0]
    assert r1.state == "open"
    assert r1.note == "Its check KPI 'senior-recall' is no longer in the charter."
    no_check = trimmed.model_copy(
        update={"risks": (trimmed.risks[0].model_copy(update={"check": None}),)}
    )
    assert project.status(charter=no_check).risks[0].note == "It names no check KPI."


# --------------------------------------------------------------------------- KPIs


def test_the_kpi_table_shows_validation_and_monitoring_values_with_trends(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    record_run(project.ledger, values={"auc": 0.84, "parity": 0.05})
    run = record_run(project.ledger, values={"auc": 0.86, "parity": 0.05})
    version = register(project.ledger, run, {}, alias="champion")
    for key, latency in (("w1", 30.0), ("w2", 12.0)):
        payload = window_payload(
            psi={"x": 0.1}, kpis={"p99": (latency, 25.0, "at_most", latency <= 25)}
        )
        record_window(project.ledger, version, key, payload)
    # A window that could not be evaluated records no KPI values: it changes nothing.
    record_window(project.ledger, version, "w3", {"status": "too_few_predictions", "drift": None})
    rows = {row.name: row for row in project.status().kpis}
    auc = rows["auc"].validation
    assert auc is not None
    assert (auc.value, auc.previous, auc.trend, auc.passed) == (0.86, 0.84, "up", True)
    assert rows["parity"].validation is not None
    assert rows["parity"].validation.trend == "flat"
    p99 = rows["p99"].monitoring
    assert p99 is not None
    assert (p99.value, p99.previous, p99.trend, p99.passed) == (12.0, 30.0, "down", True)
    assert rows["p99"].target == "≤ 25"
    assert rows["auc"].target == "≥ 0.82"
    assert rows["drift"].monitoring is None
    assert rows["value"].validation is None


def test_a_newer_challengers_validation_does_not_stand_in_for_the_champions(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    champion_run = record_run(project.ledger, values={"auc": 0.84})
    register(project.ledger, champion_run, {}, alias="champion")
    challenger_run = record_run(project.ledger, values={"auc": 0.80})
    register(project.ledger, challenger_run, {}, alias="challenger")
    auc = {row.name: row for row in project.status().kpis}["auc"].validation
    assert auc is not None
    assert auc.value == 0.84
    assert auc.source == f"run {champion_run[:8]}"


def test_unmeasurable_values_read_as_not_measured(make_project: ProjectFactory) -> None:
    project = make_project()
    record_run(project.ledger, values={"auc": None, "parity": float("nan")})
    rows = {row.name: row for row in project.status().kpis}
    for name in ("auc", "parity"):
        measure = rows[name].validation
        assert measure is not None
        assert measure.value is None
        assert measure.passed is None


# --------------------------------------------------------------------------- budget


def _stage(stage: str, cpu: float | None, index: int) -> StageExecution:
    start = dt.datetime(2027, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=index)
    return StageExecution(index, "r1", stage, "passed", start, start, cpu, cpu, None)


def test_the_budget_sums_cpu_seconds_across_stages_and_prices_them(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    snapshot = LedgerSnapshot(
        PROJECT,
        stages={
            "r1": (_stage("train", 1800.0, 1), _stage("validate", 900.0, 2)),
            "r2": (_stage("train", 1800.0, 3), _stage("audit", None, 4)),
        },
    )
    budget = derive_status(project.charter, snapshot, now=NOW).budget
    assert budget.cpu_hours == pytest.approx(1.25)
    assert budget.by_stage == {"train": pytest.approx(1.0), "validate": pytest.approx(0.25)}
    assert budget.share == pytest.approx(0.125)
    assert budget.cost == pytest.approx(1.25 * 0.05)
    assert budget.budget_cost == pytest.approx(0.5)
    assert (budget.currency, budget.over) == ("USD", False)


def test_a_budget_spent_past_its_limit_puts_the_project_off_track(
    make_project: ProjectFactory,
) -> None:
    project = make_project(
        edit=lambda t: t.replace(
            "budget: {cpu_hours: 10, cost_per_cpu_hour: 0.05, currency: USD}",
            "budget: {cpu_hours: 1, cost_per_cpu_hour: 2, currency: EUR}",
        )
    )
    project.record_revision()
    for hours, state in ((0.5, "on track"), (0.85, "needs attention"), (40.0, "off track")):
        snapshot = dataclasses.replace(
            project.snapshot(), stages={"r1": (_stage("train", hours * 3600, 1),)}
        )
        early = dt.datetime(2026, 12, 1, tzinfo=UTC)  # every milestone far ahead
        status = derive_status(project.charter, snapshot, now=early)
        assert status.headline.state == state, status.headline
    assert status.budget.over
    assert status.budget.cost == pytest.approx(80.0)
    assert "CPU budget exceeded" in status.headline.reasons


def test_the_budget_of_a_real_ledger_matches_its_stage_records(
    make_project: ProjectFactory,
) -> None:
    project = make_project(edit=lambda t: t.replace("\nbudget:", "\n# budget:"))
    run = record_run(project.ledger)
    cpu = sum(s.cpu_seconds or 0 for s in project.ledger.stage_executions(run))
    budget = project.status().budget
    assert budget.cpu_hours == pytest.approx(cpu / 3600)
    assert (budget.budget_cpu_hours, budget.share, budget.cost, budget.over) == (
        None,
        None,
        None,
        False,
    )


# --------------------------------------------------------------------------- time to deploy


def test_time_to_deploy_runs_from_the_first_revision_to_the_first_deployment(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    project.record_revision()
    first = project.ledger.revisions(PROJECT)[0].created_at
    run = record_run(project.ledger)
    version = register(project.ledger, run, {}, alias="champion")
    later = first + dt.timedelta(days=2, hours=3)
    project.ledger.record_deployment(PROJECT, version, "h", 1, started_at=later)
    project.ledger.record_deployment(PROJECT, version, "h", 2, started_at=later + dt.timedelta(1))
    ttd = project.status().time_to_deploy
    assert ttd.seconds == pytest.approx((later - first).total_seconds())
    assert ttd.text == "2 d 3 h"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0 s"),
        (59, "59 s"),
        (600, "10 min"),
        (3600, "1 h"),
        (3660, "1 h 1 min"),
        (86400, "1 d"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


# --------------------------------------------------------------------------- scope


def test_scope_changes_count_revisions_after_the_first_validated_run(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    text = project.path.read_text()
    early = text.replace("at_least: 0.82, gate: deploy", "at_least: 0.8, gate: deploy")
    project.record_revision(early)  # before any validated run: not a scope change
    project.record_revision(text)
    record_run(project.ledger, stages=[("validate", False)], values={"auc": 0.5})
    assert project.status().scope.count == 0  # no validated run yet
    first_validated = record_run(project.ledger, values={"auc": 0.9})
    project.record_revision(text + "\n# a comment only\n")  # formatting: not scope
    project.record_revision(
        text.replace("at_least: 0.82, gate: deploy", "at_least: 0.85, gate: deploy")
    )
    latest = project.record_revision(
        project.path.read_text().replace("{task: binary_classification", "{task: regression")
    )
    # The last text is no longer a valid charter (roc_auc on a regression): judge with the
    # example's; scope changes come from the stored revision texts alone.
    example = load_charter(write_project(project.path.parent.parent / "example")).charter
    scope = derive_status(example, project.snapshot(), now=NOW).scope
    assert scope.since_run == first_validated
    assert scope.count == 2
    assert scope.latest is not None
    assert scope.latest.revision == latest
    assert scope.latest.changes[0].startswith("objective:")
    assert scope.changes[0].changes == ("threshold of 'auc': at least 0.82 → at least 0.85",)


def test_scope_diff_names_added_removed_and_changed_kpis() -> None:
    before = "kpis:\n  - {name: a, metric: roc_auc, at_least: 0.8}\n  - {name: b, metric: f1}\n"
    after = "kpis:\n  - {name: a, metric: pr_auc, at_most: 0.9}\n  - {name: c, at_least: 1}\n"
    assert scope_diff(before, after) == (
        "KPI 'c' added (at least 1)",
        "KPI 'b' removed",
        "threshold of 'a': at least 0.8 → at most 0.9",
        "KPI 'a' changed its metric",
    )
    assert scope_diff(before, before) == ()
    assert scope_diff(before, "kpis: [unclosed") == ("unreadable charter text",)
    assert scope_diff(before, "- a list, not a mapping") == ("unreadable charter text",)


# --------------------------------------------------------------------------- flat tables


def test_the_flat_tables_hold_every_measurement_window_incident_and_run(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    ids = fill_story(project.path)
    charter, snapshot = project.charter, project.snapshot()
    kpis = table_rows("kpis", charter, snapshot)
    assert [r["source"] for r in kpis].count("validation") == 8  # 2 runs x 4 KPIs
    assert [r["source"] for r in kpis].count("monitoring") == 6  # 3 windows x 2 KPIs
    auc = [r for r in kpis if r["kpi"] == "auc"]
    assert [(r["value"], r["threshold"], r["passed"]) for r in auc] == [
        (0.84, 0.85, False),  # judged against today's threshold, raised to 0.85
        (0.86, 0.85, True),
    ]
    windows = table_rows("windows", charter, snapshot)
    assert [w["window_key"] for w in windows] == ["w1", "w2", "w3"]
    assert windows[-1]["kpi_drift"] == 0.31
    assert windows[-1]["kpi_drift_passed"] is False
    assert windows[-1]["drifted_features"] == "MonthlyCharges"
    assert windows[0]["realised_roc_auc"] == 0.79
    (incident,) = table_rows("incidents", charter, snapshot)
    assert (incident["incident_id"], incident["status"], incident["version"]) == (
        ids["incident"],
        "open",
        1,
    )
    runs = table_rows("runs", charter, snapshot)
    assert {r["run_id"] for r in runs} == set(ids["runs"])
    assert all(r["stages"] == "audit:passed;train:passed;validate:passed" for r in runs)
    with pytest.raises(ValueError, match="The 'what' of an export must be one of kpis"):
        table_rows("secrets", charter, snapshot)


def test_csv_cells_cannot_run_as_spreadsheet_formulas() -> None:
    rows = [{"kpi": "=HYPERLINK(1)", "note": "+1", "value": -0.5, "empty": None}]
    assert rows_to_csv(rows) == "kpi,note,value,empty\n'=HYPERLINK(1),'+1,-0.5,\n"
    assert rows_to_csv([], ("a", "b")) == "a,b\n"


def test_a_snapshot_holds_only_its_own_project(make_project: ProjectFactory) -> None:
    project = make_project()
    record_run(project.ledger)
    project.ledger.record_revision("another", "x.yaml", "project: {name: another}\n")
    other = project.ledger.start_run("another", "run")
    project.ledger.finish_run(other.id, "succeeded")
    snapshot = project.snapshot()
    assert len(snapshot.runs) == 1
    assert snapshot.revisions == ()
    assert read_snapshot(project.ledger, "another").runs[0].id == other.id


# --------------------------------------------------------------------------- malformed records

JUNK_PAYLOADS = [
    {},
    {"status": "too_few_predictions", "drift": None, "kpis": None, "performance": None},
    {"kpis": {"p99": 3}, "drift": "high", "operational": [1, 2]},
    {"kpis": [{"name": "p99", "value": "fast"}, {"value": 1.0}, "junk", {"name": 7}]},
    {"kpis": [{"name": "p99", "value": 1e308, "passed": "yes"}], "drift": {"features": []}},
    {
        "drift": {"features": {"x": {"psi": float("inf")}, "y": "n/a", "z": {"psi": -1e200}}},
        "performance": {"estimated": "none", "realised": {"roc_auc": "high"}},
    },
]


@pytest.mark.parametrize("payload", JUNK_PAYLOADS)
def test_malformed_records_never_break_the_status_or_a_page(
    make_project: ProjectFactory, payload: dict[str, object]
) -> None:
    from charter.reporting import dashboard_context, render_dashboard_page

    project = make_project()
    run = project.ledger.start_run(PROJECT, "run")
    with project.ledger.stage(run.id, "validate") as handle:
        handle.add_evidence("gates", {"values": ["not", "a", "mapping"], "estimates": "x"})
        handle.add_evidence("validation", {"importance": {"permutation": "none"}})
    project.ledger.finish_run(run.id, "succeeded")
    version = register(project.ledger, run.id, {"auc": "high"}, alias="champion")
    register(project.ledger, None, {}, alias="candidate")
    record_window(project.ledger, version, "w1", payload, "weird verdict")
    project.ledger.open_or_update_incident(PROJECT, "p99", None, None)
    project.ledger.record_event(PROJECT, "retrain.promoted", "odd", {"reasons": None})
    status = project.status()
    json.dumps(status.as_dict())
    charter, snapshot = project.charter, project.snapshot()
    extras: dict[str, dict[str, Any]] = {
        "run": {"run_id": run.id, "evidence": project.ledger.evidence(PROJECT, run_id=run.id)},
        "compare": {"a": 1, "b": 2, "validations": {}},
        "error": {"message": "m", "status": 404},
    }
    for page in ("overview", "runs", "models", "monitoring", "incidents", "risks", "milestones"):
        extras.setdefault(page, {})
    extras["charter"] = {}
    for page, extra in extras.items():
        html = render_dashboard_page(
            page, dashboard_context(page, charter, snapshot, now=NOW, **extra)
        )
        assert "</html>" in html, page
    for what in ("kpis", "windows", "incidents", "runs"):
        rows_to_csv(table_rows(what, charter, snapshot))


@given(
    due=st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)),
    today=st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)),
)
def test_an_unmet_milestone_state_follows_the_days_left(due: dt.date, today: dt.date) -> None:
    milestone = Milestone(name="M", stage="validate", due=due)
    state = milestone_state(milestone, LedgerSnapshot(PROJECT), today=today)
    days = (due - today).days
    assert state.days_left == days
    assert state.met_at is None
    expected = "late" if days < 0 else ("at risk" if days <= 7 else "on track")
    assert state.state == expected
