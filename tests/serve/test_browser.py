"""End to end in headless Chromium (Playwright driving Debian's chromium): search, facets, explained
cards, click -> event -> rails update. Screenshots go to test-artifacts/ (git-ignored).
Skips cleanly when playwright or /usr/bin/chromium is missing."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = os.environ.get("SHOPSENSE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_url(served):
    import uvicorn

    from shopsense.serve.app import create_app

    settings, engine, store = served
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine, store=store), host="127.0.0.1",
                                           port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    th.join(10)


@pytest.mark.slow
def test_shop_page_end_to_end(live_url, served):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    out = REPO / "test-artifacts"
    out.mkdir(exist_ok=True)
    store = served[2]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(live_url + "/")
        page.fill("[data-testid=user-input]", "browser-shopper")
        page.dispatch_event("[data-testid=user-input]", "change")
        page.wait_for_selector("[data-testid=rail-trending] .card")
        page.fill("[data-testid=search-input]", "3d printer filament")
        page.click("[data-testid=search-button]")
        page.wait_for_selector("[data-testid=results] .card")
        cards = page.locator("[data-testid=results] .card")
        assert cards.count() >= 5
        assert page.locator("[data-testid=results] .card .why").first.inner_text().startswith("Matches")
        assert page.locator("[data-testid=facets] input").count() > 0
        page.screenshot(path=str(out / "shop-search.png"), full_page=True)

        before = store.count("events")
        clicked = cards.first.get_attribute("data-item-id")
        cards.first.click()
        page.wait_for_selector("[data-testid=rail-similar] .card")
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=rail-recommend] .why')]"
            ".some(e => e.textContent.startsWith('Because you viewed'))", timeout=10_000)
        assert store.count("events") == before + 1
        assert "1 events" in page.inner_text("[data-testid=profile]")
        sim_ids = page.eval_on_selector_all("[data-testid=rail-similar] .card", "els => els.map(e => e.dataset.itemId)")
        assert clicked not in sim_ids
        page.screenshot(path=str(out / "shop-after-click.png"), full_page=True)

        page.locator("[data-testid=facets] input[data-testid=facet-brand]").first.check()
        page.wait_for_timeout(800)
        page.screenshot(path=str(out / "shop-facet.png"), full_page=True)
        browser.close()
    assert (out / "shop-after-click.png").stat().st_size > 10_000
