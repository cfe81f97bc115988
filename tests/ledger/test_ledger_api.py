"""The ledger's public API, call by call, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

import charter.ledger
from charter.errors import ArtifactIntegrityError, ConflictError, LedgerError, NotFoundError
from charter.ledger import Artifact, Ledger, Run, StageHandle

from .ledger_support import LedgerTarget

PROJECT = "telco-churn"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _dead_pid() -> int:
    """The pid of a process that has ended and been waited for."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                           capture_output=True, text=True)  # fmt: skip
    return int(child.stdout)


@pytest.fixture
def run(ledger: Ledger) -> Run:
    return ledger.start_run(PROJECT, "run", code_version="abc123")


@pytest.fixture
def artifact(ledger: Ledger, run: Run) -> Artifact:
    return ledger.put_artifact(PROJECT, "model.pkl", b"pickled model", run_id=run.id)


def test_public_api_is_pinned() -> None:
    assert charter.ledger.__all__ == sorted(charter.ledger.__all__)
    assert charter.ledger.__all__ == [
        "Alias",
        "Artifact",
        "ArtifactStore",
        "Deployment",
        "Event",
        "Evidence",
        "FsspecArtifactStore",
        "Incident",
        "IncidentStatus",
        "Ledger",
        "LedgerSummary",
        "ModelVersion",
        "MonitoringWindow",
        "Revision",
        "Run",
        "RunStatus",
        "StageExecution",
        "StageHandle",
        "StageStatus",
        "open_ledger",
    ]


# -- revisions ----------------------------------------------------------------------------

CHARTER_V1 = """\
project: {name: telco-churn}
objective: {task: binary_classification, target: Churn}
kpis:
  - {name: auc, metric: roc_auc, at_least: 0.82}
"""
CHARTER_V2 = CHARTER_V1.replace("0.82", "0.85")


def test_first_revision_diffs_against_nothing(ledger: Ledger) -> None:
    revision = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    assert revision.is_new
    assert revision.parent_id is None
    assert revision.changed_sections == ("project", "objective", "kpis")
    assert revision.diff.startswith("--- /dev/null\n+++ charter.yaml@")
    assert "+kpis:" in revision.diff
    assert revision.created_at.tzinfo is timezone.utc


def test_same_text_returns_the_latest_revision(ledger: Ledger) -> None:
    first = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    again = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    assert not again.is_new
    assert dataclasses.replace(again, is_new=True) == first
    assert len(ledger.revisions(PROJECT)) == 1


def test_changed_revision_keeps_diff_and_sections(ledger: Ledger) -> None:
    first = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    second = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V2)
    assert second.parent_id == first.id
    assert second.changed_sections == ("kpis",)
    assert "-  - {name: auc, metric: roc_auc, at_least: 0.82}" in second.diff
    assert "+  - {name: auc, metric: roc_auc, at_least: 0.85}" in second.diff
    # Going back to an older text is a change too.
    third = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    assert third.is_new
    assert third.changed_sections == ("kpis",)
    assert [r.id for r in ledger.revisions(PROJECT)] == [first.id, second.id, third.id]
    assert ledger.latest_revision(PROJECT) == third


def test_removed_and_added_sections_are_reported(ledger: Ledger) -> None:
    ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    text_ = CHARTER_V1.replace("objective: {task: binary_classification, target: Churn}\n", "")
    revision = ledger.record_revision(PROJECT, "charter.yaml", text_ + "budget: {cpu_hours: 1}\n")
    assert revision.changed_sections == ("budget", "objective")


def test_unparsable_charter_reports_unparsed(ledger: Ledger) -> None:
    ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    broken = ledger.record_revision(PROJECT, "charter.yaml", "project: [unclosed\n")
    assert broken.changed_sections == ("<unparsed>",)
    fixed = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V2)
    assert fixed.changed_sections == ("<unparsed>",)


