"""Tests for charter.data: reading tables, inferring a charter, rendering it as YAML."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.data import infer_charter, read_table, render_charter
from charter.errors import DataError

WriteFile = Callable[..., Path]


def datasets_dir() -> Path:
    """The shared datasets folder: `shared/datasets` beside the repository root."""
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


def dataset(name: str) -> Path:
    path = datasets_dir() / name
    if not path.is_file():
        pytest.fail(f"the shared dataset {name} is missing at {path}")
    return path


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """Write text (or bytes) to a file in a fresh folder and return its path."""

    def write(content: str | bytes, name: str = "data.csv", encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
        return path

    return write


def assert_contract_holds(frame: pd.DataFrame, contract: dict[str, Any]) -> None:
    """Every row of a string-typed frame satisfies the inferred contract."""
    assert list(contract) == list(frame.columns)
    for name, rule in contract.items():
        raw = frame[name].astype(str)
        markers = set(rule.get("missing", []))
        present = raw[~raw.isin(markers)]
        assert rule["nullable"] == (len(present) < len(raw)), name
        kind = rule["type"]
        values: list[Any]
        if kind == "int":
            values = [int(value) for value in present]
        elif kind == "float":
            values = [float(value) for value in present]
        elif kind == "bool":
            values = [value.strip().lower() == "true" for value in present]
        else:
            values = list(present)
        if "min" in rule:
            assert min(values) >= rule["min"], name
            assert max(values) <= rule["max"], name
        if "values" in rule:
            assert set(values) <= set(rule["values"]), name
            assert not markers & {str(value) for value in rule["values"]}, name
        if rule.get("unique"):
            assert len(set(values)) == len(values), name
        if "regex" in rule:
            pattern = re.compile(rule["regex"])
            assert all(pattern.fullmatch(value) for value in values), name


def test_telco_churn_contract() -> None:
    path = dataset("telco_churn.csv")
    charter_ = infer_charter(path, "Churn", source="data/telco_churn.csv")
    assert list(charter_) == ["project", "objective", "data", "kpis", "model"]
    assert charter_["project"]["name"] == "telco-churn"
    assert charter_["objective"] == {
        "task": "binary_classification",
        "target": "Churn",
        "positive": "Yes",
    }
    data = charter_["data"]
    assert data["source"] == "data/telco_churn.csv"
    assert data["id"] == "customerID"
    assert data["exclude"] == []
    assert "timestamp" not in data
    contract = data["contract"]
    assert contract["TotalCharges"] == {
        "type": "float",
        "min": 18.8,
        "max": 8684.8,
        "nullable": True,
        "missing": [" "],
    }
    assert contract["SeniorCitizen"] == {
        "type": "int",
        "min": 0,
        "max": 1,
        "values": [0, 1],
        "nullable": False,
    }
    assert contract["customerID"] == {
        "type": "string",
        "nullable": False,
        "unique": True,
        "regex": r"^\d{4}-[A-Z]{5}$",
    }
    assert contract["tenure"] == {"type": "int", "min": 0, "max": 72, "nullable": False}
    assert contract["Contract"]["values"] == ["Month-to-month", "One year", "Two year"]
    assert contract["Churn"] == {"type": "category", "values": ["No", "Yes"], "nullable": False}
    assert data["protected"] == ["gender", "SeniorCitizen"]
    assert data["split"] == {"method": "stratified", "test": 0.2, "seed": 7}
    assert charter_["kpis"] == [
        {"name": "auc", "metric": "roc_auc", "at_least": 0.75, "gate": "deploy"},
        {
            "name": "parity",
            "metric": "demographic_parity_difference",
            "by": "gender",
            "at_most": 0.1,
            "gate": "deploy",
        },
        {"name": "drift", "metric": "max_psi", "at_most": 0.2, "gate": "monitor"},
    ]
    assert charter_["model"] == {
        "candidates": ["logistic_regression", "lightgbm"],
        "budget": {"seconds": 60},
        "cv_folds": 5,
    }
    assert_contract_holds(read_table(path), contract)


def test_ai4i2020_contract() -> None:
    path = dataset("ai4i2020.csv")
    frame = read_table(path)
    assert frame.columns[0] == "UDI"
    assert frame.shape == (10_000, 14)
    charter_ = infer_charter(path, "Machine failure")
    assert charter_["objective"] == {
        "task": "binary_classification",
        "target": "Machine failure",
        "positive": 1,
    }
    assert type(charter_["objective"]["positive"]) is int
    data = charter_["data"]
    assert data["id"] == "UDI"
    assert data["exclude"] == ["Product ID"]
    contract = data["contract"]
    assert contract["UDI"] == {"type": "int", "nullable": False, "unique": True}
    assert contract["Product ID"]["unique"] is True
    assert contract["Product ID"]["regex"] == r"^[A-Z]\d{5}$"
    assert contract["Type"] == {"type": "category", "values": ["H", "L", "M"], "nullable": False}
    assert contract["Air temperature [K]"] == {
        "type": "float",
        "min": 295.3,
        "max": 304.5,
        "nullable": False,
    }
    assert contract["Machine failure"]["values"] == [0, 1]
    assert data["protected"] == []
    assert [kpi["name"] for kpi in charter_["kpis"]] == ["auc", "drift"]
    assert_contract_holds(frame, contract)


def test_adult_contract() -> None:
    path = dataset("adult_train.csv")
    charter_ = infer_charter(path, "income")
    assert charter_["objective"]["positive"] == ">50K"
    data = charter_["data"]
    assert "id" not in data
    contract = data["contract"]
    for column in ("workclass", "occupation", "native-country"):
        assert contract[column]["type"] == "category"
        assert contract[column]["nullable"] is True
        assert contract[column]["missing"] == ["?"]
        assert "?" not in contract[column]["values"]
    assert contract["age"] == {"type": "int", "min": 17, "max": 90, "nullable": False}
    assert contract["education-num"] == {"type": "int", "min": 1, "max": 16, "nullable": False}
    assert {"sex", "race", "age"} <= set(data["protected"])
    assert "income" not in data["protected"]
    parity = [kpi for kpi in charter_["kpis"] if kpi["name"] == "parity"]
    assert parity == [
        {
            "name": "parity",
            "metric": "demographic_parity_difference",
            "by": "sex",
            "at_most": 0.1,
            "gate": "deploy",
        }
    ]
    assert_contract_holds(read_table(path), contract)


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("telco_churn.csv", "Churn"),
        ("ai4i2020.csv", "Machine failure"),
        ("adult_train.csv", "income"),
    ],
)
@pytest.mark.parametrize("comments", [True, False])
def test_dataset_charters_round_trip_through_yaml(name: str, target: str, comments: bool) -> None:
    charter_ = infer_charter(dataset(name), target, source=f"data/{name}")
    text = render_charter(charter_, comments=comments)
    assert yaml.safe_load(text) == charter_
    commented = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert bool(commented) is comments


def test_rendered_charter_reads_like_the_spec() -> None:
    charter_ = infer_charter(dataset("telco_churn.csv"), "Churn", source="data/telco_churn.csv")
    text = render_charter(charter_)
    assert '  positive: "Yes"\n' in text
    assert "    TotalCharges: {type: float, min: 18.8, max: 8684.8, nullable: true, " in text
    assert 'missing: [" "]}' in text
    assert "    SeniorCitizen: {type: int, min: 0, max: 1, values: [0, 1], nullable: false}" in text
    assert "  split: {method: stratified, test: 0.2, seed: 7}\n" in text
    assert "  - {name: auc, metric: roc_auc, at_least: 0.75, gate: deploy}\n" in text
    # Each top-level section has a comment right above it.
    for section in ("project", "objective", "data", "kpis", "model"):
        before = text.split(f"\n{section}:\n")[0]
        assert before.rstrip().splitlines()[-1].startswith("# "), section
    assert "customerID: " in text
    assert "# the id" in text
    assert "# the target" in text


def test_sample_rows_reads_only_the_first_rows(write_file: WriteFile) -> None:
    lines = ["x,y"] + [f"{i},{i % 2}" for i in range(100)]
    path = write_file("\n".join(lines) + "\n")
    charter_ = infer_charter(path, "y", sample_rows=10)
    assert charter_["data"]["contract"]["x"] == {"type": "int", "nullable": False, "unique": True}
    assert charter_["data"]["id"] == "x"
    assert len(read_table(path)) == 100
    with pytest.raises(ValueError, match="sample_rows must be at least 1"):
        infer_charter(path, "y", sample_rows=0)


# -- reading -----------------------------------------------------------------------------


def test_read_table_keeps_csv_values_as_strings(write_file: WriteFile) -> None:
    path = write_file("a,b\r\n1, \r\n2,?\r\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == ["1", "2"]
    assert frame["b"].tolist() == [" ", "?"]


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [(";", "data.csv"), ("\t", "data.tsv"), ("|", "data.txt"), ("\t", "data.csv")],
)
def test_delimiters_are_sniffed(write_file: WriteFile, delimiter: str, name: str) -> None:
    rows = [["id", "price", "label"], ["a1", "1,5", "yes"], ["a2", "2,25", "no"], ["a3", "3", "no"]]
    path = write_file("\n".join(delimiter.join(row) for row in rows) + "\n", name=name)
    frame = read_table(path)
    assert list(frame.columns) == ["id", "price", "label"]
    assert frame["price"].tolist() == ["1,5", "2,25", "3"]
    charter_ = infer_charter(path, "label")
    assert charter_["objective"]["positive"] == "yes"


def test_latin1_file_is_read(write_file: WriteFile) -> None:
    text = "ville,prix,achat\nSão Paulo,1.5,oui\nZürich,2.5,non\nGenève,3.5,non\n"
    path = write_file(text, encoding="latin-1")
    frame = read_table(path)
    assert frame["ville"].tolist() == ["São Paulo", "Zürich", "Genève"]
    charter_ = infer_charter(path, "achat")
    assert charter_["data"]["contract"]["ville"]["values"] == ["Genève", "São Paulo", "Zürich"]
    assert yaml.safe_load(render_charter(charter_)) == charter_


def test_utf8_with_bom_and_utf16_are_read(write_file: WriteFile) -> None:
    text = "café,target\nx,1\ny,0\nz,0\n"
    bom = write_file(b"\xef\xbb\xbf" + text.encode(), name="bom.csv")
    assert list(read_table(bom).columns) == ["café", "target"]
    utf16 = write_file(text, name="utf16.csv", encoding="utf-16")
    assert list(read_table(utf16).columns) == ["café", "target"]


def test_utf8_breaking_after_the_sniffed_head_falls_back(write_file: WriteFile) -> None:
    head = "name,flag\n" + "plain,0\n" * 20_000
    path = write_file(head.encode() + "caf\xe9,1\n".encode("latin-1"))
    frame = read_table(path)
    assert frame["name"].iloc[-1] == "café"


def test_parquet_is_read_with_its_types(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "row": range(1, 9),
            "count": pd.array([3, None, 5, 1, 2, 2, 4, 9], dtype="Int64"),
            "price": [1.5, 2.25, None, 4.0, 5.0, 6.5, 7.0, 8.125],
            "flag": [True, False, True, True, False, True, False, True],
            "colour": ["red", "blue", None, "red", "blue", "red", "red", "blue"],
            "sku": [f"S-{i:03d}" for i in range(8)],
            "when": pd.date_range("2024-01-01", periods=8, freq="D"),
            "gender": ["f", "m", "f", "m", "f", "m", "f", "m"],
            "churn": ["no", "no", "yes", "no", "no", "yes", "no", "no"],
            "plan": pd.Categorical(["a", "b", "a", "a", "b", "b", "a", "b"]),
            "big": [2**62, 1, 2, 3, 4, 5, 6, 7],
        }
    )
    path = tmp_path / "shop.parquet"
    frame.to_parquet(path, index=False)
    assert read_table(path)["price"].dtype.kind == "f"
    charter_ = infer_charter(path, "churn", source="shop.parquet")
    assert charter_["project"]["name"] == "shop"
    data = charter_["data"]
    assert data["id"] == "row"
    assert data["exclude"] == ["sku"]
    assert data["timestamp"] == "when"
    assert data["split"]["method"] == "time"
    contract = data["contract"]
    assert contract["row"] == {"type": "int", "nullable": False, "unique": True}
    assert contract["count"] == {
        "type": "int",
        "min": 1,
        "max": 9,
        "values": [1, 2, 3, 4, 5, 9],
        "nullable": True,
    }
    assert contract["price"] == {"type": "float", "min": 1.5, "max": 8.125, "nullable": True}
    assert contract["flag"] == {"type": "bool", "values": [False, True], "nullable": False}
    assert contract["colour"] == {"type": "category", "values": ["blue", "red"], "nullable": True}
    assert contract["sku"]["regex"] == r"^[A-Z]-\d{3}$"
    assert contract["when"] == {"type": "datetime", "nullable": False}
    assert contract["plan"] == {"type": "category", "values": ["a", "b"], "nullable": False}
    assert contract["big"]["max"] == 2**62
    assert charter_["objective"]["positive"] == "yes"
    assert data["protected"] == ["gender"]
    assert yaml.safe_load(render_charter(charter_)) == charter_


# -- inference rules ---------------------------------------------------------------------


def test_markers_in_numeric_columns(write_file: WriteFile) -> None:
    path = write_file(
        "a,b,c,d,y\n1,2.5,NA,true,0\nunknown,-,3,false,1\n3,4.75,,?,0\n4,-1e3,5,TRUE,1\n"
    )
    contract = infer_charter(path, "y")["data"]["contract"]
    assert contract["a"] == {
        "type": "int",
        "min": 1,
        "max": 4,
        "values": [1, 3, 4],
        "nullable": True,
        "missing": ["unknown"],
    }
    assert contract["b"] == {
        "type": "float",
        "min": -1000.0,
        "max": 4.75,
        "nullable": True,
        "missing": ["-"],
    }
    assert contract["c"]["missing"] == ["", "NA"]
    assert contract["d"] == {
        "type": "bool",
        "values": [False, True],
        "nullable": True,
        "missing": ["?"],
    }


def test_none_and_na_stay_categories_outside_numeric_columns(write_file: WriteFile) -> None:
    path = write_file("region,garage,y\nNA,None,0\nEU,Attached,1\nNA,Detached,0\nEU,?,1\n")
    contract = infer_charter(path, "y")["data"]["contract"]
    assert contract["region"] == {"type": "category", "values": ["EU", "NA"], "nullable": False}
    assert contract["garage"] == {
        "type": "category",
        "values": ["Attached", "Detached", "None"],
        "nullable": True,
        "missing": ["?"],
    }


def test_integers_beyond_64_bits(write_file: WriteFile) -> None:
    path = write_file(f"n,y\n{2**70},0\n-{2**65},1\n5,0\n")
    rule = infer_charter(path, "y")["data"]["contract"]["n"]
    assert rule == {
        "type": "int",
        "min": -(2**65),
        "max": 2**70,
        "values": [-(2**65), 5, 2**70],
        "nullable": False,
    }
    assert yaml.safe_load(render_charter({"n": rule})) == {"n": rule}


def test_leading_zeros_keep_a_column_textual(write_file: WriteFile) -> None:
    path = write_file("zip,y\n02134,0\n10001,1\n00501,0\n")
    contract = infer_charter(path, "y")["data"]["contract"]
    assert contract["zip"]["type"] == "string"
    assert contract["zip"]["regex"] == r"^\d{5}$"


def test_floats_get_short_bounds_that_still_hold(write_file: WriteFile) -> None:
    values = ["0.123456789123", "9.87654321987", "3.3"]
    path = write_file("v,y\n" + "".join(f"{v},{i % 2}\n" for i, v in enumerate(values)))
    rule = infer_charter(path, "y")["data"]["contract"]["v"]
    assert rule["min"] == 0.123456
    assert rule["max"] == 9.87655
    assert all(rule["min"] <= float(v) <= rule["max"] for v in values)


def test_many_distinct_strings_are_text_not_categories(write_file: WriteFile) -> None:
    rows = [f"comment number {i},{i % 2}" for i in range(80)]
    path = write_file("note,y\n" + "\n".join(rows) + "\n")
    charter_ = infer_charter(path, "y")
    assert charter_["data"]["contract"]["note"] == {"type": "string", "nullable": False}
    assert "id" not in charter_["data"]


def test_dates_become_the_timestamp_and_a_time_split(write_file: WriteFile) -> None:
    rows = [f"2024-01-{d:02d} 10:00:00,{d * 1.5},{d % 3}" for d in range(1, 29)]
    path = write_file("at,amount,kind\n" + "\n".join(rows) + "\n")
    charter_ = infer_charter(path, "kind")
    assert charter_["data"]["timestamp"] == "at"
    assert charter_["data"]["contract"]["at"] == {"type": "datetime", "nullable": False}
    assert charter_["data"]["split"]["method"] == "time"


def test_regression_target(write_file: WriteFile) -> None:
    rows = [f"{i % 7},{i * 0.37:.2f}" for i in range(60)]
    path = write_file("x,price\n" + "\n".join(rows) + "\n")
    charter_ = infer_charter(path, "price")
    assert charter_["objective"] == {"task": "regression", "target": "price"}
    assert charter_["data"]["split"]["method"] == "random"
    assert charter_["model"]["candidates"] == ["linear_regression", "lightgbm"]
    assert [kpi["metric"] for kpi in charter_["kpis"]] == ["r2", "max_psi"]


def test_multiclass_target(write_file: WriteFile) -> None:
    rows = [
        f"{i},{['red', 'green', 'blue', 'green'][i % 4]},{['f', 'm'][i % 2]}" for i in range(12)
    ]
    path = write_file("size,colour,sex\n" + "\n".join(rows) + "\n")
    charter_ = infer_charter(path, "colour")
    assert charter_["objective"] == {"task": "multiclass_classification", "target": "colour"}
    assert charter_["kpis"][0] == {
        "name": "balanced_accuracy",
        "metric": "balanced_accuracy",
        "at_least": 0.67,
        "gate": "deploy",
    }
    assert charter_["kpis"][1]["by"] == "sex"


def test_integer_target_with_few_classes_is_multiclass(write_file: WriteFile) -> None:
    rows = [f"{i * 3 % 11},{i % 5}" for i in range(40)]
    path = write_file("x,stars\n" + "\n".join(rows) + "\n")
    assert infer_charter(path, "stars")["objective"]["task"] == "multiclass_classification"


def test_positive_tie_prefers_the_yes_like_class(write_file: WriteFile) -> None:
    path = write_file("x,y\n1,true\n2,false\n")
    charter_ = infer_charter(path, "y")
    assert charter_["objective"]["positive"] is True
    assert charter_["data"]["contract"]["y"]["type"] == "bool"


def test_protected_names_match_words_not_substrings(write_file: WriteFile) -> None:
    names = ["Gender", "ethnicity", "MaritalStatus", "page_views", "voltage", "trace", "Essex"]
    names += ["native_language", "is_disabled", "Religion", "y"]
    row = ",".join(["a"] * (len(names) - 1))
    path = write_file(",".join(names) + f"\n{row},0\n{row},1\n")
    protected = infer_charter(path, "y")["data"]["protected"]
    assert protected == [
        "Gender",
        "ethnicity",
        "MaritalStatus",
        "native_language",
        "is_disabled",
        "Religion",
    ]


# -- errors ------------------------------------------------------------------------------


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        infer_charter(tmp_path / "nope.csv", "y")


def test_directory_is_a_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="must be a file"):
        read_table(folder)


def test_empty_file_is_a_data_error(write_file: WriteFile) -> None:
    with pytest.raises(DataError, match=r"is empty \(0 bytes\)"):
        infer_charter(write_file(b""), "y")
    with pytest.raises(DataError, match="is empty"):
        infer_charter(write_file("\n\n", name="blank.csv"), "y")


def test_header_only_file_is_a_data_error(write_file: WriteFile) -> None:
    with pytest.raises(DataError, match=r"must hold data rows\. Got only a header instead"):
        infer_charter(write_file("a,b,y\r\n"), "y")


@pytest.mark.parametrize("name", ["data.xlsx", "data.json", "data"])
def test_unknown_format_is_a_data_error(write_file: WriteFile, name: str) -> None:
    with pytest.raises(DataError, match=r"The format of .* must be one of \.csv, \.parquet"):
        infer_charter(write_file("a,y\n1,0\n", name=name), "y")


def test_corrupt_parquet_is_a_data_error(write_file: WriteFile) -> None:
    with pytest.raises(DataError, match="cannot be read as Parquet"):
        infer_charter(write_file("a,y\n1,0\n", name="data.parquet"), "y")


def test_ragged_csv_is_a_data_error(write_file: WriteFile) -> None:
    with pytest.raises(DataError, match="cannot be parsed as CSV"):
        read_table(write_file("a,b\n1,2\n3,4\n5,6,7,8\n"))


def test_unknown_target_suggests_the_closest_column(write_file: WriteFile) -> None:
    path = write_file("customer,Churn\n1,Yes\n2,No\n")
    with pytest.raises(DataError, match=r"Got 'Chrun' instead\. Did you mean 'Churn'"):
        infer_charter(path, "Chrun")
    with pytest.raises(DataError, match="Did you mean 'Churn'"):
        infer_charter(path, "churn")
    with pytest.raises(DataError, match=r"must be a column of .*Got 'zzz' instead\.$"):
        infer_charter(path, "zzz")


def test_target_entirely_missing_is_a_data_error(write_file: WriteFile) -> None:
    with pytest.raises(DataError, match=r"must hold values\. Got only missing values instead"):
        infer_charter(write_file("a,y\n1,?\n2, \n3,\n"), "y")


def test_single_class_target_is_a_data_error(write_file: WriteFile) -> None:
    with pytest.raises(DataError, match=r"at least two classes\. Got only 'Yes' instead"):
        infer_charter(write_file("a,y\n1,Yes\n2,Yes\n3,?\n"), "y")


def test_duplicate_column_names_are_a_data_error(write_file: WriteFile, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"must be unique\. Got 'a' more than once instead"):
        infer_charter(write_file("a,b,a,y\n1,2,3,0\n"), "y")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="must be unique"):
        read_table(tmp_path / "dup.parquet")


# -- rendering ---------------------------------------------------------------------------

NASTY = [
    "Yes",
    "No",
    "yes",
    "on",
    "y",
    "?",
    " ",
    "",
    "1",
    "0.5",
    "1e5",
    "null",
    "~",
    ">50K",
    "<=50K",
    "a: b",
    "a #b",
    "#x",
    "- x",
    "-",
    "[x]",
    "{x}",
    "x,y",
    "'q'",
    '"dq"',
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "\u2028sep",
    "\x85nel",
    "\ufeffbom",
    "\x00nul",
    "trailing ",
    " leading",
    "two  spaces",
    "2024-01-01",
    "0x1F",
    "0o17",
    "012",
    ".inf",
    "=",
    "<<",
    "&anchor",
    "*alias",
    "!tag",
    "%directive",
    "@at",
    "`tick",
    "|",
    ">",
    "café",
    "日本",
    "emoji 😀",
    "\U0001f600",
]


@pytest.mark.parametrize("text", NASTY)
def test_nasty_strings_round_trip(text: str) -> None:
    charter_ = {
        "project": {"name": text, "stakeholders": [{"name": text, "notify": text}]},
        "objective": {"task": "binary_classification", "target": text, "positive": text},
        "data": {
            "id": text,
            "exclude": [text],
            "contract": {text: {"type": "category", "values": [text, text + "!"]}},
            "protected": [text],
        },
    }
    assert yaml.safe_load(render_charter(charter_)) == charter_
    assert yaml.safe_load(render_charter(charter_, comments=False)) == charter_


def test_numbers_round_trip_with_their_types() -> None:
    numbers = [0, -1, 10**30, 0.0, -0.0, 1e16, 1e-5, 5e-324, 1.7976931348623157e308, 0.1]
    numbers += [math.inf, -math.inf, True, False, None]
    charter_ = {"data": {"contract": {"x": {"values": numbers}}}}
    loaded = yaml.safe_load(render_charter(charter_))
    assert loaded == charter_
    assert [type(v) for v in loaded["data"]["contract"]["x"]["values"]] == [
        type(v) for v in numbers
    ]


def test_very_long_column_name_round_trips() -> None:
    charter_ = {"data": {"contract": {"x" * 1500: {"type": "string"}, "y" * 2000: {}}}}
    assert yaml.safe_load(render_charter(charter_)) == charter_


_scalars = st.one_of(
    st.text(max_size=12),
    st.sampled_from(NASTY),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
_names = st.one_of(st.text(max_size=20), st.sampled_from(NASTY))
_entries = st.fixed_dictionaries(
    {"type": st.sampled_from(["int", "float", "bool", "category", "string", "datetime"])},
    optional={
        "min": st.one_of(st.integers(), st.floats(allow_nan=False)),
        "max": st.one_of(st.integers(), st.floats(allow_nan=False)),
        "values": st.lists(_scalars, max_size=6),
        "nullable": st.booleans(),
        "unique": st.just(True),
        "regex": st.text(max_size=20),
        "missing": st.lists(st.one_of(st.text(max_size=3), st.sampled_from(NASTY)), max_size=4),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    contract=st.dictionaries(_names, _entries, max_size=8),
    target=_names,
    positive=_scalars,
    name=_names,
    comments=st.booleans(),
)
def test_random_charters_round_trip(
    contract: dict[str, Any], target: str, positive: Any, name: str, comments: bool
) -> None:
    columns = list(contract)
    charter_ = {
        "project": {"name": name, "problem": name, "owner": "you@example.com", "stakeholders": []},
        "objective": {"task": "binary_classification", "target": target, "positive": positive},
        "data": {
            "source": name,
            **({"id": columns[0]} if columns else {}),
            "exclude": columns[1:2],
            "contract": contract,
            "protected": columns[2:],
            "split": {"method": "stratified", "test": 0.2, "seed": 7},
        },
        "kpis": [{"name": name, "metric": "roc_auc", "at_least": 0.75, "gate": "deploy"}],
        "model": {"candidates": ["lightgbm"], "budget": {"seconds": 60}, "cv_folds": 5},
    }
    assert yaml.safe_load(render_charter(charter_, comments=comments)) == charter_


_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_names, inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(document=st.dictionaries(_names, _json, max_size=5))
def test_any_nested_document_round_trips(document: dict[str, Any]) -> None:
    assert yaml.safe_load(render_charter(document, comments=False)) == (document or None)
