"""The lifecycle's foundation stages: check records revisions, init scaffolds, status summarises."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import lifecycle
from charter.errors import ConflictError, DataError, SpecError
from tests.conftest import datasets_dir


def test_check_records_a_revision_only_when_the_text_changes(telco_project: Path) -> None:
    charter = telco_project / "charter.yaml"
    first = lifecycle.check(charter)
    assert (first.new_revision, first.first_revision) == (True, True)
    assert lifecycle.check(charter).new_revision is False
    charter.write_text(charter.read_text().replace("at_most: 0.1,", "at_most: 0.05,"))
    third = lifecycle.check(charter)
    assert (third.new_revision, third.first_revision) == (True, False)
    assert third.changed_sections == ("kpis",)


def test_an_invalid_charter_changes_nothing(telco_project: Path) -> None:
    charter = telco_project / "charter.yaml"
    charter.write_text(charter.read_text().replace("task: binary_classification", "task: x"))
    with pytest.raises(SpecError, match=r"objective\.task"):
        lifecycle.check(charter)
    assert not (telco_project / ".charter").exists()


def test_status_counts_what_the_ledger_holds(telco_project: Path) -> None:
    charter = telco_project / "charter.yaml"
    empty = lifecycle.status(charter)
    assert empty.is_empty
    lifecycle.check(charter)
    report = lifecycle.status(charter)
    assert not report.is_empty
    assert report.revisions == 1
    assert report.as_dict()["latest_revision"]["sha256"] == lifecycle.check(charter).sha256


def test_init_writes_a_valid_charter_with_a_relative_source(tmp_path: Path) -> None:
    data = tmp_path / "data" / "churn.csv"
    data.parent.mkdir()
    data.write_bytes((datasets_dir() / "telco_churn.csv").read_bytes())
    outcome = lifecycle.init(data, "Churn", tmp_path / "charter.yaml")
    assert outcome.id_column == "customerID"
    assert "source: data/churn.csv" in (tmp_path / "charter.yaml").read_text()
    assert lifecycle.check(tmp_path / "charter.yaml", record=False).kpi_count >= 1


def test_init_names_data_outside_the_project_absolutely(tmp_path: Path) -> None:
    project = tmp_path / "project"
    outcome = lifecycle.init(datasets_dir() / "telco_churn.csv", "Churn", project / "charter.yaml")
    text = outcome.path.read_text()
    assert str((datasets_dir() / "telco_churn.csv").resolve()) in text
    assert lifecycle.check(outcome.path, record=False).project == "telco-churn"


def test_init_never_overwrites_silently(tmp_path: Path) -> None:
    target = tmp_path / "charter.yaml"
    target.write_text("keep me")
    with pytest.raises(ConflictError, match="already exists; pass --force"):
        lifecycle.init(datasets_dir() / "telco_churn.csv", "Churn", target)
    assert target.read_text() == "keep me"


def test_init_refuses_a_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        lifecycle.init(tmp_path / "none.csv", "y", tmp_path / "charter.yaml")
    assert not (tmp_path / "charter.yaml").exists()
