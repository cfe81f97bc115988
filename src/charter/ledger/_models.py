"""The ledger's tables as typed SQLAlchemy models; migrations/versions mirror them by hand."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Named constraints keep hand-written migrations and later ALTERs predictable on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def json_type() -> TypeEngine[Any]:
    """Plain JSON on every backend.

    Not JSONB on PostgreSQL: JSONB reorders keys, and evidence, metrics and lineage should
    come back in the order they were written, the same on SQLite and PostgreSQL.
    """
    return JSON()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the backend keeps.

    SQLite has no time zones, so values are stored as naive UTC text there (which also
    keeps lexical order equal to time order) and made aware again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"The ledger stores timezone-aware times only. Got {value!r}.")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention and the UTC time type."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: json_type(),
    }


def _project_fk() -> Mapped[str]:
    return mapped_column(String(200), ForeignKey("projects.name"), nullable=False)


class ProjectRow(Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime]


class RevisionRow(Base):
    __tablename__ = "charter_revisions"
    __table_args__ = (Index(None, "project", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = _project_fk()
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    diff: Mapped[str] = mapped_column(Text)
    changed_sections: Mapped[list[str]] = mapped_column(json_type())
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("charter_revisions.id"))


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'interrupted')", name="status"
        ),
        Index(None, "project", "started_at"),
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project: Mapped[str] = _project_fk()
    revision_id: Mapped[int | None] = mapped_column(ForeignKey("charter_revisions.id"))
    command: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    hostname: Mapped[str] = mapped_column(String(255))
    code_version: Mapped[str | None] = mapped_column(String(200))


class StageRow(Base):
    __tablename__ = "stage_executions"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'passed', 'failed', 'interrupted')", name="status"),
        Index(None, "run_id"),
        Index(None, "stage", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    stage: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    exit_reason: Mapped[str | None] = mapped_column(Text)


class EvidenceRow(Base):
    __tablename__ = "evidence"
    __table_args__ = (Index(None, "stage_execution_id"), Index(None, "kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stage_execution_id: Mapped[int] = mapped_column(ForeignKey("stage_executions.id"))
    kind: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class ArtifactRow(Base):
    __tablename__ = "artifacts"
    __table_args__ = (Index(None, "project", "name"), Index(None, "run_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = _project_fk()
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    name: Mapped[str] = mapped_column(String(500))
    uri: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("project", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = _project_fk()
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    lineage: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    override_reason: Mapped[str | None] = mapped_column(Text)


class ModelVersionArtifactRow(Base):
    __tablename__ = "model_version_artifacts"

    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"), primary_key=True)


class AliasRow(Base):
    __tablename__ = "aliases"

    project: Mapped[str] = mapped_column(String(200), ForeignKey("projects.name"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)


class DeploymentRow(Base):
    __tablename__ = "deployments"
    __table_args__ = (Index(None, "project", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = _project_fk()
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]]


class WindowRow(Base):
    __tablename__ = "monitoring_windows"
    __table_args__ = (UniqueConstraint("project", "model_version_id", "window_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = _project_fk()
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    window_key: Mapped[str] = mapped_column(String(200))
    start: Mapped[datetime]
    end: Mapped[datetime]
    n_predictions: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        # At most one open incident per KPI, even when two monitors race to open it.
        Index(
            "uq_incidents_open_kpi",
            "project",
            "kpi",
            unique=True,
            sqlite_where="status = 'open'",
            postgresql_where="status = 'open'",
        ),
        Index(None, "project", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = _project_fk()
    kpi: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    window_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_windows.id"))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]]


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index(None, "project", "time"), Index(None, "project", "kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = _project_fk()
    time: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
