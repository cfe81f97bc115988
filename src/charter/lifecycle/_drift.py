"""`charter drift`: a data batch or a prediction log against a model version's reference.

    outcome = drift(Path("charter.yaml"), source=Path("new.csv"))           # on pandas
    outcome = drift(path, source=Path("events/"), engine="spark")             # on executors
    outcome = drift(path, table="sales.customers", engine="spark")
    outcome = drift(path)            # what the champion served (.charter/serving)
    outcome.report.drifted, outcome.drifted, outcome.as_dict()

The statistics are the monitor's: the version's `reference.json` gives the plan
(`DriftPlan.from_reference`), the charter's `monitor.drift` the thresholds, and the counts
merge by addition, so that the pandas and the Spark engine report the same numbers.

A data source is typed by the contract as batch scoring types it (rows that break it are
left out and counted; the target, when present, is not read) and scored by the version's
predictor, so that its predictions drift too. Both engines hand each chunk to the same
`_Recipe`, which returns the features as the counting contract reads them (numbers, or
text) beside the prediction: on pandas chunk by chunk, on Spark inside `mapInPandas`, with
the predictor loaded on each executor from sha256-checked broadcast artifacts.

A prediction log is read with `LogReader` on pandas (every segment) and through its
compacted Parquet segments on Spark (`SparkEngine.read_log`). Only the records the version
served are counted, failed requests left out, and the prediction is read from the logged
output as the monitor reads it: the positive-class probability (binary), the value
(regression), the label as text (multiclass).

Read-only: nothing is written to the ledger.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from charter.errors import DataError, NotFoundError
from charter.lifecycle._engine import engine_name, spark_engine
from charter.lifecycle._evaluate import _inputs_frame, _probabilities, _values
from charter.lifecycle._monitor import default_log_dir
from charter.lifecycle._score import predictor_from_artifacts, resolve_version
from charter.spec import Charter, load_charter

if TYPE_CHECKING:
    import pandas as pd

    from charter.engines import DriftCounts, DriftPlan, SparkEngine
    from charter.ledger import Ledger, ModelVersion
    from charter.modeling import FittedModel
    from charter.monitoring import DriftReport, DriftThresholds
    from charter.serving import Artifacts, Predictor

#: The column that carries the model's outputs to the drift counts.
PREDICTION = "__charter_prediction"
DEFAULT_CHUNK_ROWS = 50_000
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_NUMBER_TYPES = frozenset({"int", "float", "bool"})
_SHOWN = 8

#: How a feature reaches the counts: float64 numbers, seconds since the epoch, or text.
Reading = Literal["number", "seconds", "text"]


@dataclass(frozen=True)
class DriftOutcome:
    """What `charter drift` measured.

    `rows_in` counts the rows (or log records) read, `rows` those counted; `left_out` says
    why the others were not: "contract" (rows that break it), "failed requests" and
    "other versions" (log records). `counts` are the merged drift counts the report was
    computed from (`counts.to_json()` ships them). `notes` say what could not be measured
    and why.
    """

    project: str
    version: int
    source: dict[str, Any]
    engine: dict[str, Any]
    rows_in: int
    rows: int
    left_out: dict[str, int]
    report: DriftReport
    thresholds: DriftThresholds
    counts: DriftCounts
    notes: tuple[str, ...] = ()

    @property
    def rejected(self) -> int:
        """Rows left out because they break the contract."""
        return self.left_out.get("contract", 0)

    @property
    def prediction_drifted(self) -> bool:
        return self.report.prediction is not None and self.report.prediction.drifted

    @property
    def drifted(self) -> bool:
        """True when any feature or the prediction drifted."""
        return bool(self.report.drifted) or self.prediction_drifted

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.version,
            "source": self.source,
            "engine": self.engine,
            "rows_in": self.rows_in,
            "rows": self.rows,
            "rejected": self.rejected,
            "left_out": self.left_out,
            "drifted": self.drifted,
            "drifted_features": list(self.report.drifted),
            "prediction_drifted": self.prediction_drifted,
            "thresholds": dataclasses.asdict(self.thresholds),
            "notes": list(self.notes),
            "drift": self.report.to_json(),
        }


@dataclass(frozen=True)
class _Version:
    """The model version measured against: its model, reference and artifacts."""

    number: int
    model: FittedModel
    reference: dict[str, Any]
    artifacts: Artifacts


def drift(
    path: Path,
    *,
    source: Path | None = None,
    table: str | None = None,
    log_dir: Path | None = None,
    version: int | str = "champion",
    engine: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> DriftOutcome:
    """Measure the drift of `source`, `table` or a prediction log against `version`.

    At most one of `source` (a CSV or Parquet file, or a folder of Parquet parts), `table`
    (a Spark table) and `log_dir` is given; with none, the charter's prediction log is
    read. `engine` ("pandas" or "spark") overrides the charter's `engine`. Raises
    DataError for a source that cannot be measured (missing, empty, holding none of the
    model's features, CSV on Spark, a table on pandas), NotFoundError for an unknown
    version, EngineError when Spark is asked for without pyspark.
    """
    from charter.monitoring import DriftThresholds

    source = None if source is None else Path(source)
    loaded = load_charter(path)
    charter = loaded.charter
    given = (("source", source), ("table", table), ("log_dir", log_dir))
    named = [name for name, value in given if value is not None]
    if len(named) > 1:
        raise DataError(
            "The drift command measures one source at a time: a file, a table or a prediction "
            f"log. Got {', '.join(named)} together instead."
        )
    if chunk_rows < 1:
        raise DataError(f"The 'chunk_rows' of drift must be at least 1. Got {chunk_rows} instead.")
    on_spark = engine_name(charter, engine) == "spark"
    if table is not None and not on_spark:
        raise DataError(
            f"The engine must be spark to read the table '{table}' (pass --engine spark, or "
            "set `engine: spark` in the charter). Got the pandas engine instead."
        )
    folder: Path | None = None
    if source is not None:
        fmt = _source_format(source, on_spark)
    elif table is None:
        folder = Path(log_dir) if log_dir is not None else default_log_dir(loaded)
        if not folder.is_dir():
            raise DataError(
                f"There is no prediction log at {folder}. Serve the champion first "
                "(`charter serve`), name the log folder with --log-dir, or give a data file "
                "with --in."
            )
    thresholds = DriftThresholds.from_mapping(charter.monitor.drift)
    chosen = _load_version(loaded.base_dir, charter.project.name, version)
    if not on_spark:
        if source is not None:
            return _data_on_pandas(charter, chosen, thresholds, source, fmt, chunk_rows)
        assert folder is not None
        return _log_on_pandas(charter, chosen, thresholds, folder, chunk_rows)
    spark = spark_engine(charter)
    if folder is not None:
        return _log_on_spark(charter, chosen, thresholds, folder, spark)
    return _data_on_spark(charter, chosen, thresholds, spark, source, table)


# --- the version ---------------------------------------------------------------------------


def _load_version(base_dir: Path, project: str, version: int | str) -> _Version:
    from charter.ledger import open_ledger
    from charter.modeling import FittedModel

    # No reaping: this command only reads the ledger.
    with open_ledger(base_dir, reap=False) as ledger:
        record = resolve_version(ledger, project, version)
        by_name = {artifact.name: artifact for artifact in record.artifacts}
        for needed, what in (("model.pkl", "model"), ("reference.json", "reference statistics")):
            if needed not in by_name:
                raise NotFoundError(
                    f"Model version {record.version} has no {what} ({needed}): drift is "
                    "measured against what a registered version keeps. Register it with "
                    "`charter run`."
                )
        artifacts = _artifacts(ledger, record)
    model = FittedModel.from_bytes(artifacts["model.pkl"][0])
    reference = json.loads(artifacts["reference.json"][0])
    serving: dict[str, tuple[bytes, str]] = {
        name: artifacts[name] for name in ("model.pkl", "predictor.bin") if name in artifacts
    }
    return _Version(record.version, model, reference, serving)


def _artifacts(ledger: Ledger, record: ModelVersion) -> dict[str, tuple[bytes, str]]:
    wanted = ("model.pkl", "predictor.bin", "reference.json")
    return {
        artifact.name: (ledger.load_artifact(artifact), artifact.sha256)
        for artifact in record.artifacts
        if artifact.name in wanted
    }


# --- data sources: what both engines do with a chunk of rows -------------------------------


@dataclass(frozen=True)
class _Recipe:
    """Turns a chunk of source rows into the frame the drift counts read, on either engine.

    The rows are checked and typed by the contract (as batch scoring does; role columns the
    source lacks are stood in for by empty ones, so that their absence is not fatal), those
    that break it are left out, and each planned feature the source holds is read as
    `readings` says; `PREDICTION` holds the model's output when `task` is set.
    """

    charter: Charter
    where: str
    readings: Mapping[str, Reading]
    stand_ins: tuple[str, ...]
    task: str | None
    positive: int

    def frame(self, raw: pd.DataFrame, predictor: Predictor | None) -> tuple[pd.DataFrame, int]:
        """(the counted columns of the rows that keep the contract, how many rows broke it)."""
        import pandas as pd

        from charter.data import check_contract
        from charter.values import category_strings, datetime_values, numeric_values

        raw = raw.reset_index(drop=True)
        if self.stand_ins:
            empty = {name: pd.Series([None] * len(raw), dtype=object) for name in self.stand_ins}
            raw = raw.assign(**empty)
        result = check_contract(raw, self.charter, source=self.where, scoring=True)
        typed = result.typed.drop(index=result.bad_rows).reset_index(drop=True)
        columns: dict[str, Any] = {}
        for name, reading in self.readings.items():
            series = typed[name]
            if reading == "number":
                columns[name] = numeric_values(series)
            elif reading == "seconds":
                columns[name] = datetime_values(series).to_numpy(dtype=np.float64)
            else:
                texts = category_strings(series)
                texts[pd.isna(texts)] = None
                columns[name] = pd.Series(texts, dtype=object)
        frame = pd.DataFrame(columns, index=pd.RangeIndex(len(typed)))
        if self.task is not None and predictor is not None:
            frame[PREDICTION] = self._predictions(typed, predictor)
        return frame, len(result.bad_rows)

    def _predictions(self, typed: pd.DataFrame, predictor: Predictor) -> Any:
        import pandas as pd

        text = self.task == "multiclass_classification"
        if not len(typed):
            return pd.Series([], dtype=object if text else np.float64)
        scores = predictor.score_frame(typed)
        if self.task == "regression":
            return np.asarray(scores.values, dtype=np.float64)
        if text:
            return pd.Series([str(label) for label in scores.labels], dtype=object)
        assert scores.probabilities is not None
        return np.asarray(scores.probabilities[:, self.positive], dtype=np.float64)


def _recipe(
    charter: Charter,
    chosen: _Version,
    plan: DriftPlan,
    where: str,
    names: Sequence[str],
    number_columns: set[str],
) -> tuple[_Recipe, list[str], list[str]]:
    """The recipe for a source with columns `names`, the columns to read, and the notes.

    `number_columns` are the source's columns of a number type (for features outside the
    contract). DataError when the source holds none of the planned features.
    """
    contract = charter.data.contract
    present = [name for name in plan.features if name in names]
    if not present:
        expected = list(plan.features)
        raise DataError(
            f"The source {where} must hold some of the model's features "
            f"({_listed(expected)}). Got none of them among its columns "
            f"({_listed(list(names))}) instead."
        )
    readings: dict[str, Reading] = {}
    for name in present:
        declared = contract.get(name)
        column_plan = plan.features[name]
        kind = declared.type if declared is not None else None
        if not column_plan.numeric:
            readings[name] = "text"
        elif column_plan.datetime and kind == "datetime":
            readings[name] = "seconds"
        elif kind in _NUMBER_TYPES or (declared is None and name in number_columns):
            readings[name] = "number"
        else:
            # Text that is no number stays visible: the counts call it invalid.
            readings[name] = "text"
    target = charter.objective.target
    wanted = set(present) | {name for name in contract if name != target}
    read = [name for name in names if name in wanted]
    data = charter.data
    roles = [*data.protected, data.id, data.timestamp]
    stand_ins = tuple(dict.fromkeys(r for r in roles if r is not None and r not in read))
    notes: list[str] = []
    lacking = [name for name in chosen.model.features if name not in names]
    task: str | None = chosen.model.task
    if lacking:
        task = None
        notes.append(
            f"The prediction's drift is not measured: the source lacks the model's feature(s) "
            f"{_listed(lacking)}, so it cannot be scored. Those features are reported as absent."
        )
    elif plan.prediction is None:
        task = None
        notes.append("The version's reference statistics hold no prediction distribution.")
    recipe = _Recipe(
        charter=charter,
        where=where,
        readings=readings,
        stand_ins=stand_ins,
        task=task,
        positive=int(chosen.model.labels.positive_code or 1),
    )
    return recipe, read, notes


def _source_format(source: Path, on_spark: bool) -> str:
    if not source.exists():
        raise DataError(f"The file to measure drift on, {source}, does not exist.")
    if source.is_dir():
        return "parquet"
    fmt = _FORMATS.get(source.suffix.lower())
    if fmt is None:
        raise DataError(
            f"The file '{source}' must end in .csv, .tsv, .parquet or .pq (or be a folder of "
            f"Parquet parts). Got {source.suffix or 'no extension'!r} instead."
        )
    if on_spark and fmt != "parquet":
        raise DataError(
            f"The source '{source}' must be Parquet (.parquet, .pq or a folder of parts) to be "
            f"read on Spark. Got {source.suffix!r} instead; convert it to Parquet, or measure "
            "it with --engine pandas."
        )
    return fmt


def _data_on_pandas(
    charter: Charter,
    chosen: _Version,
    thresholds: DriftThresholds,
    source: Path,
    fmt: str,
    chunk_rows: int,
) -> DriftOutcome:
    from charter.engines import DriftPlan, PandasEngine
    from charter.monitoring import drift_report
    from charter.serving import checked_artifacts

    plan = DriftPlan.from_reference(chosen.reference)
    names, numbers, chunks = _read_pandas(source, fmt, chunk_rows)
    recipe, read, notes = _recipe(charter, chosen, plan, str(source), names, numbers)
    predictor = None
    if recipe.task is not None:
        predictor = predictor_from_artifacts(checked_artifacts(chosen.artifacts))
    engine = PandasEngine(chunk_rows=chunk_rows)
    prediction = PREDICTION if recipe.task is not None else None
    counts: DriftCounts | None = None
    rows_in = rejected = 0
    for raw in chunks(read):
        rows_in += len(raw)
        frame, bad = recipe.frame(raw, predictor)
        rejected += bad
        part = engine.drift_counts(frame, plan, prediction=prediction)
        counts = part if counts is None else counts.merge(part).bounded(plan)
    _check_rows(str(source), rows_in, counts.rows if counts is not None else 0)
    assert counts is not None
    return DriftOutcome(
        project=charter.project.name,
        version=chosen.number,
        source={"kind": "file", "path": str(source), "format": fmt},
        engine=engine.describe(),
        rows_in=rows_in,
        rows=counts.rows,
        left_out={"contract": rejected},
        report=drift_report(chosen.reference, counts, thresholds),
        thresholds=thresholds,
        counts=counts,
        notes=tuple(notes),
    )


def _read_pandas(source: Path, fmt: str, chunk_rows: int) -> tuple[list[str], set[str], Any]:
    """The source's columns, those of a number type, and a reader of chunks of columns."""
    import pandas as pd

    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.dataset as ds

        try:
            # Hive-style partition folders become columns, as Spark reads them.
            dataset = ds.dataset(str(source), format="parquet", partitioning="hive")
            schema = dataset.schema
        except (OSError, pa.ArrowException) as error:
            raise DataError(f"The source '{source}' cannot be read as Parquet: {error}") from None
        names = [str(name) for name in schema.names]
        numbers = {
            field.name
            for field in schema
            if pa.types.is_integer(field.type)
            or pa.types.is_floating(field.type)
            or pa.types.is_boolean(field.type)
            or pa.types.is_decimal(field.type)
        }

        def parquet_chunks(columns: list[str]) -> Iterator[pd.DataFrame]:
            for batch in dataset.to_batches(columns=columns, batch_size=chunk_rows):
                yield batch.to_pandas()

        return names, numbers, parquet_chunks
    sep = "\t" if fmt == "tsv" else ","
    try:
        header = pd.read_csv(source, nrows=0, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"The file '{source}' cannot be read as CSV: {error}") from None

    def csv_chunks(columns: list[str]) -> Iterator[pd.DataFrame]:
        # As charter's audit reads a CSV: text cells, missing-value markers kept for the check.
        options: dict[str, Any] = {
            "sep": sep,
            "chunksize": chunk_rows,
            "dtype": str,
            "keep_default_na": False,
            "na_filter": False,
            "usecols": columns,
        }
        try:
            with pd.read_csv(source, **options) as reader:
                yield from reader
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise DataError(f"The file '{source}' cannot be read as CSV: {error}") from None

    return [str(name) for name in header.columns], set(), csv_chunks


