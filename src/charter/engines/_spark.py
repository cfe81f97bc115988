"""The Spark engine: the same partial aggregates as pandas, computed on the executors.

Each partition is read as Arrow batches (`mapInPandas`), gathered into chunks of at most
`chunk_rows` rows, and summarised by the very functions the pandas engine uses
(`column_stats_of`, `crosstab_of`, `Outside.of`); the partition's partials are merged on
the executor and only they (a few kilobytes per column) travel to the driver, where they
are merged again. No row is collected to the driver. Because the partials merge exactly,
the statistics equal the pandas engine's on the same rows: counts, sums, the distinct
sketch and the quantile sketch's buckets bit for bit.

Duplicate rows are counted by a `groupBy` over the columns (a shuffle, never a collect).
Cross-tables give each row a label, so that the two folds of the leakage screen hold the
same rows as on pandas: its value in the `ROW_LABEL` column when the frame has one (the
row's label in the source, kept through filters; the column is not data), else its
position in the frame (partition offsets counted first).
"""

from __future__ import annotations

import functools
import os
import pickle
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pandas as pd

from charter.engines._drift_counts import DriftCounts, DriftPlan, count_columns
from charter.engines._engine import DEFAULT_CHUNK_ROWS, Engine, count_chunk, merge_counts
from charter.engines._partials import (
    TOP_CAP,
    Binning,
    ColumnStats,
    Crosstab,
    Outside,
    RowCounts,
    column_stats_of,
    crosstab_of,
    merge_maps,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MASTER = "local[*]"
# Quiet, small defaults for one machine; a charter's `engine.conf` overrides any of them.
DEFAULT_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.shuffle.partitions": "8",
}
_PANDAS_WARNING = "PySpark does not yet fully support pandas"
_PARTIAL = "partial"
_SEGMENT_GLOB = "segment-*.parquet"
_ROWS = "__charter_rows"
#: A column holding each row's label (as pandas would index it); not a data column.
ROW_LABEL = "__charter_row_label"
# monotonically_increasing_id() holds the partition id above bit 33, the position below.
_POSITION_BITS = 33

T = TypeVar("T")


@contextmanager
def quiet_pandas_version() -> Iterator[None]:
    """Silence pyspark's warning that it is not tested with pandas 3 (charter is)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        # pyspark 4's Arrow conversion passes pandas 3 a deprecated `copy` keyword.
        warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
        yield


def spark_session(
    master: str = DEFAULT_MASTER, conf: Mapping[str, str] | None = None, *, app: str = "charter"
) -> SparkSession:
    """A SparkSession (the active one when it exists) with charter's defaults under `conf`.

    The Python workers run this interpreter unless PYSPARK_PYTHON says otherwise, so
    that they import the same charter, pandas and pyarrow as the driver.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app)
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    with quiet_pandas_version():
        return builder.getOrCreate()


@dataclass(frozen=True)
class GroupedRowCounts(RowCounts):
    """Row counts aggregated on the executors: how many rows, how many repeat another.

    The pandas engine keeps a count per row hash; on Spark that map would be as large as
    the data, so the `groupBy` result is reduced to the two numbers the audit reads.
    `counts` stays empty.
    """

    total: int = 0
    repeated: int = 0

    def merge(self, other: RowCounts) -> RowCounts:
        return GroupedRowCounts(
            total=self.rows + other.rows, repeated=self.duplicates + other.duplicates
        )

    @property
    def rows(self) -> int:
        return self.total

    @property
    def duplicates(self) -> int:
        return self.repeated


