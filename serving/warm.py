"""Warm a freshly started server: time the first page, then walk every page in the background.

Run by the server once its workers listen (``python -m serving.warm URL``). The walk fires each
page's callbacks as a browser would, so the shared results cache holds every result before the
audience asks for it. Prints what it measured; never fails the server.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from serving.walk import HttpTransport, Session, dataset_path_values, page_paths


def wait_until_healthy(transport: HttpTransport, deadline_s: float = 30.0) -> bool:
    end = time.perf_counter() + deadline_s
    while time.perf_counter() < end:
        try:
            status, _ = transport.get("/healthz")
            if status in (200, 503):
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def all_paths(per_template: int | None = None) -> list[str]:
    """Every page URL of the app for the dataset it serves (registry read in this process).

    PIONEERS_WARM_PER_TEMPLATE limits how many ids fill each path template (default: all)."""
    import os

    import dash

    from app import create_app
    from data.active import active_dataset

    create_app()
    registry = [p for p in dash.page_registry.values() if not p["module"].endswith("not_found_404")]
    limit = per_template or int(os.environ.get("PIONEERS_WARM_PER_TEMPLATE", "0")) or None
    return page_paths(registry, dataset_path_values(active_dataset()), per_template=limit)


def warm(url: str, started: float | None = None) -> dict:
    transport = HttpTransport(url)
    if not wait_until_healthy(transport):
        return {"error": f"{url} did not answer /healthz"}
    session = Session(transport)
    t0 = time.perf_counter()
    session.open("/")
    first = time.perf_counter() - t0
    report = {"first_page_s": round(first, 3),
              "first_page_after_start_s": round(time.perf_counter() - started, 3) if started else None}
    t1 = time.perf_counter()
    paths = all_paths()
    for path in paths:
        session.navigate(path)
    report.update(pages=len(paths), requests=len(session.steps), walk_s=round(time.perf_counter() - t1, 2),
                  errors=sum(1 for s in session.steps if s.status >= 400))
    transport.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.warm")
    parser.add_argument("url")
    parser.add_argument("--started", type=float, help="time.perf_counter() when the server command started")
    args = parser.parse_args(argv)
    try:
        report = warm(args.url, args.started)
    except Exception as exc:  # noqa: BLE001 - warming is best effort; the server keeps serving
        print(f"cache warming stopped: {exc.__class__.__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    if "error" in report:
        print(f"cache warming: {report['error']}", file=sys.stderr, flush=True)
        return 1
    after = report["first_page_after_start_s"]
    print(f"first page served in {report['first_page_s']:.2f} s"
          + (f" ({after:.2f} s after the serve command started)" if after is not None else "")
          + f"; cache warmed: {report['pages']} pages, {report['requests']} requests in {report['walk_s']:.1f} s, "
          f"{report['errors']} errors", flush=True)
    print("warm-report " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
