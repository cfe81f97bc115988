"""Batch scoring on Spark: the same predictions as `score_file`, artifacts checked on executors."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from charter.engines import quiet_pandas_version
from charter.errors import ArtifactIntegrityError, DataError
from charter.modeling import FittedModel
from charter.serving import (
    PARITY_TOLERANCE,
    Predictor,
    checked_artifacts,
    compile_predictor,
    loaded_predictor,
    score_file,
    score_spark,
)
from charter.serving._score import REASONS, ROW
from charter.serving._score_spark import _PartitionRejects
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


# --- one pass: rejects written by the tasks, one file per partition ---------------------------


def rejects_schema() -> pa.Schema:
    return pa.schema([pa.field("customerID", pa.string()), pa.field(REASONS, pa.string())])


def test_the_rejects_of_a_partition_written_again_replace_the_earlier_attempts(
    tmp_path: Path,
) -> None:
    rows = pd.DataFrame({"customerID": ["a", "b", "c"], REASONS: ["tenure:min"] * 3})
    with _PartitionRejects(tmp_path, 3, rejects_schema()) as rejects:
        rejects.write(rows)
    with _PartitionRejects(tmp_path, 3, rejects_schema()) as rejects:  # the retry
        rejects.write(rows.iloc[:2])
        rejects.write(rows.iloc[2:])
    assert [p.name for p in tmp_path.iterdir()] == ["part-00003.parquet"]
    assert pd.read_parquet(tmp_path)["customerID"].tolist() == ["a", "b", "c"]

    # An attempt that fails half-way leaves the finished file alone, and no rows of its own.
    def failing_attempt() -> None:
        with _PartitionRejects(tmp_path, 3, rejects_schema()) as rejects:
            rejects.write(rows.iloc[:1])
            raise RuntimeError("executor lost")

    with pytest.raises(RuntimeError, match="executor lost"):
        failing_attempt()
    assert [p.name for p in tmp_path.iterdir()] == ["part-00003.parquet"]
    assert pd.read_parquet(tmp_path)["customerID"].tolist() == ["a", "b", "c"]

    # Another partition has its own file; an attempt that finds no rejects leaves none.
    with _PartitionRejects(tmp_path, 12, rejects_schema()) as rejects:
        rejects.write(rows.iloc[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "part-00003.parquet",
        "part-00012.parquet",
    ]
    with _PartitionRejects(tmp_path, 3, rejects_schema()):
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["part-00012.parquet"]


@contextlib.contextmanager
def small_partitions(spark: SparkSession, max_bytes: int = 64 * 1024) -> Iterator[None]:
    """Files cut into many partitions (a few row groups each), for the length of the block."""
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(max_bytes))
    spark.conf.set("spark.sql.files.openCostInBytes", "0")
    try:
        yield
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")


def test_many_partitions_with_rejects_in_several_number_rows_as_the_pandas_path(
    spark: SparkSession, tmp_path: Path
) -> None:
    found = case("telco-logistic_regression")
    predictor = compile_predictor(found.model, holdout=found.holdout, prefer="fast")
    frame, bad = scoring_frame()
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, index=False, row_group_size=1000)
    expected = score_file(
        found.model, predictor, contract_check, source, tmp_path / "ref.parquet", id_column=None
    )
    out = tmp_path / "out.parquet"
    with small_partitions(spark):
        partitions = spark.read.parquet(str(source)).rdd.getNumPartitions()
        summary = score_spark(
            spark,
            artifacts_of(found.model, predictor),
            load,
            source,
            out,
            id_column=None,
            contract_check=contract_check,
        )

    assert partitions >= 4
    assert (expected.rows_in, expected.scored, expected.rejected) == (
        len(frame),
        len(frame) - len(bad),
        len(bad),
    )
    assert (summary.rows_in, summary.scored, summary.rejected) == (
        expected.rows_in,
        expected.scored,
        expected.rejected,
    )
    scored = read_folder(out).sort_values(ROW).reset_index(drop=True)
    reference = pd.read_parquet(tmp_path / "ref.parquet")
    assert scored[ROW].tolist() == reference[ROW].tolist()
    assert scored["prediction"].tolist() == reference["prediction"].tolist()
    assert summary.rejects is not None
    files = sorted(p.name for p in summary.rejects.iterdir())
    assert files[0] == "_SUCCESS"
    assert 1 < len(files) - 1 <= partitions  # several partitions had rejects, one file each
    rejects = read_folder(summary.rejects)
    assert sorted(rejects[ROW]) == [i + 1 for i in bad]
    reference_rejects = pd.read_csv(tmp_path / "ref.rejects.csv")
    assert sorted(rejects[ROW]) == sorted(reference_rejects[ROW])


def reject_everything(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rejected = raw.copy()
    rejected[REASONS] = "Contract:values"
    return raw.iloc[:0], rejected


def test_a_source_whose_rows_are_all_rejected_gives_an_empty_output(
    spark: SparkSession, tmp_path: Path
) -> None:
    found = case("telco-logistic_regression")
    frame, _ = scoring_frame()
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, index=False, row_group_size=1000)
    out = tmp_path / "out.parquet"
    with small_partitions(spark):
        summary = score_spark(
            spark,
            artifacts_of(found.model, None),
            load,
            source,
            out,
            id_column="customerID",
            contract_check=reject_everything,
        )

    assert (summary.rows_in, summary.scored, summary.rejected) == (len(frame), 0, len(frame))
    assert (out / "_SUCCESS").exists()
    assert summary.rejects is not None
    rejects = read_folder(summary.rejects)
    assert sorted(rejects["customerID"]) == sorted(frame["customerID"])
    assert set(rejects[REASONS]) == {"Contract:values"}
    empty_output = read_folder(out)  # Spark writes one empty part file with the schema
    assert len(empty_output) == 0
    assert list(empty_output.columns) == [
        "customerID",
        "prediction",
        "probability_No",
        "probability_Yes",
    ]


def test_an_empty_source_gives_an_empty_output_and_removes_earlier_rejects(
    spark: SparkSession, tmp_path: Path
) -> None:
    found = case("telco-logistic_regression")
    artifacts = artifacts_of(found.model, None)
    frame, bad = scoring_frame()
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, index=False)
    out = tmp_path / "out.parquet"
    first = score_spark(
        spark, artifacts, load, source, out, id_column="customerID", contract_check=contract_check
    )
    assert first.rejected == len(bad)
    assert first.rejects is not None
    assert first.rejects.is_dir()
    empty = tmp_path / "empty.parquet"
    frame.iloc[:0].to_parquet(empty, index=False)

    summary = score_spark(
        spark, artifacts, load, empty, out, id_column="customerID", contract_check=contract_check
    )

    assert (summary.rows_in, summary.scored, summary.rejected, summary.rejects) == (0, 0, 0, None)
    assert (out / "_SUCCESS").exists()
    empty_output = read_folder(out)  # Spark writes one empty part file with the schema
    assert len(empty_output) == 0
    assert list(empty_output.columns) == [
        "customerID",
        "prediction",
        "probability_No",
        "probability_Yes",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "empty.parquet",
        "in.parquet",
        "out.parquet",
    ]


def test_a_rejects_path_that_is_no_spark_output_is_refused(
    spark: SparkSession, tmp_path: Path
) -> None:
    found = case("telco-logistic_regression")
    frame, _ = scoring_frame()
    source = tmp_path / "in.parquet"
    frame.iloc[:50].to_parquet(source, index=False)
    taken = tmp_path / "out.rejects.parquet"
    taken.write_text("mine", encoding="utf-8")
    with pytest.raises(DataError, match="must be a new path or an earlier Spark output"):
        score_spark(
            spark,
            artifacts_of(found.model, None),
            load,
            source,
            tmp_path / "out.parquet",
            id_column="customerID",
            contract_check=contract_check,
        )
    assert taken.read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "out.parquet").exists()
    earlier_rejects = tmp_path / "new.rejects.parquet"
    frame.iloc[:50].to_parquet(earlier_rejects, index=False)
    with pytest.raises(DataError, match="rejects folder must differ from the source"):
        score_spark(
            spark,
            artifacts_of(found.model, None),
            load,
            earlier_rejects,
            tmp_path / "new.parquet",
            id_column=None,
        )


# --- a task that fails and is retried (a session of its own: local[2,2] retries once) ------


_CALLS: dict[tuple[int, int, int], int] = {}


def check_failing_on_a_first_attempt(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`contract_check`, but the first attempt of partition 1 dies on its second batch."""
    from pyspark import TaskContext

    context = TaskContext.get()
    assert context is not None
    task = (context.stageId(), context.partitionId(), context.attemptNumber())
    _CALLS[task] = _CALLS.get(task, 0) + 1
    if task[1:] == (1, 0) and _CALLS[task] == 2:
        raise RuntimeError("executor lost half-way through partition 1")
    return contract_check(raw)


