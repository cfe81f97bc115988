"""Where a project stands, derived from the ledger's records and the charter: pure functions.

`read_snapshot(ledger, project)` reads everything once into a frozen `LedgerSnapshot`;
`derive_status(charter, snapshot, now=...)` turns it into a `ProjectStatus` (stage
timeline, KPI table, models, incidents, risks, milestones, budget, time to deploy, scope
changes and a one-line headline). Nothing here reads a clock or a file: `now` is passed in,
so the same snapshot always gives the same status.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from charter.ledger import (
    Alias,
    Deployment,
    Event,
    Evidence,
    Incident,
    ModelVersion,
    MonitoringWindow,
    Revision,
    Run,
    StageExecution,
)
from charter.spec.schema import KPI, Charter, Milestone, Risk

if TYPE_CHECKING:
    from charter.ledger import Ledger

#: A milestone not met and due within this many days is "at risk".
AT_RISK_DAYS = 7
#: Spending this share of the CPU budget makes the project "need attention".
BUDGET_WARNING_SHARE = 0.8
#: Retrain decisions kept on the status.
RETRAIN_EVENTS = ("retrain.promoted", "retrain.refused")
_EVENT_LIMIT = 500


# --------------------------------------------------------------------------- the snapshot


@dataclass(frozen=True)
class LedgerSnapshot:
    """Everything the status needs from the ledger for one project, read at one moment.

    `runs` and `gate_evidence` are newest first; `stages` maps a run id to its stages in
    the order they started; every other sequence is oldest first except `events` (newest
    first, at most 500).
    """

    project: str
    revisions: tuple[Revision, ...] = ()
    runs: tuple[Run, ...] = ()
    stages: Mapping[str, tuple[StageExecution, ...]] = field(default_factory=dict)
    gate_evidence: tuple[Evidence, ...] = ()
    model_versions: tuple[ModelVersion, ...] = ()
    aliases: tuple[Alias, ...] = ()
    deployments: tuple[Deployment, ...] = ()
    windows: tuple[MonitoringWindow, ...] = ()
    incidents: tuple[Incident, ...] = ()
    events: tuple[Event, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the ledger holds nothing for the project."""
        return not self.revisions and not self.runs and not self.model_versions

    def all_stages(self) -> list[StageExecution]:
        """Every stage execution of every run, in the order they started."""
        found = [stage for stages in self.stages.values() for stage in stages]
        return sorted(found, key=lambda s: (s.started_at, s.id))


def read_snapshot(ledger: Ledger, project: str) -> LedgerSnapshot:
    """Read what the status needs about `project` from `ledger` (several short reads)."""
    runs = tuple(ledger.runs(project, limit=None))
    return LedgerSnapshot(
        project=project,
        revisions=tuple(ledger.revisions(project)),
        runs=runs,
        stages={run.id: tuple(ledger.stage_executions(run.id)) for run in runs},
        gate_evidence=tuple(ledger.evidence(project, kind="gates", stage="validate")),
        model_versions=tuple(ledger.model_versions(project)),
        aliases=tuple(ledger.aliases(project)),
        deployments=tuple(ledger.deployments(project)),
        windows=tuple(ledger.windows(project)),
        incidents=tuple(ledger.incidents(project)),
        events=tuple(ledger.events(project, limit=_EVENT_LIMIT)),
    )


# --------------------------------------------------------------------------- the status


@dataclass(frozen=True)
class Measure:
    """One KPI measurement: its value, verdict, the previous value and the trend since."""

    value: float | None
    passed: bool | None
    when: str
    source: str
    previous: float | None = None
    trend: str | None = None  # "up", "down", "flat" or None without a previous value
    estimated: bool = False


@dataclass(frozen=True)
class KpiRow:
    """A KPI of the charter with its latest value from validation and from monitoring."""

    name: str
    metric: str
    gate: str
    direction: str | None
    threshold: float | None
    target: str
    validation: Measure | None
    monitoring: Measure | None

    @property
    def latest(self) -> Measure | None:
        """The measurement the KPI is judged by now.

        A monitor-gate KPI is judged live: its monitoring value wins whenever there is one
        (validation only estimates it). Otherwise the newer of the two; monitoring wins a tie.
        """
        if self.gate == "monitor" and self.monitoring is not None:
            return self.monitoring
        found = [
            (m.when, rank, m)
            for rank, m in enumerate((self.validation, self.monitoring))
            if m is not None
        ]
        return max(found, key=lambda item: item[:2])[2] if found else None


