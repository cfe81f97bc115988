"""Tests for charter.data's audit: quality findings, target leakage, bias, engine partials."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.data import AuditReport, Finding, audit, check_contract, read_source
from charter.engines import PandasEngine
from charter.spec.schema import FINDING_KINDS, AuditPolicy, Charter
from tests.data.conftest import MakeCharter, assert_plain, document, inferred

LEAKY = {"TWF", "HDF", "PWF", "OSF", "RNF"}


def typed_dataset(make_charter: MakeCharter, name: str) -> tuple[pd.DataFrame, Charter]:
    loaded = make_charter(inferred(name))
    result = check_contract(read_source(loaded).frame, loaded.charter)
    assert result.ok
    return result.typed, loaded.charter


def kinds(report: AuditReport, kind: str) -> dict[str | None, Finding]:
    return {finding.column: finding for finding in report.of_kind(kind)}


# -- the shared datasets ---------------------------------------------------------------------


def test_ai4i_failure_modes_are_flagged_as_leakage(make_charter: MakeCharter) -> None:
    frame, charter = typed_dataset(make_charter, "ai4i")
    report = audit(frame, charter)
    leakage = kinds(report, "leakage")
    assert set(leakage) == LEAKY
    assert "Machine failure" not in leakage
    assert "Torque [Nm]" not in leakage
    assert leakage["TWF"].severity == "error"
    assert leakage["TWF"].message == (
        "TWF predicts Machine failure almost perfectly (P(Machine failure=1 | TWF=1) = 1.00 "
        "over 46 rows): likely leakage; exclude it in data.exclude."
    )
    assert leakage["HDF"].details["support"] == 115
    # RNF fires mostly without a failure: it is flagged as one of the block of outcome flags.
    assert leakage["RNF"].severity == "warning"
    assert leakage["RNF"].details["rule"] == "sibling"
    assert leakage["RNF"].details["block"] == ["TWF", "HDF", "PWF", "OSF"]
    assert "P(Machine failure=1 | RNF=1) = 0.05 over 19 rows" in leakage["RNF"].message
    blocking = report.blocking(charter.data.audit)
    assert {finding.column for finding in blocking} == LEAKY
    imbalance = kinds(report, "class_imbalance")["Machine failure"]
    assert imbalance.severity == "warning"
    assert imbalance.details["rows"] == 339


def test_ai4i_excluded_flags_are_not_reported_but_still_recognise_rnf(
    make_charter: MakeCharter,
) -> None:
    charter = inferred("ai4i")
    charter["data"]["exclude"] = ["Product ID", "TWF", "HDF", "PWF", "OSF"]
    loaded = make_charter(charter)
    frame = check_contract(read_source(loaded).frame, loaded.charter).typed
    report = audit(frame, loaded.charter)
    assert set(kinds(report, "leakage")) == {"RNF"}
    charter["data"]["exclude"] = ["Product ID", *sorted(LEAKY)]
    loaded = make_charter(charter)
    assert audit(frame, loaded.charter).of_kind("leakage") == []


@pytest.mark.parametrize("name", ["telco", "adult"])
def test_no_leakage_on_telco_and_adult(make_charter: MakeCharter, name: str) -> None:
    frame, charter = typed_dataset(make_charter, name)
    report = audit(frame, charter)
    assert report.of_kind("leakage") == []
    assert report.blocking(charter.data.audit) == []


def test_telco_findings(make_charter: MakeCharter) -> None:
    frame, charter = typed_dataset(make_charter, "telco")
    report = audit(frame, charter)
    missing = kinds(report, "missing")
    assert set(missing) == {"TotalCharges"}
    assert missing["TotalCharges"].details["missing"] == 11
    assert missing["TotalCharges"].severity == "info"
    duplicates = report.of_kind("duplicates")
    expected = int(frame.drop(columns=["customerID"]).duplicated().sum())
    assert [finding.details["duplicates"] for finding in duplicates] == [expected]
    assert report.of_kind("id_like") == []  # customerID is the id, not a feature
    gender = report.bias_table("gender")
    assert [group.group for group in gender.groups] == ["Female", "Male"]


def test_adult_bias_numbers_equal_pandas(make_charter: MakeCharter) -> None:
    frame, charter = typed_dataset(make_charter, "adult")
    report = audit(frame, charter)
    positive = frame["income"] == ">50K"
    for attribute in ("sex", "race"):
        expected = positive.groupby(frame[attribute]).agg(["size", "sum", "mean"])
        table = report.bias_table(attribute)
        assert not table.binned
        assert [group.group for group in table.groups] == list(expected.index)
        for group in table.groups:
            assert group.rows == expected.at[group.group, "size"]
            assert group.positives == expected.at[group.group, "sum"]
            assert group.base_rate == pytest.approx(expected.at[group.group, "mean"], abs=1e-12)
            assert group.share == pytest.approx(group.rows / len(frame))
    sex = report.bias_table("sex")
    assert (sex.group("Male").rows, sex.group("Female").rows) == (21790, 10771)
    representation = kinds(report, "representation")
    assert set(representation["race"].details["groups"]) == {
        "Amer-Indian-Eskimo",
        "Asian-Pac-Islander",
        "Other",
    }
    assert "sex" not in representation
    too_small = kinds(report, "group_too_small")
    assert too_small["marital-status"].details["groups"] == {"Married-AF-spouse": 23}
    assert "race" not in too_small


def test_numeric_protected_attributes_are_binned_into_quantile_groups(
    make_charter: MakeCharter,
) -> None:
    frame, charter = typed_dataset(make_charter, "adult")
    age = audit(frame, charter).bias_table("age")
    assert age.binned
    assert len(age.groups) == 5
    assert sum(group.rows for group in age.groups) == len(frame)
    assert age.groups[0].group.startswith("[17, ")
    assert age.groups[-1].group.endswith(", 90]")
    low, high = (int(part) for part in age.groups[0].group.strip("[)").split(", "))
    in_bin = frame["age"].between(low, high, inclusive="left")
    assert age.groups[0].rows == int(in_bin.sum())
    assert all(0.1 < group.share < 0.3 for group in age.groups)


def test_audit_on_small_chunks_equals_audit_on_the_whole(make_charter: MakeCharter) -> None:
    frame, charter = typed_dataset(make_charter, "ai4i")
    whole = audit(frame, charter).to_dict()
    chunked = audit(frame, charter, engine=PandasEngine(chunk_rows=997)).to_dict()
    assert chunked == whole


def test_report_to_dict_is_plain_json(make_charter: MakeCharter) -> None:
    frame, charter = typed_dataset(make_charter, "adult")
    data = audit(frame, charter).to_dict()
    assert_plain(data)
    assert {
        "rows",
        "columns",
        "engine",
        "findings",
        "counts",
        "target",
        "profile",
        "groups",
    } <= set(data)
    assert data["rows"] == 32561
    assert data["columns"] == 15
    assert data["engine"] == "pandas"
    assert data["target"]["positive"] == ">50K"
    assert [c["value"] for c in data["target"]["classes"]] == ["<=50K", ">50K"]
    assert data["groups"]["sex"][0] == {
        "group": "Female",
        "rows": 10771,
        "share": pytest.approx(10771 / 32561),
        "positives": 1179,
        "base_rate": pytest.approx(1179 / 10771),
        "class_rates": None,
        "target_mean": None,
    }
    age = next(column for column in data["profile"] if column["name"] == "age")
    assert age["min"] == 17
    assert age["median"] == float(np.median(frame["age"]))
    severities = [finding["severity"] for finding in data["findings"]]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)


def test_progress_is_reported(make_charter: MakeCharter) -> None:
    frame, charter = typed_dataset(make_charter, "telco")
    seen: list[tuple[str, float]] = []
    audit(frame, charter, progress=lambda message, fraction: seen.append((message, fraction)))
    fractions = [fraction for _, fraction in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0
    assert seen[-1] == ("Audit done", 1.0)


# -- each finding on small data --------------------------------------------------------------


def charter_for(
    contract: dict[str, Any] | None = None,
    *,
    task: str = "binary_classification",
    positive: Any = "yes",
    **data: Any,
) -> Charter:
    return Charter.model_validate(
        document("data.csv", contract=contract, task=task, positive=positive, **data)
    )


def base_frame(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = np.where(x + rng.normal(scale=1.5, size=rows) > 0.5, "yes", "no")
    return pd.DataFrame(
        {"x": x, "group": rng.choice(["a", "b", "c"], size=rows).astype(object), "y": y}
    )


def test_a_clean_frame_has_no_findings() -> None:
    report = audit(base_frame(), charter_for())
    assert report.findings == ()


def test_quality_findings_on_small_data() -> None:
    frame = base_frame()
    rows = len(frame)
    frame["constant"] = 7.0
    frame["nearly"] = np.where(np.arange(rows) == 5, 1.0, 0.0)
    frame["code"] = [f"K{i:05d}" for i in range(rows)]
    frame["seq"] = np.arange(rows, dtype=float) + 1000
    frame["city"] = [f"city {i % 80}" for i in range(rows)]
    frame["spiky"] = np.where(np.arange(rows) < 3, 1e6, frame["x"])
    frame["sparse"] = np.where(np.arange(rows) < 250, np.nan, 1.0 + frame["x"])
    frame["empty"] = np.nan
    frame.loc[10, "group"] = np.nan
    frame = pd.concat([frame, frame.iloc[[0, 1]]], ignore_index=True)
    charter = charter_for({"seq": {"type": "int"}})
    report = audit(frame, charter)
    assert kinds(report, "constant")["constant"].details == {"value": 7.0, "rows": rows + 2}
    assert set(kinds(report, "near_constant")) == {"nearly"}
    assert set(kinds(report, "id_like")) == {"code", "seq"}
    assert set(kinds(report, "high_cardinality")) == {"city"}
    assert kinds(report, "outliers")["spiky"].details["above"] == 5  # 3 rows, 2 duplicated
    missing = kinds(report, "missing")
    assert missing["empty"].severity == "error"
    assert missing["sparse"].severity == "warning"
    assert missing["group"].severity == "info"
    assert missing["group"].message == "group is missing in 1 row (0.2%)."
    (duplicates,) = report.of_kind("duplicates")
    assert duplicates.details["duplicates"] == 2
    assert report.of_kind("leakage") == []


@pytest.mark.parametrize(("rare", "severity"), [(20, "warning"), (3, "error")])
def test_class_imbalance(rare: int, severity: str) -> None:
    frame = base_frame(rows=400)
    frame["y"] = ["yes"] * rare + ["no"] * (400 - rare)
    (finding,) = audit(frame, charter_for()).of_kind("class_imbalance")
    assert finding.severity == severity
    assert finding.details["class"] == "yes"


def test_a_copy_of_the_target_is_strong_leakage() -> None:
    frame = base_frame()
    frame["label_code"] = np.where(frame["y"] == "yes", 1.0, 0.0)
    frame["score"] = np.where(frame["y"] == "yes", 10.0, 0.0) + frame["x"]
    frame["recoded"] = np.where(frame["y"] == "yes", "Y", "N").astype(object)
    report = audit(frame, charter_for())
    leakage = kinds(report, "leakage")
    assert set(leakage) == {"label_code", "score", "recoded"}
    assert leakage["score"].details["rule"] == "strong"
    assert leakage["score"].details["auc"] > 0.99
    assert "on its own (single-feature ROC AUC = " in leakage["score"].message
    assert leakage["label_code"].details["rule"] == "deterministic"
    assert leakage["recoded"].message.startswith(
        "recoded predicts y almost perfectly (P(y='yes' | recoded='Y') = 1.00 over "
    )


def test_an_id_does_not_look_like_leakage() -> None:
    frame = base_frame()
    frame["code"] = [f"K{i:05d}" for i in range(len(frame))]
    report = audit(frame, charter_for())
    assert report.of_kind("leakage") == []
    assert set(kinds(report, "id_like")) == {"code"}


def test_a_field_filled_only_for_positives_is_leakage() -> None:
    frame = base_frame()
    cancelled = frame["y"] == "yes"
    frame["cancel_reason"] = np.where(cancelled, "price", None)
    frame.loc[cancelled, "cancel_reason"] = [f"reason {i % 7}" for i in range(int(cancelled.sum()))]
    (finding,) = audit(frame, charter_for()).of_kind("leakage")
    assert finding.column == "cancel_reason"
    assert finding.details["rule"] == "presence"
    assert "filled almost only when y='yes'" in finding.message


def test_regression_leakage() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    frame = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(scale=2, size=500)})
    frame["y_copy"] = frame["y"] * 2 + 1
    charter = charter_for(task="regression", positive=None)
    report = audit(frame, charter)
    assert set(kinds(report, "leakage")) == {"y_copy"}
    assert report.of_kind("class_imbalance") == []
    assert report.target["mean"] == pytest.approx(float(frame["y"].mean()))


def test_multiclass_leakage_and_bias_rates() -> None:
    rng = np.random.default_rng(2)
    y = rng.choice(["red", "green", "blue"], size=600)
    frame = pd.DataFrame(
        {"x": rng.normal(size=600), "tone": y.copy(), "region": rng.choice(["n", "s"], 600), "y": y}
    )
    frame = frame.astype({"tone": object, "region": object, "y": object})
    charter = charter_for(task="multiclass_classification", protected=["region"])
    report = audit(frame, charter)
    assert set(kinds(report, "leakage")) == {"tone"}
    north = report.bias_table("region").group("n")
    expected = frame.loc[frame["region"] == "n", "y"].value_counts(normalize=True)
    assert north.class_rates is not None
    assert north.class_rates["red"] == pytest.approx(expected["red"])
    assert north.base_rate is None


def test_small_and_rare_groups() -> None:
    frame = base_frame(rows=1000)
    frame["segment"] = ["big"] * 960 + ["tiny"] * 12 + ["small"] * 28
    charter = charter_for(protected=["segment"], audit={"min_group_size": 20})
    report = audit(frame, charter)
    too_small = kinds(report, "group_too_small")["segment"]
    assert too_small.details["groups"] == {"tiny": 12}
    assert too_small.message.startswith("1 group of segment has fewer than 20 rows (tiny 12)")
    representation = kinds(report, "representation")["segment"]
    assert set(representation.details["groups"]) == {"tiny", "small"}


def test_blocking_follows_the_policy() -> None:
    frame = base_frame()
    frame["constant"] = 1.0
    frame["label_code"] = np.where(frame["y"] == "yes", 1.0, 0.0)
    report = audit(frame, charter_for())
    assert [f.kind for f in report.blocking(AuditPolicy())] == ["leakage"]
    policy = AuditPolicy(blocking=("constant", "leakage"))
    assert {f.kind for f in report.blocking(policy)} == {"constant", "leakage"}
    assert report.blocking(AuditPolicy(blocking=())) == []


def test_finding_kinds_are_the_schema_kinds() -> None:
    finding = Finding("leakage", "error", "x", "m", {"auc": np.float64(0.99)})
    assert finding.to_dict() == {
        "kind": "leakage",
        "severity": "error",
        "column": "x",
        "message": "m",
        "details": {"auc": 0.99},
    }
    assert type(finding.to_dict()["details"]["auc"]) is float
    assert "leakage" in FINDING_KINDS
    with pytest.raises(ValueError, match=r"The kind of a finding must be one of class_imbalance"):
        Finding("bogus", "error", None, "m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"The severity of a finding must be info, warning"):
        Finding("leakage", "fatal", None, "m")  # type: ignore[arg-type]
