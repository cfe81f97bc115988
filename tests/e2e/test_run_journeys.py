"""Whole journeys through `charter run`: a registered model, its report, promotion, stages alone."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from charter import lifecycle
from charter.ledger import open_ledger
from tests.conftest import CharterRunner
from tests.e2e.conftest import ProjectFactory


def _versions(folder: Path) -> list[int]:
    with open_ledger(folder) as ledger:
        return [v.version for v in ledger.model_versions("telco-churn")]


def test_run_registers_a_candidate_and_writes_a_self_contained_report(
    small_telco: ProjectFactory, run_charter: CharterRunner
) -> None:
    folder = small_telco()
    result = run_charter("run", "--json", cwd=folder)
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "succeeded", result.stderr
    assert [s["stage"] for s in outcome["stages"]] == ["audit", "train", "validate", "register"]
    assert outcome["model_version"] == 1
    assert result.code == (0 if outcome["deployable"] else 1)
    kpis = {v["kpi"]: v for v in outcome["verdicts"]}
    assert set(kpis) == {"auc", "value", "parity", "senior-recall"}
    assert kpis["auc"]["value"] > 0.75
    report = Path(outcome["report"])
    html = (folder / report if not report.is_absolute() else report).read_text()
    assert not re.search(r"""(src|href)=["']https?://""", html), "the report fetches remotely"
    assert "<svg" in html
    assert "KPIs against their targets" in html
    with open_ledger(folder) as ledger:
        version = ledger.get_model_version("telco-churn", 1)
        assert version.aliases == ("candidate",)
        assert version.lineage["charter_sha256"]
        assert version.lineage["data_fingerprint"]
        assert {a.name for a in version.artifacts} == {
            "model.pkl",
            "reference.json",
            "predictor.bin",
        }
    status = json.loads(run_charter("status", "--json", cwd=folder).stdout)
    assert [s["stage"] for s in status["stages"]] == ["audit", "train", "validate", "register"]
    assert status["aliases"] == {"candidate": 1}


def test_each_stage_runs_alone_from_the_stage_before(small_telco: ProjectFactory) -> None:
    folder = small_telco(
        edit=lambda t: t.replace("at_least: 0.6, gate: validate", "at_least: 0.01, gate: validate")
    )
    charter = folder / "charter.yaml"
    with pytest.raises(Exception, match="The audit stage has not passed yet"):
        lifecycle.run(charter, stages=["train"], write_report=False)
    for stage in ("audit", "train", "validate", "register"):
        outcome = lifecycle.run(charter, stages=[stage], write_report=False)
        assert outcome.status == "succeeded", outcome.stopped_by
    assert _versions(folder) == [1]


def test_promotion_needs_the_deploy_gates_or_a_recorded_override(
    small_telco: ProjectFactory, run_charter: CharterRunner
) -> None:
    folder = small_telco(
        edit=lambda t: t.replace("at_least: 0.6, gate: validate", "at_least: 0.01, gate: validate")
    )
    outcome = lifecycle.run(folder / "charter.yaml", write_report=False)
    assert outcome.model_version == 1
    charter = folder / "charter.yaml"
    charter.write_text(charter.read_text().replace("at_least: 0.82", "at_least: 0.99"))
    refused = run_charter("promote", "1", cwd=folder)
    assert refused.code == 1
    assert "Version 1 cannot become champion: The deploy gate fails: auc" in refused.stderr
    overridden = run_charter("promote", "1", "--override", "pilot for one region", cwd=folder)
    assert overridden.code == 0, overridden.stderr
    assert "override: pilot for one region" in overridden.stdout
    with open_ledger(folder) as ledger:
        champion = ledger.get_alias("telco-churn", "champion")
        assert champion is not None
        assert champion.override_reason == "pilot for one region"
    empty = run_charter("promote", "1", "--override", " ", cwd=folder)
    assert empty.code == 1
    assert "must say why" in empty.stderr
    unknown_alias = run_charter("promote", "staging", cwd=folder)
    assert unknown_alias.code == 1
    assert "Got 'staging', which names no version" in unknown_alias.stderr
    charter.write_text(charter.read_text().replace("at_least: 0.99", "at_least: 0.5"))
    by_alias = run_charter("promote", "candidate", "--alias", "staging", cwd=folder)
    assert by_alias.code == 0, by_alias.stderr
    assert "staging moved to version 1" in by_alias.stdout
    missing = run_charter("promote", "7", cwd=folder)
    assert missing.code == 1
    assert "must name a registered model version. Got 7 instead" in missing.stderr


def test_a_failed_validate_gate_stops_before_registration(
    small_telco: ProjectFactory, run_charter: CharterRunner
) -> None:
    folder = small_telco(
        edit=lambda t: t.replace(
            "at_least: 0.6, gate: validate", "at_least: 0.9999, gate: validate"
        )
    )
    result = run_charter("run", cwd=folder)
    assert result.code == 1
    assert "senior-recall" in result.stderr
    assert "validate gate fails" in result.stderr
    assert _versions(folder) == []
    report = run_charter("report", "--json", cwd=folder)
    assert report.code == 0
    assert Path(json.loads(report.stdout)["report"]).is_file()


def test_report_names_an_unknown_run_clearly(
    small_telco: ProjectFactory, run_charter: CharterRunner
) -> None:
    folder = small_telco()
    assert "has no run yet" in run_charter("report", cwd=folder).stderr
    lifecycle.run(folder / "charter.yaml", stages=["audit"], write_report=False)
    result = run_charter("report", "zzzz", cwd=folder)
    assert result.code == 1
    assert "Got 'zzzz', which matches no run" in result.stderr


def test_a_run_on_spark_audits_there_and_trains_on_a_recorded_sample(
    small_telco: ProjectFactory, run_charter: CharterRunner
) -> None:
    spark = '\nengine: {name: spark, master: "local[2]", sample_rows: 900}\n'
    folder = small_telco(rows=1200, edit=lambda text: text + spark)
    result = run_charter("run", "--json", cwd=folder)
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "succeeded", result.stderr
    audit = outcome["stages"][0]
    assert audit["summary"].startswith("a sample of 900 of 1200 rows (audited on spark)")
    with open_ledger(folder) as ledger:
        version = ledger.get_model_version("telco-churn", 1)
        sampling = version.lineage["data_sampling"]
        assert sampling["engine"] == "spark"
        assert sampling["sampled"] is True
        assert (sampling["rows"], sampling["kept"]) == (1200, 900)
        report = ledger.evidence("telco-churn", kind="audit", limit=1)[0].payload
    assert report["rows"] == 1200  # the audit saw every row; training saw the sample
    assert report["engine"] == "spark"
    assert report["split"]["train_rows"] + report["split"]["test_rows"] == 900
    # The command line's engine wins over the charter's: the same project audited on pandas.
    again = json.loads(run_charter("audit", "--engine", "pandas", "--json", cwd=folder).stdout)
    assert again["stages"][0]["summary"].startswith("1200 rows, ")
