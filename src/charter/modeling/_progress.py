"""Progress events: how training and validation report what they are doing, without printing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Step = Literal["trial", "finalists", "refit", "done", "metrics", "explain"]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of `train_model` or `validate_model`, for a progress bar or a log line.

    `fraction` is the share of the budget spent (0 to 1) when it is known. The trial
    fields are set for `step == "trial"` only; `score` is that trial's mean CV score of the
    primary KPI (None when it failed or was stopped) and `best` the best score so far.
    """

    stage: Literal["train", "validate"]
    step: Step
    message: str
    elapsed_s: float
    fraction: float | None = None
    trial: int | None = None
    candidate: str | None = None
    score: float | None = None
    best: float | None = None
    budget_seconds: float | None = None
    budget_trials: int | None = None

    def __str__(self) -> str:
        return self.message


#: The optional callback `train_model` and `validate_model` call with each event.
Progress = Callable[[ProgressEvent], None]


def emit(progress: Progress | None, event: ProgressEvent) -> None:
    """Hand `event` to `progress` when there is one."""
    if progress is not None:
        progress(event)
