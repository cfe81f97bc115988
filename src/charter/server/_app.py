"""The FastAPI app: predict, feedback, health, schema, metrics and the cloud platforms' routes.

Handlers parse the body themselves (orjson, then the contract's precompiled validator)
instead of a pydantic model per request, and answer with orjson: the request path holds
no DataFrame and no per-request model building.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, Query
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import Response

from charter.server._config import ServerConfig
from charter.server._holder import BundleSource, LedgerSource, ModelHolder, Served, time_to_deploy
from charter.server._http import (
    ASGIApp,
    BearerAuth,
    JSONBody,
    MetricsMiddleware,
    Receive,
    Scope,
    Send,
    error_response,
    read_asgi_body,
    read_body,
)
from charter.server._metrics import CONTENT_TYPE, ServerMetrics
from charter.server._protocols import FeedbackStore, PredictionLog
from charter.server._schemas import (
    ErrorBody,
    FeedbackOut,
    Health,
    InputSchema,
    Prediction,
    Predictions,
    Ready,
)
from charter.serving._requests import (
    Batch,
    FieldError,
    RequestRejected,
    check_label,
    compile_validator,
    parse_json,
)

logger = logging.getLogger("charter.server")

#: Batches larger than this are predicted in a worker thread, so the event loop stays free.
THREAD_BATCH = 256

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A malformed request."},
    401: {"model": ErrorBody, "description": "No bearer token, or a wrong one."},
    413: {
        "model": ErrorBody,
        "description": "Body over serve.max_body_bytes or batch over serve.max_batch.",
    },
    422: {
        "model": ErrorBody,
        "description": "Records that break the contract: every fault, located.",
    },
    503: {
        "model": ErrorBody,
        "description": "No model loaded yet, or the prediction log is failing.",
    },
}


def _not_ready() -> RequestRejected:
    return RequestRejected(
        [
            FieldError(
                ("server",), "The server must have a model loaded. Got none yet.", "not_ready"
            )
        ],
        status=503,
    )


class _State:
    """What the app holds between requests: the model, the log, the feedback, the metrics."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.charter = config.charter
        self.limit = config.charter.serve.max_body_bytes
        self.auth = BearerAuth(config.token)
        self.metrics = ServerMetrics()
        self.holder: ModelHolder | None = None
        self.log: PredictionLog | None = None
        self.feedback: FeedbackStore | None = None
        self.ledger: Any = None
        self.own_ledger = False
        self.deployment_id: int | None = None
        self.poller: asyncio.Task[None] | None = None
        self.log_failures = 0
        self.durable = config.resolved_log_mode == "durable"
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        self.loop = asyncio.get_running_loop()
        source: LedgerSource | BundleSource
        if config.ledger is not None and not isinstance(config.ledger, str):
            self.ledger = config.ledger
        elif config.bundle is None or isinstance(config.ledger, str):
            from charter.ledger import open_ledger

            url = config.ledger if isinstance(config.ledger, str) else None
            self.ledger = await asyncio.to_thread(open_ledger, config.charter_dir, url, reap=False)
            self.own_ledger = True
        if config.bundle is not None:
            source = BundleSource(config.bundle)
        else:
            source = LedgerSource(self.ledger, config.project, config.alias, config.version)
        self.holder = ModelHolder(config, source, after_switch=self.switched)
        served = await self.holder.start()
        self.metrics.set_model(served.version, served.candidate, served.predictor.kind)
        folder = config.resolved_log_dir
        folder.mkdir(parents=True, exist_ok=True)
        log, self.feedback = await asyncio.to_thread(self._open_stores, folder)
        self.log = log
        self.metrics.watch_log(log.stats)
        if self.ledger is not None and config.record_deployment:
            await asyncio.to_thread(self._record_deployment, served)
        if source.follows and config.poll_seconds is not None:
            self.poller = asyncio.create_task(self.holder.poll(config.poll_seconds))
        logger.info(
            "Serving %s version %s (%s predictor, %s log).",
            config.project,
            served.version,
            served.predictor.kind,
            config.resolved_log_mode,
        )

    def _open_stores(self, folder: Any) -> tuple[PredictionLog, FeedbackStore]:
        from charter.serving import FeedbackStore as Store
        from charter.serving import PredictionLog as Log

        config = self.config
        log: PredictionLog
        real: Log | None = None
        if config.log_factory is not None:
            log = config.log_factory(folder, config.resolved_log_mode)
        else:
            log = real = Log(folder, mode=config.resolved_log_mode)
        if config.feedback_factory is not None:
            return log, config.feedback_factory(folder, log)
        # The log tells the store about ids it has not indexed yet (fresh predictions).
        return log, Store(folder, log=real)

    def _record_deployment(self, served: Served) -> None:
        config = self.config
        try:
            details = {
                "style": config.style,
                "alias": config.alias if config.version is None else None,
                "predictor": served.predictor.kind,
                "log_mode": config.resolved_log_mode,
                "pid": os.getpid(),
                "time_to_deploy_seconds": time_to_deploy(self.ledger, config.project),
            }
            deployment = self.ledger.record_deployment(
                config.project,
                served.version,
                config.host or socket.gethostname(),
                config.port,
                details,
            )
            self.deployment_id = deployment.id
        except Exception as exc:
            logger.warning("The deployment could not be recorded in the ledger: %s", exc)

    async def switched(self, previous: Served | None, served: Served) -> None:
        """After a switch: metrics now, then the ledger (event and deployment) off the loop."""
        self.metrics.set_model(served.version, served.candidate, served.predictor.kind)
        self.metrics.switches.inc()
        old = previous.version if previous is not None else None
        logger.info("Switched from version %s to %s.", old, served.version)
        if self.ledger is None:
            return
        await asyncio.to_thread(self._record_switch, old, served)

    def _record_switch(self, old: int | None, served: Served) -> None:
        config = self.config
        try:
            self.ledger.record_event(
                config.project,
                "server.switch",
                f"The server switched from model version {old} to {served.version} without "
                "downtime.",
                {
                    "from": old,
                    "to": served.version,
                    "alias": config.alias,
                    "predictor": served.predictor.kind,
                    "pid": os.getpid(),
                },
            )
            if config.record_deployment:
                if self.deployment_id is not None:
                    self.ledger.stop_deployment(self.deployment_id)
                self._record_deployment(served)
        except Exception as exc:
            logger.warning("The switch could not be recorded in the ledger: %s", exc)

    async def stop(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
            with suppress(asyncio.CancelledError):
                await self.poller
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
        close = getattr(self.feedback, "close", None)
        if callable(close):
            await asyncio.to_thread(close)
        if self.ledger is not None:
            if self.deployment_id is not None:
                try:
                    await asyncio.to_thread(self.ledger.stop_deployment, self.deployment_id)
                except Exception as exc:
                    logger.warning("The deployment stop could not be recorded: %s", exc)
            if self.own_ledger:
                self.ledger.close()

    # -- predictions ----------------------------------------------------------------------

    def served(self) -> Served:
        holder = self.holder
        served = holder.current if holder is not None else None
        if served is None:
            raise _not_ready()
        return served

    async def predict(
        self, served: Served, batch: Batch, explain: bool, started: float
    ) -> list[dict[str, Any]]:
        """Predict, log (awaiting the disk in durable mode) and return one dict per record."""
        try:
            if len(batch.records) > THREAD_BATCH:
                answers, logged = await asyncio.to_thread(
                    self._answer, served, batch, explain, started
                )
            else:
                answers, logged = self._answer(served, batch, explain, started)
        except RequestRejected:
            raise
        except Exception as exc:
            self._log_error(served, batch, exc, started)
            raise
        log = self.log
        if log is None:
            raise _not_ready()
        try:
            future = log.submit(logged)
        except Exception as exc:
            raise self._log_failed(exc) from None
        # Durable: wait for the fsync. Fast: the future is already done unless the log's
        # backlog is full, and then waiting is the backpressure that bounds its memory.
        if self.durable or not future.done() or future.exception() is not None:
            try:
                await asyncio.wrap_future(future)
            except Exception as exc:
                raise self._log_failed(exc) from None
        return answers

    def _log_error(self, served: Served, batch: Batch, exc: BaseException, started: float) -> None:
        """Log a request the model failed on, so the monitor's error rate counts it.

        One record per failed request, with its first input and the error's type and
        message; the answer is still the 500 the failure causes. Never raises: a log that
        cannot take the record must not hide the model's error.
        """
        log = self.log
        if log is None:
            return
        record = {
            "prediction_id": uuid.uuid4().hex,
            "time": datetime.now(timezone.utc).isoformat(),
            "model_version": str(served.version),
            "input": batch.inputs[0] if batch.inputs else {},
            "output": {"error": f"{type(exc).__name__}: {exc}"[:500]},
            "latency_ms": (time.perf_counter() - started) * 1000.0,
            "records": len(batch.records),
        }
        try:
            log.submit([record])
        except Exception as failure:
            logger.error("The failed prediction could not be logged: %s", failure)

    def _log_failed(self, exc: BaseException) -> RequestRejected:
        self.log_failures += 1
        logger.error("The prediction log failed: %s", exc)
        return RequestRejected(
            [
                FieldError(
                    ("log",),
                    "The prediction must be logged before it is answered. Got a log failure "
                    "instead; try again.",
                    "log_unavailable",
                )
            ],
            status=503,
        )

    def _answer(
        self, served: Served, batch: Batch, explain: bool, started: float
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        records = batch.records
        # Extreme but valid inputs saturate a model (exp overflows to a probability of 0
        # or 1): expected, so not warned about; non-finite outputs are refused below.
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            output = served.predictor.predict_records(records)
            contributions = served.predictor.explain_records(records) if explain else None
        version = served.version
        version_text = str(version)
        now = time.time()
        stamp = datetime.fromtimestamp(now, timezone.utc).isoformat()
        answers: list[dict[str, Any]] = []
        logged: list[dict[str, Any]] = []
        ids = batch.ids
        inputs = batch.inputs
        if served.is_classifier:
            labels = _plain(output.labels)
            probabilities = _plain(output.probabilities)
            keys = served.class_keys
            _check_finite([math.fsum(row) for row in probabilities])
            self.metrics.count_predictions(version, labels)
        else:
            labels = _plain(output.values)
            probabilities = None
            _check_finite(labels)
            self.metrics.observe_values(version, labels)
        latency_ms = (time.perf_counter() - started) * 1000.0
        for index, label in enumerate(labels):
            prediction_id = uuid.uuid4().hex
            answer: dict[str, Any] = {
                "prediction": label,
                "prediction_id": prediction_id,
                "model_version": version,
            }
            if probabilities is not None:
                answer["probabilities"] = dict(zip(keys, probabilities[index], strict=True))
            if ids[index] is not None:
                answer["id"] = ids[index]
            if explain:
                answer["contributions"] = (
                    contributions[index] if contributions is not None else None
                )
            answers.append(answer)
            result = {"prediction": label}
            if probabilities is not None:
                result["probabilities"] = answer["probabilities"]
            logged.append(
                {
                    "prediction_id": prediction_id,
                    "time": stamp,
                    "model_version": version_text,
                    "input": inputs[index],
                    "output": result,
                    "latency_ms": latency_ms,
                }
            )
        return answers, logged

    async def predict_body(
        self, request: Request, explain: bool = False
    ) -> tuple[Batch, list[dict[str, Any]]]:
        started = time.perf_counter()
        body = await read_body(request, self.limit)
        served = self.served()
        batch = served.validator.validate(parse_json(body))
        return batch, await self.predict(served, batch, explain, started)

    async def fast_predict(self, scope: Scope, receive: Receive) -> Response:
        """POST /predict straight from ASGI: the same checks and answer as the route."""
        started = time.perf_counter()
        authorization = declared = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        denied = self.auth.check_header(authorization)
        if denied is not None:
            return denied
        try:
            body = await read_asgi_body(receive, declared, self.limit)
            served = self.served()
            batch = served.validator.validate(parse_json(body))
            answers = await self.predict(served, batch, False, started)
        except RequestRejected as exc:
            return error_response(exc.detail(), exc.status)
        return JSONBody(answers[0] if batch.single else answers)

    # -- feedback -------------------------------------------------------------------------

    async def feedback_body(self, request: Request) -> Response:
        body = await read_body(request, self.limit)
        payload = parse_json(body)
        served = self.served()
        single = isinstance(payload, dict)
        items = [payload] if single else payload
        if not isinstance(items, list) or not items:
            raise RequestRejected(
                [
                    FieldError(
                        ("body",),
                        "The feedback must be an object {prediction_id, label} or a non-empty "
                        f"list of them. Got {type(payload).__name__ if items else 'an empty list'} "
                        "instead.",
                        "body_type",
                    )
                ]
            )
        limit = self.charter.serve.max_batch
        if len(items) > limit:
            raise RequestRejected(
                [
                    FieldError(
                        ("body",),
                        f"The feedback must hold at most {limit} items (serve.max_batch). "
                        f"Got {len(items)} instead.",
                        "too_many_records",
                    )
                ],
                status=413,
            )
        pairs, errors = _feedback_items(items, served)
        if errors:
            raise RequestRejected(errors)
        store = self.feedback
        if store is None:
            raise _not_ready()
        outcomes = await asyncio.to_thread(_record_feedback, store, pairs)
        for outcome in outcomes:
            self.metrics.feedback.labels(outcome).inc()
        results = [
            {"prediction_id": pid, "status": outcome}
            for (pid, _), outcome in zip(pairs, outcomes, strict=True)
        ]
        refused = [i for i, o in enumerate(outcomes) if o == "refused"]
        if refused:
            raise RequestRejected(
                [
                    FieldError(
                        (i, "label"),
                        f"The 'label' of feedback {i} must be one of the target's classes. "
                        "Got another value instead.",
                        "label_not_allowed",
                    )
                    for i in refused
                ]
            )
        conflicts = [i for i, o in enumerate(outcomes) if o == "conflict"]
        unknown = [i for i, o in enumerate(outcomes) if o == "unknown"]
        if conflicts:
            return error_response(
                [
                    {
                        "loc": [i, "label"],
                        "msg": f"The 'label' of feedback {i} must match the label already recorded "
                        f"for prediction '{pairs[i][0]}'. Got a different label instead.",
                        "type": "conflict",
                    }
                    for i in conflicts
                ],
                409,
                results=results,
            )
        if unknown:
            return error_response(
                [
                    {
                        "loc": [i, "prediction_id"],
                        "msg": f"The 'prediction_id' of feedback {i} must name a logged "
                        f"prediction. Got '{pairs[i][0]}', which is unknown, instead.",
                        "type": "unknown_prediction",
                    }
                    for i in unknown
                ],
                404,
                results=results,
            )
        return JSONBody(results[0] if single else results)


def _feedback_items(
    items: Sequence[Any], served: Served
) -> tuple[list[tuple[str, Any]], list[FieldError]]:
    pairs: list[tuple[str, Any]] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(
                FieldError(
                    (index,),
                    f"The feedback {index} must be an object {{prediction_id, label}}.",
                    "record_type",
                )
            )
            continue
        pid = item.get("prediction_id")
        if not isinstance(pid, str) or not 0 < len(pid) <= 200:
            errors.append(
                FieldError(
                    (index, "prediction_id"),
                    f"The 'prediction_id' of feedback {index} must be the text a prediction "
                    "answered with. Got "
                    + ("nothing" if pid is None else type(pid).__name__)
                    + " instead.",
                    "missing" if pid is None else "string_type",
                )
            )
        if "label" not in item:
            errors.append(
                FieldError(
                    (index, "label"),
                    f"The 'label' of feedback {index} is required. Got nothing instead.",
                    "missing",
                )
            )
        else:
            try:
                label = check_label(item["label"], served.task, served.classes, (index, "label"))
            except RequestRejected as rejected:
                errors.extend(rejected.errors)
                label = None
        for name in item:
            if name not in ("prediction_id", "label"):
                errors.append(
                    FieldError(
                        (index, name),
                        f"The field '{name}' of feedback {index} must be prediction_id or label. "
                        "Got an unknown field instead.",
                        "extra_forbidden",
                    )
                )
        if isinstance(pid, str) and "label" in item:
            pairs.append((pid, label))
    return pairs, errors


def _check_finite(values: Sequence[float]) -> None:
    """Refuse records whose prediction is not a finite number (inputs beyond the model)."""
    bad = [index for index, value in enumerate(values) if not math.isfinite(value)]
    if bad:
        raise RequestRejected(
            [
                FieldError(
                    (index,),
                    f"The record {index} must hold values the model can score. Got values so "
                    "extreme that its prediction is not a finite number instead.",
                    "unscorable",
                )
                for index in bad
            ]
        )


def _record_feedback(store: FeedbackStore, pairs: list[tuple[str, Any]]) -> list[str]:
    many = getattr(store, "record_many", None)
    if callable(many):
        return list(many(pairs))  # one transaction for the whole list
    return [store.record(pid, label) for pid, label in pairs]


def _plain(values: Any) -> Any:
    if values is None:
        return None
    tolist = getattr(values, "tolist", None)
    return tolist() if callable(tolist) else list(values)


# --- the app ------------------------------------------------------------------------------


def create_app(config: ServerConfig) -> FastAPI:
    """The prediction service for `config`; the model loads when the app starts (lifespan).

    Routes: POST /predict, POST /feedback, GET /health, /ready, /schema, /metrics, /docs;
    the cloud routes GET /ping and POST /invocations (SageMaker), POST /score (Azure ML);
    with style "vertex", the health and predict routes AIP_HEALTH_ROUTE and
    AIP_PREDICT_ROUTE name. With a token, /predict, /feedback, /invocations, /score and
    the Vertex predict route need `Authorization: Bearer <token>`; the rest stay open.
    """
    state = _State(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await state.start()
        except BaseException:
            await state.stop()  # release what started before the failure
            raise
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title=f"charter: {config.project}",
        version="1",
        description=_description(config),
        lifespan=lifespan,
        default_response_class=JSONBody,
        # FastAPI's own /docs and /redoc load their scripts from a CDN: a server without
        # internet access would show a blank page. /docs is served from the package below.
        docs_url=None,
        redoc_url=None,
    )
    app.state.charter = state
    _install_docs(app)

    @app.exception_handler(RequestRejected)
    async def rejected(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestRejected)
        return error_response(exc.detail(), exc.status)

    vertex_health, vertex_predict = (None, None)
    if config.style == "vertex":
        vertex_health, vertex_predict = config.vertex_routes()

    protected = ["/predict", "/feedback", "/invocations", "/score"]
    if vertex_predict is not None:
        protected.append(vertex_predict)
    body_routes: dict[str, str] = {}

    if vertex_predict is not None:

        async def vertex(request: Request) -> Response:
            denied = state.auth.check(request)
            if denied is not None:
                return denied
            started = time.perf_counter()
            body = await read_body(request, state.limit)
            served = state.served()
            payload = parse_json(body)
            instances, explain = _vertex_instances(payload)
            batch = served.validator.validate_records(instances)
            return JSONBody({"predictions": await state.predict(served, batch, explain, started)})

        app.add_api_route(
            vertex_predict,
            vertex,
            methods=["POST"],
            response_model=Predictions,
            responses=_ERRORS,
            summary="Vertex AI: {instances: [...]} in, {predictions: [...]} out",
            tags=["cloud"],
        )
        body_routes[vertex_predict] = "vertex"

    if vertex_predict != "/predict":

        @app.post(
            "/predict",
            response_model=Prediction | list[Prediction],
            responses=_ERRORS,
            summary="Predict one record or a list of records",
            tags=["predictions"],
        )
        async def predict(
            request: Request,
            explain: bool = Query(False, description="Add per-feature contributions."),
        ) -> Response:
            """One record (an object) or a list of them; the answer has the same shape.

            Each answer carries the prediction, class probabilities (classification), a
            prediction_id for feedback and the model version. Every answered prediction
            is logged before (durable) or as (fast) it is answered.
            """
            denied = state.auth.check(request)
            if denied is not None:
                return denied
            batch, answers = await state.predict_body(request, explain)
            return JSONBody(answers[0] if batch.single else answers)

        body_routes["/predict"] = "predict"

    @app.post(
        "/feedback",
        response_model=FeedbackOut | list[FeedbackOut],
        responses={
            **_ERRORS,
            404: {"model": ErrorBody, "description": "An unknown prediction_id."},
            409: {"model": ErrorBody, "description": "A label that contradicts the recorded one."},
        },
        summary="The true label of answered predictions",
        tags=["predictions"],
    )
    async def feedback(request: Request) -> Response:
        """{prediction_id, label} or a list of them; posting the same label twice counts once."""
        denied = state.auth.check(request)
        if denied is not None:
            return denied
        return await state.feedback_body(request)

    body_routes["/feedback"] = "feedback"

    if vertex_health != "/health":

        @app.get("/health", response_model=Health, summary="Liveness", tags=["operations"])
        async def health() -> Response:
            return JSONBody({"status": "ok"})

    if vertex_health is not None:

        async def vertex_ready() -> Response:
            return _ready(state)

        app.add_api_route(
            vertex_health,
            vertex_ready,
            methods=["GET"],
            response_model=Ready,
            responses={503: {"model": Ready}},
            summary="Vertex AI health: 200 once the model is loaded",
            tags=["cloud"],
        )

    @app.get(
        "/ready",
        response_model=Ready,
        responses={503: {"model": Ready, "description": "Not ready."}},
        summary="Readiness: model loaded and log writable",
        tags=["operations"],
    )
    async def ready() -> Response:
        return _ready(state)

    @app.get(
        "/schema", response_model=InputSchema, summary="The input contract", tags=["operations"]
    )
    async def schema() -> Response:
        holder = state.holder
        served = holder.current if holder is not None else None
        validator = served.validator if served is not None else compile_validator(config.charter)
        return JSONBody(
            {
                "project": config.project,
                "model_version": served.version if served is not None else None,
                "task": config.charter.objective.task,
                "target": config.charter.objective.target,
                "classes": list(served.classes) if served is not None else [],
                "max_body_bytes": state.limit,
                **validator.describe(),
            }
        )

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics",
        tags=["operations"],
    )
    async def metrics() -> Response:
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)

    # -- cloud: SageMaker and Azure ML --------------------------------------------------

    @app.get(
        "/ping",
        response_model=Ready,
        responses={503: {"model": Ready}},
        summary="SageMaker health",
        tags=["cloud"],
    )
    async def ping() -> Response:
        return _ready(state)

    @app.post(
        "/invocations",
        response_model=Predictions,
        responses={**_ERRORS, 415: {"model": ErrorBody, "description": "Neither JSON nor CSV."}},
        summary="SageMaker: JSON (a record, a list, {instances}) or CSV rows in feature order",
        tags=["cloud"],
    )
    async def invocations(request: Request) -> Response:
        """JSON records, or text/csv rows without a header, one cell per feature in the
        order GET /schema's `csv_columns` lists. Answers {predictions: [...]}, or with
        `Accept: text/csv` one line per record: the prediction, then the probabilities."""
        denied = state.auth.check(request)
        if denied is not None:
            return denied
        started = time.perf_counter()
        body = await read_body(request, state.limit)
        served = state.served()
        media = (
            request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        )
        if media in ("text/csv", "application/csv"):
            try:
                text = body.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise RequestRejected(
                    [FieldError(("body",), "The CSV body must be UTF-8 text.", "csv_invalid")]
                ) from None
            rows = served.validator.parse_csv(text)
            batch = served.validator.validate_records(rows)
        elif media in ("application/json", "") or media.endswith("+json"):
            payload = parse_json(body)
            if isinstance(payload, dict) and "instances" in payload and len(payload) <= 2:
                instances = payload["instances"]
                if not isinstance(instances, list):
                    raise RequestRejected(
                        [
                            FieldError(
                                ("body", "instances"),
                                "The 'instances' must be a list.",
                                "body_type",
                            )
                        ]
                    )
                batch = served.validator.validate_records(instances)
            else:
                batch = served.validator.validate(payload)
        else:
            return error_response(
                [
                    {
                        "loc": ["header", "content-type"],
                        "msg": "The Content-Type of /invocations must be application/json or "
                        f"text/csv. Got {media!r} instead.",
                        "type": "unsupported_media_type",
                    }
                ],
                415,
            )
        answers = await state.predict(served, batch, False, started)
        if request.headers.get("accept", "").lower().startswith("text/csv"):
            return Response(_csv_answers(answers, served), media_type="text/csv")
        return JSONBody({"predictions": answers})

    body_routes["/invocations"] = "invocations"

    @app.post(
        "/score",
        response_model=Predictions,
        responses=_ERRORS,
        summary="Azure ML: a record, a list, or {data: [...]}",
        tags=["cloud"],
    )
    async def score(request: Request) -> Response:
        denied = state.auth.check(request)
        if denied is not None:
            return denied
        started = time.perf_counter()
        body = await read_body(request, state.limit)
        served = state.served()
        payload = parse_json(body)
        if (
            isinstance(payload, dict)
            and len(payload) == 1
            and isinstance(payload.get("data"), list)
        ):
            batch = served.validator.validate_records(payload["data"])
        else:
            batch = served.validator.validate(payload)
        return JSONBody({"predictions": await state.predict(served, batch, False, started)})

    body_routes["/score"] = "score"

    paths = {route.path for route in app.routes if hasattr(route, "path")}
    if "/predict" in body_routes and body_routes["/predict"] == "predict":
        app.add_middleware(PredictFastPath, state=state)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics, paths=frozenset(paths))
    _install_openapi(app, state, body_routes, protected)
    return app


