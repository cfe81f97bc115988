"""`charter drift` on pandas: a data batch or a prediction log against a registered champion.

One small telco champion (logistic regression, two trials) is trained once per module; the
command only reads the ledger, so every test measures against the same project folder and
writes its inputs beside it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from charter import cli, lifecycle
from charter.errors import DataError
from charter.serving import PredictionLog
from tests.conftest import EXAMPLES, CharterRunner
from tests.e2e.traffic import serve, telco_rows

TRAIN_ROWS = 1500


def train_small_telco(folder: Path) -> Path:
    """A telco project on the first 1500 rows whose version 1 is champion."""
    (folder / "data").mkdir(parents=True)
    lines = (EXAMPLES / "telco-churn" / "data" / "telco_churn.csv").read_text().splitlines(True)
    (folder / "data" / "telco_churn.csv").write_text("".join(lines[: TRAIN_ROWS + 1]))
    text = (EXAMPLES / "telco-churn" / "charter.yaml").read_text()
    text = re.sub(r"budget: \{seconds: \d+\}", "budget: {seconds: 20, trials: 2}", text)
    text = text.replace("cv_folds: 5", "cv_folds: 2")
    text = text.replace("[logistic_regression, lightgbm]", "[logistic_regression]")
    (folder / "charter.yaml").write_text(text)
    lifecycle.run(folder / "charter.yaml", write_report=False)
    lifecycle.promote(folder / "charter.yaml", "candidate", override="drift tests")
    return folder


def raw_rows(start: int = 0, stop: int = TRAIN_ROWS) -> pd.DataFrame:
    """Rows of the telco file as text, the way a new batch arrives (target left in)."""
    frame = pd.read_csv(
        EXAMPLES / "telco-churn" / "data" / "telco_churn.csv", dtype=str, keep_default_na=False
    )
    return frame.iloc[start:stop].reset_index(drop=True)


def shifted(frame: pd.DataFrame, factor: float = 1.5) -> pd.DataFrame:
    """MonthlyCharges up by `factor`, every other column as it was."""
    out = frame.copy()
    out["MonthlyCharges"] = (out["MonthlyCharges"].astype(float) * factor).round(2).astype(str)
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_telco(tmp_path_factory.mktemp("drift") / "telco")


def _drift(run_charter: CharterRunner, folder: Path, *args: str) -> tuple[int, dict]:
    done = run_charter("drift", "--json", *args, cwd=folder)
    assert done.stdout.strip(), done.stderr
    return done.code, json.loads(done.stdout)


def test_the_training_data_does_not_drift_and_a_price_rise_does(
    project: Path, run_charter: CharterRunner, tmp_path: Path
) -> None:
    code, same = _drift(run_charter, project, "--in", "data/telco_churn.csv", "--ci")
    assert code == 0
    assert (same["version"], same["rows_in"], same["rows"], same["rejected"]) == (1, 1500, 1500, 0)
    assert same["engine"]["name"] == "pandas"
    assert same["drifted"] is False
    assert same["drift"]["features"]["MonthlyCharges"]["psi"] < 0.05
    assert same["drift"]["prediction"]["drifted"] is False

    shifted(raw_rows()).to_csv(tmp_path / "new.csv", index=False)
    runner = CliRunner()
    args = ["drift", "--charter", str(project), "--in", str(tmp_path / "new.csv")]
    moved_run = runner.invoke(cli.app, [*args, "--json", "--ci"])
    assert moved_run.exit_code == 1, "a drifted feature must fail the CI run"
    moved = json.loads(moved_run.stdout)
    assert moved["drifted_features"] == ["MonthlyCharges"]
    reasons = moved["drift"]["features"]["MonthlyCharges"]["reasons"]
    assert any(reason.startswith("PSI ") for reason in reasons)
    # Without --ci, drift is a finding, not a failure; the table shows it.
    shown = runner.invoke(cli.app, args, env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.stderr
    assert "against version 1, on pandas: 1500 rows counted." in shown.stdout
    assert re.search(r"MonthlyCharges .*✗ DRIFT: PSI", shown.stdout)
    assert "✗ 1 of 19 features drifted: MonthlyCharges" in shown.stdout


def test_rows_that_break_the_contract_are_left_out_and_counted(
    project: Path, tmp_path: Path
) -> None:
    rows = raw_rows(0, 600)
    rows.loc[:2, "tenure"] = "many"  # text in a number column
    rows.to_csv(tmp_path / "batch.csv", index=False)
    outcome = lifecycle.drift(project / "charter.yaml", source=tmp_path / "batch.csv")
    assert (outcome.rows_in, outcome.rows, outcome.rejected) == (600, 597, 3)
    assert outcome.report.rows == 597
    assert outcome.counts.features["tenure"].invalid == 0  # typed by the contract first
    # The same rows as Parquet, read in small chunks: the same counts.
    rows.to_parquet(tmp_path / "batch.parquet", index=False)
    chunked = lifecycle.drift(
        project / "charter.yaml", source=tmp_path / "batch.parquet", chunk_rows=128
    )
    assert chunked.counts == outcome.counts
    assert chunked.source == {
        "kind": "file",
        "path": str(tmp_path / "batch.parquet"),
        "format": "parquet",
    }


def test_a_source_without_some_features_still_measures_the_others(
    project: Path, tmp_path: Path
) -> None:
    # No id, no protected gender, no Contract: nothing to score, the rest still counted.
    shifted(raw_rows()).drop(columns=["customerID", "gender", "Contract"]).to_parquet(
        tmp_path / "partial.parquet", index=False
    )
    outcome = lifecycle.drift(project / "charter.yaml", source=tmp_path / "partial.parquet")
    assert outcome.rows == 1500
    assert outcome.report.prediction is None
    assert outcome.counts.prediction is None
    assert any("prediction's drift is not measured" in note for note in outcome.notes)
    assert "'Contract'" in outcome.notes[0]
    assert "'gender'" in outcome.notes[0]
    features = outcome.report.features
    # As in the monitor, a column the rows lack is all missing: its missing rate drifts.
    for name in ("Contract", "gender"):
        assert features[name].absent
        assert features[name].reasons[-1] == "the column is absent from 1500 of 1500 rows"
    assert outcome.report.drifted == ("Contract", "MonthlyCharges", "gender")
    assert features["tenure"].psi < 0.05


def test_a_log_is_measured_as_the_monitor_measures_it(project: Path, tmp_path: Path) -> None:
    served = tmp_path / "telco"
    shutil.copytree(project, served)
    charter = served / "charter.yaml"
    # One full window (the charter's windows hold 1000 predictions), half of it shifted.
    window = pd.concat(
        [telco_rows(served, 0, 500), _shifted_typed(telco_rows(served, 500, 1000))],
        ignore_index=True,
    )
    serve(served, window)
    judged = lifecycle.monitor(charter, allow_retrain=False)
    assert [w.predictions for w in judged.windows] == [1000]
    measured = lifecycle.drift(charter)  # the charter's own log, by default
    assert measured.report.to_json() == judged.windows[0].payload["drift"]
    log = served / ".charter" / "serving"
    assert measured.source == {"kind": "log", "path": str(log)}
    assert (measured.rows_in, measured.rows) == (1000, 1000)
    assert "MonthlyCharges" in measured.report.drifted
    # Failed requests and other versions' records are left out, and said so.
    with PredictionLog(log, mode="durable", index=False) as writer:
        writer.append(
            [
                _record("e1", "1", {"error": "the model failed"}),
                _record("v2", "2", {"prediction": "No", "probabilities": {"No": 0.9, "Yes": 0.1}}),
            ]
        )
    again = lifecycle.drift(charter, log_dir=log)
    assert again.left_out == {"failed requests": 1, "other versions": 1}
    assert (again.rows_in, again.rows) == (1002, 1000)
    assert again.counts == measured.counts


def _shifted_typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["MonthlyCharges"] = (out["MonthlyCharges"] * 1.5).round(2)
    return out


def _record(prediction_id: str, version: str, output: dict) -> dict:
    return {
        "prediction_id": prediction_id,
        "time": "2026-01-01T00:00:00+00:00",
        "model_version": version,
        "input": {"tenure": 3, "MonthlyCharges": 20.0},
        "output": output,
        "latency_ms": 1.0,
    }


# --- bad input -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_sources(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    raw_rows(0, 0).to_parquet(folder / "empty.parquet", index=False)
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(folder / "other.parquet", index=False)
    raw_rows(0, 10).to_csv(folder / "batch.csv", index=False)
    raw_rows(0, 10).assign(tenure="many").to_csv(folder / "broken.csv", index=False)
    (folder / "empty-log").mkdir()
    return folder


BAD_INPUT: list[tuple[list[str], str]] = [
    (["--in", "{bad}/nowhere.parquet"], r"nowhere\.parquet, does not exist"),
    (["--in", "{bad}/batch.csv", "--engine", "spark"], r"must be Parquet .* convert it to"),
    (["--table", "sales.customers"], r"engine must be spark to read the table 'sales\.customers'"),
    (["--in", "{bad}/empty.parquet"], r"must hold rows to measure drift on\. Got an empty one"),
    (
        ["--in", "{bad}/other.parquet"],
        r"must hold some of the model's features .*\('a', 'b'\) instead",
    ),
    (
        ["--in", "{bad}/batch.csv", "--version", "7"],
        r"must name a registered model version\. Got 7 instead",
    ),
    (["--in", "{bad}/batch.csv", "--version", "staging"], r"Got 'staging', which names no version"),
    (["--in", "{bad}/broken.csv"], r"Got 10 rows, every one of which breaks it"),
    (["--log-dir", "{bad}/empty-log"], r"must hold records to measure drift on\. Got none"),
    (["--log-dir", "{bad}/no-such-log"], r"There is no prediction log at"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_a_clear_error_with_exit_code_2(
    project: Path, bad_sources: Path, args: list[str], message: str
) -> None:
    arguments = [a.replace("{bad}", str(bad_sources)) for a in args]
    result = CliRunner().invoke(
        cli.app, ["drift", "--charter", str(project), *arguments], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert re.search(message, " ".join(result.stderr.split())), result.stderr
    assert "Traceback" not in result.output


def test_options_that_cannot_go_together_are_usage_errors(project: Path) -> None:
    result = CliRunner().invoke(
        cli.app,
        ["drift", "--charter", str(project), "--in", "a.csv", "--log-dir", "x", "--engine", "x"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2
    assert "Invalid value for --engine" in " ".join(result.stderr.replace("│", " ").split())
    both = CliRunner().invoke(
        cli.app,
        ["drift", "--charter", str(project), "--in", "a.csv", "--log-dir", "x"],
        env={"COLUMNS": "200"},
    )
    assert both.exit_code == 2
    assert "give one of --in, --table and --log-dir" in " ".join(
        both.stderr.replace("│", " ").split()
    )


def test_the_api_refuses_two_sources_and_names_them(project: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"one source at a time.* Got source, log_dir together"):
        lifecycle.drift(project / "charter.yaml", source=tmp_path / "a.csv", log_dir=tmp_path)


def test_the_prediction_follows_the_monitors_convention_for_each_task() -> None:
    from charter.lifecycle._drift import LoggedPrediction

    records = [
        {"output": {"prediction": "b", "probabilities": {"a": 0.2, "b": 0.8}}},
        {"output": {"prediction": 3.5}},
        {"output": {"error": "failed"}},
    ]
    binary = LoggedPrediction("binary_classification", ("a", "b"), 1)
    assert np.allclose(binary.of_records(records[:1]), [0.8])
    assert np.isnan(binary.of_records(records[1:2])).all()
    regression = LoggedPrediction("regression", (), 1)
    assert regression.of_records(records[1:2]).tolist() == [3.5]
    multiclass = LoggedPrediction("multiclass_classification", ("a", "b"), 1)
    assert multiclass.of_records(records[:2]).tolist() == ["b", "3.5"]
    # Spark hands over the output dicts alone.
    assert multiclass([r["output"] for r in records[:1]]).tolist() == ["b"]


def test_the_help_shows_examples_and_the_exit_codes() -> None:
    result = CliRunner().invoke(cli.app, ["drift", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("Examples", "--charter", "--json", "--table", "--log-dir", "--ci"):
        assert text in result.stdout
    assert "2 when the drift cannot be measured" in " ".join(result.stdout.split())
