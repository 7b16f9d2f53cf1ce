"""Time comparator selection on the demo dataset and print the balance it buys.

    /work/venv/bin/python benchmarks/bench_matching.py [--data DIR] [--repeat N]

Prints: time to build all 25 per-site sets plus all 25 x 12 per-indicator sets (target: under
0.2 s for both together), cold (fresh Dataset: covariates computed from the observations) and
warm (covariates cached per dataset and baseline date); time for placebo_comparators for all
25 sites x 12 indicators; time for the balance tables; and mean |SMD| before/after per site.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from statistics import median
from time import perf_counter, process_time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from data.demo import build_demo  # noqa: E402
from data.store import load_dataset  # noqa: E402
from matching.balance import balance_summary  # noqa: E402
from matching.select import match, placebo_set  # noqa: E402


def both_modes(dataset):
    return match(dataset), match(dataset, per_indicator=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, help="dataset directory (default: a fresh demo, seed 2013)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        args.data = Path(tmp.name) / "demo"
        build_demo(args.data, seed=2013)

    load_dataset(args.data)  # warm imports and the file cache; not part of any timing
    cold, warm, cold_cpu, warm_cpu = [], [], [], []
    for _ in range(args.repeat):
        dataset = load_dataset(args.data)
        t0, c0 = perf_counter(), process_time()
        both_modes(dataset)
        cold.append(perf_counter() - t0)
        cold_cpu.append(process_time() - c0)
        t0, c0 = perf_counter(), process_time()
        per_site, per_indicator = both_modes(dataset)
        warm.append(perf_counter() - t0)
        warm_cpu.append(process_time() - c0)
    print(f"dataset {args.data} (checksum {dataset.checksum}), median of {args.repeat} runs; "
          "wall clock, and CPU time of this process (steadier on a shared machine)")
    print(f"25 per-site + 25 x 12 per-indicator comparator sets (target < 200 ms):\n"
          f"  cold (fresh Dataset, covariates from observations): {median(cold) * 1000:.0f} ms wall, "
          f"{median(cold_cpu) * 1000:.0f} ms CPU\n"
          f"  warm (covariates cached per baseline date):          {median(warm) * 1000:.0f} ms wall, "
          f"{median(warm_cpu) * 1000:.0f} ms CPU")

    sites, indicators = list(dataset.sites["site_id"]), list(dataset.catalogue["indicator_id"])
    placebo = {"first": [], "repeat": [], "first_cpu": [], "repeat_cpu": []}
    for _ in range(3):
        fresh = load_dataset(args.data)
        for name in ("first", "repeat"):
            t0, c0 = perf_counter(), process_time()
            n_rows = sum(len(placebo_set(fresh, s, i).frame()) for s in sites for i in indicators)
            placebo[name].append(perf_counter() - t0)
            placebo[f"{name}_cpu"].append(process_time() - c0)
    ms = {name: median(v) * 1000 for name, v in placebo.items()}
    print(f"placebo_set(...).frame(), all {len(sites)} sites x {len(indicators)} indicators ({n_rows} rows):\n"
          f"  first pass on a fresh Dataset: {ms['first']:.0f} ms wall, {ms['first_cpu']:.0f} ms CPU\n"
          f"  repeat (cached):               {ms['repeat']:.0f} ms wall, {ms['repeat_cpu']:.0f} ms CPU")

    t0 = perf_counter()
    site_balance, ind_balance = per_site.balance(), per_indicator.balance()
    print(f"balance tables (25 + 300 sets): {(perf_counter() - t0) * 1000:.0f} ms")

    summary = balance_summary(site_balance)
    ind = balance_summary(ind_balance)
    by_site = ind.groupby("site_id")[["mean_abs_smd_before", "mean_abs_smd_after"]].mean()
    table = summary.set_index("site_id")[["mean_abs_smd_before", "mean_abs_smd_after", "n_good_after"]].join(
        by_site.add_prefix("per_indicator_"))
    table.columns = ["before", "after", "good_after(of 4)", "per_ind_before", "per_ind_after"]
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(f"\nmean |SMD| per site (per-site sets on 4 demographic covariates, version {per_site.version}; "
              f"per-indicator columns average 12 sets on 6 covariates, version {per_indicator.version})")
        print(table.to_string())
    print(f"\nper-site sets improved: {int(summary['improved'].sum())} of {len(summary)}; "
          f"per-indicator sets improved: {int(ind['improved'].sum())} of {len(ind)}")
    worse = ind[~ind["improved"]]
    if len(worse):
        print("per-indicator sets not improved: "
              + ", ".join(f"{r.site_id}/{r.indicator_id}" for r in worse.itertuples()))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
