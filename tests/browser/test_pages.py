"""Every page and deep link loads in headless Chromium with an empty console under the production server's Content-Security-Policy, nothing from off the server,
and unknown ids give a friendly page. Screenshots of the overview, a site page and presentation mode.

The pages below open in one tab (`open_path`): the first URL of each page template as a deep link (a
full load), the others inside the running app as a link click does, so both routes are exercised."""
from __future__ import annotations

import pytest

from tests.browser_support import open_path, wait_ready

pytestmark = pytest.mark.browser

PAGES = [
    ("/", "Overview: every Pioneer site and indicator"),
    ("/?basis=its", "Overview"),
    ("/?basis=england", "Overview"),
    ("/?basis=spc", "Overview"),
    ("/site", "The Pioneer sites"),
    ("/site/leeds", "Leeds"),
    ("/site/pioneer-k?anon=1", "Pioneer K"),
    ("/site/south-devon-torbay/indicator/dtoc", "Delayed transfers of care"),
    ("/site/south-devon-torbay/indicator/dtoc?est=scm", "Delayed transfers of care"),
    ("/site/pioneer-c/indicator/reablement_91?anon=1", "Pioneer C"),
    ("/indicator/falls_65", "Emergency admissions due to falls"),
    ("/indicators", "The 12 indicators"),
    ("/matching", "Matched comparators"),
    ("/data", "The data behind the dashboard"),
    ("/site/barnsley/indicator/ea_all?present=1&chart=spc", None),
    ("/site/barnsley/indicator/ea_all?present=1&chart=scm", None),
    ("/site/nowhere", "Page not found"),
    ("/site/leeds/indicator/nothing", "Page not found"),
    ("/indicator/nothing", "Page not found"),
    ("/no/such/page", "Page not found"),
]


@pytest.mark.parametrize("path,heading", PAGES, ids=[p for p, _ in PAGES])
def test_page_loads_with_empty_console(tab, server, path, heading):
    requests: list[str] = []
    listener = lambda r: requests.append(r.url)  # noqa: E731
    tab.on("request", listener)
    open_path(tab, server, path)
    tab.remove_listener("request", listener)
    if heading:
        assert heading in tab.locator("#_pages_content h1").first.inner_text()
    else:
        assert tab.locator(".present-frame .js-plotly-plot").count() == 1
    assert tab.locator("#data-notice").inner_text() == "Generated demonstration data, not real"
    assert tab.console.messages == []
    external = [u for u in requests if not u.startswith(server) and not u.startswith("data:")]
    assert external == []
    assert "Traceback" not in tab.content()


def test_page_html_has_no_external_urls(server):
    import re
    import urllib.request

    with urllib.request.urlopen(server + "/site/leeds") as res:
        html = res.read().decode()
        policy = res.headers["Content-Security-Policy"] or ""
    # The production server's policy is on, so every empty-console check in this module holds under it.
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    urls = set(re.findall(r"(?:src|href)=\"(https?://[^\"]+)", html))
    assert {u for u in urls if not u.startswith(server)} == set()
    css = urllib.request.urlopen(server + "/assets/00-bootstrap.min.css").read().decode()
    assert "@import" not in css and "fonts.googleapis" not in css


def test_screenshots(tab, server, artifacts):
    """Saved for a person to look at: the overview, a site page, and a chart in presentation mode."""
    open_path(tab, server, "/")
    tab.screenshot(path=str(artifacts / "overview.png"), full_page=True)
    open_path(tab, server, "/site/pioneer-k?anon=1")
    tab.screenshot(path=str(artifacts / "site_anonymised.png"), full_page=True)
    viewport = tab.viewport_size
    tab.set_viewport_size({"width": 1600, "height": 1000})
    try:
        open_path(tab, server, "/site/pioneer-k/indicator/ea_all?anon=1&present=1&chart=trend")
        tab.locator(".present-frame").screenshot(path=str(artifacts / "presentation.png"))
        box = tab.locator(".present-frame").bounding_box()
    finally:
        tab.set_viewport_size(viewport)
    assert box["width"] / box["height"] == pytest.approx(16 / 9, rel=0.02)
    assert tab.console.messages == []


def test_skip_link_and_live_region(tab, server):
    tab.goto(server + "/")  # a fresh document: the first Tab press goes to its first focusable element
    wait_ready(tab)
    tab.keyboard.press("Tab")
    focused = tab.evaluate("document.activeElement.textContent")
    assert focused == "Skip to main content"
    assert tab.locator("main#main").get_attribute("aria-live") == "polite"
