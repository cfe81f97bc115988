"""Delayed labels by prediction id: idempotent, safe across threads and processes.

The labels live in the log folder's SQLite database (`feedback.sqlite`, WAL journal, full
sync), beside the index of logged prediction ids that the log's writer thread keeps:

    feedback(seq INTEGER PRIMARY KEY AUTOINCREMENT, prediction_id TEXT UNIQUE, label TEXT,
             at TEXT, received_at TEXT)

`label` is the label as JSON text; `at` is when the label was observed, `received_at` when
it was recorded (ISO 8601, UTC). Each `record_many` call is one `BEGIN IMMEDIATE`
transaction: it holds the database's write lock while it checks and inserts, so of any
number of concurrent posts of one id, in any number of processes, exactly one creates it.
`seq` grows in commit order (SQLite commits one writer at a time), so a reader that keeps
the last `seq` it saw misses nothing (`labels(since=...)`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from charter.serving._log import DATABASE_NAME, PredictionLogError, connect_database

Label = str | int | float | bool
FeedbackOutcome = Literal["created", "duplicate", "conflict", "unknown", "refused"]


class _KnowsIds(Protocol):
    def knows(self, prediction_id: str) -> bool: ...


@dataclass(frozen=True)
class Feedback:
    """One recorded label: `seq` orders labels by when they were recorded."""

    seq: int
    prediction_id: str
    label: Label
    at: str
    received_at: str


@dataclass(frozen=True)
class FeedbackStats:
    """How this store's `record` calls ended since it was opened (per process)."""

    created: int
    duplicate: int
    conflict: int
    unknown: int
    refused: int


def _utc_text(when: datetime | str | None) -> str:
    if when is None:
        return datetime.now(timezone.utc).isoformat()
    if isinstance(when, str):
        try:
            parsed = datetime.fromisoformat(when)
        except ValueError:
            raise ValueError(
                f"The 'at' of a feedback label must be an ISO 8601 time. Got {when!r} instead."
            ) from None
        when = parsed
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # a naive time is taken as UTC
    return when.astimezone(timezone.utc).isoformat()


def _same_label(stored: Any, label: Label) -> bool:
    # 1 and 1.0 are one label; True and 1 are not.
    return bool(stored == label) and isinstance(stored, bool) == isinstance(label, bool)