def test_revisions_of_projects_are_separate(ledger: Ledger) -> None:
    ledger.record_revision("a", "a.yaml", CHARTER_V1)
    other = ledger.record_revision("b", "b.yaml", CHARTER_V1)
    assert other.is_new
    assert other.parent_id is None
    assert ledger.revisions("c") == []
    assert ledger.latest_revision("c") is None


def test_revision_rejects_bad_input(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match=r"The 'project' of charter revision .* Got '' instead"):
        ledger.record_revision("", "charter.yaml", CHARTER_V1)
    with pytest.raises(LedgerError, match="The 'text' of charter revision"):
        ledger.record_revision(PROJECT, "charter.yaml", b"bytes")  # type: ignore[arg-type]


# -- runs ---------------------------------------------------------------------------------


def test_run_lifecycle(ledger: Ledger) -> None:
    revision = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    run = ledger.start_run(PROJECT, "run", revision_id=revision.id, code_version="abc123")
    assert run.status == "running"
    assert run.pid == os.getpid()
    assert run.revision_id == revision.id
    finished = ledger.finish_run(run.id, "succeeded")
    assert finished.status == "succeeded"
    assert finished.finished_at is not None
    assert finished.finished_at >= run.started_at
    assert ledger.get_run(run.id) == finished
    # Finishing again with the same status is harmless; with another it is a conflict.
    assert ledger.finish_run(run.id, "succeeded") == finished
    with pytest.raises(ConflictError, match=r"must be 'running' to finish it as 'failed'"):
        ledger.finish_run(run.id, "failed")


def test_runs_are_listed_newest_first(ledger: Ledger) -> None:
    started = [ledger.start_run(PROJECT, f"command-{i}") for i in range(3)]
    ledger.start_run("other", "run")
    listed = ledger.runs(PROJECT)
    assert [r.id for r in listed] == [r.id for r in reversed(started)]
    assert [r.id for r in ledger.runs(PROJECT, limit=1)] == [started[-1].id]


def test_run_rejects_bad_input(ledger: Ledger, run: Run) -> None:
    with pytest.raises(NotFoundError, match=r"The 'run_id' .* Got 'nope' instead"):
        ledger.get_run("nope")
    with pytest.raises(NotFoundError, match="must name a run in the ledger"):
        ledger.finish_run("nope", "failed")
    with pytest.raises(LedgerError, match=r"The 'status' of run .* Got 'done' instead"):
        ledger.finish_run(run.id, "done")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match=r"The 'revision_id' of a run .* Got 99 instead"):
        ledger.start_run(PROJECT, "run", revision_id=99)
    other = ledger.record_revision("other", "charter.yaml", CHARTER_V1)
    with pytest.raises(NotFoundError, match="must name a charter revision of that project"):
        ledger.start_run(PROJECT, "run", revision_id=other.id)
    with pytest.raises(LedgerError, match="The 'command' of a run"):
        ledger.start_run(PROJECT, "  ")


# -- stages and evidence ------------------------------------------------------------------


def test_stage_passes_with_evidence_and_timings(ledger: Ledger, run: Run) -> None:
    with ledger.stage(run.id, "audit") as stage:
        stage.add_evidence("fingerprint", {"rows": 7043, "sha256": "ab" * 32})
        stage.add_evidence("violations", {"count": 0})
        # Nothing is visible before the stage ends: evidence lands with the final status.
        assert ledger.evidence(PROJECT) == []
        assert ledger.stage_executions(run.id)[0].status == "running"
    result = stage.result
    assert result is not None
    assert result.status == "passed"
    assert result.wall_seconds is not None
    assert result.wall_seconds >= 0
    assert result.cpu_seconds is not None
    assert result.cpu_seconds >= 0
    assert ledger.stage_executions(run.id) == [result]
    evidence = ledger.evidence(PROJECT)
    assert [(e.kind, e.payload) for e in evidence] == [
        ("violations", {"count": 0}),
        ("fingerprint", {"rows": 7043, "sha256": "ab" * 32}),
    ]
    assert {e.stage for e in evidence} == {"audit"}
    assert {e.run_id for e in evidence} == {run.id}
    assert [e.kind for e in ledger.evidence(PROJECT, kind="violations")] == ["violations"]
    assert len(ledger.evidence(PROJECT, stage="train")) == 0
    assert len(ledger.evidence(PROJECT, run_id=run.id, limit=1)) == 1


