"""The project-level steps: check a charter, scaffold one with init, summarise the ledger."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.errors import ConflictError, DataError
from charter.spec import load_charter, validate_text

if TYPE_CHECKING:
    from charter.ledger import LedgerSummary
    from charter.reporting import ProjectStatus


@dataclass(frozen=True)
class CheckOutcome:
    """A valid charter, and the ledger revision that now records it (None when not recorded)."""

    project: str
    sha256: str
    kpi_count: int
    risk_count: int
    milestone_count: int
    revision: int | None = None
    new_revision: bool = False
    first_revision: bool = False
    changed_sections: tuple[str, ...] = ()


def check(path: Path, *, record: bool = True) -> CheckOutcome:
    """Validate the charter at `path`; when valid and `record`, store it as a revision."""
    loaded = load_charter(path)
    charter = loaded.charter
    outcome = CheckOutcome(
        project=charter.project.name,
        sha256=loaded.sha256,
        kpi_count=len(charter.kpis),
        risk_count=len(charter.risks),
        milestone_count=len(charter.milestones),
    )
    if not record:
        return outcome
    from charter.ledger import open_ledger

    with open_ledger(loaded.base_dir) as ledger:
        revision = ledger.record_revision(charter.project.name, str(loaded.path), loaded.text)
    return replace(
        outcome,
        revision=revision.id,
        new_revision=revision.is_new,
        first_revision=revision.parent_id is None,
        changed_sections=tuple(revision.changed_sections),
    )


@dataclass(frozen=True)
class InitOutcome:
    """What `charter init` wrote."""

    path: Path
    task: str
    columns: int
    id_column: str | None
    protected: tuple[str, ...]


def init(data: Path, target: str, destination: Path, *, force: bool = False) -> InitOutcome:
    """Infer a charter from a data file and write it, commented, to `destination`."""
    from charter.data import infer_charter, render_charter

    if destination.exists() and not force:
        raise ConflictError(
            f"The charter {destination} already exists; pass --force to overwrite it."
        )
    if not data.is_file():
        raise DataError(f"The data file {data} does not exist.")
    base = destination.resolve().parent
    # Data inside the project travels with it as a relative path; data elsewhere is named
    # absolutely, since a chain of ../ breaks as soon as the project folder moves.
    resolved = data.resolve()
    source = resolved.relative_to(base) if resolved.is_relative_to(base) else resolved
    inferred = infer_charter(data, target, source=source.as_posix())
    text = render_charter(inferred)
    # The scaffold must pass `charter check` as written: validate before touching the disk.
    validate_text(text, destination.name, base)
    base.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(destination)
    data_section = inferred["data"]
    return InitOutcome(
        path=destination,
        task=inferred["objective"]["task"],
        columns=len(data_section.get("contract", {})),
        id_column=data_section.get("id"),
        protected=tuple(data_section.get("protected", ())),
    )


@dataclass(frozen=True)
class StatusReport:
    """What the ledger knows about a project, ready for a face to render."""

    project: str
    problem: str
    charter_path: str
    ledger_url: str
    revisions: int
    latest_revision: dict[str, Any] | None
    runs: dict[str, int]
    stages: list[dict[str, str]]
    model_versions: int
    aliases: dict[str, int]
    open_incidents: int
    first_revision_at: str | None
    first_deployment_at: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    derived: ProjectStatus | None = None

    @property
    def is_empty(self) -> bool:
        """True when nothing has been recorded for the project yet."""
        return self.revisions == 0 and not self.runs and self.model_versions == 0

    def facts(self) -> list[tuple[str, str]]:
        """Label/value pairs for a compact summary."""
        latest = self.latest_revision or {}
        runs = ", ".join(f"{count} {state}" for state, count in sorted(self.runs.items()))
        return [
            (
                "Charter revisions",
                f"{self.revisions} (latest {latest.get('sha256', '')[:12]} "
                f"at {latest.get('created_at', '-')})",
            ),
            ("Runs", runs or "none yet"),
            ("Model versions", str(self.model_versions)),
            ("Open incidents", str(self.open_incidents)),
            ("First deployment", self.first_deployment_at or "not deployed yet"),
        ]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        derived = self.derived
        data = asdict(replace(self, derived=None))
        del data["derived"]
        data["is_empty"] = self.is_empty
        if derived is not None:
            data.update({key: value for key, value in derived.as_dict().items() if key not in data})
        return data


def status(path: Path, *, now: dt.datetime | None = None) -> StatusReport:
    """Summarise what the ledger holds for the charter at `path`, judged at `now` (default now).

    Besides the counts, `derived` holds the whole derived status: stage timeline, KPI table,
    risks, milestones, budget, time to deploy and scope changes.
    """
    from charter.ledger import open_ledger
    from charter.reporting import derive_status, read_snapshot

    loaded = load_charter(path)
    project = loaded.charter.project.name
    with open_ledger(loaded.base_dir) as ledger:
        summary = ledger.summary(project)
        url = ledger.url
        snapshot = read_snapshot(ledger, project)
    moment = now or dt.datetime.now(dt.timezone.utc)
    derived = derive_status(loaded.charter, snapshot, now=moment)
    return summary_report(loaded.charter.project.problem, str(loaded.path), url, summary, derived)


def summary_report(
    problem: str, charter_path: str, url: str, summary: LedgerSummary, derived: ProjectStatus | None
) -> StatusReport:
    """A StatusReport from a LedgerSummary and the derived status."""
    latest = summary.latest_revision
    return StatusReport(
        project=summary.project,
        problem=problem,
        charter_path=charter_path,
        ledger_url=url,
        revisions=summary.revisions,
        latest_revision=None
        if latest is None
        else {
            "id": latest.id,
            "sha256": latest.sha256,
            "created_at": latest.created_at.isoformat(timespec="seconds"),
        },
        runs=dict(summary.runs_by_status),
        stages=[
            {
                "stage": s.stage,
                "status": s.status,
                "when": s.started_at.isoformat(timespec="seconds"),
                "wall_seconds": "-" if s.wall_seconds is None else f"{s.wall_seconds:.1f}",
            }
            for s in summary.latest_stages
        ],
        model_versions=summary.model_versions,
        aliases=dict(summary.aliases),
        open_incidents=summary.open_incidents,
        first_revision_at=None
        if summary.first_revision_at is None
        else summary.first_revision_at.isoformat(timespec="seconds"),
        first_deployment_at=None
        if summary.first_deployment_at is None
        else summary.first_deployment_at.isoformat(timespec="seconds"),
        derived=derived,
    )
