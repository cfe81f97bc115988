"""`train_model`: a budgeted, seeded search over the candidates, a constraint-aware choice.

The best trial of each candidate becomes a finalist; the choice among the finalists is
refit on all the training rows.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from charter.modeling._candidates import Candidate, limited_threads, openmp_threads, resolve
from charter.modeling._errors import TrainingError
from charter.modeling._features import FeaturePlan, plan_features
from charter.modeling._fitted import FittedModel, Labels, fit_labels, package_versions
from charter.modeling._jsonable import jsonable
from charter.modeling._kpis import (
    LATENCY_METRICS,
    KpiValue,
    Predictions,
    best_threshold,
    evaluate_kpi,
    fmt,
    measure_latency,
    meets,
    value_kpi,
)
from charter.modeling._progress import Progress, ProgressEvent, emit
from charter.modeling._results import (
    BudgetUsed,
    Finalist,
    PrimaryKPI,
    StoppedBy,
    TrainingResult,
    TrialRecord,
    TrialState,
)
from charter.spec.metrics import MetricKind, get_metric
from charter.spec.schema import KPI, Charter, Task

#: The seconds a budget gets when the charter sets neither seconds nor trials.
DEFAULT_SECONDS = 60.0
#: The primary metric of each task when no KPI has a model metric.
DEFAULT_PRIMARY: Mapping[str, str] = {
    "binary_classification": "roc_auc",
    "multiclass_classification": "log_loss",
    "regression": "rmse",
}
#: Seconds set aside per finalist for its KPIs and its latency estimate.
FINALIST_SECONDS = 0.5
#: Single rows timed per finalist when a latency KPI constrains the choice, and otherwise.
LATENCY_ROWS = 100
LATENCY_ROWS_RECORD = 30
#: The kinds of KPI that constrain the choice when they gate validate or deploy.
_CONSTRAINT_KINDS = (MetricKind.MODEL, MetricKind.BUSINESS, MetricKind.FAIRNESS)


# --- the primary KPI, the folds --------------------------------------------------------


def primary_kpi(charter: Charter) -> PrimaryKPI:
    """`model.primary`, else the first KPI with a model metric, else the task's default."""
    task = charter.objective.task
    if charter.model.primary is not None:
        try:
            kpi = charter.kpi(charter.model.primary)
        except KeyError:
            names = ", ".join(k.name for k in charter.kpis)
            raise TrainingError(
                f"The 'model.primary' of the charter must name a KPI ({names}). "
                f"Got {charter.model.primary!r} instead."
            ) from None
        metric = get_metric(kpi.metric)
        if metric.kind not in _CONSTRAINT_KINDS or task not in metric.tasks:
            raise TrainingError(
                f"The 'model.primary' of the charter must name a KPI whose metric can be "
                f"computed on predictions for {task}. Got {kpi.name!r} ({kpi.metric}) instead."
            )
        return PrimaryKPI(kpi, kpi.name, kpi.metric, metric.direction, "model.primary")
    for kpi in charter.kpis:
        metric = get_metric(kpi.metric)
        if metric.kind is MetricKind.MODEL and task in metric.tasks:
            return PrimaryKPI(kpi, kpi.name, kpi.metric, metric.direction, "first model KPI")
    name = DEFAULT_PRIMARY[task]
    kpi = KPI(name=name, metric=name, gate="validate")
    return PrimaryKPI(kpi, None, name, get_metric(name).direction, "task default")


Fold = tuple[np.ndarray, np.ndarray]


