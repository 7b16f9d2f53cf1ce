"""Browser-test harness: one dashboard server on the demo data and one headless Chromium per session
(so one of each per xdist worker: each server on its own free port, with its own cache folder).

The server is the real CLI (`python -m cli serve`) in a subprocess on a free port; tests wait for
elements, never sleep, with generous timeouts because the machine's two cores are shared.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser_support import TIMEOUT_MS, ConsoleWatch

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(demo_dir, served_cache_dir):
    port = _free_port()
    # One log per xdist worker. The workers' servers share the run's results folder (never another
    # run's): the demo dataset is the same files on every worker, so a page one server rendered is
    # served to the other from the shared cache.
    log_path = ARTIFACTS / f"server-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
    log = open(ARTIFACTS.mkdir(exist_ok=True) or log_path, "w")
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(served_cache_dir)}
    # One worker (four threads): every statistic is computed and kept in one process for the whole
    # run instead of twice; tests/test_serving_server.py covers several workers.
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(demo_dir), "--port", str(port),
                             "--workers", "1"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/_dash-layout", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"dashboard server did not start; see {log_path}")
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser_context(browser):
    """One context (one profile) for the worker's browser tests, as one person's browser: the app keeps
    no cookies or storage, and a context of its own for each test made every page load fetch and
    compile React, the Dash renderer and plotly.js again."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    """A tab of this test's own, closed after it."""
    pg = browser_context.new_page()
    pg.console = ConsoleWatch(pg)
    yield pg
    pg.close()


@pytest.fixture(scope="module")
def module_tab(browser_context):
    """The tab a module's tests share (through `tab`)."""
    pg = browser_context.new_page()
    pg.console = ConsoleWatch(pg)
    yield pg
    pg.close()


@pytest.fixture
def tab(module_tab):
    """The module's one tab, its console emptied for this test. A module's tests go on where the one
    before left it and open their paths with `open_path` (a deep link for the first path of each page
    template, in-app navigation for the rest): a full load costs Chromium about a core-second more, and a
    new tab (`page`) more again, so a test takes `page` only when it needs a tab of its own."""
    module_tab.console.messages.clear()
    return module_tab


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