def failed_tasks(session: SparkSession) -> int:
    """How many task attempts have failed in this session so far."""
    tracker = session.sparkContext.statusTracker()
    stages = set()
    for job in tracker.getJobIdsForGroup():
        info = tracker.getJobInfo(job)
        stages.update(info.stageIds if info is not None else ())
    infos = [tracker.getStageInfo(stage) for stage in stages]
    return sum(info.numFailedTasks for info in infos if info is not None)


def retry_child(folder: Path) -> dict[str, Any]:
    """Run in a child process: score twice on a session that retries a failed task once.

    First through `score_spark`, its contract check failing a first attempt half-way; then
    through the scoring function with a second step behind it that fails a first attempt
    after the function wrote that partition's rejects file (and notes that it saw it).
    """
    from pyspark import TaskContext

    from charter.engines import spark_session
    from charter.serving._score_spark import (
        _partition_scorer,
        _rejects_schema,
        _spark_schema,
    )
    from tests.engines.conftest import TEST_CONF

    conf = {
        **TEST_CONF,
        "spark.sql.execution.arrow.maxRecordsPerBatch": "1000",
        "spark.sql.files.maxPartitionBytes": str(128 * 1024),
        "spark.sql.files.openCostInBytes": "0",
    }
    session = spark_session("local[2,2]", conf, app="charter-retry")
    blobs = {"model.pkl": (folder / "model.pkl").read_bytes()}
    artifacts = {name: (data, hashlib.sha256(data).hexdigest()) for name, data in blobs.items()}
    source = folder / "in.parquet"
    summary = score_spark(
        session,
        artifacts,
        load,
        source,
        folder / "out.parquet",
        id_column="customerID",
        contract_check=check_failing_on_a_first_attempt,
    )
    assert summary.rejects is not None
    first = {
        "failed_tasks": failed_tasks(session),
        "partitions": session.read.parquet(str(source)).rdd.getNumPartitions(),
        "counts": [summary.rows_in, summary.scored, summary.rejected],
        "scored": sorted(pd.read_parquet(folder / "out.parquet")["customerID"]),
        "rejects": sorted(pd.read_parquet(summary.rejects)["customerID"]),
        "files": sorted(p.name for p in summary.rejects.iterdir()),
    }

    predictor = loaded_predictor(artifacts, load)
    outputs = ["customerID", "prediction", *(f"probability_{c}" for c in predictor.classes)]
    frame = session.read.parquet(str(source))
    id_type = frame.schema["customerID"].dataType
    rejects_folder = folder / "rejects"
    rejects_folder.mkdir()
    scorer = _partition_scorer(
        session.sparkContext.broadcast(artifacts),
        load,
        contract_check,
        "customerID",
        "customerID",
        None,
        rejects_folder,
        _rejects_schema(session, "customerID", id_type),
    )
    seen = folder / "seen.txt"
    where = str(rejects_folder)

    def fail_after_the_rejects_are_written(
        batches: Iterator[pd.DataFrame],
    ) -> Iterator[pd.DataFrame]:
        context = TaskContext.get()
        assert context is not None
        held = list(batches)  # the scoring function has run to its end
        if context.partitionId() == 1 and context.attemptNumber() == 0:
            files = sorted(name for name in os.listdir(where) if not name.startswith("."))
            seen.write_text(" ".join(files), encoding="utf-8")
            raise RuntimeError("executor lost after partition 1 wrote its rejects")
        yield from held

    schema = _spark_schema(predictor, "customerID", id_type, outputs)
    with quiet_pandas_version():
        frame.mapInPandas(scorer, schema).mapInPandas(
            fail_after_the_rejects_are_written, schema
        ).write.parquet(str(folder / "second.parquet"))
    second = {
        "failed_tasks": failed_tasks(session),
        "seen": seen.read_text(encoding="utf-8").split(),
        "scored": sorted(pd.read_parquet(folder / "second.parquet")["customerID"]),
        "rejects": sorted(pd.read_parquet(rejects_folder)["customerID"]),
        "files": sorted(os.listdir(rejects_folder)),
    }
    session.stop()
    return {"first": first, "second": second}