class PredictFastPath:
    """Answers `POST /predict` (without a query) before the framework's routing and
    dependency solving, which cost more than the prediction itself; the route stays for
    the OpenAPI document and for requests with a query (?explain=true)."""

    def __init__(self, app: ASGIApp, state: _State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/predict"
            and scope["method"] == "POST"
            and not scope.get("query_string")
        ):
            response = await self.state.fast_predict(scope, receive)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


#: The Swagger UI files served under /docs/static/ (vendored from swagger-ui-dist, with its
#: LICENSE and NOTICE beside them), and their media types.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_DOCS_STATIC = "/docs/static"


@functools.cache
def _docs_asset(name: str) -> bytes:
    """One vendored Swagger UI file, read from the package once."""
    return (resources.files("charter.server") / "static" / "swagger-ui" / name).read_bytes()


def _install_docs(app: FastAPI) -> None:
    """GET /docs: Swagger UI for the app's OpenAPI document, every file from this server.

    Open without a token, like /openapi.json: it shows what the routes accept, not data.
    """

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        # Behind a proxy that mounts the app under a prefix, the page's URLs need it too.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        static = root + _DOCS_STATIC
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title}: API",
            swagger_js_url=f"{static}/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui.css",
            swagger_favicon_url=f"{static}/favicon-32x32.png",
            # Swagger UI's default sends the document to an online validator for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(_DOCS_STATIC + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media_type = DOCS_ASSETS.get(name)
        if media_type is None:
            return error_response(
                [
                    {
                        "loc": ["path", "name"],
                        "msg": "The 'name' of a docs asset must be one of "
                        f"{', '.join(sorted(DOCS_ASSETS))}. Got {name[:80]!r} instead.",
                        "type": "not_found",
                    }
                ],
                404,
            )
        body = await asyncio.to_thread(_docs_asset, name)
        return Response(
            body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )


