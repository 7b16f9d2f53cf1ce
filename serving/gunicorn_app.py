"""The production server: gunicorn run in-process, with the app preloaded and its statistics warmed.

The master builds the app and loads the dataset once, before it forks (``preload_app``), so
every worker starts with the dataset in memory (shared copy-on-write). The master also renders
the first page (``render_first_page``: the overview as a first visitor opens it), so its
statistics are in every worker's memo (copy-on-write) and its layout in the shared results
cache: the first visitor's page costs no statistics in any worker, and the workers, which do
not exist yet, take no CPU from it. After a restart on a kept cache the layout is read back,
and nothing is computed. Each worker then computes the rest of what the pages
share (``analysis.results.warm``: the other bases and geographies) in a background thread, the
project's one warmer. (Warming everything in the master kept workers from listening for the
whole warm-up, which the cold-start benchmark showed to be slower for the first visitor; the
first page alone is what that visitor waits for either way.) The app factory is passed in, so this module does not
depend on the app or its callbacks.
"""
from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dash
from dash import Dash
from gunicorn.app.base import BaseApplication

from analysis.results import warm
from data.active import ENV_VAR, active_dataset


GC_THRESHOLDS = (50_000, 20, 20)
"""[C] Allocations between young-generation collections (Python's default is 700), then the older
generations' multipliers. Building a page allocates hundreds of thousands of short-lived objects
(frames, figures, JSON); at the default the collector took about 5% of a cold page's CPU."""


def settle_gc() -> None:
    """Exclude what is loaded so far (libraries, the app, the dataset) from cyclic garbage collection
    (``gc.freeze``: it lives as long as the process, and a forked worker's collector then leaves its
    memory pages shared)
    and collect less often (``GC_THRESHOLDS``). Unreachable cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True)
class ServeOptions:
    """How many workers and threads, where to listen, and whether each worker warms its statistics at start."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8050
    workers: int = 2
    threads: int = 4
    timeout: int = 60
    warm: bool = True
    access_log: bool = False


class DashboardServer(BaseApplication):
    def __init__(self, options: ServeOptions, started: float, app_factory: Callable[[], Dash]) -> None:
        self.options = options
        self.started = started
        self.app_factory = app_factory
        super().__init__()

    def load_config(self) -> None:
        o = self.options
        settings = {
            "bind": f"[{o.host}]:{o.port}" if ":" in o.host else f"{o.host}:{o.port}",
            "workers": o.workers,
            "worker_class": "gthread",
            "threads": o.threads,
            "preload_app": True,
            "timeout": o.timeout,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": "-" if o.access_log else None,
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "pioneers",
            "control_socket_disable": True,  # several servers may run side by side (tests, workshops)
            "when_ready": self._when_ready,
        }
        if o.warm:
            settings["post_worker_init"] = _warm_worker
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        app = self.app_factory()
        # Dash records which script files it may serve only while rendering its index page, per
        # process: a worker whose first request is a script the index (served by another worker)
        # named would answer "dash is not a registered library". Render it once here, before fork.
        with app.server.test_client() as client:
            client.get("/")
        t0 = time.perf_counter()
        ds = active_dataset()  # in the master, before fork: every worker inherits it
        print(f"loaded dataset {ds.label} {ds.checksum} in {time.perf_counter() - t0:.2f} s (shared by workers)",
              flush=True)
        if self.options.warm:
            t0 = time.perf_counter()
            try:
                render_first_page(app)
            except Exception as exc:  # noqa: BLE001 - as in _warm_worker: it only costs the first visitor speed
                print(f"first page not rendered before fork: {exc}", flush=True)
            else:
                print(f"first page rendered in {time.perf_counter() - t0:.2f} s (shared by workers)", flush=True)
        settle_gc()
        return app.server

    def _when_ready(self, arbiter) -> None:
        o = self.options
        print(f"Pioneer indicators dashboard on http://{o.host}:{o.port}/ ({o.workers} workers x {o.threads} "
              f"threads; listening {time.perf_counter() - self.started:.2f} s after start)", flush=True)


def render_first_page(app: Dash) -> None:
    """Render the page at "/" as a first visitor's browser asks for it (no URL arguments), through
    the page's registered layout: what it computes stays in this process's memo, and its layout
    JSON goes to the shared results cache (a hit there computes nothing)."""
    page = next((p for p in dash.page_registry.values() if p.get("path") == "/"), None)
    if page is None or not callable(page.get("layout")):
        return
    with app.server.test_request_context("/"):
        page["layout"]()


def _warm_worker(worker) -> None:
    """In each worker, compute the shared statistics in the background (see the module docstring)."""
    def run() -> None:
        t0 = time.perf_counter()
        try:
            warm()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs the first visitors their speed
            worker.log.warning("worker warm-up failed", exc_info=True)
            return
        worker.log.info("worker %s: statistics warm in %.2f s", os.getpid(), time.perf_counter() - t0)

    threading.Thread(target=run, name="warm-worker", daemon=True).start()


def run(options: ServeOptions, app_factory: Callable[[], Dash], started: float | None = None) -> None:
    """Serve ``app_factory()`` until interrupted. The dataset directory travels to every worker in PIONEERS_DATA."""
    os.environ[ENV_VAR] = os.path.abspath(options.data_dir)  # the link, not today's version behind it
    DashboardServer(options, started if started is not None else time.perf_counter(), app_factory).run()
