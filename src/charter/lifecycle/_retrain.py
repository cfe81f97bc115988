"""`charter retrain`: a challenger trained on the original data plus labelled production data,
judged against the champion on the same holdouts, promoted only when it is better.

1. The labelled production records: every served prediction with a label in the feedback,
   its logged input (features, id, timestamp) and the label as the target; deduplicated
   by the charter's id (the latest record wins). The most recent quarter is held out,
   taken among the rows whose id the champion never trained on.
2. The training set: the champion's own training split (so the champion's holdout stays
   unseen by both models) plus the rest of the production records, which replace original
   rows with the same id; capped at `retrain.max_rows`, keeping the most recent rows.
3. A full `charter run` on that set (audit with the contract, train with the same budget and
   search, validate with every gate, register as "candidate").
4. Champion and challenger scored on the recent holdout and on the champion's original
   holdout. The challenger becomes champion only when it beats the champion by
   `promote_if.better_by` on `promote_if.metric` (on the recent holdout when it is big
   enough, else the original one) and passes every deploy gate; otherwise it is aliased
   "challenger", and the reasons are recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.errors import CharterError, NotFoundError
from charter.spec import LoadedCharter, load_charter

if TYPE_CHECKING:
    import pandas as pd

    from charter.ledger import Ledger
    from charter.lifecycle._run import Reporter
    from charter.modeling import FittedModel

#: The share of labelled production records (the most recent) held out for the comparison.
RECENT_HOLDOUT = 0.25
#: The fewest labelled production records a retrain uses.
MIN_LABELLED = 40
#: The recent holdout decides only when it has at least this many rows (and, for
#: classification, every class); else the champion's original holdout decides.
MIN_DECISIVE_ROWS = 30
TIME_COLUMN = "__charter_time"


class RetrainError(CharterError):
    """A retrain cannot start: no champion, or too few labelled production records."""


@dataclass
class RetrainOutcome:
    """What a retrain did: the challenger, the comparison, and the decision with reasons."""

    project: str
    trigger: str
    status: str  # "promoted", "refused", "stopped"
    champion: int | None = None
    challenger: int | None = None
    metric: str | None = None
    better_by: float = 0.0
    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)
    decided_on: str | None = None
    deployable: bool | None = None
    reasons: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "trigger": self.trigger,
            "status": self.status,
            "champion": self.champion,
            "challenger": self.challenger,
            "metric": self.metric,
            "better_by": self.better_by,
            "scores": self.scores,
            "decided_on": self.decided_on,
            "deployable": self.deployable,
            "reasons": self.reasons,
            "rows": self.rows,
            "run_id": self.run_id,
        }


def labelled_production(loaded: LoadedCharter, log_dir: Path) -> pd.DataFrame:
    """Every logged prediction with a label: its input columns, the target, and its time.

    Rows are deduplicated by the charter's id (else by prediction id), the latest kept, and
    sorted oldest first. Failed requests and labels the feedback refused are left out.
    """
    import pandas as pd

    from charter.monitoring import is_error
    from charter.serving import FeedbackStore, LogReader

    charter = loaded.charter
    target = charter.objective.target
    rows: list[dict[str, Any]] = []
    store = FeedbackStore(log_dir)
    try:
        chunks, _end = LogReader(log_dir).read()
        for chunk in chunks:
            served = [r for r in chunk.records if not is_error(r)]
            labels = store.lookup(str(r.get("prediction_id")) for r in served)
            for record in served:
                feedback = labels.get(str(record.get("prediction_id")))
                if feedback is None or not isinstance(record.get("input"), dict):
                    continue
                row = dict(record["input"])
                row[target] = feedback.label
                row[TIME_COLUMN] = record.get("time")
                if charter.data.id and charter.data.id not in row:
                    row[charter.data.id] = record.get("prediction_id")
                rows.append(row)
    finally:
        store.close()
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values(TIME_COLUMN, kind="stable")
    key = charter.data.id
    if key and key in frame.columns:
        frame = frame.drop_duplicates(subset=[key], keep="last")
    return frame.reset_index(drop=True)


def _champion_split(ledger: Ledger, project: str, model_artifact: int) -> tuple[int, int]:
    """The (train, test) split artifacts the champion's model was trained and judged on."""
    for evidence in ledger.evidence(project, kind="training", limit=None):
        if evidence.payload.get("model_artifact") == model_artifact:
            split = evidence.payload.get("split_artifacts") or []
            if len(split) == 2:
                return int(split[0]), int(split[1])
    raise NotFoundError(
        f"The champion of project '{project}' has no training split in the ledger, so it "
        "cannot be compared fairly. Register a champion trained by `charter run`."
    )


