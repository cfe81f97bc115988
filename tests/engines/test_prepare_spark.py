"""The audit stage on Spark: the same evidence as on pandas, from a CSV, Parquet or a table.

`prepare(loaded, engine=SparkEngine)` reads, checks and audits on Spark, then brings the
training set (whole or sampled) to the driver. These tests run both engines on the same
source and compare what the ledger would keep.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from charter.data import ContractViolation, Prepared, prepare, render_charter
from charter.engines import PandasEngine, SparkEngine, quiet_pandas_version
from charter.errors import DataError
from charter.spec import LoadedCharter, load_charter
from tests.conftest import EXAMPLES
from tests.data.conftest import document

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TELCO_ROWS = 1200

Project = Callable[..., LoadedCharter]


@pytest.fixture
def telco(tmp_path: Path) -> Path:
    """The telco example with its first rows only (a Spark job per check stays quick)."""
    folder = tmp_path / "telco"
    shutil.copytree(EXAMPLES / "telco-churn", folder, ignore=shutil.ignore_patterns(".charter"))
    csv = folder / "data" / "telco_churn.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    csv.write_text("".join(lines[: TELCO_ROWS + 1]), encoding="utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """Factory: a charter document (tests.data.conftest.document) written and loaded."""

    def make(source: Any = "data.csv", engine: Any = None, **arguments: Any) -> LoadedCharter:
        path = tmp_path / "charter.yaml"
        whole = document(source, **arguments)
        if engine is not None:
            whole["engine"] = engine
        path.write_text(render_charter(whole), encoding="utf-8")
        return load_charter(path)

    return make


def comparable(prepared: Prepared) -> dict[str, Any]:
    """The evidence the ledger keeps, without what names the engine that made it."""
    data = prepared.to_dict()
    audit = dict(data["audit"])
    for key in ("engine", "engine_details", "training_sample"):
        audit.pop(key, None)
    return {**data, "audit": audit, "lineage": None}


def test_a_csv_audited_on_spark_gives_the_pandas_engines_evidence_and_split(
    telco: Path, spark: SparkSession
) -> None:
    loaded = load_charter(telco / "charter.yaml")
    on_pandas = prepare(loaded, engine=PandasEngine())
    on_spark = prepare(loaded, engine=SparkEngine(spark))

    assert comparable(on_spark) == comparable(on_pandas)
    assert on_spark.report.to_dict()["engine"] == "spark"
    # The markers (" " in TotalCharges) were read as missing on both engines.
    assert any(f.kind == "missing" and f.column == "TotalCharges" for f in on_spark.findings)
    pd.testing.assert_frame_equal(on_spark.train, on_pandas.train)
    pd.testing.assert_frame_equal(on_spark.test, on_pandas.test)
    assert on_spark.lineage is not None
    assert on_spark.lineage["sampled"] is False
    assert on_spark.lineage["rows"] == TELCO_ROWS


def test_a_sample_for_training_is_recorded_in_the_lineage(telco: Path, spark: SparkSession) -> None:
    loaded = load_charter(telco / "charter.yaml")
    first = prepare(loaded, engine=SparkEngine(spark), sample_rows=500)

    assert first.lineage is not None
    assert first.lineage["sampled"] is True
    assert first.lineage["kept"] == 500
    assert first.lineage["rows"] == TELCO_ROWS
    assert first.lineage["seed"] == loaded.charter.data.split.seed
    assert len(first.train) + len(first.test) == 500
    # The audit saw every row, not the sample; the report says the training set was sampled.
    assert first.report.rows == TELCO_ROWS
    assert first.report.to_dict()["training_sample"]["sampled"] is True
    # Row labels are the rows' positions in the file.
    assert first.train.index.max() < TELCO_ROWS
    assert first.train.index.is_unique


def test_a_parquet_folder_is_read_whole_and_fingerprinted_by_its_files(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    frame = pd.DataFrame(
        {
            "x": [float(i % 17) for i in range(400)],
            "kind": ["a", "b", "c", "d"] * 100,
            "y": ["yes", "no"] * 200,
        }
    )
    folder = tmp_path / "parts"
    with quiet_pandas_version():
        spark.createDataFrame(frame).repartition(3).write.parquet(str(folder))
    loaded = project(
        "parts",
        contract={"x": {"type": "float"}, "kind": {"type": "category"}, "y": {"type": "category"}},
        engine={"name": "spark"},
    )
    prepared = prepare(loaded, engine=SparkEngine(spark))

    assert prepared.fingerprint.format == "parquet"
    assert prepared.fingerprint.rows == 400
    assert len(prepared.train) + len(prepared.test) == 400
    again = prepare(loaded, engine=SparkEngine(spark))
    assert again.fingerprint.content_sha256 == prepared.fingerprint.content_sha256


def test_a_catalog_tables_fingerprint_ignores_row_order_and_sees_a_changed_value(
    project: Project, spark: SparkSession
) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 25, "y": ["yes", "no"] * 50})
    loaded = project(
        {"table": "charter_test_rows"},
        contract={"x": {"type": "float"}, "y": {"type": "category"}},
        engine={"name": "spark"},
    )

    def fingerprint_of(rows: pd.DataFrame) -> str:
        with quiet_pandas_version():
            spark.createDataFrame(rows).createOrReplaceTempView("charter_test_rows")
        prepared = prepare(loaded, engine=SparkEngine(spark))
        assert prepared.fingerprint.format == "table"
        return prepared.fingerprint.content_sha256

    original = fingerprint_of(frame)
    assert fingerprint_of(frame.iloc[::-1].reset_index(drop=True)) == original
    changed = frame.copy()
    changed.loc[7, "x"] = 99.0
    assert fingerprint_of(changed) != original


def test_an_unknown_table_is_a_clear_error(project: Project, spark: SparkSession) -> None:
    loaded = project({"table": "no_such_table_here"}, engine={"name": "spark"})
    with pytest.raises(DataError, match=r"no_such_table_here.*must be a table Spark's catalog"):
        prepare(loaded, engine=SparkEngine(spark))


def write_csv(folder: Path, text: str) -> None:
    (folder / "data.csv").write_text(text, encoding="utf-8")


def both_raise(loaded: LoadedCharter, spark: SparkSession) -> tuple[str, str]:
    """The error messages of both engines on the same charter (each must raise)."""
    messages = []
    for engine in (PandasEngine(), SparkEngine(spark)):
        with pytest.raises(DataError) as caught:
            prepare(loaded, engine=engine)
        messages.append(str(caught.value))
    return messages[0], messages[1]


def test_a_missing_target_column_is_the_same_error_on_both_engines(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    write_csv(tmp_path, "x,z\n1,yes\n2,no\n")
    on_pandas, on_spark = both_raise(project(target="y"), spark)
    assert on_spark == on_pandas
    assert "The target must be a column of data.csv" in on_spark


def test_a_header_only_file_is_the_same_error_on_both_engines(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    write_csv(tmp_path, "x,y\n")
    on_pandas, on_spark = both_raise(project(), spark)
    assert on_spark == on_pandas
    assert "must hold data rows" in on_spark


def test_an_empty_parquet_table_is_a_clear_error(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    with quiet_pandas_version():
        empty = spark.createDataFrame(pd.DataFrame({"x": [1.0], "y": ["yes"]})).limit(0)
    empty.write.parquet(str(tmp_path / "empty"))
    loaded = project("empty", engine={"name": "spark"})
    with pytest.raises(DataError, match=r"must hold data rows\. Got none instead"):
        prepare(loaded, engine=SparkEngine(spark))


def test_wrong_types_break_the_contract_alike_on_both_engines(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    rows = "".join(f"{i},{'yes' if i % 2 else 'no'}\n" for i in range(40))
    write_csv(tmp_path, "x,y\n" + rows + "ten,yes\n3.5,no\n")
    loaded = project(contract={"x": {"type": "int"}, "y": {"type": "category"}})
    caught = []
    for engine in (PandasEngine(), SparkEngine(spark)):
        with pytest.raises(ContractViolation) as error:
            prepare(loaded, engine=engine)
        caught.append(error.value)
    assert str(caught[1]) == str(caught[0])
    assert caught[1].result.to_dict()["violations"] == caught[0].result.to_dict()["violations"]


def test_quarantine_on_spark_sets_the_same_rows_aside(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    rows = "".join(f"{i},{'yes' if i % 2 else 'no'}\n" for i in range(60))
    write_csv(tmp_path, "x,y\n" + rows + "ten,yes\n-4,no\n")
    loaded = project(
        contract={"x": {"type": "int", "min": 0}, "y": {"type": "category"}},
        on_violation="quarantine",
    )
    on_pandas = prepare(loaded, engine=PandasEngine(), quarantine_dir=tmp_path / "qp")
    on_spark = prepare(loaded, engine=SparkEngine(spark), quarantine_dir=tmp_path / "qs")

    assert on_pandas.quarantined is not None
    assert on_spark.quarantined is not None
    assert on_spark.quarantined.rows == on_pandas.quarantined.rows == 2
    assert on_spark.quarantined.kept == on_pandas.quarantined.kept == 60
    assert on_spark.quarantined.checks == on_pandas.quarantined.checks
    set_aside = pd.read_parquet(on_spark.quarantined.path).sort_values("charter_row")
    expected = pd.read_csv(on_pandas.quarantined.path, dtype=str)
    assert set_aside["charter_row"].tolist() == expected["charter_row"].astype(int).tolist()
    assert set_aside["x"].tolist() == expected["x"].tolist()
    assert set_aside["charter_violations"].tolist() == expected["charter_violations"].tolist()
    pd.testing.assert_frame_equal(on_spark.train, on_pandas.train)


def test_rows_without_a_target_are_dropped_alike(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    rows = "".join(f"{i},{'yes' if i % 2 else 'no'},{i % 3}\n" for i in range(50))
    write_csv(tmp_path, "x,y,extra\n" + rows + "7,,1\n8,,2\n")
    loaded = project(contract={"x": {"type": "int"}, "y": {"type": "category", "nullable": True}})
    on_pandas = prepare(loaded, engine=PandasEngine())
    on_spark = prepare(loaded, engine=SparkEngine(spark))

    assert comparable(on_spark) == comparable(on_pandas)
    dropped = [f for f in on_spark.findings if f.kind == "missing" and f.column == "y"]
    assert dropped
    assert dropped[0].details["examples"] == [51, 52]
    # `extra` is outside the contract: numbers read from text become floats on both engines.
    assert on_spark.train["extra"].dtype == on_pandas.train["extra"].dtype == "float64"


def test_rows_dropped_mid_table_leave_the_leakage_folds_as_on_pandas(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    # The leakage screen's cross-fitted AUC splits rows into folds by their labels: the
    # Spark engine must label the rows kept after a drop as pandas does, not by position.
    rng = np.random.default_rng(1)
    rows = 1500
    y = np.where(rng.random(rows) < 0.3, "yes", "no").astype(object)
    leak = (y == "yes") + rng.normal(0, 0.3, rows)
    y[rng.random(rows) < 0.1] = ""
    frame = pd.DataFrame({"x": rng.normal(size=rows), "leak": leak, "y": y})
    frame.to_csv(tmp_path / "data.csv", index=False)
    contract = {"x": {"type": "float"}, "leak": {"type": "float"}}
    loaded = project(contract={**contract, "y": {"type": "category", "nullable": True}})
    on_pandas = prepare(loaded, engine=PandasEngine())
    on_spark = prepare(loaded, engine=SparkEngine(spark))

    leaks = [f for f in on_spark.findings if f.kind == "leakage"]
    assert [f.column for f in leaks] == ["leak"]
    assert comparable(on_spark) == comparable(on_pandas)
    pd.testing.assert_frame_equal(on_spark.train, on_pandas.train)


def test_a_source_read_by_the_other_engine_says_which_to_use(
    tmp_path: Path, project: Project, spark: SparkSession
) -> None:
    table = project({"table": "some_table"}, engine={"name": "spark"})
    with pytest.raises(DataError, match=r"read by the Spark engine.*--engine spark"):
        prepare(table, engine=PandasEngine())
    query = project({"query": "select 1 as y", "url": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    with pytest.raises(DataError, match="Got a SQL query instead: use the pandas engine"):
        prepare(query, engine=SparkEngine(spark))
