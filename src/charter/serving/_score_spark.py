"""Batch scoring on Spark: a Parquet source or a table in, a Parquet folder of predictions out.

    summary = score_spark(session, artifacts, load, "in.parquet", Path("out.parquet"),
                          id_column="customerID", contract_check=check)

The model travels to the executors as its artifact bytes with their recorded sha256
(`artifacts`: name -> (bytes, sha256)), broadcast once. Each executor's Python worker
checks every artifact's sha256 before `load` unpickles anything, then keeps the loaded
predictor for the next partitions. Partitions are scored with `mapInPandas`, through the
predictor's vectorised path (ONNX, the booster or the dot product on the batch's matrix;
natively otherwise), after the caller's contract check, exactly as `score_file` scores a
chunk; without a check, only the id and the feature columns are read.

The source is read and written once. The scoring function yields only the scored rows,
which Spark writes (its committer makes retries and speculative attempts safe) as the
columns `score_file` writes: the id or `charter_row`, then `prediction` and
`probability_<class>`. The rows the check rejects, as their id (or row number) and the
reasons, are written by the function itself: one Parquet file per partition, named by the
partition id alone and renamed into place from a hidden temporary file when the partition
is done, so a retried or speculative attempt replaces the file instead of adding rows.
They form `<out stem>.rejects.parquet` beside the output. Both folders are written beside
their final path and renamed into place when complete; the counts come from the written
files' Parquet footers, not from reading the rows again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charter.engines import quiet_pandas_version, row_number_of, spark_column
from charter.errors import ArtifactIntegrityError, DataError
from charter.serving._predictor import Predictor, ServingError
from charter.serving._score import (
    PREDICTION,
    PROBABILITY,
    REASONS,
    ROW,
    ContractCheck,
    ScoreSummary,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

#: name -> (bytes, recorded sha256) of the artifacts a predictor is loaded from.
Artifacts = Mapping[str, tuple[bytes, str]]
#: Builds the predictor from checked artifact bytes; runs on the driver and every executor.
LoadPredictor = Callable[[Mapping[str, bytes]], Predictor]

_ID = "__charter_id"
# Predictors loaded in this (executor) process, by the sha256 of their artifacts.
_LOADED: dict[tuple[str, ...], Predictor] = {}


def checked_artifacts(artifacts: Artifacts) -> dict[str, bytes]:
    """The artifacts' bytes, each checked against its recorded sha256 (before any unpickling)."""
    checked: dict[str, bytes] = {}
    for name, (data, recorded) in artifacts.items():
        found = hashlib.sha256(data).hexdigest()
        if found != recorded:
            raise ArtifactIntegrityError(
                f"The artifact '{name}' must match its recorded sha256 {recorded[:12]}… on "
                f"every executor. Got {found[:12]}… instead; it changed on its way there."
            )
        checked[name] = data
    return checked


def loaded_predictor(artifacts: Artifacts, load: LoadPredictor) -> Predictor:
    """The predictor of these artifacts, checked and loaded once per process."""
    key = tuple(sorted(f"{name}:{sha}" for name, (_, sha) in artifacts.items()))
    if key not in _LOADED:
        _LOADED[key] = load(checked_artifacts(artifacts))
    return _LOADED[key]