def test_stage_fail_marks_it_failed_and_keeps_evidence(ledger: Ledger, run: Run) -> None:
    with ledger.stage(run.id, "validate") as stage:
        stage.add_evidence("gate", {"kpi": "auc", "value": 0.7, "verdict": "fail"})
        stage.fail("auc 0.70 is below 0.82")
    assert stage.result is not None
    assert (stage.result.status, stage.result.exit_reason) == ("failed", "auc 0.70 is below 0.82")
    assert [e.kind for e in ledger.evidence(PROJECT)] == ["gate"]


def test_stage_exception_marks_it_failed_and_reraises(ledger: Ledger, run: Run) -> None:
    handles: list[StageHandle] = []

    def audit() -> None:
        with ledger.stage(run.id, "audit") as handle:
            handles.append(handle)
            handle.add_evidence("partial", {"checked": 3})
            raise ValueError("column 'tenure' is missing")

    with pytest.raises(ValueError, match="column 'tenure' is missing"):
        audit()
    (stage,) = handles
    assert stage.result is not None
    assert stage.result.status == "failed"
    assert stage.result.exit_reason == "column 'tenure' is missing"
    assert [e.kind for e in ledger.evidence(PROJECT)] == ["partial"]


def test_keyboard_interrupt_marks_stage_interrupted(ledger: Ledger, run: Run) -> None:
    with pytest.raises(KeyboardInterrupt), ledger.stage(run.id, "train"):
        raise KeyboardInterrupt
    (stage,) = ledger.stage_executions(run.id)
    assert (stage.status, stage.exit_reason) == ("interrupted", "KeyboardInterrupt")


def test_stage_handle_refuses_use_after_the_stage(ledger: Ledger, run: Run) -> None:
    with ledger.stage(run.id, "train") as stage:
        pass
    with pytest.raises(LedgerError, match=r"must be running to take evidence. Got a stage"):
        stage.add_evidence("late", {})
    with pytest.raises(LedgerError, match="must be running"):
        stage.fail("late")


def test_evidence_is_converted_to_json(ledger: Ledger, run: Run) -> None:
    with ledger.stage(run.id, "validate") as stage:
        stage.add_evidence(
            "metrics",
            {
                "auc": np.float64(0.83),
                "n": np.int64(7043),
                "ok": np.bool_(True),
                "curve": np.array([0.1, 0.2]),
                "nan": math.nan,
                "when": T0,
                "groups": ("a", "b"),
                "path": Path("data/x.csv"),
                "nested": {1: [math.inf]},
            },
        )
    (evidence,) = ledger.evidence(PROJECT)
    assert evidence.payload == {
        "auc": 0.83,
        "n": 7043,
        "ok": True,
        "curve": [0.1, 0.2],
        "nan": None,
        "when": "2026-01-01T00:00:00+00:00",
        "groups": ["a", "b"],
        "path": "data/x.csv",
        "nested": {"1": [None]},
    }


def test_evidence_rejects_what_is_not_json(ledger: Ledger, run: Run) -> None:
    with ledger.stage(run.id, "train") as stage:
        with pytest.raises(LedgerError, match=r"Got a object at 'model' instead"):
            stage.add_evidence("bad", {"model": object()})
        with pytest.raises(LedgerError, match=r"must be a mapping of JSON data. Got a list"):
            stage.add_evidence("bad", [1, 2])  # type: ignore[arg-type]
        with pytest.raises(LedgerError, match=r"The 'kind' of evidence of stage 'train'"):
            stage.add_evidence("", {})
    assert stage.result is not None
    assert stage.result.status == "passed"
    assert ledger.evidence(PROJECT) == []


