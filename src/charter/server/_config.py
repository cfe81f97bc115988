"""The server's configuration: what to serve, from where, where to log, and how it is reached."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from charter.errors import CharterError
from charter.spec.schema import Charter

if TYPE_CHECKING:
    from charter.ledger import Ledger
    from charter.modeling import FittedModel
    from charter.server._protocols import FeedbackStore, PredictionLog, Predictor

Style = Literal["default", "sagemaker", "vertex", "azure"]
STYLES: tuple[Style, ...] = ("default", "sagemaker", "vertex", "azure")
#: The port each cloud platform expects; the default style uses `serve.port`.
STYLE_PORTS: Mapping[str, int] = {"sagemaker": 8080, "vertex": 8080, "azure": 5001}
#: The routes Vertex AI names through the environment, and their defaults when unset.
VERTEX_HEALTH_ENV, VERTEX_PREDICT_ENV, VERTEX_PORT_ENV = (
    "AIP_HEALTH_ROUTE",
    "AIP_PREDICT_ROUTE",
    "AIP_HTTP_PORT",
)
VERTEX_DEFAULT_HEALTH, VERTEX_DEFAULT_PREDICT = "/health", "/vertex/predict"

PredictorFactory = Callable[["FittedModel", Any], "Predictor"]
LogFactory = Callable[[Path, str], "PredictionLog"]
FeedbackFactory = Callable[[Path, "PredictionLog"], "FeedbackStore"]


@dataclass(frozen=True)
class ServerConfig:
    """Everything `create_app` needs; no I/O happens until the app starts.

    Serve the model version named by `version`, else by `alias` (default champion; the
    server follows it when it moves), from the ledger (`ledger`: a `Ledger`, a URL, or
    None for the charter's own), or from a packaged `bundle` folder (no ledger needed).
    `token` is the bearer token's value (read by the caller from the environment variable
    `serve.token_env` names); it is never shown by repr. `log_dir` defaults to
    `<charter_dir>/.charter/serving/`, `log_mode` to `serve.log_mode`. `poll_seconds`
    is how often the alias is checked (None: never). `host` and `port` are only recorded
    with the deployment. The factories replace the default predictor, log and feedback
    store (tests and embedders).
    """

    charter: Charter
    charter_dir: Path
    ledger: Ledger | str | None = None
    alias: str | None = "champion"
    version: int | None = None
    bundle: Path | None = None
    log_dir: Path | None = None
    log_mode: Literal["durable", "fast"] | None = None
    token: str | None = field(default=None, repr=False)
    style: Style = "default"
    poll_seconds: float | None = 5.0
    host: str | None = None
    port: int | None = None
    record_deployment: bool = True
    vertex_health_route: str | None = None
    vertex_predict_route: str | None = None
    predictor_factory: PredictorFactory | None = field(default=None, repr=False)
    log_factory: LogFactory | None = field(default=None, repr=False)
    feedback_factory: FeedbackFactory | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise CharterError(
                f"The 'style' of the server must be one of {', '.join(STYLES)}. "
                f"Got {self.style!r} instead."
            )
        if self.version is None and self.alias is None and self.bundle is None:
            raise CharterError(
                "The server must be told what to serve: a version, an alias or a bundle. "
                "Got none of them instead."
            )
        if self.token is not None and not self.token.strip():
            raise CharterError(
                "The bearer token of the server must not be empty. Got an empty value instead; "
                "set the environment variable serve.token_env names, or unset it."
            )
        if self.poll_seconds is not None and self.poll_seconds <= 0:
            raise CharterError(
                f"The 'poll_seconds' of the server must be positive. Got {self.poll_seconds!r} "
                "instead."
            )

    def __repr__(self) -> str:
        shown = []
        for item in fields(self):
            if item.name in ("charter", "predictor_factory", "log_factory", "feedback_factory"):
                continue
            value = getattr(self, item.name)
            if item.name == "token":
                shown.append(f"token={'***' if value is not None else None}")
            elif item.name == "ledger" and value is not None and not isinstance(value, str):
                shown.append(f"ledger={value!r}")
            elif item.name == "ledger" and isinstance(value, str):
                shown.append("ledger=<url>")
            else:
                shown.append(f"{item.name}={value!r}")
        return f"ServerConfig(project={self.charter.project.name!r}, {', '.join(shown)})"

    @property
    def project(self) -> str:
        return self.charter.project.name

    @property
    def resolved_log_dir(self) -> Path:
        """Where the prediction log and the feedback live."""
        if self.log_dir is not None:
            return Path(self.log_dir)
        return Path(self.charter_dir) / ".charter" / "serving"

    @property
    def resolved_log_mode(self) -> Literal["durable", "fast"]:
        return self.log_mode or self.charter.serve.log_mode

    def vertex_routes(self, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
        """(health route, predict route) for Vertex AI: given, else from AIP_*, else defaults."""
        env = os.environ if environ is None else environ
        health = self.vertex_health_route or env.get(VERTEX_HEALTH_ENV) or VERTEX_DEFAULT_HEALTH
        predict = self.vertex_predict_route or env.get(VERTEX_PREDICT_ENV) or VERTEX_DEFAULT_PREDICT
        for name, route in (("health", health), ("predict", predict)):
            if not route.startswith("/"):
                raise CharterError(
                    f"The Vertex AI {name} route must be a path starting with '/'. "
                    f"Got {route!r} instead."
                )
        return health, predict


def default_port(charter: Charter, style: str, environ: Mapping[str, str] | None = None) -> int:
    """The port a style listens on: Vertex's AIP_HTTP_PORT, the platform's, or serve.port."""
    env = os.environ if environ is None else environ
    if style == "vertex" and env.get(VERTEX_PORT_ENV):
        raw = env[VERTEX_PORT_ENV]
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise CharterError(
                f"The environment variable {VERTEX_PORT_ENV} must be a port number. "
                f"Got {raw!r} instead."
            )
        return int(raw)
    return STYLE_PORTS.get(style, charter.serve.port)
