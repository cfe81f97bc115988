"""Read a charter's data source into Spark: a CSV or Parquet file, a Parquet folder, a table.

The rows stay on the executors; the driver gets the column names, the row count and the
fingerprint. As on pandas, CSV cells stay text (the contract check types them) and
Parquet columns and tables keep their types.

The fingerprint's content hash is the sha256 of the file's bytes (a folder: of its data
files' bytes, in name order), so a CSV or Parquet file has the same fingerprint on both
engines. A catalog table has no file to hash: its content hash is the sha256 of the
row count and two sums of per-row hashes (xxhash64 and murmur3), computed as aggregates.
It does not depend on the order of the rows, and it changes when any row changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.data._fingerprint import (
    Fingerprint,
    SourceFormat,
    file_sha256,
    schema_sha256,
)
from charter.data._read import CSV_SUFFIXES, PARQUET_SUFFIXES, read
from charter.data._source import _check_delimiter, check_target_present
from charter.engines import SparkEngine, spark_column
from charter.errors import DataError
from charter.spec import LoadedCharter
from charter.spec.schema import Charter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# CSV rows the driver reads with pandas to sniff the delimiter and check the header.
_HEAD_ROWS = 200
_BLOCK = 1 << 20


@dataclass(frozen=True)
class SparkSourceFrame:
    """The raw Spark table read from a data source, its fingerprint and where it came from.

    The Spark counterpart of `SourceFrame`: `frame` is a pyspark DataFrame (text columns
    for CSV), `rows` its row count.
    """

    frame: DataFrame
    fingerprint: Fingerprint
    source: str
    format: SourceFormat

    @property
    def rows(self) -> int:
        return self.fingerprint.rows

    @property
    def textual(self) -> bool:
        """True when every cell is text as the file spelled it (CSV)."""
        return self.format == "csv"

    def to_dict(self) -> dict[str, Any]:
        """The source as JSON data, in `SourceFrame.to_dict`'s shape."""
        return {
            "source": self.source,
            "format": self.format,
            "rows": self.rows,
            "columns": [str(name) for name in self.frame.columns],
            "fingerprint": self.fingerprint.to_dict(),
        }


def read_source_spark(loaded: LoadedCharter, engine: SparkEngine) -> SparkSourceFrame:
    """Read the data the charter names into Spark, once, and fingerprint it.

    Raises DataError, with the pandas engine's sentences where the fault is the same, when
    the file or folder is missing or empty, holds only a header, looks split by the wrong
    delimiter, cannot be read, when the table is unknown to Spark's catalog, and when the
    target column is not in the data.
    """
    charter = loaded.charter
    source = charter.data.source
    fmt: SourceFormat
    content: str | None
    if source.table:
        frame, where, fmt, content = _read_table(engine, source.table), source.table, "table", None
    elif source.path:
        path = loaded.resolve(source.path)
        frame, fmt, content = _read_path(engine, path, source.format, charter, source.path)
        where = source.path
    elif source.query:
        raise DataError(
            "The 'data.source' of the charter must be a file or a Spark table (data.source.table) "
            "for the Spark engine. Got a SQL query instead: use the pandas engine, or name the "
            "table in data.source.table."
        )
    else:
        raise DataError(
            "The 'data.source' of the charter must name a file (path) or a Spark table (table) "
            "with engine: spark. Got neither."
        )
    names = [str(name) for name in frame.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(
            f"The column names of '{where}' must be unique. Got "
            f"{', '.join(repr(name) for name in repeated)} more than once instead."
        )
    check_target_present(frame, charter, where)
    rows = int(frame.count())
    if rows == 0:
        raise DataError(f"The data of '{where}' must hold data rows. Got none instead.")
    schema = spark_schema(frame, charter)
    return SparkSourceFrame(
        frame=frame,
        fingerprint=Fingerprint(
            content_sha256=content if content is not None else table_sha256(frame, rows),
            schema_sha256=schema_sha256(schema),
            rows=rows,
            columns=len(names),
            format=fmt,
            schema=schema,
        ),
        source=where,
        format=fmt,
    )


def _read_table(engine: SparkEngine, name: str) -> DataFrame:
    from pyspark.errors import AnalysisException

    try:
        return engine.session.table(name)
    except AnalysisException as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"The table '{name}' of data.source.table must be a table Spark's catalog knows. "
            f"Spark says: {first}"
        ) from None


