"""Batch scoring: CSV and Parquet in and out, in chunks, with a rejects file."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from charter.errors import DataError
from charter.serving import (
    PARITY_TOLERANCE,
    ScoreSummary,
    ServingError,
    compile_predictor,
    score_file,
)
from charter.serving._score import REASONS, ROW
from tests.serving.conftest import TELCO_NUMBERS, case, generated, telco

ROWS = 20_000
CHUNK = 3_000
CONTRACTS = ("Month-to-month", "One year", "Two year")


@functools.cache
def _scoring_frame() -> tuple[pd.DataFrame, tuple[int, ...]]:
    """20k Telco rows drawn with replacement, unique ids, and some that break the contract."""
    source = telco()
    rng = np.random.default_rng(11)
    frame = source.iloc[rng.integers(0, len(source), size=ROWS)].reset_index(drop=True)
    frame["customerID"] = [f"{cid}-{i}" for i, cid in enumerate(frame["customerID"])]
    frame = frame.drop(columns=["Churn"])
    negative = np.arange(5, ROWS, 997)
    unknown = np.arange(700, ROWS, 1901)
    frame.loc[negative, "tenure"] = -5.0
    frame.loc[unknown, "Contract"] = "Decade"
    return frame, tuple(sorted({*negative.tolist(), *unknown.tolist()}))


def scoring_frame() -> tuple[pd.DataFrame, tuple[int, ...]]:
    frame, bad = _scoring_frame()
    return frame.copy(), bad


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"customerID": str})


def contract_check(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small stand-in for charter.data's check: type the columns, refuse two faults."""
    typed = raw.copy()
    for name in TELCO_NUMBERS:
        typed[name] = pd.to_numeric(raw[name], errors="coerce").astype("float64")
    for name in typed.columns:
        if name not in TELCO_NUMBERS:
            texts = typed[name].astype(object)
            typed[name] = texts.where(texts.notna() & (texts != ""), None)
    negative = (typed["tenure"] < 0).to_numpy()
    unknown = (~typed["Contract"].isin(CONTRACTS)).to_numpy()
    reasons = np.where(negative, "tenure:min", "")
    reasons = np.where(unknown, np.char.add(reasons, np.where(negative, "; ", "")), reasons)
    reasons = np.where(unknown, np.char.add(reasons, "Contract:values"), reasons)
    bad = negative | unknown
    rejected = raw.loc[bad].copy()
    rejected[REASONS] = reasons[bad]
    return typed.loc[~bad], rejected