def _frame(ledger: Ledger, artifact: int) -> pd.DataFrame:
    import io

    import pandas as pd

    return pd.read_parquet(io.BytesIO(ledger.load_artifact(artifact)))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as plain values, so frames from different sources concatenate."""
    out = frame.copy()
    for name in out.columns:
        if str(out[name].dtype) == "category":
            out[name] = out[name].astype(object)
    return out


def score_model(model: FittedModel, frame: pd.DataFrame, metric_name: str) -> float | None:
    """`metric_name` of `model` on `frame` (which holds the target), None when undefined."""
    from charter.modeling import Predictions
    from charter.spec.metrics import MetricError, get_metric

    if frame.empty:
        return None
    metric = get_metric(metric_name)
    y = model.labels.encode(frame[model.target], "a retrain holdout")
    if model.task == "regression":
        predictions = Predictions(task=model.task, y_true=y, frame=frame, values=model.score(frame))
    else:
        predictions = Predictions(
            task=model.task,
            y_true=y,
            frame=frame,
            proba=model.predict_proba(frame),
            threshold=model.threshold,
            positive_code=model.labels.positive_code,
        )
    try:
        value = float(metric.compute(predictions.inputs()))
    except MetricError:
        return None
    return value if math.isfinite(value) else None


def _decisive(frame: pd.DataFrame, model: FittedModel) -> bool:
    if len(frame) < MIN_DECISIVE_ROWS:
        return False
    if model.task == "regression":
        return True
    return int(frame[model.target].nunique()) >= len(model.classes)


def retrain(
    path: Path,
    *,
    log_dir: Path | None = None,
    reporter: Reporter | None = None,
    trigger: str = "manual",
) -> RetrainOutcome:
    """Train a challenger and promote it or refuse it (see the module docstring)."""

    from charter.data import check_contract
    from charter.ledger import open_ledger
    from charter.lifecycle._monitor import default_log_dir, make_notifier, send
    from charter.lifecycle._run import run_loaded
    from charter.modeling import FittedModel
    from charter.spec.metrics import get_metric

    loaded = load_charter(path)
    charter = loaded.charter
    project = charter.project.name
    policy = charter.monitor.retrain
    folder = Path(log_dir) if log_dir is not None else default_log_dir(loaded)
    outcome = RetrainOutcome(
        project,
        trigger,
        "stopped",
        metric=policy.promote_if.metric,
        better_by=policy.promote_if.better_by,
    )
    with open_ledger(loaded.base_dir) as ledger:
        champion = ledger.get_alias(project, "champion")
        if champion is None:
            raise RetrainError(
                f"Project '{project}' has no champion to challenge. Promote one first: "
                "`charter promote candidate`."
            )
        outcome.champion = champion.version
        by_name = {a.name: a for a in champion.artifacts}
        champion_model = FittedModel.from_bytes(ledger.load_artifact(by_name["model.pkl"]))
        train_art, test_art = _champion_split(ledger, project, by_name["model.pkl"].id)
        original_train = _plain(_frame(ledger, train_art))
        original_test = _frame(ledger, test_art)
        if not folder.is_dir():
            raise RetrainError(
                f"There is no prediction log at {folder}: a retrain needs labelled production "
                "records. Serve the champion and send feedback first."
            )
        production = labelled_production(loaded, folder)
        outcome.rows["labelled_production"] = len(production)
        if len(production) < MIN_LABELLED:
            raise RetrainError(
                f"A retrain needs at least {MIN_LABELLED} labelled production records; the log "
                f"at {folder} has {len(production)}. Send more feedback (POST /feedback)."
            )
        # The contract first, on the production rows alone, so a violation names them.
        checked = check_contract(
            production.drop(columns=[TIME_COLUMN]), charter, source="labelled production records"
        )
        if not checked.ok:
            outcome.reasons = [
                f"The labelled production records break the data contract: {checked.headline()}",
                f"Champion version {champion.version} stays.",
            ]
            ledger.record_event(
                project,
                "retrain.stopped",
                outcome.reasons[0],
                {"trigger": trigger, "violations": checked.to_dict()},
            )
            return outcome
        recent_train, recent_test = _hold_out(production, original_train, charter.data.id)
        outcome.rows.update(recent_train=len(recent_train), recent_holdout=len(recent_test))
        combined = _combine(loaded, original_train, recent_train.drop(columns=[TIME_COLUMN]))
        outcome.rows["training_set"] = len(combined)
        data_dir = (
            loaded.base_dir
            / ".charter"
            / "retrain"
            / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        data_path = data_dir / "training.parquet"
        _write_parquet(combined, data_path)
        recent_test.drop(columns=[TIME_COLUMN]).to_parquet(data_dir / "recent_holdout.parquet")
        ledger.record_event(
            project,
            "retrain.started",
            f"Retraining ({trigger}) on {len(combined)} rows: the champion's training split "
            f"plus {len(recent_train)} labelled production records.",
            {"trigger": trigger, "rows": dict(outcome.rows), "data": str(data_path)},
        )
    retrain_charter = _with_source(loaded, data_path)
    # The retrain set was assembled in this process (a file on its disk, bounded by the
    # champion's training split): it is audited here, on pandas, whatever the engine.
    result = run_loaded(retrain_charter, reporter=reporter, command="retrain", engine="pandas")
    outcome.run_id = result.run_id
    outcome.challenger = result.model_version
    outcome.deployable = result.deployable
    with open_ledger(loaded.base_dir) as ledger:
        if result.model_version is None:
            outcome.reasons = [
                f"The retrain run stopped before registering a challenger: {result.stopped_by}",
                f"Champion version {champion.version} stays.",
            ]
            return _record(loaded, ledger, outcome, make_notifier, send)
        challenger = ledger.get_model_version(project, result.model_version)
        challenger_model = FittedModel.from_bytes(
            ledger.load_artifact({a.name: a for a in challenger.artifacts}["model.pkl"])
        )
        metric = policy.promote_if.metric
        higher = get_metric(metric).direction == "higher"
        recent = _typed(recent_test.drop(columns=[TIME_COLUMN]), charter)
        for name, frame in (("recent_holdout", recent), ("original_holdout", original_test)):
            outcome.scores[name] = {
                "champion": score_model(champion_model, frame, metric),
                "challenger": score_model(challenger_model, frame, metric),
                "rows": float(len(frame)),
            }
        decided = "recent_holdout" if _decisive(recent, champion_model) else "original_holdout"
        outcome.decided_on = decided
        old, new = outcome.scores[decided]["champion"], outcome.scores[decided]["challenger"]
        reasons: list[str] = []
        if old is None or new is None:
            reasons.append(f"{metric} could not be measured on the {decided.replace('_', ' ')}")
            better = False
        else:
            gain = (new - old) if higher else (old - new)
            better = gain >= policy.promote_if.better_by - 1e-12
            word = "beats" if better else "does not beat"
            reasons.append(
                f"On the {decided.replace('_', ' ')} ({int(outcome.scores[decided]['rows'] or 0)}"
                f" rows) the challenger's {metric} is {new:.4f} against the champion's "
                f"{old:.4f}: it {word} the champion by the {policy.promote_if.better_by:g} "
                "the charter asks for."
            )
        if not result.deployable:
            reasons.append("The challenger fails a deploy gate (see its run report).")
        if better and result.deployable:
            outcome.status = "promoted"
            ledger.set_alias(
                project,
                "champion",
                challenger.version,
                reason=f"retrain ({trigger}): " + " ".join(reasons),
            )
        else:
            outcome.status = "refused"
            ledger.set_alias(
                project,
                "challenger",
                challenger.version,
                reason=f"retrain ({trigger}) refused: " + " ".join(reasons),
            )
            reasons.append(f"Champion version {champion.version} stays.")
        outcome.reasons = reasons
        return _record(loaded, ledger, outcome, make_notifier, send)


def _record(
    loaded: LoadedCharter, ledger: Ledger, outcome: RetrainOutcome, make_notifier: Any, send: Any
) -> RetrainOutcome:
    """Keep the decision as an event and tell the stakeholders."""
    from charter.notify import Notice, NoticeKind

    project = loaded.charter.project.name
    kind: NoticeKind = "retrain.promoted" if outcome.status == "promoted" else "retrain.refused"
    decided = outcome.scores.get(outcome.decided_on or "", {})
    payload = {
        "champion": outcome.champion,
        "challenger": outcome.challenger,
        "metric": outcome.metric,
        "champion_score": decided.get("champion"),
        "challenger_score": decided.get("challenger"),
        "better_by": outcome.better_by,
        "decided_on": outcome.decided_on,
        "scores": outcome.scores,
        "reasons": outcome.reasons,
        "trigger": outcome.trigger,
        "run_id": outcome.run_id,
        "rows": outcome.rows,
    }
    if outcome.status == "promoted":
        title = f"[{project}] Version {outcome.challenger} promoted to champion"
    elif outcome.challenger is None:
        title = f"[{project}] Retrain stopped; version {outcome.champion} stays champion"
    else:
        title = (
            f"[{project}] Challenger {outcome.challenger} refused; version {outcome.champion} stays"
        )
    ledger.record_event(project, kind, title + ". " + " ".join(outcome.reasons), payload)
    notice = Notice(
        project=project,
        kind=kind,
        title=title,
        text=" ".join(outcome.reasons),
        fields={
            "trigger": outcome.trigger,
            "metric": outcome.metric,
            "champion": decided.get("champion"),
            "challenger": decided.get("challenger"),
        },
        time=datetime.now(timezone.utc),
        key=f"retrain-{outcome.run_id}-{outcome.status}",
    )
    send(loaded, ledger, make_notifier(loaded, ledger), notice)
    return outcome


def _hold_out(
    production: pd.DataFrame, original_train: pd.DataFrame, key: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to train on, the recent holdout): the newest quarter, among rows the champion
    never trained on, so that its score on the holdout is not flattered by memory."""
    wanted = int(len(production) * RECENT_HOLDOUT)
    unseen = production.index
    if key and key in production.columns and key in original_train.columns:
        seen = set(original_train[key].astype(str))
        unseen = production.index[~production[key].astype(str).isin(seen)]
    held = unseen[len(unseen) - min(wanted, len(unseen)) :]
    return production.drop(index=held), production.loc[held]


