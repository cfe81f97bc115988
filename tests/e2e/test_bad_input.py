"""Bad input to `charter run`: each gives a clear error, and no model, alias or artifact appears."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from charter import lifecycle
from charter.data import ContractViolation
from charter.errors import CharterError, DataError
from charter.ledger import open_ledger
from tests.conftest import EXAMPLES, CharterRunner
from tests.e2e.conftest import ProjectFactory


def _unchanged(folder: Path) -> None:
    """No model version, alias or artifact: the ledger holds at most the failed run."""
    if not (folder / ".charter" / "ledger.db").exists():
        return
    with open_ledger(folder) as ledger:
        assert ledger.model_versions("telco-churn") == []
        assert ledger.aliases("telco-churn") == []
        assert ledger.artifacts("telco-churn") == []
        assert all(run.status != "running" for run in ledger.runs("telco-churn"))


def _drop_column(name: str) -> Callable[[str], str]:
    def edit(csv: str) -> str:
        rows = [line.split(",") for line in csv.splitlines()]
        index = rows[0].index(name)
        return "\n".join(",".join(r[:index] + r[index + 1 :]) for r in rows) + "\n"

    return edit


def _set_column(name: str, value: Callable[[int, str], str]) -> Callable[[str], str]:
    def edit(csv: str) -> str:
        rows = [line.split(",") for line in csv.splitlines()]
        index = rows[0].index(name)
        for number, row in enumerate(rows[1:], start=1):
            row[index] = value(number, row[index])
        return "\n".join(",".join(r) for r in rows) + "\n"

    return edit


CASES = [
    ("missing-target-column", _drop_column("Churn"), DataError, r"Churn"),
    (
        "target-with-one-class",
        _set_column("Churn", lambda _n, _v: "No"),
        DataError,
        r"The target 'Churn' of .* must hold at least two classes\. Got only 'No' instead\.",
    ),
    (
        "all-empty-column",
        _set_column("tenure", lambda _n, _v: ""),
        ContractViolation,
        r"tenure \(all_missing: every row is empty\)",
    ),
    (
        "text-in-a-numeric-column",
        _set_column("tenure", lambda n, v: "abc" if n in (3, 9) else v),
        ContractViolation,
        r"2 contract violations? in .*tenure \(type: 2 rows, e\.g\. row 3 'abc'\)",
    ),
    ("empty-file", lambda _csv: "", DataError, r"empty"),
    (
        "duplicate-ids",
        _set_column("customerID", lambda n, v: "7590-VHVEG" if n == 5 else v),
        ContractViolation,
        r"customerID \(unique",
    ),
    ("protected-column-missing", _drop_column("gender"), DataError, r"protected column 'gender'"),
]


@pytest.mark.parametrize(
    ("data", "error", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_data_stops_the_run_clearly(
    small_telco: ProjectFactory,
    data: Callable[[str], str],
    error: type[Exception],
    pattern: str,
) -> None:
    folder = small_telco(rows=300, data=data)
    if issubclass(error, ContractViolation):
        # A broken contract fails the audit stage: the run stops and records why.
        outcome = lifecycle.run(folder / "charter.yaml", write_report=False)
        assert outcome.status == "failed", "bad data must not pass the audit"
        assert re.search(pattern, outcome.stopped_by or ""), outcome.stopped_by
    else:
        with pytest.raises(error, match=pattern):
            lifecycle.run(folder / "charter.yaml", write_report=False)
    _unchanged(folder)


def test_a_file_split_by_another_delimiter_than_declared(small_telco: ProjectFactory) -> None:
    folder = small_telco(
        rows=300,
        data=lambda csv: csv.replace(",", ";"),
        edit=lambda t: t.replace(
            'source: data/telco_churn.csv     # IBM "Telco Customer Churn" sample data',
            "source: {path: data/telco_churn.csv, delimiter: ','}",
        ),
    )
    with pytest.raises(
        DataError,
        match=r"looks like the delimiter is not ','\. It seems "
        r"split by ';': set data\.source\.delimiter to it\.",
    ):
        lifecycle.run(folder / "charter.yaml", write_report=False)
    _unchanged(folder)


def test_an_undeclared_delimiter_is_sniffed(small_telco: ProjectFactory) -> None:
    folder = small_telco(rows=300, data=lambda csv: csv.replace(",", ";"))
    outcome = lifecycle.run(folder / "charter.yaml", stages=["audit"], write_report=False)
    assert outcome.status == "succeeded", outcome.stopped_by


def test_quarantine_keeps_the_good_rows_and_says_how_many(small_telco: ProjectFactory) -> None:
    folder = small_telco(
        rows=600,
        edit=lambda t: t.replace("  split:", "  on_violation: quarantine\n  split:").replace(
            "at_least: 0.6, gate: validate", "at_least: 0.01, gate: validate"
        ),
        data=_set_column("tenure", lambda n, v: "abc" if n in (3, 9) else v),
    )
    outcome = lifecycle.run(folder / "charter.yaml", stages=["audit"], write_report=False)
    assert outcome.status == "succeeded", outcome.stopped_by
    (quarantined,) = (folder / ".charter" / "quarantine").rglob("*.csv")
    assert quarantined.read_text().count("abc") == 2
    with open_ledger(folder) as ledger:
        (split,) = ledger.evidence("telco-churn", kind="split")
        assert split.payload["train_rows"] + split.payload["test_rows"] == 598


def test_a_sql_source_that_cannot_connect(small_telco: ProjectFactory) -> None:
    folder = small_telco(
        edit=lambda t: t.replace(
            'source: data/telco_churn.csv     # IBM "Telco Customer Churn" sample data',
            "source: {query: select * from churn, "
            "url: 'postgresql+psycopg://charter:s3cret@127.0.0.1:1/nowhere'}",
        )
    )
    with pytest.raises(DataError, match=r"Cannot connect to the data source") as raised:
        lifecycle.run(folder / "charter.yaml", write_report=False)
    assert "s3cret" not in str(raised.value)
    _unchanged(folder)


def test_a_budget_too_small_for_any_candidate(small_telco: ProjectFactory) -> None:
    folder = small_telco(
        edit=lambda t: t.replace("budget: {seconds: 30, trials: 3}", "budget: {seconds: 0.01}")
    )
    with pytest.raises(CharterError, match=r"No candidate finished within the budget"):
        lifecycle.run(folder / "charter.yaml", write_report=False)
    with open_ledger(folder) as ledger:
        assert ledger.model_versions("telco-churn") == []
        (run,) = ledger.runs("telco-churn")
        assert run.status == "failed"


def test_leakage_blocks_the_audit_until_the_columns_are_excluded(
    tmp_path: Path, run_charter: CharterRunner
) -> None:
    import shutil

    folder = tmp_path / "pm"
    shutil.copytree(
        EXAMPLES / "predictive-maintenance", folder, ignore=shutil.ignore_patterns(".charter")
    )
    charter = folder / "charter.yaml"
    text = charter.read_text()
    leaky = re.sub(r"exclude: \[[^\]]*\]", "exclude: [Product ID]", text)
    charter.write_text(leaky)
    result = run_charter("audit", cwd=folder)
    assert result.code == 1
    assert "blocking finding(s) (leakage)" in result.stderr
    charter.write_text(text)
    assert run_charter("audit", cwd=folder).code == 0


def _start_run(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("charter")), "run"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "CHARTER_LEDGER_URL"},
    )


def _wait_for_training(folder: Path, process: subprocess.Popen[str]) -> None:
    """Block until the run's train stage is under way (a condition, not a timing)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before training started"
        if (folder / ".charter" / "ledger.db").exists():
            with open_ledger(folder, reap=False) as ledger:
                runs = ledger.runs("telco-churn")
                if runs and any(
                    s.stage == "train" and s.status == "running"
                    for s in ledger.stage_executions(runs[0].id)
                ):
                    return
        time.sleep(0.05)
    raise AssertionError("training never started")


@pytest.mark.parametrize("how", ["kill -9", "ctrl-c"])
def test_an_interrupted_run_leaves_no_half_model_and_reruns(
    small_telco: ProjectFactory, how: str
) -> None:
    folder = small_telco(
        edit=lambda t: t.replace(
            "budget: {seconds: 30, trials: 3}", "budget: {seconds: 60}"
        ).replace("at_least: 0.6, gate: validate", "at_least: 0.01, gate: validate")
    )
    process = _start_run(folder)
    _wait_for_training(folder, process)
    process.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGINT)
    code = process.wait(timeout=60)
    assert code == (-signal.SIGKILL if how == "kill -9" else 130)
    with open_ledger(folder) as ledger:  # opening reaps what the dead process left running
        (run,) = ledger.runs("telco-churn")
        assert run.status == "interrupted"
        assert ledger.model_versions("telco-churn") == []
    charter = folder / "charter.yaml"
    charter.write_text(
        charter.read_text().replace("budget: {seconds: 60}", "budget: {seconds: 30, trials: 3}")
    )
    again = lifecycle.run(charter, write_report=False)
    assert again.status == "succeeded", again.stopped_by
    assert again.model_version == 1
