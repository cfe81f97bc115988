"""Served traffic for monitoring tests: the champion's real predictions, logged as the server logs.

The records go through the registered version's compiled predictor and into a real
prediction log (durable mode), so the monitor reads exactly what `charter serve` writes,
without an HTTP round trip per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from charter.ledger import open_ledger
from charter.lifecycle._score import load_version, resolve_version
from charter.serving import FeedbackStore, PredictionLog
from charter.spec import load_charter

TARGET = "Churn"


def telco_rows(folder: Path, start: int, stop: int) -> pd.DataFrame:
    """Rows [start, stop) of the project's own CSV, as records the server would receive."""
    frame = pd.read_csv(folder / "data" / "telco_churn.csv", keep_default_na=False)
    frame = frame.iloc[start:stop].copy()
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    return frame.reset_index(drop=True)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN: the JSON null a client sends
        return None
    return value.item() if hasattr(value, "item") else value


def serve(
    folder: Path,
    frame: pd.DataFrame,
    *,
    labels: Callable[[pd.Series], Any] | None = None,
    feedback_share: float = 0.0,
    start: datetime | None = None,
    step: timedelta = timedelta(milliseconds=10),
    version: str = "champion",
) -> list[str]:
    """Log the champion's predictions for `frame`; post labels for the first share of rows.

    `labels(row)` gives the label to post (default: the row's own Churn). Returns the
    prediction ids in order.
    """
    loaded = load_charter(folder / "charter.yaml")
    with open_ledger(folder) as ledger:
        record = resolve_version(ledger, loaded.charter.project.name, version)
        model, predictor = load_version(ledger, record)
    assert predictor is not None
    features = frame.drop(columns=[TARGET])
    inputs = [{k: _plain(v) for k, v in row.items()} for row in features.to_dict("records")]
    batch = predictor.predict_records(
        [{k: v for k, v in r.items() if k != "customerID"} for r in inputs]
    )
    keys = [str(c) for c in model.classes]
    when = start or datetime.now(timezone.utc) - timedelta(hours=1)
    ids, records = [], []
    for index, label in enumerate(batch.labels):
        prediction_id = uuid.uuid4().hex
        ids.append(prediction_id)
        output: dict[str, Any] = {"prediction": label}
        if batch.probabilities is not None:
            output["probabilities"] = dict(zip(keys, batch.probabilities[index], strict=True))
        records.append(
            {
                "prediction_id": prediction_id,
                "time": (when + step * index).isoformat(),
                "model_version": str(record.version),
                "input": inputs[index],
                "output": output,
                "latency_ms": 0.4 + (index % 7) * 0.1,
            }
        )
    log_dir = folder / ".charter" / "serving"
    with PredictionLog(log_dir, mode="durable") as log:
        log.append(records)
        log.flush().result(30)
        labelled = int(len(records) * feedback_share)
        if labelled:
            store = FeedbackStore(log_dir, log=log)
            try:
                pick = labels or (lambda row: row[TARGET])
                store.record_many((ids[i], pick(frame.iloc[i])) for i in range(labelled))
            finally:
                store.close()
    return ids