def make_folds(
    y: np.ndarray, labels: Labels, folds: int, seed: int, time_ordered: bool
) -> tuple[list[Fold], str, list[str]]:
    """The cross-validation folds, the method's name, and notes on any adjustment."""
    from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

    notes: list[str] = []
    n = len(y)
    classification = labels.task != "regression"
    if n < 2 * folds:
        raise TrainingError(
            f"The training data must have at least {2 * folds} rows for {folds}-fold "
            f"cross-validation (model.cv_folds). Got {n} instead."
        )
    if time_ordered:
        splits = list(TimeSeriesSplit(n_splits=folds).split(np.zeros(n)))
        if classification:
            k = len(labels.classes)
            kept = [s for s in splits if len(np.unique(y[s[0]])) == k]
            if not kept:
                raise TrainingError(
                    "The training data must hold every class in the earliest rows for a "
                    "time-ordered cross-validation. Got a first fold without some class instead."
                )
            if len(kept) < len(splits):
                notes.append(
                    f"{len(splits) - len(kept)} early time folds were skipped: their training "
                    "rows lack a class."
                )
            splits = kept
        return splits, "time_series", notes
    if classification:
        counts = np.bincount(y.astype(np.int64), minlength=len(labels.classes))
        smallest = int(counts.min())
        if smallest < 2:
            label = labels.classes[int(counts.argmin())]
            raise TrainingError(
                f"The target column {labels.target!r} must have at least 2 rows of each class "
                f"for cross-validation. Got {smallest} of {label!r} instead."
            )
        if smallest < folds:
            notes.append(
                f"model.cv_folds lowered from {folds} to {smallest}: the smallest class has "
                f"{smallest} rows."
            )
            folds = smallest
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(n), y)), "stratified_kfold", notes
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(n))), "kfold", notes


# --- one trial -------------------------------------------------------------------------


class _Stopped(Exception):
    """The budget ran out in the middle of a trial."""


