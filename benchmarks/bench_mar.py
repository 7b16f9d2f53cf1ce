"""MAR benchmarks: prints figures, asserts nothing.

1. `pioneers build-real` with the MAR (emergency admissions on CCG units and LAs), in a fresh
   process so nothing is cached: wall time. Target < 30 s.
2. `pioneers ingest mar` of the stacked table (93 months) into a new dataset: wall time.
3. The programme comparison on the real dataset (CCG and LA units, 2013/14 to 2017/18): wall time
   and the result beside the published one (Morciano 2021: +12% non-participants, +6.4% Pioneers).

Run: .venv/bin/python benchmarks/bench_mar.py [--shared DIR]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.real import shared_dir, source_paths  # noqa: E402
from data.store import load_dataset  # noqa: E402
from indicators.programme import dataset_groups, programme_comparison  # noqa: E402


def timed(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:2])} failed: {done.stderr.strip()}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=None)
    args = parser.parse_args()
    shared = ["--shared", str(shared_dir(args.shared))]
    with tempfile.TemporaryDirectory(prefix="bench-mar-") as tmp:
        real = Path(tmp) / "real"
        seconds, out = timed(["build-real", "--out", str(real), *shared])
        mar_line = next((l.strip() for l in out.splitlines() if l.strip().startswith("mar")), "")
        print(f"build-real with MAR (fresh process): {seconds:.1f} s (target < 30 s); {mar_line}")
        seconds, _ = timed(["ingest", "mar", str(source_paths(args.shared)["mar"]), "--into", str(Path(tmp) / "m"),
                            "--quiet", *shared])
        print(f"ingest mar, stacked table of 93 months, new dataset (fresh process): {seconds:.1f} s")
        dataset = load_dataset(real)
        for geography in ("ccg", "la"):
            t0 = time.perf_counter()
            groups = dataset_groups(dataset, geography)
            result = programme_comparison(groups.panel, groups.pioneers,
                                          exclude=groups.part | groups.pool_exclusions)
            elapsed = time.perf_counter() - t0
            t = result.table.set_index("group")
            print(f"programme comparison, {geography} units, 2013/14-2017/18 ({elapsed:.2f} s): "
                  f"Pioneers {t.at['pioneer', 'growth_pct']:+.1f}% [{t.at['pioneer', 'ci_low']:+.1f}, "
                  f"{t.at['pioneer', 'ci_high']:+.1f}] (n={int(t.at['pioneer', 'n_units'])}), "
                  f"non-participants {t.at['non_participant', 'growth_pct']:+.1f}% "
                  f"[{t.at['non_participant', 'ci_low']:+.1f}, {t.at['non_participant', 'ci_high']:+.1f}] "
                  f"(n={int(t.at['non_participant', 'n_units'])}), difference "
                  f"{t.at['difference', 'growth_pct']:+.1f} pp [{t.at['difference', 'ci_low']:+.1f}, "
                  f"{t.at['difference', 'ci_high']:+.1f}] p={t.at['difference', 'p_value']:.3f}")
        print("published (Morciano et al. 2021, CCGs, HES, 2013-2018): Pioneers +6.4%, non-participants +12%")


if __name__ == "__main__":
    main()
