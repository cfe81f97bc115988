"""Tests for charter.data.prepare: whole journeys from a charter to train/test and evidence."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import charter.data
from charter.data import ContractViolation, Prepared, prepare
from charter.errors import DataError
from tests.data.conftest import MakeCharter, WriteFile, assert_plain, document, inferred

CSV_HEADER = "cid,age,plan,y\n"
CONTRACT: dict[str, Any] = {
    "cid": {"type": "string", "unique": True},
    "age": {"type": "int", "min": 18},
    "plan": {"type": "category", "values": ["basic", "pro"]},
    "y": {"type": "category", "values": ["yes", "no"]},
}


def rows_csv(count: int = 60, *, bad: dict[int, str] | None = None) -> str:
    """A small CSV; `bad` replaces whole lines (by 0-based data row) with other text."""
    lines = []
    for i in range(count):
        plan = "pro" if i % 3 else "basic"
        lines.append(f"c{i},{20 + i % 50},{plan},{'yes' if i % 4 == 0 else 'no'}")
    for index, line in (bad or {}).items():
        lines[index] = line
    return CSV_HEADER + "\n".join(lines) + "\n"


def test_public_api_is_pinned() -> None:
    assert charter.data.__all__ == [
        "AuditReport",
        "BiasTable",
        "ColumnProfile",
        "ContractResult",
        "ContractViolation",
        "Finding",
        "Fingerprint",
        "GroupStats",
        "Prepared",
        "Quarantined",
        "SourceFrame",
        "SparkContractResult",
        "SparkSourceFrame",
        "Split",
        "Violation",
        "audit",
        "check_contract",
        "check_contract_spark",
        "contract_schema",
        "infer_charter",
        "overlap_findings",
        "prepare",
        "quarantine",
        "read_source",
        "read_source_spark",
        "read_table",
        "render_charter",
        "scoring_filter",
        "split",
    ]


# -- the shared datasets -----------------------------------------------------------------------


def test_telco_journey(make_charter: MakeCharter) -> None:
    progress: list[tuple[str, float]] = []
    loaded = make_charter(inferred("telco"))
    prepared = prepare(
        loaded, progress=lambda message, fraction: progress.append((message, fraction))
    )
    assert isinstance(prepared, Prepared)
    assert (len(prepared.train), len(prepared.test)) == (5634, 1409)
    assert prepared.contract.ok
    assert prepared.quarantined is None
    assert prepared.train["TotalCharges"].dtype == np.float64
    assert {"customerID", "gender", "Churn"} <= set(prepared.train.columns)  # id and all kept
    assert prepared.report.blocking(loaded.charter.data.audit) == []
    assert prepared.fingerprint.rows == 7043
    fractions = [fraction for _, fraction in progress]
    assert fractions == sorted(fractions)
    assert progress[0] == ("Reading the data", 0.0)
    assert progress[-1] == ("Data ready", 1.0)
    data = prepared.to_dict()
    assert_plain(data)
    json.dumps(data, allow_nan=False)
    audit = data["audit"]
    assert audit["fingerprint"]["content_sha256"] == prepared.fingerprint.content_sha256
    assert audit["split"]["train_rows"] == 5634
    assert audit["violations"] == []
    assert audit["quarantined_rows"] == 0


def test_ai4i_journey_flags_leakage_as_blocking(make_charter: MakeCharter) -> None:
    loaded = make_charter(inferred("ai4i"))
    prepared = prepare(loaded)
    blocking = prepared.report.blocking(loaded.charter.data.audit)
    assert {finding.column for finding in blocking} == {"TWF", "HDF", "PWF", "OSF", "RNF"}
    assert (prepared.train["Machine failure"] == 1).sum() == 271
    assert (prepared.test["Machine failure"] == 1).sum() == 68


def test_adult_journey(make_charter: MakeCharter) -> None:
    loaded = make_charter(inferred("adult"))
    prepared = prepare(loaded)
    assert prepared.report.of_kind("leakage") == []
    assert len(prepared.train) + len(prepared.test) == 32561
    assert prepared.train["workclass"].isna().sum() > 0  # "?" is missing
    sex = prepared.report.bias_table("sex")
    assert {group.group: group.rows for group in sex.groups} == {"Female": 10771, "Male": 21790}
    overlap = prepared.report.of_kind("train_test_overlap")
    assert [finding.severity for finding in overlap] in ([], ["info"])


# -- bad input -----------------------------------------------------------------------------------


def test_contract_violations_stop_by_default(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    write_file(rows_csv(bad={3: "c3,abc,pro,no", 7: "c7,12,gold,no"}))
    loaded = make_charter(document("data.csv", contract=CONTRACT))
    with pytest.raises(
        ContractViolation,
        match=r"^3 contract violations in data\.csv: age \(type: 1 row, e\.g\. row 4 'abc'\), "
        r"age \(min: 1 row, e\.g\. row 8 '12'\), plan \(values: 1 row, e\.g\. row 8 'gold'\)\.$",
    ) as caught:
        prepare(loaded)
    assert caught.value.result.to_dict()["total"] == 3


def test_quarantine_policy_writes_bad_rows_and_continues(
    make_charter: MakeCharter, write_file: WriteFile, tmp_path: Path
) -> None:
    write_file(rows_csv(bad={3: "c3,abc,pro,no", 7: "c7,12,gold,no"}))
    loaded = make_charter(
        document("data.csv", contract=CONTRACT, on_violation="quarantine", id="cid")
    )
    prepared = prepare(loaded, quarantine_dir=tmp_path / "quarantine")
    assert prepared.quarantined is not None
    assert prepared.quarantined.rows == 2
    assert len(prepared.train) + len(prepared.test) == 58
    assert not {3, 7} & (set(prepared.train.index) | set(prepared.test.index))
    written = pd.read_csv(prepared.quarantined.path, dtype=str)
    assert written["cid"].tolist() == ["c3", "c7"]
    assert written["charter_violations"].tolist() == ["age:type", "age:min; plan:values"]
    assert prepared.quarantined.path.parent == tmp_path / "quarantine"
    (finding,) = prepared.report.of_kind("contract_violation")
    assert finding.severity == "warning"
    assert finding.message.startswith("Quarantined 2 rows that broke the contract to ")
    assert prepared.report.to_dict()["quarantined_rows"] == 2


def test_quarantine_defaults_beside_the_charter(
    make_charter: MakeCharter, write_file: WriteFile, tmp_path: Path
) -> None:
    write_file(rows_csv(bad={3: "c3,abc,pro,no"}))
    loaded = make_charter(document("data.csv", contract=CONTRACT, on_violation="quarantine"))
    prepared = prepare(loaded)
    assert prepared.quarantined is not None
    assert prepared.quarantined.path.parent == tmp_path / ".charter" / "quarantine"


def test_duplicate_ids_stop_the_audit(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file(rows_csv(bad={5: "c1,30,pro,no"}))
    loaded = make_charter(document("data.csv", contract=CONTRACT, id="cid"))
    with pytest.raises(ContractViolation, match=r"cid \(unique: 2 rows, e\.g\. row 2 'c1'\)"):
        prepare(loaded)


def test_an_all_empty_column_stops_the_audit(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    text = rows_csv().replace("cid,age,plan,y", "cid,age,plan,note,y")
    text = "\n".join(
        line if i == 0 else line.rsplit(",", 1)[0] + ",," + line.rsplit(",", 1)[1]
        for i, line in enumerate(text.splitlines())
    )
    write_file(text + "\n")
    contract = {**CONTRACT, "note": {"type": "string", "nullable": True}}
    loaded = make_charter(document("data.csv", contract=contract, on_violation="quarantine"))
    with pytest.raises(
        ContractViolation, match=r"note \(all_missing: every row is empty\)\. A missing or empty"
    ):
        prepare(loaded)


def test_target_with_one_class(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file(rows_csv().replace(",yes\n", ",no\n"))
    loaded = make_charter(document("data.csv", contract=CONTRACT))
    with pytest.raises(
        DataError,
        match=r"^The target 'y' of data\.csv must hold at least two classes\. Got only 'no' "
        r"instead\.$",
    ):
        prepare(loaded)


def test_missing_target_column(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file(rows_csv().replace("cid,age,plan,y", "cid,age,plan,Y"))
    loaded = make_charter(document("data.csv"))
    with pytest.raises(DataError, match=r"Got 'y' instead\. Did you mean 'Y'\?"):
        prepare(loaded)


def test_protected_column_missing(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file(rows_csv())
    contract = {**CONTRACT, "gender": {"type": "category", "values": ["f", "m"]}}
    loaded = make_charter(document("data.csv", contract=contract, protected=["gender"]))
    with pytest.raises(DataError, match=r"^The protected column 'gender' is missing from data"):
        prepare(loaded)


def test_rows_without_a_target_are_dropped_and_reported(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    write_file(rows_csv(bad={2: "c2,30,pro,", 9: "c9,30,pro,"}))
    contract = {**CONTRACT, "y": {"type": "category", "values": ["yes", "no"], "nullable": True}}
    prepared = prepare(make_charter(document("data.csv", contract=contract)))
    assert len(prepared.train) + len(prepared.test) == 58
    (finding,) = [f for f in prepared.report.of_kind("missing") if f.column == "y"]
    assert finding.details["dropped"] == 2
    assert finding.message.startswith("2 rows of data.csv have no y value (e.g. row 3)")


def test_a_positive_class_absent_from_the_data(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    write_file(rows_csv())
    contract = {**CONTRACT, "y": {"type": "category"}}
    loaded = make_charter(document("data.csv", contract=contract, positive="churned"))
    with pytest.raises(DataError, match=r"positive class .* \('no', 'yes'\)\. Got 'churned'"):
        prepare(loaded)


def test_columns_outside_the_contract_are_reported(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    write_file(rows_csv())
    contract = {key: value for key, value in CONTRACT.items() if key != "plan"}
    prepared = prepare(make_charter(document("data.csv", contract=contract)))
    (finding,) = prepared.report.of_kind("contract_violation")
    assert (finding.column, finding.severity) == ("plan", "info")
    assert "plan" in prepared.train.columns


def test_empty_contract_is_fine(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file(rows_csv())
    prepared = prepare(make_charter(document("data.csv")))
    assert prepared.report.of_kind("contract_violation") == []
    assert prepared.train["age"].dtype == np.float64


def test_sqlite_journey(make_charter: MakeCharter, tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{(tmp_path / 'shop.db').as_posix()}"
    frame = pd.read_csv(io.StringIO(rows_csv()), dtype={"cid": str})
    engine = sa.create_engine(url)
    try:
        frame.to_sql("customers", engine, index=False)
    finally:
        engine.dispose()
    query = {"query": "SELECT * FROM customers ORDER BY age, cid", "url": url}
    prepared = prepare(make_charter(document(query, contract=CONTRACT, id="cid")))
    assert prepared.source.format == "sql"
    assert len(prepared.train) + len(prepared.test) == 60
    assert prepared.train["age"].dtype == np.float64
