"""Time to build every site's trend series (25 sites x 12 indicators) and their SPC charts.

    python benchmarks/bench_trend.py [--data DIR] [--repeat 3]

Uses the demo dataset (built in a temporary folder unless --data is given). Comparators are a
stand-in for matching's output (the 10 pool LAs nearest on standardised baseline population,
share aged 65+ and deprivation), because this benchmark measures the trend code, not matching.
Prints: trend_table (all 300 series in one aggregation, the one route the dashboard takes) and
SPC on all 300 series.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.demo import build_demo  # noqa: E402
from data.reference import load_reference  # noqa: E402
from data.store import load_dataset  # noqa: E402
from indicators.trend import trend_spc, trend_table  # noqa: E402


def stand_in_comparators(dataset, k: int = 10) -> pd.DataFrame:
    pool = load_reference().comparator_pool()
    areas = dataset.areas.set_index("area_code")
    features = np.log(areas[["population"]]).join(areas[["share_65", "deprivation"]])
    z = (features - features.loc[pool].mean()) / features.loc[pool].std()
    rows = []
    for site_id, members in dataset.site_areas.groupby("site_id"):
        centre = z.loc[members["area_code"]].mean()
        distance = np.sqrt(((z.loc[pool] - centre) ** 2).sum(axis=1)).sort_values()
        rows.append(pd.DataFrame({"site_id": site_id, "comparator_code": distance.index[:k],
                                  "distance": distance.to_numpy()[:k]}))
    return pd.concat(rows, ignore_index=True)


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = perf_counter()
        result = fn()
        times.append(perf_counter() - t0)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="dataset directory (default: build the demo in a temp folder)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    if args.data is None:
        args.data = Path(tempfile.mkdtemp()) / "demo"
        build_demo(args.data, seed=2013)
    dataset = load_dataset(args.data)
    comparators = stand_in_comparators(dataset)
    polarity = dataset.catalogue.set_index("indicator_id")["polarity"]
    n_sites, n_ind = len(dataset.sites), len(dataset.catalogue)
    print(f"dataset {args.data} ({dataset.label}): {n_sites} sites x {n_ind} indicators, "
          f"{len(dataset.observations):,} observations")

    times, table = timed(lambda: trend_table(dataset, comparators), args.repeat)
    n_series = table.groupby(["site_id", "indicator_id"]).ngroups
    print(f"trend_table (batch, {n_series} series, {len(table):,} rows): "
          f"median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms over {args.repeat} runs")

    groups = list(table.groupby(["site_id", "indicator_id"], sort=False))

    def all_spc():
        return [trend_spc(frame, polarity[ind]) for (_, ind), frame in groups]

    times, charts = timed(all_spc, args.repeat)
    n_special = sum(int(c["special_cause"].any()) for c in charts)
    print(f"SPC for all {len(charts)} series: median {statistics.median(times) * 1000:.0f} ms, "
          f"best {min(times) * 1000:.0f} ms ({n_special} series with a special cause)")


if __name__ == "__main__":
    main()
