"""The HTML report of a run, built from the evidence the run left in the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.errors import NotFoundError
from charter.spec import LoadedCharter, load_charter

if TYPE_CHECKING:
    from charter.ledger import Ledger
    from charter.reporting import RunReport


def _audit_view(evidence: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The audit part of a report: findings, contract violations, fingerprint and split."""
    audit = evidence.get("audit")
    contract = evidence.get("contract")
    if audit is None and contract is None:
        return None
    view = dict(audit or {})
    if contract is not None:
        view.setdefault("violations", contract.get("violations", []))
        view.setdefault("quarantined_rows", contract.get("quarantined_rows", 0))
    if "fingerprint" in evidence:
        view.setdefault("fingerprint", evidence["fingerprint"])
    split = evidence.get("split")
    if split is not None:
        view.setdefault(
            "split",
            {
                "train_rows": split.get("train_rows"),
                "test_rows": split.get("test_rows"),
                "method": split.get("method"),
            },
        )
    return view


def build_report(ledger: Ledger, loaded: LoadedCharter, run_id: str) -> RunReport:
    """A RunReport for `run_id` from the ledger's records of it."""
    from charter.reporting import RunReport

    project = loaded.charter.project.name
    record = ledger.get_run(run_id)
    stages = ledger.stage_executions(run_id)
    evidence: dict[str, dict[str, Any]] = {}
    for item in ledger.evidence(project, run_id=run_id, limit=None):
        evidence.setdefault(item.kind, item.payload)  # newest first: keep the latest
    gates_evidence = evidence.get("gates") or {}
    gate_reports = gates_evidence.get("gates") or {}
    verdicts = [
        v
        for gate in ("validate", "deploy")
        for v in (gate_reports.get(gate) or {}).get("verdicts", [])
    ]
    registered = [v for v in ledger.model_versions(project) if v.run_id == run_id]
    version = registered[-1] if registered else None
    lineage: dict[str, Any] | None = None
    if version is not None:
        lineage = dict(version.lineage)
    elif "training" in evidence:
        lineage = evidence["training"].get("lineage")
    revision = (
        ledger.latest_revision(project)
        if record.revision_id is None
        else next((r for r in ledger.revisions(project) if r.id == record.revision_id), None)
    )
    return RunReport.from_evidence(
        charter=loaded.charter.model_dump(mode="json"),
        run={
            "id": record.id,
            "status": record.status,
            "command": record.command,
            "started_at": record.started_at.isoformat(timespec="seconds"),
            "finished_at": None
            if record.finished_at is None
            else record.finished_at.isoformat(timespec="seconds"),
            "exit_reason": record.exit_reason,
            "charter_sha256": None if revision is None else revision.sha256,
            "charter_revision": record.revision_id,
            "stages": [
                {
                    "stage": s.stage,
                    "status": s.status,
                    "started_at": s.started_at.isoformat(timespec="seconds"),
                    "wall_seconds": s.wall_seconds,
                    "cpu_seconds": s.cpu_seconds,
                    "exit_reason": s.exit_reason,
                }
                for s in stages
            ],
        },
        verdicts=verdicts or None,
        gates={gate: data.get("passed") for gate, data in gate_reports.items()} or None,
        audit=_audit_view(evidence),
        training=evidence.get("training"),
        validation=evidence.get("validation"),
        model_version=None
        if version is None
        else {
            "version": version.version,
            "aliases": list(version.aliases),
            "override_reason": version.override_reason,
        },
        lineage=lineage,
    )


def write_report(ledger: Ledger, loaded: LoadedCharter, run_id: str) -> Path:
    """Write the run's report to .charter/reports/<run id>.html beside the charter."""
    from charter.reporting import write_run_report

    path = loaded.base_dir.resolve() / ".charter" / "reports" / f"{run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_run_report(build_report(ledger, loaded, run_id), path)


def report(path: Path, run_id: str | None = None) -> Path:
    """Write the report of the run `run_id` (a full id or a unique prefix; default latest)."""
    from charter.ledger import open_ledger

    loaded = load_charter(path)
    project = loaded.charter.project.name
    with open_ledger(loaded.base_dir) as ledger:
        runs = ledger.runs(project, limit=None)
        if not runs:
            raise NotFoundError(f"Project '{project}' has no run yet: `charter run` first.")
        if run_id is None:
            chosen = runs[0]
        else:
            matches = [r for r in runs if r.id.startswith(run_id)]
            if len(matches) != 1:
                what = "no run" if not matches else f"{len(matches)} runs"
                raise NotFoundError(
                    f"The 'run' of project '{project}' must name one run (an id or a unique "
                    f"prefix). Got '{run_id}', which matches {what}."
                )
            chosen = matches[0]
        return write_report(ledger, loaded, chosen.id)
