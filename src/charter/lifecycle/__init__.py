"""The stages of a charter project, wired: each takes a charter and the ledger, leaves evidence.

This layer holds no I/O of its own beyond the ledger and the domain packages; it never
prints or parses arguments (the faces do that) and reports progress through a `Reporter`.
"""

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

__all__ = [
    "RUN_STAGES",
    "CheckOutcome",
    "GateRefused",
    "InitOutcome",
    "NullReporter",
    "PromoteOutcome",
    "Reporter",
    "RunOutcome",
    "ScoreOutcome",
    "StageStopped",
    "StageSummary",
    "StatusReport",
    "check",
    "init",
    "promote",
    "report",
    "run",
    "score",
    "status",
]
