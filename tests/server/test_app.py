"""Contract tests of every endpoint over real HTTP on loopback, bad input included."""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.server import ServerConfig
from charter.serving import LogReader
from tests.server.conftest import LiveServer, ServerFactory, compiled_kind
from tests.server.test_requests import RECORD

UUID_HEX = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def client(shared_server: LiveServer) -> Iterator[httpx.Client]:
    with shared_server.client() as client:
        yield client


def predict(client: httpx.Client, payload: Any, path: str = "/predict", **kwargs: Any) -> Any:
    response = client.post(path, json=payload, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def assert_prediction(answer: dict[str, Any]) -> None:
    assert answer["prediction"] in ("No", "Yes")
    assert set(answer["probabilities"]) == {"No", "Yes"}
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert UUID_HEX.match(answer["prediction_id"])
    assert answer["model_version"] == 1


# --- /predict --------------------------------------------------------------------------------


def test_one_record_gets_one_answer(client: httpx.Client) -> None:
    answer = predict(client, {**RECORD, "customerID": "5575-GNVDE"})
    assert_prediction(answer)
    assert answer["id"] == "5575-GNVDE"
    assert "contributions" not in answer


def test_a_list_gets_a_list_in_order(
    client: httpx.Client, sample_records: list[dict[str, Any]]
) -> None:
    answers = predict(client, sample_records[:20])
    assert len(answers) == 20
    for answer, record in zip(answers, sample_records, strict=False):
        assert_prediction(answer)
        assert answer["id"] == record["customerID"]
    assert len({a["prediction_id"] for a in answers}) == 20


def test_explain_adds_contributions_when_the_model_has_them(client: httpx.Client) -> None:
    (answer,) = predict(client, [RECORD], params={"explain": "true"})
    assert "contributions" in answer
    assert answer["contributions"] is None  # logistic regression: no contributions
    response = client.post("/predict", json=RECORD, params={"explain": "maybe"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "explain"]


def test_every_answered_prediction_is_in_the_log(
    shared_server: LiveServer, client: httpx.Client
) -> None:
    answers = predict(client, [{**RECORD, "customerID": "7590-VHVEG"}, RECORD])
    # The shared server logs durably: the records are on disk before the answer.
    logged, _skipped, _cursor = LogReader(shared_server.config.resolved_log_dir).read_all()
    records = {record["prediction_id"]: record for record in logged}
    first = records[answers[0]["prediction_id"]]
    assert first["model_version"] == "1"
    assert first["input"]["customerID"] == "7590-VHVEG"
    assert first["input"]["tenure"] == 34
    assert first["output"]["prediction"] == answers[0]["prediction"]
    assert first["output"]["probabilities"] == answers[0]["probabilities"]
    assert first["latency_ms"] > 0
    assert answers[1]["prediction_id"] in records


BAD_BODIES = [
    pytest.param(b"{", "json_invalid", id="malformed"),
    pytest.param(b"", "json_invalid", id="empty body"),
    pytest.param(b'{"tenure": NaN}', "json_invalid", id="NaN"),
    pytest.param(b"[Infinity]", "json_invalid", id="Infinity"),
    pytest.param(b"[1e999]", "json_invalid", id="overflowing number"),
    pytest.param(b"[]", "empty_batch", id="empty list"),
    pytest.param(b"[1, 2]", "record_type", id="non-object items"),
    pytest.param(b'"text"', "body_type", id="a string"),
]


@pytest.mark.parametrize(("body", "kind"), BAD_BODIES)
def test_a_bad_body_is_a_422_never_a_500(client: httpx.Client, body: bytes, kind: str) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["type"] == kind
    assert set(detail[0]) == {"loc", "msg", "type"}


BAD_VALUES = [
    pytest.param({"tenure": "12"}, [([0, "tenure"], "int_type")], id="string for a number"),
    pytest.param({"tenure": 10**40}, [([0, "tenure"], "int_range")], id="huge number"),
    pytest.param({"tenure": -1}, [([0, "tenure"], "out_of_range")], id="out of range"),
    pytest.param(
        {"Contract": "Weekly"}, [([0, "Contract"], "not_allowed")], id="disallowed category"
    ),
    pytest.param({"gender": {"a": 1}}, [([0, "gender"], "string_type")], id="nested object"),
    pytest.param({"Partner": None}, [([0, "Partner"], "null_not_allowed")], id="null"),
    pytest.param({"Colour": "red"}, [([0, "Colour"], "extra_forbidden")], id="extra field"),
]


@pytest.mark.parametrize(("change", "expected"), BAD_VALUES)
def test_a_record_that_breaks_the_contract_is_a_422(
    client: httpx.Client, change: dict[str, Any], expected: list[Any]
) -> None:
    response = client.post("/predict", json={**RECORD, **change})
    assert response.status_code == 422, response.text
    assert [(d["loc"], d["type"]) for d in response.json()["detail"]] == expected


def test_the_422_names_every_field_at_fault(client: httpx.Client) -> None:
    missing = {k: v for k, v in RECORD.items() if k not in ("tenure", "gender")}
    response = client.post(
        "/predict", json=[RECORD, {**missing, "MonthlyCharges": "x", "Colour": 1}]
    )
    assert response.status_code == 422
    assert [tuple(d["loc"]) for d in response.json()["detail"]] == [
        (1, "gender"),
        (1, "tenure"),
        (1, "MonthlyCharges"),
        (1, "Colour"),
    ]
    assert "The 'tenure' of record 1 is required" in response.json()["detail"][1]["msg"]


# --- limits ----------------------------------------------------------------------------------


@pytest.fixture
def limited(start_server: ServerFactory) -> LiveServer:
    return start_server(serve={"max_body_bytes": 4096, "max_batch": 5})


def test_a_body_over_the_limit_is_a_413_by_content_length(limited: LiveServer) -> None:
    with limited.client() as client:
        response = client.post("/predict", json=[RECORD] * 20)
        assert response.status_code == 413
        assert response.json()["detail"][0]["type"] == "body_too_large"
        assert client.get("/health").status_code == 200


def test_a_chunked_body_over_the_limit_is_a_413(limited: LiveServer) -> None:
    chunk = b'[{"a": "' + b"x" * 1000

    def body() -> Iterator[bytes]:
        yield chunk
        for _ in range(9):
            yield b"x" * 1000
        yield b'"}]'

    with limited.client() as client:
        response = client.post(
            "/predict", content=body(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.status_code == 413
        assert response.json()["detail"][0]["msg"].startswith(
            "The request body must be at most 4096"
        )
        small = client.post(
            "/predict", content=iter([b"[", b"1]"]), headers={"content-type": "application/json"}
        )
        assert small.status_code == 422


def test_a_batch_over_max_batch_is_a_413(limited: LiveServer) -> None:
    with limited.client() as client:
        assert client.post("/predict", json=[RECORD] * 5).status_code == 200
        response = client.post("/predict", json=[RECORD] * 6)
        assert response.status_code == 413
        assert response.json()["detail"][0]["type"] == "too_many_records"


# --- /feedback -------------------------------------------------------------------------------


def test_feedback_is_idempotent_and_refuses_conflicts_and_unknown_ids(client: httpx.Client) -> None:
    first, second = (a["prediction_id"] for a in predict(client, [RECORD, RECORD]))
    created = client.post("/feedback", json={"prediction_id": first, "label": "Yes"})
    assert (created.status_code, created.json()) == (
        200,
        {"prediction_id": first, "status": "created"},
    )
    again = client.post("/feedback", json={"prediction_id": first, "label": "Yes"})
    assert again.json()["status"] == "duplicate"
    conflict = client.post("/feedback", json={"prediction_id": first, "label": "No"})
    assert conflict.status_code == 409
    assert conflict.json()["detail"][0]["type"] == "conflict"
    unknown = client.post("/feedback", json={"prediction_id": "f" * 32, "label": "No"})
    assert unknown.status_code == 404
    assert unknown.json()["detail"][0]["loc"] == [0, "prediction_id"]
    outside = client.post("/feedback", json={"prediction_id": second, "label": "Maybe"})
    assert outside.status_code == 422
    assert outside.json()["detail"][0]["type"] == "label_not_allowed"
    listed = client.post(
        "/feedback",
        json=[{"prediction_id": second, "label": "No"}, {"prediction_id": first, "label": "Yes"}],
    )
    assert [item["status"] for item in listed.json()] == ["created", "duplicate"]


@pytest.mark.parametrize(
    "payload",
    [
        [],
        3,
        [{"prediction_id": 3, "label": "No"}],
        [{"label": "No"}],
        [{"prediction_id": "x"}],
        [{"prediction_id": "x", "label": "No", "at": 1}],
    ],
)
def test_malformed_feedback_is_a_422(client: httpx.Client, payload: Any) -> None:
    response = client.post("/feedback", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


# --- operations ------------------------------------------------------------------------------


def test_health_ready_and_ping(client: httpx.Client, kind: str) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready == {"status": "ready", "model_version": 1, "predictor": kind, "reasons": []}
    assert client.get("/ping").status_code == 200


def test_the_schema_is_the_input_contract(client: httpx.Client) -> None:
    schema = client.get("/schema").json()
    assert schema["model_version"] == 1
    assert schema["classes"] == ["No", "Yes"]
    assert schema["id"] == "customerID"
    assert "Churn" not in schema["features"]
    fields = schema["fields"]
    assert fields["tenure"] == {
        "role": "feature",
        "type": "int",
        "required": True,
        "nullable": False,
        "min": 0,
        "max": 72,
    }
    assert fields["TotalCharges"]["nullable"] is True
    assert fields["Contract"]["values"] == ["Month-to-month", "One year", "Two year"]
    assert fields["customerID"]["role"] == "id"
    assert schema["csv_columns"] == schema["features"]


def test_metrics_count_requests_predictions_feedback_and_the_log(
    client: httpx.Client, kind: str
) -> None:
    answer = predict(client, RECORD)
    client.post("/feedback", json={"prediction_id": answer["prediction_id"], "label": "No"})
    client.post("/predict", content=b"{")
    text = client.get("/metrics").text
    assert re.search(r'charter_requests_total\{endpoint="/predict",status="200"\} \d', text)
    assert re.search(r'charter_requests_total\{endpoint="/predict",status="422"\} \d', text)
    assert (
        'charter_request_latency_seconds_bucket{endpoint="/predict",le="0.005",status="200"}'
        in text
    )
    assert re.search(
        rf'charter_predictions_total\{{model_version="1",predicted="{answer["prediction"]}"\}} \d',
        text,
    )
    assert re.search(r'charter_feedback_total\{outcome="created"\} \d', text)
    assert (
        f'charter_model_info{{candidate="logistic_regression",predictor="{kind}",version="1"}} 1.0'
        in text
    )
    assert "charter_prediction_log_lag_records " in text
    assert "charter_prediction_log_lag_seconds " in text


def test_openapi_and_docs(client: httpx.Client) -> None:
    assert "swagger" in client.get("/docs").text.lower()
    document = client.get("/openapi.json").json()
    record = document["components"]["schemas"]["Record"]
    assert record["properties"]["tenure"]["maximum"] == 72
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["anyOf"][1]["maxItems"] == 1000
    assert "security" not in document["paths"]["/predict"]["post"]


def test_unknown_routes_and_methods_are_4xx(client: httpx.Client) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/predict").status_code == 405


# --- the cloud platforms' payloads -----------------------------------------------------------


def test_sagemaker_json_shapes(client: httpx.Client) -> None:
    for payload in (RECORD, [RECORD, RECORD], {"instances": [RECORD]}):
        answer = predict(client, payload, path="/invocations")
        for item in answer["predictions"]:
            assert_prediction(item)


def test_sagemaker_csv_rows_in_feature_order(client: httpx.Client) -> None:
    features = client.get("/schema").json()["csv_columns"]
    line = ",".join(str(RECORD[name]) for name in features)
    response = client.post(
        "/invocations", content=f"{line}\n{line}\n", headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 2
    as_csv = client.post(
        "/invocations",
        content=line,
        headers={"content-type": "text/csv; charset=utf-8", "accept": "text/csv"},
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    label, no, yes = as_csv.text.strip().split(",")
    assert label in ("No", "Yes")
    assert float(no) + float(yes) == pytest.approx(1.0)
    short = client.post("/invocations", content="Male,0\n", headers={"content-type": "text/csv"})
    assert short.status_code == 422
    assert short.json()["detail"][0]["type"] == "row_length"
    other = client.post(
        "/invocations", content=b"x", headers={"content-type": "application/x-protobuf"}
    )
    assert other.status_code == 415


def test_azure_score_shapes(client: httpx.Client) -> None:
    for payload in (RECORD, [RECORD], {"data": [RECORD, RECORD]}):
        assert predict(client, payload, path="/score")["predictions"]


def test_vertex_routes_come_from_the_environment(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIP_HEALTH_ROUTE", "/v1/endpoints/e/deployedModels/m")
    monkeypatch.setenv("AIP_PREDICT_ROUTE", "/v1/endpoints/e/deployedModels/m:predict")
    server = start_server(style="vertex")
    with server.client() as client:
        assert client.get("/v1/endpoints/e/deployedModels/m").json()["status"] == "ready"
        features = client.get("/schema").json()["features"]
        row = [RECORD[name] for name in features]
        response = client.post(
            "/v1/endpoints/e/deployedModels/m:predict",
            json={"instances": [RECORD, row], "parameters": {}},
        )
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert len(predictions) == 2
        assert predictions[0]["probabilities"] == predictions[1]["probabilities"]
        bad = client.post("/v1/endpoints/e/deployedModels/m:predict", json=[RECORD])
        assert bad.status_code == 422
        assert client.post("/predict", json=RECORD).status_code == 200


# --- failures of the log and the model -------------------------------------------------------


class FailingLog:
    """A log whose every write fails, as a full disk would."""

    closed = False

    def submit(self, records: list[dict[str, Any]]) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        future.set_exception(OSError(28, "No space left on device"))
        return future

    def close(self) -> None:
        self.closed = True

    def stats(self) -> dict[str, float]:
        return {"lag_records": 3.0}


class MemoryFeedback:
    def record(self, prediction_id: str, label: Any) -> str:
        return "unknown"


def test_a_failing_durable_log_answers_503_not_a_prediction(start_server: ServerFactory) -> None:
    server = start_server(
        log_mode="durable",
        log_factory=lambda folder, mode: FailingLog(),
        feedback_factory=lambda folder, log: MemoryFeedback(),
    )
    with server.client() as client:
        response = client.post("/predict", json=RECORD)
        assert response.status_code == 503
        assert response.json()["detail"][0]["type"] == "log_unavailable"
        assert "charter_prediction_log_lag_records 3.0" in client.get("/metrics").text


def test_ready_says_no_once_the_log_is_closed(start_server: ServerFactory) -> None:
    server = start_server()
    server.state.log.close()
    with server.client() as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["reasons"] == ["the prediction log at serving is not writable"]
        assert client.post("/predict", json=RECORD).status_code == 503


def test_the_deployment_is_recorded_and_stopped(project: Path, start_server: ServerFactory) -> None:
    from charter.ledger import open_ledger

    server = start_server(port=8123)
    with open_ledger(project) as ledger:
        (deployment,) = ledger.deployments("telco-churn")
    assert (deployment.version, deployment.host, deployment.port) == (1, "127.0.0.1", 8123)
    assert deployment.stopped_at is None
    assert deployment.details["time_to_deploy_seconds"] >= 0
    assert deployment.details["predictor"] == compiled_kind(project)
    server.stop()
    with open_ledger(project) as ledger:
        (deployment,) = ledger.deployments("telco-churn")
    assert deployment.stopped_at is not None


def test_a_missing_champion_stops_the_start(project: Path, start_server: ServerFactory) -> None:
    with pytest.raises(RuntimeError, match=r"the server did not start"):
        start_server(alias="production")


def test_the_config_never_shows_the_token(project: Path) -> None:
    from tests.server.conftest import make_config

    config = make_config(project, token="hunter2-secret")
    assert "hunter2-secret" not in repr(config)
    assert "token=***" in repr(config)
    assert "hunter2-secret" not in str(config)
    with pytest.raises(Exception, match=r"must be one of default, sagemaker"):
        ServerConfig(charter=config.charter, charter_dir=project, style="heroku")  # type: ignore[arg-type]


class Saturated:
    """A predictor whose output is not finite, as an overflowing model's would be."""

    kind = "test"
    task = "binary_classification"
    classes = ("No", "Yes")

    def __init__(self, features: Any) -> None:
        self.features = features

    def predict_records(self, records: Any) -> Any:
        from types import SimpleNamespace

        nan = float("nan")
        return SimpleNamespace(
            labels=["No"] * len(records), probabilities=[[nan, nan]] * len(records), values=None
        )

    def explain_records(self, records: Any) -> None:
        return None


def test_a_prediction_that_is_not_finite_is_refused(start_server: ServerFactory) -> None:
    server = start_server(predictor_factory=lambda model, holdout: Saturated(model.features))
    with server.client() as client:
        response = client.post("/predict", json=[RECORD, RECORD])
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [[0], [1]]
    assert response.json()["detail"][0]["type"] == "unscorable"
