"""Peak resident memory of one gunicorn worker serving the demo data after a full walk of pages.

Starts `pioneers serve --workers 1 --no-warm` on a fresh demo dataset and an empty results
cache, walks every page (all 25 sites, 12 indicators and their 300 pairs, the overview, data,
matching and index pages) firing each page's callbacks and changing its controls once, then
reads the worker's VmHWM (peak resident set, shared pages included, so an upper bound) from
/proc. Target: under 400 MB.

    python benchmarks/bench_memory.py [--per-template N]
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.demo import build_demo  # noqa: E402
from data.store import load_dataset  # noqa: E402
from tests.dash_walk import HttpTransport, Session, app_paths  # noqa: E402


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-template", type=int, default=0, help="ids per path template (0: all)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pioneers-mem-"))
    build_demo(tmp / "demo", seed=2013)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(tmp / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(tmp / "demo"), "--port", str(port),
                             "--workers", "1", "--no-warm"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    transport = HttpTransport(f"http://127.0.0.1:{port}", timeout=120)
    for _ in range(300):
        try:
            status, body = transport.get("/healthz")
            break
        except OSError:
            transport.close()
            time.sleep(0.1)
    worker = json.loads(body)["pid"]
    start_kb = status_kb(worker, "VmRSS")

    os.environ["PIONEERS_DATA"] = str(tmp / "demo")
    paths = app_paths(load_dataset(tmp / "demo"), args.per_template or None)
    session = Session(transport, fetch_assets=True)
    t0 = time.perf_counter()
    session.open("/")
    for path in paths:
        session.navigate(path)
        session.use_controls(limit_per_control=1, downloads=path in ("/", "/data"))
    walk_s = time.perf_counter() - t0
    errors = sum(1 for s in session.steps if s.status >= 400)
    peak_kb, now_kb = status_kb(worker, "VmHWM"), status_kb(worker, "VmRSS")
    master_kb = status_kb(proc.pid, "VmRSS")
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)

    print(f"walked {len(paths)} pages ({len(session.steps)} requests, {errors} errors) in {walk_s:.1f} s")
    print(f"worker pid {worker}: resident {start_kb / 1024:.0f} MB after start, {now_kb / 1024:.0f} MB after the walk, "
          f"peak {peak_kb / 1024:.0f} MB (VmHWM; target < 400 MB: {'met' if peak_kb < 400 * 1024 else 'NOT met'})")
    print(f"master (preloaded app and dataset, shared copy-on-write with the worker): {master_kb / 1024:.0f} MB")
    return 0 if peak_kb < 400 * 1024 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
