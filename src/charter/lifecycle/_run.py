"""`charter run`: audit -> train -> validate -> register, each stage leaving evidence.

Every stage runs inside a ledger stage (one transaction for its final status and its
evidence), so a run killed at any point leaves no half-registered model. A stage can also
run alone: it then takes its inputs from the evidence of the latest passed stage before it.
"""

from __future__ import annotations

import io
import json
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from charter.errors import CharterError, NotFoundError
from charter.gates import GateReport, judge
from charter.spec import LoadedCharter, load_charter

if TYPE_CHECKING:
    import pandas as pd

    from charter.data import Prepared
    from charter.ledger import Ledger, RunStatus, StageHandle
    from charter.modeling import FittedModel, ProgressEvent, TrainingResult, ValidationReport
    from charter.serving import Predictor

RUN_STAGES = ("audit", "train", "validate", "register")


class Reporter(Protocol):
    """What a face shows while a run goes: stage boundaries and progress within a stage."""

    def stage_started(self, stage: str) -> None:
        """A stage begins."""

    def stage_progress(self, stage: str, message: str, fraction: float | None) -> None:
        """Work inside a stage advanced; `fraction` is in [0, 1] when known."""

    def stage_finished(self, stage: str, status: str, seconds: float, summary: str) -> None:
        """A stage ended with `status` (passed, failed, interrupted)."""


class NullReporter:
    """A reporter that shows nothing (library use, tests)."""

    def stage_started(self, stage: str) -> None:
        """Ignore."""

    def stage_progress(self, stage: str, message: str, fraction: float | None) -> None:
        """Ignore."""

    def stage_finished(self, stage: str, status: str, seconds: float, summary: str) -> None:
        """Ignore."""


class StageStopped(CharterError):
    """A stage failed its gate or met a blocking finding: the run stops there."""

    def __init__(self, stage: str, reason: str) -> None:
        self.stage = stage
        self.reason = reason
        super().__init__(f"The {stage} stage stopped the run: {reason}")


@dataclass(frozen=True)
class StageSummary:
    """One stage as the run left it."""

    stage: str
    status: str
    seconds: float
    summary: str


@dataclass(frozen=True)
class RunOutcome:
    """What a run did: its stages, the KPI verdicts, the version it registered, its report."""

    run_id: str
    project: str
    status: str
    stages: tuple[StageSummary, ...]
    verdicts: tuple[dict[str, Any], ...]
    gates: dict[str, bool]
    model_version: int | None
    deployable: bool | None
    report_path: Path | None
    stopped_by: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "run_id": self.run_id,
            "project": self.project,
            "status": self.status,
            "stages": [s.__dict__ for s in self.stages],
            "verdicts": list(self.verdicts),
            "gates": self.gates,
            "model_version": self.model_version,
            "deployable": self.deployable,
            "report": None if self.report_path is None else str(self.report_path),
            "stopped_by": self.stopped_by,
        }


@dataclass
class _Context:
    """What one run carries from stage to stage."""

    loaded: LoadedCharter
    ledger: Ledger
    run_id: str
    reporter: Reporter
    revision_id: int
    code_version: str | None
    engine: str | None = None
    fingerprint: dict[str, Any] | None = None
    # How the training set reached this process from Spark (whole or sampled); None on pandas.
    data_lineage: dict[str, Any] | None = None
    train: pd.DataFrame | None = None
    test: pd.DataFrame | None = None
    split_artifacts: tuple[int, int] | None = None
    training: TrainingResult | None = None
    model: FittedModel | None = None
    model_artifact: int | None = None
    validation: ValidationReport | None = None
    gates: dict[str, GateReport] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    reference_artifact: int | None = None
    version: int | None = None
    summaries: list[StageSummary] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.loaded.charter.project.name

    @property
    def charter_dir(self) -> Path:
        return self.loaded.base_dir / ".charter"

    def progress(self, stage: str) -> Callable[[str, float | None], None]:
        """A callback for the data layer: (message, fraction done)."""

        def report(message: str, fraction: float | None = None) -> None:
            self.reporter.stage_progress(stage, message, fraction)

        return report

    def events(self, stage: str) -> Callable[[ProgressEvent], None]:
        """A callback for the modeling layer, which reports ProgressEvents."""

        def report(event: ProgressEvent) -> None:
            self.reporter.stage_progress(stage, event.message, event.fraction)

        return report


