"""The equivalence suite: the same frames through pandas and Spark give the same evidence.

Audit findings, profiles, bias tables and drift counts must be equal, not close: both
engines compute the same mergeable partials, and the partials merge exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.data import audit, check_contract, check_contract_spark
from charter.engines import DriftCounts, DriftError, DriftPlan, SparkEngine
from charter.errors import DataError
from charter.modeling._jsonable import jsonable
from charter.modeling._reference import category_counts, fine_bins, numeric_bins
from charter.monitoring import drift_report
from charter.serving import LogReader, PredictionLog, compact
from charter.spec import Charter
from charter.values import category_strings
from tests.data.conftest import dataset, document, inferred
from tests.engines.conftest import MakeEngines, ToSpark, mixed_frame


def same_report(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Audit reports equal but for the engine that made them."""
    details = second.pop("engine_details")
    assert details["name"] == "spark"
    assert details["quantiles"] == {"method": "ddsketch", "relative_error": 0.005}
    assert (first.pop("engine"), second.pop("engine")) == ("pandas", "spark")
    assert first == second


@pytest.mark.parametrize(("chunk_rows", "partitions"), [(1000, 1), (97, 4)])
def test_the_audit_of_a_mixed_frame_is_the_same_on_both_engines(
    engines: MakeEngines,
    to_spark: ToSpark,
    make_charter: Callable[..., Charter],
    chunk_rows: int,
    partitions: int,
) -> None:
    frame = mixed_frame()
    charter = make_charter(positive="yes", id="id", protected=["group"], timestamp="when")
    pandas_engine, spark_engine = engines(chunk_rows)
    expected = audit(frame, charter, engine=pandas_engine).to_dict()
    found = audit(to_spark(frame, partitions), charter, engine=spark_engine).to_dict()
    kinds = {finding["kind"] for finding in expected["findings"]}
    assert {"duplicates", "missing", "outliers", "leakage", "representation"} <= kinds
    same_report(expected, found)


def test_the_audit_of_a_regression_target_is_the_same_on_both_engines(
    engines: MakeEngines, to_spark: ToSpark, make_charter: Callable[..., Charter]
) -> None:
    frame = (
        mixed_frame(300).drop(columns=["y", "when"]).assign(y=lambda f: f["score"] * 3 + f["age"])
    )
    charter = make_charter(task="regression", id="id", protected=["age"])
    pandas_engine, spark_engine = engines(64)
    expected = audit(frame, charter, engine=pandas_engine).to_dict()
    found = audit(to_spark(frame, 2), charter, engine=spark_engine).to_dict()
    assert expected["bias"][0]["binned"] is True
    same_report(expected, found)


def test_the_audit_of_real_data_checked_by_its_contract_is_the_same(
    engines: MakeEngines, to_spark: ToSpark, make_charter: Callable[..., Charter]
) -> None:
    raw = pd.read_csv(dataset("adult"), dtype=str, keep_default_na=False, na_filter=False)
    raw = raw.iloc[:3000].reset_index(drop=True)
    whole = inferred("adult")
    whole["data"]["source"] = "data.csv"
    whole["data"]["protected"] = ["sex", "race"]
    charter = make_charter(whole)
    typed = check_contract(raw, charter).typed
    pandas_engine, spark_engine = engines(1000)
    expected = audit(typed, charter, engine=pandas_engine).to_dict()
    found = audit(to_spark(typed, 2), charter, engine=spark_engine).to_dict()
    assert expected["rows"] == 3000
    same_report(expected, found)


# -- drift --------------------------------------------------------------------------------------


