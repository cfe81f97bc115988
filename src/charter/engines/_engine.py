"""The frame-engine boundary: a small base class, and pandas as the real default.

An engine turns a frame into partial aggregates (`charter.engines._partials`). The pandas
engine cuts the frame into chunks of `chunk_rows` rows, computes the partials of each
chunk and merges them, so the audit never holds more than one chunk's intermediate state
and a distributed engine (Spark) can return the same partials from its partitions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd

from charter.engines._partials import (
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

DEFAULT_CHUNK_ROWS = 100_000


class Engine(ABC):
    """Computes mergeable statistics over a frame; subclasses choose where the rows live.

    Every method returns the merged partial for the whole frame. `frame` is whatever the
    engine reads (a pandas DataFrame for `PandasEngine`).
    """

    name: ClassVar[str] = "engine"

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
