"""The command line, run for real: help, exit codes, check, schema, init, status, metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from charter import cli, lifecycle
from tests.conftest import CharterRunner, datasets_dir

COMMANDS = [
    "check",
    "export",
    "incidents",
    "init",
    "metrics",
    "monitor",
    "retrain",
    "schema",
    "status",
    "ui",
]


def test_help_lists_every_command_with_an_example(run_charter: CharterRunner) -> None:
    result = run_charter("--help")
    assert result.code == 0
    for command in COMMANDS:
        assert command in result.stdout
        sub = run_charter(command, "--help")
        assert sub.code == 0, sub.stderr
        assert "Examples" in sub.stdout, f"`charter {command} --help` shows no example"
        assert "--charter" in sub.stdout
        assert "--json" in sub.stdout


def test_importing_the_cli_pulls_in_no_heavy_library() -> None:
    code = (
        "import sys, charter.cli; "
        "heavy = {'pandas', 'numpy', 'sklearn', 'lightgbm', 'fastapi', 'sqlalchemy', "
        "'alembic', 'pyarrow', 'pydantic'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_valid_charter_is_recorded_once_per_change(
    run_charter: CharterRunner, telco_project: Path
) -> None:
    first = run_charter("check", cwd=telco_project)
    assert first.code == 0, first.stderr
    assert "is valid: project 'telco-churn', 7 KPIs, 2 risks, 2 milestones" in first.stdout
    assert "Recorded revision 1" in first.stdout
    again = run_charter("check", cwd=telco_project)
    assert "Unchanged since revision 1" in again.stdout
    charter = telco_project / "charter.yaml"
    charter.write_text(charter.read_text().replace("at_least: 0.82", "at_least: 0.85"))
    changed = run_charter("check", "--json", cwd=telco_project)
    report = json.loads(changed.stdout)
    assert report["ok"] is True
    assert (report["revision"], report["new_revision"]) == (2, True)
    assert report["changed_sections"] == ["kpis"]


def test_check_without_record_leaves_no_ledger(
    run_charter: CharterRunner, telco_project: Path
) -> None:
    result = run_charter("check", "--no-record", cwd=telco_project)
    assert result.code == 0
    assert not (telco_project / ".charter").exists()


def test_a_bad_charter_exits_1_listing_every_problem(
    run_charter: CharterRunner, telco_project: Path
) -> None:
    charter = telco_project / "charter.yaml"
    text = charter.read_text()
    charter.write_text(
        text.replace("at_least: 0.82", "at_least: high").replace("check: drift", "check: drfit")
    )
    result = run_charter("check", str(charter))
    assert result.code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"2 problems found in {charter}."
    assert any(
        ":44:" in line
        and "'kpis[0].at_least' of charter.yaml must be a number. Got 'high' instead." in line
        for line in lines
    )
    assert any("Did you mean 'drift'?" in line for line in lines)
    as_json = json.loads(run_charter("check", str(charter), "--json").stdout)
    assert as_json["ok"] is False
    assert {p["path"] for p in as_json["problems"]} == {"kpis[0].at_least", "risks[1].check"}
    assert not (telco_project / ".charter").exists(), "an invalid charter must not be recorded"


def test_a_usage_error_exits_2(run_charter: CharterRunner) -> None:
    result = run_charter("check", "--no-such-option")
    assert result.code == 2
    assert "No such option" in result.stderr


def test_a_known_error_is_one_clean_line(run_charter: CharterRunner, telco_project: Path) -> None:
    result = run_charter(
        "init", "--data", "data/telco_churn.csv", "--target", "Churn", cwd=telco_project
    )
    assert result.code == 1
    assert result.stderr.strip().splitlines() == [
        "error: The charter charter.yaml already exists; pass --force to overwrite it."
    ]
    assert "Traceback" not in result.stderr


def test_a_missing_charter_says_how_to_start(run_charter: CharterRunner, tmp_path: Path) -> None:
    result = run_charter("status", cwd=tmp_path)
    assert result.code == 1
    assert "No charter at charter.yaml. Create one with `charter init" in result.stderr


def test_an_unexpected_error_prints_internal_error_and_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(lifecycle, "check", broken)
    monkeypatch.setattr(sys, "argv", ["charter", "check", str(tmp_path)])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == cli.EXIT_INTERNAL
    stderr = capsys.readouterr().err
    assert "internal error" in stderr
    assert "Traceback" in stderr
    assert "RuntimeError: a bug" in stderr


def test_schema_prints_json_schema(run_charter: CharterRunner) -> None:
    result = run_charter("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "charter.yaml"
    assert {"project", "objective", "data", "kpis"} <= set(schema["properties"])


def test_metrics_lists_the_registry_by_task(run_charter: CharterRunner) -> None:
    regression = {
        m["name"]
        for m in json.loads(run_charter("metrics", "--task", "regression", "--json").stdout)
    }
    assert {"rmse", "mae", "r2", "mape", "expected_value", "latency_p99_ms"} <= regression
    assert "roc_auc" not in regression
    table = run_charter("metrics")
    assert "roc_auc" in table.stdout
    assert "demographic_parity_difference" in table.stdout
    bad = run_charter("metrics", "--task", "ranking")
    assert bad.code == 2


def test_status_of_an_empty_project_says_so(
    run_charter: CharterRunner, telco_project: Path
) -> None:
    result = run_charter("status", cwd=telco_project)
    assert result.code == 0, result.stderr
    assert "Nothing recorded yet" in result.stdout
    report = json.loads(run_charter("status", "--json", cwd=telco_project).stdout)
    assert report["is_empty"] is True
    assert report["project"] == "telco-churn"


def test_status_shows_what_check_recorded(run_charter: CharterRunner, telco_project: Path) -> None:
    assert run_charter("check", cwd=telco_project).code == 0
    report = json.loads(run_charter("status", "--json", "-c", str(telco_project)).stdout)
    assert report["revisions"] == 1
    assert report["is_empty"] is False
    text = run_charter("status", cwd=telco_project).stdout
    assert "Charter revisions" in text
    assert "No stage has run yet" in text


@pytest.mark.parametrize(
    ("dataset", "target", "task", "id_column"),
    [
        ("telco_churn.csv", "Churn", "binary_classification", "customerID"),
        ("ai4i2020.csv", "Machine failure", "binary_classification", "UDI"),
        ("adult_train.csv", "income", "binary_classification", None),
    ],
)
def test_init_writes_a_charter_that_check_accepts(
    run_charter: CharterRunner,
    tmp_path: Path,
    dataset: str,
    target: str,
    task: str,
    id_column: str | None,
) -> None:
    project = tmp_path / "project"
    result = run_charter(
        "init",
        "--data",
        str(datasets_dir() / dataset),
        "--target",
        target,
        "--charter",
        str(project / "charter.yaml"),
        "--json",
    )
    assert result.code == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert (outcome["task"], outcome["id"]) == (task, id_column)
    checked = run_charter("check", "--charter", str(project))
    assert checked.code == 0, checked.stderr
    assert "is valid" in checked.stdout


def test_init_refuses_a_bad_target(run_charter: CharterRunner, tmp_path: Path) -> None:
    result = run_charter(
        "init", "--data", str(datasets_dir() / "telco_churn.csv"), "--target", "Chrun"
    )
    assert result.code == 1
    assert "Churn" in result.stderr
    assert not (tmp_path / "charter.yaml").exists()


def test_init_refuses_a_missing_file(run_charter: CharterRunner, tmp_path: Path) -> None:
    result = run_charter("init", "--data", "nowhere.csv", "--target", "y")
    assert result.code == 1
    assert "nowhere.csv does not exist" in result.stderr


def test_a_postgresql_ledger_named_in_the_environment_is_used(
    run_charter: CharterRunner, telco_project: Path, make_postgres_database: Callable[[], str]
) -> None:
    url = make_postgres_database()
    env = {"CHARTER_LEDGER_URL": url}
    assert run_charter("check", cwd=telco_project, env=env).code == 0
    report = json.loads(run_charter("status", "--json", cwd=telco_project, env=env).stdout)
    assert report["revisions"] == 1
    assert report["ledger_url"].startswith("postgresql")
    assert not (telco_project / ".charter" / "ledger.db").exists()


def test_an_unreachable_ledger_is_a_clean_error(
    run_charter: CharterRunner, telco_project: Path
) -> None:
    env = {"CHARTER_LEDGER_URL": "postgresql+psycopg://charter:s3cret@127.0.0.1:1/nowhere"}
    result = run_charter("check", cwd=telco_project, env=env)
    assert result.code == 1
    assert result.stderr.startswith("error: ")
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "option", "allowed"),
    [
        (["serve", "--style", "nope"], "--style", "default, sagemaker, vertex, azure"),
        (["serve", "--log-mode", "lazy"], "--log-mode", "durable, fast"),
        (["package", "--out", "x", "--style", "nope"], "--style", "default, sagemaker"),
        (["incidents", "--status", "closed"], "--status", "open, resolved"),
        (["metrics", "--task", "ranking"], "--task", "binary_classification"),
        (["run", "--engine", "dask"], "--engine", "pandas, spark"),
        (["audit", "--engine", "polars"], "--engine", "pandas, spark"),
    ],
)
def test_an_option_value_outside_its_choices_is_a_usage_error(
    run_charter: CharterRunner, args: list[str], option: str, allowed: str
) -> None:
    result = run_charter(*args)
    assert result.code == 2
    text = " ".join(result.stderr.replace("│", " ").split())
    assert f"Invalid value for {option}: must be one of {allowed}" in text