@dataclass(frozen=True)
class StageState:
    """The last execution of one stage."""

    stage: str
    status: str
    when: str
    run_id: str
    wall_seconds: float | None
    cpu_seconds: float | None


@dataclass(frozen=True)
class RiskState:
    """A risk of the charter with its state read from its check KPI."""

    id: str
    risk: str
    likelihood: str
    impact: str
    check: str | None
    mitigation: str | None
    owner: str | None
    state: str  # "open", "mitigated" or "triggered"
    value: float | None = None
    source: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class MilestoneState:
    """A milestone of the charter: met (and when), on track, at risk or late."""

    name: str
    stage: str
    due: str
    state: str  # "met", "on track", "at risk" or "late"
    met_at: str | None
    days_left: int
    on_time: bool | None = None


@dataclass(frozen=True)
class BudgetState:
    """The CPU time the ledger recorded across stages, against the charter's budget."""

    cpu_hours: float
    by_stage: dict[str, float]
    budget_cpu_hours: float | None
    share: float | None
    cost: float | None
    budget_cost: float | None
    currency: str | None

    @property
    def over(self) -> bool:
        """True when more CPU-hours were spent than the budget allows."""
        return self.share is not None and self.share > 1


@dataclass(frozen=True)
class TimeToDeploy:
    """From the first charter revision to the first deployment."""

    first_revision_at: str | None
    first_deployment_at: str | None
    seconds: float | None
    text: str


@dataclass(frozen=True)
class ScopeChange:
    """One charter revision that changed the objective, KPIs or thresholds."""

    revision: int
    at: str
    changes: tuple[str, ...]


@dataclass(frozen=True)
class ScopeState:
    """Scope changes since the first validated run."""

    since_run: str | None
    since: str | None
    count: int
    changes: tuple[ScopeChange, ...]

    @property
    def latest(self) -> ScopeChange | None:
        """The newest scope change, None when there is none."""
        return self.changes[-1] if self.changes else None


@dataclass(frozen=True)
class Headline:
    """The answer to "is the project on track?", with the reasons behind it."""

    state: str  # "not started", "on track", "needs attention" or "off track"
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ProjectStatus:
    """Where a project stands: everything `charter status` and the dashboard show."""

    project: str
    problem: str
    objective: str
    generated_at: str
    headline: Headline
    timeline: tuple[StageState, ...]
    kpis: tuple[KpiRow, ...]
    champion: int | None
    challenger: int | None
    aliases: dict[str, int]
    model_versions: int
    incidents: tuple[dict[str, Any], ...]
    risks: tuple[RiskState, ...]
    milestones: tuple[MilestoneState, ...]
    budget: BudgetState
    time_to_deploy: TimeToDeploy
    scope: ScopeState
    retrain: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (timestamps as ISO text)."""
        data = asdict(self)
        data["budget"]["over"] = self.budget.over
        data["scope"]["latest"] = None if self.scope.latest is None else asdict(self.scope.latest)
        return data


def derive_status(charter: Charter, snapshot: LedgerSnapshot, *, now: dt.datetime) -> ProjectStatus:
    """The status of the charter's project from `snapshot`, judged at the moment `now`."""
    kpis = kpi_rows(charter, snapshot)
    open_incidents = tuple(incident_record(i) for i in snapshot.incidents if i.status == "open")
    risks = risk_states(charter.risks, kpis, snapshot.incidents)
    milestones = milestone_states(charter.milestones, snapshot, today=_utc(now).date())
    budget = budget_state(charter, snapshot)
    aliases = {alias.alias: alias.version for alias in snapshot.aliases}
    champion = aliases.get("champion")
    challenger = aliases.get("challenger", aliases.get("candidate"))
    objective = charter.objective
    return ProjectStatus(
        project=charter.project.name,
        problem=charter.project.problem,
        objective=f"{objective.task.replace('_', ' ')} of '{objective.target}'"
        + ("" if objective.positive is None else f" (positive: {objective.positive})"),
        generated_at=_iso(now),
        headline=headline(snapshot, kpis, risks, milestones, budget, open_incidents),
        timeline=stage_timeline(snapshot),
        kpis=kpis,
        champion=champion,
        challenger=None if challenger == champion else challenger,
        aliases=aliases,
        model_versions=len(snapshot.model_versions),
        incidents=open_incidents,
        risks=risks,
        milestones=milestones,
        budget=budget,
        time_to_deploy=time_to_deploy(snapshot),
        scope=scope_changes(snapshot),
        retrain=retrain_decisions(snapshot.events),
    )


