"""Frozen records the ledger hands out; callers never see live ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

RunStatus = Literal["running", "succeeded", "failed", "interrupted"]
StageStatus = Literal["running", "passed", "failed", "interrupted"]
IncidentStatus = Literal["open", "resolved"]

RUN_STATUSES: tuple[RunStatus, ...] = ("running", "succeeded", "failed", "interrupted")
STAGE_STATUSES: tuple[StageStatus, ...] = ("running", "passed", "failed", "interrupted")
INCIDENT_STATUSES: tuple[IncidentStatus, ...] = ("open", "resolved")


@dataclass(frozen=True)
class Revision:
    """One stored text of a project's charter.yaml.

    `diff` is a unified diff against the previous revision of the same project (against
    an empty file for the first one); `changed_sections` names the top-level sections
    whose content changed, or is `("<unparsed>",)` when either text is not a YAML mapping.
    `is_new` is False when `record_revision` found the same text already recorded last.
    """

    id: int
    project: str
    sha256: str
    text: str
    path: str
    created_at: datetime
    diff: str
    changed_sections: tuple[str, ...]
    parent_id: int | None
    is_new: bool = True


@dataclass(frozen=True)
class Run:
    """One execution of a charter command, from start to a final status."""

    id: str
    project: str
    revision_id: int | None
    command: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    exit_reason: str | None
    pid: int
    hostname: str
    code_version: str | None


@dataclass(frozen=True)
class StageExecution:
    """One stage of a run; `wall_seconds` and `cpu_seconds` are set once it finished."""

    id: int
    run_id: str
    stage: str
    status: StageStatus
    started_at: datetime
    finished_at: datetime | None
    wall_seconds: float | None
    cpu_seconds: float | None
    exit_reason: str | None


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence a finished stage left; `payload` is plain JSON data."""

    id: int
    stage_execution_id: int
    run_id: str
    stage: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Artifact:
    """Bytes kept in the artifact store; `uri` is their content-addressed key in the store."""

    id: int
    project: str
    run_id: str | None
    name: str
    uri: str
    size: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class ModelVersion:
    """A registered model: its number within the project, artifacts, lineage and metrics.

    `aliases` lists the aliases that point at this version when it was read.
    """

    id: int
    project: str
    version: int
    run_id: str | None
    lineage: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    created_at: datetime
    override_reason: str | None
    artifacts: tuple[Artifact, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alias:
    """A name such as 'champion' that points at one model version of a project.

    `previous_version` is the version it pointed at before the call that returned it
    (None when the alias is new, or when read back later).
    """

    project: str
    alias: str
    version: int
    model_version_id: int
    updated_at: datetime
    reason: str | None
    previous_version: int | None = None


@dataclass(frozen=True)
class Deployment:
    """A model version served somewhere; `stopped_at` is None while it runs."""

    id: int
    project: str
    model_version_id: int
    version: int
    started_at: datetime
    stopped_at: datetime | None
    host: str
    port: int | None
    details: dict[str, Any]


@dataclass(frozen=True)
class MonitoringWindow:
    """One evaluated window of live predictions; a window key is evaluated once.

    `created` is False when `record_window` found the window already recorded and
    returned the stored one unchanged.
    """

    id: int
    project: str
    model_version_id: int
    version: int
    window_key: str
    start: datetime
    end: datetime
    n_predictions: int
    verdict: str
    payload: dict[str, Any]
    created_at: datetime
    created: bool = True


@dataclass(frozen=True)
class Incident:
    """A KPI breach seen in monitoring; at most one incident per KPI is open at a time.

    `created` is True when the call that returned it opened the incident.
    """

    id: int
    project: str
    kpi: str
    status: IncidentStatus
    value: float | None
    threshold: float | None
    window_id: int | None
    model_version_id: int | None
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    details: dict[str, Any]
    created: bool = False


@dataclass(frozen=True)
class Event:
    """One line of a project's history (alias moves, registrations, reaped runs, ...)."""

    id: int
    project: str
    time: datetime
    kind: str
    message: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class LedgerSummary:
    """What `charter status` prints: counts and latest states of one project.

    `latest_stages` holds the latest execution of each stage name, in the order they
    started; `aliases` maps each alias to its version number.
    """

    project: str
    revisions: int = 0
    latest_revision: Revision | None = None
    runs_by_status: dict[str, int] = field(default_factory=dict)
    latest_stages: tuple[StageExecution, ...] = ()
    latest_run: Run | None = None
    model_versions: int = 0
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)
    open_incidents: int = 0
    first_revision_at: datetime | None = None
    first_deployment_at: datetime | None = None

    @property
    def is_empty(self) -> bool:
        """True when the ledger holds nothing for this project yet."""
        return self.revisions == 0 and not self.runs_by_status and self.model_versions == 0
