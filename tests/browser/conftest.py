"""Browser-test harness: one dashboard server on the demo data for the run (shared by the xdist
workers) and one headless Chromium per session (so one per worker).

The server is the real CLI (`python -m cli serve`) in a subprocess on a free port; tests wait for
elements, never sleep, with generous timeouts because the machine's two cores are shared.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser_support import TIMEOUT_MS, ConsoleWatch

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(demo_dir: Path, cache_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`python -m cli serve` on the demo data on a free port, once it answers."""
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(log_path, "w")
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(cache_dir)}
    # One worker (four threads): every statistic is computed and kept in one process for the whole
    # run; tests/test_serving_server.py covers several workers.
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(demo_dir), "--port", str(port),
                             "--workers", "1"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()  # the server holds its own copy
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/_dash-layout", timeout=5) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"dashboard server did not start; see {log_path}")
        time.sleep(0.2)


_STARTED: dict[int, subprocess.Popen] = {}
"""The servers this process started, by pid, so that stopping one also reaps it."""


def _stop_server(pid: int) -> None:
    """Terminate the server ``pid`` and wait until it is gone (killed after 10 s)."""
    proc = _STARTED.pop(pid, None)
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return
    try:  # another worker's child: it is reaped when that worker exits
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _running(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _running(pid: int) -> bool:
    """``pid`` exists and has not exited (a zombie waiting to be reaped has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@contextmanager
def _shared_state(folder: Path):
    """The run's server record (pid, url, workers using it), read and written under an exclusive lock."""
    with open(folder / "server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        record = folder / "server.json"
        state = json.loads(record.read_text()) if record.exists() else None
        box = [state]
        yield box
        if box[0] is None:
            record.unlink(missing_ok=True)
        else:
            record.write_text(json.dumps(box[0]))


@pytest.fixture(scope="session")
def server(demo_dir, served_cache_dir, run_dir):
    """The dashboard on the demo data, one server for the whole run: under xdist the first worker to ask
    starts it and the workers share it, and the last one still using it stops it. The demo data are
    the same files for every worker and the server only reads them, so a second server would compute
    every statistic, comparator set and placebo set a second time (about 20 s of the run's CPU)."""
    folder = run_dir / "demo-server"
    folder.mkdir(exist_ok=True)
    with _shared_state(folder) as box:
        state = box[0]
        if state is None or not _running(state["pid"]):
            proc, base = _start_server(demo_dir, served_cache_dir, ARTIFACTS / "server.log")
            _STARTED[proc.pid] = proc
            state = {"pid": proc.pid, "url": base, "users": 0}
        state["users"] += 1
        box[0] = state
    yield state["url"]
    with _shared_state(folder) as box:
        state = box[0]
        state["users"] -= 1
        if state["users"] == 0:
            _stop_server(state["pid"])
            box[0] = None
        else:
            box[0] = state


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
    pg = browser_context.new_page()
    pg.console = ConsoleWatch(pg)
    yield pg
    pg.close()


@pytest.fixture(scope="module")
def tab(browser_context):
    """One tab for a module's page-by-page tests, which open their paths with `open_path` (a deep link
    for the first path of each page template, in-app navigation for the rest). Each test empties
    ``tab.console`` before its own page."""
    pg = browser_context.new_page()
    pg.console = ConsoleWatch(pg)
    yield pg
    pg.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