def test_stage_needs_a_running_run(ledger: Ledger, run: Run) -> None:
    with (
        pytest.raises(NotFoundError, match="must name a run in the ledger"),
        ledger.stage("missing", "audit"),
    ):
        pass
    ledger.finish_run(run.id, "failed")
    with (
        pytest.raises(ConflictError, match=r"must be 'running' to start stage 'audit'"),
        ledger.stage(run.id, "audit"),
    ):
        pass
    with pytest.raises(NotFoundError, match="must name a run"):
        ledger.stage_executions("missing")


def test_finishing_a_run_interrupts_its_running_stages(ledger: Ledger, run: Run) -> None:
    with ledger.stage(run.id, "serve"):
        ledger.finish_run(run.id, "failed", "stopped")
        (stage,) = ledger.stage_executions(run.id)
        assert stage.status == "interrupted"


# -- reaping ------------------------------------------------------------------------------


def _set_run(target: LedgerTarget, run_id: str, **values: object) -> None:
    engine = target.engine()
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE runs SET {assignments} WHERE id = :id"), {**values, "id": run_id}
        )
    engine.dispose()


def test_reap_interrupts_runs_of_dead_processes(target: LedgerTarget, ledger: Ledger) -> None:
    dead = ledger.start_run(PROJECT, "run")
    with ledger.stage(dead.id, "train"):
        pass
    alive = ledger.start_run(PROJECT, "run")
    elsewhere = ledger.start_run(PROJECT, "run")
    _set_run(target, dead.id, pid=_dead_pid())
    _set_run(target, elsewhere.id, pid=_dead_pid(), hostname="another-host")
    # A stage left running by the dead process (its own with-block never ended).
    engine = target.engine()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO stage_executions (run_id, stage, status, started_at) "
                "VALUES (:run, 'validate', 'running', :now)"
            ),
            {"run": dead.id, "now": T0.replace(tzinfo=None) if target.backend == "sqlite" else T0},
        )
    engine.dispose()

    assert ledger.reap_interrupted(PROJECT) == [dead.id]
    reaped = ledger.get_run(dead.id)
    assert reaped.status == "interrupted"
    assert reaped.exit_reason is not None
    assert "ended without finishing the run" in reaped.exit_reason
    assert [s.status for s in ledger.stage_executions(dead.id)] == ["passed", "interrupted"]
    assert ledger.get_run(alive.id).status == "running"
    assert ledger.get_run(elsewhere.id).status == "running"
    assert [e.kind for e in ledger.events(PROJECT)] == ["run.interrupted"]
    assert ledger.reap_interrupted() == []


def test_opening_the_ledger_reaps(target: LedgerTarget, ledger: Ledger) -> None:
    run = ledger.start_run(PROJECT, "run")
    _set_run(target, run.id, pid=_dead_pid())
    with target.open() as reopened:
        assert reopened.get_run(run.id).status == "interrupted"
    with target.open(reap=False) as untouched:
        assert untouched.reap_interrupted() == []


# -- artifacts ----------------------------------------------------------------------------


def test_artifact_round_trip(ledger: Ledger, run: Run, artifact: Artifact) -> None:
    assert artifact.size == len(b"pickled model")
    assert artifact.uri == f"sha256/{artifact.sha256[:2]}/{artifact.sha256}"
    assert ledger.load_artifact(artifact) == b"pickled model"
    assert ledger.load_artifact(artifact.id) == b"pickled model"
    assert ledger.get_artifact(artifact.id) == artifact
    twin = ledger.put_artifact(PROJECT, "copy.pkl", bytearray(b"pickled model"))
    assert twin.uri == artifact.uri
    assert twin.id != artifact.id
    assert twin.run_id is None
    assert ledger.artifacts(PROJECT) == [artifact, twin]
    assert ledger.artifacts(PROJECT, run_id=run.id) == [artifact]


