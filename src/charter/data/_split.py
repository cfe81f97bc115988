"""Cut the holdout: random, stratified by the target, or the latest rows by time.

The cut is deterministic: the same frame and the same `data.split` (method, test
fraction, seed) give the same rows on each side. Train and test keep the frame's row
labels; random and stratified parts are in row order, time parts in time order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from charter.data._contract import as_text
from charter.data._findings import Finding, jsonable, plural, show
from charter.errors import DataError
from charter.spec.schema import Charter

OVERLAP_WARNING = 0.01
_EXAMPLES = 5


@dataclass(frozen=True)
class Split:
    """The training and test rows, and how they were cut.

    Not to be confused with `charter.spec.schema.Split`, the charter's `data.split`
    section: this is its result. `method` is the method used, which differs from the one
    asked for when `note` says why (a stratified split of a class with one row falls back
    to random).
    """

    train: pd.DataFrame
    test: pd.DataFrame
    method: str
    requested: str
    test_fraction: float
    seed: int
    note: str | None = None
    classes: dict[str, dict[str, int]] | None = None
    time_bounds: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The split as JSON data.

        Shape: {"method": "random"|"stratified"|"time", "requested": str,
        "test_fraction": float, "seed": int, "train_rows": int, "test_rows": int,
        "note": str|None, "classes": {"train": {class: rows}, "test": {class: rows}}|None,
        "time": {"train_until": ISO text, "test_from": ISO text}|None}.
        """
        return {
            "method": self.method,
            "requested": self.requested,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "train_rows": len(self.train),
            "test_rows": len(self.test),
            "note": self.note,
            "classes": jsonable(self.classes),
            "time": jsonable(self.time_bounds),
        }


def split(frame: pd.DataFrame, charter: Charter) -> Split:
    """Split `frame` into train and test per `charter.data.split` (deterministic).

    The test part holds ceil(test * rows) rows. Raises DataError when there are too few
    rows for both parts, and for a time split when the timestamp is missing or empty.
    """
    settings = charter.data.split
    rows = len(frame)
    test_rows = math.ceil(settings.test * rows)
    if rows < 2 or test_rows >= rows:
        raise DataError(
            f"A train/test split needs at least 2 rows, with at least one on each side. "
            f"Got {plural(rows, 'row')} (test fraction {settings.test}) instead."
        )
    target = charter.objective.target
    method, note = settings.method, None
    time_bounds: dict[str, Any] | None = None
    if method == "time":
        train_positions, test_positions, time_bounds = _by_time(frame, charter, test_rows)
    else:
        stratify: pd.Series | None = None
        if method == "stratified":
            if charter.objective.task == "regression":
                method, note = "random", "A regression target has no classes to stratify by."
            else:
                stratify, note = _strata(frame[target], test_rows)
                if stratify is None:
                    method = "random"
        train_positions, test_positions = _shuffled(rows, test_rows, settings.seed, stratify)
    train = frame.iloc[train_positions]
    test = frame.iloc[test_positions]
    classes = None
    if charter.objective.task != "regression":
        classes = {"train": _class_counts(train[target]), "test": _class_counts(test[target])}
    return Split(
        train=train,
        test=test,
        method=method,
        requested=settings.method,
        test_fraction=settings.test,
        seed=settings.seed,
        note=note,
        classes=classes,
        time_bounds=time_bounds,
    )


def _labels(series: pd.Series) -> pd.Series:
    return series.map(lambda value: "(missing)" if pd.isna(value) else as_text(value))


def _class_counts(series: pd.Series) -> dict[str, int]:
    counts = _labels(series).value_counts()
    return {str(key): int(value) for key, value in sorted(counts.items())}


