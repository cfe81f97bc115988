"""Read a CSV or Parquet file into a frame, with the checks `charter init` needs.

CSV is read as strings only (no NA guessing) so that missing-value markers such as "?"
or " " survive to be seen by the inference; Parquet keeps the types its file records.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from charter.errors import DataError

CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
DELIMITERS = ",;\t|"
# Enough lines for the sniffer to see the header and a few rows, small enough to be instant.
_SNIFF_BYTES = 64 * 1024
_SNIFF_LINES = 20


@dataclass(frozen=True)
class Table:
    """A frame read from a file, with what the file said about its column types.

    `arrow_types` maps each column to its pyarrow type for Parquet and is None for CSV,
    whose columns are all strings until the inference types them.
    """

    frame: pd.DataFrame
    arrow_types: dict[str, Any] | None
    delimiter: str | None = None  # the delimiter a CSV was split by
    sha256: str | None = None  # of the file's bytes, hashed as they were parsed (whole reads)


class _HashingReader(io.RawIOBase):
    """A binary file that hashes the bytes as the parser reads them: the data is read once."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._handle.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)

    def finish(self) -> str:
        """The sha256 of the whole file, reading whatever the parser left unread."""
        while chunk := self._handle.read(1 << 20):
            self.digest.update(chunk)
        return self.digest.hexdigest()


def read_table(path: Path) -> pd.DataFrame:
    """Read a whole CSV (every column as strings) or Parquet file (typed) into a frame.

    Raises DataError when the file is missing, empty, of an unknown format, unparsable,
    or has duplicate column names.
    """
    return read(path, nrows=None).frame


