"""What `train_model` returns: the search history, the finalists and why one was chosen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from charter.modeling._fitted import FittedModel
from charter.modeling._jsonable import jsonable
from charter.modeling._kpis import KpiValue
from charter.spec.schema import KPI

TrialState = Literal["complete", "failed", "stopped"]
StoppedBy = Literal["trials", "seconds", "exhausted"]


@dataclass(frozen=True)
class PrimaryKPI:
    """The KPI the search maximises (a charter KPI, or the task's default metric)."""

    kpi: KPI
    name: str | None
    metric: str
    direction: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.name,
            "metric": self.metric,
            "direction": self.direction,
            "source": self.source,
        }


@dataclass(frozen=True)
class TrialRecord:
    """One trial: a candidate, its parameters, its cross-validated score and what became of it."""

    number: int
    candidate: str
    params: Mapping[str, Any]
    default: bool
    state: TrialState
    score: float | None
    score_std: float | None
    fold_scores: tuple[float, ...]
    seconds: float
    started_s: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "candidate": self.candidate,
            "params": dict(self.params),
            "default": self.default,
            "state": self.state,
            "score": self.score,
            "score_std": self.score_std,
            "fold_scores": list(self.fold_scores),
            "seconds": self.seconds,
            "started_s": self.started_s,
            "error": self.error,
        }


@dataclass(frozen=True)
class Finalist:
    """The best trial of one candidate, judged on its out-of-fold predictions."""

    candidate: str
    trial: int
    params: Mapping[str, Any]
    threshold: float | None
    cv_score: float | None
    cv_score_std: float | None
    primary_value: float | None
    kpis: Mapping[str, KpiValue]
    passes: Mapping[str, bool | None]
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    passed: bool
    chosen: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "trial": self.trial,
            "params": dict(self.params),
            "threshold": self.threshold,
            "cv_score": self.cv_score,
            "cv_score_std": self.cv_score_std,
            "primary_value": self.primary_value,
            "kpis": {
                name: {
                    **kpi.to_dict(),
                    "constraint": name in self.passes,
                    "passes": self.passes.get(name),
                }
                for name, kpi in self.kpis.items()
            },
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "passed": self.passed,
            "chosen": self.chosen,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class BudgetUsed:
    """What the search spent: `seconds` for all of train_model, `search_seconds` for trials."""

    seconds: float
    search_seconds: float
    trials: int
    completed_trials: int
    stopped_by: StoppedBy
    budget_seconds: float | None
    budget_trials: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "search_seconds": self.search_seconds,
            "trials": self.trials,
            "completed_trials": self.completed_trials,
            "stopped_by": self.stopped_by,
            "budget_seconds": self.budget_seconds,
            "budget_trials": self.budget_trials,
        }


@dataclass(frozen=True)
class TrainingResult:
    """What `train_model` found: the chosen model, the search history and why it was chosen.

    `to_dict()` is JSON data shaped as::

        {
          "primary": {"kpi": str | None, "metric": str, "direction": "higher" | "lower",
                      "source": "model.primary" | "first model KPI" | "task default"},
          "budget_used": {"seconds": float (all of train_model),
                          "search_seconds": float, "trials": int, "completed_trials": int,
                          "stopped_by": "trials" | "seconds" | "exhausted",
                          "budget_seconds": float | None, "budget_trials": int | None},
          "trials": [{"number": int (1-based), "candidate": str, "params": {...},
                      "default": bool, "state": "complete" | "failed" | "stopped",
                      "score": float | None (mean CV primary), "score_std": float | None,
                      "fold_scores": [float], "seconds": float, "started_s": float,
                      "error": str | None}],
          "finalists": [{"candidate": str, "trial": int, "params": {...},
                         "threshold": float | None, "cv_score": float | None,
                         "cv_score_std": float | None, "primary_value": float | None,
                         "kpis": {kpi name: {"name", "metric", "kind", "gate", "value",
                                             "at_least", "at_most", "estimate", "note",
                                             "rows", "where", "constraint": bool,
                                             "passes": bool | None}},
                         "latency_p50_ms": float | None, "latency_p99_ms": float | None,
                         "passed": bool, "chosen": bool, "reasons": [str]}],
          "threshold": float | None,   # the chosen model's binary decision threshold
          "chosen": {"candidate": str, "trial": int, "params": {...},
                     "threshold": float | None},
          "model": FittedModel.describe(),
          "lineage": {...},   # seeds, cv, split, versions, candidate, params, n_rows,
                              # features, kinds, threshold (+ its source), primary, budget
          "notes": [str]
        }

    `started_s` is the trial's start in seconds since the search began (for a timeline).
    A finalist's `primary_value` and KPI values are computed on its out-of-fold
    predictions at its own threshold; `constraint` marks the KPIs that constrain the
    choice, and `passes` whether the value meets the KPI's bounds. NaN and infinities are
    written as null.
    """

    model: FittedModel
    trials: tuple[TrialRecord, ...]
    finalists: tuple[Finalist, ...]
    primary: PrimaryKPI
    budget_used: BudgetUsed
    lineage: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    @property
    def chosen(self) -> Finalist:
        """The finalist whose refit is `model`."""
        return next(f for f in self.finalists if f.chosen)

    def to_dict(self) -> dict[str, Any]:
        chosen = self.chosen
        result = {
            "primary": self.primary.to_dict(),
            "budget_used": self.budget_used.to_dict(),
            "trials": [trial.to_dict() for trial in self.trials],
            "finalists": [finalist.to_dict() for finalist in self.finalists],
            "threshold": chosen.threshold,
            "chosen": {
                "candidate": chosen.candidate,
                "trial": chosen.trial,
                "params": dict(chosen.params),
                "threshold": chosen.threshold,
            },
            "model": self.model.describe(),
            "lineage": dict(self.lineage),
            "notes": list(self.notes),
        }
        converted: dict[str, Any] = jsonable(result)
        return converted