def _ready(state: _State) -> Response:
    holder = state.holder
    served = holder.current if holder is not None else None
    reasons = []
    if served is None:
        reasons.append("no model loaded")
    folder = state.config.resolved_log_dir
    if state.log is None or getattr(state.log, "closed", False) or not os.access(folder, os.W_OK):
        reasons.append(f"the prediction log at {folder.name} is not writable")
    body = {
        "status": "not ready" if reasons else "ready",
        "model_version": served.version if served is not None else None,
        "predictor": served.predictor.kind if served is not None else None,
        "reasons": reasons,
    }
    return JSONBody(body, status_code=503 if reasons else 200)


def _vertex_instances(payload: Any) -> tuple[list[Any], bool]:
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        raise RequestRejected(
            [
                FieldError(
                    ("body", "instances"),
                    'The Vertex AI request must be an object {"instances": [...]}. '
                    "Got another shape instead.",
                    "body_type",
                )
            ]
        )
    extra = [key for key in payload if key not in ("instances", "parameters")]
    if extra:
        raise RequestRejected(
            [
                FieldError(
                    ("body", key),
                    f"The field '{key}' must be instances or parameters.",
                    "extra_forbidden",
                )
                for key in extra
            ]
        )
    parameters = payload.get("parameters")
    explain = isinstance(parameters, dict) and parameters.get("explain") is True
    return payload["instances"], explain


