"""Ingest benchmarks: prints figures, asserts nothing.

1. Time to ingest the full delayed-transfers stack (105 months, all councils). Target < 3 s.
2. Time and peak memory to ingest a generated 5-million-row tidy CSV. Targets < 30 s, < 2 GB.
   Peak memory is the process's maximum resident set size (ru_maxrss), measured in a fresh
   subprocess so the first benchmark does not count.

Run: /work/venv/bin/python benchmarks/bench_ingest.py [--rows N]
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data.ingest import ingest  # noqa: E402
from data.real import source_paths  # noqa: E402
from data.reference import load_reference  # noqa: E402


def write_tidy(path: Path, rows: int) -> None:
    """A valid tidy CSV of ``rows`` monthly dtoc rows: councils x months (unique keys)."""
    codes = load_reference().areas["area_code"].to_numpy()
    months = pd.period_range("1900-01", periods=-(-rows // len(codes)), freq="M").strftime("%Y-%m").to_numpy()
    area = np.tile(codes, len(months))[:rows]
    period = np.repeat(months, len(codes))[:rows]
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"indicator_id": "dtoc", "area_code": area, "period": period,
                          "numerator": rng.integers(0, 5000, rows), "denominator": rng.integers(50_000, 1_000_000, rows)})
    frame.to_csv(path, index=False)


def bench_dtoc() -> None:
    stack = source_paths()["dtoc"]
    with tempfile.TemporaryDirectory() as tmp:
        ingest("tidy", [_tiny(Path(tmp))], Path(tmp) / "warm", progress=False)  # read ONS tables once
        t0 = time.perf_counter()
        summary = ingest("dtoc", [stack], Path(tmp) / "ds", progress=False)
        elapsed = time.perf_counter() - t0
    print(f"delayed-transfers stack: {summary.rows_read:,} rows read, {summary.kept:,} kept, "
          f"ingested into a new dataset in {elapsed:.2f} s (target < 3 s)")


def _tiny(tmp: Path) -> Path:
    path = tmp / "tiny.csv"
    path.write_text("indicator_id,area_code,period,numerator,denominator\nea_all,E06000001,2014/15 Q1,1,100\n")
    return path


def bench_tidy_child(csv_path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = ingest("tidy", [Path(csv_path)], Path(tmp) / "ds", progress=False)
        elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"tidy CSV: {summary.rows_read:,} rows ingested in {elapsed:.1f} s (target < 30 s); "
          f"peak memory {peak_mb:,.0f} MB (target < 2,048 MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        bench_tidy_child(args.child)
        return
    bench_dtoc()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        t0 = time.perf_counter()
        write_tidy(path, args.rows)
        print(f"generated {args.rows:,}-row tidy CSV ({path.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s")
        subprocess.run([sys.executable, __file__, "--child", str(path)], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
