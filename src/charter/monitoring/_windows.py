"""Cutting the prediction log into monitoring windows, incrementally and deterministically.

A window holds the predictions of one model version: either the next `predictions`
records of that version in log order (count windows), or the records whose time falls in
one `minutes`-long span (time windows). The cut depends only on the log, so re-reading
the same records yields the same windows with the same keys; the ledger's unique window
key then makes evaluation idempotent however often (or however concurrently) the monitor
runs.

The cutter carries the records of windows not yet complete from one pass to the next in
its JSON state (with the log cursor beside it), so each pass reads only what is new:

    cutter = WindowCutter(WindowSpec(predictions=1000), state=saved)
    done = cutter.add(records)            # complete windows, oldest first
    done += cutter.due(now)               # time windows whose span has ended
    saved = cutter.state()                # JSON; store it with the cursor after `records`
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from charter.errors import CharterError

STATE_VERSION = 1
#: A time window is cut this long after its span ended, so that records still in a
#: writer's buffer (fast mode flushes every 100 ms) are in it.
TIME_GRACE = timedelta(seconds=5)


class WindowError(CharterError):
    """The window specification or a saved cutter state is unusable."""


@dataclass(frozen=True)
class WindowSpec:
    """How windows are cut: by `predictions` per window, or by `minutes` of log time."""

    predictions: int | None = 1000
    minutes: float | None = None
    min_predictions: int = 100

    def __post_init__(self) -> None:
        if (self.predictions is None) == (self.minutes is None):
            raise WindowError(
                "The 'window' of the charter's monitor section must set exactly one of "
                f"'predictions' and 'minutes'. Got predictions={self.predictions!r}, "
                f"minutes={self.minutes!r} instead."
            )
        if self.predictions is not None and self.predictions < 1:
            raise WindowError(
                "The 'predictions' of the monitor window must be at least 1. "
                f"Got {self.predictions!r} instead."
            )
        if self.minutes is not None and not (self.minutes > 0 and math.isfinite(self.minutes)):
            raise WindowError(
                "The 'minutes' of the monitor window must be a positive number. "
                f"Got {self.minutes!r} instead."
            )

    @property
    def label(self) -> str:
        """The part of every window key that names the spec, so a changed spec starts anew."""
        if self.predictions is not None:
            return f"n{self.predictions}"
        return f"t{self.minutes:g}m"


@dataclass(frozen=True)
class CutWindow:
    """One complete window: its key, its version, its span and its records in log order."""

    version: int
    key: str
    start: datetime
    end: datetime
    records: list[dict[str, Any]]

    @property
    def size(self) -> int:
        return len(self.records)


@dataclass
class _Pending:
    index: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)


def record_time(record: Mapping[str, Any]) -> datetime | None:
    """The record's time as an aware UTC datetime, or None when unreadable."""
    text = record.get("time")
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def record_version(record: Mapping[str, Any]) -> int | None:
    """The model version that answered, or None when the record does not say one."""
    value = record.get("model_version")
    try:
        version = int(str(value))
    except (TypeError, ValueError):
        return None
    return version if version >= 1 else None