def test_a_task_that_fails_and_is_retried_writes_its_rejects_once(tmp_path: Path) -> None:
    found = case("telco-logistic_regression")
    (tmp_path / "model.pkl").write_bytes(found.model.to_bytes())
    frame, bad = scoring_frame()
    frame.to_parquet(tmp_path / "in.parquet", index=False, row_group_size=1000)
    code = (
        "import json, sys; from pathlib import Path; "
        "from tests.serving.test_score_spark import retry_child; "
        "print(json.dumps(retry_child(Path(sys.argv[1]))))"
    )
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    ids = sorted(frame["customerID"])
    bad_ids = sorted(frame.loc[list(bad), "customerID"])
    good_ids = sorted(set(ids) - set(bad_ids))

    first = result["first"]
    assert first["failed_tasks"] == 1  # partition 1's first attempt, retried
    assert first["partitions"] >= 4
    assert first["counts"] == [len(frame), len(frame) - len(bad), len(bad)]
    assert first["scored"] == good_ids
    assert first["rejects"] == bad_ids  # each once, though partition 1 ran twice
    assert first["files"][0] == "_SUCCESS"
    assert all(not name.startswith(".") for name in first["files"])

    second = result["second"]
    assert second["failed_tasks"] == 2
    assert "part-00001.parquet" in second["seen"]  # the failed attempt had written its file
    assert second["scored"] == good_ids
    assert second["rejects"] == bad_ids
    assert all(not name.startswith(".") for name in second["files"])
    assert len(second["files"]) == len(set(second["files"]))
