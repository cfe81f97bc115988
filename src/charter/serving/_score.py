"""Batch scoring: a CSV or Parquet file in, predictions out, one chunk at a time.

    summary = score_file(model, predictor, check, Path("in.csv"), Path("out.parquet"),
                         id_column="customerID", chunk_rows=50_000, progress=callback)

The source is read in chunks (pandas' CSV reader, or pyarrow's Parquet batches), so memory
holds one chunk whatever the file's size. Each chunk goes through the caller's contract
check, then the predictor's vectorised path (ONNX, the booster or the dot product on the
chunk's matrix; natively, the model on the chunk's DataFrame). Predictions are written
beside the id column (or `charter_row`, the row's number in the file counting from 1):
`prediction`, then `probability_<class>` per class for classification. The output's
format follows its extension (.csv, .tsv, .parquet, .pq). Rows the check rejects go to
`<out stem>.rejects.csv` beside the output, after their `charter_row`, with the columns
the check adds to say why. Both files are written atomically: a failure leaves neither.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from charter.errors import DataError
from charter.serving._predictor import ModelLike, Predictor, ServingError, compile_predictor

#: (valid rows, rejected rows) from a raw chunk. Valid rows keep their row labels and hold
#: the feature columns, typed; rejected rows carry columns that say why (charter.data's
#: check adds `charter_violations`).
ContractCheck = Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]
#: Called after each chunk with the rows read so far and the file's rows (None if unknown).
ScoreProgress = Callable[[int, int | None], None]

PREDICTION = "prediction"
PROBABILITY = "probability_"
ROW = "charter_row"
REASONS = "charter_violations"
DEFAULT_CHUNK_ROWS = 50_000
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class ScoreSummary:
    """What a batch scoring did: rows in, scored and rejected, the files, the speed."""

    source: Path
    out: Path
    rejects: Path | None
    kind: str
    rows_in: int
    scored: int
    rejected: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "out": str(self.out),
            "rejects": None if self.rejects is None else str(self.rejects),
            "kind": self.kind,
            "rows_in": self.rows_in,
            "scored": self.scored,
            "rejected": self.rejected,
            "seconds": self.seconds,
            "rows_per_second": self.rows_per_second,
        }


def score_file(
    model: ModelLike,
    predictor: Predictor | None,
    contract_check: ContractCheck | None,
    source: Path,
    out: Path,
    *,
    id_column: str | None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: ScoreProgress | None = None,
) -> ScoreSummary:
    """Score `source` into `out` chunk by chunk; rejected rows go to the rejects file.

    `predictor` None scores natively. Without `contract_check`, CSV columns are typed by
    pandas; with one, CSV cells reach the check as text (as charter's audit reads them).
    Raises DataError for an unknown format or a source lacking the id or a feature
    column (nothing is written), ServingError for a predictor of another model or a
    check that loses rows.
    """
    source, out = Path(source), Path(out)
    reading, writing = _format(source, "source"), _format(out, "output")
    if chunk_rows < 1:
        raise ServingError(
            f"The 'chunk_rows' of score_file must be at least 1. Got {chunk_rows} instead."
        )
    if source.resolve() == out.resolve():
        raise DataError(
            f"The output file must differ from the source '{source}'. Got the same file instead."
        )
    if predictor is None:
        predictor = compile_predictor(model, holdout=None, prefer="native")
    elif tuple(predictor.features) != tuple(model.features) or predictor.task != model.task:
        raise ServingError(
            "The predictor handed to score_file must be compiled from the model handed with "
            f"it. Got a {predictor.task} predictor on {len(predictor.features)} features instead."
        )
    features = [str(name) for name in model.features]
    key = id_column or ROW
    outputs = _output_columns(predictor, key)
    started = time.perf_counter()
    columns, total, id_type = _inspect(source, reading, id_column)
    lacking = [
        name for name in [*([id_column] if id_column else []), *features] if name not in columns
    ]
    if lacking:
        raise DataError(
            f"The file '{source}' must have the id and feature columns the model needs. Got a "
            f"file without {', '.join(repr(name) for name in lacking)} instead."
        )
    needed = (
        None if contract_check is not None else [*([id_column] if id_column else []), *features]
    )
    chunks = _chunks(
        source,
        reading,
        chunk_rows,
        raw=contract_check is not None,
        id_column=id_column,
        columns=needed,
    )
    rejects_path = out.with_name(f"{out.stem}.rejects.csv")
    rows_in = scored = rejected = 0
    with (
        _Output(out, writing, outputs, _arrow_schema(predictor, key, id_type, outputs)) as written,
        _Rejects(rejects_path) as rejects,
    ):
        for chunk in chunks:
            chunk.index = pd.RangeIndex(rows_in, rows_in + len(chunk))
            valid, bad = _checked(chunk, contract_check)
            if len(valid):
                written.write(_predictions(predictor, chunk, valid, id_column, key))
            if len(bad):
                rejects.write(_rejected(chunk, bad))
            rows_in += len(chunk)
            scored += len(valid)
            rejected += len(bad)
            if progress is not None:
                progress(rows_in, total)
    return ScoreSummary(
        source=source,
        out=out,
        rejects=rejects_path if rejected else None,
        kind=predictor.kind,
        rows_in=rows_in,
        scored=scored,
        rejected=rejected,
        seconds=time.perf_counter() - started,
    )


def _format(path: Path, role: str) -> str:
    found = _FORMATS.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"The {role} file '{path}' must end in .csv, .tsv, .parquet or .pq. "
            f"Got {path.suffix or 'no extension'!r} instead."
        )
    return found


def _output_columns(predictor: Predictor, key: str) -> list[str]:
    names = [key, PREDICTION]
    if predictor.task != "regression":
        names += [f"{PROBABILITY}{label}" for label in predictor.classes]
    if len(set(names)) != len(names):
        raise ServingError(
            f"The id column {key!r} must differ from the output's columns {names[1:]}. "
            f"Got {key!r} instead."
        )
    return names


# --- reading ---------------------------------------------------------------------------------


def _inspect(source: Path, fmt: str, id_column: str | None) -> tuple[list[str], int | None, Any]:
    """The source's columns, its row count when known, and the id's Arrow type."""
    import pyarrow as pa

    if not source.is_file():
        raise DataError(f"The file to score must exist. Got '{source}', which does not, instead.")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(source)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"The file '{source}' cannot be read as Parquet: {exc}") from None
        schema = parquet.schema_arrow
        names = [str(name) for name in schema.names]
        id_type = schema.field(id_column).type if id_column and id_column in names else pa.string()
        return names, parquet.metadata.num_rows, id_type
    try:
        header = pd.read_csv(source, nrows=0, sep="\t" if fmt == "tsv" else ",")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"The file '{source}' cannot be read as CSV: {exc}") from None
    return [str(name) for name in header.columns], None, pa.string()


def _chunks(
    source: Path,
    fmt: str,
    chunk_rows: int,
    *,
    raw: bool,
    id_column: str | None,
    columns: Sequence[str] | None,
) -> Iterator[pd.DataFrame]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(source) as parquet:
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
                yield batch.to_pandas()
        return
    options: dict[str, Any] = {"sep": "\t" if fmt == "tsv" else ",", "chunksize": chunk_rows}
    if raw:
        # As charter's audit reads a CSV: text cells, missing markers kept for the check.
        options.update(dtype=str, keep_default_na=False, na_filter=False)
    else:
        options.update(dtype={id_column: str} if id_column else None, low_memory=False)
        options["usecols"] = list(columns) if columns is not None else None
    try:
        with pd.read_csv(source, **options) as reader:
            yield from reader
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"The file '{source}' cannot be read as CSV: {exc}") from None


def _checked(chunk: pd.DataFrame, check: ContractCheck | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if check is None:
        return chunk, chunk.iloc[:0]
    valid, bad = check(chunk)
    if len(valid) + len(bad) != len(chunk) or not valid.index.isin(chunk.index).all():
        raise ServingError(
            "The contract check handed to score_file must return every row of a chunk once, "
            f"valid or rejected, with its row label. Got {len(valid)} valid and {len(bad)} "
            f"rejected rows of {len(chunk)} instead."
        )
    return valid, bad


# --- writing ---------------------------------------------------------------------------------


def _predictions(
    predictor: Predictor, chunk: pd.DataFrame, valid: pd.DataFrame, id_column: str | None, key: str
) -> pd.DataFrame:
    scores = predictor.score_frame(valid)
    if id_column is not None:
        ids = chunk[id_column].reindex(valid.index).to_numpy()
    else:
        ids = np.asarray(valid.index, dtype=np.int64) + 1
    columns: dict[str, Any] = {key: ids, PREDICTION: scores.labels}
    if scores.probabilities is not None:
        for k, label in enumerate(predictor.classes):
            columns[f"{PROBABILITY}{label}"] = scores.probabilities[:, k]
    return pd.DataFrame(columns)


def _rejected(chunk: pd.DataFrame, bad: pd.DataFrame) -> pd.DataFrame:
    rows = bad.copy()
    if ROW not in rows.columns:
        rows.insert(0, ROW, np.asarray(bad.index, dtype=np.int64) + 1)
    if not set(map(str, rows.columns)) - set(map(str, chunk.columns)) - {ROW}:
        rows[REASONS] = "rejected by the contract check"
    return rows


def _arrow_schema(predictor: Predictor, key: str, id_type: Any, names: list[str]) -> Any:
    import pyarrow as pa

    fields = [pa.field(key, pa.int64() if key == ROW else id_type)]
    fields.append(pa.field(PREDICTION, _label_type(predictor)))
    fields += [pa.field(name, pa.float64()) for name in names[2:]]
    return pa.schema(fields)


def _label_type(predictor: Predictor) -> Any:
    import pyarrow as pa

    classes = list(predictor.classes)
    if predictor.task == "regression":
        return pa.float64()
    if all(isinstance(label, bool) for label in classes):
        return pa.bool_()
    if all(isinstance(label, int) and not isinstance(label, bool) for label in classes):
        return pa.int64()
    if all(isinstance(label, int | float) and not isinstance(label, bool) for label in classes):
        return pa.float64()
    return pa.string()


class _Atomic:
    """A file written beside its final path and moved there only when all went well."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temporary: Path | None = None

    def _start(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(handle)
        self.temporary = Path(name)
        return self.temporary

    def _finish(self, ok: bool) -> None:
        if self.temporary is None:
            return
        if ok:
            os.replace(self.temporary, self.path)
        else:
            self.temporary.unlink(missing_ok=True)


class _Output(_Atomic):
    """The predictions file: CSV appended chunk by chunk, or a Parquet writer."""

    def __init__(self, path: Path, fmt: str, names: list[str], schema: Any) -> None:
        super().__init__(path)
        self.fmt = fmt
        self.names = names
        self.schema = schema
        self.stream: IO[str] | None = None
        self.writer: Any = None

    def __enter__(self) -> _Output:
        temporary = self._start()
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(temporary, self.schema)
        else:
            self.stream = temporary.open("w", encoding="utf-8", newline="")
            self._csv(pd.DataFrame(columns=self.names), header=True)
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.writer is not None:
            import pyarrow as pa

            if pa.types.is_string(self.schema.field(PREDICTION).type):
                frame[PREDICTION] = frame[PREDICTION].map(str)
            self.writer.write_table(
                pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            )
        else:
            self._csv(frame, header=False)

    def _csv(self, frame: pd.DataFrame, *, header: bool) -> None:
        assert self.stream is not None
        frame.to_csv(
            self.stream, index=False, header=header, sep="\t" if self.fmt == "tsv" else ","
        )

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        try:
            if self.writer is not None:
                self.writer.close()
            if self.stream is not None:
                self.stream.close()
        except BaseException:
            self._finish(False)
            raise
        self._finish(kind is None)


class _Rejects(_Atomic):
    """The rejects CSV, created at the first rejected row; a stale one is removed."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.stream: IO[str] | None = None
        self.columns: list[Any] | None = None

    def __enter__(self) -> _Rejects:
        return self

    def write(self, rows: pd.DataFrame) -> None:
        if self.stream is None:
            self.stream = self._start().open("w", encoding="utf-8", newline="")
            self.columns = list(rows.columns)
            rows.to_csv(self.stream, index=False)
            return
        rows.reindex(columns=self.columns).to_csv(self.stream, index=False, header=False)

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if self.stream is not None:
            self.stream.close()
        elif kind is None:
            self.path.unlink(missing_ok=True)  # no rejects this time: none left from before
        self._finish(kind is None)
