"""In a real browser under the production server, on a dataset of its own: a damaged dataset shows
the banner, and the page recovers when the file is back. (The Content-Security-Policy leaving the
console clean while every kind of page draws its charts is tests/browser/test_pages.py, against the
same production server, `pioneers serve`, with the policy on.)"""
from __future__ import annotations

import os
import shutil

import pytest

from tests.test_serving_server import Server

from tests.browser_support import wait_ready

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser_server(demo_dir, served_cache_dir, tmp_path_factory, browser):
    data = tmp_path_factory.mktemp("browser-serving") / "dataset"
    shutil.copytree(demo_dir, data)
    # The run's results folder: a page the demo's other servers rendered is served, not rendered again
    # (the named /site/barnsley may be there already); the damaged copy must show its banner even so.
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(served_cache_dir)}
    env.pop("PIONEERS_DATA", None)
    server = Server(["--data", str(data), "--workers", "1", "--no-warm"], env)
    server.wait_healthy()
    yield server, browser, data
    server.stop()


def test_fault_banner_in_the_browser(browser_server):
    server, browser, data = browser_server
    page = browser.new_page()
    page.set_default_timeout(60_000)
    url = f"http://127.0.0.1:{server.port}/site/barnsley"
    target = data / "observations.parquet"
    target.rename(target.with_suffix(".bak"))
    try:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        banner = page.locator("#data-fault")
        assert banner.is_visible() and "observations.parquet" in banner.inner_text()
        assert "Traceback" not in page.content()
    finally:
        target.with_suffix(".bak").rename(target)
    page.goto(url)
    wait_ready(page)
    assert not page.locator("#data-fault").is_visible()
    assert page.locator(".js-plotly-plot").count() >= 1
    page.close()
