"""The stages of a charter project, wired: each takes a charter and the ledger, leaves evidence.

This layer holds no I/O of its own beyond the ledger and the domain packages; it never
prints or parses arguments (the faces do that) and reports progress through a `Reporter`.
"""

from charter.lifecycle._drift import DriftOutcome, drift
from charter.lifecycle._export import ExportOutcome, export
from charter.lifecycle._monitor import (
    MonitorError,
    MonitorOutcome,
    WindowOutcome,
    incidents,
    monitor,
    watch,
)
from charter.lifecycle._project import (
    CheckOutcome,
    InitOutcome,
    StatusReport,
    check,
    init,
    status,
)
from charter.lifecycle._promote import GateRefused, PromoteOutcome, promote
from charter.lifecycle._report import report
from charter.lifecycle._retrain import RetrainError, RetrainOutcome, retrain
from charter.lifecycle._run import (
    RUN_STAGES,
    NullReporter,
    Reporter,
    RunOutcome,
    StageStopped,
    StageSummary,
    run,
)
from charter.lifecycle._score import ScoreOutcome, score
from charter.lifecycle._ui import DashboardUnavailable, ProjectReader

__all__ = [
    "RUN_STAGES",
    "CheckOutcome",
    "DashboardUnavailable",
    "DriftOutcome",
    "ExportOutcome",
    "GateRefused",
    "InitOutcome",
    "MonitorError",
    "MonitorOutcome",
    "NullReporter",
    "ProjectReader",
    "PromoteOutcome",
    "Reporter",
    "RetrainError",
    "RetrainOutcome",
    "RunOutcome",
    "ScoreOutcome",
    "StageStopped",
    "StageSummary",
    "StatusReport",
    "WindowOutcome",
    "check",
    "drift",
    "export",
    "incidents",
    "init",
    "monitor",
    "promote",
    "report",
    "retrain",
    "run",
    "score",
    "status",
    "watch",
]