def score_spark(
    session: SparkSession,
    artifacts: Artifacts,
    load: LoadPredictor,
    source: str | Path | DataFrame,
    out: Path,
    *,
    id_column: str | None,
    contract_check: ContractCheck | None = None,
) -> ScoreSummary:
    """Score a Parquet file or folder (or a DataFrame, e.g. `session.table(name)`) into `out`.

    Raises ArtifactIntegrityError when an artifact does not match its sha256 (on the
    driver, before anything is scored; on an executor, failing the job), DataError for a
    source lacking the id or a feature column, or an output or rejects path that is the
    source or an existing path other than a Spark output folder (nothing is written),
    ServingError for a check that loses rows.
    """
    out = Path(out)
    predictor = loaded_predictor(artifacts, load)
    frame, source_name = _source_frame(session, source)
    features = [str(name) for name in predictor.features]
    needed = list(dict.fromkeys([*([id_column] if id_column else []), *features]))
    lacking = [name for name in needed if name not in frame.columns]
    if lacking:
        raise DataError(
            f"The source '{source_name}' must have the id and feature columns the model needs. "
            f"Got a source without {', '.join(repr(name) for name in lacking)} instead."
        )
    rejects = out.with_name(f"{out.stem}.rejects.parquet")
    if isinstance(source, str | Path) and Path(source).resolve() == out.resolve():
        raise DataError(
            f"The output folder must differ from the source '{source}'. Got the same path instead."
        )
    if isinstance(source, str | Path) and Path(source).resolve() == rejects.resolve():
        raise DataError(
            f"The rejects folder must differ from the source '{source}'. Got the same path "
            "instead; choose another output."
        )
    _check_replaceable(out)
    _check_replaceable(rejects)
    key = id_column or ROW
    outputs = _output_names(predictor, key)
    started = time.perf_counter()
    if contract_check is None:
        # Nothing but the model reads the rows: Parquet then skips the other columns.
        frame = frame.select(*[spark_column(name) for name in needed])
    offsets = None if id_column else _offsets(frame)
    keyed = frame.withColumn(_ID, _monotonic_id()) if offsets is not None else frame
    id_type = _id_type(frame, id_column)
    schema = _spark_schema(predictor, key, id_type, outputs)
    broadcast = session.sparkContext.broadcast(dict(artifacts))
    staging = out.with_name(f".{out.name}.{uuid.uuid4().hex}.staging")
    rejects_staging = rejects.with_name(f".{rejects.name}.{uuid.uuid4().hex}.staging")
    score_partition = _partition_scorer(
        broadcast,
        load,
        contract_check,
        id_column,
        key,
        offsets,
        rejects_staging,
        _rejects_schema(session, key, id_type),
    )
    try:
        rejects_staging.mkdir(parents=True)
        with quiet_pandas_version():
            keyed.mapInPandas(score_partition, schema).write.parquet(str(staging))
        return _publish(staging, out, rejects_staging, rejects, started, source_name, predictor)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(rejects_staging, ignore_errors=True)
        broadcast.unpersist()


