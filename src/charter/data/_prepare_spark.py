"""The audit stage's data work on Spark: read, check and audit on the executors, then split.

The same steps as `prepare` on pandas, with the rows left where Spark keeps them:

1. read the source into Spark (`read_source_spark`) and fingerprint it;
2. check the contract as aggregates (`check_contract_spark`); under `quarantine`, the
   rows that broke it are written as a Parquet folder (Spark's part files) with their row
   number and the checks they broke;
3. drop rows without a target, check the target's classes, and audit the typed table
   with the Spark engine (`audit(table, engine=spark)`);
4. bring the training set to the driver: the whole table, or with `engine.sample_rows`, a
   seeded uniform sample of that many rows. The sampling is recorded in the lineage (the
   audit report's `training_sample`), because training runs on one machine;
5. split it there, exactly as on pandas.

The training set arrives with the pandas engine's types (numbers as float64, text as
object, dates as datetime64) and the rows' labels (row number - 1), so without sampling
the split is the pandas engine's own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charter.data._audit import audit
from charter.data._contract import ContractViolation, Quarantined
from charter.data._contract_spark import (
    CHECKS,
    ROW_NUMBER,
    SparkContractResult,
    check_contract_spark,
)
from charter.data._findings import Finding, plural
from charter.data._source_spark import SparkSourceFrame, read_source_spark
from charter.engines import ROW_LABEL, SparkEngine, spark_column
from charter.errors import DataError
from charter.spec import LoadedCharter
from charter.spec.schema import Charter

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import DataFrame

    from charter.data._prepare import Prepared

    Progress = Callable[[str, float], None]

_ROW_COLUMN = "charter_row"
_CHECKS_COLUMN = "charter_violations"
_EXAMPLES = 5
# More distinct target values than this are not listed one by one in a message.
_CLASSES_SHOWN = 50


def prepare_spark(
    loaded: LoadedCharter,
    engine: SparkEngine,
    *,
    quarantine_dir: Path | None,
    progress: Progress,
    sample_rows: int | None = None,
    seed: int = 7,
) -> Prepared:
    """`prepare` on Spark (see the module docstring); the same errors, findings and evidence."""
    from charter.data._prepare import (
        Prepared,
        check_target,
        extra_column_findings,
        quarantine_finding,
        split_and_fold,
    )

    charter = loaded.charter
    progress("Reading the data (Spark)", 0.0)
    source = read_source_spark(loaded, engine)
    progress(f"Checking the data contract on {plural(source.rows, 'row')}", 0.15)
    result = check_contract_spark(source.frame, charter, source=source.source)
    extra: list[Finding] = []
    quarantined: Quarantined | None = None
    assert result.passing is not None
    table = result.passing
    if not result.ok:
        if charter.data.on_violation == "fail":
            raise ContractViolation(result)
        quarantined = _quarantine(result, source, loaded, quarantine_dir)
        extra.append(quarantine_finding(quarantined, result.headline()))
    extra.extend(extra_column_findings(result.extra_columns))
    table = _untyped(table, charter)
    table, dropped = _drop_missing_target(table, charter, source.source)
    extra.extend(dropped)
    check_target(_target_values(table, charter), charter, source.source)

    report = audit(
        table,  # its ROW_LABEL column gives the leakage folds the pandas engine's row labels
        charter,
        engine=engine,
        progress=lambda message, fraction: progress(message, round(0.3 + 0.5 * fraction, 4)),
    )
    progress("Bringing the training set to the driver", 0.8)
    frame, lineage = _to_driver(engine, table, sample_rows=sample_rows, seed=seed)
    progress("Splitting train and test", 0.9)
    parts, report = split_and_fold(frame, charter, report, extra, source, result, quarantined)
    report = replace(report, extra={**report.extra, "training_sample": lineage})
    progress("Data ready", 1.0)
    return Prepared(source, result, report, parts, quarantined, lineage=lineage)


def _quarantine(
    result: SparkContractResult,
    source: SparkSourceFrame,
    loaded: LoadedCharter,
    folder: Path | None,
) -> Quarantined:
    """Write the failing rows as a Parquet folder beside the pandas engine's CSV quarantine."""
    import shutil
    import uuid

    from pyspark.sql import functions as F

    if result.column_level:
        raise ContractViolation(
            result, " A missing or empty column cannot be quarantined: fix the data or contract."
        )
    kept = result.rows - result.bad_rows
    if kept == 0:
        raise DataError(
            f"Every row of {result.source} broke the contract ({result.headline()}); "
            "nothing is left to continue with after quarantine."
        )
    assert result.failing is not None
    names = [str(name) for name in source.frame.columns]
    row_column = _free_name(_ROW_COLUMN, names)
    checks_column = _free_name(_CHECKS_COLUMN, names)
    rows = result.failing.select(
        F.col(ROW_NUMBER).alias(row_column),
        *[spark_column(name) for name in names],
        F.col(CHECKS).alias(checks_column),
    )
    where = folder or loaded.base_dir / ".charter" / "quarantine"
    stem = Path(source.source).stem if loaded.charter.data.source.path else source.source
    path = where / f"{stem}-{source.fingerprint.content_sha256[:12]}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        rows.write.parquet(str(staging))
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    tags = (
        rows.select(F.explode(F.split(F.col(checks_column), "; ")).alias("tag"))
        .groupBy("tag")
        .count()
        .collect()
    )
    checks = {str(row["tag"]): int(row["count"]) for row in tags}
    return Quarantined(
        frame=pd.DataFrame(),
        path=path,
        rows=result.bad_rows,
        kept=kept,
        checks=dict(sorted(checks.items())),
    )


