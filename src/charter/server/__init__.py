"""The prediction service: a FastAPI app serving a project's model, and its container package.

    config = ServerConfig(charter=loaded.charter, charter_dir=loaded.base_dir, token=token)
    app = create_app(config)            # the model loads when the app starts
    serve(ServeOptions(charter="charter.yaml", port=8000))       # uvicorn, foreground
    write_package(charter_dir, "image/", style="sagemaker")      # Dockerfile + entrypoint

Routes: POST /predict and /feedback; GET /health, /ready, /schema, /metrics, /docs; the
cloud routes GET /ping, POST /invocations (SageMaker: JSON or headerless CSV), POST /score
(Azure ML), and Vertex AI's AIP_HEALTH_ROUTE / AIP_PREDICT_ROUTE with style "vertex".
When the charter names `serve.token_env`, the prediction and feedback routes need
`Authorization: Bearer <token>`; /health, /ready, /ping, /metrics, /schema and /docs
stay open so that probes and scrapers work without it. The server follows its alias:
when `champion` moves, it loads the new version in the background and switches
between two requests, recording a "server.switch" event.

The `charter ui` dashboard is a separate, read-only app over the ledger:

    app = create_dashboard("charter.yaml", token=None)          # pages, /api/..., CSV
    run_dashboard(DashboardOptions(charter="charter.yaml"))     # 127.0.0.1:8765
"""

from charter.server._app import create_app
from charter.server._config import STYLES, ServerConfig, Style, default_port
from charter.server._dashboard import DashboardOptions, create_dashboard, run_dashboard
from charter.server._holder import ModelHolder, Served
from charter.server._package import write_package
from charter.server._run import ServeOptions, build_config, read_token, serve

__all__ = [
    "STYLES",
    "DashboardOptions",
    "ModelHolder",
    "ServeOptions",
    "Served",
    "ServerConfig",
    "Style",
    "build_config",
    "create_app",
    "create_dashboard",
    "default_port",
    "read_token",
    "run_dashboard",
    "serve",
    "write_package",
]