def _data_on_spark(
    charter: Charter,
    chosen: _Version,
    thresholds: DriftThresholds,
    engine: SparkEngine,
    source: Path | None,
    table: str | None,
) -> DriftOutcome:
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from charter.engines import DriftPlan, quiet_pandas_version, spark_column
    from charter.monitoring import drift_report
    from charter.serving import loaded_predictor

    plan = DriftPlan.from_reference(chosen.reference)
    where = f"table {table}" if table is not None else str(source)
    try:
        frame = (
            engine.session.table(table) if table is not None else engine.read_parquet(str(source))
        )
    except AnalysisException as error:
        what = f"the table '{table}' of Spark's catalog" if table else f"'{source}' as Parquet"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"Spark cannot read {what}: {first}") from None
    numeric = (T.NumericType, T.BooleanType)
    numbers = {f.name for f in frame.schema.fields if isinstance(f.dataType, numeric)}
    recipe, read, notes = _recipe(charter, chosen, plan, where, frame.columns, numbers)
    rows_in = engine.count_rows(frame)
    _check_rows(where, rows_in, None)
    # Plain names through mapInPandas (it reads "a.b" as a struct field), real ones after.
    fields = [
        T.StructField(f"_f{i}", T.StringType() if reading == "text" else T.DoubleType())
        for i, reading in enumerate(recipe.readings.values())
    ]
    if recipe.task is not None:
        text = recipe.task == "multiclass_classification"
        fields.append(T.StructField("_p", T.StringType() if text else T.DoubleType()))
    schema = T.StructType(fields)
    features = list(recipe.readings)
    broadcast = (
        engine.session.sparkContext.broadcast(dict(chosen.artifacts))
        if recipe.task is not None
        else None
    )
    if broadcast is not None:
        loaded_predictor(chosen.artifacts, predictor_from_artifacts)  # checked here first

    renamed = {name: f"_f{i}" for i, name in enumerate(features)} | {PREDICTION: "_p"}

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        predictor = (
            loaded_predictor(broadcast.value, predictor_from_artifacts)
            if broadcast is not None
            else None
        )
        for batch in batches:
            counted, _ = recipe.frame(batch.set_axis(read, axis=1), predictor)
            yield counted.rename(columns=renamed)

    plain = frame.select(*[spark_column(name).alias(f"_c{i}") for i, name in enumerate(read)])
    try:
        with quiet_pandas_version():
            mapped = plain.mapInPandas(per_partition, schema)
        named = [F.col(f"_f{i}").alias(name) for i, name in enumerate(features)]
        if recipe.task is not None:
            named.append(F.col("_p").alias(PREDICTION))
        counts = engine.drift_counts(
            mapped.select(*named), plan, prediction=PREDICTION if recipe.task else None
        )
    finally:
        if broadcast is not None:
            broadcast.unpersist()
    _check_rows(where, rows_in, counts.rows)
    described = (
        {"kind": "table", "name": table}
        if table is not None
        else {"kind": "file", "path": str(source), "format": "parquet"}
    )
    return DriftOutcome(
        project=charter.project.name,
        version=chosen.number,
        source=described,
        engine=engine.describe(),
        rows_in=rows_in,
        rows=counts.rows,
        left_out={"contract": rows_in - counts.rows},
        report=drift_report(chosen.reference, counts, thresholds),
        thresholds=thresholds,
        counts=counts,
        notes=tuple(notes),
    )


