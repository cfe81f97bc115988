"""`charter monitor`, `charter incidents` and `charter retrain`, end to end on a real champion.

One small telco champion is trained once per module and copied into each test's folder
(the ledger and its artifacts travel with it), so every test starts from a served model
without paying for training again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from charter import lifecycle
from charter.ledger import open_ledger
from charter.serving import PredictionLog
from tests.conftest import EXAMPLES, CharterRunner
from tests.e2e.traffic import serve, telco_rows

PROJECT = "telco-churn"


def _shift(frame: Any, factor: float = 1.3) -> Any:
    shifted = frame.copy()
    shifted["MonthlyCharges"] = (shifted["MonthlyCharges"] * factor).round(2)
    return shifted


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A telco project on 1500 rows whose version 1 is champion; windows of 500."""
    folder = tmp_path_factory.mktemp("champion") / "telco"
    (folder / "data").mkdir(parents=True)
    lines = (EXAMPLES / "telco-churn" / "data" / "telco_churn.csv").read_text().splitlines(True)
    (folder / "data" / "telco_churn.csv").write_text("".join(lines))
    text = (EXAMPLES / "telco-churn" / "charter.yaml").read_text()
    text = text.replace("budget: {seconds: 45}", "budget: {seconds: 20, trials: 3}")
    text = text.replace("cv_folds: 5", "cv_folds: 3")
    text = text.replace("window: {predictions: 1000}", "window: {predictions: 500}")
    (folder / "charter.yaml").write_text(text)
    # Train on the first 1500 rows only; the rest of the file is "future" traffic.
    source = folder / "data" / "telco_churn.csv"
    all_lines = source.read_text().splitlines(True)
    (folder / "data" / "train.csv").write_text("".join(all_lines[:1501]))
    (folder / "charter.yaml").write_text(
        (folder / "charter.yaml").read_text().replace("data/telco_churn.csv", "data/train.csv")
    )
    lifecycle.run(folder / "charter.yaml", write_report=False)
    lifecycle.promote(folder / "charter.yaml", "candidate", override="monitoring tests")
    return folder


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Path:
    target = tmp_path / "telco"
    shutil.copytree(trained, target)
    return target


