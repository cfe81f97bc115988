"""Every error charter raises on purpose derives from one root, `CharterError`.

The command line prints a `CharterError` as a one-line headline and exits 1; anything
else is a bug and is printed as "internal error" with its traceback.

    CharterError
    ├── SpecError                 the charter file is missing, malformed or inconsistent
    ├── DataError                 a data file cannot be read or does not fit what was asked
    ├── LedgerError               the ledger cannot be opened, migrated or written
    │   ├── NotFoundError         a run, model version or artifact that does not exist
    │   └── ArtifactIntegrityError  an artifact's bytes differ from their recorded sha256
    ├── ConflictError             a write that contradicts what the ledger already holds
    │
    │   Raised by the layers above, defined beside the code that raises them:
    ├── EngineError, DriftError   a frame engine or drift statistics that cannot be used
    ├── ModelingError             training or a fitted model failed (Training/Candidate/...)
    ├── ServingError, PredictionLogError  a serving path or the prediction log failed
    ├── WindowError, NotifyError  a monitor window or a notification set up wrongly
    └── StageStopped, GateRefused, MonitorError, RetrainError, DashboardUnavailable
                                  a lifecycle step that stopped, and why

Messages follow one shape: "The 'field' of <where> must be <constraint>. Got <value> instead."
"""

from __future__ import annotations

from dataclasses import dataclass


class CharterError(Exception):
    """The root of every error charter raises deliberately; its message is user-facing."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a charter file, located by file, line and column (1-based)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class SpecError(CharterError):
    """A charter file that cannot be used; `problems` lists every fault found at once."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        if count == 1:
            headline = str(self.problems[0])
        else:
            headline = f"{count} problems in {self.problems[0].file}; the first: {self.problems[0]}"
        super().__init__(headline)


class DataError(CharterError):
    """A data file that cannot be read, or whose content does not fit what was asked."""


class LedgerError(CharterError):
    """The ledger cannot be opened, migrated or written."""


class NotFoundError(LedgerError):
    """A run, model version, alias or artifact that the ledger does not hold."""


class ArtifactIntegrityError(LedgerError):
    """An artifact whose bytes no longer match the sha256 recorded when it was stored."""


class ConflictError(CharterError):
    """A write that contradicts what the ledger already holds (a taken name, a moved alias)."""


__all__ = [
    "ArtifactIntegrityError",
    "CharterError",
    "ConflictError",
    "DataError",
    "LedgerError",
    "NotFoundError",
    "Problem",
    "SpecError",
]
