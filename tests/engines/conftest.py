"""Fixtures for the engine tests: one local Spark session for the whole run, and engines.

Spark runs in local mode on two cores, with two shuffle partitions and no UI, so that the
JVM starts once (a few seconds) and each job stays small. Other test folders reach the
same session through `shared_spark()`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from charter.data import render_charter
from charter.engines import PandasEngine, SparkEngine, quiet_pandas_version, spark_session
from charter.spec import Charter, load_charter
from tests.data.conftest import document

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.sql.adaptive.enabled": "false",
}

MakeEngines = Callable[..., tuple[PandasEngine, SparkEngine]]
ToSpark = Callable[..., "DataFrame"]


@functools.cache
def shared_spark() -> SparkSession:
    """The test run's SparkSession (local[2]), started on first use."""
    return spark_session("local[2]", TEST_CONF, app="charter-tests")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The test run's SparkSession, stopped when the run ends."""
    session = shared_spark()
    yield session
    session.stop()
    shared_spark.cache_clear()


@pytest.fixture
def engines(spark: SparkSession) -> MakeEngines:
    """Factory: a pandas and a Spark engine cutting data into chunks of `chunk_rows` rows."""

    def make(chunk_rows: int = 1000) -> tuple[PandasEngine, SparkEngine]:
        return PandasEngine(chunk_rows=chunk_rows), SparkEngine(spark, chunk_rows=chunk_rows)

    return make


@pytest.fixture
def to_spark(spark: SparkSession) -> ToSpark:
    """Factory: a pandas frame as a Spark DataFrame in `partitions` partitions (row order kept)."""

    def make(frame: pd.DataFrame, partitions: int = 3, schema: Any = None) -> DataFrame:
        # One single-partition frame per slice, unioned: partitions in the rows' order
        # (repartition would shuffle them), some of them empty when rows are few.
        bounds = np.linspace(0, len(frame), partitions + 1).astype(int)
        with quiet_pandas_version():
            pieces = [
                spark.createDataFrame(frame.iloc[a:b], schema=schema).coalesce(1)
                for a, b in itertools.pairwise(bounds)
            ]
        return functools.reduce(lambda first, second: first.unionByName(second), pieces)

    return make


@pytest.fixture
def make_charter(tmp_path: Path) -> Callable[..., Charter]:
    """Factory: a charter from `tests.data.conftest.document`'s arguments, loaded from a file."""

    def make(whole: dict[str, Any] | None = None, **arguments: Any) -> Charter:
        """`whole` is a complete charter document; else `document(**arguments)` makes one."""
        path = tmp_path / "charter.yaml"
        (tmp_path / "data.csv").write_text("y\n", encoding="utf-8")  # the source must exist
        chosen = whole if whole is not None else document("data.csv", **arguments)
        path.write_text(render_charter(chosen), encoding="utf-8")
        return load_charter(path).charter

    return make


def mixed_frame(rows: int = 600, seed: int = 3) -> pd.DataFrame:
    """A typed frame as the contract check hands it over: floats, text, dates, missing values.

    Holds a binary target `y` ("yes"/"no"), a protected `group`, a leaky flag `leak`,
    duplicate rows, outliers and a column with every value missing.
    """
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    amount[:3] = [1e6, -5e5, 2e6]
    y = np.where(rng.random(rows) < 0.3, "yes", "no")
    group = rng.choice(["a", "b", "c", "rare"], rows, p=[0.5, 0.3, 0.18, 0.02]).astype(object)
    group[rng.random(rows) < 0.03] = np.nan
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(rows)],
            "age": rng.integers(18, 90, rows).astype(np.float64),
            "amount": amount,
            "group": group,
            "plan": rng.choice(["basic", "plus", "pro"], rows).astype(object),
            "leak": (y == "yes").astype(np.float64),
            "score": rng.normal(0, 1, rows),
            "empty": np.full(rows, np.nan),
            "when": pd.to_datetime("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 365, rows), unit="D"),
            "y": y.astype(object),
        }
    )
    frame.loc[rows - 5 :, ["age", "amount", "group", "plan", "leak", "score", "when", "y"]] = (
        frame.loc[:4, ["age", "amount", "group", "plan", "leak", "score", "when", "y"]].to_numpy()
    )
    return frame
