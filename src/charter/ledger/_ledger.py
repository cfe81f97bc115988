"""The Ledger: a project's memory of charters, runs, evidence, artifacts and models."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Final, cast

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from charter.errors import ArtifactIntegrityError, ConflictError, LedgerError, NotFoundError

from ._artifacts import ArtifactStore, FsspecArtifactStore, content_key, digest
from ._engine import (
    WRITE_OPTION,
    create_ledger_engine,
    masked,
    resolve_url,
    sqlite_path,
    translated_errors,
)
from ._json import json_object
from ._migrate import migrate
from ._models import (
    AliasRow,
    ArtifactRow,
    DeploymentRow,
    EventRow,
    EvidenceRow,
    IncidentRow,
    ModelVersionArtifactRow,
    ModelVersionRow,
    ProjectRow,
    RevisionRow,
    RunRow,
    StageRow,
    WindowRow,
)
from ._records import (
    INCIDENT_STATUSES,
    RUN_STATUSES,
    Alias,
    Artifact,
    Deployment,
    Event,
    Evidence,
    Incident,
    IncidentStatus,
    LedgerSummary,
    ModelVersion,
    MonitoringWindow,
    Revision,
    Run,
    RunStatus,
    StageExecution,
    StageStatus,
)
from ._revisions import changed_sections, unified_diff

ARTIFACTS_URL_ENV: Final = "CHARTER_ARTIFACTS_URL"
"""Environment variable naming the artifact store (any fsspec URL)."""

_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_REGISTER_ATTEMPTS = 5


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _text(value: object, field: str, where: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise LedgerError(
            f"The '{field}' of {where} must be non-empty text of at most {limit} characters. "
            f"Got {value!r} instead."
        )
    return value


def _aware(value: object, field: str, where: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise LedgerError(
            f"The '{field}' of {where} must be a timezone-aware datetime. Got {value!r} instead."
        )
    return value.astimezone(timezone.utc)


def _forget_connections(reference: weakref.ReferenceType[Ledger]) -> None:
    ledger = reference()
    if ledger is not None:
        ledger._engine.dispose(close=False)


def _reason(error: BaseException) -> str:
    message = str(error).strip()
    return message or type(error).__name__


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie counts as ended)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed child that its parent has not waited for yet still answers signal 0.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


class StageHandle:
    """The live side of a stage: collect evidence, or mark the stage failed.

    Evidence is kept in memory and written in the same transaction as the stage's final
    status, so a process killed mid-stage leaves the stage "running" with no evidence.
    After the `with` block, `result` holds the finished StageExecution.
    """

    def __init__(self, execution_id: int, run_id: str, name: str) -> None:
        self.id = execution_id
        self.run_id = run_id
        self.name = name
        self.failure: str | None = None
        self.result: StageExecution | None = None
        self._evidence: list[tuple[str, dict[str, Any], datetime]] = []

    @property
    def evidence(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The evidence added so far, as (kind, payload) pairs."""
        return tuple((kind, payload) for kind, payload, _ in self._evidence)

    def add_evidence(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Keep one piece of evidence; `payload` is converted to JSON data right away."""
        where = f"evidence of stage '{self.name}'"
        self._check_open()
        _text(kind, "kind", where)
        converted = json_object(payload, f"'payload' of evidence '{kind}'")
        self._evidence.append((kind, converted, _now()))

    def fail(self, reason: str) -> None:
        """Mark the stage failed with `reason` once the block ends without an exception."""
        self._check_open()
        self.failure = _text(reason, "reason", f"stage '{self.name}'", limit=10_000)

    def _check_open(self) -> None:
        if self.result is not None:
            raise LedgerError(
                f"The stage '{self.name}' (id {self.id}) must be running to take evidence. "
                f"Got a stage that finished as '{self.result.status}' instead."
            )


class Ledger:
    """One project's (or several projects') memory, in SQLite or PostgreSQL.

    Open it with `open_ledger`; every method runs its own transaction and returns frozen
    records. Safe to share between threads, and between processes through the database.
    Close it (or use it as a context manager) to release its connections.
    """

    def __init__(self, engine: Engine, url: URL, artifact_store: ArtifactStore | str) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._url = url
        self._store_spec = artifact_store
        self._store: ArtifactStore | None = None
        self._dialect = engine.dialect.name
        # A forked child must not reuse the parent's pooled connections (two processes on
        # one SQLite handle corrupt it); it opens its own on first use instead.
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_connections(reference))

    # -- plumbing -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return masked(self._url)

    @property
    def artifact_store(self) -> ArtifactStore:
        """The store holding artifact bytes (created on first use)."""
        if self._store is None:
            spec = self._store_spec
            self._store = spec if isinstance(spec, ArtifactStore) else FsspecArtifactStore(spec)
        return self._store

    def close(self) -> None:
        """Release every database connection this ledger holds."""
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.url!r})"

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with (
            translated_errors(self._url),
            Session(self._engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        # On SQLite the writer engine begins with BEGIN IMMEDIATE: the write lock is taken
        # before the first read, so concurrent writers queue instead of deadlocking.
        with (
            translated_errors(self._url),
            Session(self._writer, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        return dialect.insert(table)

    def _lock_project(self, session: Session, project: str) -> None:
        """Create the project row if needed and hold it until the transaction ends.

        SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs the row lock
        so that, e.g., two registrations cannot both pick the same next version.
        """
        session.execute(
            self._insert(ProjectRow)
            .values(name=project, created_at=_now())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        if self._dialect == "postgresql":
            session.execute(
                select(ProjectRow.name).where(ProjectRow.name == project).with_for_update()
            )

    # -- charter revisions --------------------------------------------------------------

    def record_revision(self, project: str, path: str | Path, text: str) -> Revision:
        """Store a charter text unless it equals the project's latest revision.

        The same text as the latest revision returns that revision with `is_new=False`.
        Otherwise the new revision carries a unified diff against the previous one and
        the top-level sections whose content changed.
        """
        where = f"charter revision of project '{project}'"
        _text(project, "project", where)
        if not isinstance(text, str):
            raise LedgerError(f"The 'text' of {where} must be text. Got {type(text).__name__}.")
        sha = digest(text.encode("utf-8"))
        with self._write() as session:
            self._lock_project(session, project)
            latest = session.scalars(
                select(RevisionRow)
                .where(RevisionRow.project == project)
                .order_by(RevisionRow.id.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.sha256 == sha:
                return replace(_revision(latest), is_new=False)
            if latest is None:
                diff = unified_diff("", text, "/dev/null", f"{path}@{sha[:12]}")
                sections = changed_sections(None, text)
            else:
                diff = unified_diff(
                    latest.text, text, f"{latest.path}@{latest.sha256[:12]}", f"{path}@{sha[:12]}"
                )
                sections = changed_sections(latest.text, text)
            row = RevisionRow(
                project=project,
                sha256=sha,
                text=text,
                path=str(path),
                created_at=_now(),
                diff=diff,
                changed_sections=sections,
                parent_id=None if latest is None else latest.id,
            )
            session.add(row)
            session.flush()
            return _revision(row)

    def revisions(self, project: str) -> list[Revision]:
        """Every charter revision of the project, oldest first."""
        with self._read() as session:
            rows = session.scalars(
                select(RevisionRow).where(RevisionRow.project == project).order_by(RevisionRow.id)
            )
            return [_revision(row) for row in rows]

    def latest_revision(self, project: str) -> Revision | None:
        """The project's newest charter revision, None before the first."""
        with self._read() as session:
            row = session.scalars(
                select(RevisionRow)
                .where(RevisionRow.project == project)
                .order_by(RevisionRow.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _revision(row)

    # -- runs and stages ----------------------------------------------------------------

    def start_run(
        self,
        project: str,
        command: str,
        revision_id: int | None = None,
        code_version: str | None = None,
    ) -> Run:
        """Record that `command` starts now in this process (pid and host are kept)."""
        where = f"a run of project '{project}'"
        _text(project, "project", where)
        _text(command, "command", where)
        if code_version is not None:
            _text(code_version, "code_version", where)
        with self._write() as session:
            self._lock_project(session, project)
            if revision_id is not None:
                revision = session.get(RevisionRow, revision_id)
                if revision is None or revision.project != project:
                    raise NotFoundError(
                        f"The 'revision_id' of {where} must name a charter revision of that "
                        f"project. Got {revision_id!r} instead."
                    )
            row = RunRow(
                id=str(uuid.uuid4()),
                project=project,
                revision_id=revision_id,
                command=command,
                status="running",
                started_at=_now(),
                finished_at=None,
                exit_reason=None,
                pid=os.getpid(),
                hostname=socket.gethostname(),
                code_version=code_version,
            )
            session.add(row)
            session.flush()
            return _run(row)

    def finish_run(self, run_id: str, status: RunStatus, exit_reason: str | None = None) -> Run:
        """Give a running run its final status; stages it left running become interrupted.

        Finishing a run again with the same status returns it unchanged; with another
        status it raises ConflictError.
        """
        finals = [s for s in RUN_STATUSES if s != "running"]
        if status not in finals:
            raise LedgerError(
                f"The 'status' of run '{run_id}' must be one of {', '.join(finals)}. "
                f"Got {status!r} instead."
            )
        with self._write() as session:
            row = self._run_row(session, run_id)
            if row.status != "running":
                if row.status == status:
                    return _run(row)
                raise ConflictError(
                    f"The 'status' of run '{run_id}' must be 'running' to finish it as "
                    f"'{status}'. Got '{row.status}' instead; it already finished."
                )
            now = _now()
            row.status = status
            row.finished_at = now
            row.exit_reason = exit_reason
            session.execute(
                update(StageRow)
                .where(StageRow.run_id == run_id, StageRow.status == "running")
                .values(
                    status="interrupted",
                    finished_at=now,
                    exit_reason="The run finished while this stage was still running.",
                )
            )
            session.flush()
            return _run(row)

    def get_run(self, run_id: str) -> Run:
        """The run with this id; NotFoundError when there is none."""
        with self._read() as session:
            return _run(self._run_row(session, run_id))

    def runs(self, project: str, limit: int | None = 50) -> list[Run]:
        """The project's runs, newest first; `limit=None` returns all."""
        with self._read() as session:
            query = (
                select(RunRow)
                .where(RunRow.project == project)
                .order_by(RunRow.started_at.desc(), RunRow.id)
            )
            if limit is not None:
                query = query.limit(limit)
            return [_run(row) for row in session.scalars(query)]

    def _run_row(self, session: Session, run_id: str) -> RunRow:
        row = session.get(RunRow, run_id) if isinstance(run_id, str) else None
        if row is None:
            raise NotFoundError(
                f"The 'run_id' of the ledger call must name a run in the ledger. "
                f"Got {run_id!r} instead."
            )
        return row

    @contextlib.contextmanager
    def stage(self, run_id: str, name: str) -> Iterator[StageHandle]:
        """Run one stage of a running run; yields a StageHandle.

        On a clean exit the stage is "passed" (or "failed" when `fail()` was called); an
        exception marks it "failed" with the exception's message as exit reason and is
        re-raised; KeyboardInterrupt (or another BaseException) marks it "interrupted".
        Wall and CPU seconds (this process's `time.process_time`) are recorded.
        """
        _text(name, "name", f"a stage of run '{run_id}'", limit=100)
        with self._write() as session:
            run = self._run_row(session, run_id)
            if run.status != "running":
                raise ConflictError(
                    f"The 'status' of run '{run_id}' must be 'running' to start stage "
                    f"'{name}'. Got '{run.status}' instead."
                )
            row = StageRow(run_id=run_id, stage=name, status="running", started_at=_now())
            session.add(row)
            session.flush()
            handle = StageHandle(row.id, run_id, name)
        wall_start = time.perf_counter()
        cpu_start = time.process_time()
        try:
            yield handle
        except BaseException as error:
            status: StageStatus = "failed" if isinstance(error, Exception) else "interrupted"
            self._finish_stage(
                handle,
                status,
                _reason(error),
                time.perf_counter() - wall_start,
                time.process_time() - cpu_start,
            )
            raise
        self._finish_stage(
            handle,
            "passed" if handle.failure is None else "failed",
            handle.failure,
            time.perf_counter() - wall_start,
            time.process_time() - cpu_start,
        )

    def _finish_stage(
        self,
        handle: StageHandle,
        status: StageStatus,
        reason: str | None,
        wall: float,
        cpu: float,
    ) -> None:
        with self._write() as session:
            row = session.get(StageRow, handle.id)
            if row is None:  # pragma: no cover - rows are never deleted
                raise NotFoundError(f"The stage id {handle.id} is not in the ledger.")
            row.status = status
            row.finished_at = _now()
            row.wall_seconds = wall
            row.cpu_seconds = cpu
            row.exit_reason = reason
            session.add_all(
                EvidenceRow(
                    stage_execution_id=handle.id, kind=kind, payload=payload, created_at=created
                )
                for kind, payload, created in handle._evidence
            )
            session.flush()
            handle.result = _stage(row)

    def stage_executions(self, run_id: str) -> list[StageExecution]:
        """The stages of a run in the order they started; NotFoundError for an unknown run."""
        with self._read() as session:
            self._run_row(session, run_id)
            rows = session.scalars(
                select(StageRow).where(StageRow.run_id == run_id).order_by(StageRow.id)
            )
            return [_stage(row) for row in rows]

    def evidence(
        self,
        project: str,
        *,
        kind: str | None = None,
        stage: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
    ) -> list[Evidence]:
        """Evidence of finished stages, newest first, filtered by kind, stage or run."""
        with self._read() as session:
            query = (
                select(EvidenceRow, StageRow)
                .join(StageRow, EvidenceRow.stage_execution_id == StageRow.id)
                .join(RunRow, StageRow.run_id == RunRow.id)
                .where(RunRow.project == project)
                .order_by(EvidenceRow.id.desc())
            )
            if kind is not None:
                query = query.where(EvidenceRow.kind == kind)
            if stage is not None:
                query = query.where(StageRow.stage == stage)
            if run_id is not None:
                query = query.where(StageRow.run_id == run_id)
            if limit is not None:
                query = query.limit(limit)
            return [
                Evidence(
                    id=evidence.id,
                    stage_execution_id=evidence.stage_execution_id,
                    run_id=stage_row.run_id,
                    stage=stage_row.stage,
                    kind=evidence.kind,
                    payload=evidence.payload,
                    created_at=evidence.created_at,
                )
                for evidence, stage_row in session.execute(query)
            ]

    def reap_interrupted(self, project: str | None = None) -> list[str]:
        """Mark runs whose process died as "interrupted"; return their ids.

        Only runs started on this host can be judged: a run still "running" whose pid is
        not alive here is interrupted, with its running stages. Stages left "running"
        under a run that already finished are interrupted too. `project=None` covers
        every project in the ledger. Called by `open_ledger`.
        """
        host = socket.gethostname()
        with self._read() as session:
            query = select(RunRow.id, RunRow.pid).where(
                RunRow.status == "running", RunRow.hostname == host
            )
            if project is not None:
                query = query.where(RunRow.project == project)
            dead = [run_id for run_id, pid in session.execute(query) if not _pid_alive(pid)]
            orphans = session.scalar(
                select(func.count(StageRow.id))
                .join(RunRow, StageRow.run_id == RunRow.id)
                .where(StageRow.status == "running", RunRow.status != "running")
            )
        if not dead and not orphans:
            return []
        reaped: list[str] = []
        with self._write() as session:
            now = _now()
            for run_id in dead:
                row = session.get(RunRow, run_id)
                # Checked again under the write lock: another process may have reaped it.
                if row is None or row.status != "running":
                    continue
                reason = (
                    f"The process (pid {row.pid} on {row.hostname}) ended without finishing "
                    f"the run."
                )
                row.status = "interrupted"
                row.finished_at = now
                row.exit_reason = reason
                session.execute(
                    update(StageRow)
                    .where(StageRow.run_id == run_id, StageRow.status == "running")
                    .values(status="interrupted", finished_at=now, exit_reason=reason)
                )
                session.add(
                    EventRow(
                        project=row.project,
                        time=now,
                        kind="run.interrupted",
                        message=f"Run {run_id} ({row.command}) was interrupted: {reason}",
                        payload={"run_id": run_id, "pid": row.pid, "hostname": row.hostname},
                    )
                )
                reaped.append(run_id)
            finished_runs = select(RunRow.id).where(RunRow.status != "running")
            session.execute(
                update(StageRow)
                .where(StageRow.status == "running", StageRow.run_id.in_(finished_runs))
                .values(
                    status="interrupted",
                    finished_at=now,
                    exit_reason="The run finished while this stage was still running.",
                )
            )
        return reaped

    # -- artifacts ----------------------------------------------------------------------

    def put_artifact(
        self,
        project: str,
        name: str,
        data: bytes | bytearray | memoryview,
        run_id: str | None = None,
    ) -> Artifact:
        """Store bytes under their sha256 in the artifact store, then record them.

        The bytes are written atomically before the row exists, so a row always points
        at complete bytes; a crash in between leaves only unreferenced bytes.
        """
        where = f"an artifact of project '{project}'"
        _text(project, "project", where)
        _text(name, "name", where, limit=500)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise LedgerError(
                f"The 'data' of artifact '{name}' must be bytes. Got {type(data).__name__} instead."
            )
        content = bytes(data)
        if run_id is not None:
            with self._read() as session:
                self._check_run_of(session, run_id, project, where)
        sha = digest(content)
        key = content_key(sha)
        store = self.artifact_store
        # Equal bytes share one object; rewrite it only if what is there went bad.
        if not store.exists(key) or digest(store.read(key)) != sha:
            store.write(key, content)
        with self._write() as session:
            self._lock_project(session, project)
            row = ArtifactRow(
                project=project,
                run_id=run_id,
                name=name,
                uri=key,
                size=len(content),
                sha256=sha,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            return _artifact(row)

    def get_artifact(self, artifact_id: int) -> Artifact:
        """The artifact record with this id; NotFoundError when there is none."""
        with self._read() as session:
            return _artifact(self._artifact_row(session, artifact_id))

    def artifacts(self, project: str, run_id: str | None = None) -> list[Artifact]:
        """The project's artifacts (of one run if given), oldest first."""
        with self._read() as session:
            query = select(ArtifactRow).where(ArtifactRow.project == project)
            if run_id is not None:
                query = query.where(ArtifactRow.run_id == run_id)
            return [_artifact(row) for row in session.scalars(query.order_by(ArtifactRow.id))]

    def load_artifact(self, artifact: int | Artifact) -> bytes:
        """The artifact's bytes, checked against the sha256 recorded when it was stored.

        Raises ArtifactIntegrityError when the bytes changed, NotFoundError when the
        record or the bytes are missing. Always call this before unpickling anything.
        """
        artifact_id = artifact.id if isinstance(artifact, Artifact) else artifact
        with self._read() as session:
            record = _artifact(self._artifact_row(session, artifact_id))
        store = self.artifact_store
        try:
            data = store.read(record.uri)
        except FileNotFoundError:
            raise NotFoundError(
                f"The artifact '{record.name}' (id {record.id}) must have its bytes at "
                f"{store.location(record.uri)}. Got nothing there instead; they were "
                f"deleted or the artifact store moved."
            ) from None
        found = digest(data)
        if found != record.sha256:
            raise ArtifactIntegrityError(
                f"The artifact '{record.name}' (id {record.id}) must match its recorded "
                f"sha256 {record.sha256[:12]}…. Got {found[:12]}… instead; it was changed "
                f"or corrupted after it was stored."
            )
        return data

    def _artifact_row(self, session: Session, artifact_id: int) -> ArtifactRow:
        row = None
        if isinstance(artifact_id, int) and not isinstance(artifact_id, bool):
            row = session.get(ArtifactRow, artifact_id)
        if row is None:
            raise NotFoundError(
                f"The 'artifact_id' of the ledger call must name an artifact in the ledger. "
                f"Got {artifact_id!r} instead."
            )
        return row

    def _check_run_of(self, session: Session, run_id: str, project: str, where: str) -> None:
        row = session.get(RunRow, run_id) if isinstance(run_id, str) else None
        if row is None or row.project != project:
            raise NotFoundError(
                f"The 'run_id' of {where} must name a run of that project. Got {run_id!r} instead."
            )

    # -- model registry -----------------------------------------------------------------

    def register_model_version(
        self,
        project: str,
        run_id: str | None,
        artifact_ids: Sequence[int],
        lineage: Mapping[str, Any],
        metrics: Mapping[str, Any],
        alias: str | None = "candidate",
        *,
        status: str = "registered",
        override_reason: str | None = None,
    ) -> ModelVersion:
        """Register the next model version of the project, in one transaction.

        The version number is the next integer of the project (1, 2, ...), even under
        concurrent registrations. The artifacts, the alias (None for none) and a
        "model.registered" event are written with it, or nothing is. `override_reason`
        records why a failed gate was overridden.
        """
        where = f"model version registration of project '{project}'"
        _text(project, "project", where)
        _text(status, "status", where, limit=40)
        ids = list(dict.fromkeys(artifact_ids))
        if not ids or any(not isinstance(i, int) or isinstance(i, bool) for i in ids):
            raise LedgerError(
                f"The 'artifact_ids' of {where} must list at least one artifact id. "
                f"Got {list(artifact_ids)!r} instead."
            )
        if alias is not None:
            self._check_alias(alias, where)
        if override_reason is not None:
            _text(override_reason, "override_reason", where, limit=10_000)
        lineage_json = json_object(lineage, f"'lineage' of {where}")
        metrics_json = json_object(metrics, f"'metrics' of {where}")
        for attempt in range(_REGISTER_ATTEMPTS):
            try:
                with self._write() as session:
                    self._lock_project(session, project)
                    if run_id is not None:
                        self._check_run_of(session, run_id, project, where)
                    found = set(
                        session.scalars(
                            select(ArtifactRow.id).where(
                                ArtifactRow.id.in_(ids), ArtifactRow.project == project
                            )
                        )
                    )
                    missing = [i for i in ids if i not in found]
                    if missing:
                        raise NotFoundError(
                            f"The 'artifact_ids' of {where} must name artifacts of that "
                            f"project. Got {missing!r}, which it does not hold, instead."
                        )
                    latest = session.scalar(
                        select(func.max(ModelVersionRow.version)).where(
                            ModelVersionRow.project == project
                        )
                    )
                    row = ModelVersionRow(
                        project=project,
                        version=(latest or 0) + 1,
                        run_id=run_id,
                        lineage=lineage_json,
                        metrics=metrics_json,
                        status=status,
                        created_at=_now(),
                        override_reason=override_reason,
                    )
                    session.add(row)
                    session.flush()
                    session.add_all(
                        ModelVersionArtifactRow(model_version_id=row.id, artifact_id=i) for i in ids
                    )
                    self._event(
                        session,
                        project,
                        "model.registered",
                        f"Model version {row.version} registered.",
                        {"version": row.version, "run_id": run_id, "artifact_ids": ids},
                    )
                    if alias is not None:
                        self._move_alias(session, project, alias, row, None)
                    session.flush()
                    return self._model_version(session, row)
            except IntegrityError as error:
                # Only reachable if another writer slipped in the same version number.
                if attempt == _REGISTER_ATTEMPTS - 1:
                    raise LedgerError(
                        f"The model version of project '{project}' could not be registered "
                        f"after {_REGISTER_ATTEMPTS} attempts: {error.orig}."
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def get_model_version(self, project: str, version: int) -> ModelVersion:
        """One model version by its number; NotFoundError when the project lacks it."""
        with self._read() as session:
            return self._model_version(session, self._version_row(session, project, version))

    def model_versions(self, project: str) -> list[ModelVersion]:
        """Every model version of the project, oldest first."""
        with self._read() as session:
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.project == project)
                .order_by(ModelVersionRow.version)
            ).all()
            return self._model_versions(session, rows)

    def set_alias(
        self,
        project: str,
        alias: str,
        version: int,
        reason: str | None = None,
        *,
        override_reason: str | None = None,
    ) -> Alias:
        """Point `alias` at a model version; the move (old and new) is kept as an event.

        `override_reason` records why a failed gate was overridden: it is stored on the
        version itself, in the same transaction, so it shows wherever the version appears.
        """
        where = f"alias '{alias}' of project '{project}'"
        self._check_alias(alias, where)
        with self._write() as session:
            self._lock_project(session, project)
            row = self._version_row(session, project, version)
            if override_reason is not None:
                row.override_reason = override_reason
            return self._move_alias(session, project, alias, row, reason)

    def get_alias(self, project: str, alias: str) -> ModelVersion | None:
        """The model version an alias points at, None when the alias is not set."""
        with self._read() as session:
            row = session.get(AliasRow, (project, alias))
            if row is None:
                return None
            version = session.get(ModelVersionRow, row.model_version_id)
            assert version is not None  # a foreign key guarantees it
            return self._model_version(session, version)

    def aliases(self, project: str) -> list[Alias]:
        """Every alias of the project, by name."""
        with self._read() as session:
            rows = session.execute(
                select(AliasRow, ModelVersionRow.version)
                .join(ModelVersionRow, AliasRow.model_version_id == ModelVersionRow.id)
                .where(AliasRow.project == project)
                .order_by(AliasRow.alias)
            )
            return [_alias(row, version) for row, version in rows]

    def _check_alias(self, alias: object, where: str) -> None:
        if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
            raise LedgerError(
                f"The 'alias' of {where} must be a letter followed by up to 63 letters, "
                f"digits, '_', '.' or '-'. Got {alias!r} instead."
            )

    def _version_row(self, session: Session, project: str, version: int) -> ModelVersionRow:
        row = session.scalars(
            select(ModelVersionRow).where(
                ModelVersionRow.project == project, ModelVersionRow.version == version
            )
        ).first()
        if row is None:
            raise NotFoundError(
                f"The 'version' of project '{project}' must name a registered model version. "
                f"Got {version!r} instead."
            )
        return row

    def _move_alias(
        self,
        session: Session,
        project: str,
        alias: str,
        target: ModelVersionRow,
        reason: str | None,
    ) -> Alias:
        now = _now()
        existing = session.get(AliasRow, (project, alias))
        previous: int | None = None
        if existing is None:
            row = AliasRow(
                project=project,
                alias=alias,
                model_version_id=target.id,
                updated_at=now,
                reason=reason,
            )
            session.add(row)
        else:
            row = existing
            old = session.get(ModelVersionRow, existing.model_version_id)
            previous = None if old is None else old.version
            if previous == target.version:
                return _alias(row, target.version, previous)
            row.model_version_id = target.id
            row.updated_at = now
            row.reason = reason
        self._event(
            session,
            project,
            "alias.set",
            f"Alias '{alias}' moved from version {previous} to {target.version}."
            if previous is not None
            else f"Alias '{alias}' set to version {target.version}.",
            {"alias": alias, "from": previous, "to": target.version, "reason": reason},
        )
        session.flush()
        return _alias(row, target.version, previous)

    def _model_version(self, session: Session, row: ModelVersionRow) -> ModelVersion:
        return self._model_versions(session, [row])[0]

    def _model_versions(
        self, session: Session, rows: Sequence[ModelVersionRow]
    ) -> list[ModelVersion]:
        ids = [row.id for row in rows]
        artifacts: dict[int, list[Artifact]] = {i: [] for i in ids}
        aliases: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            linked = session.execute(
                select(ModelVersionArtifactRow.model_version_id, ArtifactRow)
                .join(ArtifactRow, ModelVersionArtifactRow.artifact_id == ArtifactRow.id)
                .where(ModelVersionArtifactRow.model_version_id.in_(ids))
                .order_by(ArtifactRow.id)
            )
            for version_id, artifact in linked:
                artifacts[version_id].append(_artifact(artifact))
            named = session.execute(
                select(AliasRow.model_version_id, AliasRow.alias)
                .where(AliasRow.model_version_id.in_(ids))
                .order_by(AliasRow.alias)
            )
            for version_id, alias in named:
                aliases[version_id].append(alias)
        return [
            ModelVersion(
                id=row.id,
                project=row.project,
                version=row.version,
                run_id=row.run_id,
                lineage=row.lineage,
                metrics=row.metrics,
                status=row.status,
                created_at=row.created_at,
                override_reason=row.override_reason,
                artifacts=tuple(artifacts[row.id]),
                aliases=tuple(aliases[row.id]),
            )
            for row in rows
        ]

    # -- deployments and monitoring -----------------------------------------------------

    def record_deployment(
        self,
        project: str,
        version: int,
        host: str,
        port: int | None = None,
        details: Mapping[str, Any] | None = None,
        started_at: datetime | None = None,
    ) -> Deployment:
        """Record that a model version is now served on host:port."""
        where = f"a deployment of project '{project}'"
        _text(host, "host", where, limit=255)
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise LedgerError(
                f"The 'port' of {where} must be an integer from 1 to 65535. Got {port!r} instead."
            )
        started = _now() if started_at is None else _aware(started_at, "started_at", where)
        payload = json_object(details or {}, f"'details' of {where}")
        with self._write() as session:
            self._lock_project(session, project)
            target = self._version_row(session, project, version)
            row = DeploymentRow(
                project=project,
                model_version_id=target.id,
                started_at=started,
                stopped_at=None,
                host=host,
                port=port,
                details=payload,
            )
            session.add(row)
            session.flush()
            self._event(
                session,
                project,
                "deployment.started",
                f"Model version {target.version} deployed on {host}"
                + (f":{port}." if port is not None else "."),
                {"deployment_id": row.id, "version": target.version, "host": host, "port": port},
            )
            return _deployment(row, target.version)

    def stop_deployment(self, deployment_id: int, stopped_at: datetime | None = None) -> Deployment:
        """Record that a deployment stopped; stopping it again changes nothing."""
        with self._write() as session:
            row = session.get(DeploymentRow, deployment_id)
            if row is None:
                raise NotFoundError(
                    f"The 'deployment_id' of the ledger call must name a deployment in the "
                    f"ledger. Got {deployment_id!r} instead."
                )
            if row.stopped_at is None:
                row.stopped_at = (
                    _now()
                    if stopped_at is None
                    else _aware(stopped_at, "stopped_at", f"deployment {deployment_id}")
                )
                session.flush()
            version = session.get(ModelVersionRow, row.model_version_id)
            assert version is not None
            return _deployment(row, version.version)

    def deployments(self, project: str) -> list[Deployment]:
        """The project's deployments, oldest first."""
        with self._read() as session:
            rows = session.execute(
                select(DeploymentRow, ModelVersionRow.version)
                .join(ModelVersionRow, DeploymentRow.model_version_id == ModelVersionRow.id)
                .where(DeploymentRow.project == project)
                .order_by(DeploymentRow.id)
            )
            return [_deployment(row, version) for row, version in rows]

    def record_window(
        self,
        project: str,
        version: int,
        window_key: str,
        start: datetime,
        end: datetime,
        n_predictions: int,
        verdict: str,
        payload: Mapping[str, Any] | None = None,
    ) -> MonitoringWindow:
        """Record one evaluated monitoring window, once.

        When (project, version, window_key) was already recorded, by this process or any
        other, the stored window is returned unchanged with `created=False`.
        """
        where = f"monitoring window {window_key!r} of project '{project}'"
        _text(window_key, "window_key", where)
        _text(verdict, "verdict", where, limit=40)
        start = _aware(start, "start", where)
        end = _aware(end, "end", where)
        if end < start:
            raise LedgerError(
                f"The 'end' of {where} must not be before its start {start.isoformat()}. "
                f"Got {end.isoformat()} instead."
            )
        if not isinstance(n_predictions, int) or n_predictions < 0:
            raise LedgerError(
                f"The 'n_predictions' of {where} must be a non-negative integer. "
                f"Got {n_predictions!r} instead."
            )
        body = json_object(payload or {}, f"'payload' of {where}")
        with self._write() as session:
            self._lock_project(session, project)
            target = self._version_row(session, project, version)
            inserted = session.execute(
                self._insert(WindowRow)
                .values(
                    project=project,
                    model_version_id=target.id,
                    window_key=window_key,
                    start=start,
                    end=end,
                    n_predictions=n_predictions,
                    verdict=verdict,
                    payload=body,
                    created_at=_now(),
                )
                .on_conflict_do_nothing(
                    index_elements=["project", "model_version_id", "window_key"]
                )
                .returning(WindowRow.id)
            ).scalar()
            row = session.scalars(
                select(WindowRow).where(
                    WindowRow.project == project,
                    WindowRow.model_version_id == target.id,
                    WindowRow.window_key == window_key,
                )
            ).one()
            created = inserted is not None
            return _window(row, target.version, created)

    def windows(self, project: str, version: int | None = None) -> list[MonitoringWindow]:
        """The project's monitoring windows (of one version if given), oldest first."""
        with self._read() as session:
            query = (
                select(WindowRow, ModelVersionRow.version)
                .join(ModelVersionRow, WindowRow.model_version_id == ModelVersionRow.id)
                .where(WindowRow.project == project)
                .order_by(WindowRow.id)
            )
            if version is not None:
                query = query.where(ModelVersionRow.version == version)
            return [_window(row, v, False) for row, v in session.execute(query)]

    def open_or_update_incident(
        self,
        project: str,
        kpi: str,
        value: float | None,
        threshold: float | None,
        *,
        version: int | None = None,
        window_id: int | None = None,
        details: Mapping[str, Any] | None = None,
        seen_at: datetime | None = None,
    ) -> Incident:
        """Open an incident for a breached KPI, or update the one already open.

        At most one incident per KPI is open at a time; an open one gets the new value,
        threshold, window, details and `last_seen`. `created` tells which happened.
        """
        where = f"an incident of project '{project}'"
        _text(kpi, "kpi", where)
        seen = _now() if seen_at is None else _aware(seen_at, "seen_at", where)
        body = json_object(details or {}, f"'details' of {where}")
        with self._write() as session:
            self._lock_project(session, project)
            version_id = None
            if version is not None:
                version_id = self._version_row(session, project, version).id
            if window_id is not None:
                window = session.get(WindowRow, window_id)
                if window is None or window.project != project:
                    raise NotFoundError(
                        f"The 'window_id' of {where} must name a monitoring window of that "
                        f"project. Got {window_id!r} instead."
                    )
            row = session.scalars(
                select(IncidentRow).where(
                    IncidentRow.project == project,
                    IncidentRow.kpi == kpi,
                    IncidentRow.status == "open",
                )
            ).first()
            created = row is None
            if row is None:
                row = IncidentRow(
                    project=project,
                    kpi=kpi,
                    status="open",
                    value=value,
                    threshold=threshold,
                    window_id=window_id,
                    model_version_id=version_id,
                    first_seen=seen,
                    last_seen=seen,
                    resolved_at=None,
                    details=body,
                )
                session.add(row)
                session.flush()
                self._event(
                    session,
                    project,
                    "incident.opened",
                    f"Incident {row.id} opened: KPI '{kpi}' at {value} (threshold {threshold}).",
                    {"incident_id": row.id, "kpi": kpi, "value": value, "threshold": threshold},
                )
            else:
                row.value = value
                row.threshold = threshold
                row.last_seen = max(seen, row.last_seen)
                row.window_id = window_id if window_id is not None else row.window_id
                row.model_version_id = (
                    version_id if version_id is not None else row.model_version_id
                )
                row.details = body
                session.flush()
            return _incident(row, created)

    def resolve_incident(self, incident_id: int, reason: str | None = None) -> Incident:
        """Mark an incident resolved; resolving it again changes nothing."""
        with self._write() as session:
            row = session.get(IncidentRow, incident_id)
            if row is None:
                raise NotFoundError(
                    f"The 'incident_id' of the ledger call must name an incident in the "
                    f"ledger. Got {incident_id!r} instead."
                )
            if row.status == "open":
                row.status = "resolved"
                row.resolved_at = _now()
                session.flush()
                self._event(
                    session,
                    row.project,
                    "incident.resolved",
                    f"Incident {row.id} (KPI '{row.kpi}') resolved"
                    + (f": {reason}" if reason else "."),
                    {"incident_id": row.id, "kpi": row.kpi, "reason": reason},
                )
            return _incident(row, False)

    def incidents(self, project: str, status: IncidentStatus | None = None) -> list[Incident]:
        """The project's incidents (only open or resolved ones if asked), oldest first."""
        if status is not None and status not in INCIDENT_STATUSES:
            raise LedgerError(
                f"The 'status' of an incident query must be 'open' or 'resolved'. "
                f"Got {status!r} instead."
            )
        with self._read() as session:
            query = select(IncidentRow).where(IncidentRow.project == project)
            if status is not None:
                query = query.where(IncidentRow.status == status)
            return [
                _incident(row, False) for row in session.scalars(query.order_by(IncidentRow.id))
            ]

    # -- events and summary -------------------------------------------------------------

    def record_event(
        self,
        project: str,
        kind: str,
        message: str,
        payload: Mapping[str, Any] | None = None,
    ) -> Event:
        """Add one line to the project's history."""
        where = f"an event of project '{project}'"
        _text(project, "project", where)
        _text(kind, "kind", where, limit=100)
        if not isinstance(message, str):
            raise LedgerError(f"The 'message' of {where} must be text. Got {message!r} instead.")
        body = json_object(payload or {}, f"'payload' of {where}")
        with self._write() as session:
            self._lock_project(session, project)
            return self._event(session, project, kind, message, body)

    def events(
        self,
        project: str,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int | None = 100,
    ) -> list[Event]:
        """The project's events, newest first, optionally of one kind or after `since`."""
        with self._read() as session:
            query = select(EventRow).where(EventRow.project == project)
            if kind is not None:
                query = query.where(EventRow.kind == kind)
            if since is not None:
                query = query.where(EventRow.time > _aware(since, "since", "an event query"))
            query = query.order_by(EventRow.id.desc())
            if limit is not None:
                query = query.limit(limit)
            return [_event(row) for row in session.scalars(query)]

    def _event(
        self,
        session: Session,
        project: str,
        kind: str,
        message: str,
        payload: dict[str, Any],
    ) -> Event:
        row = EventRow(project=project, time=_now(), kind=kind, message=message, payload=payload)
        session.add(row)
        session.flush()
        return _event(row)

    def summary(self, project: str) -> LedgerSummary:
        """Counts and latest states of a project; an unknown project gives an empty summary."""
        with self._read() as session:
            revisions = session.scalar(
                select(func.count(RevisionRow.id)).where(RevisionRow.project == project)
            )
            first_revision = session.scalar(
                select(func.min(RevisionRow.created_at)).where(RevisionRow.project == project)
            )
            latest_revision = session.scalars(
                select(RevisionRow)
                .where(RevisionRow.project == project)
                .order_by(RevisionRow.id.desc())
                .limit(1)
            ).first()
            by_status = dict(
                session.execute(
                    select(RunRow.status, func.count(RunRow.id))
                    .where(RunRow.project == project)
                    .group_by(RunRow.status)
                ).all()
            )
            latest_run = session.scalars(
                select(RunRow)
                .where(RunRow.project == project)
                .order_by(RunRow.started_at.desc())
                .limit(1)
            ).first()
            newest = (
                select(func.max(StageRow.id))
                .join(RunRow, StageRow.run_id == RunRow.id)
                .where(RunRow.project == project)
                .group_by(StageRow.stage)
            )
            stages = session.scalars(
                select(StageRow).where(StageRow.id.in_(newest)).order_by(StageRow.id)
            )
            versions, latest_version = session.execute(
                select(func.count(ModelVersionRow.id), func.max(ModelVersionRow.version)).where(
                    ModelVersionRow.project == project
                )
            ).one()
            alias_rows = session.execute(
                select(AliasRow.alias, ModelVersionRow.version)
                .join(ModelVersionRow, AliasRow.model_version_id == ModelVersionRow.id)
                .where(AliasRow.project == project)
                .order_by(AliasRow.alias)
            ).all()
            open_incidents = session.scalar(
                select(func.count(IncidentRow.id)).where(
                    IncidentRow.project == project, IncidentRow.status == "open"
                )
            )
            first_deployment = session.scalar(
                select(func.min(DeploymentRow.started_at)).where(DeploymentRow.project == project)
            )
            return LedgerSummary(
                project=project,
                revisions=revisions or 0,
                latest_revision=None if latest_revision is None else _revision(latest_revision),
                runs_by_status=dict(sorted(by_status.items())),
                latest_stages=tuple(_stage(row) for row in stages),
                latest_run=None if latest_run is None else _run(latest_run),
                model_versions=versions or 0,
                latest_version=latest_version,
                aliases=dict(alias_rows),
                open_incidents=open_incidents or 0,
                first_revision_at=_utc(first_revision),
                first_deployment_at=_utc(first_deployment),
            )


def _utc(value: datetime | None) -> datetime | None:
    # Aggregates such as min() bypass the column type, so SQLite hands back naive text.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# -- rows to records ----------------------------------------------------------------------


def _revision(row: RevisionRow) -> Revision:
    return Revision(
        id=row.id,
        project=row.project,
        sha256=row.sha256,
        text=row.text,
        path=row.path,
        created_at=row.created_at,
        diff=row.diff,
        changed_sections=tuple(row.changed_sections),
        parent_id=row.parent_id,
    )


def _run(row: RunRow) -> Run:
    return Run(
        id=row.id,
        project=row.project,
        revision_id=row.revision_id,
        command=row.command,
        status=cast(RunStatus, row.status),
        started_at=row.started_at,
        finished_at=row.finished_at,
        exit_reason=row.exit_reason,
        pid=row.pid,
        hostname=row.hostname,
        code_version=row.code_version,
    )


def _stage(row: StageRow) -> StageExecution:
    return StageExecution(
        id=row.id,
        run_id=row.run_id,
        stage=row.stage,
        status=cast(StageStatus, row.status),
        started_at=row.started_at,
        finished_at=row.finished_at,
        wall_seconds=row.wall_seconds,
        cpu_seconds=row.cpu_seconds,
        exit_reason=row.exit_reason,
    )


def _artifact(row: ArtifactRow) -> Artifact:
    return Artifact(
        id=row.id,
        project=row.project,
        run_id=row.run_id,
        name=row.name,
        uri=row.uri,
        size=row.size,
        sha256=row.sha256,
        created_at=row.created_at,
    )


def _alias(row: AliasRow, version: int, previous: int | None = None) -> Alias:
    return Alias(
        project=row.project,
        alias=row.alias,
        version=version,
        model_version_id=row.model_version_id,
        updated_at=row.updated_at,
        reason=row.reason,
        previous_version=previous,
    )


def _deployment(row: DeploymentRow, version: int) -> Deployment:
    return Deployment(
        id=row.id,
        project=row.project,
        model_version_id=row.model_version_id,
        version=version,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        host=row.host,
        port=row.port,
        details=row.details,
    )


def _window(row: WindowRow, version: int, created: bool) -> MonitoringWindow:
    return MonitoringWindow(
        id=row.id,
        project=row.project,
        model_version_id=row.model_version_id,
        version=version,
        window_key=row.window_key,
        start=row.start,
        end=row.end,
        n_predictions=row.n_predictions,
        verdict=row.verdict,
        payload=row.payload,
        created_at=row.created_at,
        created=created,
    )


def _incident(row: IncidentRow, created: bool) -> Incident:
    return Incident(
        id=row.id,
        project=row.project,
        kpi=row.kpi,
        status=cast(IncidentStatus, row.status),
        value=row.value,
        threshold=row.threshold,
        window_id=row.window_id,
        model_version_id=row.model_version_id,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
        details=row.details,
        created=created,
    )


def _event(row: EventRow) -> Event:
    return Event(
        id=row.id,
        project=row.project,
        time=row.time,
        kind=row.kind,
        message=row.message,
        payload=row.payload,
    )


# -- opening ------------------------------------------------------------------------------


def open_ledger(
    charter_dir: Path | str,
    url: str | None = None,
    *,
    artifacts: ArtifactStore | str | None = None,
    reap: bool = True,
) -> Ledger:
    """Open (creating and migrating as needed) the ledger of the project in `charter_dir`.

    The database is `url` if given, else $CHARTER_LEDGER_URL, else the SQLite file
    `<charter_dir>/.charter/ledger.db`. Artifacts go to `artifacts` (a store or any
    fsspec URL), else $CHARTER_ARTIFACTS_URL, else `<charter_dir>/.charter/artifacts/`.
    Several processes may open the same fresh ledger at once. With `reap`, runs of dead
    processes on this host are marked interrupted. A database that cannot be reached
    raises LedgerError, with any password masked.
    """
    folder = Path(charter_dir)
    resolved = resolve_url(folder, url)
    store: ArtifactStore | str
    if artifacts is not None:
        store = artifacts
    else:
        store = os.environ.get(ARTIFACTS_URL_ENV) or str(
            (folder / ".charter" / "artifacts").resolve()
        )
    engine = create_ledger_engine(resolved)
    try:
        database = sqlite_path(resolved)
        lock_file = None if database is None else database.with_name(database.name + ".lock")
        with translated_errors(resolved):
            migrate(engine, lock_file)
        ledger = Ledger(engine, resolved, store)
        if reap:
            ledger.reap_interrupted()
    except BaseException:
        engine.dispose()
        raise
    return ledger
