"""Dashboard speed on the demo data: every callback's time, the overview's first render, figure payload sizes.

Starts the real server (`python -m cli serve`) on a free port, warms it (the first visit computes the
comparators and estimates once per dataset), then:
- POSTs each callback to /_dash-update-component N times and prints median and p95 round-trip time on
  localhost (an upper bound on server time; target p95 < 100 ms);
- loads the overview in a fresh headless Chromium context and times goto -> grid drawn (target < 2 s);
- prints the JSON size of every figure on each page (target < 300 KB).

Usage: /work/venv/bin/python benchmarks/bench_dashboard.py [--data DIR] [--repeats 15] [--geography la|ccg]

``--geography ccg`` adds ``geo=ccg`` to every page and callback (the CCG units; on the demo, generated).
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.demo import build_demo  # noqa: E402
from tests.browser import dash_http  # noqa: E402
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, wait_ready  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(Path(tempfile.gettempdir()) / "bench_dashboard_server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(data), "--port", str(port)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/", timeout=5).read()
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; see {log.name}")


def timed(fn, repeats: int) -> list[float]:
    fn()  # the first call fills the per-dataset caches; steady state is what users see after that
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def figure_sizes(layout) -> list[tuple[str, int]]:
    sizes = []
    for c in dash_http.components(layout):
        if c.get("type") == "Graph" and "figure" in c["props"]:
            figure = c["props"]["figure"]
            title = (figure.get("layout", {}).get("title", {}) or {}).get("text", "")
            sizes.append((title[:70], len(json.dumps(figure))))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--geography", choices=("la", "ccg"), default="la")
    args = parser.parse_args()

    def q(search: str) -> str:
        """The query with the geography (LA, the default, adds nothing)."""
        if args.geography == "la":
            return search
        return f"{search}&geo={args.geography}" if search else f"?geo={args.geography}"

    print(f"geography: {args.geography}")
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        args.data = Path(tmp.name) / "demo"
        build_demo(args.data, seed=2013)
    proc, base = start_server(args.data)
    try:
        # Each worker warms its statistics in the background at start; measuring during that would
        # time the warm-up, not the dashboard.
        log = Path(tempfile.gettempdir()) / "bench_dashboard_server.log"
        t0 = time.perf_counter()
        while "statistics warm in" not in log.read_text() and time.perf_counter() - t0 < 300:
            time.sleep(1)
        print(f"server warm-up finished after {time.perf_counter() - t0:.0f} s of waiting")
        t0 = time.perf_counter()
        for basis in ("did", "its", "england", "spc"):
            dash_http.page(base, "/", q(f"?basis={basis}"))
        print(f"warm-up (comparators, estimates, trends, SPC for all 300 series): {time.perf_counter() - t0:.1f} s")

        pages = {"overview (did)": ("/", ""), "overview (spc, anonymised)": ("/", "?basis=spc&anon=1"),
                 "site": ("/site/leeds", ""), "site (anonymised)": ("/site/pioneer-k", "?anon=1"),
                 "site x indicator (quarterly)": ("/site/leeds/indicator/ea_all", ""),
                 "site x indicator (monthly)": ("/site/leeds/indicator/dtoc", ""),
                 "indicator (quarterly)": ("/indicator/ea_all", ""), "indicator (monthly)": ("/indicator/dtoc", ""),
                 "indicators": ("/indicators", ""), "sites": ("/site", ""), "matching": ("/matching", ""),
                 "data": ("/data", ""), "programme": ("/programme", ""),
                 "not found": ("/site/nowhere", "")}
        rows = []
        for name, (path, search) in pages.items():
            rows.append((f"page router: {name}", timed(lambda p=path, s=q(search): dash_http.page(base, p, s),
                                                       args.repeats)))
        layout, _ = dash_http.page(base, "/site/leeds/indicator/ea_all", q(""))
        key = dash_http.csv_keys(layout)[0]
        rows.append(("chart CSV download", timed(lambda: dash_http.csv_download(base, key), args.repeats)))
        rows.append(("grid CSV download", timed(lambda: dash_http.download(
            base, "grid-csv-download", "grid-csv-button", q("?basis=did")), args.repeats)))
        rows.append(("workbook download (.xlsx)", timed(lambda: dash_http.download(
            base, "package-download", "package-button", q("")), max(3, args.repeats // 5))))

        def matching(k=[3]):
            k[0] = 3 + (k[0] - 2) % 13  # a new k each call: a real recomputation, not a cache hit
            body = {"output": "match-output.children", "outputs": {"id": "match-output", "property": "children"},
                    "inputs": [{"id": "match-method", "property": "value", "value": "mahalanobis"},
                               {"id": "match-k", "property": "value", "value": k[0]},
                               {"id": "match-covariates", "property": "value",
                                "value": ["log_population", "share_65", "deprivation", "density"]},
                               {"id": "match-kauto", "property": "value", "value": []},
                               {"id": "match-caliper", "property": "value", "value": None}],
                    "state": [{"id": "url", "property": "search", "value": q("")}],
                    "changedPropIds": ["match-k.value"]}
            dash_http.post(base, body)
        rows.append(("matching: recompute (new k each call)", timed(matching, args.repeats)))

        def shell_sync():
            body = {"output": "..url.pathname...url.search...anon-switch.value...present-switch.value..."
                              "geo-switch.value..",
                    "outputs": [{"id": "url", "property": p} for p in ("pathname", "search")]
                    + [{"id": i, "property": "value"} for i in ("anon-switch", "present-switch", "geo-switch")],
                    "inputs": [{"id": "url", "property": "pathname", "value": "/site/leeds"},
                               {"id": "url", "property": "search", "value": q("")},
                               {"id": "anon-switch", "property": "value", "value": True},
                               {"id": "present-switch", "property": "value", "value": False},
                               {"id": "geo-switch", "property": "value", "value": args.geography}],
                    "changedPropIds": ["anon-switch.value"]}
            dash_http.post(base, body)
        rows.append(("shell: mode switch -> URL", timed(shell_sync, args.repeats)))

        def nav():
            body = {"output": "..nav-overview.href...nav-sites.href...nav-indicators.href...nav-matching.href..."
                              "nav-data.href...nav-brand.href...navbar.className...site-picker.options..."
                              "nav-programme.href..",
                    "outputs": [{"id": i, "property": "href"} for i in
                                ("nav-overview", "nav-sites", "nav-indicators", "nav-matching", "nav-data",
                                 "nav-brand")]
                    + [{"id": "navbar", "property": "className"}, {"id": "site-picker", "property": "options"},
                       {"id": "nav-programme", "property": "href"}],
                    "inputs": [{"id": "url", "property": "search", "value": q("?anon=1")}],
                    "changedPropIds": ["url.search"]}
            dash_http.post(base, body)
        rows.append(("shell: nav links keep the query", timed(nav, args.repeats)))

        print(f"\ncallback round-trip on localhost, ms (median / p95 over {args.repeats}; target p95 < 100)")
        for name, values in rows:
            flag = "" if p95(values) < 100 else "  <- over target"
            print(f"  {name:<45} {statistics.median(values):8.1f} {p95(values):8.1f}{flag}")

        print("\nfigure payloads, KB (target < 300)")
        for name, (path, search) in pages.items():
            layout, _ = dash_http.page(base, path, q(search))
            for title, size in figure_sizes(layout):
                flag = "" if size < 300_000 else "  <- over target"
                print(f"  {name:<30} {size / 1000:7.1f}  {title}{flag}")
            print(f"  {name:<30} {len(json.dumps(layout)) / 1000:7.1f}  (whole page layout)")

        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            times = []
            for _ in range(5):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                t0 = time.perf_counter()
                page.goto(base + "/" + q(""))
                page.wait_for_selector("#grid td a")
                wait_ready(page)
                times.append(time.perf_counter() - t0)
                context.close()
            browser.close()
        print(f"\noverview first render in headless chromium (fresh context each; target < 2 s): "
              f"median {statistics.median(times):.2f} s, runs " + ", ".join(f"{t:.2f}" for t in times))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
