"""A regression model (LightGBM) served: values, contributions, numeric feedback, value metrics."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import httpx
import pytest

from charter import lifecycle
from tests.conftest import EXAMPLES
from tests.server.conftest import LiveServer, make_config

RECORD = {
    "age": 59.0,
    "sex": "M",
    "bmi": 32.1,
    "bp": 101.0,
    "tc": 157.0,
    "ldl": 93.2,
    "hdl": 38.0,
    "tch": 4.0,
    "ltg": 4.8598,
    "glu": 87.0,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("regression") / "diabetes"
    shutil.copytree(
        EXAMPLES / "diabetes-progression", folder, ignore=shutil.ignore_patterns(".charter")
    )
    charter = folder / "charter.yaml"
    text = charter.read_text(encoding="utf-8")
    text = re.sub(
        r"(?ms)^kpis:\n.*?(?=^# Candidate)",
        "kpis:\n  - {name: r2, metric: r2, at_least: 0.0, gate: deploy}\n\n",
        text,
    )
    text = re.sub(
        r"(?ms)^model:\n.*?(?=^monitor:)",
        "model:\n  candidates: [lightgbm]\n  budget: {trials: 2, seconds: null}\n  cv_folds: 3\n\n",
        text,
    )
    charter.write_text(text, encoding="utf-8")
    assert lifecycle.run(charter, write_report=False).model_version == 1
    lifecycle.promote(charter, "candidate", override="test")
    server = LiveServer(make_config(folder)).start()
    yield server
    server.stop()


def test_a_regression_answer_is_a_value(server: LiveServer) -> None:
    with server.client() as client:
        answer = client.post("/predict", json={**RECORD, "patient_id": 7}).json()
        assert isinstance(answer["prediction"], float)
        assert "probabilities" not in answer
        assert answer["id"] == 7
        metrics = client.get("/metrics").text
    assert re.search(r'charter_predicted_value_count\{model_version="1"\} 1\.0', metrics)


def test_explain_gives_contributions_that_add_up(server: LiveServer) -> None:
    with server.client() as client:
        (answer,) = client.post("/predict?explain=true", json=[RECORD]).json()
    contributions = answer["contributions"]
    assert set(RECORD) <= set(contributions)
    assert sum(contributions.values()) == pytest.approx(answer["prediction"], rel=1e-6)


def test_feedback_for_a_regression_is_a_number(server: LiveServer) -> None:
    with server.client() as client:
        pid = client.post("/predict", json=RECORD).json()["prediction_id"]
        assert client.post("/feedback", json={"prediction_id": pid, "label": 151}).json() == {
            "prediction_id": pid,
            "status": "created",
        }
        refused = client.post("/feedback", json={"prediction_id": pid, "label": "high"})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["type"] == "label_type"
        document = client.get("/openapi.json").json()
    label = document["paths"]["/feedback"]["post"]["requestBody"]["content"]["application/json"]
    assert label["schema"]["anyOf"][0]["properties"]["label"] == {"type": "number"}


def test_a_bad_regression_record_names_its_fields(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        response = client.post("/predict", json={**RECORD, "bmi": 99.0, "sex": "X"})
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [[0, "sex"], [0, "bmi"]]