def _partition_scorer(
    broadcast: Any,
    load: LoadPredictor,
    check: ContractCheck | None,
    id_column: str | None,
    key: str,
    offsets: Mapping[int, int] | None,
    rejects_folder: Path,
    rejects_schema: pa.Schema,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The `mapInPandas` function: yields a partition's scored rows, writes its rejects aside.

    `broadcast` holds the artifacts (name -> (bytes, sha256)); they are checked and loaded
    once per executor process.
    """
    folder = str(rejects_folder)

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pyspark import TaskContext

        model = loaded_predictor(broadcast.value, load)
        context = TaskContext.get()
        if context is None:
            raise ServingError(
                "The scoring function of score_spark must run in a Spark task. Got a call "
                "outside one instead."
            )
        with _PartitionRejects(folder, context.partitionId(), rejects_schema) as rejects:
            for batch in batches:
                scored, rejected = _scored(model, batch, check, id_column, key, offsets)
                if rejected is not None:
                    rejects.write(rejected)
                if len(scored):
                    yield scored

    return score_partition


class _PartitionRejects:
    """The rejected rows of one partition, as one Parquet file named by the partition id.

        with _PartitionRejects(folder, partition_id, schema) as rejects:
            rejects.write(frame)  # any number of times, as the partition's batches come

    The rows go to a hidden temporary file (readers skip names starting with '.'), renamed
    onto `part-<partition>.parquet` when the block ends without an error: a retried or
    speculative attempt of the partition replaces that file rather than adding rows, and
    an attempt that fails leaves no rows behind. A partition without rejects removes the
    file an earlier attempt may have left, so the folder holds what the last attempt found.
    """

    def __init__(self, folder: str | Path, partition: int, schema: pa.Schema) -> None:
        folder = Path(folder)
        self.path = folder / f"part-{partition:05d}.parquet"
        self._temporary = folder / f".part-{partition:05d}.{uuid.uuid4().hex}.tmp"
        self._schema = schema
        self._writer: Any = None

    def write(self, rows: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self._temporary, self._schema)
        table = pa.Table.from_pandas(rows, schema=self._schema, preserve_index=False)
        self._writer.write_table(table)

    def __enter__(self) -> _PartitionRejects:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
        finally:
            if kind is not None or writer is None:
                self._temporary.unlink(missing_ok=True)
        if kind is None:
            if writer is not None:
                os.replace(self._temporary, self.path)
            else:
                self.path.unlink(missing_ok=True)


def _source_frame(session: SparkSession, source: str | Path | DataFrame) -> tuple[DataFrame, str]:
    if not isinstance(source, str | Path):
        return source, "the table"
    path = Path(source)
    if not path.exists():
        raise DataError(f"The source to score must exist. Got '{path}', which does not, instead.")
    if path.is_file() and path.suffix.lower() not in (".parquet", ".pq"):
        raise DataError(
            f"The source '{path}' must be Parquet (.parquet, .pq or a folder of parts) to be "
            f"scored on Spark. Got {path.suffix or 'no extension'!r} instead."
        )
    return session.read.parquet(str(path)), str(path)


def _check_replaceable(out: Path) -> None:
    """An existing output may be replaced only when it is a Spark output folder."""
    if out.exists() and not (out.is_dir() and (out / "_SUCCESS").exists()):
        raise DataError(
            f"The output '{out}' must be a new path or an earlier Spark output folder. Got "
            "an existing file or folder that is neither instead; move it first."
        )


def _offsets(frame: DataFrame) -> dict[int, int]:
    from charter.engines import SparkEngine

    return SparkEngine(frame.sparkSession).partition_offsets(frame)


def _monotonic_id() -> Any:
    from pyspark.sql import functions as F

    return F.monotonically_increasing_id()


def _output_names(predictor: Predictor, key: str) -> list[str]:
    names = [key, PREDICTION]
    if predictor.task != "regression":
        names += [f"{PROBABILITY}{label}" for label in predictor.classes]
    if len(set(names)) != len(names):
        raise ServingError(
            f"The id column {key!r} must differ from the output's columns {names[1:]}. "
            f"Got {key!r} instead."
        )
    return names


def _id_type(frame: DataFrame, id_column: str | None) -> Any:
    from pyspark.sql import types as T

    if id_column is None:
        return T.LongType()
    return frame.schema[id_column].dataType


def _label_type(predictor: Predictor) -> Any:
    """The Spark type of the prediction column: the type `score_file` writes, in Spark terms."""
    from pyspark.sql import types as T

    from charter.serving._score import _label_type as arrow_label_type

    spark_types = {
        "double": T.DoubleType(),
        "bool": T.BooleanType(),
        "int64": T.LongType(),
        "string": T.StringType(),
    }
    return spark_types[str(arrow_label_type(predictor))]


def _spark_schema(predictor: Predictor, key: str, id_type: Any, names: Sequence[str]) -> Any:
    from pyspark.sql import types as T

    fields = [T.StructField(key, id_type), T.StructField(PREDICTION, _label_type(predictor))]
    fields += [T.StructField(name, T.DoubleType()) for name in names[2:]]
    return T.StructType(fields)


def _rejects_schema(session: SparkSession, key: str, id_type: Any) -> pa.Schema:
    """The Arrow schema of the rejects files: the id (its Spark type) or row number, reasons."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type

    timezone = session.conf.get("spark.sql.session.timeZone")
    key_type = to_arrow_type(id_type, timezone=timezone)
    if pa.types.is_timestamp(key_type):
        key_type = pa.timestamp("us")  # mapInPandas hands timestamps over as naive local times
    return pa.schema([pa.field(key, key_type), pa.field(REASONS, pa.string())])


def _scored(
    predictor: Predictor,
    batch: pd.DataFrame,
    check: ContractCheck | None,
    id_column: str | None,
    key: str,
    offsets: Mapping[int, int] | None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One batch's predictions (the output's columns) and rejected rows (key, reasons; or None)."""
    batch = batch.reset_index(drop=True)
    if offsets is not None:
        keys = pd.Series(_row_numbers(batch[_ID].to_numpy(dtype=np.int64), offsets))
        batch = batch.drop(columns=[_ID])
    else:
        keys = batch[id_column]
    if check is None:
        valid, bad = batch, batch.iloc[:0]
    else:
        valid, bad = check(batch)
        if len(valid) + len(bad) != len(batch):
            raise ServingError(
                "The contract check handed to score_spark must return every row of a batch "
                f"once. Got {len(valid)} valid and {len(bad)} rejected rows of {len(batch)}."
            )
    scores = predictor.score_frame(valid) if len(valid) else None
    columns: dict[str, Any] = {
        key: keys.reindex(valid.index).to_numpy(),
        PREDICTION: scores.labels if scores is not None else np.asarray([], dtype=object),
    }
    for k, label in enumerate(predictor.classes if predictor.task != "regression" else ()):
        probabilities = scores.probabilities if scores is not None else None
        columns[f"{PROBABILITY}{label}"] = (
            probabilities[:, k] if probabilities is not None else np.zeros(len(valid))
        )
    scored = pd.DataFrame(columns)
    if _label_is_text(predictor):
        scored[PREDICTION] = scored[PREDICTION].map(str)
    if not len(bad):
        return _object_strings(scored), None
    reasons = (
        bad[REASONS].astype(str)
        if REASONS in bad.columns
        else pd.Series("rejected by the contract check", index=bad.index)
    )
    rejected = pd.DataFrame({key: keys.reindex(bad.index).to_numpy(), REASONS: reasons.to_numpy()})
    return _object_strings(scored), rejected


def _row_numbers(ids: np.ndarray[Any, Any], offsets: Mapping[int, int]) -> np.ndarray[Any, Any]:
    """The 1-based row numbers of `monotonically_increasing_id()` values (`row_number_of`).

    Ids of one partition are its first row's id plus the position, so a batch whose
    smallest and largest ids share a partition (every batch: one task scores one
    partition) is numbered without a Python call per row.
    """
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    low, high = int(ids.min()), int(ids.max())
    start = row_number_of(low, offsets)
    if row_number_of(high, offsets) - start == high - low:
        return start + (ids - low)
    return np.fromiter((row_number_of(int(i), offsets) for i in ids), np.int64, len(ids))


def _object_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as object dtype: pyspark's Arrow writer refuses pandas 3's string dtype."""
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.StringDtype):
            frame[name] = frame[name].astype(object)
    return frame


