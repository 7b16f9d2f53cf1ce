"""Cold start: how long from `pioneers serve` to the first complete overview page, empty cache.

Each run starts gunicorn (2 workers) on a fresh results cache, polls /healthz from the moment
the command starts, then opens "/" as the first person would (HTML, layout, dependencies, the
page router and every initial callback) and prints when that page was complete. Target: the
first page complete within 3 s of the command (the master computes the shared statistics
before it forks, so that time is in "listening").

    python benchmarks/bench_cold_start.py [--runs 3] [--data DIR]

Without ``--data`` it builds the demo dataset (seed 2013); ``--data`` serves a built dataset
(e.g. from ``pioneers build-real``) instead. The load average is printed, since on a shared
machine it moves the figures by seconds.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.demo import build_demo  # noqa: E402
from tests.dash_walk import HttpTransport, Session  # noqa: E402


def one_run(data_dir: Path, cache_dir: Path) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(cache_dir)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(data_dir), "--port", str(port),
                             "--workers", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    transport = HttpTransport(f"http://127.0.0.1:{port}", timeout=60)
    try:
        while True:
            try:
                if transport.get("/healthz")[0] == 200:
                    break
            except OSError:
                transport.close()
            if time.perf_counter() - started > 120:
                raise RuntimeError("server did not answer /healthz within 120 s")
            time.sleep(0.02)
        listening = time.perf_counter() - started
        session = Session(transport)
        t0 = time.perf_counter()
        session.open("/")
        first = time.perf_counter() - t0
        errors = sum(1 for s in session.steps if s.status >= 400)
    finally:
        transport.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return {"listening_s": listening, "first_page_s": first, "complete_s": listening + first, "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, help="a built dataset directory (default: build the demo)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pioneers-cold-"))
    data_dir = args.data
    if data_dir is None:
        data_dir = tmp / "demo"
        build_demo(data_dir, seed=2013)
    print(f"dataset {data_dir}; load average before the runs {os.getloadavg()[0]:.1f}")
    worst = 0.0
    for i in range(args.runs):
        r = one_run(data_dir, tmp / f"cache{i}")
        worst = max(worst, r["complete_s"])
        print(f"run {i + 1}: answering /healthz {r['listening_s']:.2f} s after the command started; first page "
              f"(HTML, layout, router, initial callbacks; empty cache) took {r['first_page_s']:.2f} s, complete "
              f"{r['complete_s']:.2f} s after the command started; {r['errors']} errors")
    r = one_run(data_dir, tmp / f"cache{args.runs - 1}")
    print(f"restart on the last run's cache (page layouts kept on disk): first page {r['first_page_s']:.2f} s, "
          f"complete {r['complete_s']:.2f} s after the command started")
    print(f"load average after the runs {os.getloadavg()[0]:.1f}")
    print(f"worst first page complete after a cold start: {worst:.2f} s (target <= 3 s: "
          f"{'met' if worst <= 3 else 'NOT met'})")
    return 0 if worst <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
