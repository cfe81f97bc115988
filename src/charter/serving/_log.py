"""The prediction log: every answered prediction, append-only, in rotating segment files.

One folder holds one log, written by any number of `PredictionLog` writers (threads of one
server, or several worker processes) and read by any number of `LogReader`s:

    segment-<start>-<uuid>.jsonl    a segment: one JSON object per line (orjson), appended by
                                    one writer, which holds an exclusive flock on it while open
    segment-<start>-<uuid>.parquet  a closed segment compacted to Parquet (same stem)
    feedback.sqlite                 the index of logged prediction ids, and the feedback labels
    .segments.lock                  serialises the creation of segments across processes
    .<stem>.jsonl.creating          a segment being created (renamed into place once locked)
    .<stem>.parquet.tmp             a compaction in progress (renamed into place when complete)

`<start>` is 20 zero-padded digits: strictly increasing across the segments of a folder
(allocated under `.segments.lock`), and, while one writer at a time writes the log, the
ordinal of the segment's first record. Segments sort by name in the order they were opened.

A segment is "open" while its writer holds the flock (the kernel drops it when the writer
dies, even by kill -9), "closed" once not, and "compacted" once it is Parquet. A closed
segment never changes again except by compaction, which keeps every position valid:

Parquet columns: `_offset` (int64: the byte offset of the record's line in the JSON lines
form, so cursors survive compaction), `prediction_id`, `time`, `model_version` (strings),
`latency_ms` (float64), `input` and `output` (the dicts as JSON text), `extra` (the record's
other fields as a JSON object text, null when none). The file's key-value metadata holds
`charter.source_bytes` (the JSON lines size) and `charter.skipped` (the lines compaction
could not read, as a JSON list). Readers turn rows back into the same dicts; `latency_ms`
comes back as a float.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import fcntl
import functools
import os
import re
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from charter.errors import CharterError, DataError

SEGMENT_MAX_BYTES = 64 * 1024 * 1024
"""A segment is closed once it holds at least this many bytes."""

FLUSH_INTERVAL_S = 0.1
"""In fast mode, the longest a record waits in memory before it is written to the OS."""

CHUNK_RECORDS = 10_000
"""The most records a reader hands over in one chunk."""

MAX_PENDING_RECORDS = 50_000
"""In fast mode, the most records that may wait in memory before `submit` applies back-pressure."""

MAX_PENDING_BYTES = 32 * 1024 * 1024
"""In fast mode, the most encoded bytes that may wait in memory before back-pressure."""

DATABASE_NAME = "feedback.sqlite"
BUSY_TIMEOUT_S = 30.0

LogMode = Literal["durable", "fast"]
SegmentState = Literal["open", "closed", "compacted"]

_SEGMENT_NAME = re.compile(r"^segment-(\d{20})-([0-9a-f]{32})\.(jsonl|parquet)$")
_BLOCK_BYTES = 1 << 20
# A compaction batch holds its records as Python dicts (several KiB each): 10,000 keeps a
# compaction under ~100 MiB beside a busy server.
_COMPACT_RECORDS = 10_000
_URGENT_BYTES = 4 << 20
# The id index is written at most this often (or every this many ids, or at a flush).
_INDEX_INTERVAL_S = 0.5
_INDEX_RECORDS = 20_000
_REQUIRED: tuple[tuple[str, type, str], ...] = (
    ("prediction_id", str, "a string"),
    ("time", str, "a string"),
    ("model_version", str, "a string"),
    ("input", dict, "an object"),
    ("output", dict, "an object"),
)
_CORE = frozenset(name for name, _, _ in _REQUIRED) | {"latency_ms"}
_DUMPS_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY


class PredictionLogError(CharterError):
    """The prediction log or its feedback database cannot be used as asked.

    It is closed, its folder or disk refused a write, or its SQLite database is unusable.
    """


# --------------------------------------------------------------------------- records


def probability_key(label: Any) -> str:
    """The key a class label has in a logged (and answered) prediction's `probabilities`.

    JSON object keys are text: booleans as JSON spells them, whole floats as integers, the
    rest as `str`. The server writes them; the monitor reads the log with the same rule.
    """
    if isinstance(label, bool):
        return "true" if label else "false"
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


def record_problem(record: object) -> str | None:
    """Why `record` is not a prediction record, or None when it is one.

    A prediction record is a dict with `prediction_id` (a non-empty string), `time` (ISO
    8601 UTC text), `model_version` (a string), `input` and `output` (dicts) and
    `latency_ms` (a number); any other fields are kept as they are.
    """
    if not isinstance(record, dict):
        return f"a prediction record must be an object, not {type(record).__name__}"
    for name, kind, described in _REQUIRED:
        value = record.get(name)
        if not isinstance(value, kind):
            got = "nothing" if value is None else repr(value)[:80]
            return f"its '{name}' must be {described}. Got {got} instead"
    latency = record.get("latency_ms")
    if isinstance(latency, bool) or not isinstance(latency, int | float):
        got = "nothing" if latency is None else repr(latency)[:80]
        return f"its 'latency_ms' must be a number. Got {got} instead"
    if not record["prediction_id"]:
        return "its 'prediction_id' must not be empty"
    return None


# --------------------------------------------------------------------------- files


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold `.segments.lock`: one process at a time creates a segment or cleans leftovers."""
    fd = os.open(folder / ".segments.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _fsync_folder(folder: Path, fsync: Callable[[int], None]) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@dataclass(frozen=True)
class SegmentInfo:
    """One segment of a log folder as it was when listed.

    `state` is "open" while a live writer appends to it, "closed" once no writer holds it,
    "compacted" once it is Parquet. `size` is the file's size in bytes when listed.
    """

    stem: str
    start: int
    state: SegmentState
    path: Path
    size: int


def scan_segments(folder: Path) -> list[SegmentInfo]:
    """The segments of `folder` in order (by name); an absent folder has none."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    forms: dict[str, set[str]] = {}
    for name in names:
        match = _SEGMENT_NAME.match(name)
        if match:
            forms.setdefault(name.rsplit(".", 1)[0], set()).add(match.group(3))
    segments = []
    for stem in sorted(forms):
        start = int(stem.split("-")[1])
        if "parquet" in forms[stem]:
            path = folder / f"{stem}.parquet"
            with contextlib.suppress(FileNotFoundError):
                segments.append(SegmentInfo(stem, start, "compacted", path, path.stat().st_size))
            continue
        info = _probe_jsonl(folder, stem, start)
        if info is not None:
            segments.append(info)
    return segments


def _probe_jsonl(folder: Path, stem: str, start: int) -> SegmentInfo | None:
    path = folder / f"{stem}.jsonl"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        # Compacted since the listing: the Parquet file took its place.
        parquet = path.with_suffix(".parquet")
        with contextlib.suppress(FileNotFoundError):
            return SegmentInfo(stem, start, "compacted", parquet, parquet.stat().st_size)
        return None
    try:
        # A writer holds an exclusive flock for as long as it may append; a shared
        # probe fails exactly then. Probe before measuring, so a closed segment's size
        # is final.
        closed = _try_flock(fd, fcntl.LOCK_SH)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    return SegmentInfo(stem, start, "closed" if closed else "open", path, size)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Skipped:
    """A line of a segment that holds no readable record, and why; it was left out."""

    segment: str
    offset: int
    length: int
    reason: str


@dataclass
class _Piece:
    """Records read from one segment: their line offsets, skipped lines, where it stopped."""

    records: list[dict[str, Any]]
    offsets: list[int]
    skipped: list[Skipped]
    position: int


def _parse_line(stem: str, line: bytes, offset: int, piece: _Piece) -> None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        piece.skipped.append(Skipped(stem, offset, len(line), f"invalid JSON: {error}"))
        return
    problem = record_problem(record)
    if problem is not None:
        piece.skipped.append(
            Skipped(stem, offset, len(line), f"not a prediction record: {problem}")
        )
        return
    piece.records.append(record)
    piece.offsets.append(offset)


def _iter_jsonl(
    path: Path, stem: str, start: int, end: int | None, closed: bool, chunk: int
) -> Iterator[_Piece]:
    """Records of a JSON lines segment from byte `start` up to `end` (None: the file's end).

    Raises FileNotFoundError before yielding anything when the file is gone. A final line
    without its end of line is skipped and reported when the segment is `closed` (its
    writer died mid-record); in an open segment it is not there yet and is left unread.
    """
    with open(path, "rb", buffering=0) as file:
        limit = os.fstat(file.fileno()).st_size if end is None else end
        position = start
        if 0 < position < limit:
            # Resume on a line boundary; a position inside a line means that line was read.
            file.seek(position - 1)
            if file.read(1) != b"\n":
                rest = file.read(limit - position)
                cut = rest.find(b"\n")
                position = limit if cut < 0 else position + cut + 1
        file.seek(position)
        piece = _Piece([], [], [], position)
        carry = b""
        carry_at = position
        while position < limit:
            block = file.read(min(_BLOCK_BYTES, limit - position))
            if not block:
                break
            position += len(block)
            data = carry + block if carry else block
            lines = data.split(b"\n")
            carry = lines.pop()
            offset = carry_at
            for line in lines:
                _parse_line(stem, line, offset, piece)
                offset += len(line) + 1
                if len(piece.records) >= chunk:
                    piece.position = offset
                    yield piece
                    piece = _Piece([], [], [], offset)
            carry_at = offset
            piece.position = offset
        if carry and closed:
            reason = (
                f"truncated record: {len(carry)} bytes without an end of line "
                "(its writer stopped mid-record)"
            )
            piece.skipped.append(Skipped(stem, carry_at, len(carry), reason))
            piece.position = carry_at + len(carry)
        if piece.records or piece.skipped:
            yield piece


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    """Turn a damaged Parquet segment into a DataError that names it.

    Compaction renames a Parquet file into place only once complete and fsynced, so a
    damaged one was damaged afterwards; its records cannot be read, and skipping them
    silently would move every reader's cursor past them.
    """
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError, ValueError, KeyError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise DataError(
            f"The prediction-log segment {path} cannot be read: {error}. Move it aside "
            "to read the rest of the log."
        ) from error


def _parquet_facts(path: Path) -> tuple[int, list[Skipped]]:
    import pyarrow.parquet as pq

    with _readable(path):
        metadata = pq.read_metadata(path).metadata or {}
        source_bytes = int(metadata[b"charter.source_bytes"])
        skipped = [
            Skipped(str(e["segment"]), int(e["offset"]), int(e["length"]), str(e["reason"]))
            for e in orjson.loads(metadata.get(b"charter.skipped", b"[]"))
        ]
    return source_bytes, skipped


def _iter_parquet(
    path: Path, stem: str, start: int, end: int | None, chunk: int
) -> Iterator[_Piece]:
    """Records of a compacted segment whose JSON lines offset is in [start, end)."""
    import pyarrow.parquet as pq

    source_bytes, skipped = _parquet_facts(path)
    limit = source_bytes if end is None else min(end, source_bytes)
    skips = sorted((e for e in skipped if start <= e.offset < limit), key=lambda e: e.offset)
    parquet = pq.ParquetFile(path)
    held: _Piece | None = None  # held back one step, so the last piece can end at `limit`
    for group in range(parquet.num_row_groups):
        statistics = parquet.metadata.row_group(group).column(0).statistics
        if (
            statistics is not None
            and statistics.has_min_max
            and (statistics.max < start or statistics.min >= limit)
        ):
            continue
        for batch in parquet.iter_batches(batch_size=chunk, row_groups=[group]):
            offsets = batch.column(0).to_pylist()
            first = bisect.bisect_left(offsets, start)
            last = bisect.bisect_left(offsets, limit)
            if first >= last:
                continue
            records = _rows_to_records(batch.slice(first, last - first))
            if held is not None:
                yield held
            # Resuming at the byte after this line's first byte skips exactly this line.
            held = _Piece(records, offsets[first:last], [], offsets[last - 1] + 1)
            held.skipped = [entry for entry in skips if entry.offset < held.position]
            skips = skips[len(held.skipped) :]
    if held is None:
        held = _Piece([], [], [], limit)
    held.skipped.extend(skips)
    held.position = limit
    if held.records or held.skipped or start < limit:
        yield held


def _rows_to_records(rows: Any) -> list[dict[str, Any]]:
    columns = {name: rows.column(name).to_pylist() for name in rows.schema.names}
    loads = orjson.loads
    records = []
    for pid, when, version, latency, inputs, outputs, extra in zip(
        columns["prediction_id"],
        columns["time"],
        columns["model_version"],
        columns["latency_ms"],
        columns["input"],
        columns["output"],
        columns["extra"],
        strict=True,
    ):
        record: dict[str, Any] = {
            "prediction_id": pid,
            "time": when,
            "model_version": version,
            "input": loads(inputs),
            "output": loads(outputs),
            "latency_ms": latency,
        }
        if extra is not None:
            record.update(loads(extra))
        records.append(record)
    return records


def _iter_segment(
    segment: SegmentInfo, start: int, end: int | None, closed: bool, chunk: int
) -> Iterator[_Piece]:
    if segment.state != "compacted":
        try:
            yield from _iter_jsonl(segment.path, segment.stem, start, end, closed, chunk)
            return
        except FileNotFoundError:
            pass  # compacted since it was listed
    parquet = segment.path.with_suffix(".parquet")
    with _readable(parquet):
        yield from _iter_parquet(parquet, segment.stem, start, end, chunk)


def _last_line_end(path: Path, start: int, size: int) -> int:
    """The offset just past the last complete line of an open segment (at least `start`)."""
    with open(path, "rb", buffering=0) as file:
        position = size
        while position > start:
            begin = max(start, position - 65536)
            file.seek(begin)
            block = file.read(position - begin)
            cut = block.rfind(b"\n")
            if cut >= 0:
                return begin + cut + 1
            position = begin
    return start


@dataclass(frozen=True)
class Cursor:
    """How far a reader got: plain JSON (`to_json`/`from_json`) to keep in the ledger.

    `done_through`: every segment whose name sorts at or before it was closed and read to
    its end. `positions`: for later segments, the byte offset (in the JSON lines form) up to
    which they were read; segments absent from it are unread.
    """

    done_through: str | None = None
    positions: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The cursor as a JSON-compatible dict."""
        return {
            "version": 1,
            "done_through": self.done_through,
            "positions": dict(sorted(self.positions.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cursor:
        """Rebuild a cursor from `to_json`'s output; refuses anything else with DataError."""
        if not isinstance(data, Mapping) or data.get("version") != 1:
            raise DataError(
                f"The 'version' of a prediction-log cursor must be 1. Got {_shown(data)} instead."
            )
        done = data.get("done_through")
        if done is not None and not isinstance(done, str):
            raise DataError(
                "The 'done_through' of a prediction-log cursor must be a segment name or null. "
                f"Got {done!r} instead."
            )
        positions = data.get("positions", {})
        if not isinstance(positions, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in positions.items()
        ):
            raise DataError(
                "The 'positions' of a prediction-log cursor must map segment names to byte "
                f"offsets. Got {positions!r} instead."
            )
        return cls(done, dict(positions))


def _shown(data: object) -> str:
    if isinstance(data, Mapping):
        return repr(data.get("version"))
    return repr(data)[:80]


@dataclass(frozen=True)
class LogChunk:
    """Up to `chunk_records` records read from one segment, in log order.

    `skipped` lists the lines in the range just read that held no readable record;
    `cursor` is where a later read resumes to continue right after this chunk.
    """

    segment: str
    records: list[dict[str, Any]]
    skipped: list[Skipped]
    cursor: Cursor


class LogReader:
    """Reads a prediction log folder incrementally, chunk by chunk, resuming at a cursor.

    Safe beside live writers and compaction, in the same process or another: it reads only
    complete lines of open segments, and never reads past what it listed when `read` began.
    A corrupt line, or a record cut short by a writer that died, is skipped and reported
    in its chunk's `skipped`; the records around it are read. It never writes.
    """

    def __init__(self, folder: Path, *, chunk_records: int = CHUNK_RECORDS) -> None:
        if chunk_records < 1:
            raise ValueError(
                f"The 'chunk_records' must be at least 1. Got {chunk_records} instead."
            )
        self.folder = Path(folder)
        self.chunk_records = chunk_records

    def __repr__(self) -> str:
        return f"LogReader({str(self.folder)!r})"

    def segments(self) -> list[SegmentInfo]:
        """The segments of the log in order (compacted, closed and open ones)."""
        return scan_segments(self.folder)

    def read(self, since: Cursor | None = None) -> tuple[Iterator[LogChunk], Cursor]:
        """The chunks after `since` (everything when None), and the cursor after all of them.

        The end cursor is computed up front from what is on disk now; store it only after
        consuming every chunk (or store each chunk's own cursor as you go). Memory stays
        bounded by one chunk however long the log is.
        """
        since = since or Cursor()
        plan: list[tuple[SegmentInfo, int, int]] = []
        for segment in self.segments():
            if since.done_through is not None and segment.stem <= since.done_through:
                continue
            start = since.positions.get(segment.stem, 0)
            if segment.state == "open":
                try:
                    end = max(start, _last_line_end(segment.path, start, segment.size))
                except FileNotFoundError:  # closed and compacted since it was listed
                    end = max(start, _parquet_facts(segment.path.with_suffix(".parquet"))[0])
            elif segment.state == "closed":
                end = max(start, segment.size)
            else:
                end = max(start, _parquet_facts(segment.path)[0])
            plan.append((segment, start, end))
        final = _cursor_after(since.done_through, plan, {s.stem: e for s, _, e in plan})
        return self._chunks(since, plan), final

    def read_all(
        self, since: Cursor | None = None
    ) -> tuple[list[dict[str, Any]], list[Skipped], Cursor]:
        """Every record after `since` in one list, the skipped lines, and the end cursor."""
        chunks, cursor = self.read(since)
        records: list[dict[str, Any]] = []
        skipped: list[Skipped] = []
        for chunk in chunks:
            records.extend(chunk.records)
            skipped.extend(chunk.skipped)
        return records, skipped, cursor

    def _chunks(
        self, since: Cursor, plan: list[tuple[SegmentInfo, int, int]]
    ) -> Iterator[LogChunk]:
        positions = {segment.stem: start for segment, start, _ in plan}
        for segment, start, end in plan:
            if start >= end:
                continue
            closed = segment.state != "open"
            for piece in _iter_segment(segment, start, end, closed, self.chunk_records):
                positions[segment.stem] = end if piece.position >= end else piece.position
                cursor = _cursor_after(since.done_through, plan, positions)
                yield LogChunk(segment.stem, piece.records, piece.skipped, cursor)
            if positions[segment.stem] < end:
                # Nothing readable remained in [position, end): the range is consumed.
                positions[segment.stem] = end
                yield LogChunk(
                    segment.stem, [], [], _cursor_after(since.done_through, plan, positions)
                )


def _cursor_after(
    done_through: str | None,
    plan: Sequence[tuple[SegmentInfo, int, int]],
    positions: Mapping[str, int],
) -> Cursor:
    """The cursor once each planned segment is read up to `positions`.

    A contiguous run of closed segments read to their end folds into `done_through`, so
    the cursor stays small however many segments the log has.
    """
    kept: dict[str, int] = {}
    folding = True
    for segment, _, end in plan:
        position = positions[segment.stem]
        if folding and segment.state != "open" and position >= end:
            done_through = segment.stem
            continue
        folding = False
        if position > 0:
            kept[segment.stem] = position
    return Cursor(done_through, kept)


# --------------------------------------------------------------------------- compaction


def _parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("_offset", pa.int64()),
            ("prediction_id", pa.string()),
            ("time", pa.string()),
            ("model_version", pa.string()),
            ("latency_ms", pa.float64()),
            ("input", pa.string()),
            ("output", pa.string()),
            ("extra", pa.string()),
        ]
    )


def _records_to_batch(schema: Any, records: list[dict[str, Any]], offsets: list[int]) -> Any:
    import pyarrow as pa

    dumps = orjson.dumps
    extras: list[str | None] = []
    for record in records:
        others = {k: v for k, v in record.items() if k not in _CORE}
        extras.append(dumps(others).decode() if others else None)
    return pa.record_batch(
        [
            pa.array(offsets, pa.int64()),
            pa.array([r["prediction_id"] for r in records], pa.string()),
            pa.array([r["time"] for r in records], pa.string()),
            pa.array([r["model_version"] for r in records], pa.string()),
            pa.array([float(r["latency_ms"]) for r in records], pa.float64()),
            pa.array([dumps(r["input"]).decode() for r in records], pa.string()),
            pa.array([dumps(r["output"]).decode() for r in records], pa.string()),
            pa.array(extras, pa.string()),
        ],
        schema=schema,
    )


def compact(folder: Path, *, should_stop: Callable[[], bool] | None = None) -> list[Path]:
    """Compact every closed JSON lines segment of `folder` to Parquet; the new files.

    Each is written to a temporary file, fsynced and renamed into place before its JSON
    lines file is removed, so a crash at any point loses nothing: a reader prefers the
    Parquet file when both exist, and leftovers are cleaned by the next call. Several
    processes may compact one folder at once; each segment is compacted once. Memory
    stays bounded by one batch of records. `should_stop` is polled between batches.
    """
    folder = Path(folder)
    _clean(folder)
    made = []
    for segment in scan_segments(folder):
        if should_stop is not None and should_stop():
            break
        if segment.state == "closed":
            path = _compact_segment(folder, segment, should_stop)
            if path is not None:
                made.append(path)
    return made


def _clean(folder: Path) -> None:
    """Remove what crashed writers and compactors left: never anything a live one uses."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    if any(name.endswith(".creating") for name in names):
        with _folder_lock(folder):
            # Segments are created under this lock, so any `.creating` file seen while
            # holding it belongs to a writer that died before renaming it into place.
            for name in os.listdir(folder):
                if name.startswith(".segment-") and name.endswith(".creating"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(folder / name)
    for name in names:
        path = folder / name
        if name.startswith(".segment-") and name.endswith(".parquet.tmp"):
            stem = name[1 : -len(".parquet.tmp")]
            if not (folder / f"{stem}.jsonl").exists():
                _unlink_if_unlocked(path)
        elif (
            _SEGMENT_NAME.match(name)
            and name.endswith(".jsonl")
            and (folder / f"{name[: -len('.jsonl')]}.parquet").exists()
        ):
            # Compaction renamed the Parquet file into place, then died.
            _unlink_if_unlocked(path)


def _unlink_if_unlocked(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if _try_flock(fd, fcntl.LOCK_EX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    finally:
        os.close(fd)


def _compact_segment(
    folder: Path, segment: SegmentInfo, should_stop: Callable[[], bool] | None
) -> Path | None:
    final = segment.path.with_suffix(".parquet")
    temporary = folder / f".{segment.stem}.parquet.tmp"
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    owned = False
    try:
        if not _try_flock(fd, fcntl.LOCK_EX):
            return None  # another process is compacting it
        with contextlib.suppress(FileNotFoundError):
            owned = os.fstat(fd).st_ino == os.stat(temporary).st_ino
        if not owned:
            return None  # a cleaner removed the file before we locked it
        if final.exists():
            _unlink_if_unlocked(segment.path)
            return None
        os.ftruncate(fd, 0)
        try:
            if not _write_parquet(fd, segment, should_stop):
                return None
        except FileNotFoundError:
            return None  # compacted by another process meanwhile
        os.rename(temporary, final)
        owned = False
        _fsync_folder(folder, os.fsync)
        os.unlink(segment.path)
        _fsync_folder(folder, os.fsync)
        return final
    finally:
        if owned:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        os.close(fd)


def _write_parquet(fd: int, segment: SegmentInfo, should_stop: Callable[[], bool] | None) -> bool:
    """Write `segment` as Parquet into the open file `fd` and fsync it; False when stopped."""
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    skipped: list[Skipped] = []
    with os.fdopen(os.dup(fd), "wb") as out:
        writer = pq.ParquetWriter(out, schema, compression="zstd")
        try:
            pieces = _iter_jsonl(
                segment.path, segment.stem, 0, segment.size, closed=True, chunk=_COMPACT_RECORDS
            )
            for piece in pieces:
                if should_stop is not None and should_stop():
                    return False
                skipped.extend(piece.skipped)
                if piece.records:
                    writer.write_batch(_records_to_batch(schema, piece.records, piece.offsets))
            if should_stop is not None and should_stop():
                return False
            facts = {
                "charter.source_bytes": str(segment.size),
                "charter.skipped": orjson.dumps([entry.__dict__ for entry in skipped]).decode(),
            }
            writer.add_key_value_metadata(facts)
        finally:
            writer.close()
        out.flush()
        os.fsync(out.fileno())
    return True


# --------------------------------------------------------------------------- the id index


def connect_database(folder: Path, *, synchronous: Literal["FULL", "NORMAL"]) -> sqlite3.Connection:
    """A connection to the folder's SQLite database (WAL), its tables created if missing.

    The tables: `predictions` (every logged prediction id), `indexed_segments` (how far
    the ids of each segment are in `predictions`), `feedback` (one label per id).
    """
    try:
        return _connect(folder, synchronous)
    except (sqlite3.Error, OSError) as error:
        raise PredictionLogError(
            f"The database {folder / DATABASE_NAME} cannot be used: {error}."
        ) from error


def _connect(folder: Path, synchronous: str) -> sqlite3.Connection:
    folder.mkdir(parents=True, exist_ok=True)
    with _folder_lock(folder):
        connection = sqlite3.connect(
            folder / DATABASE_NAME,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            connection.executescript(
                """
                CREATE TABLE IF NOT EXISTS predictions (
                    prediction_id TEXT PRIMARY KEY
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS indexed_segments (
                    segment TEXT PRIMARY KEY,
                    position INTEGER NOT NULL,
                    done INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS feedback (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    prediction_id TEXT NOT NULL UNIQUE,
                    label TEXT NOT NULL,
                    at TEXT NOT NULL,
                    received_at TEXT NOT NULL
                );
                """
            )
        except BaseException:
            connection.close()
            raise
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    return connection


class _IdIndex:
    """The ids of logged predictions, so feedback can tell a known id from an unknown one.

    Written by the log's writer thread, one transaction per batch it writes (not one write
    per prediction). A segment's `position` advances only with every id before it, so a
    writer that dies leaves the index behind the log, never ahead; `catch_up` closes the gap.
    """

    def __init__(self, folder: Path) -> None:
        # NORMAL: a commit survives the process dying; after a power loss the index may
        # lag the log, and catch_up re-indexes from the last position it holds.
        self._connection = connect_database(folder, synchronous="NORMAL")

    def add(self, segment: str, position: int, ids: Sequence[str]) -> None:
        self._transaction(segment, position, ids, done=False)

    def mark_done(self, segment: str, position: int) -> None:
        self._transaction(segment, position, (), done=True)

    def progress(self) -> dict[str, tuple[int, bool]]:
        rows = self._connection.execute("SELECT segment, position, done FROM indexed_segments")
        return {segment: (position, bool(done)) for segment, position, done in rows}

    def _transaction(self, segment: str, position: int, ids: Sequence[str], *, done: bool) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            if ids:
                # One statement for the whole batch: executemany releases and retakes the
                # GIL once per row, and under load each retake waits for the request
                # thread's switch interval (5 ms), which made the writer fall behind.
                # Sorted ids touch each B-tree page once.
                connection.execute(
                    "INSERT OR IGNORE INTO predictions (prediction_id) "
                    "SELECT value FROM json_each(?)",
                    (orjson.dumps(sorted(ids)).decode(),),
                )
            connection.execute(
                "INSERT INTO indexed_segments (segment, position, done) VALUES (?, ?, ?) "
                "ON CONFLICT (segment) DO UPDATE SET "
                "position = max(position, excluded.position), done = max(done, excluded.done)",
                (segment, position, int(done)),
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def catch_up(self, folder: Path) -> int:
        """Index the ids of closed segments not fully indexed yet; how many were read."""
        progress = self.progress()
        count = 0
        for segment in scan_segments(folder):
            if segment.state == "open":
                continue  # its live writer indexes it
            position, done = progress.get(segment.stem, (0, False))
            if done:
                continue
            for piece in _iter_segment(segment, position, None, True, _COMPACT_RECORDS):
                self.add(segment.stem, piece.position, [r["prediction_id"] for r in piece.records])
                count += len(piece.records)
                position = piece.position
            self.mark_done(segment.stem, position)
        return count

    def close(self) -> None:
        self._connection.close()


# --------------------------------------------------------------------------- writing


def _count_records(segment: SegmentInfo) -> int:
    """How many records a segment holds (its lines, when JSON lines); 0 when unreadable.

    Only numbers the next segment: a segment being compacted meanwhile, or a damaged one,
    must never stop a writer from opening its next segment.
    """
    for path in (segment.path, segment.path.with_suffix(".parquet")):
        try:
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                return int(pq.read_metadata(path).num_rows)
            with open(path, "rb") as file:
                blocks = iter(lambda: file.read(_BLOCK_BYTES), b"")
                return sum(block.count(b"\n") for block in blocks)
        except FileNotFoundError:
            continue  # compacted since it was listed
        except Exception:
            return 0
    return 0


@dataclass(frozen=True)
class LogStats:
    """A snapshot of a `PredictionLog` writer, for /metrics and /ready.

    `appended`: records submitted; `written`: handed to the OS (they survive the process
    dying); `durable`: fsynced (they survive the machine dying). `lag_records` counts the
    records not yet at the mode's promise (durable: fsynced; fast: written) and
    `lag_seconds` is the age of the oldest of them. `failed` counts records the disk refused.
    `pending` counts the records submitted but not written yet, `pending_bytes` the encoded
    bytes queued in memory for the writer; `backpressure` counts the fast-mode submits that
    found the queue full (`max_pending`) and so waited for the write before answering.
    """

    mode: LogMode
    appended: int
    written: int
    durable: int
    pending: int
    pending_bytes: int
    backpressure: int
    lag_records: int
    lag_seconds: float
    fsyncs: int
    segment: str | None
    segment_bytes: int
    bytes_written: int
    segments_closed: int
    compacted: int
    failed: int
    last_error: str | None


@dataclass
class _Item:
    data: bytes
    ids: list[str]
    count: int
    future: Future[None] | None
    queued_at: float
    sync: bool = False


# What fast mode hands back: one future, resolved once, shared (callbacks added to a done
# future run at once and are not kept), so the request path builds none.
_RESOLVED: Future[None] = Future()
_RESOLVED.set_result(None)


def _close_at_exit(reference: weakref.ReferenceType[PredictionLog]) -> None:
    log = reference()
    if log is not None:
        log.close()


class PredictionLog:
    """An append-only log of prediction records, written by one background thread.

    `submit(records)` returns a future. In "durable" mode it resolves once the records are
    written and fsynced: the writer drains everything queued, writes it, fsyncs once and
    resolves every future of the batch (group commit), so concurrent requests share one
    fsync. In "fast" mode it resolves at once; the writer hands records to the OS within
    `flush_interval_s` of their submission (they then survive kill -9, not a power loss) and
    fsyncs on rotation, `flush()` and `close()`.

    Back-pressure: when `max_pending` records or `max_pending_bytes` bytes already wait in
    memory (the disk or the writer cannot keep up), a fast-mode `submit` returns a future
    that resolves only once its records are written, and the server awaits it before
    answering. It blocks rather than sheds: an answered prediction is a logged prediction,
    so under overload answers slow down to the writer's pace while memory stays bounded
    (`stats().backpressure` counts such submits).

    A segment is closed once it holds `segment_max_bytes`; closed segments are compacted
    to Parquet by a background thread (`compact=True`), off the request path. With
    `index=True`, logged ids are recorded for `FeedbackStore` in `feedback.sqlite`, one
    transaction per batch. `close()` (idempotent; also run at interpreter exit) flushes,
    fsyncs and closes. `fsync` is the function called for every fsync (a hook for tests).
    """

    def __init__(
        self,
        folder: Path,
        *,
        mode: LogMode,
        segment_max_bytes: int = SEGMENT_MAX_BYTES,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        max_pending: int = MAX_PENDING_RECORDS,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        compact: bool = True,
        index: bool = True,
        fsync: Callable[[int], None] = os.fsync,
    ) -> None:
        if mode not in ("durable", "fast"):
            raise ValueError(
                f"The 'mode' of a prediction log must be 'durable' or 'fast'. Got {mode!r} instead."
            )
        if segment_max_bytes < 1:
            raise ValueError(
                "The 'segment_max_bytes' of a prediction log must be at least 1. "
                f"Got {segment_max_bytes} instead."
            )
        if not flush_interval_s > 0:
            raise ValueError(
                "The 'flush_interval_s' of a prediction log must be positive. "
                f"Got {flush_interval_s} instead."
            )
        for name, value in (("max_pending", max_pending), ("max_pending_bytes", max_pending_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"The '{name}' of a prediction log must be a whole number of at least 0. "
                    f"Got {value!r} instead."
                )
        self.folder = Path(folder)
        self.mode: LogMode = mode
        self.segment_max_bytes = segment_max_bytes
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self._durable_mode = mode == "durable"
        self._fsync_hook = fsync
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PredictionLogError(
                f"The prediction log folder {self.folder} cannot be created: {error}."
            ) from error

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._close_lock = threading.Lock()
        self._pending: list[_Item] = []
        self._pending_bytes = 0
        self._unwritten_bytes = 0
        self._urgent = False
        self._idle = False
        self._closing = False
        self._closed = False
        self._inflight_since: float | None = None
        self._unindexed: set[str] = set()
        self._backlog: list[str] = []
        self._index_due = 0.0

        self._appended = 0
        self._written = 0
        self._durable = 0
        self._fsyncs = 0
        self._bytes_written = 0
        self._segments_closed = 0
        self._compacted = 0
        self._failed = 0
        self._backpressure = 0
        self._last_error: str | None = None

        self._fd: int | None = None
        self._stem: str | None = None
        self._start = 0
        self._lines = 0
        self._segment_bytes = 0
        self._unsynced = False
        self._next_start = 0

        self._index: _IdIndex | None = None
        if index:
            self._index = _IdIndex(self.folder)
            try:
                self._index.catch_up(self.folder)
            except BaseException:
                self._index.close()
                raise

        self._writer = threading.Thread(target=self._run, name="charter-log-writer", daemon=True)
        self._compact_wanted = threading.Event()
        self._stop_compacting = threading.Event()
        self._compactor: threading.Thread | None = None
        if compact:
            self._compactor = threading.Thread(
                target=self._compact_loop, name="charter-log-compactor", daemon=True
            )
        self._writer.start()
        if self._compactor is not None:
            self._compact_wanted.set()  # segments left by writers that stopped earlier
            self._compactor.start()
        self._at_exit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)

    def __repr__(self) -> str:
        return f"PredictionLog({str(self.folder)!r}, mode={self.mode!r})"

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---------------------------------------------------------------- the request side

    def submit(self, records: Sequence[dict[str, Any]]) -> Future[None]:
        """Queue `records` (see `record_problem`); the future resolves per the log's mode.

        Raises ValueError for a record that is not a prediction record, TypeError for one
        JSON cannot hold, PredictionLogError once the log is closed. The future fails with
        PredictionLogError when the disk refuses the write (durable mode).
        """
        lines = []
        ids = []
        dumps = orjson.dumps
        for number, record in enumerate(records):
            problem = record_problem(record)
            if problem is not None:
                raise ValueError(f"Prediction record {number} cannot be logged: {problem}.")
            ids.append(record["prediction_id"])
            lines.append(dumps(record, option=_DUMPS_OPTIONS))
        data = b"".join(lines)
        with self._cond:
            if self._closing:
                raise PredictionLogError(f"The prediction log in {self.folder} is closed.")
            # Counted up to the write, not the hand-over: the batch being written is in
            # memory too.
            full = (
                self._appended - self._written - self._failed >= self.max_pending
                or self._unwritten_bytes >= self.max_pending_bytes
            )
            wait = self._durable_mode or full
            if full and not self._durable_mode:
                self._backpressure += 1
            future: Future[None] = Future() if wait else _RESOLVED
            item = _Item(data, ids, len(ids), future if wait else None, time.monotonic())
            self._pending.append(item)
            self._pending_bytes += len(data)
            self._unwritten_bytes += len(data)
            self._appended += item.count
            if self._index is not None:
                self._unindexed.update(ids)
            if wait or self._pending_bytes >= _URGENT_BYTES:
                self._urgent = True
            if self._urgent or self._idle:
                self._cond.notify()
        return future

    def append(self, records: Sequence[dict[str, Any]], timeout: float | None = None) -> None:
        """Submit `records` and wait until the log's mode is satisfied (for synchronous code)."""
        self.submit(records).result(timeout)

    def flush(self) -> Future[None]:
        """A future that resolves once every record submitted so far is written and fsynced.

        By then their ids are in the id index too (unless the index failed: see `stats`).
        """
        future: Future[None] = Future()
        with self._cond:
            if self._closing:
                raise PredictionLogError(f"The prediction log in {self.folder} is closed.")
            self._pending.append(_Item(b"", [], 0, future, time.monotonic(), sync=True))
            self._urgent = True
            self._cond.notify()
        return future

    def knows(self, prediction_id: str) -> bool:
        """Whether `prediction_id` was submitted here but is not in the id index yet."""
        with self._lock:
            return prediction_id in self._unindexed

    def stats(self) -> LogStats:
        """Counts, the open segment, and the lag (see `LogStats`)."""
        now = time.monotonic()
        with self._lock:
            oldest = self._inflight_since
            if oldest is None and self._pending:
                oldest = self._pending[0].queued_at
            target = self._durable if self._durable_mode else self._written
            return LogStats(
                mode=self.mode,
                appended=self._appended,
                written=self._written,
                durable=self._durable,
                pending=self._appended - self._written - self._failed,
                pending_bytes=self._unwritten_bytes,
                backpressure=self._backpressure,
                lag_records=max(0, self._appended - target - self._failed),
                lag_seconds=0.0 if oldest is None else max(0.0, now - oldest),
                fsyncs=self._fsyncs,
                segment=None if self._stem is None else f"{self._stem}.jsonl",
                segment_bytes=self._segment_bytes,
                bytes_written=self._bytes_written,
                segments_closed=self._segments_closed,
                compacted=self._compacted,
                failed=self._failed,
                last_error=self._last_error,
            )

    def close(self) -> None:
        """Write and fsync everything queued, close the segment, stop the threads; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            with self._cond:
                self._closing = True
                self._cond.notify()
            self._writer.join()
            self._stop_compacting.set()
            self._compact_wanted.set()
            if self._compactor is not None:
                self._compactor.join()
            if self._index is not None:
                self._index.close()
            self._closed = True
            atexit.unregister(self._at_exit)

    @property
    def closed(self) -> bool:
        """Whether `close()` has finished."""
        return self._closed

    # ---------------------------------------------------------------- the writer thread

    def _fsync(self, fd: int) -> None:
        self._fsync_hook(fd)
        with self._lock:
            self._fsyncs += 1

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._pending:
                        if self._durable_mode or self._urgent or self._closing:
                            break
                        delay = (
                            self._pending[0].queued_at + self.flush_interval_s - time.monotonic()
                        )
                        if delay <= 0:
                            break
                        self._cond.wait(delay)
                    elif self._closing:
                        break
                    elif self._backlog:
                        # Quiet now, but ids wait for the index: write them when due,
                        # unless a record arrives first (idle: submit wakes us).
                        delay = self._index_due - time.monotonic()
                        if delay <= 0:
                            break
                        self._idle = True
                        self._cond.wait(delay)
                        self._idle = False
                    else:
                        self._idle = True
                        self._cond.wait()
                        self._idle = False
                batch = self._pending
                if not batch and self._closing:
                    break
                self._pending = []
                self._pending_bytes = 0
                self._urgent = False
                self._inflight_since = batch[0].queued_at if batch else None
            if not batch:
                self._index_when_due(force=True)
                continue
            try:
                self._write(batch)
            except Exception as error:  # never leave a caller waiting on a dead thread
                self._fail(batch, error)
            finally:
                with self._lock:
                    self._inflight_since = None
        try:
            self._close_segment()
        except Exception as error:
            self._note_error(error)

    def _write(self, batch: list[_Item]) -> None:
        data = b"".join(item.data for item in batch)
        count = sum(item.count for item in batch)
        sync = self._durable_mode or any(item.sync for item in batch)
        try:
            if data:
                if self._fd is None:
                    self._open_segment()
                assert self._fd is not None
                _write_all(self._fd, data)
                self._segment_bytes += len(data)
                self._lines += count
                self._unsynced = True
            if sync and self._fd is not None and self._unsynced:
                self._fsync(self._fd)
                self._unsynced = False
        except OSError as error:
            self._fail(batch, error)
            self._abandon_segment()
            return
        with self._lock:
            self._written += count
            self._bytes_written += len(data)
            self._unwritten_bytes -= len(data)
            if not self._unsynced:
                self._durable = self._written
        # Acknowledge first (the request path waits on it), then index the ids; a flush
        # resolves last, so everything before it is also in the id index.
        for item in batch:
            if item.future is not None and not item.sync:
                item.future.set_result(None)
        if self._index is not None and self._stem is not None:
            self._backlog.extend(pid for item in batch for pid in item.ids)
            self._index_when_due(force=any(item.sync for item in batch))
        if self._segment_bytes >= self.segment_max_bytes:
            self._close_segment()
        for item in batch:
            if item.future is not None and item.sync:
                item.future.set_result(None)

    def _fail(self, batch: list[_Item], error: BaseException) -> None:
        self._note_error(error)
        failure = PredictionLogError(
            f"The prediction log in {self.folder} could not write {sum(i.count for i in batch)} "
            f"records: {error}"
        )
        failure.__cause__ = error
        with self._lock:
            self._failed += sum(item.count for item in batch)
            self._unwritten_bytes = max(0, self._unwritten_bytes - sum(len(i.data) for i in batch))
            for item in batch:
                self._unindexed.difference_update(item.ids)
        for item in batch:
            if item.future is not None and not item.future.done():
                item.future.set_exception(failure)

    def _note_error(self, error: BaseException) -> None:
        with self._lock:
            self._last_error = f"{type(error).__name__}: {error}"

    def _index_when_due(self, *, force: bool) -> None:
        """Index the backlog when forced (a flush), when it is large, or when it is due.

        One SQLite transaction costs several statements, each of which hands the GIL back
        to the request thread and waits up to its switch interval to retake it: coalescing
        batches into one transaction per `_INDEX_INTERVAL_S` keeps the writer ahead.
        Same-process feedback sees fresh ids through `knows()` meanwhile.
        """
        if self._index is None or not self._backlog:
            return
        now = time.monotonic()
        if force or len(self._backlog) >= _INDEX_RECORDS or now >= self._index_due:
            self._index_due = now + _INDEX_INTERVAL_S
            if self._stem is None:
                self._backlog = []  # its segment is closed: the next catch_up indexes it
                return
            self._index_backlog()

    def _index_backlog(self) -> bool:
        assert self._index is not None
        assert self._stem is not None
        if not self._backlog:
            return True
        try:
            self._index.add(self._stem, self._segment_bytes, self._backlog)
        except sqlite3.Error as error:
            # The ids stay in memory (knows()) and the position stays behind them, so
            # the next batch, or the next writer's catch_up, indexes them.
            self._note_error(error)
            return False
        with self._lock:
            self._unindexed.difference_update(self._backlog)
        self._backlog = []
        return True

    def _open_segment(self) -> None:
        with _folder_lock(self.folder):
            start = max(self._next_start, self._start_after_existing())
            stem = f"segment-{start:020d}-{uuid.uuid4().hex}"
            creating = self.folder / f".{stem}.jsonl.creating"
            fd = os.open(
                creating, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644
            )
            try:
                # Locked before it has its name: a reader never sees it unlocked while open.
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.rename(creating, self.folder / f"{stem}.jsonl")
            except BaseException:
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(creating)
                raise
        try:
            _fsync_folder(self.folder, self._fsync)
        except BaseException:
            os.close(fd)
            raise
        with self._lock:
            self._fd = fd
            self._stem = stem
            self._start = start
            self._lines = 0
            self._segment_bytes = 0
            self._unsynced = False

    def _start_after_existing(self) -> int:
        """A start above every segment's: the ordinal after the last segment's records."""
        segments = scan_segments(self.folder)
        if not segments:
            return 0
        last = segments[-1]
        return max(last.start + _count_records(last), last.start + 1)

    def _close_segment(self) -> None:
        fd = self._fd
        if fd is None:
            return
        stem = self._stem
        assert stem is not None
        try:
            if self._unsynced:
                self._fsync(fd)
                self._unsynced = False
                with self._lock:
                    self._durable = self._written
        except OSError as error:
            self._note_error(error)
        if self._index is not None:
            done = self._index_backlog()
            if done:
                try:
                    self._index.mark_done(stem, self._segment_bytes)
                except sqlite3.Error as error:
                    self._note_error(error)
            else:
                # Its ids stay in memory (knows()); the next writer's catch_up indexes them.
                self._backlog = []
        self._release_segment(fd, start=self._start + self._lines)
        with self._lock:
            self._segments_closed += 1
        self._compact_wanted.set()

    def _abandon_segment(self) -> None:
        """Stop writing a segment whose disk failed; what it holds stays readable."""
        fd = self._fd
        if fd is None:
            return
        self._backlog = []
        self._release_segment(fd, start=self._start + self._lines + 1)

    def _release_segment(self, fd: int, *, start: int) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)  # releases the flock: the segment is closed for readers
        with self._lock:
            self._fd = None
            self._stem = None
            self._segment_bytes = 0
            self._next_start = start

    def _compact_loop(self) -> None:
        while not self._stop_compacting.is_set():
            self._compact_wanted.wait()
            self._compact_wanted.clear()
            if self._stop_compacting.is_set():
                break
            try:
                made = compact(self.folder, should_stop=self._stop_compacting.is_set)
            except Exception as error:  # compaction is an optimisation: never fatal
                self._note_error(error)
                continue
            with self._lock:
                self._compacted += len(made)