def _combine(
    loaded: LoadedCharter, original: pd.DataFrame, production: pd.DataFrame
) -> pd.DataFrame:
    """Original rows plus production rows; a production row replaces an original with its id."""
    import pandas as pd

    charter = loaded.charter
    columns = list(original.columns)
    production = production.reindex(columns=columns)
    key = charter.data.id
    if key and key in original.columns:
        original = original[~original[key].astype(str).isin(production[key].astype(str))]
    combined = pd.concat([_plain(original), production], ignore_index=True)
    cap = charter.monitor.retrain.max_rows
    if cap is not None and len(combined) > cap:
        combined = combined.iloc[len(combined) - cap :]  # production rows come last: newest
    return combined.reset_index(drop=True)


def _typed(frame: pd.DataFrame, charter: Any) -> pd.DataFrame:
    from charter.data import check_contract

    return check_contract(frame, charter, source="the recent holdout").typed


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Parquet with one type per column: mixed object columns are written as text."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object:
            kinds = {type(v) for v in out[name].dropna()}
            if len(kinds) > 1 and not kinds <= {int, float}:
                out[name] = out[name].map(lambda v: v if pd.isna(v) else str(v))
    out.to_parquet(path, index=False)


def _with_source(loaded: LoadedCharter, data_path: Path) -> LoadedCharter:
    """The same charter, reading its data from the retrain set (same text: same revision)."""
    from dataclasses import replace

    charter = loaded.charter
    # Only the file: a query or a table left beside it would be read instead of it.
    source = charter.data.source.model_copy(
        update={
            "path": str(data_path),
            "format": "parquet",
            "delimiter": None,
            "encoding": None,
            "query": None,
            "url": None,
            "url_env": None,
            "table": None,
        }
    )
    data = charter.data.model_copy(update={"source": source})
    return replace(loaded, charter=charter.model_copy(update={"data": data}))