# --- helpers -----------------------------------------------------------------------------


def code_version(folder: Path) -> str | None:
    """The git commit of the folder's work tree (with '+dirty' when it has changes), if any."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    return buffer.getvalue()


def _frame_from(data: bytes) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


def _latest_passed(ctx: _Context, stage: str, kind: str) -> tuple[str, dict[str, Any]]:
    """The payload of `kind` left by the latest *passed* execution of `stage`."""
    for evidence in ctx.ledger.evidence(ctx.project, kind=kind, stage=stage, limit=50):
        executions = ctx.ledger.stage_executions(evidence.run_id)
        if any(e.id == evidence.stage_execution_id and e.status == "passed" for e in executions):
            return evidence.run_id, evidence.payload
    raise NotFoundError(
        f"The {stage} stage has not passed yet for project '{ctx.project}', so there is no "
        f"{kind} to start from. Run `charter {stage}` (or `charter run`) first."
    )


def _finish(ctx: _Context, handle: StageHandle, stage: str, summary: str) -> None:
    result = handle.result
    seconds = 0.0 if result is None or result.wall_seconds is None else result.wall_seconds
    status = "failed" if handle.failure else "passed"
    ctx.summaries.append(StageSummary(stage, status, seconds, handle.failure or summary))
    ctx.reporter.stage_finished(stage, status, seconds, handle.failure or summary)


# --- the stages --------------------------------------------------------------------------


def _audit(ctx: _Context) -> None:
    from charter.data import ContractViolation, prepare
    from charter.lifecycle._engine import choose_engine

    charter = ctx.loaded.charter
    stopped: str | None = None
    prepared: Prepared | None = None
    with ctx.ledger.stage(ctx.run_id, "audit") as handle:
        # Started inside the stage: a Spark that cannot start fails the stage, recorded.
        engine = choose_engine(charter, ctx.engine)
        try:
            prepared = prepare(
                ctx.loaded,
                quarantine_dir=ctx.charter_dir / "quarantine" / ctx.run_id,
                progress=ctx.progress("audit"),
                engine=engine,
                sample_rows=charter.engine.sample_rows,
            )
        except ContractViolation as violation:
            handle.add_evidence("contract", violation.result.to_dict())
            handle.fail(str(violation))
            stopped = str(violation)
        if prepared is not None:
            ctx.fingerprint = prepared.fingerprint.to_dict()
            handle.add_evidence("fingerprint", ctx.fingerprint)
            handle.add_evidence("contract", prepared.contract.to_dict())
            handle.add_evidence("audit", prepared.report.to_dict())
            blocking = prepared.report.blocking(charter.data.audit)
            if blocking:
                kinds = ", ".join(sorted({f.kind for f in blocking}))
                first = blocking[0].message
                stopped = f"{len(blocking)} blocking finding(s) ({kinds}); the first: {first}"
                handle.fail(stopped)
            else:
                # The split is kept only when the audit passes: no half results.
                _keep_split(ctx, handle, prepared)
    summary = "" if prepared is None else _audit_summary(prepared)
    _finish(ctx, handle, "audit", summary)
    if stopped:
        raise StageStopped("audit", stopped)


def _audit_summary(prepared: Prepared) -> str:
    kept = len(prepared.train) + len(prepared.test)
    rows = f"{kept} rows"
    lineage = prepared.lineage
    if lineage is not None:
        sampled = f"a sample of {kept} of {lineage['rows']} rows" if lineage["sampled"] else rows
        rows = f"{sampled} (audited on {lineage['engine']})"
    return (
        f"{rows}, {len(prepared.report.findings)} findings, split {len(prepared.train)}/"
        f"{len(prepared.test)}"
    )


def _keep_split(ctx: _Context, handle: StageHandle, prepared: Prepared) -> None:
    train_art = ctx.ledger.put_artifact(
        ctx.project, "train.parquet", _frame_bytes(prepared.train), run_id=ctx.run_id
    )
    test_art = ctx.ledger.put_artifact(
        ctx.project, "test.parquet", _frame_bytes(prepared.test), run_id=ctx.run_id
    )
    ctx.train, ctx.test = prepared.train, prepared.test
    ctx.split_artifacts = (train_art.id, test_art.id)
    ctx.data_lineage = prepared.lineage
    handle.add_evidence(
        "split",
        {
            "train_artifact": train_art.id,
            "test_artifact": test_art.id,
            "train_rows": len(prepared.train),
            "test_rows": len(prepared.test),
            "method": ctx.loaded.charter.data.split.method,
            "fingerprint": ctx.fingerprint,
            "lineage": prepared.lineage,
        },
    )


def _load_split(ctx: _Context) -> None:
    if ctx.train is not None and ctx.test is not None:
        return
    _run_id, split = _latest_passed(ctx, "audit", "split")
    ctx.train = _frame_from(ctx.ledger.load_artifact(int(split["train_artifact"])))
    ctx.test = _frame_from(ctx.ledger.load_artifact(int(split["test_artifact"])))
    ctx.fingerprint = split.get("fingerprint")
    ctx.data_lineage = split.get("lineage")
    ctx.split_artifacts = (int(split["train_artifact"]), int(split["test_artifact"]))


def _train(ctx: _Context) -> None:
    from charter.modeling import train_model

    _load_split(ctx)
    assert ctx.train is not None
    with ctx.ledger.stage(ctx.run_id, "train") as handle:
        result = train_model(ctx.train, ctx.loaded.charter, progress=ctx.events("train"))
        artifact = ctx.ledger.put_artifact(
            ctx.project, "model.pkl", result.model.to_bytes(), run_id=ctx.run_id
        )
        payload = result.to_dict()
        payload["model_artifact"] = artifact.id
        payload["split_artifacts"] = list(ctx.split_artifacts or ())
        handle.add_evidence("training", payload)
    ctx.training, ctx.model, ctx.model_artifact = result, result.model, artifact.id
    chosen = result.model
    _finish(ctx, handle, "train", f"{len(result.trials)} trials; chose {chosen.candidate}")


def _load_model(ctx: _Context) -> None:
    """The model (and its split) from the latest passed train stage, or the one named."""
    from charter.modeling import FittedModel

    if ctx.model is not None:
        return
    if ctx.model_artifact is None:
        _run_id, training = _latest_passed(ctx, "train", "training")
        ctx.model_artifact = int(training["model_artifact"])
    else:  # registering alone: the model the validate stage judged, and its own split
        training = next(
            (
                e.payload
                for e in ctx.ledger.evidence(ctx.project, kind="training", limit=None)
                if e.payload.get("model_artifact") == ctx.model_artifact
            ),
            {},
        )
    ctx.model = FittedModel.from_bytes(ctx.ledger.load_artifact(ctx.model_artifact))
    if ctx.train is None:
        artifacts = training.get("split_artifacts") or []
        if len(artifacts) == 2:
            ctx.train = _frame_from(ctx.ledger.load_artifact(int(artifacts[0])))
            ctx.test = _frame_from(ctx.ledger.load_artifact(int(artifacts[1])))
            ctx.split_artifacts = (int(artifacts[0]), int(artifacts[1]))
    _load_split(ctx)


def _validate(ctx: _Context) -> None:
    from charter.modeling import reference_statistics, validate_model

    _load_model(ctx)
    assert ctx.model is not None
    assert ctx.test is not None
    assert ctx.train is not None
    charter = ctx.loaded.charter
    with ctx.ledger.stage(ctx.run_id, "validate") as handle:
        report = validate_model(
            ctx.model, ctx.test, charter, train=ctx.train, progress=ctx.events("validate")
        )
        values = {name: kpi.value for name, kpi in report.kpis.items()}
        estimates = {name for name, kpi in report.kpis.items() if kpi.estimate}
        notes = {name: kpi.note for name, kpi in report.kpis.items() if kpi.note}
        gates = {
            gate: judge(charter.kpis, values, gate, notes=notes, estimates=estimates)
            for gate in ("validate", "deploy")
        }
        reference = reference_statistics(ctx.model, ctx.train)
        calibration = _calibration(ctx.model, ctx.test)
        if calibration is not None:
            reference["calibration"] = calibration
        artifact = ctx.ledger.put_artifact(
            ctx.project,
            "reference.json",
            json.dumps(reference, sort_keys=True).encode(),
            run_id=ctx.run_id,
        )
        handle.add_evidence("validation", report.to_dict())
        handle.add_evidence(
            "gates",
            {
                "gates": {gate: g.to_dict() for gate, g in gates.items()},
                "values": values,
                "estimates": sorted(estimates),
                "notes": notes,
                "model_artifact": ctx.model_artifact,
                "reference_artifact": artifact.id,
            },
        )
        if not gates["validate"].passed:
            handle.fail(gates["validate"].summary())
    ctx.validation, ctx.gates, ctx.values = report, gates, values
    ctx.reference_artifact = artifact.id
    deploy = "deployable" if gates["deploy"].passed else "not deployable"
    _finish(ctx, handle, "validate", f"{gates['validate'].summary()} Model {deploy}.")
    if handle.failure:
        raise StageStopped("validate", handle.failure)


def _calibration(model: FittedModel, test: pd.DataFrame) -> dict[str, Any] | None:
    """How the binary model's scores map to observed rates on the holdout (isotonic).

    Monitoring estimates performance before labels arrive from the scores, which is only
    right when they are calibrated; a search may pick class weights that inflate them. The
    map, fitted on held-out rows, lets the estimate correct for that.
    """
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    if model.task != "binary_classification" or model.target not in test.columns:
        return None
    y = model.labels.encode(test[model.target], "the holdout")
    scores = model.score(test)
    keep = ~np.isnan(scores)
    if keep.sum() < 20 or len(np.unique(y[keep])) < 2:
        return None
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        scores[keep], y[keep]
    )
    return {
        "method": "isotonic regression of the holdout's labels on the scores",
        "rows": int(keep.sum()),
        "x": [float(v) for v in fitted.X_thresholds_],
        "y": [float(v) for v in fitted.y_thresholds_],
    }


def _register(ctx: _Context) -> None:
    from charter import __version__

    if ctx.reference_artifact is None or ctx.model_artifact is None:
        _run_id, gates = _latest_passed(ctx, "validate", "gates")
        ctx.model_artifact = int(gates["model_artifact"])
        ctx.reference_artifact = int(gates["reference_artifact"])
        ctx.values = dict(gates["values"])
        ctx.gates = {}
        recorded = {g: data["passed"] for g, data in gates["gates"].items()}
    else:
        recorded = {gate: report.passed for gate, report in ctx.gates.items()}
    training_lineage: dict[str, Any] = {}
    if ctx.training is not None:
        training_lineage = dict(ctx.training.lineage)
    lineage = {
        **training_lineage,
        "charter_sha256": ctx.loaded.sha256,
        "charter_revision": ctx.revision_id,
        "data_fingerprint": ctx.fingerprint,
        "data_sampling": ctx.data_lineage,
        "code_version": ctx.code_version,
        "charter_version": __version__,
        "python": platform.python_version(),
        "run_id": ctx.run_id,
        "seeds": {
            "split": ctx.loaded.charter.data.split.seed,
            "search": ctx.loaded.charter.model.seed,
        },
    }
    metrics = {"kpis": ctx.values, "gates": recorded}
    if ctx.validation is not None:
        metrics["metrics"] = ctx.validation.metrics
    _load_model(ctx)
    with ctx.ledger.stage(ctx.run_id, "register") as handle:
        predictor = _compile(ctx)
        handle.add_evidence("parity", predictor.parity.to_dict())
        compiled = ctx.ledger.put_artifact(
            ctx.project, "predictor.bin", predictor.to_bytes(), run_id=ctx.run_id
        )
        metrics["serving"] = {"kind": predictor.kind, "parity": predictor.parity.passed}
        version = ctx.ledger.register_model_version(
            ctx.project,
            ctx.run_id,
            [ctx.model_artifact, ctx.reference_artifact, compiled.id],
            lineage,
            metrics,
            alias="candidate",
        )
        handle.add_evidence(
            "registration",
            {
                "version": version.version,
                "alias": "candidate",
                "gates": recorded,
                "serving": predictor.kind,
            },
        )
    ctx.version = version.version
    path = "ONNX" if predictor.kind == "onnx" else f"the {predictor.kind} path"
    _finish(
        ctx,
        handle,
        "register",
        f"registered version {version.version} as candidate; serves through {path}",
    )


def _compile(ctx: _Context) -> Predictor:
    """The fast predictor for serving, parity-checked on the holdout (native when it fails)."""
    from charter.serving import compile_predictor

    assert ctx.model is not None
    ctx.reporter.stage_progress("register", "compiling the serving path", None)
    return compile_predictor(ctx.model, holdout=ctx.test, prefer="auto")


_STAGES: dict[str, Callable[[_Context], None]] = {
    "audit": _audit,
    "train": _train,
    "validate": _validate,
    "register": _register,
}


def run(
    path: Path,
    *,
    stages: Sequence[str] = RUN_STAGES,
    reporter: Reporter | None = None,
    write_report: bool = True,
    engine: str | None = None,
) -> RunOutcome:
    """Run `stages` of the charter at `path` (all of them by default); see the module doc.

    `engine` ("pandas" or "spark") overrides the charter's `engine` for the audit stage.
    """
    unknown = [s for s in stages if s not in _STAGES]
    if unknown:
        raise CharterError(f"Unknown stage(s) {unknown}; the stages are {list(_STAGES)}.")
    loaded = load_charter(path)
    command = "run" if list(stages) == list(RUN_STAGES) else " ".join(stages)
    return run_loaded(
        loaded,
        stages=stages,
        reporter=reporter,
        write_report=write_report,
        command=command,
        engine=engine,
    )


def run_loaded(
    loaded: LoadedCharter,
    *,
    stages: Sequence[str] = RUN_STAGES,
    reporter: Reporter | None = None,
    write_report: bool = True,
    command: str = "run",
    engine: str | None = None,
) -> RunOutcome:
    """Run `stages` of an already loaded charter (a retrain passes one whose data differs)."""
    from charter.ledger import open_ledger

    project = loaded.charter.project.name
    with open_ledger(loaded.base_dir) as ledger:
        revision = ledger.record_revision(project, str(loaded.path), loaded.text)
        version = code_version(loaded.base_dir)
        record = ledger.start_run(project, command, revision_id=revision.id, code_version=version)
        ctx = _Context(
            loaded, ledger, record.id, reporter or NullReporter(), revision.id, version, engine
        )
        status, stopped_by = "succeeded", None
        try:
            for stage in stages:
                ctx.reporter.stage_started(stage)
                _STAGES[stage](ctx)
        except StageStopped as stop:
            status, stopped_by = "failed", stop.reason
            ledger.finish_run(record.id, "failed", str(stop))
        except BaseException as error:
            final: RunStatus = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            ledger.finish_run(record.id, final, str(error) or type(error).__name__)
            raise
        else:
            ledger.finish_run(record.id, "succeeded")
        report_path = None
        if write_report:
            from charter.lifecycle._report import write_report as write

            report_path = write(ledger, loaded, record.id)
    verdicts = tuple(
        verdict.to_dict()
        for gate in ("validate", "deploy")
        if gate in ctx.gates
        for verdict in ctx.gates[gate].verdicts
    )
    deploy = ctx.gates.get("deploy")
    return RunOutcome(
        run_id=record.id,
        project=project,
        status=status,
        stages=tuple(ctx.summaries),
        verdicts=verdicts,
        gates={gate: report.passed for gate, report in ctx.gates.items()},
        model_version=ctx.version,
        deployable=None if deploy is None else deploy.passed,
        report_path=report_path,
        stopped_by=stopped_by,
    )