@pytest.mark.parametrize(
    ("source_format", "out_format"),
    [("csv", "csv"), ("csv", "parquet"), ("parquet", "csv"), ("parquet", "parquet")],
)
def test_a_file_is_scored_in_chunks_with_rejects_aside(
    tmp_path: Path, source_format: str, out_format: str
) -> None:
    found = case("telco-logistic_regression")
    predictor = compile_predictor(found.model, holdout=found.holdout, prefer="fast")
    frame, bad = scoring_frame()
    source = write(frame, tmp_path / f"in.{source_format}")
    out = tmp_path / "scored" / f"out.{out_format}"
    seen: list[tuple[int, int | None]] = []

    summary = score_file(
        found.model,
        predictor,
        contract_check,
        source,
        out,
        id_column="customerID",
        chunk_rows=CHUNK,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert isinstance(summary, ScoreSummary)
    assert (summary.rows_in, summary.rejected, summary.scored) == (ROWS, len(bad), ROWS - len(bad))
    assert summary.kind == "linear"
    assert summary.rows_per_second > 0
    total = ROWS if source_format == "parquet" else None
    assert seen == [(min(done, ROWS), total) for done in range(CHUNK, ROWS + CHUNK, CHUNK)]

    scored = read(out)
    assert list(scored.columns) == ["customerID", "prediction", "probability_No", "probability_Yes"]
    valid = frame.drop(index=list(bad)).reset_index(drop=True)
    assert len(scored) == len(valid)
    assert scored["customerID"].tolist() == valid["customerID"].tolist()
    assert scored["prediction"].tolist() == list(found.model.predict(valid))
    np.testing.assert_allclose(
        scored[["probability_No", "probability_Yes"]].to_numpy(),
        found.model.predict_proba(valid),
        rtol=0,
        atol=PARITY_TOLERANCE,
    )

    assert summary.rejects == out.with_name("out.rejects.csv")
    rejects = pd.read_csv(summary.rejects, dtype=str, keep_default_na=False)
    assert rejects.columns[0] == ROW
    assert rejects[ROW].astype(int).tolist() == [i + 1 for i in bad]
    assert rejects["customerID"].tolist() == frame.loc[list(bad), "customerID"].tolist()
    assert set(rejects[REASONS]) <= {"tenure:min", "Contract:values", "tenure:min; Contract:values"}
    assert sorted(path.name for path in out.parent.iterdir()) == sorted(
        [out.name, "out.rejects.csv"]
    )


def test_without_a_check_every_row_is_scored_and_no_rejects_file_is_left(tmp_path: Path) -> None:
    found = case("telco-lightgbm")
    predictor = compile_predictor(found.model, holdout=found.holdout, prefer="onnx")
    frame = found.holdout.drop(columns=["Churn"])
    source = write(frame, tmp_path / "in.csv")
    out = tmp_path / "out.parquet"
    stale = tmp_path / "out.rejects.csv"
    stale.write_text("left from an earlier run\n")

    summary = score_file(
        found.model, predictor, None, source, out, id_column="customerID", chunk_rows=500
    )

    assert (summary.rows_in, summary.scored, summary.rejected) == (len(frame), len(frame), 0)
    assert summary.rejects is None
    assert not stale.exists()
    scored = pq.read_table(out)
    assert [str(t) for t in scored.schema.types] == ["string", "string", "double", "double"]
    assert scored.column("prediction").to_pylist() == list(found.model.predict(found.holdout))


def test_a_regression_is_scored_natively_without_a_predictor(tmp_path: Path) -> None:
    found = case("regression-lightgbm")
    frame = generated("regression", n=1_000, seed=4).drop(columns=["amount"])
    source = write(frame, tmp_path / "in.parquet")
    out = tmp_path / "out.csv"

    summary = score_file(found.model, None, None, source, out, id_column=None, chunk_rows=300)

    assert summary.kind == "native"
    scored = pd.read_csv(out)
    assert list(scored.columns) == [ROW, "prediction"]
    assert scored[ROW].tolist() == list(range(1, len(frame) + 1))
    np.testing.assert_allclose(scored["prediction"], found.model.predict(frame), rtol=1e-12)


def test_an_empty_file_gives_an_empty_output(tmp_path: Path) -> None:
    found = case("multiclass-logistic_regression")
    frame = generated("multiclass", n=10).drop(columns=["label"]).iloc[:0]
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"out.{suffix}"
        summary = score_file(
            found.model, None, None, write(frame, tmp_path / f"in.{suffix}"), out, id_column="id"
        )
        assert (summary.rows_in, summary.scored, summary.rejects) == (0, 0, None)
        assert list(read(out).columns) == [
            "id",
            "prediction",
            "probability_high",
            "probability_low",
            "probability_mid",
        ]


def test_a_file_lacking_a_feature_or_the_id_is_refused_before_writing(tmp_path: Path) -> None:
    found = case("telco-logistic_regression")
    frame, _ = scoring_frame()
    source = write(frame.iloc[:50].drop(columns=["tenure"]), tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    with pytest.raises(
        DataError, match=r"must have the id and feature columns .* without 'tenure'"
    ):
        score_file(found.model, None, None, source, out, id_column="customerID")
    with pytest.raises(DataError, match="without 'account'"):
        score_file(
            found.model,
            None,
            None,
            write(frame.iloc[:50], tmp_path / "in.csv"),
            out,
            id_column="account",
        )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    found = case("telco-logistic_regression")
    source = write(scoring_frame()[0].iloc[:20], tmp_path / "in.csv")
    with pytest.raises(
        DataError, match=r"must end in \.csv, \.tsv, \.parquet or \.pq\. Got '\.xlsx'"
    ):
        score_file(found.model, None, None, source, tmp_path / "out.xlsx", id_column=None)
    with pytest.raises(DataError, match="must differ from the source"):
        score_file(found.model, None, None, source, source, id_column=None)
    with pytest.raises(DataError, match="must exist"):
        score_file(
            found.model, None, None, tmp_path / "nowhere.csv", tmp_path / "out.csv", id_column=None
        )
    with pytest.raises(ServingError, match="'chunk_rows' of score_file must be at least 1"):
        score_file(
            found.model, None, None, source, tmp_path / "out.csv", id_column=None, chunk_rows=0
        )
    other = compile_predictor(case("regression-linear_regression").model, holdout=None)
    with pytest.raises(ServingError, match="must be compiled from the model handed with it"):
        score_file(found.model, other, None, source, tmp_path / "out.csv", id_column=None)
    with pytest.raises(ServingError, match="id column 'prediction' must differ"):
        score_file(found.model, None, None, source, tmp_path / "out.csv", id_column="prediction")


def test_a_check_that_loses_rows_is_refused(tmp_path: Path) -> None:
    found = case("telco-logistic_regression")
    source = write(scoring_frame()[0].iloc[:100], tmp_path / "in.csv")

    def lossy(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        valid, rejected = contract_check(raw)
        return valid.iloc[1:], rejected

    with pytest.raises(ServingError, match="must return every row of a chunk once"):
        score_file(found.model, None, lossy, source, tmp_path / "out.csv", id_column="customerID")


def test_a_failure_half_way_leaves_no_file_behind(tmp_path: Path) -> None:
    found = case("telco-logistic_regression")
    frame, _ = scoring_frame()
    source = write(frame.iloc[:1_000], tmp_path / "in.parquet")
    calls = []

    def breaks_on_the_third_chunk(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        calls.append(len(raw))
        if len(calls) == 3:
            raise RuntimeError("the check broke")
        return contract_check(raw)

    with pytest.raises(RuntimeError, match="the check broke"):
        score_file(
            found.model,
            None,
            breaks_on_the_third_chunk,
            source,
            tmp_path / "out.csv",
            id_column="customerID",
            chunk_rows=200,
        )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.parquet"]
