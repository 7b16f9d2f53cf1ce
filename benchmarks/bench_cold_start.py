"""Cold start: how long from `pioneers serve` to the first complete overview page, empty cache.

Each run starts gunicorn (2 workers) on a fresh results cache, waits for the background warmer's
report (it opens "/" first, as the first person would: HTML, layout, router, every initial
callback) and prints that figure. Target: the first page not blocked for more than 3 s.

    python benchmarks/bench_cold_start.py [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_run(data_dir: Path, cache_dir: Path) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(cache_dir), "PIONEERS_WARM_PER_TEMPLATE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(data_dir), "--port", str(port),
                             "--workers", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    report, listening = None, None
    for line in proc.stdout:
        if "listening" in line and "after start" in line:
            listening = float(line.split("listening ")[1].split(" s")[0])
        if line.startswith("warm-report "):
            report = json.loads(line.split(" ", 1)[1])
            break
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    return {**(report or {}), "listening_s": listening}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from data.demo import build_demo

    tmp = Path(tempfile.mkdtemp(prefix="pioneers-cold-"))
    build_demo(tmp / "demo", seed=2013)
    worst = 0.0
    for i in range(args.runs):
        r = one_run(tmp / "demo", tmp / f"cache{i}")
        worst = max(worst, r["first_page_s"])
        print(f"run {i + 1}: listening {r['listening_s']:.2f} s after the command started; first page (HTML, layout, "
              f"router, initial callbacks; empty cache) took {r['first_page_s']:.2f} s, complete "
              f"{r['first_page_after_start_s']:.2f} s after the command started")
    r = one_run(tmp / "demo", tmp / f"cache{args.runs - 1}")
    print(f"restart on the last run's cache (a normal restart; results kept on disk): first page "
          f"{r['first_page_s']:.2f} s, complete {r['first_page_after_start_s']:.2f} s after the command started")
    print(f"worst first page on a cold start: {worst:.2f} s (target <= 3 s: {'met' if worst <= 3 else 'NOT met'})")
    return 0 if worst <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