def reference() -> dict[str, Any]:
    """Reference statistics (format 2) of a clean training sample, built as training does."""
    rng = np.random.default_rng(1)
    amount = rng.lognormal(2, 1, 2000)
    codes = category_strings(pd.Series(rng.choice([1.0, 2.0, 3.5], 2000)))
    plans = category_strings(pd.Series(rng.choice(["basic", "plus", "pro"], 2000), dtype=object))
    score = rng.beta(2, 2, 2000)
    return jsonable(
        {
            "format": 2,
            "features": {
                "amount": {"kind": "numeric", **numeric_bins(amount)},
                "code": {"kind": "categorical", **category_counts(codes)},
                "plan": {"kind": "categorical", **category_counts(plans)},
                "absent": {"kind": "numeric", **numeric_bins(amount[:50])},
            },
            "prediction": {
                "kind": "positive_score",
                "edges": [b / 10 for b in range(11)],
                "counts": np.bincount((score * 10).astype(int), minlength=10).tolist(),
                **fine_bins(score),
            },
        }
    )


def drifting_frame(rows: int = 500, seed: int = 5) -> pd.DataFrame:
    """Numbers with text and edge values mixed in, integral and textual categories, scores."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(2, 1.2, rows).astype(object)
    amount[:8] = [1.0, 5.0, 10.0, 50.0, np.inf, -np.inf, "oops", None]
    code = rng.choice([1.0, 2.0, 3.5, np.nan], rows).astype(object)
    code[:3] = ["x", "1", "new"]
    return pd.DataFrame(
        {
            "amount": amount,
            "code": code,
            "plan": rng.choice(["basic", "plus", "pro", "gold"], rows).astype(object),
            "score": np.clip(rng.beta(2, 3, rows), 0, 1),
        }
    ).assign(score=lambda f: f["score"].where(f.index != 9, 1.0))


def as_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Mixed object columns as text, as a table written by another tool would hold them."""
    return frame.assign(
        amount=frame["amount"].map(lambda v: None if v is None else str(v)),
        code=frame["code"].map(lambda v: None if isinstance(v, float) and np.isnan(v) else str(v)),
    )


def test_drift_counts_are_equal_on_both_engines(engines: MakeEngines, to_spark: ToSpark) -> None:
    frame = as_text_columns(drifting_frame())
    plan = DriftPlan.from_reference(reference())
    pandas_engine, spark_engine = engines(64)
    expected = pandas_engine.drift_counts(frame, plan, prediction="score")
    found = spark_engine.drift_counts(to_spark(frame, 3), plan, prediction="score")
    assert found == expected
    assert expected.features["amount"].invalid == 1
    assert expected.features["absent"].absent_rows == len(frame)
    pandas_report = drift_report(reference(), expected).to_json()
    spark_report = drift_report(reference(), found).to_json()
    assert spark_report == pandas_report


def test_drift_counts_of_an_empty_frame_are_equal(engines: MakeEngines, to_spark: ToSpark) -> None:
    from pyspark.sql import types as T

    frame = as_text_columns(drifting_frame()).iloc[:0]
    schema = T.StructType(
        [
            T.StructField("amount", T.StringType()),
            T.StructField("code", T.StringType()),
            T.StructField("plan", T.StringType()),
            T.StructField("score", T.DoubleType()),
        ]
    )
    plan = DriftPlan.from_reference(reference())
    pandas_engine, spark_engine = engines()
    found = spark_engine.drift_counts(to_spark(frame, 2, schema), plan, prediction="score")
    assert found == pandas_engine.drift_counts(frame, plan, prediction="score")
    assert found.rows == 0


