"""The `charter ui` dashboard: a read-only FastAPI app over one project's ledger.

Every page is rendered on the server from a fresh snapshot of the ledger; CSS comes from
the package, charts are inline SVG, so the dashboard works with no network. A project
without a ledger, or with one that cannot be read, gets a page that says so (and a line
in the log), never a traceback. With a token, every page and API route needs it: as
`Authorization: Bearer <token>`, or once as `?token=<token>`, which sets a cookie.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from charter.errors import CharterError, NotFoundError, SpecError

if TYPE_CHECKING:
    from charter.lifecycle import ProjectReader
    from charter.reporting import LedgerSnapshot

logger = logging.getLogger("charter.dashboard")

TOKEN_COOKIE = "charter_ui_token"
DEFAULT_PORT = 8765
DEFAULT_TOKEN_ENV = "CHARTER_UI_TOKEN"
_STATIC = {"report.css", "dashboard.css"}
_PAGE_ROUTES = {
    "/": "overview",
    "/runs": "runs",
    "/models": "models",
    "/monitoring": "monitoring",
    "/incidents": "incidents",
    "/risks": "risks",
    "/milestones": "milestones",
    "/charter": "charter",
}
_DOWNLOADS = ("kpis", "windows", "incidents", "runs", "risks", "milestones", "models", "revisions")
Clock = Callable[[], Any]


@dataclass(frozen=True)
class DashboardOptions:
    """What `charter ui` was asked: the charter, where to listen and the token's variable.

    The token itself is read from the environment variable `token_env` (never from the
    command line, where other users of the machine could read it); unset means no token.
    """

    charter: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token_env: str = DEFAULT_TOKEN_ENV
    ledger_url: str | None = None
    log_level: str = "info"


def _authorised(request: Request, token: str) -> tuple[bool, bool]:
    """(allowed, came from the query string): a bearer header, the cookie or ?token=."""
    header = request.headers.get("authorization", "")
    offered = [
        header[7:].strip() if header.lower().startswith("bearer ") else "",
        request.cookies.get(TOKEN_COOKIE, ""),
    ]
    query = request.query_params.get("token", "")
    if query and hmac.compare_digest(query.encode(), token.encode()):
        return True, True
    return any(o and hmac.compare_digest(o.encode(), token.encode()) for o in offered), False


def create_dashboard(
    charter_path: str | Path,
    *,
    token: str | None = None,
    ledger_url: str | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The dashboard app for the charter at `charter_path` (a file or its folder).

    `clock()` gives the moment pages are judged at (default: now, UTC). Nothing is read
    until the first request, so the app starts even when the project cannot be read.
    """
    from charter.lifecycle import ProjectReader
    from charter.spec import find_charter

    reader = ProjectReader(find_charter(Path(charter_path)), ledger_url)
    now = clock or _utc_now

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        reader.close()

    app = FastAPI(
        title="charter dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.reader = reader

    @app.middleware("http")
    async def require_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if token is None or request.url.path.startswith("/static/"):
            return await call_next(request)
        allowed, from_query = _authorised(request, token)
        if not allowed:
            logger.warning("dashboard: refused %s without a valid token", request.url.path)
            return _refused(request)
        if from_query and not request.url.path.startswith(("/api/", "/download/")):
            # Trade the token in the address bar for a cookie: it leaves the URL, the
            # history and any shared link at once.
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(query)}" if query else "")
            response: Response = RedirectResponse(target, status_code=303)
        else:
            response = await call_next(request)
        if from_query:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    def page(name: str, **extra: Any) -> Response:
        from charter.reporting import dashboard_context, render_dashboard_page

        def build() -> Response:
            loaded, snapshot = reader.snapshot()
            context = dashboard_context(name, loaded.charter, snapshot, now=now(), **extra)
            return HTMLResponse(render_dashboard_page(name, context))

        return _guarded(build, html=True)

    def not_found(message: str) -> Response:
        from charter.reporting import dashboard_context, render_dashboard_page

        def build() -> Response:
            loaded, snapshot = reader.snapshot()
            context = dashboard_context(
                "error", loaded.charter, snapshot, now=now(), message=message, status=404
            )
            return HTMLResponse(render_dashboard_page("error", context), status_code=404)

        return _guarded(build, html=True)

    for path, name in _PAGE_ROUTES.items():
        app.add_api_route(path, _page_handler(page, name), methods=["GET"], include_in_schema=False)

    @app.get("/runs/{run_id}", include_in_schema=False)
    def run_page(run_id: str) -> Response:
        def build() -> Response:
            _, snapshot = reader.snapshot()
            found = _find_run(snapshot, run_id)
            if found is None:
                return not_found(f"No run '{run_id}' in this project's ledger.")
            return page("run", run_id=found, evidence=reader.run_evidence(found))

        return _guarded(build, html=True)

    @app.get("/runs/{run_id}/report", include_in_schema=False)
    def run_report(run_id: str) -> Response:
        def build() -> Response:
            _, snapshot = reader.snapshot()
            found = _find_run(snapshot, run_id)
            if found is None:
                return not_found(f"No run '{run_id}' in this project's ledger.")
            return HTMLResponse(reader.run_report_html(found))

        return _guarded(build, html=True)

    @app.get("/models/compare", include_in_schema=False)
    def compare(a: str = "", b: str = "") -> Response:
        def build() -> Response:
            _, snapshot = reader.snapshot()
            versions = {str(v.version): v for v in snapshot.model_versions}
            missing = [x for x in (a, b) if x.lstrip("v") not in versions]
            if missing:
                return not_found(
                    f"No model version {', '.join(repr(m) for m in missing)} in this project; "
                    f"its versions are {', '.join(sorted(versions, key=int)) or 'none yet'}."
                )
            left, right = versions[a.lstrip("v")], versions[b.lstrip("v")]
            runs = [r for r in (left.run_id, right.run_id) if r]
            return page(
                "compare", a=left.version, b=right.version, validations=reader.validations(runs)
            )

        return _guarded(build, html=True)

    @app.get("/api/status")
    def api_status() -> Response:
        def build() -> Response:
            from charter.reporting import derive_status

            loaded, snapshot = reader.snapshot()
            status = derive_status(loaded.charter, snapshot, now=now())
            return JSONResponse(status.as_dict())

        return _guarded(build, html=False)

    @app.get("/api/monitoring")
    def api_monitoring() -> Response:
        def build() -> Response:
            from charter.reporting import monitoring_series

            loaded, snapshot = reader.snapshot()
            return JSONResponse(monitoring_series(loaded.charter, snapshot))

        return _guarded(build, html=False)

    @app.get("/api/tables/{name}")
    def api_table(name: str) -> Response:
        return _guarded(lambda: JSONResponse(_table(reader, name, now())), html=False)

    @app.get("/download/{filename}", include_in_schema=False)
    def download(filename: str) -> Response:
        from charter.reporting import rows_to_csv

        name = filename.removesuffix(".csv")
        if not filename.endswith(".csv") or name not in _DOWNLOADS:
            return not_found(f"No table '{filename}'; the tables are {', '.join(_DOWNLOADS)}.")

        def build() -> Response:
            from charter.reporting import EMPTY_COLUMNS

            rows = _table(reader, name, now())
            text = rows_to_csv(rows, EMPTY_COLUMNS.get(name, ()))
            loaded = reader.charter()
            disposition = f'attachment; filename="{loaded.charter.project.name}-{name}.csv"'
            return Response(
                text,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": disposition},
            )

        return _guarded(build, html=True)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in _STATIC:
            return Response("Not found", status_code=404, media_type="text/plain")
        from charter.reporting import DASHBOARD_STATIC

        folder = resources.files("charter.reporting").joinpath(DASHBOARD_STATIC)
        css = folder.joinpath(name).read_text("utf-8")
        return Response(
            css, media_type="text/css", headers={"Cache-Control": "public, max-age=300"}
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": "not found"}, status_code=404)
            return not_found(f"No page at {request.url.path}.")
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    return app


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _page_handler(page: Callable[..., Response], name: str) -> Callable[[], Response]:
    def handler() -> Response:
        return page(name)

    handler.__name__ = f"{name}_page"
    return handler


def _find_run(snapshot: LedgerSnapshot, run_id: str) -> str | None:
    """The full id of the run `run_id` names (exactly, or as a prefix of 8+ characters)."""
    ids = [run.id for run in snapshot.runs]
    if run_id in ids:
        return run_id
    matches = [i for i in ids if len(run_id) >= 8 and i.startswith(run_id)]
    return matches[0] if len(matches) == 1 else None


def _table(reader: ProjectReader, name: str, moment: Any) -> list[dict[str, Any]]:
    from charter.reporting import TABLES, extra_tables, table_rows

    loaded, snapshot = reader.snapshot()
    if name in TABLES:
        return table_rows(name, loaded.charter, snapshot)
    extra = extra_tables(loaded.charter, snapshot, moment)
    if name not in extra:
        raise NotFoundError(f"No table '{name}'; the tables are {', '.join(_DOWNLOADS)}.")
    rows: list[dict[str, Any]] = extra[name]
    return rows


def _guarded(build: Callable[[], Response], *, html: bool) -> Response:
    """Run `build`; a project that cannot be read becomes a clear page, never a traceback."""
    from charter.lifecycle import DashboardUnavailable
    from charter.reporting import render_problem_page

    try:
        return build()
    except NotFoundError as error:
        return _problem(html, "Not found", str(error), 404, render_problem_page)
    except DashboardUnavailable as error:
        logger.error("dashboard: %s", error)
        return _problem(html, "The project cannot be shown", str(error), 503, render_problem_page)
    except SpecError as error:
        message = "The charter has problems: " + "; ".join(str(p) for p in error.problems)
        logger.error("dashboard: %s", message)
        return _problem(html, "The charter cannot be read", message, 503, render_problem_page)
    except CharterError as error:
        logger.error("dashboard: %s", error)
        return _problem(html, "The project cannot be shown", str(error), 503, render_problem_page)
    except Exception:
        logger.exception("dashboard: internal error while rendering a page")
        message = "An internal error stopped this page; the dashboard's log has the details."
        return _problem(html, "Internal error", message, 500, render_problem_page)


def _problem(
    html: bool, title: str, message: str, code: int, render: Callable[..., str]
) -> Response:
    if html:
        return HTMLResponse(render(title, message, code=code), status_code=code)
    return JSONResponse({"error": message}, status_code=code)


def _refused(request: Request) -> Response:
    message = (
        "This dashboard needs its read-only token: open it with ?token=<token> "
        "or send 'Authorization: Bearer <token>'."
    )
    headers = {"WWW-Authenticate": "Bearer"}
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=401, headers=headers)
    from charter.reporting import render_problem_page

    html = render_problem_page("Token required", message, code=401)
    return HTMLResponse(html, status_code=401, headers=headers)


def read_dashboard_token(env_name: str) -> str | None:
    """The dashboard's token from the environment variable `env_name` (None when unset)."""
    value = os.environ.get(env_name, "").strip()
    return value or None


def run_dashboard(options: DashboardOptions) -> None:
    """Serve the dashboard on uvicorn in the foreground until interrupted."""
    import uvicorn

    from charter.spec import find_charter, load_charter

    path = find_charter(Path(options.charter))
    load_charter(path)  # a broken charter stops here, as one clean error
    token = read_dashboard_token(options.token_env)
    app = create_dashboard(path, token=token, ledger_url=options.ledger_url)
    logger.info(
        "dashboard for %s on http://%s:%d/%s",
        path,
        options.host,
        options.port,
        " (token required)" if token else "",
    )
    # No access log: a first visit carries the token in its query string.
    uvicorn.run(
        app, host=options.host, port=options.port, log_level=options.log_level, access_log=False
    )