def test_artifacts_live_under_the_charter_folder(target: LedgerTarget, ledger: Ledger) -> None:
    stored = ledger.put_artifact(PROJECT, "x.bin", b"x")
    path = target.charter_dir / ".charter" / "artifacts" / stored.uri
    assert path.read_bytes() == b"x"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_corrupted_artifact_is_refused(
    target: LedgerTarget, ledger: Ledger, artifact: Artifact
) -> None:
    path = target.charter_dir / ".charter" / "artifacts" / artifact.uri
    path.write_bytes(b"pickled mode1")
    expected = (
        rf"The artifact 'model.pkl' \(id {artifact.id}\) must match its recorded sha256 "
        rf"{artifact.sha256[:12]}…. Got [0-9a-f]{{12}}… instead; it was changed or corrupted "
        r"after it was stored."
    )
    with pytest.raises(ArtifactIntegrityError, match=expected):
        ledger.load_artifact(artifact)
    # Storing the same bytes again repairs the shared object.
    ledger.put_artifact(PROJECT, "model.pkl", b"pickled model")
    assert ledger.load_artifact(artifact) == b"pickled model"


def test_missing_artifact_bytes_raise_not_found(
    target: LedgerTarget, ledger: Ledger, artifact: Artifact
) -> None:
    (target.charter_dir / ".charter" / "artifacts" / artifact.uri).unlink()
    with pytest.raises(NotFoundError, match=r"The artifact 'model.pkl' .* must have its bytes at"):
        ledger.load_artifact(artifact)
    with pytest.raises(NotFoundError, match=r"The 'artifact_id' .* Got 999 instead"):
        ledger.load_artifact(999)
    with pytest.raises(NotFoundError, match="must name an artifact"):
        ledger.get_artifact(999)


def test_artifact_rejects_bad_input(ledger: Ledger, run: Run) -> None:
    with pytest.raises(LedgerError, match=r"The 'data' of artifact 'x' must be bytes. Got str"):
        ledger.put_artifact(PROJECT, "x", "text")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match=r"The 'run_id' of an artifact .* Got 'nope' instead"):
        ledger.put_artifact(PROJECT, "x", b"x", run_id="nope")
    with pytest.raises(NotFoundError, match="must name a run of that project"):
        ledger.put_artifact("other", "x", b"x", run_id=run.id)
    assert ledger.artifacts(PROJECT) == []


# -- model registry -----------------------------------------------------------------------


def test_register_model_versions(ledger: Ledger, run: Run, artifact: Artifact) -> None:
    first = ledger.register_model_version(
        PROJECT, run.id, [artifact.id], {"data": "fp1"}, {"auc": 0.84}
    )
    assert (first.version, first.status, first.aliases) == (1, "registered", ("candidate",))
    assert first.artifacts == (artifact,)
    assert first.lineage == {"data": "fp1"}
    assert first.metrics == {"auc": 0.84}
    second = ledger.register_model_version(
        PROJECT,
        run.id,
        [artifact.id],
        {},
        {"auc": 0.80},
        override_reason="approved by the retention lead",
    )
    assert second.version == 2
    assert second.override_reason == "approved by the retention lead"
    assert ledger.get_alias(PROJECT, "candidate") == second
    assert ledger.get_model_version(PROJECT, 1).aliases == ()
    assert [v.version for v in ledger.model_versions(PROJECT)] == [1, 2]
    # Numbers are per project.
    other_artifact = ledger.put_artifact("other", "m", b"m")
    other = ledger.register_model_version("other", None, [other_artifact.id], {}, {}, alias=None)
    assert other.version == 1
    assert other.aliases == ()
    kinds = [e.kind for e in ledger.events(PROJECT)]
    assert kinds == ["alias.set", "model.registered", "alias.set", "model.registered"]