def log_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Prediction records as the server logs them, one failed request among them."""
    records = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        score = row.pop("score")
        given = {k: v for k, v in row.items() if not (isinstance(v, float) and np.isnan(v))}
        records.append(
            {
                "prediction_id": f"p{i}",
                "time": "2026-01-01T00:00:00Z",
                "model_version": "1",
                "latency_ms": 1.0,
                "input": {k: (str(v) if v in (np.inf, -np.inf) else v) for k, v in given.items()},
                "output": {"prediction": "yes", "probabilities": {"no": 1 - score, "yes": score}},
            }
        )
    records[4]["output"] = {"error": "the model failed"}
    return records


def positive_scores(outputs: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray([o["probabilities"]["yes"] for o in outputs], dtype=np.float64)


def test_drift_counts_read_from_the_logs_parquet_segments_are_equal(
    engines: MakeEngines, tmp_path: Path
) -> None:
    folder = tmp_path / "log"
    records = log_records(drifting_frame(400))
    with PredictionLog(folder, mode="durable", segment_max_bytes=20_000, index=False) as log:
        for start in range(0, len(records), 50):
            log.append(records[start : start + 50])
    compact(folder)
    assert len(list(folder.glob("segment-*.parquet"))) > 2
    plan = DriftPlan.from_reference(reference())
    pandas_engine, spark_engine = engines(50)
    # What the pandas monitor does: records from the log reader, as a frame.
    served = [r for r in LogReader(folder).read_all()[0] if "error" not in r["output"]]
    frame = pd.DataFrame.from_records([r["input"] for r in served])
    frame["score"] = positive_scores([r["output"] for r in served])
    expected = pandas_engine.drift_counts(frame, plan, prediction="score")
    found = spark_engine.log_drift_counts(
        spark_engine.read_log(folder), plan, prediction=positive_scores
    )
    assert found.rows == len(records) - 1
    assert found == expected


def test_reading_a_log_without_compacted_segments_says_so(
    engines: MakeEngines, tmp_path: Path
) -> None:
    _, spark_engine = engines()
    with pytest.raises(DataError, match=r"must hold compacted segments .* Got none there"):
        spark_engine.read_log(tmp_path)


def test_spark_engine_counts_are_json_round_trippable(
    engines: MakeEngines, to_spark: ToSpark
) -> None:
    plan = DriftPlan.from_reference(reference())
    _, spark_engine = engines()
    counts = spark_engine.drift_counts(to_spark(as_text_columns(drifting_frame(50)), 2), plan)
    assert DriftCounts.from_json(counts.to_json()) == counts
    assert isinstance(spark_engine, SparkEngine)


# -- contract checks ----------------------------------------------------------------------------


def raw_rows() -> pd.DataFrame:
    """Rows as a CSV reader hands them over (all text), breaking every kind of check."""
    rows = 60
    frame = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(rows)],
            "tenure": [str(i % 40) for i in range(rows)],
            "charges": [f"{i * 1.5:.2f}" for i in range(rows)],
            "contract": ["One year", "Two year", "Month-to-month"] * 20,
            "email": [f"user{i}@example.com" for i in range(rows)],
            "paperless": ["yes", "no", "true", "0"] * 15,
            "since": ["2024-01-0" + str(1 + i % 9) for i in range(rows)],
            "note": [""] * rows,
            "y": ["yes", "no"] * 30,
        },
        dtype=object,
    )
    frame.loc[[3, 17], "tenure"] = ["-5", "1.5"]
    frame.loc[[4, 9, 30], "tenure"] = ["abc", "", "?"]
    frame.loc[[5, 6, 7, 8, 10, 11], "contract"] = "Decade"
    frame.loc[12, "id"] = "c13"
    frame.loc[[20, 21], "email"] = ["not-an-email", "x@y"]
    frame.loc[22, "paperless"] = "maybe"
    frame.loc[[23, 24], "since"] = ["yesterday", ""]
    frame.loc[25, "charges"] = "1e9"
    return frame


def contract_document() -> dict[str, Any]:
    return document(
        "data.csv",
        id="id",
        contract={
            "id": {"type": "string", "unique": True},
            "tenure": {"type": "int", "min": 0, "missing": ["?"]},
            "charges": {"type": "float", "max": 1e6},
            "contract": {"type": "category", "values": ["Month-to-month", "One year", "Two year"]},
            "email": {"type": "string", "regex": r"^[^@]+@[^@]+\.[a-z]+$"},
            "paperless": {"type": "bool"},
            "since": {"type": "datetime", "nullable": True},
            "note": {"type": "string", "nullable": True},
            "absent": {"type": "float", "nullable": True},
            "y": {"type": "category", "values": ["yes", "no"]},
        },
    )


def test_contract_checks_on_spark_find_what_pandera_finds_on_pandas(
    to_spark: ToSpark, make_charter: Callable[..., Charter]
) -> None:
    charter = make_charter(contract_document())
    raw = raw_rows()
    expected = check_contract(raw, charter, source="the table")
    found = check_contract_spark(to_spark(raw, 3), charter, source="the table")
    checks = {(v.column, v.check) for v in expected.violations}
    assert {
        ("tenure", "type"), ("tenure", "min"), ("tenure", "nullable"), ("charges", "max"),
        ("contract", "values"), ("id", "unique"), ("email", "regex"), ("paperless", "type"),
        ("since", "type"), ("note", "all_missing"), ("absent", "present"),
    } <= checks  # fmt: skip
    assert found.violations == expected.violations
    assert found.headline() == expected.headline()
    assert found.to_dict() == expected.to_dict()
    assert found.typed.columns == list(raw.columns)


def test_contract_checks_on_spark_of_a_clean_empty_or_short_table(
    to_spark: ToSpark, make_charter: Callable[..., Charter]
) -> None:
    from pyspark.sql import types as T

    raw = raw_rows()
    clean = raw.iloc[31:].reset_index(drop=True)
    clean = clean.drop(columns=["note"])
    trimmed = contract_document()
    trimmed["data"]["contract"].pop("note")
    trimmed["data"]["contract"].pop("absent")
    charter = make_charter(trimmed)
    found = check_contract_spark(to_spark(clean, 2), charter)
    assert found.ok
    assert found.headline() == "No contract violations in the data."
    schema = T.StructType([T.StructField(name, T.StringType()) for name in clean.columns])
    empty = check_contract_spark(to_spark(clean.iloc[:0], 2, schema), charter)
    assert empty.to_dict() == check_contract(clean.iloc[:0], charter).to_dict()
    with pytest.raises(DataError) as on_pandas:
        check_contract(clean.drop(columns=["y"]), charter)
    with pytest.raises(DataError, match=re.escape(str(on_pandas.value))):
        check_contract_spark(to_spark(clean.drop(columns=["y"]), 1), charter)


def test_contract_checks_on_spark_read_typed_columns(
    spark: Any, make_charter: Callable[..., Charter]
) -> None:
    charter = make_charter(contract_document())
    rows = [
        ("c1", 3, 10.5, "One year", "a@b.com", True, None, None, "yes"),
        ("c2", -1, 2e6, "Decade", "a@b.com", False, None, None, "no"),
    ]
    table = spark.createDataFrame(
        rows,
        "id string, tenure long, charges double, contract string, email string, "
        "paperless boolean, since timestamp, note string, y string",
    )
    found = check_contract_spark(table, charter)
    assert {(v.column, v.check, v.count) for v in found.violations} == {
        ("tenure", "min", 1), ("charges", "max", 1), ("contract", "values", 1),
        ("note", "all_missing", 2), ("since", "all_missing", 2),
        ("absent", "present", 1),
    }  # fmt: skip
    assert found.bad_rows == 1


def test_drift_counts_of_a_table_without_any_planned_column_count_every_row_absent(
    engines: MakeEngines, to_spark: ToSpark
) -> None:
    frame = pd.DataFrame({"other": np.arange(30.0)})
    plan = DriftPlan.from_reference(reference())
    pandas_engine, spark_engine = engines(7)
    found = spark_engine.drift_counts(to_spark(frame, 3), plan)
    assert found == pandas_engine.drift_counts(frame, plan)
    assert found.features["amount"].absent_rows == 30


def test_a_prediction_column_that_is_not_there_fails_alike(
    engines: MakeEngines, to_spark: ToSpark
) -> None:
    frame = as_text_columns(drifting_frame(20))
    plan = DriftPlan.from_reference(reference())
    pandas_engine, spark_engine = engines()
    message = r"The 'prediction' of drift_counts must name a column of the frame\. Got 'proba'"
    with pytest.raises(DriftError, match=message):
        pandas_engine.drift_counts(frame, plan, prediction="proba")
    with pytest.raises(DriftError, match=message):
        spark_engine.drift_counts(to_spark(frame, 2), plan, prediction="proba")