# --------------------------------------------------------------------------- pieces


def stage_timeline(snapshot: LedgerSnapshot) -> tuple[StageState, ...]:
    """The last execution of each stage, in the order those executions started."""
    latest: dict[str, StageExecution] = {}
    for stage in snapshot.all_stages():
        latest[stage.stage] = stage
    ordered = sorted(latest.values(), key=lambda s: (s.started_at, s.id))
    return tuple(
        StageState(
            stage=s.stage,
            status=s.status,
            when=_iso(s.started_at),
            run_id=s.run_id,
            wall_seconds=s.wall_seconds,
            cpu_seconds=s.cpu_seconds,
        )
        for s in ordered
    )


def threshold_of(kpi: KPI) -> tuple[str | None, float | None]:
    """The KPI's direction ("at_least" or "at_most") and threshold, (None, None) if unset."""
    if kpi.at_least is not None:
        return "at_least", kpi.at_least
    if kpi.at_most is not None:
        return "at_most", kpi.at_most
    return None, None


def target_text(direction: str | None, threshold: float | None) -> str:
    """A threshold as people read it: "≥ 0.82", "≤ 25", or "no target"."""
    if direction is None or threshold is None:
        return "no target"
    return f"{'≥' if direction == 'at_least' else '≤'} {threshold:g}"


def passes(value: float | None, direction: str | None, threshold: float | None) -> bool | None:
    """Whether `value` meets the threshold; None when either is missing."""
    if value is None or direction is None or threshold is None:
        return None
    return value >= threshold if direction == "at_least" else value <= threshold


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _trend(value: float | None, previous: float | None) -> str | None:
    if value is None or previous is None:
        return None
    if math.isclose(value, previous, rel_tol=1e-9, abs_tol=1e-12):
        return "flat"
    return "up" if value > previous else "down"


def validation_values(evidence: Evidence) -> tuple[dict[str, float | None], set[str]]:
    """The KPI values a validate stage's "gates" evidence recorded, and which were estimates."""
    values = evidence.payload.get("values")
    estimates = evidence.payload.get("estimates")
    found = {str(k): _number(v) for k, v in values.items()} if isinstance(values, Mapping) else {}
    return found, {str(e) for e in estimates} if isinstance(estimates, list) else set()


def window_kpis(window: MonitoringWindow) -> dict[str, Mapping[str, Any]]:
    """The window's KPI records by name (an empty dict for a window without them)."""
    kpis = window.payload.get("kpis")
    if not isinstance(kpis, list):
        return {}
    return {str(k["name"]): k for k in kpis if isinstance(k, Mapping) and "name" in k}


def _champion_run(snapshot: LedgerSnapshot) -> str | None:
    """The run that registered the champion version, when there is one."""
    champion = next((a.version for a in snapshot.aliases if a.alias == "champion"), None)
    version = next((v for v in snapshot.model_versions if v.version == champion), None)
    return None if version is None else version.run_id


def _validation_measure(kpi: KPI, snapshot: LedgerSnapshot) -> Measure | None:
    direction, threshold = threshold_of(kpi)
    measured: list[tuple[Evidence, float | None, bool]] = []
    evidence_list = list(snapshot.gate_evidence)  # newest first
    champion_run = _champion_run(snapshot)
    if champion_run is not None:
        # The champion's own validation is what is served; a newer challenger's (refused by a
        # retrain, say) must not stand in for it.
        index = next((i for i, e in enumerate(evidence_list) if e.run_id == champion_run), None)
        if index is not None:
            evidence_list = evidence_list[index:]
    for evidence in evidence_list:
        values, estimates = validation_values(evidence)
        if kpi.name in values:
            measured.append((evidence, values[kpi.name], kpi.name in estimates))
        if len(measured) == 2:
            break
    if not measured:
        return None
    evidence, value, estimated = measured[0]
    previous = measured[1][1] if len(measured) > 1 else None
    return Measure(
        value=value,
        passed=passes(value, direction, threshold),
        when=_iso(evidence.created_at),
        source=f"run {evidence.run_id[:8]}",
        previous=previous,
        trend=_trend(value, previous),
        estimated=estimated,
    )


