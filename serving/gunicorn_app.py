"""The production server: gunicorn run in-process, with the app preloaded and the cache warmed.

The master imports the app and loads the dataset once (``preload_app``), so each forked
worker starts with the dataset in memory (shared copy-on-write) and answers its first page
without a cold load. When the workers are up, a separate warming process walks every page
and fires their callbacks, filling the shared results cache in the background; it prints how
long the first page took and how long the whole walk took.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gunicorn.app.base import BaseApplication

from data.active import ENV_VAR


@dataclass(frozen=True)
class ServeOptions:
    """How many workers and threads, where to listen, and whether to warm the cache at start."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8050
    workers: int = 2
    threads: int = 4
    timeout: int = 60
    warm: bool = True
    access_log: bool = False


class DashboardServer(BaseApplication):
    def __init__(self, options: ServeOptions, started: float) -> None:
        self.options = options
        self.started = started
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
            "post_worker_init": _warm_worker,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        from app import create_app
        from data.active import active_dataset

        app = create_app()
        t0 = time.perf_counter()
        ds = active_dataset()  # in the master, before fork: every worker inherits it
        print(f"loaded dataset {ds.label} {ds.checksum} in {time.perf_counter() - t0:.2f} s (shared by workers)",
              flush=True)
        return app.server

    def _when_ready(self, arbiter) -> None:
        o = self.options
        print(f"Pioneer indicators dashboard on http://{o.host}:{o.port}/ ({o.workers} workers x {o.threads} "
              f"threads; listening {time.perf_counter() - self.started:.2f} s after start)", flush=True)
        if o.warm:
            url = f"http://{'127.0.0.1' if o.host in ('0.0.0.0', '::') else o.host}:{o.port}"
            subprocess.Popen([sys.executable, "-m", "serving.warm", url, "--started", str(self.started)],
                             cwd=str(Path(__file__).resolve().parents[1]), env=os.environ.copy())


def _warm_worker(worker) -> None:
    """In each worker, compute its in-process statistics (comparators, estimates, trends, grids) in the
    background: page layouts come from the shared cache, but a chart's CSV or a live recompute
    needs them in the worker that answers, and otherwise the first such click on each worker paid
    for them."""
    import threading

    from layouts.components.results import warm

    def run() -> None:
        try:
            warm()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs the first click its speed
            worker.log.warning("worker warm-up failed", exc_info=True)

    threading.Thread(target=run, name="warm-worker", daemon=True).start()


def run(options: ServeOptions, started: float | None = None) -> None:
    """Serve until interrupted. The dataset directory travels to every worker in PIONEERS_DATA."""
    os.environ[ENV_VAR] = os.path.abspath(options.data_dir)  # the link, not today's version behind it
    DashboardServer(options, started if started is not None else time.perf_counter()).run()