def _monitor(run_charter: CharterRunner, folder: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_charter("monitor", "--json", *args, cwd=folder)
    assert done.stdout.strip(), done.stderr
    return done.code, json.loads(done.stdout)


def _events(folder: Path, kind: str) -> list[Any]:
    with open_ledger(folder) as ledger:
        return ledger.events(PROJECT, kind=kind, limit=None)


def test_shifted_traffic_opens_one_incident_notifies_and_triggers_the_policy(
    project: Path, run_charter: CharterRunner
) -> None:
    serve(project, telco_rows(project, 1500, 2500))
    serve(project, _shift(telco_rows(project, 2500, 3000)))
    code, result = _monitor(run_charter, project, "--no-retrain", "--ci")
    assert code == 1, "a failed monitor gate must fail the CI run"
    verdicts = [(w["key"], w["verdict"]) for w in result["windows"]]
    assert verdicts == [
        ("n500-00000000", "pass"),
        ("n500-00000001", "pass"),
        ("n500-00000002", "fail"),
    ]
    failed = result["windows"][2]
    assert failed["failures"] == ["drift"]
    assert "MonthlyCharges" in failed["drifted"]
    assert [i["KPI"] for i in result["incidents_opened"]] == ["drift"]
    assert result["retrain_reason"].startswith("drift: KPI 'drift' breached")
    # The file channel got the incident, once; the console channel printed it.
    lines = (project / ".charter" / "notifications.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["incident.opened"]
    assert "MonthlyCharges" in json.loads(lines[0])["fields"]["drifted features"]
    # The risk whose check is the drift KPI is triggered.
    assert [e.payload["risk"] for e in _events(project, "risk.triggered")] == ["R2"]
    incidents = json.loads(run_charter("incidents", "--json", cwd=project).stdout)
    assert [(i["kpi"], i["status"], i["model_version"]) for i in incidents] == [
        ("drift", "open", 1)
    ]
    assert incidents[0]["value"] > 0.2
    assert incidents[0]["threshold"] == 0.2
    # A second pass reads nothing new, judges nothing twice and sends nothing again.
    code, again = _monitor(run_charter, project, "--ci")
    assert (code, again["records_read"], again["windows"]) == (0, 0, [])
    assert len((project / ".charter" / "notifications.jsonl").read_text().splitlines()) == 1
    with open_ledger(project) as ledger:
        assert len(ledger.windows(PROJECT)) == 3


def test_a_retrain_the_policy_asks_for_without_labels_is_reported_not_fatal(
    project: Path, run_charter: CharterRunner
) -> None:
    serve(project, _shift(telco_rows(project, 1500, 2000)))  # drift, and no label at all
    done = run_charter("monitor", cwd=project)
    assert done.code == 0, done.stderr
    assert "Retrain triggered by drift" in done.stdout
    assert "Retrain not started: A retrain needs at least 40 labelled" in done.stdout
    assert _events(project, "retrain.not_started")
    with open_ledger(project) as ledger:
        assert len(ledger.windows(PROJECT)) == 1  # the window stands
        assert len(ledger.model_versions(PROJECT)) == 1


def test_a_passing_window_resolves_the_incident_and_says_so(
    project: Path, run_charter: CharterRunner
) -> None:
    serve(project, _shift(telco_rows(project, 1500, 2000)))
    _monitor(run_charter, project, "--no-retrain")
    serve(project, telco_rows(project, 2000, 2500))
    _code, result = _monitor(run_charter, project, "--no-retrain")
    assert [w["verdict"] for w in result["windows"]] == ["pass"]
    assert [i["KPI"] for i in result["incidents_resolved"]] == ["drift"]
    kinds = [
        json.loads(line)["kind"]
        for line in (project / ".charter" / "notifications.jsonl").read_text().splitlines()
    ]
    assert kinds == ["incident.opened", "incident.resolved"]
    shown = run_charter("incidents", "--status", "resolved", cwd=project)
    assert "resolved" in shown.stdout
    assert "drift" in shown.stdout


def test_labels_give_realised_kpis_and_the_estimate_stands_in_before_them(
    project: Path, run_charter: CharterRunner
) -> None:
    # The example charter's `live-auc` KPI (roc_auc at least 0.75, gate monitor).
    serve(project, telco_rows(project, 1500, 2000))  # no labels yet
    serve(project, telco_rows(project, 2000, 2500), feedback_share=1.0)
    _code, result = _monitor(run_charter, project, "--no-retrain")
    unlabelled, labelled = result["windows"]
    before = next(k for k in unlabelled["kpis"] if k["name"] == "live-auc")
    assert before["estimated"] is True
    assert before["passed"] is None
    assert "awaiting labels" in before["note"]
    assert 0.5 < before["value"] < 1
    assert unlabelled["performance"]["label_coverage"] == 0
    after = next(k for k in labelled["kpis"] if k["name"] == "live-auc")
    assert after["estimated"] is False
    assert after["passed"] is True
    assert after["value"] > 0.75
    performance = labelled["performance"]
    assert performance["label_coverage"] == 1.0
    assert performance["labelled"] == 500
    comparison = performance["comparison"]["roc_auc"]
    assert abs(comparison["error"]) < 0.1  # the estimate, against what the labels say
    assert set(labelled["operational"]) == {
        "latency_p50_ms",
        "latency_p99_ms",
        "error_rate",
        "throughput",
    }
    assert labelled["operational"]["error_rate"] == 0.0


def test_labels_outside_the_classes_are_counted_not_used(
    project: Path, run_charter: CharterRunner
) -> None:
    serve(project, telco_rows(project, 1500, 2000), feedback_share=1.0, labels=lambda r: "Maybe")
    _code, result = _monitor(run_charter, project, "--no-retrain")
    performance = result["windows"][0]["performance"]
    assert performance["invalid_labels"] == 500
    assert performance["labelled"] == 0


def test_a_window_with_too_few_predictions_gets_no_verdict_and_says_why(
    project: Path, run_charter: CharterRunner
) -> None:
    charter = project / "charter.yaml"
    charter.write_text(
        charter.read_text().replace(
            "window: {predictions: 500}", "window: {minutes: 1, min_predictions: 50}"
        )
    )
    old = datetime.now(timezone.utc) - timedelta(hours=2)
    serve(project, telco_rows(project, 1500, 1510), start=old)
    serve(project, telco_rows(project, 1600, 1700), start=old + timedelta(minutes=5))
    _code, result = _monitor(run_charter, project, "--no-retrain")
    assert [(w["predictions"], w["verdict"]) for w in result["windows"]] == [
        (10, "no_verdict"),
        (100, "pass"),
    ]
    assert "fewer than the 50" in result["windows"][0]["note"]


def test_a_record_cut_short_is_skipped_and_reported_and_the_rest_is_judged(
    project: Path, run_charter: CharterRunner
) -> None:
    serve(project, telco_rows(project, 1500, 2000))
    segment = next((project / ".charter" / "serving").glob("segment-*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"prediction_id": "cut-short", "time": "2026-')  # a writer killed
    serve(project, telco_rows(project, 2000, 2100))
    _code, result = _monitor(run_charter, project, "--no-retrain")
    assert result["records_read"] == 600
    assert len(result["skipped_lines"]) == 1
    assert [w["verdict"] for w in result["windows"]] == ["pass"]
    assert result["pending_records"] == 100
    assert _events(project, "monitor.skipped_lines")


def test_an_unreadable_state_starts_over_without_judging_a_window_twice(
    project: Path, run_charter: CharterRunner
) -> None:
    serve(project, telco_rows(project, 1500, 2000))
    _monitor(run_charter, project, "--no-retrain")
    (project / ".charter" / "serving" / "monitor-state.json").write_text("{not json")
    _code, result = _monitor(run_charter, project, "--no-retrain")
    assert [w["new"] for w in result["windows"]] == [False]  # found in the ledger
    assert _events(project, "monitor.state_reset")
    with open_ledger(project) as ledger:
        assert len(ledger.windows(PROJECT)) == 1


def test_two_monitors_at_once_judge_each_window_once(project: Path) -> None:
    serve(project, telco_rows(project, 1500, 3000))
    executable = str(Path(sys.executable).with_name("charter"))
    env = {k: v for k, v in os.environ.items() if k != "CHARTER_LEDGER_URL"}
    runs = [
        subprocess.Popen(
            [executable, "monitor", "--json", "--no-retrain"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], outputs
    judged = [json.loads(out)["windows"] for out, _ in outputs]
    assert sorted(len(w) for w in judged) == [0, 3]
    with open_ledger(project) as ledger:
        keys = [w.window_key for w in ledger.windows(PROJECT)]
    assert sorted(keys) == ["n500-00000000", "n500-00000001", "n500-00000002"]


def test_monitor_without_a_log_says_what_to_do(project: Path, run_charter: CharterRunner) -> None:
    done = run_charter("monitor", cwd=project)
    assert done.code == 1
    assert "no prediction log" in done.stderr
    assert "charter serve" in done.stderr
    assert "Traceback" not in done.stderr


class _Receiver(BaseHTTPRequestHandler):
    status = 500
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def failing_webhook() -> Iterator[str]:
    _Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_webhook_answering_500_is_retried_recorded_and_never_stops_monitoring(
    project: Path, run_charter: CharterRunner, failing_webhook: str
) -> None:
    charter = project / "charter.yaml"
    charter.write_text(
        charter.read_text().replace(
            "    - {name: Retention,",
            "    - {name: Pager, notify: webhook, target: PAGER_URL}\n    - {name: Retention,",
        )
    )
    serve(project, _shift(telco_rows(project, 1500, 2000)))
    done = run_charter(
        "monitor", "--json", "--no-retrain", cwd=project, env={"PAGER_URL": failing_webhook}
    )
    result = json.loads(done.stdout)
    assert [w["verdict"] for w in result["windows"]] == ["fail"]
    failed = [d for d in result["notifications"] if not d["delivered"]]
    assert [(d["stakeholder"], d["attempts"]) for d in failed] == [("Pager", 3)]
    assert len(_Receiver.bodies) == 3
    assert [e.payload["stakeholder"] for e in _events(project, "notify.failed")] == ["Pager"]
    assert failing_webhook not in done.stdout + done.stderr  # the URL is a secret


def test_retrain_promotes_a_challenger_that_learned_the_new_world(
    project: Path, run_charter: CharterRunner
) -> None:
    # In production, churn now follows the contract alone: the champion cannot know it.
    serve(
        project,
        telco_rows(project, 1500, 3500),
        feedback_share=1.0,
        labels=lambda r: "Yes" if r["Contract"] == "Month-to-month" else "No",
    )
    done = run_charter("retrain", "--json", cwd=project)
    result = json.loads(done.stdout)
    assert done.code == 0, done.stderr
    assert result["status"] == "promoted", result["reasons"]
    assert result["decided_on"] == "recent_holdout"
    recent = result["scores"]["recent_holdout"]
    assert recent["challenger"] >= recent["champion"] + 0.005
    assert result["rows"]["recent_holdout"] == 500
    with open_ledger(project) as ledger:
        champion = ledger.get_alias(PROJECT, "champion")
        assert champion is not None
        assert champion.version == result["challenger"] == 2
    [event] = _events(project, "retrain.promoted")
    assert event.payload["champion"] == 1
    assert event.payload["challenger"] == 2


def test_retrain_refuses_a_challenger_that_is_not_better_by_the_margin(
    project: Path, run_charter: CharterRunner
) -> None:
    charter = project / "charter.yaml"
    charter.write_text(charter.read_text().replace("better_by: 0.005", "better_by: 0.5"))
    serve(project, telco_rows(project, 1500, 2500), feedback_share=1.0)
    result = json.loads(run_charter("retrain", "--json", cwd=project).stdout)
    assert result["status"] == "refused"
    assert any("does not beat the champion by the 0.5" in r for r in result["reasons"])
    with open_ledger(project) as ledger:
        assert ledger.get_alias(PROJECT, "champion").version == 1  # type: ignore[union-attr]
        assert ledger.get_alias(PROJECT, "challenger").version == 2  # type: ignore[union-attr]


def test_retrain_on_data_that_breaks_the_contract_stops_and_keeps_the_champion(
    project: Path, run_charter: CharterRunner
) -> None:
    rows = telco_rows(project, 1500, 1600)
    rows["tenure"] = 999  # the contract says at most 72
    serve(project, rows, feedback_share=1.0)
    done = run_charter("retrain", cwd=project)
    assert done.code == 1
    assert "break the data contract" in done.stdout
    assert "tenure" in done.stdout
    assert "Champion version 1 stays" in done.stdout
    with open_ledger(project) as ledger:
        assert ledger.get_alias(PROJECT, "champion").version == 1  # type: ignore[union-attr]
        assert len(ledger.model_versions(PROJECT)) == 1
    assert _events(project, "retrain.stopped")


def test_retrain_without_enough_labels_says_how_many_it_needs(
    project: Path, run_charter: CharterRunner
) -> None:
    serve(project, telco_rows(project, 1500, 1510), feedback_share=1.0)
    done = run_charter("retrain", cwd=project)
    assert done.code == 1
    assert "at least 40 labelled production records" in done.stderr


def test_watch_runs_passes_until_ctrl_c_and_stops_cleanly(project: Path) -> None:
    serve(project, telco_rows(project, 1500, 2000))
    env = {k: v for k, v in os.environ.items() if k != "CHARTER_LEDGER_URL"}
    with subprocess.Popen(
        [str(Path(sys.executable).with_name("charter")), "monitor", "--watch", "1", "--no-retrain"],
        cwd=project,
        env={**env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        deadline = time.monotonic() + 60
        state = project / ".charter" / "serving" / "monitor-state.json"
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)  # at least one more pass
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    lines = [line for line in out.splitlines() if "records" in line]
    assert len(lines) >= 2
    assert "1 new window(s): 1 pass" in lines[0]
    assert "0 new window(s)" in lines[-1]
    assert "stopped" in err
    assert "Traceback" not in err


def test_served_records_of_an_unknown_version_get_no_verdict(
    project: Path, run_charter: CharterRunner
) -> None:
    log_dir = project / ".charter" / "serving"
    now = datetime.now(timezone.utc).isoformat()
    records = [
        {
            "prediction_id": f"x{i}",
            "time": now,
            "model_version": "9",
            "input": {"tenure": 1},
            "output": {"prediction": "No"},
            "latency_ms": 1.0,
        }
        for i in range(500)
    ]
    with PredictionLog(log_dir, mode="durable") as log:
        log.append(records)
    _code, result = _monitor(run_charter, project, "--no-retrain")
    assert [(w["version"], w["verdict"]) for w in result["windows"]] == [(9, "no_verdict")]
    assert "not in the registry" in result["windows"][0]["note"]
