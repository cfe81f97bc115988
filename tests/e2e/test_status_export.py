"""`charter status` and `charter export` run for real on a ledger that holds a whole story."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from charter import lifecycle
from charter.errors import CharterError
from tests.conftest import CharterRunner
from tests.reporting.project_ledger import fill_story, write_project


@pytest.fixture
def story(tmp_path: Path) -> Path:
    charter = write_project(tmp_path / "story")
    fill_story(charter)
    return charter.parent


def test_status_shows_where_the_project_stands(run_charter: CharterRunner, story: Path) -> None:
    result = run_charter("status", cwd=story)
    assert result.code == 0, result.stderr
    text = result.stdout
    assert "✗ OFF TRACK: 1 open incident; risk R2 triggered" in text
    for heading in ("KPIs against their targets", "Open incidents", "Risks", "Milestones"):
        assert heading in text
    # The champion (v1) is what is served: its validation, not the newer candidate's 0.86.
    assert "0.84 ✗ fail" in text
    assert "0.31 ✗ fail ▲" in text
    assert "Scope changes since the first validated run: 1 (latest, revision 2" in text
    assert "Latest retrain decision: Challenger v2 refused" in text
    report = json.loads(run_charter("status", "--json", cwd=story).stdout)
    assert report["headline"]["state"] == "off track"
    assert report["aliases"] == {"candidate": 2, "champion": 1}
    assert (report["champion"], report["challenger"]) == (1, 2)
    assert {r["id"]: r["state"] for r in report["risks"]} == {"R1": "mitigated", "R2": "triggered"}
    assert report["scope"]["count"] == 1
    assert report["budget"]["currency"] == "USD"
    assert report["open_incidents"] == 1


def test_export_writes_csv_and_parquet_from_the_command_line(
    run_charter: CharterRunner, story: Path
) -> None:
    done = run_charter("export", "--what", "kpis", "--json", cwd=story)
    assert done.code == 0, done.stderr
    written = json.loads(done.stdout)
    assert written["path"] == "telco-churn-kpis.csv"
    parquet_path = story / "bi" / "kpis.parquet"
    done = run_charter("export", "--format", "parquet", "--out", str(parquet_path), cwd=story)
    assert done.code == 0, done.stderr
    assert f"Wrote 14 kpis rows (13 columns) to {parquet_path}." in done.stdout
    from_csv = pd.read_csv(story / "telco-churn-kpis.csv")
    from_parquet = pd.read_parquet(parquet_path)
    assert list(from_csv.columns) == list(from_parquet.columns) == written["columns"]
    assert len(from_csv) == len(from_parquet) == written["rows"] == 14


@pytest.mark.parametrize("what", ["kpis", "windows", "incidents", "runs"])
def test_every_table_exports_the_same_rows_as_csv_and_parquet(story: Path, what: str) -> None:
    charter = story / "charter.yaml"
    as_csv = lifecycle.export(charter, what, "csv", story / f"{what}.csv")
    as_parquet = lifecycle.export(charter, what, "parquet", story / f"{what}.parquet")
    assert as_csv.rows == as_parquet.rows > 0
    from_csv = pd.read_csv(as_csv.path)
    from_parquet = pd.read_parquet(as_parquet.path)
    assert list(from_csv.columns) == list(from_parquet.columns) == list(as_csv.columns)
    assert len(from_csv) == len(from_parquet) == as_csv.rows


def test_export_of_an_empty_project_writes_headers_only(tmp_path: Path) -> None:
    charter = write_project(tmp_path / "empty")
    done = lifecycle.export(charter, "incidents", "csv", tmp_path / "i.csv")
    assert done.rows == 0
    assert (tmp_path / "i.csv").read_text().startswith("incident_id,kpi,status,value")
    lifecycle.export(charter, "runs", "parquet", tmp_path / "r.parquet")
    runs = pd.read_parquet(tmp_path / "r.parquet")
    assert runs.empty
    assert "run_id" in runs.columns


def test_export_refuses_bad_choices_and_paths_and_changes_nothing(story: Path) -> None:
    charter = story / "charter.yaml"
    with pytest.raises(CharterError, match="The '--what' of charter export must be one of kpis"):
        lifecycle.export(charter, "secrets", "csv", story / "k.csv")
    with pytest.raises(CharterError, match="The '--format' of charter export must be one of csv"):
        lifecycle.export(charter, "kpis", "xlsx", story / "k.xlsx")
    (story / "taken").mkdir()
    with pytest.raises(CharterError, match="The '--out' of charter export must be a writable"):
        lifecycle.export(charter, "kpis", "csv", story / "taken")
    assert list((story / "taken").iterdir()) == []
    (story / "a-file").write_text("x")
    with pytest.raises(CharterError, match="must be in a writable folder"):
        lifecycle.export(charter, "kpis", "csv", story / "a-file" / "k.csv")
    assert not (story / "k.xlsx").exists()
