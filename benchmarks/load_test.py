"""Load test: N simulated people using the dashboard at once against gunicorn on 127.0.0.1.

Each user is a thread holding one keep-alive connection, like a browser tab. A user opens the
overview (HTML, component bundles once, layout, dependencies, the page router and every
initial callback), then keeps moving: a site page, a site-and-indicator page, an indicator
page, another page, changing the controls on each (radio/dropdown options, switches, the
overview basis), pausing between actions as a person does (``--think``). Every request body
comes from the app's own layout and callback map (tests/dash_walk.py), so new callbacks are covered.

Why not locust: its pins clash with this project's environment; this bounded stdlib script
measures the same things. Prints requests per second, p50/p95/p99 by request kind, and errors.

    python benchmarks/load_test.py                     # starts its own server on the demo data
    python benchmarks/load_test.py --url http://127.0.0.1:8050   # against a running server
    python benchmarks/load_test.py --users 50 --ingest-every 20  # with `pioneers ingest` into the served dataset

With ``--ingest-every S`` a background thread runs ``pioneers ingest tidy`` into the served
dataset every S seconds (a one-row change, so each ingest writes a new version). Latency is then
also reported outside the ingest moments: while an ingest runs and ``--settle`` seconds after
it (the server reloads the new version and recomputes what the old version had cached).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
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
from tests.dash_walk import HttpTransport, Session, Step  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def site_and_indicator_paths(data_dir: Path) -> tuple[list[str], list[str], list[str]]:
    ds = load_dataset(data_dir, tables=["sites", "catalogue"])
    sites = [f"/site/{s}" for s in ds.sites["site_id"]]
    indicators = list(ds.catalogue["indicator_id"])
    pairs = [f"/site/{s}/indicator/{i}" for s in ds.sites["site_id"] for i in indicators]
    return sites, [f"/indicator/{i}" for i in indicators], pairs


class TimedTransport(HttpTransport):
    """Records when each request started and ended, to tell ingest moments from the rest."""

    def __init__(self, base_url: str, timings: list, timeout: float = 30.0) -> None:
        super().__init__(base_url, timeout=timeout)
        self.timings = timings

    def _request(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        t0 = time.perf_counter()
        status, data = super()._request(method, path, body, headers)
        self.timings.append((t0, time.perf_counter(), status, path))
        return status, data


def ingests(data_dir: Path, every: float, stop_at: float, windows: list, work: Path) -> None:
    """`pioneers ingest tidy` into the served dataset every ``every`` seconds, each changing one value."""
    i = 0
    while time.perf_counter() + every < stop_at:
        time.sleep(every)
        f = work / f"ingest{i}.csv"
        f.write_text("indicator_id,area_code,period,numerator,denominator\n"
                     f"ea_all,E06000001,2014/15 Q1,{500 + i},92000\n")
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "cli", "ingest", "tidy", str(f), "--into", str(data_dir),
                              "--quiet", "--allow-mixed"], cwd=ROOT, capture_output=True, text=True)
        windows.append((t0, time.perf_counter(), run.returncode, run.stderr.strip()[-200:]))
        i += 1


def user(url: str, stop_at: float, paths: tuple, think: float, seed: int, steps: list[Step],
         lock: threading.Lock, failures: list[str], timings: list | None = None) -> None:
    rng = random.Random(seed)
    sites, indicators, pairs = paths
    transport = TimedTransport(url, timings if timings is not None else [], timeout=60)
    session = Session(transport, fetch_assets=True)
    try:
        session.open(rng.choice(["/", "/", rng.choice(sites)]))
        session.use_controls(limit_per_control=1)
        while time.perf_counter() < stop_at:
            time.sleep(rng.uniform(0.5 * think, 1.5 * think))
            session.navigate(rng.choice([rng.choice(sites), rng.choice(pairs), rng.choice(indicators), "/",
                                         rng.choice(pairs), "/indicators", "/data", "/matching"]))
            if time.perf_counter() < stop_at:
                session.use_controls(limit_per_control=1)
    except Exception as exc:  # noqa: BLE001 - a broken connection is an error to count, not a crash
        failures.append(f"{exc.__class__.__name__}: {exc}")
    finally:
        transport.close()
        with lock:
            steps.extend(session.steps)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, workers: int, threads: int, cache_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(cache_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(data_dir), "--port", str(port),
                             "--workers", str(workers), "--threads", str(threads)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    warmed = 0
    for line in proc.stdout:  # wait until every worker has warmed its statistics (pages render on demand)
        print("  server: " + line.rstrip())
        warmed += "statistics warm in" in line or "warm-up failed" in line
        if warmed >= workers:
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server (default: start gunicorn on the demo data)")
    parser.add_argument("--data", type=Path, help="dataset directory (default: a fresh demo dataset)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", type=float, default=2.0, help="mean pause between a person's actions, s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--ingest-every", type=float, default=0,
                        help="run `pioneers ingest` into the served dataset every S seconds (default: never)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds after an ingest still counted as its moment (default 5)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pioneers-load-"))
    data_dir = args.data
    if data_dir is None:
        data_dir = tmp / "demo"
        build_demo(data_dir, seed=2013)
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(data_dir, args.workers, args.threads, tmp / "cache")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    paths = site_and_indicator_paths(data_dir)
    steps: list[Step] = []
    failures: list[str] = []
    lock = threading.Lock()
    print(f"load test: {args.users} users for {args.seconds:.0f} s against {url} (commit {commit}; "
          f"think time {args.think} s mean; {args.workers} workers x {args.threads} threads)")
    t0 = time.perf_counter()
    stop_at = t0 + args.seconds
    timings: list = []
    windows: list = []
    users = [threading.Thread(target=user, args=(url, stop_at, paths, args.think, i, steps, lock, failures, timings))
             for i in range(args.users)]
    writer = None
    if args.ingest_every > 0:
        writer = threading.Thread(target=ingests, args=(data_dir, args.ingest_every, stop_at, windows, tmp))
        writer.start()
    for i, th in enumerate(users):
        th.start()
        time.sleep(min(0.1, args.seconds / max(1, args.users) / 10))  # people arrive over ~2 s
    for th in users:
        th.join()
    if writer is not None:
        writer.join()
    elapsed = time.perf_counter() - t0
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    shutil.rmtree(tmp, ignore_errors=True)

    errors = [s for s in steps if s.status >= 400]
    print(f"\n{len(steps)} requests in {elapsed:.1f} s: {len(steps) / elapsed:.1f} requests/s; "
          f"errors: {len(errors) + len(failures)} ({len(errors)} HTTP >= 400, {len(failures)} broken connections)")
    print(f"{'kind':<14}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    kinds = ["all (no bundles)"] + sorted({s.kind for s in steps})
    for kind in kinds:
        sel = [s.seconds * 1000 for s in steps if (s.kind == kind or (kind.startswith("all") and s.kind != "asset"))]
        if sel:
            print(f"{kind:<14}{len(sel):>7}{percentile(sel, 50):>9.0f}{percentile(sel, 95):>9.0f}"
                  f"{percentile(sel, 99):>9.0f}{max(sel):>9.0f}")
    slow = sorted(steps, key=lambda s: -s.seconds)[:5]
    print("slowest: " + "; ".join(f"{s.kind} {s.path[:50]} {s.seconds * 1000:.0f} ms" for s in slow))
    for f in failures[:5]:
        print("failure: " + f)
    for e in errors[:5]:
        print(f"error: {e.status} {e.kind} {e.path}")
    p95_all = percentile([s.seconds for s in steps if s.kind != "asset"], 95)
    p95_target = p95_all
    if args.ingest_every > 0:
        print(f"ingests: {len(windows)} (" + "; ".join(f"at {a - t0:.0f} s, {b - a:.1f} s, exit {rc}"
                                                     for a, b, rc, _ in windows) + ")")
        for a, b, rc, err in windows:
            if rc != 0:
                print(f"ingest failed: {err}")
        dynamic = [(a, b, st) for a, b, st, path in timings
                   if not path.startswith(("/_dash-component-suites/", "/assets/"))]

        def in_moment(a: float, b: float) -> bool:
            return any(a < w1 + args.settle and b > w0 for w0, w1, _, _ in windows)

        inside = [(b - a) for a, b, _ in dynamic if in_moment(a, b)]
        outside = [(b - a) for a, b, _ in dynamic if not in_moment(a, b)]
        for name, sel in (("outside ingest moments", outside), (f"during ingests (+{args.settle:.0f} s)", inside)):
            ms = [v * 1000 for v in sel]
            print(f"{name:<28}{len(ms):>7} requests  p50 {percentile(ms, 50):.0f} ms  p95 {percentile(ms, 95):.0f} ms"
                  f"  p99 {percentile(ms, 99):.0f} ms")
        p95_target = percentile(outside, 95)
        errors_rc = [w for w in windows if w[2] != 0]
        failures = failures + [f"ingest exit {w[2]}" for w in errors_rc]
    target_ok = not errors and not failures and p95_target < 0.300
    where = " outside ingest moments" if args.ingest_every > 0 else ""
    print(f"targets (zero errors, p95{where} < 300 ms excluding one-off bundle downloads): "
          f"{'met' if target_ok else 'NOT met'}")
    return 0 if target_ok else 1


if __name__ == "__main__":
    sys.exit(main())
