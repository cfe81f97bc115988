"""Frame engines: where the audit's statistics are computed, as partial aggregates that merge.

`Engine` is the boundary (a small base class); `PandasEngine` is the real default, which
cuts a frame into chunks and merges each chunk's partials. The partials (`ColumnStats`,
`RowCounts`, `Crosstab`, `Outside` and their parts) merge associatively, so a Spark
engine can compute them per partition and return the same evidence.
"""

from charter.engines._engine import DEFAULT_CHUNK_ROWS, Engine, PandasEngine
from charter.engines._partials import (
    MISSING,
    OTHER,
    Binning,
    ColumnStats,
    Crosstab,
    DistinctSketch,
    ExactSum,
    Outside,
    QuantileSketch,
    RowCounts,
    TopValues,
    column_kind,
    column_stats_of,
    crosstab_of,
    folds_of,
    hash_values,
    merge,
    merge_all,
    merge_maps,
    plain,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "MISSING",
    "OTHER",
    "Binning",
    "ColumnStats",
    "Crosstab",
    "DistinctSketch",
    "Engine",
    "ExactSum",
    "Outside",
    "PandasEngine",
    "QuantileSketch",
    "RowCounts",
    "TopValues",
    "column_kind",
    "column_stats_of",
    "crosstab_of",
    "folds_of",
    "hash_values",
    "merge",
    "merge_all",
    "merge_maps",
    "plain",
]
