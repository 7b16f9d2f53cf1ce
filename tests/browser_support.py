"""What every browser test shares: Debian's Chromium, its flags, console watching and waiting.

One Chromium per test session (the `browser` fixture in tests/conftest.py): Playwright's sync API
cannot run two instances in one process.
"""
from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000


class ConsoleWatch:
    """Collects console errors/warnings and page errors so a test can assert the console stayed empty."""

    # Chromium's hint that a preloaded script was not used "within a few seconds of the load event"
    # depends on how busy the machine is, not on the page: a loaded machine raised it for Dash's lazy
    # async-markdown.js. Every other warning still fails the test.
    TIMING_HINT = "was preloaded using link preload but not used within a few seconds"

    def __init__(self, page):
        self.messages: list[str] = []
        page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") and self.TIMING_HINT not in m.text else None)
        page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))


def wait_ready(page) -> None:
    """The page content has rendered and no Dash callback is still running."""
    page.wait_for_selector("#_pages_content > *", state="attached")
    page.wait_for_function("() => !document.querySelector('[data-dash-is-loading=\"true\"]')")
    # dcc.Graph loads plotly lazily: wait until every graph container holds a drawn plot.
    page.wait_for_function("() => Array.from(document.querySelectorAll('.dash-graph')).every("
                           "g => { const p = g.querySelector('.js-plotly-plot'); return p && p._fullLayout; })")