def read(
    path: Path,
    *,
    nrows: int | None,
    fmt: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Table:
    """Read at most `nrows` data rows of `path` (all when None); see `read_table`.

    `fmt` ("csv" or "parquet") overrides the file's suffix; `delimiter` and `encoding`
    override what is sniffed from a CSV's first bytes.
    """
    if nrows is not None and nrows < 1:
        raise ValueError(f"nrows must be at least 1 or None, got {nrows}")
    if not path.exists():
        raise DataError(f"The data file '{path}' does not exist.")
    if not path.is_file():
        raise DataError(f"The data file '{path}' must be a file. Got a directory instead.")
    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(fmt or "", path.suffix.lower())
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        known = ", ".join(sorted(CSV_SUFFIXES | PARQUET_SUFFIXES))
        raise DataError(
            f"The format of '{path}' must be one of {known}. Got '{suffix or path.name}' instead."
        )
    if path.stat().st_size == 0:
        raise DataError(f"The data file '{path}' is empty (0 bytes).")
    if suffix in PARQUET_SUFFIXES:
        table = _read_parquet(path, nrows)
    else:
        table = _read_csv(path, nrows, delimiter=delimiter, encoding=encoding)
    _check_columns(path, [str(c) for c in table.frame.columns])
    if len(table.frame) == 0:
        raise DataError(f"The data file '{path}' must hold data rows. Got only a header instead.")
    return table


def _check_columns(path: Path, names: list[str]) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        shown = ", ".join(repr(name) for name in duplicates)
        raise DataError(
            f"The column names of '{path}' must be unique. Got {shown} more than once instead."
        )


def _read_csv(
    path: Path, nrows: int | None, *, delimiter: str | None = None, encoding: str | None = None
) -> Table:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    sniffed, text = _detect_encoding(head)
    if encoding is not None:
        with contextlib.suppress(LookupError):  # an unknown codec is reported by the read
            text = head.decode(encoding, errors="ignore")
    if delimiter is None:
        delimiter = _sniff_delimiter(text, default="\t" if path.suffix.lower() == ".tsv" else ",")
    # A head that decodes as UTF-8 does not prove the rest does: a legacy 8-bit file may
    # hold its first accented letter further down, so the read itself may fall back.
    if encoding is not None:
        return _read_declared(path, nrows, delimiter, encoding)
    candidates = [sniffed] + [name for name in ("cp1252",) if name != sniffed]
    for attempt in candidates:
        try:
            raw, digest = _parse_csv(path, delimiter, attempt, nrows)
            break
        except UnicodeDecodeError:
            continue
    else:
        raw, digest = _parse_csv(path, delimiter, "latin-1", nrows)  # decodes any byte
    return _table(path, raw, delimiter, digest)


def _read_declared(path: Path, nrows: int | None, delimiter: str, encoding: str) -> Table:
    """Read a CSV in the encoding the charter declares: no guessing, no fallback."""
    try:
        raw, digest = _parse_csv(path, delimiter, encoding, nrows)
    except LookupError:
        raise DataError(
            f"The encoding of '{path}' must be one Python knows (utf-8, latin-1, cp1252...). "
            f"Got '{encoding}' instead."
        ) from None
    except UnicodeDecodeError as error:
        raise DataError(
            f"The data file '{path}' cannot be decoded as {encoding}: a byte at offset "
            f"{error.start} is not valid {encoding}."
        ) from None
    return _table(path, raw, delimiter, digest)


def _table(path: Path, raw: pd.DataFrame | None, delimiter: str, digest: str | None) -> Table:
    if raw is None:
        raise DataError(f"The data file '{path}' is empty: it holds no header row.")
    names = [
        str(name) if str(name) != "" else f"Unnamed: {i}" for i, name in enumerate(raw.iloc[0])
    ]
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = pd.Index(names, dtype=object)
    return Table(frame=frame, arrow_types=None, delimiter=delimiter, sha256=digest)


def _parse_csv(
    path: Path, delimiter: str, encoding: str, nrows: int | None
) -> tuple[pd.DataFrame | None, str | None]:
    """The raw string frame (header as its first row) and, for a whole read, the sha256."""
    # header=None keeps duplicate names as they are (pandas would rename them "a.1").
    with path.open("rb") as handle:
        reader = _HashingReader(handle)
        try:
            frame = pd.read_csv(
                io.BufferedReader(reader),
                sep=delimiter,
                header=None,
                dtype=str,
                na_filter=False,
                encoding=encoding,
                nrows=None if nrows is None else nrows + 1,
                engine="c",
            )
        except pd.errors.EmptyDataError:
            return None, None
        except pd.errors.ParserError as error:
            detail = " ".join(str(error).split())
            raise DataError(f"The data file '{path}' cannot be parsed as CSV: {detail}") from error
        return frame, (reader.finish() if nrows is None else None)


def _detect_encoding(head: bytes) -> tuple[str, str]:
    """The encoding of a file from its first bytes, and those bytes decoded."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", head.decode("utf-16", errors="ignore")
    # Cut at the last newline so that a multi-byte character is never split in two.
    cut = head.rfind(b"\n")
    sample = head if cut < 0 else head[: cut + 1]
    try:
        return "utf-8-sig", sample.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding = _legacy_encoding(sample)
        return encoding, sample.decode(encoding)


def _legacy_encoding(data: bytes) -> str:
    # cp1252 is latin-1 plus printable characters (curly quotes, the euro sign) in place of
    # C1 controls; it fails only on five unassigned bytes, and then latin-1 takes them.
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _sniff_delimiter(text: str, *, default: str) -> str:
    lines = [line for line in text.splitlines()[:_SNIFF_LINES] if line.strip()]
    if not lines:
        return default
    sample = "\n".join(lines) + "\n"
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    # The sniffer is right on regular files; the header must split by what it found.
    if sniffed and sniffed in DELIMITERS and _fields(lines[0], sniffed) > 1:
        return sniffed
    return _count_delimiter(lines, default)


def _fields(line: str, delimiter: str) -> int:
    return len(next(csv.reader([line], delimiter=delimiter)))


def _count_delimiter(lines: list[str], default: str) -> str:
    """The candidate that splits the header into most fields, most lines agreeing with it."""
    best, best_score = default, (0.0, 1)
    for delimiter in DELIMITERS:
        header = _fields(lines[0], delimiter)
        if header < 2:
            continue
        agreeing = sum(_fields(line, delimiter) == header for line in lines) / len(lines)
        score = (round(agreeing, 1), header)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_parquet(path: Path, nrows: int | None) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    digest = None
    try:
        if nrows is None:  # one read: the bytes are hashed and parsed from memory
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            parquet = pq.ParquetFile(pa.BufferReader(data))
        else:
            parquet = pq.ParquetFile(path)
        names = list(parquet.schema_arrow.names)
        _check_columns(path, names)
        if nrows is None:
            table = parquet.read()
        else:
            batches = []
            rows = 0
            for batch in parquet.iter_batches(batch_size=min(nrows, 65_536)):
                batches.append(batch)
                rows += batch.num_rows
                if rows >= nrows:
                    break
            table = pa.Table.from_batches(batches, schema=parquet.schema_arrow).slice(0, nrows)
    except (pa.ArrowException, OSError) as error:
        detail = " ".join(str(error).split())
        raise DataError(f"The data file '{path}' cannot be read as Parquet: {detail}") from error
    types = {name: table.schema.field(name).type for name in names}
    return Table(frame=table.to_pandas(), arrow_types=types, sha256=digest)
