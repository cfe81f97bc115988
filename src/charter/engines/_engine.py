"""The frame-engine boundary: a small base class, and pandas as the real default.

An engine turns a frame into partial aggregates (`charter.engines._partials`). The pandas
engine cuts the frame into chunks of `chunk_rows` rows, computes the partials of each
chunk and merges them, so the audit never holds more than one chunk's intermediate state
and a distributed engine (Spark) can return the same partials from its partitions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd

from charter.engines._drift_counts import DriftCounts, DriftError, DriftPlan, count_columns
from charter.engines._partials import (
    SKETCH_ALPHA,
    TOP_CAP,
    Binning,
    ColumnStats,
    Crosstab,
    Outside,
    RowCounts,
    column_stats_of,
    crosstab_of,
    merge_all,
    merge_maps,
)
from charter.errors import CharterError

DEFAULT_CHUNK_ROWS = 100_000


class EngineError(CharterError):
    """A frame engine that cannot be used as asked (unknown, or its library is missing)."""


class Engine(ABC):
    """Computes mergeable statistics over a frame; subclasses choose where the rows live.

    Every method returns the merged partial for the whole frame. `frame` is whatever the
    engine reads (a pandas DataFrame for `PandasEngine`).
    """

    name: ClassVar[str] = "engine"

    def count_rows(self, frame: Any) -> int:
        """How many rows `frame` holds."""
        return len(frame)

    def columns(self, frame: Any) -> list[str]:
        """The names of the frame's data columns, in order."""
        return [str(name) for name in frame.columns]

    def describe(self) -> dict[str, Any]:
        """What ran, for the evidence: the engine's name and how its quantiles are estimated."""
        return {
            "name": self.name,
            "quantiles": {"method": "ddsketch", "relative_error": SKETCH_ALPHA},
            "sampled": False,
        }

    @abstractmethod
    def column_stats(
        self, frame: Any, columns: Sequence[str] | None = None, *, top: int = TOP_CAP
    ) -> dict[str, ColumnStats]:
        """Statistics of each column (all when `columns` is None)."""

    @abstractmethod
    def row_counts(self, frame: Any, columns: Sequence[str]) -> RowCounts:
        """How many rows share each distinct combination of `columns`."""

    @abstractmethod
    def crosstabs(
        self,
        frame: Any,
        target: str,
        binnings: Mapping[str, Binning],
        *,
        classes: tuple[Any, ...] | None,
    ) -> dict[str, Crosstab]:
        """A target cross-table per named binning (classification when `classes` is given)."""

    @abstractmethod
    def outside(self, frame: Any, fences: Mapping[str, tuple[float, float]]) -> Outside:
        """How many values of each column fall below and above its (low, high) fences."""

    @abstractmethod
    def drift_counts(
        self, frame: Any, plan: DriftPlan, *, prediction: str | None = None
    ) -> DriftCounts:
        """The frame's drift counts by `plan` (`charter.engines._drift_counts` has the rules).

        `prediction` names the column holding the model's outputs, counted as the plan's
        prediction; a planned feature the frame lacks is counted as absent.
        """


def count_chunk(plan: DriftPlan, chunk: pd.DataFrame, prediction: str | None) -> DriftCounts:
    """The drift counts of one chunk of rows; `DriftError` when `prediction` is no column."""
    names = {str(name) for name in chunk.columns}
    if prediction is not None and prediction not in names:
        raise DriftError(
            f"The 'prediction' of drift_counts must name a column of the frame. Got "
            f"{prediction!r}, which is not one, instead."
        )
    columns = {name: chunk[name] for name in plan.features if name in names}
    predicted = chunk[prediction] if prediction is not None else None
    return count_columns(plan, columns, predicted, rows=len(chunk))


def merge_counts(plan: DriftPlan) -> Callable[[DriftCounts, DriftCounts], DriftCounts]:
    """How two parts' drift counts merge: added, then unseen levels bounded as the plan says."""

    def merged(first: DriftCounts, second: DriftCounts) -> DriftCounts:
        return first.merge(second).bounded(plan)

    return merged


class PandasEngine(Engine):
    """The default engine: a pandas DataFrame, processed in chunks of `chunk_rows` rows."""

    name: ClassVar[str] = "pandas"

    def __init__(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1. Got {chunk_rows} instead.")
        self.chunk_rows = chunk_rows

    def __repr__(self) -> str:
        return f"PandasEngine(chunk_rows={self.chunk_rows})"

    def chunks(self, frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
        """The frame in consecutive slices of at most `chunk_rows` rows (one when empty)."""
        if len(frame) == 0:
            yield frame
            return
        for start in range(0, len(frame), self.chunk_rows):
            yield frame.iloc[start : start + self.chunk_rows]

    def column_stats(
        self, frame: pd.DataFrame, columns: Sequence[str] | None = None, *, top: int = TOP_CAP
    ) -> dict[str, ColumnStats]:
        names = [str(name) for name in frame.columns] if columns is None else list(columns)
        parts = (
            {name: column_stats_of(chunk[name], name=name, top=top) for name in names}
            for chunk in self.chunks(frame)
        )
        merged: dict[str, ColumnStats] = {}
        for part in parts:
            merged = merge_maps(merged, part)
        return merged

    def row_counts(self, frame: pd.DataFrame, columns: Sequence[str]) -> RowCounts:
        selected = frame[list(columns)]
        return merge_all(RowCounts.of(chunk) for chunk in self.chunks(selected))

    def crosstabs(
        self,
        frame: pd.DataFrame,
        target: str,
        binnings: Mapping[str, Binning],
        *,
        classes: tuple[Any, ...] | None,
    ) -> dict[str, Crosstab]:
        merged: dict[str, Crosstab] = {}
        for chunk in self.chunks(frame):
            part = {
                label: crosstab_of(chunk, binning, target, classes)
                for label, binning in binnings.items()
            }
            merged = merge_maps(merged, part)
        return merged

    def outside(self, frame: pd.DataFrame, fences: Mapping[str, tuple[float, float]]) -> Outside:
        return merge_all(Outside.of(chunk, fences) for chunk in self.chunks(frame))

    def drift_counts(
        self, frame: pd.DataFrame, plan: DriftPlan, *, prediction: str | None = None
    ) -> DriftCounts:
        combine = merge_counts(plan)
        counts: DriftCounts | None = None
        for chunk in self.chunks(frame):
            part = count_chunk(plan, chunk, prediction)
            counts = part if counts is None else combine(counts, part)
        assert counts is not None  # chunks() yields at least one chunk
        return counts