def _monitoring_measure(kpi: KPI, snapshot: LedgerSnapshot) -> Measure | None:
    direction, threshold = threshold_of(kpi)
    measured: list[tuple[MonitoringWindow, Mapping[str, Any]]] = []
    for window in reversed(snapshot.windows):
        record = window_kpis(window).get(kpi.name)
        if record is not None and _number(record.get("value")) is not None:
            measured.append((window, record))
        if len(measured) == 2:
            break
    if not measured:
        return None
    window, record = measured[0]
    value = _number(record.get("value"))
    previous = _number(measured[1][1].get("value")) if len(measured) > 1 else None
    recorded = record.get("passed")
    return Measure(
        value=value,
        passed=recorded if isinstance(recorded, bool) else passes(value, direction, threshold),
        when=_iso(window.end),
        source=f"window {window.window_key} (v{window.version})",
        previous=previous,
        trend=_trend(value, previous),
        estimated=bool(record.get("estimated")),
    )


def kpi_rows(charter: Charter, snapshot: LedgerSnapshot) -> tuple[KpiRow, ...]:
    """Each KPI's latest value against its target, from validation and from monitoring."""
    rows = []
    for kpi in charter.kpis:
        direction, threshold = threshold_of(kpi)
        rows.append(
            KpiRow(
                name=kpi.name,
                metric=kpi.metric,
                gate=kpi.gate,
                direction=direction,
                threshold=threshold,
                target=target_text(direction, threshold),
                validation=_validation_measure(kpi, snapshot),
                monitoring=_monitoring_measure(kpi, snapshot),
            )
        )
    return tuple(rows)


def risk_states(
    risks: Sequence[Risk], kpis: Sequence[KpiRow], incidents: Sequence[Incident] = ()
) -> tuple[RiskState, ...]:
    """Each risk read from its check KPI: open (not measured), mitigated or triggered.

    An open incident on the check KPI triggers the risk whatever the last value said; a
    check that names no KPI of the charter (it was removed) leaves the risk open, with a note.
    """
    by_name = {row.name: row for row in kpis}
    breached = {i.kpi for i in incidents if i.status == "open"}
    states = []
    for risk in risks:
        if risk.check is None:
            states.append(_risk(risk, "open", note="It names no check KPI."))
            continue
        row = by_name.get(risk.check)
        if row is None:
            removed = f"Its check KPI '{risk.check}' is no longer in the charter."
            states.append(_risk(risk, "open", note=removed))
            continue
        latest = row.latest
        if latest is None:
            state = "triggered" if risk.check in breached else "open"
            states.append(_risk(risk, state, note="Not measured yet."))
            continue
        if risk.check in breached:
            note: str | None = f"An incident on '{risk.check}' is open."
            state = "triggered"
        else:
            note = None
            state = {None: "open", True: "mitigated", False: "triggered"}[latest.passed]
        states.append(_risk(risk, state, latest.value, latest.source, note))
    return tuple(states)


def _risk(
    risk: Risk,
    state: str,
    value: float | None = None,
    source: str | None = None,
    note: str | None = None,
) -> RiskState:
    return RiskState(
        id=risk.id,
        risk=risk.risk,
        likelihood=risk.likelihood,
        impact=risk.impact,
        check=risk.check,
        mitigation=risk.mitigation,
        owner=risk.owner,
        state=state,
        value=value,
        source=source,
        note=note,
    )


def _stage_passes(snapshot: LedgerSnapshot, stage: str) -> list[dt.datetime]:
    return [
        (s.finished_at or s.started_at)
        for s in snapshot.all_stages()
        if s.stage == stage and s.status == "passed"
    ]


def stage_first_met(snapshot: LedgerSnapshot, stage: str) -> dt.datetime | None:
    """When `stage` first passed its gates, per the ledger; None when it never did.

    A stage the run executes is met by its first passed execution; "check" by the first
    charter revision; "deploy" by the first deployment; "monitor" by the first window that
    passed; "retrain" by the first promoted challenger.
    """
    moments = _stage_passes(snapshot, stage)
    if stage == "check":
        moments += [r.created_at for r in snapshot.revisions[:1]]
    elif stage == "deploy":
        moments += [d.started_at for d in snapshot.deployments]
    elif stage == "monitor":
        moments += [w.end for w in snapshot.windows if w.verdict == "pass"]
    elif stage == "retrain":
        moments += [e.time for e in snapshot.events if e.kind == "retrain.promoted"]
    return min((_utc(m) for m in moments), default=None)


