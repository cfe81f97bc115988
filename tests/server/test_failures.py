"""A model that fails on a request: the client gets a 500, the log gets an error record."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from charter.monitoring import is_error, operational
from charter.serving import LogReader
from tests.server.conftest import ServerFactory
from tests.server.test_requests import RECORD


def test_a_failed_prediction_is_logged_as_an_error_for_the_error_rate(
    start_server: ServerFactory,
) -> None:
    server = start_server(log_mode="durable")
    served = server.state.holder.current
    original = served.predictor.predict_records

    def failing(records: list[dict[str, Any]]) -> Any:
        if records and records[0].get("tenure") == 13:
            raise RuntimeError("the model's native library crashed")
        return original(records)

    # A fault injected into the loaded predictor: nothing a request can provoke otherwise.
    served.predictor.predict_records = failing
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/predict", json=RECORD).status_code == 200
        failed = client.post("/predict", json={**RECORD, "tenure": 13})
        assert failed.status_code == 500
        assert client.post("/predict", json=RECORD).status_code == 200
    server.stop()
    records, _skipped, _cursor = LogReader(server.config.resolved_log_dir).read_all()
    errors = [r for r in records if is_error(r)]
    assert len(records) == 3
    assert len(errors) == 1
    assert errors[0]["output"]["error"] == "RuntimeError: the model's native library crashed"
    assert errors[0]["input"]["tenure"] == 13
    now = datetime.now(timezone.utc)
    figures = operational(records, now - timedelta(seconds=3), now)
    assert figures["error_rate"] == 1 / 3
