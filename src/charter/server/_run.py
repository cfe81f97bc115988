"""Running the app on uvicorn: options from a command line (or the environment) to a server."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from charter.errors import CharterError
from charter.server._config import STYLES, ServerConfig, Style, default_port
from charter.spec.schema import Charter

#: For `workers > 1`: each worker process rebuilds its app from these options (JSON).
OPTIONS_ENV = "CHARTER_SERVER_OPTIONS"


@dataclass(frozen=True)
class ServeOptions:
    """What `charter serve` (or `python -m charter.server`) was asked, before any loading.

    `charter` is the charter file (or its folder). `port` None means the style's port:
    Vertex's AIP_HTTP_PORT, 8080 for SageMaker and Vertex, 5001 for Azure ML, else
    `serve.port`; `host` None means `serve.host` (loopback by default).
    """

    charter: str
    alias: str | None = "champion"
    version: int | None = None
    bundle: str | None = None
    style: Style = "default"
    host: str | None = None
    port: int | None = None
    workers: int | None = None
    log_mode: Literal["durable", "fast"] | None = None
    log_dir: str | None = None
    ledger_url: str | None = None
    poll_seconds: float | None = 5.0
    access_log: bool = False
    log_level: str = "info"


def read_token(env_name: str | None) -> str | None:
    """The bearer token from the environment variable the charter names (None: no auth).

    A charter that names a variable which is unset or empty stops the server: serving
    without the token it asked for would leave the routes open.
    """
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if value is None or not value.strip():
        raise CharterError(
            f"The environment variable {env_name} (serve.token_env) must hold the bearer token. "
            "Got nothing instead; set it, or remove serve.token_env to serve without a token."
        )
    return value.strip()


def build_config(options: ServeOptions) -> ServerConfig:
    """The ServerConfig for `options`: loads the charter and reads the token."""
    from charter.spec import find_charter, load_charter

    if options.style not in STYLES:
        raise CharterError(
            f"The '--style' must be one of {', '.join(STYLES)}. Got {options.style!r} instead."
        )
    path = find_charter(options.charter)
    if options.bundle:
        # A packaged image carries the charter without its data: skip the data-file check.
        charter, base_dir = _charter_without_data(path), path.parent
    else:
        loaded = load_charter(path)
        charter, base_dir = loaded.charter, loaded.base_dir
    host = options.host or charter.serve.host
    port = options.port or default_port(charter, options.style)
    return ServerConfig(
        charter=charter,
        charter_dir=base_dir,
        ledger=options.ledger_url,
        alias=None if options.version is not None else options.alias,
        version=options.version,
        bundle=Path(options.bundle) if options.bundle else None,
        log_dir=Path(options.log_dir) if options.log_dir else None,
        log_mode=options.log_mode,
        token=read_token(charter.serve.token_env),
        style=options.style,
        poll_seconds=options.poll_seconds,
        host=host,
        port=port,
    )


def _charter_without_data(path: Path) -> Charter:
    from charter.errors import Problem, SpecError
    from charter.spec import validate_text

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SpecError([Problem(str(path), 1, 1, "", f"Cannot read {path}: {exc}.")]) from None
    charter, problems = validate_text(text, str(path), None)
    if problems or charter is None:
        raise SpecError(problems)
    return charter


def app_from_env() -> Any:
    """The app of one worker process, rebuilt from $CHARTER_SERVER_OPTIONS (uvicorn factory)."""
    from charter.server._app import create_app

    raw = os.environ.get(OPTIONS_ENV)
    if not raw:
        raise CharterError(f"The environment variable {OPTIONS_ENV} must hold the server options.")
    return create_app(build_config(ServeOptions(**json.loads(raw))))


def serve(options: ServeOptions) -> None:
    """Run the server in the foreground until SIGINT/SIGTERM (which flush the log).

    The charter, token and model version are checked before uvicorn starts, so a
    mistake is one clean CharterError rather than a traceback from a worker.
    """
    import uvicorn

    from charter.server._app import create_app

    config = build_config(options)
    _check_target(config)
    workers = options.workers or config.charter.serve.workers
    common: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "access_log": options.access_log,
        "log_level": options.log_level,
        "server_header": False,
        "timeout_graceful_shutdown": 30,
    }
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        os.environ[OPTIONS_ENV] = json.dumps(asdict(options))
        settings = uvicorn.Config(
            "charter.server._run:app_from_env", factory=True, workers=workers, **common
        )
        sock = settings.bind_socket()
        # The workers' copies of this socket lose TCP_NODELAY, and an answer goes out in
        # two writes (head, body): Nagle's algorithm and delayed ACKs would hold each one
        # ~40 ms. Connections accepted on a listening socket inherit the option.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Listen now: connections made while the workers start wait instead of failing.
        sock.listen(settings.backlog)
        Multiprocess(settings, sockets=[sock]).run()
        return
    uvicorn.run(create_app(config), **common)


def _check_target(config: ServerConfig) -> None:
    """Refuse early when there is nothing to serve (no alias, no version, no bundle)."""
    if config.bundle is not None:
        from charter.server._holder import BundleSource

        bundle = BundleSource(config.bundle)
        bundle.target()
        bundle.verify()
        return
    from charter.ledger import open_ledger
    from charter.server._holder import LedgerSource

    ledger_url = config.ledger if isinstance(config.ledger, str) else None
    with open_ledger(config.charter_dir, ledger_url, reap=False) as ledger:
        LedgerSource(ledger, config.project, config.alias, config.version).target()