def milestone_state(
    milestone: Milestone, snapshot: LedgerSnapshot, *, today: dt.date
) -> MilestoneState:
    """Met (when the stage first passed), late (due passed), at risk (due within 7 days), on track.

    A milestone due today and not met is at risk, not late: the day is not over.
    """
    met = stage_first_met(snapshot, milestone.stage)
    days_left = (milestone.due - today).days
    if met is not None:
        state, on_time = "met", met.date() <= milestone.due
    elif days_left < 0:
        state, on_time = "late", False
    elif days_left <= AT_RISK_DAYS:
        state, on_time = "at risk", None
    else:
        state, on_time = "on track", None
    return MilestoneState(
        name=milestone.name,
        stage=milestone.stage,
        due=milestone.due.isoformat(),
        state=state,
        met_at=None if met is None else _iso(met),
        days_left=days_left,
        on_time=on_time,
    )


def milestone_states(
    milestones: Sequence[Milestone], snapshot: LedgerSnapshot, *, today: dt.date
) -> tuple[MilestoneState, ...]:
    """Every milestone's state, in the charter's order."""
    return tuple(milestone_state(m, snapshot, today=today) for m in milestones)


def budget_state(charter: Charter, snapshot: LedgerSnapshot) -> BudgetState:
    """CPU-hours summed over every stage execution, against the budget, and their cost."""
    by_stage: dict[str, float] = {}
    for stage in snapshot.all_stages():
        if stage.cpu_seconds is not None and stage.cpu_seconds > 0:
            by_stage[stage.stage] = by_stage.get(stage.stage, 0.0) + stage.cpu_seconds / 3600
    used = sum(by_stage.values())
    budget = charter.budget
    if budget is None:
        return BudgetState(used, by_stage, None, None, None, None, None)
    rate = budget.cost_per_cpu_hour
    return BudgetState(
        cpu_hours=used,
        by_stage=by_stage,
        budget_cpu_hours=budget.cpu_hours,
        share=used / budget.cpu_hours,
        cost=used * rate,
        budget_cost=budget.cpu_hours * rate,
        currency=budget.currency,
    )