class WindowCutter:
    """Cuts records into complete windows; see the module docstring.

    `unreadable` counts records without a usable version or time; `late` counts records
    of a time window that was already cut (they are not evaluated, and the count says so).
    """

    def __init__(self, spec: WindowSpec, state: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self._pending: dict[int, _Pending] = {}
        self._cut_until: dict[int, float] = {}  # time windows: per version, cut through
        self.unreadable = 0
        self.late = 0
        if state:
            self._load(state)

    # -- state ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The cutter's state as JSON data: the spec's label and each version's pending."""
        return {
            "version": STATE_VERSION,
            "spec": self.spec.label,
            "pending": {
                str(version): {"index": pending.index, "records": pending.records}
                for version, pending in sorted(self._pending.items())
            },
            "cut_until": {str(v): t for v, t in sorted(self._cut_until.items())},
            "unreadable": self.unreadable,
            "late": self.late,
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        if state.get("version") != STATE_VERSION or not isinstance(state.get("pending"), dict):
            raise WindowError(
                f"The 'version' of the saved monitor state must be {STATE_VERSION}. "
                f"Got {state.get('version')!r} instead. Delete the state file to start over."
            )
        if state.get("spec") != self.spec.label:
            # The charter's window changed: windows restart under the new spec's keys.
            return
        for version, pending in state["pending"].items():
            self._pending[int(version)] = _Pending(int(pending["index"]), list(pending["records"]))
        self._cut_until = {int(v): float(t) for v, t in state.get("cut_until", {}).items()}
        self.unreadable = int(state.get("unreadable", 0))
        self.late = int(state.get("late", 0))

    @property
    def pending_records(self) -> int:
        """How many records wait in windows not yet complete."""
        return sum(len(p.records) for p in self._pending.values())

    # -- cutting -------------------------------------------------------------------------

    def add(self, records: Iterable[Mapping[str, Any]]) -> list[CutWindow]:
        """Take records in log order; return the count windows they completed, oldest first.

        Time windows are only returned by `due`, once their span has ended.
        """
        done: list[CutWindow] = []
        size = self.spec.predictions
        for record in records:
            version = record_version(record)
            when = record_time(record)
            if version is None or when is None:
                self.unreadable += 1
                continue
            # The reader hands over fresh dicts that nobody else keeps: no copy needed.
            kept = record if isinstance(record, dict) else dict(record)
            if size is None:
                self._add_timed(version, when, kept)
                continue
            pending = self._pending.setdefault(version, _Pending())
            pending.records.append(kept)
            if len(pending.records) >= size:
                done.append(self._cut(version, pending, pending.records))
                pending.records = []
        return done

    def _add_timed(self, version: int, when: datetime, record: dict[str, Any]) -> None:
        span = self._span_seconds
        start = math.floor(when.timestamp() / span) * span
        if start <= self._cut_until.get(version, -math.inf):
            self.late += 1
            return
        self._pending.setdefault(version, _Pending()).records.append(record)

    @property
    def _span_seconds(self) -> float:
        assert self.spec.minutes is not None
        return self.spec.minutes * 60.0

    def due(self, now: datetime) -> list[CutWindow]:
        """Time windows whose span ended (plus a grace) before `now`, oldest first."""
        if self.spec.minutes is None:
            return []
        span = self._span_seconds
        limit = (now - TIME_GRACE).timestamp()
        done: list[CutWindow] = []
        for version, pending in sorted(self._pending.items()):
            buckets: dict[float, list[dict[str, Any]]] = {}
            keep: list[dict[str, Any]] = []
            for record in pending.records:
                when = record_time(record)
                assert when is not None  # checked when added
                start = math.floor(when.timestamp() / span) * span
                if start + span <= limit:
                    buckets.setdefault(start, []).append(record)
                else:
                    keep.append(record)
            for start in sorted(buckets):
                begin = datetime.fromtimestamp(start, timezone.utc)
                done.append(
                    CutWindow(
                        version,
                        f"{self.spec.label}-{begin.strftime('%Y%m%dT%H%M%SZ')}",
                        begin,
                        begin + timedelta(seconds=span),
                        buckets[start],
                    )
                )
                self._cut_until[version] = max(self._cut_until.get(version, -math.inf), start)
            pending.records = keep
        done.sort(key=lambda w: (w.start, w.version))
        return done

    def _cut(self, version: int, pending: _Pending, records: list[dict[str, Any]]) -> CutWindow:
        times = [t for t in (record_time(r) for r in records) if t is not None]
        window = CutWindow(
            version,
            f"{self.spec.label}-{pending.index:08d}",
            min(times),
            max(times),
            records,
        )
        pending.index += 1
        return window
