"""What every browser test shares: Debian's Chromium, its flags, console watching and waiting.

One Chromium per test session (the `browser` fixture in tests/conftest.py): Playwright's sync API
cannot run two instances in one process.
"""
from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--js-flags=--max-opt=2"]
"""The last flag stops V8 below its top compiler tier (TurboFan): a test page runs its scripts for a second
or two, too briefly to repay TurboFan's background compiles, which took about a tenth of Chromium's CPU
here. The tiers run the same JavaScript with the same results; only how much of it is compiled changes."""
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


# What a dcc.Link click does: push the URL onto the history and tell dcc.Location.
_LINK_CLICK = ("p => { window.history.pushState({}, '', p);"
               " window.dispatchEvent(new CustomEvent('_dashprivate_pushstate')); }")


def route_template(path: str) -> str:
    """The page template a path opens: ids replaced, query dropped ("/site/leeds?geo=ccg" -> "/site/*")."""
    parts = path.split("?")[0].split("/")
    return "/".join("*" if i in (2, 4) and parts[i - 1] in ("site", "indicator") else part
                    for i, part in enumerate(parts))


def open_path(page, server: str, path: str) -> None:
    """Open ``path`` in ``page`` and wait until it is on screen.

    The first path of each page template (`route_template`) a tab opens is a deep link: a full page load,
    as when an analyst pastes a URL. Further paths of a template the tab has already loaded open inside
    the running app as a dcc.Link click does, and the test waits for the page router's answer. What
    renders is the same page-router answer either way; a full load costs about three times as much
    (HTML, scripts from the cache, React and the Dash renderer booted again, plotly.js evaluated again).
    """
    seen = page.__dict__.setdefault("templates_loaded", set())
    current = page.url.split(server, 1)[-1] if page.url.startswith(server) else None
    if current is None or route_template(path) not in seen or current == path:
        page.goto(server + path)
    else:
        with page.expect_response(lambda r: "/_dash-update-component" in r.url
                                  and "_pages_content" in (r.request.post_data or "")):
            page.evaluate(_LINK_CLICK, path)
    seen.add(route_template(path))
    wait_ready(page)