def duration_text(seconds: float) -> str:
    """A duration as people say it: "45 s", "12 min", "3 h 20 min", "2 d 4 h"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def time_to_deploy(snapshot: LedgerSnapshot) -> TimeToDeploy:
    """From the first charter revision to the first deployment, when both exist."""
    first_revision = snapshot.revisions[0].created_at if snapshot.revisions else None
    first_deployment = min((d.started_at for d in snapshot.deployments), default=None)
    if first_revision is None or first_deployment is None:
        text = "not deployed yet" if first_deployment is None else "no charter revision"
        return TimeToDeploy(
            _iso_or_none(first_revision), _iso_or_none(first_deployment), None, text
        )
    seconds = (_utc(first_deployment) - _utc(first_revision)).total_seconds()
    return TimeToDeploy(
        _iso(first_revision), _iso(first_deployment), seconds, duration_text(seconds)
    )


def _kpis_by_name(parsed: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    kpis = parsed.get("kpis")
    if not isinstance(kpis, list):
        return {}
    return {str(k.get("name")): k for k in kpis if isinstance(k, Mapping)}


def _parse(text: str) -> Mapping[str, Any] | None:
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def _bound(kpi: Mapping[str, Any]) -> str:
    for key, word in (("at_least", "at least"), ("at_most", "at most")):
        if kpi.get(key) is not None:
            return f"{word} {kpi[key]}"
    return "no threshold"


def scope_diff(before: str | None, after: str) -> tuple[str, ...]:
    """What a revision changed in the objective, the KPIs and their thresholds, in words.

    Other sections (data, model, serve...) are not scope. A text that is not a YAML mapping
    gives one "unreadable charter text" change.
    """
    new = _parse(after)
    old: Mapping[str, Any] | None = {} if before is None else _parse(before)
    if new is None or old is None:
        return ("unreadable charter text",)
    changes: list[str] = []
    if old.get("objective") != new.get("objective"):
        changes.append(f"objective: {old.get('objective')} → {new.get('objective')}")
    old_kpis, new_kpis = _kpis_by_name(old), _kpis_by_name(new)
    for name in sorted(new_kpis.keys() - old_kpis.keys()):
        changes.append(f"KPI '{name}' added ({_bound(new_kpis[name])})")
    for name in sorted(old_kpis.keys() - new_kpis.keys()):
        changes.append(f"KPI '{name}' removed")
    for name in sorted(old_kpis.keys() & new_kpis.keys()):
        was, now = old_kpis[name], new_kpis[name]
        if _bound(was) != _bound(now):
            changes.append(f"threshold of '{name}': {_bound(was)} → {_bound(now)}")
        others = sorted(k for k in set(was) | set(now) if k not in ("at_least", "at_most"))
        changed = [k for k in others if was.get(k) != now.get(k)]
        if changed:
            changes.append(f"KPI '{name}' changed its {', '.join(changed)}")
    return tuple(changes)


def first_validated_run(snapshot: LedgerSnapshot) -> tuple[Run, StageExecution] | None:
    """The earliest run whose validate stage passed, with that stage."""
    passed = [s for s in snapshot.all_stages() if s.stage == "validate" and s.status == "passed"]
    runs = {run.id: run for run in snapshot.runs}
    for stage in passed:
        if stage.run_id in runs:
            return runs[stage.run_id], stage
    return None


def scope_changes(snapshot: LedgerSnapshot) -> ScopeState:
    """Revisions that changed objective, KPIs or thresholds since the first validated run."""
    first = first_validated_run(snapshot)
    if first is None:
        return ScopeState(None, None, 0, ())
    run, stage = first
    texts = {r.id: r.text for r in snapshot.revisions}
    changes = []
    for revision in snapshot.revisions:
        after = (
            revision.id > run.revision_id
            if run.revision_id is not None
            else _utc(revision.created_at) > _utc(stage.started_at)
        )
        if not after or revision.parent_id is None:
            continue
        found = scope_diff(texts.get(revision.parent_id), revision.text)
        if found:
            changes.append(ScopeChange(revision.id, _iso(revision.created_at), found))
    return ScopeState(run.id, _iso(stage.started_at), len(changes), tuple(changes))


def incident_record(incident: Incident) -> dict[str, Any]:
    """An incident as plain data."""
    return {
        "id": incident.id,
        "kpi": incident.kpi,
        "status": incident.status,
        "value": incident.value,
        "threshold": incident.threshold,
        "window_id": incident.window_id,
        "first_seen": _iso(incident.first_seen),
        "last_seen": _iso(incident.last_seen),
        "resolved_at": _iso_or_none(incident.resolved_at),
    }


def retrain_decisions(events: Sequence[Event]) -> tuple[dict[str, Any], ...]:
    """Retrain decisions (promoted or refused), newest first."""
    return tuple(
        {
            "kind": e.kind,
            "decision": e.kind.split(".", 1)[1],
            "time": _iso(e.time),
            "message": e.message,
            **{k: e.payload.get(k) for k in ("champion", "challenger", "metric", "champion_score")},
            "challenger_score": e.payload.get("challenger_score"),
            "better_by": e.payload.get("better_by"),
            "reasons": list(e.payload.get("reasons") or []),
        }
        for e in events
        if e.kind in RETRAIN_EVENTS
    )


def headline(
    snapshot: LedgerSnapshot,
    kpis: Sequence[KpiRow],
    risks: Sequence[RiskState],
    milestones: Sequence[MilestoneState],
    budget: BudgetState,
    incidents: Sequence[Mapping[str, Any]],
) -> Headline:
    """Off track (something failed or is late), needs attention (soon will), or on track."""
    if snapshot.is_empty:
        return Headline("not started", ("Nothing is recorded yet: run `charter run`.",))
    bad: list[str] = []
    if incidents:
        bad.append(f"{len(incidents)} open incident{'s' if len(incidents) != 1 else ''}")
    bad += [f"risk {r.id} triggered" for r in risks if r.state == "triggered"]
    bad += [f"milestone '{m.name}' is late" for m in milestones if m.state == "late"]
    failing = [row.name for row in kpis if row.latest is not None and row.latest.passed is False]
    if failing:
        names = ", ".join(f"'{n}'" for n in failing)
        bad.append(f"KPI {names} {'misses its' if len(failing) == 1 else 'miss their'} target")
    if budget.over:
        bad.append("CPU budget exceeded")
    if bad:
        return Headline("off track", tuple(bad))
    watch = [f"milestone '{m.name}' is due soon" for m in milestones if m.state == "at risk"]
    if budget.share is not None and budget.share >= BUDGET_WARNING_SHARE:
        watch.append(f"{budget.share:.0%} of the CPU budget spent")
    if watch:
        return Headline("needs attention", tuple(watch))
    return Headline("on track", ("Every measured KPI meets its target; nothing is late.",))


# --------------------------------------------------------------------------- time helpers


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    return _utc(moment).isoformat(timespec="seconds")


def _iso_or_none(moment: dt.datetime | None) -> str | None:
    return None if moment is None else _iso(moment)
