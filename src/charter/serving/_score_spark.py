"""Batch scoring on Spark: a Parquet source or a table in, a Parquet folder of predictions out.

    summary = score_spark(session, artifacts, load, "in.parquet", Path("out.parquet"),
                          id_column="customerID", contract_check=check)

The model travels to the executors as its artifact bytes with their recorded sha256
(`artifacts`: name -> (bytes, sha256)), broadcast once. Each executor's Python worker
checks every artifact's sha256 before `load` unpickles anything, then keeps the loaded
predictor for the next partitions. Partitions are scored with `mapInPandas`, through the
predictor's vectorised path (ONNX, the booster or the dot product on the batch's matrix;
natively otherwise), after the caller's contract check, exactly as `score_file` scores a
chunk. The output has the columns `score_file` writes (the id or `charter_row`, then
`prediction` and `probability_<class>`); rows the check rejects go to
`<out stem>.rejects.parquet` beside it, as their id (or row number) and the reasons.
Both are Spark output folders (part files), written beside their final path and renamed
into place when complete.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charter.engines import quiet_pandas_version, row_number_of
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
    source lacking the id or a feature column or an output that is no Spark output folder,
    ServingError for a check that loses rows.
    """
    out = Path(out)
    predictor = loaded_predictor(artifacts, load)
    frame, source_name = _source_frame(session, source)
    features = [str(name) for name in predictor.features]
    lacking = [
        name
        for name in [*([id_column] if id_column else []), *features]
        if name not in frame.columns
    ]
    if lacking:
        raise DataError(
            f"The source '{source_name}' must have the id and feature columns the model needs. "
            f"Got a source without {', '.join(repr(name) for name in lacking)} instead."
        )
    if isinstance(source, str | Path) and Path(source).resolve() == out.resolve():
        raise DataError(
            f"The output folder must differ from the source '{source}'. Got the same path instead."
        )
    _check_replaceable(out)
    key = id_column or ROW
    outputs = _output_names(predictor, key)
    started = time.perf_counter()
    offsets = None if id_column else _offsets(frame)
    keyed = frame.withColumn(_ID, _monotonic_id()) if offsets is not None else frame
    schema = _spark_schema(predictor, key, _id_type(frame, id_column), outputs)
    broadcast = session.sparkContext.broadcast(dict(artifacts))

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = loaded_predictor(broadcast.value, load)
        for batch in batches:
            yield _scored(model, batch, contract_check, id_column, key, offsets)

    staging = out.with_name(f".{out.name}.{uuid.uuid4().hex}.staging")
    try:
        with quiet_pandas_version():
            keyed.mapInPandas(score_partition, schema).write.parquet(str(staging))
        return _publish(session, staging, out, key, outputs, started, source_name, predictor)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        broadcast.unpersist()


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
    fields.append(T.StructField(REASONS, T.StringType()))
    return T.StructType(fields)


def _scored(
    predictor: Predictor,
    batch: pd.DataFrame,
    check: ContractCheck | None,
    id_column: str | None,
    key: str,
    offsets: Mapping[int, int] | None,
) -> pd.DataFrame:
    """One batch's predictions and rejections, one row each, `charter_violations` null if scored."""
    batch = batch.reset_index(drop=True)
    if offsets is not None:
        keys = pd.Series([row_number_of(int(i), offsets) for i in batch[_ID]], dtype="int64")
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
    scored[REASONS] = None
    if not len(bad):
        return _object_strings(scored)
    reasons = (
        bad[REASONS].astype(str)
        if REASONS in bad.columns
        else pd.Series("rejected by the contract check", index=bad.index)
    )
    rejected = pd.DataFrame({key: keys.reindex(bad.index).to_numpy(), REASONS: reasons})
    return _object_strings(pd.concat([scored, rejected], ignore_index=True))


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
    session: SparkSession,
    staging: Path,
    out: Path,
    key: str,
    outputs: Sequence[str],
    started: float,
    source_name: str,
    predictor: Predictor,
) -> ScoreSummary:
    """Split the staged rows into the output and the rejects, and move both into place."""
    from pyspark.sql import functions as F

    staged = session.read.parquet(str(staging))
    totals = staged.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(F.col(REASONS).isNull(), 1).otherwise(0)).alias("scored"),
    ).first()
    rows_in = int(totals["rows"] or 0) if totals is not None else 0
    scored = int(totals["scored"] or 0) if totals is not None else 0
    rejects = out.with_name(f"{out.stem}.rejects.parquet")
    fresh_out = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    fresh_rejects = rejects.with_name(f".{rejects.name}.{uuid.uuid4().hex}.tmp")
    try:
        staged.where(F.col(REASONS).isNull()).select(*outputs).write.parquet(str(fresh_out))
        if rows_in > scored:
            staged.where(F.col(REASONS).isNotNull()).select(key, REASONS).write.parquet(
                str(fresh_rejects)
            )
        _replace(fresh_out, out)
        if rows_in > scored:
            _replace(fresh_rejects, rejects)
        elif rejects.is_dir() and (rejects / "_SUCCESS").exists():
            shutil.rmtree(rejects)  # no rejects this time: none left from before
    finally:
        shutil.rmtree(fresh_out, ignore_errors=True)
        shutil.rmtree(fresh_rejects, ignore_errors=True)
    return ScoreSummary(
        source=Path(source_name),
        out=out,
        rejects=rejects if rows_in > scored else None,
        kind=predictor.kind,
        rows_in=rows_in,
        scored=scored,
        rejected=rows_in - scored,
        seconds=time.perf_counter() - started,
    )


def _replace(fresh: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
        final.rename(old)
        fresh.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        fresh.rename(final)
