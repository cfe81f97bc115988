"""The first ledger schema: projects, revisions, runs, evidence, registry, monitoring.

Revision ID: 0001
Revises:
Create Date: written by hand
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> Any:
    return sa.JSON()


def _time(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _project(table: str) -> list[Any]:
    return [
        sa.Column("project", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name=f"fk_{table}_project_projects"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(200), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("name", name="pk_projects"),
    )
    op.create_table(
        "charter_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_project("charter_revisions"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        _time("created_at"),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("changed_sections", _json(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_charter_revisions"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["charter_revisions.id"],
            name="fk_charter_revisions_parent_id_charter_revisions",
        ),
    )
    op.create_index("ix_charter_revisions_project_id", "charter_revisions", ["project", "id"])

    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), nullable=False),
        *_project("runs"),
        sa.Column("revision_id", sa.Integer(), nullable=True),
        sa.Column("command", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _time("started_at"),
        _time("finished_at", nullable=True),
        sa.Column("exit_reason", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("code_version", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'interrupted')", name="ck_runs_status"
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["charter_revisions.id"], name="fk_runs_revision_id_charter_revisions"
        ),
    )
    op.create_index("ix_runs_project_started_at", "runs", ["project", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])

    op.create_table(
        "stage_executions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _time("started_at"),
        _time("finished_at", nullable=True),
        sa.Column("wall_seconds", sa.Float(), nullable=True),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("exit_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stage_executions"),
        sa.CheckConstraint(
            "status IN ('running', 'passed', 'failed', 'interrupted')",
            name="ck_stage_executions_status",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_stage_executions_run_id_runs"),
    )
    op.create_index("ix_stage_executions_run_id", "stage_executions", ["run_id"])
    op.create_index("ix_stage_executions_stage_status", "stage_executions", ["stage", "status"])

    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stage_execution_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(200), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
        sa.ForeignKeyConstraint(
            ["stage_execution_id"],
            ["stage_executions.id"],
            name="fk_evidence_stage_execution_id_stage_executions",
        ),
    )
    op.create_index("ix_evidence_stage_execution_id", "evidence", ["stage_execution_id"])
    op.create_index("ix_evidence_kind", "evidence", ["kind"])

    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_project("artifacts"),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs"),
    )
    op.create_index("ix_artifacts_project_name", "artifacts", ["project", "name"])
    op.create_index("ix_artifacts_run_id", "artifacts", ["run_id"])

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_project("model_versions"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("lineage", _json(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        _time("created_at"),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("project", "version", name="uq_model_versions_project_version"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_model_versions_run_id_runs"),
    )

    op.create_table(
        "model_version_artifacts",
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_version_id", "artifact_id", name="pk_model_version_artifacts"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_model_version_artifacts_model_version_id_model_versions",
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name="fk_model_version_artifacts_artifact_id_artifacts",
        ),
    )

    op.create_table(
        "aliases",
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        _time("updated_at"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("project", "alias", name="pk_aliases"),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], name="fk_aliases_project_projects"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_aliases_model_version_id_model_versions",
        ),
    )

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_project("deployments"),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        _time("started_at"),
        _time("stopped_at", nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("details", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_deployments_model_version_id_model_versions",
        ),
    )
    op.create_index("ix_deployments_project_started_at", "deployments", ["project", "started_at"])

    op.create_table(
        "monitoring_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_project("monitoring_windows"),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("window_key", sa.String(200), nullable=False),
        _time("start"),
        _time("end"),
        sa.Column("n_predictions", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(40), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_windows"),
        # A window is evaluated once, even when two monitors race for it.
        sa.UniqueConstraint(
            "project",
            "model_version_id",
            "window_key",
            name="uq_monitoring_windows_project_model_version_id_window_key",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_monitoring_windows_model_version_id_model_versions",
        ),
    )

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_project("incidents"),
        sa.Column("kpi", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("window_id", sa.Integer(), nullable=True),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        _time("first_seen"),
        _time("last_seen"),
        _time("resolved_at", nullable=True),
        sa.Column("details", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="ck_incidents_status"),
        sa.ForeignKeyConstraint(
            ["window_id"],
            ["monitoring_windows.id"],
            name="fk_incidents_window_id_monitoring_windows",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_incidents_model_version_id_model_versions",
        ),
    )
    op.create_index(
        "uq_incidents_open_kpi",
        "incidents",
        ["project", "kpi"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_incidents_project_status", "incidents", ["project", "status"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_project("events"),
        _time("time"),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_project_time", "events", ["project", "time"])
    op.create_index("ix_events_project_kind", "events", ["project", "kind"])


def downgrade() -> None:
    for table in (
        "events",
        "incidents",
        "monitoring_windows",
        "deployments",
        "aliases",
        "model_version_artifacts",
        "model_versions",
        "artifacts",
        "evidence",
        "stage_executions",
        "runs",
        "charter_revisions",
        "projects",
    ):
        op.drop_table(table)