def _label_is_text(predictor: Predictor) -> bool:
    from pyspark.sql import types as T

    return isinstance(_label_type(predictor), T.StringType)


def _publish(
    staging: Path,
    out: Path,
    rejects_staging: Path,
    rejects: Path,
    started: float,
    source_name: str,
    predictor: Predictor,
) -> ScoreSummary:
    """Count the rows written (from the Parquet footers), move both folders into place."""
    for leftover in rejects_staging.glob(".part-*.tmp"):
        leftover.unlink(missing_ok=True)  # an attempt killed while writing its rejects
    scored = _parquet_rows(staging)
    rejected = _parquet_rows(rejects_staging)
    if rejected:
        (rejects_staging / "_SUCCESS").touch()  # an earlier Spark output folder, next time
    _replace(staging, out)
    if rejected:
        _replace(rejects_staging, rejects)
    elif rejects.is_dir() and (rejects / "_SUCCESS").exists():
        shutil.rmtree(rejects)  # no rejects this time: none left from before
    return ScoreSummary(
        source=Path(source_name),
        out=out,
        rejects=rejects if rejected else None,
        kind=predictor.kind,
        rows_in=scored + rejected,
        scored=scored,
        rejected=rejected,
        seconds=time.perf_counter() - started,
    )


def _parquet_rows(folder: Path) -> int:
    """The rows of a folder's Parquet part files, read from their footers alone."""
    import pyarrow.parquet as pq

    parts = sorted(path for path in folder.glob("part-*") if path.is_file())
    return sum(pq.read_metadata(path).num_rows for path in parts)


def _replace(fresh: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
        final.rename(old)
        fresh.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        fresh.rename(final)