class FeedbackStore:
    """Records the true label of logged predictions, once per prediction id.

    `record` answers "created" (new), "duplicate" (the same label again: counted once),
    "conflict" (another label is already recorded: refused, HTTP 409), "unknown" (no such
    prediction was logged: refused, HTTP 404) or "refused" (the label is not one of
    `classes`, when given: HTTP 422). An id is known once the log's writer indexed it, or,
    with `log=` the `PredictionLog` of this process, as soon as it was submitted there;
    a prediction logged by another process is known once that process indexed it (within
    one batch of its writer: milliseconds in durable mode, `flush_interval_s` in fast mode).
    """

    def __init__(
        self,
        folder: Path,
        *,
        log: _KnowsIds | None = None,
        classes: Collection[Label] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self._log = log
        self._classes = None if classes is None else frozenset(classes)
        self._lock = threading.Lock()
        self._connection = connect_database(self.folder, synchronous="FULL")
        self._counts = dict.fromkeys(("created", "duplicate", "conflict", "unknown", "refused"), 0)
        self._closed = False

    def __repr__(self) -> str:
        return f"FeedbackStore({str(self.folder)!r})"

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def record(
        self, prediction_id: str, label: Label, *, at: datetime | str | None = None
    ) -> FeedbackOutcome:
        """Record `label` for `prediction_id`; what happened (see the class docstring)."""
        return self.record_many([(prediction_id, label)], at=at)[0]

    def record_many(
        self, items: Iterable[tuple[str, Label]], *, at: datetime | str | None = None
    ) -> list[FeedbackOutcome]:
        """Record several (prediction_id, label) pairs in one transaction; one outcome each."""
        pairs = list(items)
        when = _utc_text(at)
        received = datetime.now(timezone.utc).isoformat()
        outcomes: list[FeedbackOutcome] = []
        with self._lock:
            connection = self._connection
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    for prediction_id, label in pairs:
                        outcomes.append(self._record_one(prediction_id, label, when, received))
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise PredictionLogError(
                    f"The feedback in {self.folder / DATABASE_NAME} cannot be recorded: {error}."
                ) from error
            for outcome in outcomes:
                self._counts[outcome] += 1
        return outcomes

    def _record_one(
        self, prediction_id: str, label: Label, at: str, received: str
    ) -> FeedbackOutcome:
        if self._classes is not None and label not in self._classes:
            return "refused"
        connection = self._connection
        row = connection.execute(
            "SELECT label FROM feedback WHERE prediction_id = ?", (prediction_id,)
        ).fetchone()
        if row is not None:
            return "duplicate" if _same_label(orjson.loads(row[0]), label) else "conflict"
        # The in-memory check first: the writer commits an id to the index before it
        # forgets it, so an id is always in one place or the other.
        if not (self._log is not None and self._log.knows(prediction_id)) and not self._indexed(
            prediction_id
        ):
            return "unknown"
        connection.execute(
            "INSERT INTO feedback (prediction_id, label, at, received_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (prediction_id) DO NOTHING",
            (prediction_id, orjson.dumps(label).decode(), at, received),
        )
        return "created"

    def _indexed(self, prediction_id: str) -> bool:
        row = self._connection.execute(
            "SELECT 1 FROM predictions WHERE prediction_id = ?", (prediction_id,)
        ).fetchone()
        return row is not None

    def is_known(self, prediction_id: str) -> bool:
        """Whether a prediction with this id was logged (see the class docstring)."""
        if self._log is not None and self._log.knows(prediction_id):
            return True
        with self._lock:
            return self._indexed(prediction_id)

    def get(self, prediction_id: str) -> Feedback | None:
        """The label recorded for `prediction_id`, or None."""
        with self._lock:
            row = self._connection.execute(
                "SELECT seq, prediction_id, label, at, received_at FROM feedback "
                "WHERE prediction_id = ?",
                (prediction_id,),
            ).fetchone()
        return None if row is None else _feedback(row)

    def lookup(self, prediction_ids: Iterable[str], *, batch: int = 500) -> dict[str, Feedback]:
        """The labels recorded for any of `prediction_ids`, by id (ids without one are absent).

        One indexed query per `batch` ids, so joining a monitoring window's predictions with
        their labels costs a few queries rather than one per prediction.
        """
        wanted = list(dict.fromkeys(prediction_ids))
        found: dict[str, Feedback] = {}
        for start in range(0, len(wanted), batch):
            part = wanted[start : start + batch]
            marks = ",".join("?" * len(part))
            with self._lock:
                rows = self._connection.execute(
                    "SELECT seq, prediction_id, label, at, received_at FROM feedback "
                    f"WHERE prediction_id IN ({marks})",
                    part,
                ).fetchall()
            for row in rows:
                item = _feedback(row)
                found[item.prediction_id] = item
        return found

    def labels(self, since: int = 0, *, batch: int = 10_000) -> Iterator[Feedback]:
        """Every label recorded after `seq` `since`, in order, `batch` rows at a time.

        Keep the last `seq` seen and pass it next time to read only what is new.
        """
        while True:
            with self._lock:
                rows = self._connection.execute(
                    "SELECT seq, prediction_id, label, at, received_at FROM feedback "
                    "WHERE seq > ? ORDER BY seq LIMIT ?",
                    (since, batch),
                ).fetchall()
            yield from (_feedback(row) for row in rows)
            if len(rows) < batch:
                return
            since = rows[-1][0]

    def stats(self) -> FeedbackStats:
        """How the `record` calls of this store ended so far."""
        with self._lock:
            return FeedbackStats(**self._counts)

    def close(self) -> None:
        """Close the database connection; idempotent."""
        with self._lock:
            if not self._closed:
                self._connection.close()
                self._closed = True


def _feedback(row: Sequence[Any]) -> Feedback:
    seq, prediction_id, label, at, received_at = row
    return Feedback(int(seq), str(prediction_id), orjson.loads(label), str(at), str(received_at))
