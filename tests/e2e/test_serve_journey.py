"""`charter serve` and `charter package` as a user runs them: real process, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from charter import lifecycle
from charter.serving import LogReader
from tests.conftest import CharterRunner
from tests.e2e.conftest import ProjectFactory


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited before it was ready"
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server never became ready")


def test_serve_answers_logs_and_stops_cleanly(
    small_telco: ProjectFactory, run_charter: CharterRunner
) -> None:
    folder = small_telco()
    lifecycle.run(folder / "charter.yaml", write_report=False)
    lifecycle.promote(folder / "charter.yaml", "candidate", override="test")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "CHARTER_LEDGER_URL"}
    env["CHARTER_TOKEN"] = "t0ken-for-tests"
    with subprocess.Popen(
        [
            str(Path(sys.executable).with_name("charter")),
            "serve",
            "--port",
            str(port),
            "--log-mode",
            "durable",
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:
        base = f"http://127.0.0.1:{port}"
        _wait_until_ready(base, process)
        record = {
            "gender": "Female",
            "SeniorCitizen": 0,
            "Partner": "Yes",
            "Dependents": "No",
            "tenure": 3,
            "PhoneService": "Yes",
            "MultipleLines": "No",
            "InternetService": "Fiber optic",
            "OnlineSecurity": "No",
            "OnlineBackup": "No",
            "DeviceProtection": "No",
            "TechSupport": "No",
            "StreamingTV": "Yes",
            "StreamingMovies": "Yes",
            "Contract": "Month-to-month",
            "PaperlessBilling": "Yes",
            "PaymentMethod": "Electronic check",
            "MonthlyCharges": 95.5,
            "TotalCharges": 280.0,
        }
        assert httpx.post(f"{base}/predict", json=record).status_code == 401
        auth = {"Authorization": "Bearer t0ken-for-tests"}
        answer = httpx.post(f"{base}/predict", json=record, headers=auth)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["prediction"] in ("Yes", "No")
        assert body["model_version"] == 1
        feedback = httpx.post(
            f"{base}/feedback",
            headers=auth,
            json={"prediction_id": body["prediction_id"], "label": "Yes"},
        )
        assert feedback.status_code == 200, feedback.text
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal as its exit status.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
        stderr = process.stderr.read().decode() if process.stderr else ""
    assert "t0ken-for-tests" not in stderr
    records, _skipped, _cursor = LogReader(folder / ".charter" / "serving").read_all(None)
    assert [r["prediction_id"] for r in records] == [body["prediction_id"]]
    status = json.loads(run_charter("status", "--json", cwd=folder).stdout)
    assert status["first_deployment_at"] is not None


def test_package_writes_the_image_files(
    small_telco: ProjectFactory, run_charter: CharterRunner
) -> None:
    folder = small_telco()
    lifecycle.run(folder / "charter.yaml", write_report=False)
    nothing = run_charter("package", "--out", "image", cwd=folder)
    assert nothing.code == 1
    lifecycle.promote(folder / "charter.yaml", "candidate", override="test")
    result = run_charter("package", "--out", "image", "--style", "sagemaker", "--json", cwd=folder)
    assert result.code == 0, result.stderr
    files = {Path(f).name for f in json.loads(result.stdout)["files"]}
    assert "Dockerfile" in files
    dockerfile = (folder / "image" / "Dockerfile").read_text()
    assert "EXPOSE 8080" in dockerfile
    bad = run_charter("package", "--out", "image2", "--style", "heroku", cwd=folder)
    assert bad.code == 2
