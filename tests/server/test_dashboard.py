"""The `charter ui` dashboard on a real uvicorn server on loopback, over real ledgers."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.server import create_dashboard
from tests.reporting.project_ledger import fill_story, write_project
from tests.server.conftest import ThreadedUvicorn

PAGES = {
    "/": "Is the project on track?",
    "/runs": "Runs",
    "/models": "Model versions",
    "/models/compare?a=1&b=2": "Version 1 against version 2",
    "/monitoring": "Drift per feature (PSI)",
    "/incidents": "Incidents",
    "/risks": "Risk register",
    "/milestones": "Milestones",
    "/charter": "Charter history",
}
TOKEN = "read-only-token-for-tests"


@dataclass
class Dashboard:
    """A dashboard app on uvicorn in a thread (see `ThreadedUvicorn`)."""

    charter: Path
    token: str | None = None
    host: ThreadedUvicorn = field(default_factory=lambda: ThreadedUvicorn("the dashboard"))

    @property
    def url(self) -> str:
        return self.host.url

    def start(self) -> Dashboard:
        self.host.start(create_dashboard(self.charter, token=self.token), access_log=False)
        return self

    def client(self, **kwargs: Any) -> httpx.Client:
        return self.host.client(**kwargs)

    def stop(self) -> None:
        self.host.stop()


DashboardFactory = Callable[..., Dashboard]


@pytest.fixture
def start_dashboard() -> Iterator[DashboardFactory]:
    started: list[Dashboard] = []

    def start(charter: Path, token: str | None = None) -> Dashboard:
        dashboard = Dashboard(charter, token).start()
        started.append(dashboard)
        return dashboard

    yield start
    for dashboard in started:
        dashboard.stop()


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A project whose ledger holds the whole story (no training: the Ledger API)."""
    charter = write_project(tmp_path_factory.mktemp("story"))
    return charter, fill_story(charter)


@pytest.fixture(scope="module")
def dashboard(story: tuple[Path, dict[str, Any]]) -> Iterator[Dashboard]:
    """One server over the story for the tests that only read."""
    started = Dashboard(story[0]).start()
    yield started
    started.stop()


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text
    assert 'File "' not in text


# --------------------------------------------------------------------------- pages


