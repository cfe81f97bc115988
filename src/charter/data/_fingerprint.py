"""Fingerprints: what exactly was read, as a content hash and a schema hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from charter.spec.schema import Charter

SourceFormat = Literal["csv", "parquet", "sql", "table"]
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    """The identity of a data set: its content sha256, its schema sha256 and its size.

    The content hash covers the file's bytes (CSV, Parquet) or a canonical serialisation
    of the rows (SQL); the schema hash covers the column names, in order, with the type
    the contract declares for each (or the observed one when the contract is silent).
    """

    content_sha256: str
    schema_sha256: str
    rows: int
    columns: int
    format: SourceFormat
    schema: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        """The fingerprint as JSON data.

        Shape: {"content_sha256": str, "schema_sha256": str, "rows": int, "columns": int,
        "format": "csv"|"parquet"|"sql"|"table", "schema": [[column, type], ...]}.
        """
        return {
            "content_sha256": self.content_sha256,
            "schema_sha256": self.schema_sha256,
            "rows": self.rows,
            "columns": self.columns,
            "format": self.format,
            "schema": [list(pair) for pair in self.schema],
        }


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def frame_sha256(frame: pd.DataFrame) -> str:
    """The sha256 of a frame's content: column names, value kinds and a stable hash per row.

    Row hashes come from pandas' stable value hashing, so the same rows in the same order
    give the same digest whichever process or chunking produced the frame.
    """
    digest = hashlib.sha256()
    header = [[str(name), observed_type(frame[name])] for name in frame.columns]
    digest.update(json.dumps(header, ensure_ascii=False).encode("utf-8"))
    if len(frame):
        normalised = frame.copy()
        normalised.columns = pd.RangeIndex(len(frame.columns))
        for position in range(len(frame.columns)):
            column = normalised[position]
            if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
                # str and object columns of the same text hash alike.
                normalised[position] = column.astype(object).where(column.notna(), None)
        hashes = pd.util.hash_pandas_object(normalised, index=False).to_numpy(dtype=np.uint64)
        digest.update(hashes.astype("<u8").tobytes())
    return digest.hexdigest()


def observed_type(series: pd.Series) -> str:
    """A column's type in the contract's words, from its dtype."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def schema_of(frame: pd.DataFrame, charter: Charter) -> tuple[tuple[str, str], ...]:
    """(column, type) for every column: the contract's type, else the observed one."""
    contract = charter.data.contract
    return tuple(
        (
            str(name),
            contract[str(name)].type if str(name) in contract else observed_type(frame[name]),
        )
        for name in frame.columns
    )


def schema_sha256(schema: tuple[tuple[str, str], ...]) -> str:
    """The sha256 of a schema's canonical JSON text."""
    text = json.dumps([list(pair) for pair in schema], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(
    frame: pd.DataFrame, charter: Charter, *, fmt: SourceFormat, content_sha256: str | None
) -> Fingerprint:
    """The fingerprint of a frame read from a source (the frame is hashed when no file was)."""
    schema = schema_of(frame, charter)
    return Fingerprint(
        content_sha256=content_sha256 if content_sha256 is not None else frame_sha256(frame),
        schema_sha256=schema_sha256(schema),
        rows=len(frame),
        columns=len(frame.columns),
        format=fmt,
        schema=schema,
    )
