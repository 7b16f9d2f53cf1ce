"""Print how well the comparators balance their sites: the old rule (algorithm 2, k nearest) against
the new one (algorithm 3, balanced), on the per-indicator sets the estimates use.

    .venv/bin/python benchmarks/bench_balance.py [--data DIR] [--geography la|ccg] [--k 5]

Prints, for each rule (and k auto by balance): the share of site x indicator cells in which every
covariate's |SMD| is below 0.25 (and below 0.1), the mean |SMD| per covariate, and the comparators'
mean and largest distance; before matching (site vs the whole pool) is printed once. Default data:
the real dataset built by `pioneers build-real` at /tmp/balance-real, else a fresh demo.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data.demo import build_demo  # noqa: E402
from data.store import load_dataset  # noqa: E402
from matching.balance import THRESHOLDS  # noqa: E402
from matching.select import match, match_k_by_balance  # noqa: E402


def summarise(label: str, cs, column: str = "smd_after") -> dict:
    b = cs.balance()
    b = b[b["n_comparators"] > 0]
    a = b[column].abs()
    worst = a.groupby([b["site_id"], b["indicator_id"]]).max()
    per_covariate = a.groupby(b["covariate"]).mean()
    return {"rule": label, "cells": len(worst), "all < 0.25": (worst < THRESHOLDS[1]).mean(),
            "all < 0.1": (worst < THRESHOLDS[0]).mean(), "mean |SMD|": a.mean(),
            **{f"{c}": v for c, v in per_covariate.items()},
            "mean distance": cs.table["distance"].mean(), "max distance": cs.table["distance"].max()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, help="dataset directory (default /tmp/balance-real, else a fresh demo)")
    parser.add_argument("--geography", choices=["la", "ccg"], default="la")
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    tmp = None
    if args.data is None:
        args.data = Path("/tmp/balance-real")
        if not (args.data / "manifest.json").exists():
            tmp = tempfile.TemporaryDirectory()
            args.data = Path(tmp.name) / "demo"
            build_demo(args.data, seed=2013)
    dataset = load_dataset(args.data).on(args.geography)
    kind = "generated (demo)" if dataset.is_demo else "real"
    print(f"dataset {args.data} ({kind}, checksum {dataset.checksum}), geography {args.geography}, "
          f"per-indicator sets, mahalanobis, k = {args.k}")
    rows, timings = [], {}
    match(dataset, k=args.k, per_indicator=True)  # covariates computed once, outside the timings
    for label, settings in (("old: k nearest (algorithm 2)", {"rule": "nearest"}),
                            ("new: balanced (algorithm 3)", {"rule": "balanced"})):
        t0 = perf_counter()
        cs = match(dataset, k=args.k, per_indicator=True, **settings)
        timings[label] = perf_counter() - t0
        if not rows:
            rows.append(summarise("before matching (site vs pool)", cs, "smd_before"))
            rows[-1]["mean distance"] = rows[-1]["max distance"] = np.nan
        rows.append(summarise(label, cs))
    t0 = perf_counter()
    auto = match_k_by_balance(dataset, per_indicator=True)
    timings["new: balanced, k auto by balance"] = perf_counter() - t0
    rows.append(summarise("new: balanced, k auto by balance", auto))
    table = pd.DataFrame(rows).set_index("rule").T
    with pd.option_context("display.width", 200, "display.max_columns", 10, "display.float_format", "{:.3f}".format):
        print(table)
    chosen = pd.Series(auto.params["chosen_k"])
    print(f"k auto by balance: chosen k per cell: median {chosen.median():.0f}, "
          f"{(chosen == chosen.max()).mean():.0%} at k = {chosen.max()}, {(chosen == chosen.min()).mean():.0%} at "
          f"k = {chosen.min()}")
    for label, seconds in timings.items():
        print(f"time to match all sets, {label}: {seconds:.2f} s")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
