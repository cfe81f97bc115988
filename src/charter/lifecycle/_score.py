"""`charter score`: batch predictions for a file with a registered model version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.errors import DataError, NotFoundError
from charter.lifecycle._engine import engine_name, spark_engine
from charter.spec import Charter, load_charter

if TYPE_CHECKING:
    from charter.ledger import Ledger, ModelVersion
    from charter.modeling import FittedModel
    from charter.serving import Predictor, ScoreProgress


def resolve_version(ledger: Ledger, project: str, version: int | str) -> ModelVersion:
    """A model version from a number or an alias name ("champion", "candidate")."""
    if isinstance(version, int) or version.isdigit():
        return ledger.get_model_version(project, int(version))
    named = ledger.get_alias(project, version)
    if named is None:
        raise NotFoundError(
            f"The 'version' of project '{project}' must be a version number or an alias. Got "
            f"'{version}', which names no version (promote one first: `charter promote`)."
        )
    return named


def load_version(
    ledger: Ledger, model_version: ModelVersion
) -> tuple[FittedModel, Predictor | None]:
    """The version's model and its compiled predictor (None when it was registered without)."""
    from charter.modeling import FittedModel
    from charter.serving import Predictor

    by_name = {artifact.name: artifact for artifact in model_version.artifacts}
    if "model.pkl" not in by_name:
        raise NotFoundError(f"Model version {model_version.version} has no model artifact.")
    model = FittedModel.from_bytes(ledger.load_artifact(by_name["model.pkl"]))
    predictor = None
    if "predictor.bin" in by_name:
        predictor = Predictor.from_bytes(ledger.load_artifact(by_name["predictor.bin"]), model)
    return model, predictor


@dataclass(frozen=True)
class ScoreOutcome:
    """What `charter score` wrote."""

    version: int
    summary: dict[str, Any]


def score(
    path: Path,
    source: Path,
    out: Path,
    *,
    version: int | str = "champion",
    chunk_rows: int = 50_000,
    progress: ScoreProgress | None = None,
    engine: str | None = None,
) -> ScoreOutcome:
    """Score `source` (CSV or Parquet) into `out`; rows that break the contract go aside.

    `engine` ("pandas" or "spark") overrides the charter's `engine`; on Spark the source
    is a Parquet file or folder and `out` a Parquet folder (see `score_spark`).
    """
    from charter.data import scoring_filter
    from charter.ledger import open_ledger
    from charter.serving import score_file

    loaded = load_charter(path)
    charter = loaded.charter
    if engine_name(charter, engine) == "spark":
        return _score_on_spark(loaded.base_dir, charter, source, out, version)
    if not source.is_file():
        raise DataError(f"The file to score, {source}, does not exist.")
    if source.resolve() == out.resolve():
        raise DataError("The output file must differ from the input file.")
    with open_ledger(loaded.base_dir) as ledger:
        model_version = resolve_version(ledger, charter.project.name, version)
        model, predictor = load_version(ledger, model_version)
    summary = score_file(
        model,
        predictor,
        scoring_filter(charter, source=str(source)),
        source,
        out,
        id_column=charter.data.id,
        chunk_rows=chunk_rows,
        progress=progress,
    )
    return ScoreOutcome(model_version.version, summary.to_dict())


def _score_on_spark(
    base_dir: Path, charter: Charter, source: Path, out: Path, version: int | str
) -> ScoreOutcome:
    """Score on Spark: the artifacts travel with their recorded sha256, checked on executors."""
    from charter.data import scoring_filter
    from charter.ledger import open_ledger
    from charter.serving import score_spark

    engine = spark_engine(charter)
    with open_ledger(base_dir) as ledger:
        model_version = resolve_version(ledger, charter.project.name, version)
        by_name = {artifact.name: artifact for artifact in model_version.artifacts}
        if "model.pkl" not in by_name:
            raise NotFoundError(f"Model version {model_version.version} has no model artifact.")
        artifacts: dict[str, tuple[bytes, str]] = {
            name: (ledger.load_artifact(by_name[name]), by_name[name].sha256)
            for name in ("model.pkl", "predictor.bin")
            if name in by_name
        }
    summary = score_spark(
        engine.session,
        artifacts,
        predictor_from_artifacts,
        source,
        out,
        id_column=charter.data.id,
        contract_check=scoring_filter(charter, source=str(source)),
    )
    return ScoreOutcome(model_version.version, summary.to_dict())


def predictor_from_artifacts(blobs: Mapping[str, bytes]) -> Predictor:
    """The predictor of checked artifact bytes: the compiled one, or the model served natively."""
    from charter.modeling import FittedModel
    from charter.serving import Predictor, compile_predictor

    model = FittedModel.from_bytes(blobs["model.pkl"])
    if "predictor.bin" in blobs:
        return Predictor.from_bytes(blobs["predictor.bin"], model)
    return compile_predictor(model, holdout=None, prefer="native")
