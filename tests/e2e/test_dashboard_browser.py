"""The dashboard in a real headless Chromium, over a ledger filled by a real `charter run`.

Monitoring windows and the incident are recorded through the Ledger API in the monitor's
payload shape. Screenshots of every page, at laptop and phone widths, are saved under
tests/artifacts/dashboard/ for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import lifecycle
from charter.ledger import open_ledger
from charter.reporting.charts import format_number
from charter.spec import load_charter
from tests.conftest import REPO
from tests.e2e.conftest import ProjectFactory
from tests.e2e.traffic import serve, telco_rows
from tests.reporting.project_ledger import PROJECT
from tests.server.test_dashboard import Dashboard

ARTIFACTS = REPO / "tests" / "artifacts" / "dashboard"
WIDTHS = {"laptop": (1366, 900), "phone": (390, 844)}
PAGES = {
    "overview": "/",
    "runs": "/runs",
    "models": "/models",
    "monitoring": "/monitoring",
    "incidents": "/incidents",
    "risks": "/risks",
    "milestones": "/milestones",
    "charter": "/charter",
}


def _chromium() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(found).exists(), "the system chromium is not installed"
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=_chromium(),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def project(small_telco: ProjectFactory) -> tuple[Path, dict[str, Any]]:
    """A real run, a second registered version, a changed threshold, monitoring windows."""
    folder = small_telco(
        rows=700,
        edit=lambda t: t.replace(
            "candidates: [logistic_regression, lightgbm]", "candidates: [logistic_regression]"
        ),
    )
    charter = folder / "charter.yaml"
    outcome = lifecycle.run(charter)
    assert outcome.status == "succeeded", outcome.stopped_by
    second = lifecycle.run(charter, stages=["register"], write_report=False)
    assert second.model_version == 2
    lifecycle.promote(charter, "1", override="browser test: small sample")
    text = charter.read_text()
    charter.write_text(text.replace("at_least: 0.82, gate: deploy", "at_least: 0.83, gate: deploy"))
    assert lifecycle.check(charter).changed_sections == ("kpis",)
    with open_ledger(folder) as ledger:
        ledger.record_deployment(PROJECT, 1, "127.0.0.1", 8000)
    # A real monitoring replay: two windows of normal traffic, then one after a price rise.
    charter.write_text(
        charter.read_text().replace("window: {predictions: 1000}", "window: {predictions: 300}")
    )
    rows = telco_rows(folder, 0, 600)
    serve(folder, rows, feedback_share=1.0)
    shifted = rows.iloc[:300].copy()
    shifted["MonthlyCharges"] = (shifted["MonthlyCharges"] * 1.3).round(2)
    serve(folder, shifted)
    result = lifecycle.monitor(charter, allow_retrain=False)
    assert [w.verdict for w in result.windows] == ["pass", "pass", "fail"]
    with open_ledger(folder) as ledger:
        [incident] = ledger.incidents(PROJECT, status="open")
        auc = ledger.get_model_version(PROJECT, 1).metrics["kpis"]["auc"]
    return charter, {"run": outcome.run_id, "incident": incident.id, "auc": auc}


def _watch(page: Any) -> list[str]:
    """Console errors, uncaught page errors and failed requests of `page`, as they happen."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    return problems


def test_the_dashboard_tells_the_story_in_a_browser(
    project: tuple[Path, dict[str, Any]], browser: Any
) -> None:
    charter, facts = project
    dashboard = Dashboard(charter).start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        for width_name, (width, height) in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            problems = _watch(page)
            paths = {**PAGES, "run": f"/runs/{facts['run']}"}
            for name, path in paths.items():
                response = page.goto(dashboard.url + path)
                assert response is not None
                assert response.status == 200, (path, response.status)
                assert not page.locator("text=Traceback").count()
                page.screenshot(path=str(ARTIFACTS / f"{name}-{width_name}.png"), full_page=True)
            assert problems == [], problems
            page.close()
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(dashboard.url + "/")
        cell = page.locator('#kpi-table tr[data-kpi="auc"] td.v-validation')
        assert format_number(facts["auc"]) in cell.inner_text()

        page.goto(dashboard.url + "/models")
        page.select_option("#compare-a", "2")
        page.select_option("#compare-b", "1")
        page.click("#compare-go")
        page.wait_for_url("**/models/compare?a=2&b=1")
        assert page.locator("h2").first.inner_text() == "Version 2 against version 1"
        kpis = load_charter(charter).charter.kpis
        assert page.locator("#compare-kpis tbody tr").count() == len(kpis)
        page.screenshot(path=str(ARTIFACTS / "compare-laptop.png"), full_page=True)

        page.goto(dashboard.url + "/incidents")
        row = page.locator("#incident-table tbody tr").first
        assert row.locator("th").inner_text() == str(facts["incident"])
        assert "drift" in row.inner_text()
        assert "✗ OPEN" in row.inner_text()

        page.goto(dashboard.url + "/charter")
        text = page.locator("#charter").inner_text()
        assert "threshold of 'auc': at least 0.82 → at least 0.83" in text
        added = page.locator("pre.diff span.add").all_inner_texts()
        assert any("at_least: 0.83" in line for line in added)
        page.close()
    finally:
        dashboard.stop()