def _check_rows(where: str, rows_in: int, counted: int | None) -> None:
    if rows_in == 0:
        raise DataError(
            f"The source {where} must hold rows to measure drift on. Got an empty one instead."
        )
    if counted == 0:
        raise DataError(
            f"The source {where} must hold rows that keep the data contract. Got {rows_in} "
            "rows, every one of which breaks it, instead (`charter score` sets them aside "
            "with the checks each broke)."
        )


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


# --- prediction logs -------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedPrediction:
    """The model's output in logged records, as the monitor reads it (picklable for Spark).

    The positive-class probability (binary), the value (regression), the label as text
    (multiclass); NaN where a record holds none.
    """

    task: str
    class_keys: tuple[str, ...]
    positive: int

    def of_records(self, records: Sequence[Mapping[str, Any]]) -> Any:
        if self.task == "regression":
            return _values(records)
        if self.task == "binary_classification":
            return _probabilities(records, self.class_keys)[:, self.positive]
        return np.asarray(
            [str(r.get("output", {}).get("prediction")) for r in records], dtype=object
        )

    def __call__(self, outputs: list[dict[str, Any]]) -> Any:
        """Of the output dicts (what `SparkEngine.log_drift_counts` hands over)."""
        return self.of_records([{"output": output} for output in outputs])


