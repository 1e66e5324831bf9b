"""The analyst pages in headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
the queue shows the planted attack first, the scenario page draws its attack graph as SVG,
and a feedback click is stored. Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from logguard.store.duckdb_store import open_duckdb
from logguard.web import WebApp

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium "
                                "(apt-get install -y chromium)")


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


@pytest.mark.timeout(90)
def test_queue_scenario_graph_and_feedback_click(browser_page, analyst_db, planted):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    con = open_duckdb(analyst_db)
    app = WebApp(con, con)
    app.serve("127.0.0.1", 0)
    page = browser_page
    try:
        page.goto(f"{app.url}/")
        rows = page.locator("#queue tbody tr.alert-row")
        assert rows.first.get_attribute("data-alert-id") == planted.attack[0]
        assert rows.count() == planted.n_alerts
        assert rows.nth(0).locator("td").nth(3).inner_text() == "WS-FIN-07"
        page.screenshot(path=str(ARTIFACTS / "analyst-queue.png"), full_page=True)

        page.goto(f"{app.url}/scenarios")
        assert page.locator("#scenarios tr").count() == 3  # header + 2 scenarios
        page.screenshot(path=str(ARTIFACTS / "analyst-scenarios.png"), full_page=True)

        page.locator("#scenarios a").first.click()
        page.wait_for_url(f"**/scenarios/{planted.attack_scenario}")
        graph = page.locator("svg.attack-graph")
        assert graph.count() == 1
        kinds = graph.locator("g.node").evaluate_all("nodes => nodes.map(n => n.dataset.kind)")
        assert sorted(kinds) == sorted(["host", "user", "process", "process", "process",
                                        "process", "socket", "registry", "file", "host",
                                        "alert"])
        assert graph.locator("g.edge").count() == 9
        assert graph.locator("g.node[data-node-id='p|{a3}'] text").text_content() == "rundll32.exe"
        steps = page.locator("ol.steps li").all_inner_texts()
        assert steps[0].startswith("1. WINWORD.EXE -> powershell.exe")
        assert steps[-1].startswith("4. SMB lateral movement")
        page.screenshot(path=str(ARTIFACTS / "analyst-scenario.png"), full_page=True)

        page.goto(f"{app.url}/alerts/{planted.attack[1]}")
        assert page.locator("svg.attack-graph g.node").count() == 4  # the GID path
        page.fill("#note", "confirmed C2 beacon")
        page.click("button[data-verdict='true-positive']")
        page.wait_for_selector("#feedback-status[data-state='saved']")
        assert page.locator("#alert-status").inner_text() == "true-positive"
        page.screenshot(path=str(ARTIFACTS / "analyst-alert.png"), full_page=True)
        cursor = con.cursor()
        assert cursor.execute("SELECT alert_id, verdict, note FROM feedback").fetchall() == [
            (planted.attack[1], "true-positive", "confirmed C2 beacon")]
    finally:
        app.shutdown()
        con.close()
