"""The Spark engine: each partial equals the pandas engine's; bad input fails as on pandas."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.data import audit
from charter.engines import (
    Binning,
    EngineError,
    GroupedRowCounts,
    PandasEngine,
    RowCounts,
    SparkEngine,
    row_number_of,
)
from charter.errors import DataError
from charter.lifecycle._engine import choose_engine, engine_name
from charter.spec import Charter
from tests.engines.conftest import MakeEngines, ToSpark, mixed_frame


def test_column_statistics_equal_the_pandas_engines(
    engines: MakeEngines, to_spark: ToSpark
) -> None:
    frame = mixed_frame(400).rename(columns={"amount": "amount.usd", "plan": "plan name"})
    frame.loc[7, "score"] = np.inf
    pandas_engine, spark_engine = engines(64)
    expected = pandas_engine.column_stats(frame)
    found = spark_engine.column_stats(to_spark(frame, 4))
    assert found == expected
    assert found["score"].infinite == 1
    assert found["when"].kind == "datetime"


def test_spark_types_are_read_as_pandas_reads_their_values(
    engines: MakeEngines, to_spark: ToSpark, spark: Any
) -> None:
    from pyspark.sql import types as T

    rows = [
        (True, decimal.Decimal("1.50"), dt.date(2024, 1, 2), 3, "a"),
        (False, decimal.Decimal("2.25"), dt.date(2024, 1, 3), None, None),
        (None, None, None, 5, "b"),
    ]
    schema = T.StructType(
        [
            T.StructField("flag", T.BooleanType()),
            T.StructField("price", T.DecimalType(10, 2)),
            T.StructField("day", T.DateType()),
            T.StructField("count", T.LongType()),
            T.StructField("word", T.StringType()),
        ]
    )
    frame = spark.createDataFrame(rows, schema)
    same = pd.DataFrame(
        {
            "flag": [1.0, 0.0, np.nan],
            "price": [1.5, 2.25, np.nan],
            "day": pd.to_datetime(["2024-01-02", "2024-01-03", None]),
            "count": [3.0, np.nan, 5.0],
            "word": ["a", None, "b"],
        }
    )
    pandas_engine, spark_engine = engines()
    assert spark_engine.column_stats(frame) == pandas_engine.column_stats(same)


def test_duplicates_are_counted_by_a_group_by(engines: MakeEngines, to_spark: ToSpark) -> None:
    frame = mixed_frame(300)
    columns = [name for name in frame.columns if name != "id"]
    pandas_engine, spark_engine = engines()
    expected = pandas_engine.row_counts(frame, columns)
    found = spark_engine.row_counts(to_spark(frame, 3), columns)
    assert isinstance(found, GroupedRowCounts)
    assert (found.rows, found.duplicates) == (expected.rows, expected.duplicates) == (300, 5)
    merged = found.merge(RowCounts({1: 2, 2: 1}))
    assert (merged.rows, merged.duplicates) == (303, 6)


def test_values_outside_fences_leave_nan_out(engines: MakeEngines, to_spark: ToSpark) -> None:
    frame = pd.DataFrame({"v": [np.nan, -np.inf, np.inf, 0.0, 5.0, 11.0, None]})
    pandas_engine, spark_engine = engines()
    fences = {"v": (1.0, 10.0)}
    found = spark_engine.outside(to_spark(frame, 2), fences)
    assert found == pandas_engine.outside(frame, fences)
    assert found.counts["v"] == (2, 2)
    assert spark_engine.outside(to_spark(frame, 1), {}).counts == {}


def test_cross_tables_use_each_rows_position_for_its_fold(
    engines: MakeEngines, to_spark: ToSpark
) -> None:
    frame = mixed_frame(500)
    binnings = {
        "amount": Binning("amount", edges=(5.0, 20.0, 60.0)),
        "plan": Binning("plan", values=("basic", "plus")),
    }
    pandas_engine, spark_engine = engines(70)
    expected = pandas_engine.crosstabs(frame, "y", binnings, classes=("no", "yes"))
    for partitions in (1, 5):
        found = spark_engine.crosstabs(
            to_spark(frame, partitions), "y", binnings, classes=("no", "yes")
        )
        assert found == expected
    regression = frame.assign(y=frame["score"])
    assert spark_engine.crosstabs(
        to_spark(regression, 3), "y", binnings, classes=None
    ) == pandas_engine.crosstabs(regression, "y", binnings, classes=None)


def test_an_empty_table_gives_the_empty_statistics_pandas_gives(
    engines: MakeEngines, to_spark: ToSpark, make_charter: Callable[..., Charter]
) -> None:
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("x", T.DoubleType()),
            T.StructField("c", T.StringType()),
            T.StructField("y", T.StringType()),
        ]
    )
    empty = pd.DataFrame({"x": pd.Series([], dtype="float64"), "c": [], "y": []}, dtype=object)
    empty["x"] = empty["x"].astype("float64")
    pandas_engine, spark_engine = engines()
    table = to_spark(empty, 2, schema)
    assert spark_engine.column_stats(table) == pandas_engine.column_stats(empty)
    charter = make_charter(positive="yes")
    expected = audit(empty, charter, engine=pandas_engine).to_dict()
    found = audit(table, charter, engine=spark_engine).to_dict()
    found.pop("engine_details")
    assert {**found, "engine": "pandas"} == expected
    assert found["rows"] == 0


def test_a_missing_target_gives_the_pandas_engines_error(
    engines: MakeEngines, to_spark: ToSpark, make_charter: Callable[..., Charter]
) -> None:
    frame = mixed_frame(50).drop(columns=["y"])
    charter = make_charter(positive="yes")
    pandas_engine, spark_engine = engines()
    with pytest.raises(DataError) as on_pandas:
        audit(frame, charter, engine=pandas_engine)
    with pytest.raises(DataError, match=re.escape(str(on_pandas.value))):
        audit(to_spark(frame, 2), charter, engine=spark_engine)


def test_a_numeric_column_held_as_text_is_audited_as_text_on_both(
    engines: MakeEngines, to_spark: ToSpark, make_charter: Callable[..., Charter]
) -> None:
    frame = mixed_frame(200)
    frame["age"] = frame["age"].map(lambda v: f"{v:.0f} years")
    charter = make_charter(positive="yes", id="id")
    pandas_engine, spark_engine = engines()
    expected = audit(frame, charter, engine=pandas_engine).to_dict()
    found = audit(to_spark(frame, 2), charter, engine=spark_engine).to_dict()
    found.pop("engine_details")
    assert {**found, "engine": "pandas"} == expected
    assert next(p for p in found["profile"] if p["name"] == "age")["mean"] is None


def test_the_driver_takes_the_training_set_whole_or_as_a_recorded_sample(
    engines: MakeEngines, to_spark: ToSpark
) -> None:
    frame = mixed_frame(200)
    _, spark_engine = engines()
    table = to_spark(frame, 3)
    whole, lineage = spark_engine.to_pandas(table)
    assert len(whole) == 200
    assert lineage["sampled"] is False
    assert lineage["method"] == "whole"
    sample, lineage = spark_engine.to_pandas(table, sample_rows=50, seed=3)
    again, _ = spark_engine.to_pandas(table, sample_rows=50, seed=3)
    assert len(sample) == 50
    assert sample["id"].tolist() == again["id"].tolist()
    assert lineage == {
        "engine": "spark",
        "rows": 200,
        "kept": 50,
        "sampled": True,
        "sample_rows": 50,
        "seed": 3,
        "method": "uniform without replacement: orderBy(rand(seed)).limit(sample_rows)",
    }
    assert set(sample["id"]) <= set(frame["id"])


def test_engine_settings_are_checked_and_described(spark: Any) -> None:
    with pytest.raises(ValueError, match=r"chunk_rows must be at least 1\. Got 0 instead"):
        SparkEngine(spark, chunk_rows=0)
    engine = SparkEngine(spark, chunk_rows=10)
    assert repr(engine) == "SparkEngine(master='local[*]', chunk_rows=10)"
    assert engine.describe()["master"] == "local[2]"
    assert PandasEngine().describe() == {
        "name": "pandas",
        "quantiles": {"method": "ddsketch", "relative_error": 0.005},
        "sampled": False,
    }
    assert SparkEngine(master="local[1]").describe()["master"] == "local[1]"


def test_row_numbers_come_back_from_monotonic_ids() -> None:
    offsets = {0: 0, 1: 10, 2: 25}
    assert row_number_of(0, offsets) == 1
    assert row_number_of((1 << 33) + 4, offsets) == 15
    assert row_number_of((2 << 33), offsets) == 26


def test_the_engine_comes_from_the_charter_or_the_command_line(
    make_charter: Callable[..., Charter], spark: Any
) -> None:
    charter = make_charter()
    assert engine_name(charter) == "pandas"
    assert isinstance(choose_engine(charter), PandasEngine)
    chosen = choose_engine(charter, "spark")
    assert isinstance(chosen, SparkEngine)
    assert chosen.master == "local[*]"
    assert chosen.session is spark  # joins the running session
    with pytest.raises(EngineError, match=r"The 'engine' of the command line must be one of"):
        engine_name(charter, "dask")
    spark_charter = Charter.model_validate(
        {**charter.model_dump(mode="json"), "engine": {"name": "spark", "master": "local[1]"}}
    )
    assert engine_name(spark_charter) == "spark"
    assert engine_name(spark_charter, "pandas") == "pandas"