def _logged_prediction(model: FittedModel) -> LoggedPrediction:
    from charter.serving import probability_key

    return LoggedPrediction(
        task=model.task,
        class_keys=tuple(probability_key(c) for c in model.classes),
        positive=int(model.labels.positive_code or 1),
    )


def _log_on_pandas(
    charter: Charter,
    chosen: _Version,
    thresholds: DriftThresholds,
    folder: Path,
    chunk_rows: int,
) -> DriftOutcome:
    from charter.engines import DriftPlan, PandasEngine
    from charter.monitoring import is_error
    from charter.serving import LogReader

    plan = DriftPlan.from_reference(chosen.reference)
    outputs = _logged_prediction(chosen.model) if plan.prediction is not None else None
    names = list(plan.features)
    engine = PandasEngine(chunk_rows=chunk_rows)
    wanted = str(chosen.number)
    counts: DriftCounts | None = None
    read = others = failed = skipped = 0
    chunks, _ = LogReader(folder).read()
    for chunk in chunks:
        skipped += len(chunk.skipped)
        read += len(chunk.records)
        mine = [r for r in chunk.records if str(r.get("model_version")) == wanted]
        served = [r for r in mine if not is_error(r)]
        others += len(chunk.records) - len(mine)
        failed += len(mine) - len(served)
        if not served:
            continue
        frame = _inputs_frame(served, names)
        if outputs is not None:
            frame[PREDICTION] = outputs.of_records(served)
        part = engine.drift_counts(frame, plan, prediction=PREDICTION if outputs else None)
        counts = part if counts is None else counts.merge(part).bounded(plan)
    notes = []
    if skipped:
        notes.append(f"{skipped} unreadable line(s) of the log were skipped.")
    return _log_outcome(
        charter, chosen, thresholds, folder, engine.describe(), counts, read, others, failed, notes
    )