def test_register_rejects_bad_input_and_writes_nothing(
    ledger: Ledger, run: Run, artifact: Artifact
) -> None:
    foreign = ledger.put_artifact("other", "m", b"m")
    with pytest.raises(
        NotFoundError, match=rf"must name artifacts of that project. Got \[{foreign.id}, 77\]"
    ):
        ledger.register_model_version(PROJECT, run.id, [artifact.id, foreign.id, 77], {}, {})
    with pytest.raises(LedgerError, match=r"must list at least one artifact id. Got \[\]"):
        ledger.register_model_version(PROJECT, run.id, [], {}, {})
    with pytest.raises(NotFoundError, match="must name a run of that project"):
        ledger.register_model_version(PROJECT, "nope", [artifact.id], {}, {})
    with pytest.raises(LedgerError, match=r"The 'alias' of model version .* Got '1st' instead"):
        ledger.register_model_version(PROJECT, run.id, [artifact.id], {}, {}, alias="1st")
    with pytest.raises(LedgerError, match="The 'metrics' of model version registration"):
        ledger.register_model_version(PROJECT, run.id, [artifact.id], {}, {"m": object()})
    assert ledger.model_versions(PROJECT) == []
    assert ledger.get_alias(PROJECT, "candidate") is None
    assert ledger.events(PROJECT) == []


def test_aliases_move_and_keep_history(ledger: Ledger, run: Run, artifact: Artifact) -> None:
    for _ in range(2):
        ledger.register_model_version(PROJECT, run.id, [artifact.id], {}, {}, alias=None)
    set_ = ledger.set_alias(PROJECT, "champion", 1, reason="first deploy")
    assert (set_.version, set_.previous_version, set_.reason) == (1, None, "first deploy")
    moved = ledger.set_alias(PROJECT, "champion", 2, reason="better auc")
    assert (moved.version, moved.previous_version) == (2, 1)
    champion = ledger.get_alias(PROJECT, "champion")
    assert champion is not None
    assert champion.version == 2
    assert champion.aliases == ("champion",)
    history = ledger.events(PROJECT, kind="alias.set")
    assert [e.payload for e in history] == [
        {"alias": "champion", "from": 1, "to": 2, "reason": "better auc"},
        {"alias": "champion", "from": None, "to": 1, "reason": "first deploy"},
    ]
    # Pointing an alias where it already points records nothing new.
    assert ledger.set_alias(PROJECT, "champion", 2).previous_version == 2
    assert len(ledger.events(PROJECT, kind="alias.set")) == 2
    assert [(a.alias, a.version) for a in ledger.aliases(PROJECT)] == [("champion", 2)]


def test_alias_to_missing_version_is_refused(ledger: Ledger, run: Run, artifact: Artifact) -> None:
    ledger.register_model_version(PROJECT, run.id, [artifact.id], {}, {}, alias="champion")
    with pytest.raises(NotFoundError, match=r"must name a registered model version. Got 5"):
        ledger.set_alias(PROJECT, "champion", 5)
    with pytest.raises(NotFoundError, match="Got 1 instead"):
        ledger.set_alias("other", "champion", 1)
    with pytest.raises(LedgerError, match=r"The 'alias' of alias '' .* Got '' instead"):
        ledger.set_alias(PROJECT, "", 1)
    champion = ledger.get_alias(PROJECT, "champion")
    assert champion is not None
    assert champion.version == 1
    assert ledger.get_alias(PROJECT, "missing") is None
    with pytest.raises(NotFoundError, match="must name a registered model version"):
        ledger.get_model_version(PROJECT, 9)


# -- deployments, windows, incidents ------------------------------------------------------


@pytest.fixture
def version(ledger: Ledger, run: Run, artifact: Artifact) -> int:
    return ledger.register_model_version(PROJECT, run.id, [artifact.id], {}, {}).version


def test_deployments(ledger: Ledger, version: int) -> None:
    deployment = ledger.record_deployment(PROJECT, version, "127.0.0.1", 8000, {"onnx": True})
    assert (deployment.version, deployment.port, deployment.stopped_at) == (1, 8000, None)
    stopped = ledger.stop_deployment(deployment.id, stopped_at=T0 + timedelta(days=400))
    assert stopped.stopped_at == T0 + timedelta(days=400)
    assert ledger.stop_deployment(deployment.id) == stopped
    assert ledger.deployments(PROJECT) == [stopped]
    assert ledger.events(PROJECT, kind="deployment.started")[0].payload["port"] == 8000
    with pytest.raises(NotFoundError, match="must name a registered model version"):
        ledger.record_deployment(PROJECT, 7, "127.0.0.1", 8000)
    with pytest.raises(LedgerError, match=r"The 'port' of a deployment .* Got 70000 instead"):
        ledger.record_deployment(PROJECT, version, "127.0.0.1", 70000)
    with pytest.raises(NotFoundError, match="must name a deployment"):
        ledger.stop_deployment(99)