def _csv_answers(answers: list[dict[str, Any]], served: Served) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for answer in answers:
        row = [answer["prediction"]]
        probabilities = answer.get("probabilities")
        if probabilities is not None:
            row.extend(probabilities[key] for key in served.class_keys)
        writer.writerow(row)
    return out.getvalue()


def _description(config: ServerConfig) -> str:
    auth = (
        "A bearer token is required on the prediction and feedback routes "
        "(`Authorization: Bearer <token>`); /health, /ready, /ping, /metrics, /schema and "
        "/docs stay open."
        if config.token is not None
        else "No token is configured: every route is open."
    )
    return (
        f"Predictions of project **{config.project}** "
        f"({config.charter.objective.task} of `{config.charter.objective.target}`), checked "
        f"against the charter's data contract. {auth} Errors have one shape: "
        '`{"detail": [{"loc": [record, field], "msg": ..., "type": ...}]}`.'
    )


def _install_openapi(
    app: FastAPI, state: _State, body_routes: dict[str, str], protected: list[str]
) -> None:
    """The OpenAPI document, with the request bodies drawn from the served model's contract."""
    cache: dict[Any, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        holder = state.holder
        served = holder.current if holder is not None else None
        key = served.version if served is not None else None
        if key in cache:
            return cache[key]
        validator = served.validator if served is not None else compile_validator(state.charter)
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        record = validator.record_schema()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components["Record"] = record
        ref = {"$ref": "#/components/schemas/Record"}
        limit = validator.max_batch
        batch = {"type": "array", "items": ref, "minItems": 1, "maxItems": limit}
        row = {
            "type": "array",
            "description": "The features in the order GET /schema lists them.",
            "minItems": len(validator.features),
            "maxItems": len(validator.features),
        }
        label: dict[str, Any] = (
            {"type": "number"}
            if served is not None and not served.is_classifier
            else {"enum": list(served.classes)}
            if served is not None
            else {}
        )
        feedback_item = {
            "type": "object",
            "properties": {
                "prediction_id": {"type": "string", "minLength": 1, "maxLength": 200},
                "label": label,
            },
            "required": ["prediction_id", "label"],
            "additionalProperties": False,
        }
        bodies: dict[str, dict[str, Any]] = {
            "predict": {"application/json": {"schema": {"anyOf": [ref, batch]}}},
            "feedback": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            feedback_item,
                            {
                                "type": "array",
                                "items": feedback_item,
                                "minItems": 1,
                                "maxItems": limit,
                            },
                        ]
                    }
                }
            },
            "invocations": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            ref,
                            batch,
                            {
                                "type": "object",
                                "properties": {"instances": batch},
                                "required": ["instances"],
                                "additionalProperties": False,
                            },
                        ]
                    }
                },
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "Rows without a header; one cell per feature, in the "
                        "order GET /schema's csv_columns lists.",
                    }
                },
            },
            "score": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            ref,
                            batch,
                            {
                                "type": "object",
                                "properties": {"data": batch},
                                "required": ["data"],
                                "additionalProperties": False,
                            },
                        ]
                    }
                }
            },
            "vertex": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "instances": {
                                "type": "array",
                                "items": {"anyOf": [ref, row]},
                                "minItems": 1,
                                "maxItems": limit,
                            },
                            "parameters": {"type": "object"},
                        },
                        "required": ["instances"],
                        "additionalProperties": False,
                    }
                }
            },
        }
        for path, name in body_routes.items():
            operation = document["paths"][path]["post"]
            operation["requestBody"] = {"required": True, "content": bodies[name]}
        if state.auth.enabled:
            document["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            for path in protected:
                if path in document["paths"]:
                    document["paths"][path]["post"]["security"] = [{"bearer": []}]
        cache.clear()
        cache[key] = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