def test_every_page_renders_the_story(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        for path, heading in PAGES.items():
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            assert response.headers["content-type"].startswith("text/html")
            assert heading in response.text, path
            assert "http://" not in response.text.replace(dashboard.url, "")
            assert "https://" not in response.text  # nothing fetched from elsewhere
        overview = client.get("/").text
        assert "✗ OFF TRACK" in overview
        assert "1 open incident" in overview
        assert "threshold of &#39;auc&#39;: at least 0.82 → at least 0.85" in overview
        assert "Challenger v2 refused" in overview


def test_the_overview_kpi_table_shows_the_ledger_values(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        html = client.get("/").text
        status = client.get("/api/status").json()
    rows = {row["name"]: row for row in status["kpis"]}
    # The champion (v1) is served: its validation (0.84), not the newer candidate's 0.86.
    assert rows["auc"]["validation"]["value"] == 0.84
    assert rows["drift"]["monitoring"]["value"] == 0.31
    assert rows["drift"]["monitoring"]["passed"] is False
    assert 'data-kpi="auc"' in html
    assert "0.84" in html
    assert "0.31" in html
    assert "✗ FAIL" in html  # a word and an icon, not colour alone


def test_runs_list_detail_and_report(
    dashboard: Dashboard, story: tuple[Path, dict[str, Any]]
) -> None:
    run_id = story[1]["runs"][0]
    with dashboard.client() as client:
        assert run_id[:8] in client.get("/runs").text
        detail = client.get(f"/runs/{run_id}")
        assert detail.status_code == 200
        assert "Gate verdicts" in detail.text
        assert client.get(f"/runs/{run_id[:8]}").status_code == 200  # a unique prefix
        report = client.get(f"/runs/{run_id}/report")
        assert report.status_code == 200
        assert "charter run report" in report.text


def test_a_version_comparison_shows_kpis_lineage_and_importance(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        html = client.get("/models/compare", params={"a": "1", "b": "2"}).text
    assert "Permutation importance, v1 against v2" in html
    assert "+0.02" in html  # auc 0.84 -> 0.86
    assert "run_id" in html
    assert "(differs)" in html


@pytest.mark.parametrize(
    "path",
    [
        "/runs/no-such-run",
        "/runs/0000/report",
        "/models/compare?a=1&b=99",
        "/models/compare?a=x&b=1",
        "/models/compare",
        "/no/such/page",
        "/download/secrets.csv",
        "/download/kpis.txt",
    ],
)
def test_unknown_ids_and_paths_get_a_404_page(dashboard: Dashboard, path: str) -> None:
    with dashboard.client() as client:
        response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not found" in response.text
    _no_traceback(response.text)


def test_apis_answer_json(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        monitoring = client.get("/api/monitoring").json()
        assert monitoring["windows"] == ["w1 (v1)", "w2 (v1)", "w3 (v1)"]
        assert monitoring["drift_psi"]["MonthlyCharges"][2] == [3, 0.31]
        assert monitoring["kpis"]["p99"]["threshold"] == 25.0
        risks = client.get("/api/tables/risks").json()
        assert {r["id"]: r["state"] for r in risks} == {"R1": "mitigated", "R2": "triggered"}
        assert client.get("/api/tables/nope").status_code == 404
        assert client.get("/api/nothing").json() == {"error": "not found"}


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("kpis", "kpi"),
        ("windows", "max_psi"),
        ("incidents", "kpi"),
        ("runs", "run_id"),
        ("risks", "state"),
        ("milestones", "due"),
        ("models", "version"),
        ("revisions", "scope_changes"),
    ],
)
def test_each_table_downloads_as_csv(dashboard: Dashboard, name: str, column: str) -> None:
    with dashboard.client() as client:
        response = client.get(f"/download/{name}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="telco-churn-{name}.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows
    assert column in rows[0]


def test_static_files_are_served_and_nothing_else(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        css = client.get("/static/dashboard.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert client.get("/static/report.css").status_code == 200
        assert client.get("/static/..%2F_status.py").status_code == 404
        assert client.get("/static/_status.py").status_code == 404


# --------------------------------------------------------------------------- token


def test_the_token_is_required_when_set(
    story: tuple[Path, dict[str, Any]], start_dashboard: DashboardFactory
) -> None:
    dashboard = start_dashboard(story[0], token=TOKEN)
    with dashboard.client() as client:
        for path in ("/", "/api/status", "/download/kpis.csv", "/runs"):
            refused = client.get(path)
            assert refused.status_code == 401, path
            assert TOKEN not in refused.text
        assert "needs its read-only token" in client.get("/").text
        assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/", params={"token": "wrong"}).status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/static/dashboard.css").status_code == 200  # styles are not secret
    with dashboard.client() as browser:
        first = browser.get("/runs", params={"token": TOKEN, "x": "1"})
        assert first.status_code == 303  # the token leaves the address bar for a cookie
        assert first.headers["location"] == "/runs?x=1"
        assert "httponly" in first.headers["set-cookie"].lower()
        assert browser.get("/incidents").status_code == 200  # the cookie carries it on
    with dashboard.client() as api:
        assert api.get("/api/status", params={"token": TOKEN}).status_code == 200


def test_no_token_means_open_pages(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        assert client.get("/", params={"token": "anything"}).status_code == 200


# --------------------------------------------------------------------------- bad ledgers


def test_a_missing_ledger_says_so_on_the_page_and_in_the_log(
    tmp_path: Path, start_dashboard: DashboardFactory, caplog: pytest.LogCaptureFixture
) -> None:
    charter = write_project(tmp_path / "fresh")
    dashboard = start_dashboard(charter)
    with caplog.at_level(logging.ERROR, logger="charter.dashboard"), dashboard.client() as client:
        for path in ("/", "/runs", "/models/compare?a=1&b=2", "/download/kpis.csv"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert "No ledger at" in response.text
            assert "charter run" in response.text
            _no_traceback(response.text)
        assert client.get("/api/status").json()["error"].startswith("No ledger at")
    assert any("No ledger at" in r.getMessage() for r in caplog.records)
    assert not (charter.parent / ".charter").exists()  # the dashboard created nothing


@pytest.mark.parametrize(
    "content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_a_corrupt_ledger_says_so_on_the_page_and_in_the_log(
    tmp_path: Path,
    start_dashboard: DashboardFactory,
    caplog: pytest.LogCaptureFixture,
    content: bytes,
) -> None:
    charter = write_project(tmp_path / "corrupt")
    (charter.parent / ".charter").mkdir()
    (charter.parent / ".charter" / "ledger.db").write_bytes(content)
    dashboard = start_dashboard(charter)
    with caplog.at_level(logging.ERROR, logger="charter.dashboard"), dashboard.client() as client:
        response = client.get("/")
    assert response.status_code == 503
    assert "The ledger cannot be read" in response.text
    _no_traceback(response.text)
    assert any("The ledger cannot be read" in r.getMessage() for r in caplog.records)


def test_a_charter_broken_while_the_dashboard_runs_shows_its_problems(
    tmp_path: Path, start_dashboard: DashboardFactory
) -> None:
    charter = write_project(tmp_path / "broken")
    fill_story(charter)
    dashboard = start_dashboard(charter)
    with dashboard.client() as client:
        assert client.get("/").status_code == 200
        charter.write_text(charter.read_text().replace("task: binary_classification", "task: x"))
        broken = client.get("/")
        assert broken.status_code == 503
        assert "The charter has problems" in broken.text
        assert "objective.task" in broken.text
        _no_traceback(broken.text)
        charter.unlink()
        gone = client.get("/")
        assert gone.status_code == 503
        assert "cannot be read" in gone.text


def test_pages_reflect_new_ledger_records_without_a_restart(
    tmp_path: Path, start_dashboard: DashboardFactory
) -> None:
    from charter.ledger import open_ledger

    charter = write_project(tmp_path / "live")
    ids = fill_story(charter)
    dashboard = start_dashboard(charter)
    with dashboard.client() as client:
        assert "No incident so far" not in client.get("/incidents").text
        with open_ledger(charter.parent) as ledger:
            ledger.resolve_incident(ids["incident"])
        assert "✓ RESOLVED" in client.get("/incidents").text


def test_concurrent_readers_and_a_writer_get_whole_pages(
    tmp_path: Path, start_dashboard: DashboardFactory
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from charter.ledger import open_ledger
    from tests.reporting.project_ledger import record_window, window_payload

    charter = write_project(tmp_path / "busy")
    fill_story(charter)
    dashboard = start_dashboard(charter)

    def write_windows() -> int:
        with open_ledger(charter.parent) as ledger:
            for index in range(10):
                payload = window_payload(psi={"tenure": 0.01 * index}, kpis={})
                record_window(ledger, 1, f"busy-{index}", payload)
        return 200

    def read(path: str) -> int:
        with dashboard.client() as client:
            response = client.get(path)
            if not path.startswith(("/api/", "/download/")):
                assert "</html>" in response.text  # a whole page, never half of one
            return response.status_code

    paths = ["/", "/monitoring", "/api/status", "/incidents", "/download/windows.csv"] * 6
    with ThreadPoolExecutor(max_workers=8) as pool:
        writer = pool.submit(write_windows)
        codes = list(pool.map(read, paths))
    assert writer.result() == 200
    assert codes == [200] * len(paths)
    with dashboard.client() as client:
        assert len(client.get("/api/monitoring").json()["windows"]) == 13