def test_window_is_recorded_once(ledger: Ledger, version: int) -> None:
    end = T0 + timedelta(hours=1)
    window = ledger.record_window(PROJECT, version, "w-0001", T0, end, 1000, "ok", {"psi": 0.01})
    assert window.created
    assert window.start == T0
    assert window.end == end
    again = ledger.record_window(PROJECT, version, "w-0001", T0, end, 5, "drift", {"psi": 0.9})
    assert not again.created
    assert dataclasses.replace(again, created=True) == window
    assert ledger.windows(PROJECT) == [again]
    assert ledger.windows(PROJECT, version=2) == []


def test_window_rejects_bad_input(ledger: Ledger, version: int) -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(LedgerError, match=r"The 'start' of monitoring window .* timezone-aware"):
        ledger.record_window(PROJECT, version, "w", naive, T0, 1, "ok")
    with pytest.raises(
        LedgerError, match=r"The 'end' of monitoring window 'w' .* must not be before"
    ):
        ledger.record_window(PROJECT, version, "w", T0, T0 - timedelta(seconds=1), 1, "ok")
    with pytest.raises(LedgerError, match=r"The 'n_predictions' .* Got -1 instead"):
        ledger.record_window(PROJECT, version, "w", T0, T0, -1, "ok")
    with pytest.raises(NotFoundError, match=r"must name a registered model version\. Got 3"):
        ledger.record_window(PROJECT, 3, "w", T0, T0, 1, "ok")
    assert ledger.windows(PROJECT) == []


def test_incident_opens_updates_and_resolves(ledger: Ledger, version: int) -> None:
    window = ledger.record_window(PROJECT, version, "w1", T0, T0, 10, "breach")
    opened = ledger.open_or_update_incident(
        PROJECT, "auc", 0.7, 0.82, version=version, window_id=window.id, seen_at=T0
    )
    assert opened.created
    assert opened.status == "open"
    assert opened.first_seen == T0
    later = T0 + timedelta(hours=1)
    updated = ledger.open_or_update_incident(PROJECT, "auc", 0.6, 0.82, seen_at=later)
    assert not updated.created
    assert updated.id == opened.id
    assert (updated.value, updated.last_seen, updated.first_seen) == (0.6, later, T0)
    assert updated.window_id == window.id
    assert updated.model_version_id == opened.model_version_id
    other = ledger.open_or_update_incident(PROJECT, "p99", 40.0, 25.0)
    assert other.created
    assert other.id != opened.id
    resolved = ledger.resolve_incident(opened.id, reason="retrained")
    assert resolved.status == "resolved"
    assert resolved.resolved_at is not None
    assert ledger.resolve_incident(opened.id) == resolved
    reopened = ledger.open_or_update_incident(PROJECT, "auc", 0.5, 0.82)
    assert reopened.created
    assert reopened.id not in (opened.id, other.id)
    assert [i.id for i in ledger.incidents(PROJECT, status="open")] == [other.id, reopened.id]
    assert [i.id for i in ledger.incidents(PROJECT, status="resolved")] == [opened.id]
    assert len(ledger.incidents(PROJECT)) == 3
    kinds = [e.kind for e in ledger.events(PROJECT) if e.kind.startswith("incident.")]
    assert kinds == ["incident.opened", "incident.resolved", "incident.opened", "incident.opened"]


