"""Read a charter's data source once: a CSV or Parquet file, or a SQL query.

CSV cells stay strings (so that missing-value markers are still visible to the contract
check); Parquet and SQL frames keep the types their source records. The frame is
fingerprinted as it is read.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from charter.data._fingerprint import Fingerprint, SourceFormat, file_sha256, fingerprint
from charter.data._read import DELIMITERS, read
from charter.errors import DataError
from charter.spec import LoadedCharter
from charter.spec.schema import Charter, Source

_SHOWN_COLUMNS = 12


@dataclass(frozen=True)
class SourceFrame:
    """The raw frame read from a data source, its fingerprint and where it came from.

    `frame` holds strings for CSV (markers such as "?" or " " intact) and the source's types
    for Parquet and SQL; its index is 0..n-1, so row label i is data row i + 1 of the file.
    `source` describes the origin for messages: the path as the charter gives it, or
    "query on <url>" with any password masked.
    """

    frame: pd.DataFrame
    fingerprint: Fingerprint
    source: str
    format: SourceFormat

    @property
    def textual(self) -> bool:
        """True when every cell is text as the file spelled it (CSV)."""
        return self.format == "csv"

    def to_dict(self) -> dict[str, Any]:
        """The source as JSON data.

        Shape: {"source": str, "format": "csv"|"parquet"|"sql", "rows": int,
        "columns": [str, ...], "fingerprint": Fingerprint.to_dict()}.
        """
        return {
            "source": self.source,
            "format": self.format,
            "rows": len(self.frame),
            "columns": [str(name) for name in self.frame.columns],
            "fingerprint": self.fingerprint.to_dict(),
        }


def read_source(loaded: LoadedCharter) -> SourceFrame:
    """Read the data the charter names, once, and fingerprint it.

    Raises DataError with one clear sentence when the file is missing, empty or holds only
    a header, when a CSV looks split by the wrong delimiter, when a Parquet file cannot be
    read, when a SQL source cannot be reached or its query fails, and when the target
    column is not in the data (with the closest column name as a hint).
    """
    charter = loaded.charter
    source = charter.data.source
    if source.query:
        frame, where, content = _read_sql(source), describe_sql(source), None
        fmt: SourceFormat = "sql"
    else:
        if source.table:
            raise DataError(
                f"The table '{source.table}' of data.source.table is read by the Spark engine. "
                "Got the pandas engine instead: set engine: spark, or run with --engine spark."
            )
        if not source.path:
            raise DataError(
                "The 'data.source' of the charter must name a file (path) or a SQL query. "
                "Got neither."
            )
        path = loaded.resolve(source.path)
        table = read(
            path,
            nrows=None,
            fmt=source.format,
            delimiter=source.delimiter,
            encoding=source.encoding,
        )
        frame, where = table.frame, source.path
        fmt = "parquet" if table.arrow_types is not None else "csv"
        if fmt == "csv":
            _check_delimiter(frame, charter, where, table.delimiter or ",")
        content = table.sha256 or file_sha256(path)
    frame = frame.reset_index(drop=True)
    frame.columns = pd.Index([str(name) for name in frame.columns], dtype=object)
    check_target_present(frame, charter, where)
    return SourceFrame(
        frame=frame,
        fingerprint=fingerprint(frame, charter, fmt=fmt, content_sha256=content),
        source=where,
        format=fmt,
    )


def columns_shown(names: Sequence[str]) -> str:
    """The first column names of a frame, for a message."""
    shown = ", ".join(repr(name) for name in names[:_SHOWN_COLUMNS])
    return shown + (", ..." if len(names) > _SHOWN_COLUMNS else "")


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """' Did you mean 'x'?' for the closest name, or ''."""
    by_lower = {item.lower().strip(): item for item in names}
    guesses = [by_lower[name.lower().strip()]] if name.lower().strip() in by_lower else []
    guesses = guesses or difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f" Did you mean '{guesses[0]}'?" if guesses else ""


def check_target_present(frame: pd.DataFrame, charter: Charter, where: str) -> None:
    """DataError naming the closest column when the target is not a column of `frame`."""
    target = charter.objective.target
    names = [str(name) for name in frame.columns]
    if target not in names:
        raise DataError(
            f"The target must be a column of {where} ({columns_shown(names)}). "
            f"Got '{target}' instead.{did_you_mean(target, names)}"
        )


def _check_delimiter(frame: pd.DataFrame, charter: Charter, where: str, used: str) -> None:
    """A CSV that splits into one column while the charter expects more was misread."""
    if len(frame.columns) != 1:
        return
    expected = set(charter.data.contract) | {charter.objective.target}
    header = str(frame.columns[0])
    if header in expected:
        return
    candidates = [d for d in DELIMITERS + ":" if d != used and d in header]
    likely = max(candidates, key=header.count, default=None)
    if len(expected) < 2 and likely is None:
        return
    hint = (
        f" It seems split by {likely!r}: set data.source.delimiter to it."
        if likely is not None
        else " Set data.source.delimiter to the character that separates its columns."
    )
    names = f"names {len(expected)}" if len(expected) > 1 else "names the target"
    raise DataError(
        f"The data file {where} has 1 column ({header[:60]!r}) while the charter {names}: "
        f"looks like the delimiter is not {used!r}.{hint}"
    )


# -- SQL ---------------------------------------------------------------------------------------


def _url(source: Source) -> str:
    if source.url:
        return source.url
    name = source.url_env or ""
    value = os.environ.get(name, "")
    if not value:
        raise DataError(
            f"The environment variable '{name}' named by data.source.url_env must hold the "
            "connection URL. Got nothing (it is not set) instead."
        )
    return value


def mask_url(url: str) -> str:
    """A connection URL with its password replaced by ***."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<an unparsable URL>"


