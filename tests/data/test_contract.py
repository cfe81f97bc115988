"""Tests for charter.data's contract check: typing, every violation reported, quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from charter.data import (
    ContractResult,
    ContractViolation,
    check_contract,
    contract_schema,
    quarantine,
    read_source,
)
from charter.errors import DataError
from charter.spec.schema import Charter
from tests.data.conftest import MakeCharter, assert_plain, document, inferred

CONTRACT: dict[str, Any] = {
    "id": {"type": "string", "unique": True, "regex": r"^C\d{3}$"},
    "age": {"type": "int", "min": 18, "max": 99},
    "income": {"type": "float", "min": 0, "nullable": True, "missing": ["?", " "]},
    "plan": {"type": "category", "values": ["basic", "pro"]},
    "active": {"type": "bool"},
    "joined": {"type": "datetime", "nullable": True},
    "y": {"type": "category", "values": ["yes", "no"]},
}
COLUMNS = list(CONTRACT)


def charter_of(contract: dict[str, Any] | None = None, **data: Any) -> Charter:
    return Charter.model_validate(
        document("data.csv", contract=contract if contract is not None else CONTRACT, **data)
    )


def raw(rows: list[list[str]], columns: list[str] | None = None) -> pd.DataFrame:
    """A frame of strings, as `read_source` gives a CSV."""
    return pd.DataFrame(rows, columns=columns or COLUMNS, dtype=object)


GOOD = [
    ["C001", "34", "1200.5", "basic", "true", "2024-01-05", "yes"],
    ["C002", "51", "?", "pro", "false", "", "no"],
    ["C003", "29", " ", "basic", "yes", "2024-03-01", "no"],
]


def test_clean_rows_are_typed_per_the_contract() -> None:
    result = check_contract(raw(GOOD), charter_of())
    assert result.ok
    assert result.headline() == "No contract violations in the data."
    typed = result.typed
    assert typed["age"].dtype == np.float64
    assert list(typed["age"]) == [34.0, 51.0, 29.0]
    assert typed["income"].dtype == np.float64
    assert typed["income"].isna().tolist() == [False, True, True]  # markers are missing
    assert typed["plan"].dtype == object
    assert typed["plan"].tolist() == ["basic", "pro", "basic"]
    assert typed["active"].tolist() == [1.0, 0.0, 1.0]
    assert pd.api.types.is_datetime64_any_dtype(typed["joined"])
    assert typed["joined"].isna().tolist() == [False, True, False]
    assert typed["joined"].iloc[0] == pd.Timestamp("2024-01-05")
    assert len(result.bad_rows) == 0


def test_telco_blanks_are_missing_not_violations(make_charter: MakeCharter) -> None:
    loaded = make_charter(inferred("telco"))
    result = check_contract(read_source(loaded).frame, loaded.charter)
    assert result.ok
    assert int(result.typed["TotalCharges"].isna().sum()) == 11
    assert result.typed["tenure"].dtype == np.float64


def test_the_shared_datasets_keep_their_inferred_contracts(make_charter: MakeCharter) -> None:
    for name in ("ai4i", "adult"):
        loaded = make_charter(inferred(name))
        assert check_contract(read_source(loaded).frame, loaded.charter).ok, name


def test_text_in_a_numeric_column_is_reported_with_row_numbers(
    make_charter: MakeCharter,
) -> None:
    charter = inferred("telco")
    del charter["data"]["contract"]["TotalCharges"]["missing"]
    loaded = make_charter(charter)
    result = check_contract(read_source(loaded).frame, loaded.charter, source="telco.csv")
    assert [(v.column, v.check, v.count) for v in result.violations] == [
        ("TotalCharges", "type", 11)
    ]
    violation = result.violations[0]
    assert violation.examples[0] == (489, " ")
    assert len(violation.examples) == 5
    assert result.headline() == (
        "11 contract violations in telco.csv: TotalCharges (type: 11 rows, e.g. row 489 ' ')."
    )
    assert "must be a number (type)" in violation.message


def test_every_violation_is_reported_not_just_the_first() -> None:
    rows = [
        ["C001", "17", "-5", "gold", "maybe", "yesterday", "yes"],  # 5 faults
        ["C001", "40.5", "10", "pro", "true", "2024-01-01", "no"],  # dup id, age not int
        ["X9", "120", "abc", "basic", "false", "2024-01-02", "yes"],  # regex, max, type
        ["C004", "30", "1", "", "true", "2024-01-03", "no"],  # plan missing (not nullable)
    ]
    result = check_contract(raw(rows), charter_of(), source="customers.csv")
    found = {(v.column, v.check): v for v in result.violations}
    assert set(found) == {
        ("id", "unique"),
        ("id", "regex"),
        ("age", "type"),
        ("age", "min"),
        ("age", "max"),
        ("income", "type"),
        ("income", "min"),
        ("plan", "nullable"),
        ("plan", "values"),
        ("active", "type"),
        ("joined", "type"),
    }
    assert found["id", "unique"].count == 2
    assert found["id", "unique"].examples == ((1, "C001"), (2, "C001"))
    assert found["age", "type"].examples == ((2, "40.5"),)
    assert found["age", "min"].examples == ((1, "17"),)
    assert found["age", "max"].examples == ((3, "120"),)
    assert found["income", "type"].examples == ((3, "abc"),)
    assert found["plan", "values"].examples == ((1, "gold"),)
    assert found["plan", "nullable"].examples == ((4, ""),)
    assert found["id", "regex"].examples == ((3, "X9"),)
    assert list(result.bad_rows) == [0, 1, 2, 3]
    # Columns in file order, then checks in a fixed order.
    assert [v.column for v in result.violations][:2] == ["id", "id"]
    assert result.total == sum(v.count for v in result.violations)
    assert result.headline().startswith(f"{result.total} contract violations in customers.csv: ")
    assert result.headline().endswith(", and 6 more checks.")


def test_at_most_five_examples_per_violation() -> None:
    rows = [[f"C{i:03d}", "5", "1", "basic", "true", "2024-01-01", "yes"] for i in range(12)]
    result = check_contract(raw(rows), charter_of())
    (violation,) = result.violations
    assert (violation.column, violation.check, violation.count) == ("age", "min", 12)
    assert [row for row, _ in violation.examples] == [1, 2, 3, 4, 5]
    assert len(violation.to_dict()["examples"]) == 5


def test_duplicate_ids_are_a_violation_even_when_the_contract_omits_unique() -> None:
    contract = {"cid": {"type": "string"}, "y": {"type": "category"}}
    frame = raw([["a", "yes"], ["b", "no"], ["a", "no"]], ["cid", "y"])
    result = check_contract(frame, charter_of(contract, id="cid"))
    (violation,) = result.violations
    assert (violation.column, violation.check, violation.count) == ("cid", "unique", 2)
    assert violation.examples == ((1, "a"), (3, "a"))


def test_an_all_empty_column_is_a_column_level_violation() -> None:
    contract = {**CONTRACT, "notes": {"type": "string", "nullable": True}}
    rows = [[*row, ""] for row in GOOD]
    result = check_contract(raw(rows, [*COLUMNS, "notes"]), charter_of(contract))
    (violation,) = result.violations
    assert (violation.column, violation.check, violation.count) == ("notes", "all_missing", 3)
    assert violation.column_level
    assert result.headline() == (
        "1 contract violation in the data: notes (all_missing: every row is empty)."
    )


def test_a_contract_column_missing_from_the_data() -> None:
    contract = {**CONTRACT, "region": {"type": "category"}}
    result = check_contract(raw(GOOD), charter_of(contract))
    (violation,) = result.violations
    assert (violation.column, violation.check) == ("region", "present")
    assert violation.message == "Column 'region' of the contract is not in the data."


def test_a_protected_column_missing_from_the_data_is_a_data_error() -> None:
    charter = charter_of({**CONTRACT, "gender": {"type": "category"}}, protected=["gender"])
    with pytest.raises(
        DataError,
        match=r"The protected column 'gender' is missing from the data \('id', 'age', .*\); a "
        r"protected attribute is audited for bias, so it must be in the data\.",
    ):
        check_contract(raw(GOOD), charter)


def test_a_protected_column_with_a_near_name_gets_a_hint() -> None:
    charter = charter_of({**CONTRACT, "Plan": {"type": "category"}}, protected=["Plan"])
    with pytest.raises(DataError, match=r"Did you mean 'plan'\?"):
        check_contract(raw(GOOD), charter)


def test_the_target_missing_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"The target must be a column of x\.csv .* Got 'y'"):
        check_contract(raw(GOOD).drop(columns=["y"]), charter_of(), source="x.csv")


def test_columns_outside_the_contract_are_kept_and_typed_lightly() -> None:
    frame = raw([[*row, str(i), "t"] for i, row in enumerate(GOOD)], [*COLUMNS, "n", "tag"])
    result = check_contract(frame, charter_of())
    assert result.ok
    assert result.extra_columns == ("n", "tag")
    assert result.typed["n"].dtype == np.float64
    assert result.typed["tag"].tolist() == ["t", "t", "t"]


def test_typed_sources_are_checked_too() -> None:
    frame = pd.DataFrame(
        {
            "id": ["C001", "C002"],
            "age": [30, 17],
            "income": [np.nan, 3.5],
            "plan": ["basic", "pro"],
            "active": [True, False],
            "joined": pd.to_datetime(["2024-01-01", None]),
            "y": ["yes", "no"],
        }
    )
    result = check_contract(frame, charter_of())
    assert [(v.column, v.check, v.examples) for v in result.violations] == [
        ("age", "min", ((2, 17),))
    ]
    assert result.typed["active"].tolist() == [1.0, 0.0]


def test_contract_schema_is_a_pandera_schema() -> None:
    schema = contract_schema(charter_of())
    assert isinstance(schema, pa.DataFrameSchema)
    assert set(schema.columns) == set(CONTRACT)
    typed = check_contract(raw(GOOD), charter_of()).typed
    schema.validate(typed, lazy=True)


def test_result_to_dict_is_plain_json() -> None:
    rows = [["C001", "17", "x", "gold", "true", "", "yes"]]
    data = check_contract(raw(rows), charter_of(), source="c.csv").to_dict()
    assert_plain(data)
    assert data["ok"] is False
    assert data["bad_rows"] == 1
    assert data["violations"][0] == {
        "column": "age",
        "check": "min",
        "level": "row",
        "count": 1,
        "constraint": ">= 18",
        "message": "1 row of 'age' must be >= 18 (min); e.g. row 1 '17'.",
        "examples": [{"row": 1, "value": "17"}],
    }


def test_contract_violation_carries_the_result() -> None:
    result = check_contract(raw([["C001", "17", "1", "pro", "true", "", "yes"]]), charter_of())
    error = ContractViolation(result)
    assert isinstance(error, DataError)
    assert error.result is result
    assert str(error) == result.headline()


# -- quarantine ---------------------------------------------------------------------------------


def _mixed() -> ContractResult:
    rows = [
        *GOOD,
        ["C004", "17", "1", "pro", "true", "", "yes"],
        ["C005", "44", "oops", "vip", "true", "", "no"],
    ]
    return check_contract(raw(rows), charter_of(), source="c.csv")


def test_quarantine_writes_the_bad_rows_and_keeps_the_rest(tmp_path: Path) -> None:
    result = _mixed()
    path = tmp_path / "quarantine" / "c.csv"
    kept = quarantine(result, path)
    assert kept.rows == 2
    assert kept.kept == 3
    assert list(kept.frame.index) == [0, 1, 2]
    assert kept.frame["age"].tolist() == [34.0, 51.0, 29.0]
    written = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert written["charter_row"].tolist() == ["4", "5"]
    assert written["age"].tolist() == ["17", "44"]  # raw values as read
    assert written["charter_violations"].tolist() == [
        "age:min",
        "income:type; plan:values",
    ]
    assert kept.checks == {"age:min": 1, "income:type": 1, "plan:values": 1}
    assert kept.message.startswith("Quarantined 2 rows that broke the contract to ")
    assert kept.message.endswith("; continuing with the other 3 rows.")
    assert_plain(kept.to_dict())


def test_a_column_level_fault_cannot_be_quarantined(tmp_path: Path) -> None:
    contract = {**CONTRACT, "region": {"type": "category"}}
    result = check_contract(raw(GOOD), charter_of(contract))
    with pytest.raises(ContractViolation, match=r"region \(present: not in the data\)\. A missing"):
        quarantine(result, tmp_path / "q.csv")
    assert not (tmp_path / "q.csv").exists()


def test_quarantine_refuses_to_keep_nothing(tmp_path: Path) -> None:
    row = ["C001", "17", "1", "pro", "true", "2024-01-01", "yes"]
    result = check_contract(raw([row]), charter_of())
    with pytest.raises(DataError, match=r"Every row of the data broke the contract"):
        quarantine(result, tmp_path / "q.csv")