class SparkEngine(Engine):
    """Statistics of a pyspark DataFrame, computed per partition and merged on the driver.

    `session` is used when given; otherwise one is started on first use from `master` and
    `conf` (`spark_session`). `chunk_rows` bounds the rows an executor summarises at once.
    """

    name: ClassVar[str] = "spark"

    def __init__(
        self,
        session: SparkSession | None = None,
        *,
        master: str = DEFAULT_MASTER,
        conf: Mapping[str, str] | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1. Got {chunk_rows} instead.")
        self._session = session
        self.master = master
        self.conf = dict(conf or {})
        self.chunk_rows = chunk_rows

    def __repr__(self) -> str:
        return f"SparkEngine(master={self.master!r}, chunk_rows={self.chunk_rows})"

    @property
    def session(self) -> SparkSession:
        """The engine's SparkSession, started on first use."""
        if self._session is None:
            self._session = spark_session(self.master, self.conf)
        return self._session

    def describe(self) -> dict[str, Any]:
        master = self._session.sparkContext.master if self._session is not None else self.master
        return {**super().describe(), "master": master}

    # -- frames -------------------------------------------------------------------------------

    def frame_of(self, frame: pd.DataFrame) -> DataFrame:
        """A pandas frame as a Spark DataFrame (for tests and small tables)."""
        with quiet_pandas_version():
            return self.session.createDataFrame(frame)

    def read_parquet(self, *paths: str) -> DataFrame:
        """Parquet files or folders as one Spark DataFrame."""
        return self.session.read.parquet(*paths)

    def count_rows(self, frame: DataFrame) -> int:
        return int(frame.count())

    def columns(self, frame: DataFrame) -> list[str]:
        return [str(name) for name in frame.columns if name != ROW_LABEL]

    def to_pandas(
        self, frame: DataFrame, *, sample_rows: int | None = None, seed: int = 7
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The frame on the driver, for training: whole, or a seeded sample of `sample_rows`.

        Returns the pandas frame and what to record in the lineage: {"engine", "rows" (in
        the source), "kept", "sampled", "sample_rows", "seed", "method"}. The sample is
        uniform without replacement (rows ordered by a seeded random key, the first kept).
        """
        from pyspark.sql import functions as F

        rows = self.count_rows(frame)
        sampled = sample_rows is not None and rows > sample_rows
        chosen = frame
        if sample_rows is not None and sampled:
            chosen = frame.orderBy(F.rand(seed)).limit(sample_rows)
        with quiet_pandas_version():
            local = chosen.toPandas()
        lineage = {
            "engine": self.name,
            "rows": rows,
            "kept": len(local),
            "sampled": sampled,
            "sample_rows": sample_rows,
            "seed": seed if sampled else None,
            "method": "uniform without replacement: orderBy(rand(seed)).limit(sample_rows)"
            if sampled
            else "whole",
        }
        return local, lineage

    # -- the engine's statistics ---------------------------------------------------------------

    def column_stats(
        self, frame: DataFrame, columns: Sequence[str] | None = None, *, top: int = TOP_CAP
    ) -> dict[str, ColumnStats]:
        names = self.columns(frame) if columns is None else list(columns)
        selected = summarisable(frame.select(*[spark_column(name) for name in names]))

        def summarise(chunk: pd.DataFrame) -> dict[str, ColumnStats]:
            return {name: column_stats_of(chunk[name], name=name, top=top) for name in names}

        merged: dict[str, ColumnStats] = {}
        for part in self._partials(selected, summarise, merge_maps, with_labels=False):
            merged = merge_maps(merged, part)
        return merged

    def row_counts(self, frame: DataFrame, columns: Sequence[str]) -> RowCounts:
        from pyspark.sql import functions as F

        groups = frame.groupBy(*[spark_column(name) for name in columns]).count()
        row = groups.agg(
            F.sum("count").alias("rows"),
            F.sum(F.col("count") - 1).alias("repeated"),
        ).first()
        rows = int(row["rows"] or 0) if row is not None else 0
        repeated = int(row["repeated"] or 0) if row is not None else 0
        return GroupedRowCounts(total=rows, repeated=repeated)

    def crosstabs(
        self,
        frame: DataFrame,
        target: str,
        binnings: Mapping[str, Binning],
        *,
        classes: tuple[Any, ...] | None,
    ) -> dict[str, Crosstab]:
        needed = list(dict.fromkeys([target, *(b.column for b in binnings.values())]))
        if ROW_LABEL in frame.columns:
            needed.append(ROW_LABEL)
        selected = summarisable(frame.select(*[spark_column(name) for name in needed]))
        cuts = dict(binnings)

        def tabulate(chunk: pd.DataFrame) -> dict[str, Crosstab]:
            return {
                label: crosstab_of(chunk, binning, target, classes)
                for label, binning in cuts.items()
            }

        merged: dict[str, Crosstab] = {}
        for part in self._partials(selected, tabulate, merge_maps, with_labels=True):
            merged = merge_maps(merged, part)
        return merged

    def outside(self, frame: DataFrame, fences: Mapping[str, tuple[float, float]]) -> Outside:
        from pyspark.sql import functions as F

        if not fences:
            return Outside({})
        aggregates = []
        for position, (column, (low, high)) in enumerate(fences.items()):
            value = spark_column(column).cast("double")
            # Spark orders NaN above every number: leave it out, as pandas' comparisons do.
            number = value.isNotNull() & ~F.isnan(value)
            aggregates.append(
                F.sum(F.when(number & (value < float(low)), 1).otherwise(0)).alias(f"l{position}")
            )
            aggregates.append(
                F.sum(F.when(number & (value > float(high)), 1).otherwise(0)).alias(f"h{position}")
            )
        row = frame.agg(*aggregates).first()
        counts = {
            column: (int(row[f"l{i}"] or 0), int(row[f"h{i}"] or 0)) if row is not None else (0, 0)
            for i, column in enumerate(fences)
        }
        return Outside(counts)

    def drift_counts(
        self, frame: DataFrame, plan: DriftPlan, *, prediction: str | None = None
    ) -> DriftCounts:
        if prediction is not None:
            count_chunk(plan, pd.DataFrame(columns=list(frame.columns)), prediction)
        from pyspark.sql import functions as F

        names = [name for name in frame.columns if name in plan.features or name == prediction]
        # Without a planned column the batches would carry no rows to count: keep a marker.
        kept = [spark_column(name) for name in names] or [F.lit(0).alias(_ROWS)]
        selected = frame.select(*kept)

        def count(chunk: pd.DataFrame) -> DriftCounts:
            return count_chunk(plan, chunk, prediction)

        combine = merge_counts(plan)
        return functools.reduce(
            combine, self._partials(selected, count, combine, with_labels=False)
        )

    # -- the prediction log ---------------------------------------------------------------------

    def read_log(self, folder: str | os.PathLike[str]) -> DataFrame:
        """The compacted (Parquet) segments of a prediction log folder, as one DataFrame.

        Segments still being written (JSON lines) are left to the log's own reader; a folder
        without a compacted segment is a DataError.
        """
        from pathlib import Path

        from charter.errors import DataError

        root = Path(folder)
        paths = sorted(str(path) for path in root.glob(_SEGMENT_GLOB))
        if not paths:
            raise DataError(
                f"The prediction log folder '{root}' must hold compacted segments "
                f"({_SEGMENT_GLOB}). Got none there instead."
            )
        return self.session.read.parquet(*paths)

    def log_drift_counts(
        self,
        log: DataFrame,
        plan: DriftPlan,
        *,
        prediction: Callable[[list[dict[str, Any]]], Any] | None = None,
    ) -> DriftCounts:
        """The drift counts of the served predictions of a log (`read_log`), on the executors.

        Each record's `input` (JSON text) becomes a row as `pd.DataFrame.from_records`
        makes it from the log reader's dicts, so values normalise exactly as on pandas;
        failed requests (an `error` in the output or the record) are left out.
        `prediction` turns a chunk's output dicts into the model's outputs (one per row).
        """
        needed = [name for name in ("input", "output", "extra") if name in log.columns]
        selected = log.select(*needed)

        def count(chunk: pd.DataFrame) -> DriftCounts:
            inputs, outputs = _served(chunk)
            rows = pd.DataFrame.from_records(inputs) if inputs else pd.DataFrame()
            columns = {name: rows[name] for name in plan.features if name in rows.columns}
            predicted = prediction(outputs) if prediction is not None and outputs else None
            return count_columns(plan, columns, predicted, rows=len(inputs))

        combine = merge_counts(plan)
        return functools.reduce(
            combine, self._partials(selected, count, combine, with_labels=False)
        )

    # -- the partition machinery ----------------------------------------------------------------

    def partition_offsets(self, frame: DataFrame) -> dict[int, int]:
        """The position in the frame of each partition's first row (partitions in order)."""
        from pyspark.sql import functions as F

        sizes = frame.select(F.spark_partition_id().alias("p")).groupBy("p").count().collect()
        offsets: dict[int, int] = {}
        position = 0
        for row in sorted(sizes, key=lambda row: int(row["p"])):
            offsets[int(row["p"])] = position
            position += int(row["count"])
        return offsets

    def _partials(
        self,
        frame: DataFrame,
        compute: Callable[[pd.DataFrame], T],
        combine: Callable[[T, T], T],
        *,
        with_labels: bool,
    ) -> list[T]:
        """`compute` over every chunk of every partition, merged per partition, collected."""
        labelled = ROW_LABEL in frame.columns
        offsets = self.partition_offsets(frame) if with_labels and not labelled else {}
        chunk_rows = self.chunk_rows

        def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            from pyspark import TaskContext

            context = TaskContext.get()
            start = offsets.get(context.partitionId(), 0) if context is not None else 0
            named = (batch.set_axis(names, axis=1) for batch in batches)
            chunks = _chunked(named, chunk_rows, start=start, labelled=with_labels and not labelled)
            parts = [compute(_own_labels(chunk) if labelled else chunk) for chunk in chunks]
            if parts:
                yield pd.DataFrame({_PARTIAL: [pickle.dumps(functools.reduce(combine, parts))]})

        # mapInPandas resolves a name like "amount.usd" as a struct field: hand it plain ones.
        names = list(frame.columns)
        plain = frame.select(*[spark_column(name).alias(f"_c{i}") for i, name in enumerate(names)])
        with quiet_pandas_version():
            rows = plain.mapInPandas(per_partition, f"{_PARTIAL} binary").collect()
            parts: list[T] = [pickle.loads(row[_PARTIAL]) for row in rows]
            if not parts:
                # An empty frame: the pandas engine summarises one empty chunk; so do we.
                parts = [compute(empty_frame(frame))]
        return parts


def spark_column(name: str) -> Any:
    """A Spark column by its name, whatever characters the name holds (dots, spaces, `)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _served(chunk: pd.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The input and output dicts of the chunk's records that were answered, not failed."""
    import orjson

    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    extras = chunk["extra"] if "extra" in chunk.columns else [None] * len(chunk)
    for given, output, extra in zip(chunk["input"], chunk["output"], extras, strict=True):
        answer = orjson.loads(output) if isinstance(output, str) else {}
        others = orjson.loads(extra) if isinstance(extra, str) else {}
        if (isinstance(answer, dict) and "error" in answer) or (
            isinstance(others, dict) and others.get("error")
        ):
            continue
        inputs.append(orjson.loads(given) if isinstance(given, str) else {})
        outputs.append(answer if isinstance(answer, dict) else {})
    return inputs, outputs


def _chunked(
    batches: Iterator[pd.DataFrame], chunk_rows: int, *, start: int, labelled: bool
) -> Iterator[pd.DataFrame]:
    """Arrow batches regrouped into chunks of at most `chunk_rows` rows, labelled by position."""
    pending: list[pd.DataFrame] = []
    held = 0
    position = start
    for batch in batches:
        pending.append(batch)
        held += len(batch)
        while held >= chunk_rows:
            joined = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
            chunk, rest = joined.iloc[:chunk_rows], joined.iloc[chunk_rows:]
            yield _labelled(chunk, position, labelled)
            position += len(chunk)
            pending, held = ([rest], len(rest)) if len(rest) else ([], 0)
    if held:
        joined = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
        yield _labelled(joined, position, labelled)


def _own_labels(chunk: pd.DataFrame) -> pd.DataFrame:
    """The chunk indexed by its `ROW_LABEL` column, which leaves the data."""
    labels = chunk.pop(ROW_LABEL).to_numpy(dtype="int64")
    chunk.index = pd.Index(labels)
    return chunk


def _labelled(chunk: pd.DataFrame, start: int, labelled: bool) -> pd.DataFrame:
    chunk = chunk.reset_index(drop=True)
    if labelled:
        chunk.index = pd.RangeIndex(start, start + len(chunk))
    return chunk


def empty_frame(frame: DataFrame) -> pd.DataFrame:
    """A pandas frame without rows whose columns have the dtypes Arrow would give."""
    from pyspark.sql import types as T

    def dtype(kind: Any) -> str:
        if isinstance(kind, T.IntegralType):
            return "int64"
        if isinstance(kind, T.FractionalType):
            return "float64"
        if isinstance(kind, T.BooleanType):
            return "bool"
        if isinstance(kind, T.TimestampType | T.TimestampNTZType):
            return "datetime64[ns]"
        return "object"

    return pd.DataFrame(
        {field.name: pd.Series([], dtype=dtype(field.dataType)) for field in frame.schema.fields}
    )


def summarisable(frame: DataFrame) -> DataFrame:
    """The frame with its columns as the partials read them on pandas.

    Booleans and decimals become doubles (pandas counts booleans as 0/1 numbers; Arrow
    would hand decimals over as Python objects, i.e. text); dates become timestamps.
    """
    from pyspark.sql import types as T

    columns = []
    for field in frame.schema.fields:
        column = spark_column(field.name)
        if isinstance(field.dataType, T.BooleanType | T.DecimalType):
            column = column.cast("double")
        elif isinstance(field.dataType, T.DateType):
            column = column.cast("timestamp")
        columns.append(column.alias(field.name))
    return frame.select(*columns)


def row_number_of(identifier: int, offsets: Mapping[int, int]) -> int:
    """The 1-based row number of a `monotonically_increasing_id()` value, given offsets."""
    partition = identifier >> _POSITION_BITS
    position = identifier & ((1 << _POSITION_BITS) - 1)
    return offsets.get(partition, 0) + position + 1