@contextlib.contextmanager
def quiet_fit() -> Iterator[None]:
    """Silence convergence warnings: an iteration cap is part of a bounded trial's cost."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _deadline_callback(now: Callable[[], float], deadline: float) -> Callable[[Any], None]:
    def callback(env: Any) -> None:
        if now() > deadline:
            raise _Stopped

    return callback


@dataclass
class _Outcome:
    record: TrialRecord
    oof: np.ndarray | None = None
    covered: np.ndarray | None = None
    sample: Any = None
    fold_seconds: list[float] = field(default_factory=list)
    partial_seconds: float = 0.0  # the unfinished fold of a stopped trial


@dataclass
class _Context:
    charter: Charter
    frame: pd.DataFrame
    y: np.ndarray
    labels: Labels
    plan: FeaturePlan
    folds: list[Fold]
    primary: PrimaryKPI
    search_threshold: float | None
    seed: int
    now: Callable[[], float]
    start: float
    deadline: float | None
    openmp: int = 1

    @property
    def task(self) -> Task:
        return self.labels.task

    def predictions(
        self, rows: np.ndarray, output: np.ndarray, threshold: float | None
    ) -> Predictions:
        frame = self.frame.iloc[rows].reset_index(drop=True)
        if self.task == "regression":
            return Predictions(self.task, self.y[rows], frame, values=output)
        return Predictions(
            self.task,
            self.y[rows],
            frame,
            proba=output,
            threshold=threshold,
            positive_code=self.labels.positive_code,
        )


def _output(context: _Context, pipeline: Any, frame: pd.DataFrame) -> np.ndarray:
    if context.task == "regression":
        return np.asarray(pipeline.predict(frame), dtype=np.float64)
    proba = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
    k = len(context.labels.classes)
    if proba.ndim != 2 or proba.shape[1] != k:
        raise ValueError(f"predict_proba returned shape {proba.shape}, not (n, {k})")
    return proba


def _fit(context: _Context, candidate: Candidate, params: Mapping[str, Any], rows: Any) -> Any:
    pipeline = candidate.pipeline(
        context.plan, context.task, params, context.seed, openmp=context.openmp
    )
    fit_params: dict[str, Any] = {}
    if candidate.name == "lightgbm" and context.deadline is not None:
        fit_params["model__callbacks"] = [_deadline_callback(context.now, context.deadline)]
    frame = context.frame if rows is None else context.frame.iloc[rows]
    y = context.y if rows is None else context.y[rows]
    with quiet_fit():
        pipeline.fit(frame, y, **fit_params)
    estimator = pipeline.steps[-1][1]
    if "n_jobs" in getattr(estimator, "get_params", dict)():
        # Fitting uses every thread; predicting one request at a time is faster on one.
        estimator.set_params(n_jobs=1)
    return pipeline


def run_trial(
    context: _Context, candidate: Candidate, params: Mapping[str, Any], number: int, default: bool
) -> _Outcome:
    """Cross-validate one candidate with `params`; stop early when the budget runs out."""
    now = context.now
    started = now()
    n = len(context.y)
    shape = (n,) if context.task == "regression" else (n, len(context.labels.classes))
    oof = np.full(shape, np.nan)
    covered = np.zeros(n, dtype=bool)
    scores: list[float] = []
    fold_seconds: list[float] = []
    sample = None
    state: TrialState = "complete"
    error: str | None = None
    fold_start: float | None = None
    partial = 0.0
    try:
        for index, (train_rows, valid_rows) in enumerate(context.folds):
            fold_start = None
            if context.deadline is not None and index > 0:
                expected = float(np.mean(fold_seconds))
                if now() + expected > context.deadline:
                    raise _Stopped
            fold_start = now()
            pipeline = _fit(context, candidate, params, train_rows)
            output = _output(context, pipeline, context.frame.iloc[valid_rows])
            oof[valid_rows] = output
            covered[valid_rows] = True
            value = evaluate_kpi(
                context.primary.kpi,
                context.predictions(valid_rows, output, context.search_threshold),
            ).value
            if value is not None:
                scores.append(value)
            fold_seconds.append(now() - fold_start)
            fold_start = None
            if sample is None:
                sample = pipeline
            last = index == len(context.folds) - 1
            if context.deadline is not None and not last and now() > context.deadline:
                raise _Stopped
    except _Stopped:
        state = "stopped"
        if fold_start is not None:  # stopped inside a fold (LightGBM's callback)
            partial = now() - fold_start
    except Exception as exc:  # a candidate may fail in any way; the search goes on
        state, error = "failed", f"{type(exc).__name__}: {exc}"
    score: float | None = None
    spread: float | None = None
    if state == "complete":
        if len(scores) == len(context.folds):
            score, spread = float(np.mean(scores)), float(np.std(scores))
        else:  # a fold where the metric is undefined: score the pooled predictions
            pooled = evaluate_kpi(
                context.primary.kpi,
                context.predictions(
                    np.flatnonzero(covered), oof[covered], context.search_threshold
                ),
            )
            if pooled.value is None:
                state, error = "failed", f"the primary KPI cannot be computed: {pooled.note}"
            else:
                score = pooled.value
                spread = float(np.std(scores)) if len(scores) > 1 else None
    record = TrialRecord(
        number=number,
        candidate=candidate.name,
        params=dict(params),
        default=default,
        state=state,
        score=score,
        score_std=spread,
        fold_scores=tuple(scores),
        seconds=now() - started,
        started_s=started - context.start,
        error=error,
    )
    return _Outcome(record, oof, covered, sample, fold_seconds, partial)


# --- the search ------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[Any]:
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield optuna
    finally:
        optuna.logging.set_verbosity(before)


def _better(direction: str, a: float, b: float) -> bool:
    return a > b if direction == "higher" else a < b


def _refit_estimate(outcome: _Outcome, folds: int) -> float:
    if not outcome.fold_seconds:
        return 0.0
    return float(np.mean(outcome.fold_seconds)) * (1.0 + 1.0 / max(folds - 1, 1))


def _seconds(value: float) -> str:
    return f"{value:.2g} s" if value < 10 else f"{value:.0f} s"


def train_model(
    train: pd.DataFrame,
    charter: Charter,
    *,
    progress: Progress | None = None,
    now: Callable[[], float] = time.monotonic,
) -> TrainingResult:
    """Search the charter's candidates within its budget; return the chosen, refit model.

    Every candidate is first tried at its defaults, in the charter's order; then Optuna's
    TPE sampler (seeded with `model.seed`) draws a candidate and its parameters per trial.
    Each trial is cross-validated (`model.cv_folds`; stratified for classification, time
    ordered when `data.split.method` is "time") and scored on the primary KPI. The budget
    (`model.budget.seconds` and/or `.trials`, whichever ends first) covers the whole call:
    the search stops early enough to leave time for the finalists and the refit, a trial
    that would overrun is stopped between folds (LightGBM between trees), and a budget in
    trials is exact. The finalists are the best trial of each candidate; the chosen one
    maximises the primary KPI among those meeting every other validate/deploy KPI that can
    be computed offline (model, business, fairness, latency estimate), else the best
    primary, as each finalist's `reasons` say. A trials budget makes the result
    reproducible: same charter, data and seed give the same model (a latency KPI that
    gates the choice is measured, so it can differ).

    Raises `TrainingError` (or its `CandidateError`) with a one-sentence reason.
    """
    openmp = openmp_threads(len(train))
    with limited_threads(openmp):
        return _train(train, charter, progress, now, openmp)


def _train(
    train: pd.DataFrame,
    charter: Charter,
    progress: Progress | None,
    now: Callable[[], float],
    openmp: int,
) -> TrainingResult:
    start = now()
    objective = charter.objective
    task = objective.task
    spec = charter.model
    if objective.target not in train.columns:
        raise TrainingError(
            f"The training data must have the target column {objective.target!r}. "
            f"Got the columns {sorted(map(str, train.columns))[:20]} instead."
        )
    candidates = [resolve(name, task) for name in spec.candidates]
    frame = train
    time_ordered = charter.data.split.method == "time"
    if time_ordered:
        stamp = charter.data.timestamp
        if stamp is None or stamp not in train.columns:
            raise TrainingError(
                "The training data must have the timestamp column (data.timestamp) for a "
                f"time-ordered split. Got {stamp!r}, which is not a column, instead."
            )
        frame = train.sort_values(stamp, kind="mergesort")
    frame = frame.reset_index(drop=True)
    plan = plan_features(frame, charter)
    labels = fit_labels(frame[objective.target], task, objective.positive, objective.target)
    y = labels.encode(frame[objective.target], "the training data")
    folds, cv_method, notes = make_folds(y, labels, spec.cv_folds, spec.seed, time_ordered)
    primary = primary_kpi(charter)
    fixed = spec.threshold if isinstance(spec.threshold, float) else None
    search_threshold = (
        (fixed if fixed is not None else 0.5) if task == "binary_classification" else None
    )

    budget_seconds = spec.budget.seconds
    budget_trials = spec.budget.trials
    if budget_seconds is None and budget_trials is None:
        budget_seconds = DEFAULT_SECONDS
        notes.append(f"model.budget sets neither seconds nor trials; {DEFAULT_SECONDS:.0f} s used.")
    deadline = None if budget_seconds is None else start + budget_seconds
    context = _Context(
        charter,
        frame,
        y,
        labels,
        plan,
        folds,
        primary,
        search_threshold,
        spec.seed,
        now,
        start,
        deadline,
        openmp,
    )

    by_name = {c.name: c for c in candidates}
    tunable = [c.name for c in candidates if c.tunable]
    trials: list[TrialRecord] = []
    best: dict[str, _Outcome] = {}
    timings: list[tuple[float, str, str]] = []  # (full-trial estimate, "about"/"more than", name)
    stopped_by: StoppedBy = "exhausted"
    direction = primary.direction

    def fraction() -> float | None:
        parts = []
        if budget_seconds is not None:
            parts.append((now() - start) / budget_seconds)
        if budget_trials is not None:
            parts.append(len(trials) / budget_trials)
        return min(1.0, max(parts)) if parts else None

    def tail() -> float:
        refit = max((_refit_estimate(o, len(folds)) for o in best.values()), default=0.0)
        return refit + FINALIST_SECONDS * len(best)

    with _quiet_optuna() as optuna:
        study = optuna.create_study(
            direction="maximize" if direction == "higher" else "minimize",
            sampler=optuna.samplers.TPESampler(seed=spec.seed),
        )
        queue = list(candidates)
        for candidate in candidates:
            if candidate.tunable:
                study.enqueue_trial(candidate.enqueued())
        while True:
            if budget_trials is not None and len(trials) >= budget_trials:
                stopped_by = "trials"
                break
            if deadline is not None and trials and now() + tail() >= deadline:
                stopped_by = "seconds"
                break
            optuna_trial = None
            if queue:
                candidate = queue.pop(0)
                default = True
                if candidate.tunable:
                    optuna_trial = study.ask()
                    name = optuna_trial.suggest_categorical("candidate", tunable)
                    candidate = by_name[name]
                    params = candidate.suggest(optuna_trial)
                else:
                    params = {}
            elif tunable:
                default = False
                optuna_trial = study.ask()
                candidate = by_name[optuna_trial.suggest_categorical("candidate", tunable)]
                params = candidate.suggest(optuna_trial)
            else:
                stopped_by = "exhausted"
                break
            # Leave time for the finalists and the refit: the trial must end before that.
            trial_context = context
            if deadline is not None:
                trial_context = replace(context, deadline=deadline - tail())
            outcome = run_trial(trial_context, candidate, params, len(trials) + 1, default)
            record = outcome.record
            trials.append(record)
            # A finished fold gives an estimate; an unfinished one only a lower bound.
            if outcome.fold_seconds:
                full = float(np.mean(outcome.fold_seconds)) * len(folds)
                timings.append((full, "about", record.candidate))
            elif outcome.partial_seconds > 0:
                timings.append(
                    (outcome.partial_seconds * len(folds), "more than", record.candidate)
                )
            if optuna_trial is not None:
                if record.state == "complete":
                    study.tell(optuna_trial, record.score)
                elif record.state == "stopped":
                    study.tell(optuna_trial, state=optuna.trial.TrialState.PRUNED)
                else:
                    study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
            if record.state == "complete" and record.score is not None:
                held = best.get(candidate.name)
                if held is None or _better(direction, record.score, held.record.score or 0.0):
                    best[candidate.name] = outcome
            scores = [o.record.score for o in best.values() if o.record.score is not None]
            top = None
            if scores:
                top = max(scores) if direction == "higher" else min(scores)
            emit(
                progress,
                ProgressEvent(
                    stage="train",
                    step="trial",
                    message=_trial_message(record, primary, top),
                    elapsed_s=now() - start,
                    fraction=fraction(),
                    trial=record.number,
                    candidate=record.candidate,
                    score=record.score,
                    best=top,
                    budget_seconds=budget_seconds,
                    budget_trials=budget_trials,
                ),
            )
            if record.state == "stopped":
                stopped_by = "seconds"
                break
    search_seconds = now() - start

    if not best:
        raise _nothing_trained(trials, timings, budget_seconds, len(folds))

    finalists = _judge(context, [best[c.name] for c in candidates if c.name in best])
    emit(
        progress,
        ProgressEvent(
            stage="train",
            step="finalists",
            message="; ".join(f"{f.candidate}: {f.reasons[-1]}" for f in finalists),
            elapsed_s=now() - start,
            fraction=fraction(),
            budget_seconds=budget_seconds,
            budget_trials=budget_trials,
        ),
    )
    chosen = next(f for f in finalists if f.chosen)
    candidate = by_name[chosen.candidate]
    pipeline = _fit(replace(context, deadline=None), candidate, chosen.params, None)
    model = FittedModel(
        task=task,
        target=objective.target,
        positive=labels.positive,
        classes=labels.classes,
        features=plan.features,
        kinds=dict(plan.kinds),
        candidate=candidate.name,
        params=dict(chosen.params),
        threshold=chosen.threshold,
        pipeline=pipeline,
        seed=spec.seed,
        n_rows=len(frame),
    )
    elapsed = now() - start
    emit(
        progress,
        ProgressEvent(
            stage="train",
            step="refit",
            message=f"refit {candidate.name} on {len(frame)} rows",
            elapsed_s=elapsed,
            fraction=fraction(),
            budget_seconds=budget_seconds,
            budget_trials=budget_trials,
        ),
    )
    budget_used = BudgetUsed(
        seconds=elapsed,
        search_seconds=search_seconds,
        trials=len(trials),
        completed_trials=sum(t.state == "complete" for t in trials),
        stopped_by=stopped_by,
        budget_seconds=budget_seconds,
        budget_trials=budget_trials,
    )
    vk = value_kpi(charter.kpis)
    if task != "binary_classification":
        threshold_source = None
    elif fixed is not None:
        threshold_source = "model.threshold"
    elif vk is not None:
        threshold_source = f"maximises {vk.name} (expected_value) on out-of-fold predictions"
    else:
        threshold_source = "default 0.5"
    lineage = {
        "seed": spec.seed,
        "sampler": f"optuna TPESampler(seed={spec.seed})",
        "cv": {"method": cv_method, "folds": len(folds)},
        "split": charter.data.split.model_dump(),
        "versions": package_versions(),
        "candidate": candidate.name,
        "params": dict(chosen.params),
        "n_rows": len(frame),
        "features": list(plan.features),
        "kinds": dict(plan.kinds),
        "threshold": chosen.threshold,
        "threshold_source": threshold_source,
        "primary": primary.to_dict(),
        "budget": {"seconds": budget_seconds, "trials": budget_trials},
    }
    result = TrainingResult(
        model=model,
        trials=tuple(trials),
        finalists=tuple(finalists),
        primary=primary,
        budget_used=budget_used,
        lineage=jsonable(lineage),
        notes=tuple(notes),
    )
    emit(
        progress,
        ProgressEvent(
            stage="train",
            step="done",
            message=f"chose {candidate.name} after {len(trials)} trials in {_seconds(elapsed)}",
            elapsed_s=elapsed,
            fraction=1.0,
            budget_seconds=budget_seconds,
            budget_trials=budget_trials,
        ),
    )
    return result


def _trial_message(record: TrialRecord, primary: PrimaryKPI, top: float | None) -> str:
    name = primary.name or primary.metric
    head = f"trial {record.number}: {record.candidate}"
    if record.state == "complete" and record.score is not None:
        best = f" (best {fmt(top)})" if top is not None else ""
        return f"{head} {name} {fmt(record.score)}{best}"
    if record.state == "stopped":
        return f"{head} stopped: the budget ran out"
    return f"{head} failed: {record.error}"


def _nothing_trained(
    trials: list[TrialRecord],
    timings: list[tuple[float, str, str]],
    budget_seconds: float | None,
    folds: int,
) -> TrainingError:
    stopped = any(t.state == "stopped" for t in trials)
    if stopped and budget_seconds is not None:
        if timings:
            seconds, word, candidate = min(timings)
            needs = (
                f"the fastest ({candidate}, {folds}-fold cross-validation) "
                f"needs {word} {_seconds(math.ceil(seconds * 10) / 10)}"
            )
        else:
            needs = "not one cross-validation fold could start"
        return TrainingError(
            f"No candidate finished within the budget of {_seconds(budget_seconds)}; {needs}. "
            "Raise model.budget.seconds."
        )
    failed = [t for t in trials if t.state == "failed"]
    if failed:
        first = failed[0]
        return TrainingError(
            f"No candidate could be trained: all {len(failed)} trials failed; the first, "
            f"{first.candidate}, with {first.error}"
        )
    return TrainingError("No candidate could be trained: the budget allowed no trial.")


# --- the finalists ---------------------------------------------------------------------


def _constraints(context: _Context) -> list[KPI]:
    """The validate/deploy KPIs besides the primary that can be computed on predictions."""
    out = []
    for kpi in context.charter.kpis:
        if kpi.gate not in ("validate", "deploy") or kpi.name == context.primary.name:
            continue
        metric = get_metric(kpi.metric)
        if metric.kind in _CONSTRAINT_KINDS or metric.name in LATENCY_METRICS:
            out.append(kpi)
    return out


def _bound_reasons(kpi: KPI, value: float, estimate: bool) -> list[str]:
    label = " (estimate)" if estimate else ""
    reasons = []
    if kpi.at_least is not None:
        ok = value >= kpi.at_least
        op = ">=" if ok else "<"
        verdict = "passes" if ok else "fails"
        reasons.append(
            f"{kpi.name} {fmt(value)}{label} {op} {fmt(kpi.at_least)} at_least: {verdict}"
        )
    if kpi.at_most is not None:
        ok = value <= kpi.at_most
        op = "<=" if ok else ">"
        verdict = "passes" if ok else "fails"
        reasons.append(f"{kpi.name} {fmt(value)}{label} {op} {fmt(kpi.at_most)} at_most: {verdict}")
    return reasons


@dataclass
class _Judged:
    outcome: _Outcome
    threshold: float | None
    primary: float | None
    primary_reason: str | None
    kpis: list[KpiValue]
    passes: dict[str, bool | None]
    latency: tuple[float | None, float | None]
    reasons: list[str]


def _judge(context: _Context, outcomes: list[_Outcome]) -> list[Finalist]:
    task = context.task
    charter = context.charter
    spec = charter.model
    constraints = _constraints(context)
    vk = value_kpi(charter.kpis)
    # A latency KPI that constrains the choice gets a fuller sample than the record's.
    timed = any(k.metric in LATENCY_METRICS for k in constraints)
    rows = LATENCY_ROWS if timed else LATENCY_ROWS_RECORD
    judged: list[_Judged] = []
    for outcome in outcomes:
        assert outcome.covered is not None
        assert outcome.oof is not None
        covered = np.flatnonzero(outcome.covered)
        predictions = context.predictions(covered, outcome.oof[covered], None)
        threshold: float | None = None
        if task == "binary_classification":
            if isinstance(spec.threshold, float):
                threshold = spec.threshold
            elif vk is not None:
                threshold = best_threshold(vk, predictions)
            else:
                threshold = 0.5
            predictions = replace(predictions, threshold=threshold)
        latencies = _latencies(context, outcome, threshold, rows)
        values = [evaluate_kpi(kpi, predictions, latencies) for kpi in charter.kpis]
        by_name = {v.name: v for v in values}
        primary = by_name.get(context.primary.name or "") or evaluate_kpi(
            context.primary.kpi, predictions
        )
        passes: dict[str, bool | None] = {}
        reasons: list[str] = []
        for kpi in constraints:
            value = by_name[kpi.name]
            if value.value is None:
                passes[kpi.name] = None
                reasons.append(f"{kpi.name} not computed offline: {value.note}")
            else:
                passes[kpi.name] = meets(kpi, value.value)
                reasons.extend(_bound_reasons(kpi, value.value, value.estimate))
        p50 = p99 = None
        if len(latencies):
            p50 = float(np.percentile(latencies, 50))
            p99 = float(np.percentile(latencies, 99))
        judged.append(
            _Judged(
                outcome,
                threshold,
                primary.value,
                primary.note,
                values,
                passes,
                (p50, p99),
                reasons,
            )
        )

    direction = context.primary.direction
    sign = 1.0 if direction == "higher" else -1.0

    def rank(j: _Judged) -> tuple[int, float, float]:
        cv = j.outcome.record.score
        return (
            0 if j.primary is not None else 1,
            -sign * (j.primary if j.primary is not None else 0.0),
            -sign * (cv if cv is not None else 0.0),
        )

    ordered = sorted(judged, key=rank)  # stable: ties keep the charter's order
    passing = [j for j in ordered if all(p is not False for p in j.passes.values())]
    chosen = passing[0] if passing else ordered[0]
    best_value = ordered[0].primary
    pname = context.primary.name or context.primary.metric
    finalists = []
    for j in judged:
        failed = [name for name, ok in j.passes.items() if ok is False]
        if j.primary is None:
            head = f"{pname} not computed: {j.primary_reason}"
        elif best_value is not None and j.primary == best_value:
            head = f"{pname} {fmt(j.primary)} (best)"
        else:
            assert best_value is not None
            gap = abs(j.primary - best_value)
            word = "below" if direction == "higher" else "above"
            head = f"{pname} {fmt(j.primary)} ({fmt(gap)} {word} the best, {fmt(best_value)})"
        if j is chosen and not failed:
            among = " among the finalists that pass every gate KPI" if constraints else ""
            verdict = f"chosen: the best {pname}{among}"
        elif j is chosen:
            verdict = (
                f"chosen: no finalist passes every gate KPI, so the best {pname} was taken; "
                f"it fails {', '.join(failed)}"
            )
        elif failed:
            verdict = f"lost: fails {', '.join(failed)}"
        else:
            verdict = (
                f"lost: {pname} {'below' if direction == 'higher' else 'above'} the chosen "
                f"{chosen.outcome.record.candidate}'s"
            )
        record = j.outcome.record
        finalists.append(
            Finalist(
                candidate=record.candidate,
                trial=record.number,
                params=dict(record.params),
                threshold=j.threshold,
                cv_score=record.score,
                cv_score_std=record.score_std,
                primary_value=j.primary,
                kpis={v.name: v for v in j.kpis},
                passes=dict(j.passes),
                latency_p50_ms=j.latency[0],
                latency_p99_ms=j.latency[1],
                passed=not failed,
                chosen=j is chosen,
                reasons=(head, *j.reasons, verdict),
            )
        )
    return finalists


def _latencies(
    context: _Context, outcome: _Outcome, threshold: float | None, rows: int
) -> np.ndarray:
    """Per-row latency of the finalist's first fold model, in process."""
    if outcome.sample is None:
        return np.zeros(0)
    labels = context.labels
    model = FittedModel(
        task=context.task,
        target=labels.target,
        positive=labels.positive,
        classes=labels.classes,
        features=context.plan.features,
        kinds=dict(context.plan.kinds),
        candidate=outcome.record.candidate,
        params=dict(outcome.record.params),
        threshold=threshold,
        pipeline=outcome.sample,
        seed=context.seed,
    )
    return measure_latency(model.predict, context.frame, rows=rows)
