"""GET /docs works offline: Swagger UI from the package, every URL on the server's own origin."""

from __future__ import annotations

import re
import shutil
from urllib.parse import urljoin, urlsplit

import pytest

from charter.server._app import DOCS_ASSETS
from tests.server.conftest import TOKEN, LiveServer, ServerFactory

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _references(html: str) -> list[str]:
    return [a or b for a, b in _REFERENCE.findall(html)]


def test_docs_references_only_same_origin_urls_and_each_answers(server: LiveServer) -> None:
    with server.client() as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "http://" not in html
        assert "https://" not in html
        references = _references(html)
        assert "/openapi.json" in references
        assert len(references) == 4, references  # css, favicon, js, the OpenAPI document
        for reference in references:
            absolute = urljoin(server.url + "/docs", reference)
            assert urlsplit(absolute).netloc == urlsplit(server.url).netloc, reference
            answer = client.get(absolute)
            assert answer.status_code == 200, reference
            suffix = "." + reference.rsplit(".", 1)[-1]
            expected = _CONTENT_TYPES.get(suffix, "application/json")
            assert answer.headers["content-type"].startswith(expected), reference
            assert len(answer.content) > 100, reference


def test_every_vendored_asset_is_served_with_its_media_type(server: LiveServer) -> None:
    with server.client() as client:
        for name, media_type in DOCS_ASSETS.items():
            answer = client.get(f"/docs/static/{name}")
            assert answer.status_code == 200, name
            assert answer.headers["content-type"] == media_type
            assert "max-age" in answer.headers["cache-control"]
        script = client.get("/docs/static/swagger-ui-bundle.js").text
        assert "SwaggerUIBundle" in script


@pytest.mark.parametrize(
    "name",
    ["unknown.js", "LICENSE", "swagger-ui.js.map", "%2e%2e", "a" * 5000, "swagger-ui.css%00"],
)
def test_any_other_name_under_docs_static_is_a_404_in_the_error_shape(
    server: LiveServer, name: str
) -> None:
    with server.client() as client:
        answer = client.get(f"/docs/static/{name}")
    assert answer.status_code == 404
    (error,) = answer.json()["detail"]
    assert error["type"] == "not_found"
    assert error["msg"].startswith("The 'name' of a docs asset must be one of")


@pytest.mark.parametrize("path", ["/docs/static/..%2F_app.py", "/docs/static/../../cli.py"])
def test_paths_out_of_the_static_folder_find_nothing(server: LiveServer, path: str) -> None:
    with server.client() as client:
        answer = client.get(path)
    assert answer.status_code == 404
    assert "import" not in answer.text


def test_redoc_is_not_served_from_a_cdn(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get("/redoc").status_code == 404


def test_docs_stay_open_when_a_token_guards_the_predictions(start_server: ServerFactory) -> None:
    server = start_server(token=TOKEN)
    with server.client() as client:
        assert client.get("/docs").status_code == 200
        for name in DOCS_ASSETS:
            assert client.get(f"/docs/static/{name}").status_code == 200
        assert client.post("/predict", json={}).status_code == 401


def test_a_real_browser_renders_the_docs_without_leaving_the_server(server: LiveServer) -> None:
    """Headless Chromium, every request outside the server's origin refused and recorded."""
    from playwright.sync_api import Route, sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable is not None, "these tests need Chromium on PATH (Debian's chromium)"
    origin = urlsplit(server.url).netloc
    outside: list[str] = []
    inside: list[str] = []

    def route(handler: Route) -> None:
        url = handler.request.url
        if urlsplit(url).netloc == origin:
            inside.append(url)
            handler.continue_()
        else:
            outside.append(url)
            handler.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.route("**/*", route)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url + "/docs")
            title = page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            assert title is not None
            assert "telco-churn" in title.inner_text()
            page.wait_for_selector(".opblock-summary-path", timeout=20_000)
            paths = page.eval_on_selector_all(
                ".opblock-summary-path", "nodes => nodes.map(n => n.textContent)"
            )
        finally:
            browser.close()
    assert outside == []
    assert errors == []
    assert any(path.replace("\u200b", "") == "/predict" for path in paths), paths
    assert any(url.endswith("/openapi.json") for url in inside)
    assert any(url.endswith("/docs/static/swagger-ui-bundle.js") for url in inside)


def test_the_vendored_files_carry_their_license() -> None:
    from importlib import resources

    folder = resources.files("charter.server") / "static" / "swagger-ui"
    assert "Apache License" in (folder / "LICENSE").read_text(encoding="utf-8")
    assert "swagger-ui" in (folder / "NOTICE").read_text(encoding="utf-8")
