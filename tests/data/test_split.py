"""Tests for charter.data's split: deterministic holdouts and train/test overlap."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.data import overlap_findings, split
from charter.errors import DataError
from charter.spec.schema import Charter
from tests.data.conftest import assert_plain, document


def charter_for(split_: dict[str, Any], **data: Any) -> Charter:
    return Charter.model_validate(document("data.csv", split=split_, **data))


def frame_of(rows: int = 200, positives: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.array(["yes"] * positives + ["no"] * (rows - positives), dtype=object)
    rng.shuffle(y)
    return pd.DataFrame(
        {
            "cid": [f"c{i}" for i in range(rows)],
            "x": rng.normal(size=rows),
            "when": pd.date_range("2024-01-01", periods=rows, freq="D")[rng.permutation(rows)],
            "y": y,
        }
    )


def test_stratified_split_keeps_the_class_shares_and_is_deterministic() -> None:
    frame = frame_of()
    charter = charter_for({"method": "stratified", "test": 0.25, "seed": 11})
    first = split(frame, charter)
    again = split(frame, charter)
    assert list(first.test.index) == list(again.test.index)
    assert len(first.test) == 50
    assert len(first.train) == 150
    assert (first.test["y"] == "yes").sum() == 10
    assert set(first.train.index).isdisjoint(first.test.index)
    assert list(first.train.index) == sorted(first.train.index)
    assert first.method == "stratified"
    assert first.classes == {"train": {"no": 120, "yes": 30}, "test": {"no": 40, "yes": 10}}
    other_seed = split(frame, charter_for({"method": "stratified", "test": 0.25, "seed": 12}))
    assert list(other_seed.test.index) != list(first.test.index)


def test_random_split() -> None:
    frame = frame_of(rows=101)
    parts = split(frame, charter_for({"method": "random", "test": 0.2, "seed": 3}))
    assert (len(parts.train), len(parts.test)) == (80, 21)  # ceil(0.2 * 101) test rows
    assert parts.note is None


def test_time_split_holds_out_the_latest_rows() -> None:
    frame = frame_of()
    charter = charter_for({"method": "time", "test": 0.1, "seed": 7}, timestamp="when")
    parts = split(frame, charter)
    assert len(parts.test) == 20
    assert parts.train["when"].max() < parts.test["when"].min()
    assert parts.test["when"].is_monotonic_increasing
    assert parts.time_bounds is not None
    assert parts.time_bounds["test_from"] == pd.Timestamp("2024-06-29")
    data = parts.to_dict()
    assert_plain(data)
    assert data["time"] == {
        "train_until": "2024-06-28T00:00:00",
        "test_from": "2024-06-29T00:00:00",
    }


def test_time_split_needs_every_timestamp() -> None:
    frame = frame_of()
    frame.loc[5, "when"] = pd.NaT
    charter = charter_for({"method": "time", "test": 0.1}, timestamp="when")
    with pytest.raises(DataError, match=r"'when' must be present in every row.*e\.g\. row 6"):
        split(frame, charter)


def test_stratification_falls_back_to_random_for_a_single_row_class() -> None:
    frame = frame_of(rows=50, positives=1)
    parts = split(frame, charter_for({"method": "stratified", "test": 0.2}))
    assert parts.method == "random"
    assert parts.requested == "stratified"
    assert (
        parts.note
        == "Class 'yes' has a single row, so the split cannot be stratified; it is random."
    )


def test_regression_is_never_stratified() -> None:
    frame = frame_of().assign(y=np.arange(200.0))
    charter = Charter.model_validate(
        document("d.csv", task="regression", split={"method": "stratified"})
    )
    parts = split(frame, charter)
    assert parts.method == "random"
    assert parts.classes is None


def test_too_few_rows() -> None:
    with pytest.raises(DataError, match=r"needs at least 2 rows.*Got 1 row"):
        split(frame_of(rows=1, positives=1), charter_for({"test": 0.2}))


def test_split_to_dict() -> None:
    data = split(frame_of(), charter_for({"test": 0.2, "seed": 5})).to_dict()
    assert_plain(data)
    assert data == {
        "method": "stratified",
        "requested": "stratified",
        "test_fraction": 0.2,
        "seed": 5,
        "train_rows": 160,
        "test_rows": 40,
        "note": None,
        "classes": {"train": {"no": 128, "yes": 32}, "test": {"no": 32, "yes": 8}},
        "time": None,
    }


def test_overlap_by_id() -> None:
    frame = frame_of()
    charter = charter_for({"test": 0.2}, id="cid")
    parts = split(frame, charter)
    assert overlap_findings(parts.train, parts.test, charter) == []
    test = pd.concat([parts.test, parts.train.iloc[:3]])
    (finding,) = overlap_findings(parts.train, test, charter)
    assert finding.kind == "train_test_overlap"
    assert finding.severity == "error"
    assert finding.details["ids"] == 3
    assert finding.message.startswith("3 ids of cid appear in both the training and the test")


def test_overlap_by_features_without_an_id() -> None:
    frame = frame_of()
    charter = charter_for({"test": 0.2})
    parts = split(frame, charter)
    assert overlap_findings(parts.train, parts.test, charter) == []
    test = pd.concat([parts.test, parts.train.iloc[:2]])  # cid is a feature here
    (finding,) = overlap_findings(parts.train, test, charter)
    assert finding.severity == "warning"  # 2 of 42 test rows
    assert finding.details["test_rows"] == 2
    assert finding.column is None