def _read_path(
    engine: SparkEngine, path: Path, fmt: str | None, charter: Charter, where: str
) -> tuple[DataFrame, SourceFormat, str]:
    """(frame, format, content sha256) of a CSV file, a Parquet file or a Parquet folder."""
    if not path.exists():
        raise DataError(f"The data file '{path}' does not exist.")
    if path.is_dir():
        files = data_files(path)
        if not files:
            raise DataError(
                f"The data folder '{path}' must hold Parquet files. Got none there instead."
            )
        return _parquet(engine, path), "parquet", files_sha256(path, files)
    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(fmt or "", path.suffix.lower())
    if suffix in PARQUET_SUFFIXES:
        if path.stat().st_size == 0:
            raise DataError(f"The data file '{path}' is empty (0 bytes).")
        return _parquet(engine, path), "parquet", file_sha256(path)
    if suffix not in CSV_SUFFIXES:
        known = ", ".join(sorted(CSV_SUFFIXES | PARQUET_SUFFIXES))
        raise DataError(
            f"The format of '{path}' must be one of {known}. Got '{suffix or path.name}' instead."
        )
    # The head, read by pandas on the driver, settles the delimiter and checks the header
    # with the pandas engine's own rules and messages (empty file, duplicate names...).
    source = charter.data.source
    head = read(path, nrows=_HEAD_ROWS, fmt="csv", delimiter=source.delimiter, encoding=None)
    delimiter = head.delimiter or ","
    _check_delimiter(head.frame, charter, where, delimiter)
    frame = engine.session.read.csv(
        str(path),
        header=True,
        sep=delimiter,
        encoding=source.encoding or "UTF-8",
        inferSchema=False,
        quote='"',
        escape='"',
        multiLine=True,
        mode="FAILFAST",
    )
    return frame, "csv", file_sha256(path)


def _parquet(engine: SparkEngine, path: Path) -> DataFrame:
    from pyspark.errors import PySparkException

    try:
        frame = engine.read_parquet(str(path))
        frame.schema  # noqa: B018 -- resolve the schema now, so a bad file fails here
    except PySparkException as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"The data file '{path}' cannot be read as Parquet: {first}") from None
    return frame


def data_files(folder: Path) -> list[Path]:
    """The data files of a Spark output folder, by name (markers and hidden files left out)."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(("_", "."))
    )


def files_sha256(folder: Path, files: list[Path]) -> str:
    """The sha256 of each file's path (relative to `folder`) and bytes, in order."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
    return digest.hexdigest()


def table_sha256(frame: DataFrame, rows: int) -> str:
    """An order-independent content hash of a table, computed as one aggregate."""
    from pyspark.sql import functions as F

    columns = [spark_column(name) for name in frame.columns]
    sums = frame.agg(
        F.sum(F.xxhash64(*columns).cast("decimal(38,0)")).alias("x"),
        F.sum(F.hash(*columns).cast("decimal(38,0)")).alias("m"),
    ).first()
    payload = {
        "rows": rows,
        "columns": [str(name) for name in frame.columns],
        "types": [field.dataType.simpleString() for field in frame.schema.fields],
        "xxhash64": str(sums["x"]) if sums is not None else None,
        "murmur3": str(sums["m"]) if sums is not None else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def observed_spark_type(kind: Any) -> str:
    """A Spark column's type in the contract's words (as `observed_type` says for pandas)."""
    from pyspark.sql import types as T

    if isinstance(kind, T.BooleanType):
        return "bool"
    if isinstance(kind, T.IntegralType):
        return "int"
    if isinstance(kind, T.FractionalType):
        return "float"
    if isinstance(kind, T.TimestampType | T.TimestampNTZType | T.DateType):
        return "datetime"
    return "string"


def spark_schema(frame: DataFrame, charter: Charter) -> tuple[tuple[str, str], ...]:
    """(column, type) for every column: the contract's type, else the observed one."""
    contract = charter.data.contract
    return tuple(
        (
            field.name,
            contract[field.name].type
            if field.name in contract
            else observed_spark_type(field.dataType),
        )
        for field in frame.schema.fields
    )