def describe_sql(source: Source) -> str:
    """'query on <masked url>' (or on $ENV when the URL comes from the environment)."""
    if source.url:
        return f"query on {mask_url(source.url)}"
    return f"query on ${source.url_env}"


def _reason(error: BaseException, url: str) -> str:
    """The driver's own first line about an error, with any password masked."""
    cause: BaseException = error
    if isinstance(cause, pd.errors.DatabaseError) and cause.__cause__ is not None:
        cause = cause.__cause__
    cause = getattr(cause, "orig", None) or cause
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = lines[0] if lines else type(cause).__name__
    password = _password(url)
    if password:
        text = text.replace(password, "***")
    return text.rstrip(".")


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


def _read_sql(source: Source) -> pd.DataFrame:
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    url = _url(source)
    shown = mask_url(url)
    try:
        engine = sa.create_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as error:
        raise DataError(
            f"The data source URL {shown} cannot be used: {_reason(error, url)}."
        ) from None
    try:
        try:
            connection = engine.connect()
        except (SQLAlchemyError, OSError) as error:
            raise DataError(
                f"Cannot connect to the data source {shown}: {_reason(error, url)}."
            ) from None
        with connection:
            try:
                frame = pd.read_sql(sa.text(source.query or ""), connection)
            except (SQLAlchemyError, pd.errors.DatabaseError, ValueError) as error:
                raise DataError(
                    f"The query of data.source failed on {shown}: {_reason(error, url)}."
                ) from None
    finally:
        engine.dispose()
    if len(frame.columns) == 0:
        raise DataError(f"The query of data.source on {shown} must return columns. Got none.")
    duplicates = sorted({str(c) for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicates:
        raise DataError(
            f"The column names returned by the query on {shown} must be unique. Got "
            f"{', '.join(repr(name) for name in duplicates)} more than once instead."
        )
    if len(frame) == 0:
        raise DataError(f"The query of data.source on {shown} must return rows. Got none.")
    return frame
