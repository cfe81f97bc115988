"""Batch scoring on Spark: the same predictions as `score_file`, artifacts checked on executors."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from charter.errors import ArtifactIntegrityError, DataError
from charter.modeling import FittedModel
from charter.serving import (
    PARITY_TOLERANCE,
    Predictor,
    checked_artifacts,
    compile_predictor,
    score_file,
    score_spark,
)
from charter.serving._score import REASONS, ROW
from tests.conftest import EXAMPLES
from tests.engines.conftest import shared_spark
from tests.serving.conftest import case
from tests.serving.test_score import contract_check, scoring_frame

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="module")
def spark() -> SparkSession:
    """The test run's shared local[2] session (tests/engines/conftest.py)."""
    return shared_spark()


def artifacts_of(model: FittedModel, predictor: Predictor | None) -> dict[str, tuple[bytes, str]]:
    """Artifact bytes with their sha256, as the ledger records them."""
    blobs = {"model.pkl": model.to_bytes()}
    if predictor is not None:
        blobs["predictor.bin"] = predictor.to_bytes()
    return {name: (data, hashlib.sha256(data).hexdigest()) for name, data in blobs.items()}


def load(blobs: Mapping[str, bytes]) -> Predictor:
    """What `charter score --engine spark` loads on each executor."""
    from charter.lifecycle._score import predictor_from_artifacts

    return predictor_from_artifacts(blobs)


def read_folder(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def test_a_parquet_source_is_scored_like_score_file_with_rejects_aside(
    spark: SparkSession, tmp_path: Path
) -> None:
    found = case("telco-logistic_regression")
    predictor = compile_predictor(found.model, holdout=found.holdout, prefer="fast")
    frame, bad = scoring_frame()
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, index=False, row_group_size=4000)
    expected = score_file(
        found.model, predictor, contract_check, source, tmp_path / "ref.parquet",
        id_column="customerID",
    )  # fmt: skip
    out = tmp_path / "scored" / "out.parquet"

    summary = score_spark(
        spark,
        artifacts_of(found.model, predictor),
        load,
        source,
        out,
        id_column="customerID",
        contract_check=contract_check,
    )

    assert (summary.rows_in, summary.scored, summary.rejected) == (
        expected.rows_in,
        expected.scored,
        expected.rejected,
    )
    assert summary.kind == "linear"
    scored = read_folder(out).sort_values("customerID").reset_index(drop=True)
    reference = pd.read_parquet(tmp_path / "ref.parquet")
    reference = reference.sort_values("customerID").reset_index(drop=True)
    assert list(scored.columns) == list(reference.columns)
    assert scored["prediction"].tolist() == reference["prediction"].tolist()
    np.testing.assert_allclose(
        scored[["probability_No", "probability_Yes"]].to_numpy(),
        reference[["probability_No", "probability_Yes"]].to_numpy(),
        rtol=0,
        atol=PARITY_TOLERANCE,
    )
    assert summary.rejects == out.with_name("out.rejects.parquet")
    rejects = read_folder(summary.rejects)
    assert sorted(rejects["customerID"]) == sorted(frame.loc[list(bad), "customerID"])
    assert set(rejects[REASONS]) <= {"tenure:min", "Contract:values", "tenure:min; Contract:values"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.parquet", "out.rejects.parquet"]


def test_without_an_id_rows_are_numbered_as_in_the_file(
    spark: SparkSession, tmp_path: Path
) -> None:
    found = case("regression-linear_regression")
    holdout = found.holdout.drop(columns=[found.model.target]).reset_index(drop=True)
    source = tmp_path / "in.parquet"
    holdout.to_parquet(source, index=False, row_group_size=50)
    out = tmp_path / "out.parquet"

    summary = score_spark(spark, artifacts_of(found.model, None), load, source, out, id_column=None)

    scored = read_folder(out).sort_values(ROW).reset_index(drop=True)
    assert summary.kind == "native"
    assert scored[ROW].tolist() == list(range(1, len(holdout) + 1))
    np.testing.assert_allclose(scored["prediction"], found.model.predict(holdout), rtol=1e-9)
    assert summary.rejects is None


def test_a_table_is_scored_and_an_earlier_output_is_replaced(
    spark: SparkSession, tmp_path: Path
) -> None:
    found = case("telco-lightgbm")
    frame, _ = scoring_frame()
    rows = frame.iloc[:500].reset_index(drop=True)
    from charter.engines import quiet_pandas_version

    with quiet_pandas_version():
        table = spark.createDataFrame(rows.astype({"customerID": str}))
    out = tmp_path / "out.parquet"
    artifacts = artifacts_of(found.model, None)
    score_spark(spark, artifacts, load, table, out, id_column="customerID")
    summary = score_spark(spark, artifacts, load, table, out, id_column="customerID")
    assert summary.rows_in == summary.scored == 500
    assert len(read_folder(out)) == 500


def test_an_artifact_that_changed_is_refused_before_anything_is_scored(
    spark: SparkSession, tmp_path: Path
) -> None:
    found = case("telco-logistic_regression")
    artifacts = artifacts_of(found.model, None)
    data, sha = artifacts["model.pkl"]
    artifacts["model.pkl"] = (data + b"tampered", sha)
    source = tmp_path / "in.parquet"
    scoring_frame()[0].iloc[:10].to_parquet(source, index=False)
    with pytest.raises(ArtifactIntegrityError, match=r"must match its recorded sha256"):
        score_spark(spark, artifacts, load, source, tmp_path / "out.parquet", id_column=None)
    assert not (tmp_path / "out.parquet").exists()
    with pytest.raises(ArtifactIntegrityError, match="changed on its way"):
        checked_artifacts({"x": (b"a", hashlib.sha256(b"b").hexdigest())})


def test_bad_sources_and_outputs_are_refused(spark: SparkSession, tmp_path: Path) -> None:
    found = case("telco-logistic_regression")
    artifacts = artifacts_of(found.model, None)
    frame, _ = scoring_frame()
    source = tmp_path / "in.parquet"
    frame.drop(columns=["tenure"]).iloc[:10].to_parquet(source, index=False)
    with pytest.raises(DataError, match=r"must have the id and feature columns .* 'tenure'"):
        score_spark(spark, artifacts, load, source, tmp_path / "o.parquet", id_column="customerID")
    with pytest.raises(DataError, match="must exist"):
        score_spark(
            spark, artifacts, load, tmp_path / "nope.parquet", tmp_path / "o", id_column=None
        )
    csv = tmp_path / "in.csv"
    csv.write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"must be Parquet .* Got '.csv' instead"):
        score_spark(spark, artifacts, load, csv, tmp_path / "o", id_column=None)
    taken = tmp_path / "taken.parquet"
    taken.write_text("mine", encoding="utf-8")
    good = tmp_path / "good.parquet"
    frame.iloc[:10].to_parquet(good, index=False)
    with pytest.raises(DataError, match="must be a new path or an earlier Spark output"):
        score_spark(spark, artifacts, load, good, taken, id_column="customerID")
    assert taken.read_text(encoding="utf-8") == "mine"


