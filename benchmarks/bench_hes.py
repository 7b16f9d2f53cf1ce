"""HES builder speed and memory: episodes per second, wall time and peak memory, per engine.

    python benchmarks/bench_hes.py --episodes 20000000 --engine duckdb     # target < 10 min, < 4 GB
    python benchmarks/bench_hes.py --episodes 1000000 --engine spark --compare duckdb

The synthetic extract (pioneers hes synth) is generated first, outside the timing, and reused
from --workdir when it is already there. ``--replicate K`` instead builds the input from K copies
of a generated 1-million-episode extract with distinct episode, patient and attendance keys
(generating 20 million episodes takes the generator ~12 minutes on an idle machine and far longer
on a loaded one; for throughput the copies are as good). The build (read, check, spells, every indicator, the
quarterly observations) runs in a fresh child process so its peak memory is its own: the figure
is the largest total resident memory of that process and every process it started (Spark's
JVM included), sampled every half second.
--compare runs the other engine on the same files and says whether every count is identical.
The machine's load (uptime) is printed beside the figures: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import pandas as pd
from data.hes.build import count_extract, observations_from_counts
from data.reference import load_reference
work, engine, counts_out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
counts, summary = count_extract([f"{work}/apc_*.parquet"], [f"{work}/ae*.parquet"], engine)
population = pd.read_csv(f"{work}/population.csv")
obs, summary = observations_from_counts(counts, summary, reference=load_reference(), population=population)
wall = time.perf_counter() - t0
counts.to_parquet(counts_out)
print(json.dumps({"wall": wall, "rows": summary["apc_rows"], "ae_rows": summary.get("ae_rows", 0),
                  "cips": summary["cips"], "observations": len(obs), "timings": summary["timings"]}))
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants (Spark's JVM included), from /proc."""
    parents, rss = {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            rss[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        kids = [p for p, pp in parents.items() if pp in frontier and p not in tree]
        tree.update(kids)
        frontier = kids
    return sum(rss.get(p, 0) for p in tree) / 2**20


def run_build(work: Path, engine: str) -> dict:
    """The build in a child process; its peak memory is the largest sum of its process tree's RSS,
    sampled every 0.5 s."""
    import threading

    counts_out = work / f"counts_{engine}.parquet"
    proc = subprocess.Popen([sys.executable, "-W", "ignore", "-c", CHILD, str(work), engine, str(counts_out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"{engine} build failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mb"] = peak[0]
    result["counts"] = counts_out
    return result


def replicate(base: Path, work: Path, copies: int, seed: int) -> None:
    """K copies of a generated extract with keys offset per copy (patients stay distinct)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not (base / "GENERATED.txt").exists():
        sys.path.insert(0, str(ROOT))
        from data.hes import synth  # here: the parent only times and samples child builds (their memory
        # is the figure); it loads the project just to generate an input that is missing

        synth.write(base, episodes=1_000_000, seed=seed)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for path in sorted(base.glob("*.parquet")):
        table = pq.read_table(path)
        for k in range(copies):
            offset = pa.scalar(k * 10**11, pa.int64())
            copy = table
            for key in ("EPIKEY", "HESID", "AEKEY"):
                if key in copy.column_names:
                    i = copy.column_names.index(key)
                    copy = copy.set_column(i, key, pc.add(copy.column(key).cast(pa.int64()), offset))
            pq.write_table(copy, work / f"{path.stem}_r{k}.parquet", compression="zstd")
    pop = pd.read_csv(base / "population.csv")
    pop.assign(population=pop["population"] * copies).to_csv(work / "population.csv", index=False)
    (work / "GENERATED.txt").write_text(f"{copies} copies of the generated extract in {base} (not real data)\n")
    print(f"assembled {copies} copies of {base} in {time.perf_counter() - t0:.0f} s -> {work}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--compare", choices=["duckdb", "spark"], help="also run this engine and compare counts")
    parser.add_argument("--workdir", type=Path, help="where the synthetic extract is kept (default /tmp)")
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--replicate", type=int, default=0, help="K copies of a generated 1M-episode extract")
    args = parser.parse_args()
    work = args.workdir or Path(f"/tmp/pioneers-bench-hes-{args.episodes}-{args.seed}"
                                + (f"-x{args.replicate}" if args.replicate else ""))
    if args.replicate and not (work / "GENERATED.txt").exists():
        replicate(Path(f"/tmp/pioneers-bench-hes-1000000-{args.seed}"), work, args.replicate, args.seed)
    if not (work / "GENERATED.txt").exists():
        sys.path.insert(0, str(ROOT))
        from data.hes import synth  # here: as in replicate(), only when the input is missing

        t0 = time.perf_counter()
        info = synth.write(work, episodes=args.episodes, seed=args.seed)
        print(f"generated {info['episodes']:,} synthetic episodes in {time.perf_counter() - t0:.0f} s -> {work}")
    print(f"load before: {uptime()}")
    result = run_build(work, args.engine)
    print(f"{args.engine}: {result['rows']:,} episode rows (+{result['ae_rows']:,} A&E rows) -> {result['cips']:,} CIPS, "
          f"{result['observations']:,} observation rows")
    print(f"{args.engine}: wall {result['wall']:.1f} s ({result['wall'] / 60:.2f} min), "
          f"{result['rows'] / result['wall']:,.0f} episodes/s, peak memory {result['peak_mb']:,.0f} MB")
    for name, seconds in result["timings"].items():
        print(f"  {name:<26} {seconds:8.1f} s")
    print(f"load after:  {uptime()}")
    if args.compare:
        import pandas as pd

        other = run_build(work, args.compare)
        print(f"{args.compare}: wall {other['wall']:.1f} s, {other['rows'] / other['wall']:,.0f} episodes/s, "
              f"peak memory {other['peak_mb']:,.0f} MB")
        keys = ["indicator_id", "month", "resla", "ccg"]
        a = pd.read_parquet(result["counts"]).sort_values(keys, na_position="last").reset_index(drop=True)
        b = pd.read_parquet(other["counts"]).sort_values(keys, na_position="last").reset_index(drop=True)
        same = len(a) == len(b) and a.astype(str).equals(b.astype(str))
        print(f"counts identical ({args.engine} vs {args.compare}, {len(a):,} rows): {'yes' if same else 'NO'}")
        print(f"load after:  {uptime()}")


if __name__ == "__main__":
    main()