def _log_on_spark(
    charter: Charter,
    chosen: _Version,
    thresholds: DriftThresholds,
    folder: Path,
    engine: SparkEngine,
) -> DriftOutcome:
    from pyspark.sql import functions as F

    from charter.engines import DriftPlan
    from charter.serving import LogReader

    plan = DriftPlan.from_reference(chosen.reference)
    try:
        log = engine.read_log(folder)
    except DataError as error:
        raise DataError(
            f"{error} Segments are compacted to Parquet once closed; measure the log with "
            "--engine pandas to read open segments too."
        ) from None
    wanted = F.col("model_version") == str(chosen.number)
    totals = log.agg(
        F.count(F.lit(1)).alias("records"), F.sum(F.when(wanted, 1).otherwise(0)).alias("mine")
    ).first()
    read = int(totals["records"] or 0) if totals is not None else 0
    mine = int(totals["mine"] or 0) if totals is not None else 0
    counts: DriftCounts | None = None
    if mine:
        outputs = _logged_prediction(chosen.model) if plan.prediction is not None else None
        counts = engine.log_drift_counts(log.where(wanted), plan, prediction=outputs)
    notes = []
    unread = [s for s in LogReader(folder).segments() if s.state != "compacted"]
    if unread:
        notes.append(
            f"{len(unread)} segment(s) not yet compacted to Parquet were not read: Spark reads "
            "the compacted segments only (--engine pandas reads them all)."
        )
    failed = mine - (counts.rows if counts is not None else 0)
    return _log_outcome(
        charter,
        chosen,
        thresholds,
        folder,
        engine.describe(),
        counts,
        read,
        read - mine,
        failed,
        notes,
    )