def _strata(target: pd.Series, test_rows: int) -> tuple[pd.Series | None, str | None]:
    labels = _labels(target)
    counts = labels.value_counts()
    rows = len(labels)
    if int(counts.min()) < 2:
        rare = counts.index[int(np.argmin(counts.to_numpy()))]
        return None, (
            f"Class {rare!r} has a single row, so the split cannot be stratified; it is random."
        )
    if test_rows < len(counts) or rows - test_rows < len(counts):
        return None, (
            f"Each side needs a row of each of the {len(counts)} classes to stratify; with "
            f"{plural(test_rows, 'test row')} the split is random."
        )
    return labels, None


def _shuffled(
    rows: int, test_rows: int, seed: int, stratify: pd.Series | None
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    positions = np.arange(rows)
    train, test = train_test_split(
        positions,
        test_size=test_rows,
        random_state=seed,
        shuffle=True,
        stratify=None if stratify is None else stratify.to_numpy(),
    )
    return np.sort(train), np.sort(test)


def _by_time(
    frame: pd.DataFrame, charter: Charter, test_rows: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    column = charter.data.timestamp
    if column is None or column not in frame.columns:
        raise DataError(
            "A time split needs data.timestamp to name a column of the data. "
            f"Got {column!r} instead."
        )
    stamps = frame[column]
    missing = stamps.isna().to_numpy()
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"The timestamp '{column}' must be present in every row for a time split. Got "
            f"{plural(int(missing.sum()), 'row')} without one (e.g. row {first + 1}) instead."
        )
    order = np.argsort(stamps.to_numpy(), kind="stable")
    cut = len(order) - test_rows
    train, test = order[:cut], order[cut:]
    bounds = {
        "train_until": stamps.iloc[int(train[-1])],
        "test_from": stamps.iloc[int(test[0])],
    }
    return train, test, bounds


def overlap_findings(train: pd.DataFrame, test: pd.DataFrame, charter: Charter) -> list[Finding]:
    """A `train_test_overlap` finding when rows sit on both sides of the split.

    With a `data.id`, the same id on both sides (an error: the holdout holds rows the
    model trained on); without one, test rows that repeat a training row in every feature
    (a warning from 1% of the test rows, else info).
    """
    id_column = charter.data.id
    if id_column and id_column in train.columns and id_column in test.columns:
        seen = set(train[id_column].dropna().tolist())
        shared = test[id_column][test[id_column].isin(seen)]
        ids = list(dict.fromkeys(shared.tolist()))
        if not ids:
            return []
        return [
            Finding(
                "train_test_overlap",
                "error",
                id_column,
                f"{plural(len(ids), 'id')} of {id_column} appear in both the training and the "
                f"test rows (e.g. {', '.join(show(value) for value in ids[:3])}): the holdout "
                f"score would flatter the model; make {id_column} unique.",
                {
                    "by": "id",
                    "ids": len(ids),
                    "test_rows": len(shared),
                    "examples": ids[:_EXAMPLES],
                },
            )
        ]
    data = charter.data
    skip = {charter.objective.target, data.id, data.timestamp, *data.exclude}
    features = [str(name) for name in train.columns if str(name) not in skip]
    if not features or len(test) == 0:
        return []
    train_hashes = pd.util.hash_pandas_object(train[features], index=False)
    test_hashes = pd.util.hash_pandas_object(test[features], index=False)
    repeated = test_hashes.isin(set(train_hashes.tolist())).to_numpy()
    count = int(repeated.sum())
    if count == 0:
        return []
    share = count / len(test)
    rows = [int(position) + 1 for position in np.flatnonzero(repeated)[:_EXAMPLES]]
    return [
        Finding(
            "train_test_overlap",
            "warning" if share >= OVERLAP_WARNING else "info",
            None,
            f"{plural(count, 'test row')} ({share:.2%}) repeat a training row in every feature: "
            "the holdout score may flatter the model a little; drop exact duplicates before "
            "splitting if they are not genuine repeats.",
            {
                "by": "features",
                "test_rows": count,
                "share": share,
                "test_positions": rows,
                "features": len(features),
            },
        )
    ]