def test_each_executor_checks_the_artifacts_before_loading_them(spark: SparkSession) -> None:
    from pyspark.errors import PythonException

    from charter.lifecycle._score import predictor_from_artifacts

    tampered = {"model.pkl": (b"not a model", hashlib.sha256(b"a model").hexdigest())}

    def on_executor(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from charter.serving import loaded_predictor

        for batch in batches:
            loaded_predictor(tampered, predictor_from_artifacts)
            yield batch

    with pytest.raises(PythonException, match=r"must match its recorded sha256"):
        spark.range(4).mapInPandas(on_executor, "id long").collect()


def telco_project(folder: Path, rows: int = 800) -> Path:
    """The telco-churn example on its first rows, one quick trial, the Spark engine chosen."""
    (folder / "data").mkdir(parents=True)
    lines = (EXAMPLES / "telco-churn" / "data" / "telco_churn.csv").read_text().splitlines(True)
    (folder / "data" / "telco_churn.csv").write_text("".join(lines[: rows + 1]))
    text = (EXAMPLES / "telco-churn" / "charter.yaml").read_text()
    text = re.sub(r"budget: \{seconds: \d+\}", "budget: {seconds: 20, trials: 1}", text)
    text = text.replace("cv_folds: 5", "cv_folds: 2")
    text = text.replace("[logistic_regression, lightgbm]", "[logistic_regression]")
    (folder / "charter.yaml").write_text(text + "engine: spark\n")
    return folder


def test_charter_score_on_spark_scores_with_the_registered_champion(
    spark: SparkSession, tmp_path: Path
) -> None:
    from charter import lifecycle

    folder = telco_project(tmp_path / "telco")
    assert lifecycle.run(folder / "charter.yaml", write_report=False).model_version == 1
    lifecycle.promote(folder / "charter.yaml", "candidate", override="test")
    source = (
        pd.read_csv(
            EXAMPLES / "telco-churn" / "data" / "telco_churn.csv", dtype=str, keep_default_na=False
        )
        .iloc[2000:2400]
        .drop(columns=["Churn"])
    )
    source.loc[source.index[:3], "tenure"] = "many"  # text in a number column
    source.to_parquet(folder / "new.parquet", index=False)

    outcome = lifecycle.score(folder / "charter.yaml", folder / "new.parquet", folder / "s.parquet")

    summary = outcome.summary
    assert (outcome.version, summary["rows_in"], summary["scored"], summary["rejected"]) == (
        1,
        400,
        397,
        3,
    )
    scores = pd.read_parquet(folder / "s.parquet")
    assert set(scores["customerID"]) == set(source["customerID"].iloc[3:])
    assert scores["prediction"].isin(["Yes", "No"]).all()
    rejects = pd.read_parquet(summary["rejects"])
    assert rejects["charter_violations"].str.contains("tenure").all()
    on_pandas = lifecycle.score(
        folder / "charter.yaml", folder / "new.parquet", folder / "p.parquet", engine="pandas"
    )
    assert on_pandas.summary["scored"] == 397
    # The same from the command line, the engine chosen by the flag over the charter's.
    charter_text = (folder / "charter.yaml").read_text()
    (folder / "charter.yaml").write_text(charter_text.replace("engine: spark\n", ""))
    executable = Path(sys.executable).with_name("charter")
    env = {k: v for k, v in os.environ.items() if k != "CHARTER_LEDGER_URL"}
    command = ["score", "--engine", "spark", "--json", "--in", "new.parquet"]
    done = subprocess.run(
        [str(executable), *command, "--out", "cli.parquet"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scored"] == 397
    assert (folder / "cli.parquet").is_dir()  # Spark writes a Parquet folder