def _log_outcome(
    charter: Charter,
    chosen: _Version,
    thresholds: DriftThresholds,
    folder: Path,
    described: dict[str, Any],
    counts: DriftCounts | None,
    read: int,
    others: int,
    failed: int,
    notes: list[str],
) -> DriftOutcome:
    from charter.monitoring import drift_report

    where = f"The prediction log at {folder}"
    if read == 0:
        raise DataError(f"{where} must hold records to measure drift on. Got none instead.")
    if counts is None or counts.rows == 0:
        raise DataError(
            f"{where} must hold predictions that version {chosen.number} served. Got "
            f"{read} record(s): {others} of other versions, {failed} failed request(s), instead."
        )
    if all(f.absent_rows == f.rows for f in counts.features.values()):
        raise DataError(
            f"{where} must hold inputs with some of the model's features "
            f"({_listed(list(counts.features))}). Got records without any of them instead."
        )
    if counts.prediction is None and chosen.reference.get("prediction") is not None:
        notes.append("No record holds an output the prediction's drift could be read from.")
    return DriftOutcome(
        project=charter.project.name,
        version=chosen.number,
        source={"kind": "log", "path": str(folder)},
        engine=described,
        rows_in=read,
        rows=counts.rows,
        left_out={"failed requests": failed, "other versions": others},
        report=drift_report(chosen.reference, counts, thresholds),
        thresholds=thresholds,
        counts=counts,
        notes=tuple(notes),
    )
