"""Foundation figures: demo build time, dataset load time and peak memory of loading it.

Run: .venv/bin/python benchmarks/bench_data.py   (targets: build < 10 s, load < 0.5 s)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.demo import build_demo  # noqa: E402

LOAD_AND_MEASURE = """
import resource, sys, time
sys.path.insert(0, {root!r})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import pandas, pyarrow.parquet  # imports are not the dataset's cost
after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from data.store import load_dataset
t0 = time.perf_counter()
ds = load_dataset({path!r})
t = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
mem = sum(f.memory_usage(deep=True).sum() for f in ds.tables.values()) / 2**20
print(f"{{t:.3f}} {{after_imports / 1024:.1f}} {{peak / 1024:.1f}} {{len(ds.observations)}} {{mem:.1f}}")
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            build_demo(out, seed=2013)
            times.append(time.perf_counter() - t0)
        print(f"demo build: best {min(times):.2f} s, worst {max(times):.2f} s over 3 runs (target < 10 s)")
        loads, peaks = [], []
        for _ in range(5):
            res = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE.format(root=str(ROOT), path=str(out))],
                                 capture_output=True, text=True, check=True)
            t, base, peak, rows, mem = res.stdout.split()
            loads.append(float(t))
            peaks.append(float(peak) - float(base))
        print(f"dataset load (verify SHA-256 + read all tables, {rows} observations): "
              f"median {sorted(loads)[2]:.3f} s over 5 cold processes (target < 0.5 s)")
        print(f"peak memory of loading: process peak RSS {peak} MB, of which {base} MB is the interpreter with "
              f"pandas/pyarrow imported; the loaded tables hold {mem} MB")


if __name__ == "__main__":
    main()
