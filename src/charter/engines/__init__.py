"""Frame engines: where the audit's statistics are computed, as partial aggregates that merge.

`Engine` is the boundary (a small base class); `PandasEngine` is the real default, which
cuts a frame into chunks and merges each chunk's partials. The partials (`ColumnStats`,
`RowCounts`, `Crosstab`, `Outside` and their parts) merge associatively, so `SparkEngine`
computes them per partition, on the executors, and returns the same evidence:

    engine = SparkEngine(master="local[*]", conf={"spark.executor.memory": "4g"})
    table = engine.read_parquet("data/")              # or engine.session.table("db.t")
    report = charter.data.audit(table, charter, engine=engine)   # as with a pandas frame
    counts = engine.drift_counts(table, DriftPlan.from_reference(stats), prediction="score")
    counts = engine.log_drift_counts(engine.read_log(log_folder), plan, prediction=scores_of)
    frame, lineage = engine.to_pandas(table, sample_rows=1_000_000, seed=7)  # for training

Drift counts follow `charter.engines._drift_counts`' counting contract on both engines.
"""

from charter.engines._drift_counts import (
    UNSEEN_OTHER,
    ColumnPlan,
    DriftCounts,
    DriftError,
    DriftPlan,
    FeatureCounts,
    count_columns,
)
from charter.engines._engine import DEFAULT_CHUNK_ROWS, Engine, EngineError, PandasEngine
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
from charter.engines._spark import (
    DEFAULT_MASTER,
    ROW_LABEL,
    GroupedRowCounts,
    SparkEngine,
    quiet_pandas_version,
    row_number_of,
    spark_column,
    spark_session,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_MASTER",
    "MISSING",
    "OTHER",
    "ROW_LABEL",
    "UNSEEN_OTHER",
    "Binning",
    "ColumnPlan",
    "ColumnStats",
    "Crosstab",
    "DistinctSketch",
    "DriftCounts",
    "DriftError",
    "DriftPlan",
    "Engine",
    "EngineError",
    "ExactSum",
    "FeatureCounts",
    "GroupedRowCounts",
    "Outside",
    "PandasEngine",
    "QuantileSketch",
    "RowCounts",
    "SparkEngine",
    "TopValues",
    "column_kind",
    "column_stats_of",
    "count_columns",
    "crosstab_of",
    "folds_of",
    "hash_values",
    "merge",
    "merge_all",
    "merge_maps",
    "plain",
    "quiet_pandas_version",
    "row_number_of",
    "spark_column",
    "spark_session",
]
