"""`charter export`: the ledger's KPIs, windows, incidents or runs, as CSV or Parquet for BI."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.errors import CharterError
from charter.spec import load_charter

FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class ExportOutcome:
    """What `charter export` wrote."""

    path: Path
    what: str
    format: str
    rows: int
    columns: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "path": str(self.path),
            "what": self.what,
            "format": self.format,
            "rows": self.rows,
            "columns": list(self.columns),
        }


def export(path: Path, what: str, fmt: str = "csv", out: Path | None = None) -> ExportOutcome:
    """Write table `what` (kpis, windows, incidents, runs) of the project as `fmt` to `out`.

    `out` defaults to `<project>-<what>.<fmt>` in the current folder; the file is written
    atomically. A project without a ledger exports empty tables with their headers.
    """
    from charter.ledger import open_ledger
    from charter.reporting import TABLES, read_snapshot, table_rows

    if what not in TABLES:
        raise CharterError(
            f"The '--what' of charter export must be one of {', '.join(TABLES)}. "
            f"Got {what!r} instead."
        )
    if fmt not in FORMATS:
        raise CharterError(
            f"The '--format' of charter export must be one of {', '.join(FORMATS)}. "
            f"Got {fmt!r} instead."
        )
    loaded = load_charter(path)
    project = loaded.charter.project.name
    with open_ledger(loaded.base_dir) as ledger:
        snapshot = read_snapshot(ledger, project)
    rows = table_rows(what, loaded.charter, snapshot)
    columns = _columns(what, rows)
    target = out if out is not None else Path(f"{project}-{what}.{fmt}")
    data = _csv_bytes(rows, columns) if fmt == "csv" else _parquet_bytes(rows, columns)
    _write_atomically(target, data)
    return ExportOutcome(target, what, fmt, len(rows), columns)


def _columns(what: str, rows: list[dict[str, Any]]) -> tuple[str, ...]:
    from charter.reporting import EMPTY_COLUMNS

    return tuple(rows[0]) if rows else EMPTY_COLUMNS[what]


def _csv_bytes(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> bytes:
    from charter.reporting import rows_to_csv

    return rows_to_csv(rows, columns).encode("utf-8")


def _parquet_bytes(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    # Built column by column so that an all-empty column still gets a type (null).
    table = pa.table({name: pa.array([row.get(name) for row in rows]) for name in columns})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _write_atomically(target: Path, data: bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as error:
        raise CharterError(
            f"The '--out' of charter export must be in a writable folder. "
            f"Got {str(target)!r} ({error.strerror or error}) instead."
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise CharterError(
                f"The '--out' of charter export must be a writable file. "
                f"Got {str(target)!r} ({error.strerror or error}) instead."
            ) from None
        raise