def test_incident_rejects_bad_input(ledger: Ledger, version: int) -> None:
    with pytest.raises(NotFoundError, match=r"The 'window_id' of an incident .* Got 12 instead"):
        ledger.open_or_update_incident(PROJECT, "auc", 0.5, 0.8, window_id=12)
    with pytest.raises(NotFoundError, match=r"must name a registered model version\. Got 4"):
        ledger.open_or_update_incident(PROJECT, "auc", 0.5, 0.8, version=4)
    with pytest.raises(NotFoundError, match="must name an incident"):
        ledger.resolve_incident(5)
    with pytest.raises(LedgerError, match=r"must be 'open' or 'resolved'. Got 'closed'"):
        ledger.incidents(PROJECT, status="closed")  # type: ignore[arg-type]
    assert ledger.incidents(PROJECT) == []


# -- events and summary -------------------------------------------------------------------


def test_events(ledger: Ledger) -> None:
    first = ledger.record_event(PROJECT, "note", "kick-off", {"who": "ds-team"})
    second = ledger.record_event(PROJECT, "milestone", "MVP validated")
    assert first.time.tzinfo is timezone.utc
    assert first.payload == {"who": "ds-team"}
    assert ledger.events(PROJECT) == [second, first]
    assert ledger.events(PROJECT, kind="note") == [first]
    assert ledger.events(PROJECT, limit=1) == [second]
    assert ledger.events(PROJECT, since=first.time) == [second]
    assert ledger.events("other") == []
    with pytest.raises(LedgerError, match="The 'payload' of an event of project"):
        ledger.record_event(PROJECT, "note", "x", {"x": {1, object()}})
    with pytest.raises(LedgerError, match=r"The 'since' of an event query .* timezone-aware"):
        ledger.events(PROJECT, since=datetime(2026, 1, 1))


def test_summary_of_an_empty_project(ledger: Ledger) -> None:
    summary = ledger.summary("nobody")
    assert summary.is_empty
    assert summary.runs_by_status == {}
    assert summary.latest_stages == ()
    assert summary.latest_revision is None
    assert summary.first_revision_at is None
    assert summary.first_deployment_at is None


def test_summary_counts(ledger: Ledger) -> None:
    revision = ledger.record_revision(PROJECT, "charter.yaml", CHARTER_V1)
    failed = ledger.start_run(PROJECT, "run", revision_id=revision.id)
    with ledger.stage(failed.id, "audit"):
        pass
    with ledger.stage(failed.id, "train") as stage:
        stage.fail("budget exhausted")
    ledger.finish_run(failed.id, "failed")
    run = ledger.start_run(PROJECT, "run")
    with ledger.stage(run.id, "train"):
        pass
    artifact = ledger.put_artifact(PROJECT, "m", b"m", run_id=run.id)
    ledger.register_model_version(PROJECT, run.id, [artifact.id], {}, {})
    ledger.set_alias(PROJECT, "champion", 1)
    deployment = ledger.record_deployment(PROJECT, 1, "127.0.0.1", 8000)
    ledger.open_or_update_incident(PROJECT, "drift", 0.3, 0.2)

    summary = ledger.summary(PROJECT)
    assert not summary.is_empty
    assert summary.revisions == 1
    assert summary.first_revision_at == revision.created_at
    assert summary.runs_by_status == {"failed": 1, "running": 1}
    assert summary.latest_run is not None
    assert summary.latest_run.id == run.id
    assert [(s.stage, s.status, s.run_id) for s in summary.latest_stages] == [
        ("audit", "passed", failed.id),
        ("train", "passed", run.id),
    ]
    assert summary.latest_revision == revision
    assert (summary.model_versions, summary.latest_version) == (1, 1)
    assert summary.aliases == {"candidate": 1, "champion": 1}
    assert summary.open_incidents == 1
    assert summary.first_deployment_at == deployment.started_at


def test_json_comes_back_in_the_order_it_was_written(ledger: Ledger, run: Run) -> None:
    payload = {"zeta": 1, "alpha": {"y": 2, "b": 3}, "mid": [3, 1, 2]}
    with ledger.stage(run.id, "validate") as stage:
        stage.add_evidence("metrics", payload)
    (evidence,) = ledger.evidence(PROJECT)
    assert list(evidence.payload) == ["zeta", "alpha", "mid"]
    assert list(evidence.payload["alpha"]) == ["y", "b"]