def _free_name(name: str, taken: list[str]) -> str:
    while name in taken:
        name = f"_{name}"
    return name


def _untyped(table: DataFrame, charter: Charter) -> DataFrame:
    """Columns outside the contract as the pandas engine reads them from text.

    A text column becomes double when every present value reads as a finite number, else
    stays text with empty cells missing (`_untyped` on pandas). Typed columns (Parquet, a
    table) stay as they are.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    contract = charter.data.contract
    texts = [
        field.name
        for field in table.schema.fields
        if field.name not in contract
        and field.name != ROW_LABEL
        and isinstance(field.dataType, T.StringType)
    ]
    if not texts:
        return table

    def number(name: str) -> Any:
        return F.trim(spark_column(name)).try_cast("double")

    def present(name: str) -> Any:
        return spark_column(name).isNotNull() & (spark_column(name) != F.lit(""))

    checks = []
    for i, name in enumerate(texts):
        finite = number(name).isNotNull() & ~F.isnan(number(name))
        finite = finite & (F.abs(number(name)) < F.lit(float("inf")))
        checks.append(F.sum(F.when(present(name), 1).otherwise(0)).alias(f"p{i}"))
        checks.append(F.sum(F.when(present(name) & ~finite, 1).otherwise(0)).alias(f"t{i}"))
    row = table.agg(*checks).first()
    numeric = {
        name
        for i, name in enumerate(texts)
        if row is not None and int(row[f"p{i}"] or 0) > 0 and int(row[f"t{i}"] or 0) == 0
    }
    columns = []
    for field in table.schema.fields:
        name = field.name
        if name in numeric:
            columns.append(F.when(present(name), number(name)).alias(name))
        elif name in texts:
            columns.append(F.when(present(name), spark_column(name)).alias(name))
        else:
            columns.append(spark_column(name))
    return table.select(*columns)


def _drop_missing_target(
    table: DataFrame, charter: Charter, where: str
) -> tuple[DataFrame, list[Finding]]:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    target = spark_column(charter.objective.target)
    missing = target.isNull()
    if isinstance(table.schema[charter.objective.target].dataType, T.FractionalType):
        missing = missing | F.isnan(target)
    counts = table.agg(
        F.count(F.lit(1)).alias("rows"), F.sum(F.when(missing, 1).otherwise(0)).alias("missing")
    ).first()
    rows = int(counts["rows"] or 0) if counts is not None else 0
    count = int(counts["missing"] or 0) if counts is not None else 0
    if count == 0:
        return table, []
    name = charter.objective.target
    if count == rows:
        raise DataError(
            f"The target '{name}' of {where} must hold values. Got only missing values instead."
        )
    examples = [
        int(row[0]) + 1
        for row in table.where(missing)
        .select(ROW_LABEL)
        .orderBy(ROW_LABEL)
        .limit(_EXAMPLES)
        .collect()
    ]
    finding = Finding(
        "missing",
        "warning",
        name,
        f"{plural(count, 'row')} of {where} have no {name} value (e.g. row {examples[0]}): they "
        "were dropped before the audit and the split.",
        {"dropped": count, "rows": rows, "examples": examples},
    )
    return table.where(~missing), [finding]


def _target_values(table: DataFrame, charter: Charter) -> pd.DataFrame:
    """A few distinct target values (more than any check needs), as a pandas frame."""
    target = charter.objective.target
    distinct = table.select(spark_column(target)).distinct().limit(_CLASSES_SHOWN).collect()
    return pd.DataFrame({target: pd.Series([row[0] for row in distinct], dtype=object)})


def _to_driver(
    engine: SparkEngine, table: DataFrame, *, sample_rows: int | None, seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table on the driver, with the pandas engine's types and row labels."""
    frame, lineage = engine.to_pandas(table, sample_rows=sample_rows, seed=seed)
    frame = frame.sort_values(ROW_LABEL, kind="stable")
    frame.index = pd.Index(frame.pop(ROW_LABEL).to_numpy(dtype=np.int64))
    frame.columns = pd.Index([str(name) for name in frame.columns], dtype=object)
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_string_dtype(column.dtype) or column.dtype == object:
            frame[name] = column.astype(object).where(column.notna(), np.nan)
    return frame, {**lineage, "training_rows_on_driver": len(frame)}
