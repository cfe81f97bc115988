"""`charter drift` on Spark: the same counts and verdicts as on pandas, for files, tables, logs.

A small telco champion is trained once for the module; its charter then names the Spark
engine on the test session's master and settings, so `lifecycle.drift` joins that session.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from charter import cli, lifecycle
from charter.errors import DataError
from charter.lifecycle import DriftOutcome
from charter.serving import LogReader, PredictionLog, compact
from tests.e2e.traffic import serve, telco_rows
from tests.test_drift_command import raw_rows, shifted, train_small_telco

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The test session's runtime settings, so that joining it changes none of them.
ENGINE = (
    "engine:\n  name: spark\n  master: local[2]\n  conf:\n"
    "    spark.sql.shuffle.partitions: '2'\n    spark.sql.adaptive.enabled: 'false'\n"
)


@pytest.fixture(scope="module")
def project(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = train_small_telco(tmp_path_factory.mktemp("drift-spark") / "telco")
    # Trained on pandas; from now on the charter names Spark, as a team moving to it would.
    charter = folder / "charter.yaml"
    charter.write_text(charter.read_text() + ENGINE)
    return folder


def assert_same(on_spark: DriftOutcome, on_pandas: DriftOutcome) -> None:
    """Counts exactly equal; statistics equal within float tolerance; the same verdicts."""
    assert on_spark.engine["name"] == "spark"
    assert on_pandas.engine["name"] == "pandas"
    assert on_spark.counts == on_pandas.counts
    found = (on_spark.rows_in, on_spark.rows, on_spark.left_out, on_spark.notes)
    assert found == (on_pandas.rows_in, on_pandas.rows, on_pandas.left_out, on_pandas.notes)
    spark_json, pandas_json = on_spark.report.to_json(), on_pandas.report.to_json()
    assert spark_json["drifted"] == pandas_json["drifted"]
    assert (spark_json["prediction"] is None) == (pandas_json["prediction"] is None)
    pairs = [
        (spark_json["features"][n], pandas_json["features"][n]) for n in spark_json["features"]
    ]
    if spark_json["prediction"] is not None:
        pairs.append((spark_json["prediction"], pandas_json["prediction"]))
    for spark_stats, pandas_stats in pairs:
        assert spark_stats.keys() == pandas_stats.keys()
        for key, value in spark_stats.items():
            if isinstance(value, float):
                assert value == pytest.approx(pandas_stats[key], rel=1e-9, abs=1e-12), key
            else:
                assert value == pandas_stats[key], key


def test_a_parquet_file_drifts_the_same_on_spark_and_pandas(project: Path, tmp_path: Path) -> None:
    rows = shifted(raw_rows(0, 3000))  # half seen in training, half not; prices up 50%
    rows.loc[:2, "tenure"] = "many"  # three rows break the contract
    rows.loc[10:40, "TotalCharges"] = " "  # a declared missing marker
    source = tmp_path / "batch.parquet"
    rows.to_parquet(source, index=False, row_group_size=700)
    charter = project / "charter.yaml"
    on_spark = lifecycle.drift(charter, source=source)
    on_pandas = lifecycle.drift(charter, source=source, engine="pandas")
    assert_same(on_spark, on_pandas)
    assert (on_spark.rows_in, on_spark.rows, on_spark.rejected) == (3000, 2997, 3)
    assert on_spark.report.drifted == ("MonthlyCharges",)
    assert on_spark.report.prediction is not None
    # The command line, on the charter's engine: exit 1 under --ci, the same JSON.
    result = CliRunner().invoke(
        cli.app, ["drift", "--charter", str(project), "--in", str(source), "--json", "--ci"]
    )
    assert result.exit_code == 1, result.output
    shown = json.loads(result.stdout)
    assert shown["engine"]["name"] == "spark"
    assert shown["drift"] == on_spark.report.to_json()


def test_a_table_without_some_features_is_measured_as_on_pandas(
    spark: SparkSession, project: Path, tmp_path: Path
) -> None:
    source = tmp_path / "partial.parquet"
    raw_rows(1500, 2500).drop(columns=["customerID", "Contract"]).to_parquet(source, index=False)
    spark.read.parquet(str(source)).createOrReplaceTempView("telco_new")
    on_spark = lifecycle.drift(project / "charter.yaml", table="telco_new")
    on_pandas = lifecycle.drift(project / "charter.yaml", source=source, engine="pandas")
    assert_same(on_spark, on_pandas)
    assert on_spark.source == {"kind": "table", "name": "telco_new"}
    assert on_spark.report.prediction is None
    assert "'Contract'" in on_spark.notes[0]
    assert on_spark.report.features["Contract"].absent
    with pytest.raises(DataError, match=r"Spark cannot read the table 'no_such_table'"):
        lifecycle.drift(project / "charter.yaml", table="no_such_table")


def test_a_compacted_log_drifts_the_same_on_spark_and_pandas(project: Path, tmp_path: Path) -> None:
    served = tmp_path / "telco"
    shutil.copytree(project, served)
    serve(served, telco_rows(served, 0, 800))
    moved = telco_rows(served, 800, 1500)
    moved["MonthlyCharges"] = (moved["MonthlyCharges"] * 1.5).round(2)
    serve(served, moved)
    log = served / ".charter" / "serving"
    records = LogReader(log).read_all()[0]
    records.insert(700, {**records[0], "prediction_id": "failed", "output": {"error": "failed"}})
    shutil.rmtree(log)
    # Small segments: the log's own writer rotates them, its compaction makes them Parquet.
    with PredictionLog(log, mode="durable", segment_max_bytes=400_000, index=False) as writer:
        for start in range(0, len(records), 100):
            writer.append(records[start : start + 100])
    compact(log)
    assert len(list(log.glob("segment-*.parquet"))) > 2
    assert not list(log.glob("segment-*.jsonl"))
    on_spark = lifecycle.drift(served / "charter.yaml")
    on_pandas = lifecycle.drift(served / "charter.yaml", engine="pandas")
    assert_same(on_spark, on_pandas)
    assert (on_spark.rows_in, on_spark.rows) == (1501, 1500)
    assert on_spark.left_out == {"failed requests": 1, "other versions": 0}
    assert "MonthlyCharges" in on_spark.report.drifted
    assert on_spark.source == {"kind": "log", "path": str(log)}
    # A segment still in JSON lines is read on pandas only, and Spark says so.
    with PredictionLog(log, mode="durable", index=False, compact=False) as writer:
        writer.append(records[:100])
    partly = lifecycle.drift(served / "charter.yaml")
    assert partly.rows == 1500
    assert "1 segment(s) not yet compacted to Parquet were not read" in partly.notes[0]
    assert lifecycle.drift(served / "charter.yaml", engine="pandas").rows == 1600


def test_a_log_without_compacted_segments_says_how_to_read_it(
    project: Path, tmp_path: Path
) -> None:
    (tmp_path / "log").mkdir()
    with pytest.raises(DataError, match=r"must hold compacted segments .* --engine pandas"):
        lifecycle.drift(project / "charter.yaml", log_dir=tmp_path / "log")
