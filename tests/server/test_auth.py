"""The bearer token: required on the prediction routes, compared in constant time, never logged."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import TOKEN, ServerFactory, ServerProcess, spawn, stop_process
from tests.server.test_requests import RECORD

PROTECTED = ["/predict", "/feedback", "/invocations", "/score"]
OPEN = ["/health", "/ready", "/ping", "/metrics", "/schema", "/docs", "/openapi.json"]


def test_prediction_routes_need_the_token_and_probes_do_not(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = start_server(token=TOKEN, access_log=True)
    with server.client() as client:
        for path in PROTECTED:
            missing = client.post(path, json=RECORD)
            assert missing.status_code == 401, path
            assert (
                missing.headers["www-authenticate"]
                == 'Bearer realm="charter", error="invalid_request"'
            )
            assert missing.json()["detail"][0]["type"] == "unauthorized"
            wrong = client.post(path, json=RECORD, headers={"authorization": f"Bearer {TOKEN}x"})
            assert wrong.status_code == 401, path
            assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
            basic = client.post(path, json=RECORD, headers={"authorization": f"Basic {TOKEN}"})
            assert basic.status_code == 401, path
        for path in OPEN:
            assert client.get(path).status_code == 200, path
        good = client.post("/predict", json=RECORD, headers={"authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        lower = client.post("/predict", json=[RECORD], headers={"authorization": f"bearer {TOKEN}"})
        assert lower.status_code == 200
        explained = client.post(
            "/predict?explain=true", json=RECORD, headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert explained.status_code == 200
        assert client.post("/predict?explain=true", json=RECORD).status_code == 401
        document = client.get("/openapi.json").json()
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert document["paths"]["/predict"]["post"]["security"] == [{"bearer": []}]
        assert "security" not in document["paths"]["/health"]["get"]
    server.stop()
    assert 'POST /predict HTTP/1.1" 401' in caplog.text  # the access log did run
    assert TOKEN not in caplog.text
    for path in server.config.resolved_log_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_the_token_never_reaches_the_server_output(
    server_process: Callable[..., ServerProcess], project: Path
) -> None:
    running = server_process("--access-log", "--log-level", "debug", env={"CHARTER_TOKEN": TOKEN})
    with httpx.Client(base_url=running.url, timeout=30) as client:
        assert (
            client.post(
                "/predict", json=RECORD, headers={"authorization": f"Bearer {TOKEN}"}
            ).status_code
            == 200
        )
        assert (
            client.post(
                "/predict", json=RECORD, headers={"authorization": f"Bearer {TOKEN[:-1]}"}
            ).status_code
            == 401
        )
        assert (
            client.post(
                "/feedback", json=[], headers={"authorization": f"Bearer {TOKEN}"}
            ).status_code
            == 422
        )
        assert client.post("/predict", json=RECORD).status_code == 401
    output = stop_process(running.process, running.output)
    # uvicorn re-raises SIGTERM once its graceful shutdown is complete.
    assert running.process.returncode in (0, -15), output
    assert '"POST /predict HTTP/1.1" 401' in output
    assert "Application shutdown complete" in output
    assert TOKEN not in output
    assert TOKEN[:-1] not in output


def test_a_charter_naming_a_token_variable_that_is_unset_refuses_to_start(
    server_process: Callable[..., ServerProcess], project: Path
) -> None:
    process = spawn(
        [sys.executable, "-m", "charter.server", "--charter", str(project), "--port", "9"],
        env={"CHARTER_TOKEN": ""},
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert (
        "The environment variable CHARTER_TOKEN (serve.token_env) must hold the bearer token"
        in output
    )
