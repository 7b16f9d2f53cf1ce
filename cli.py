"""The `pioneers` command line.

Each subcommand is thin: parse arguments, call one function of the data, matching or analysis
packages, print a summary. Subcommands import what they use inside themselves, on purpose: the
dashboard's and the statistics' imports take seconds, and `pioneers info` or `build-demo` need
none of them. Bad input ends with a one-line message naming what was wrong and a
non-zero exit code, never a stack trace.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from data.errors import DataError
from matching.select import K_DEFAULT, K_RANGE, RULE_DEFAULT, RULES

DEFAULT_DEMO_DIR = Path(os.environ.get("PIONEERS_DEMO_DIR", Path.home() / ".cache" / "pioneers" / "demo"))
DEFAULT_SEED = 2013


def cmd_build_demo(args: argparse.Namespace) -> int:
    from time import perf_counter

    from data.demo import build_demo

    t0 = perf_counter()
    build_demo(args.out, seed=args.seed)
    print(f"built demo dataset (seed {args.seed}) in {args.out} in {perf_counter() - t0:.1f} s")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from data.summary import dataset_summary

    summary = dataset_summary(args.data)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(f"{summary['path']}: {summary['label']} dataset ({summary['notice'] or 'no notice'})")
    print(f"  {summary['n_areas']} areas, {summary['n_sites']} sites, {summary['n_indicators']} indicators, "
          f"{summary['n_observations']} observations; checksum {summary['checksum']}")
    for ind in summary["indicators"]:
        span = (f"{ind['first_period']:>11} to {ind['last_period']:<11}" if ind["n_periods"]
                else f"{'no data':<26}")
        print(f"  {ind['indicator_id']:<15} {ind['frequency']:<8} {span} {ind['n_areas']:>4} areas")
    return 0


def ensure_demo(path: Path = DEFAULT_DEMO_DIR, seed: int = DEFAULT_SEED) -> Path:
    """The default demo dataset, built first if it is absent or unreadable."""
    from data.demo import build_demo
    from data.store import verify

    try:
        verify(path)
    except DataError:
        print(f"building the demo dataset in {path} (first run only)...", file=sys.stderr)
        build_demo(path, seed=seed)
    return path


def cmd_serve(args: argparse.Namespace) -> int:
    from time import perf_counter

    from data.store import verify

    started = perf_counter()
    if not 1 <= args.port <= 65535:
        raise DataError(f"--port must be between 1 and 65535; got {args.port}")
    if args.workers < 1 or args.threads < 1:
        raise DataError(f"--workers and --threads must be 1 or more; got {args.workers} and {args.threads}")
    if args.cache_dir and args.cache_dir.exists() and not args.cache_dir.is_dir():
        raise DataError("--cache-dir names a file, not a folder", file=str(args.cache_dir))
    data_dir = Path(args.data) if args.data else ensure_demo()
    verify(data_dir)
    if args.anonymised_only:
        from analysis.names import ANONYMISED_ONLY_ENV

        os.environ[ANONYMISED_ONLY_ENV] = "1"  # in the environment, so every gunicorn worker enforces it
    if args.cache_dir:
        os.environ["PIONEERS_CACHE_DIR"] = str(args.cache_dir.resolve())
    if args.redis_url:
        os.environ.update(PIONEERS_CACHE="redis", PIONEERS_REDIS_URL=args.redis_url)
    from analysis.cache import CacheSettings

    CacheSettings.from_env()  # a bad cache setting stops here, with a one-line message
    if args.dev:
        from app import create_app

        app = create_app(data_dir)
        print(f"Pioneer indicators dashboard (Flask development server, one process) on "
              f"http://{args.host}:{args.port}/ (data: {data_dir})")
        app.run(host=args.host, port=args.port, debug=False)
        return 0
    from app import create_app
    from serving.gunicorn_app import ServeOptions, run

    run(ServeOptions(data_dir=data_dir, host=args.host, port=args.port, workers=args.workers,
                     threads=args.threads, warm=not args.no_warm, access_log=args.access_log), create_app, started)
    return 0


def _write_csv_atomic(frame, out: Path) -> None:
    """Write a CSV next to its target and rename it into place: no half-written file is ever seen."""
    import tempfile

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            frame.to_csv(f, index=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _k_or_auto(text: str) -> int | str:
    """--k: a whole number (checked by matching) or "auto" (k by balance)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"k must be a whole number from {K_RANGE[0]} to {K_RANGE[1]} or 'auto'; "
                                         "got a value that is neither") from None


def cmd_match(args: argparse.Namespace) -> int:
    from data.store import load_dataset
    from matching.balance import balance_summary
    from matching.select import match, match_k_by_balance

    dataset = load_dataset(args.data).on(args.geography)
    settings = dict(method=args.method, per_indicator=args.per_indicator, caliper=args.caliper, rule=args.rule)
    sets = match_k_by_balance(dataset, **settings) if args.k == "auto" else match(dataset, k=args.k, **settings)
    table = sets.table.assign(indicator_id=sets.table["indicator_id"].fillna(""))
    balance = sets.balance() if args.balance else None
    _write_csv_atomic(table, args.out)
    if balance is not None:
        _write_csv_atomic(balance.assign(indicator_id=balance["indicator_id"].fillna("")), args.balance)
    n_sets = table[["site_id", "indicator_id"]].drop_duplicates().shape[0]
    print(f"{n_sets} comparator sets ({args.method}, k={args.k}{', per indicator' if args.per_indicator else ''}) "
          f"version {sets.version} from dataset {dataset.checksum} -> {args.out}")
    if balance is not None:
        summary = balance_summary(balance)
        print(f"balance -> {args.balance}: mean |SMD| {summary['mean_abs_smd_before'].mean():.3f} before, "
              f"{summary['mean_abs_smd_after'].mean():.3f} after matching; "
              f"{int(summary['improved'].sum())} of {len(summary)} sets improved")
    for warning in sets.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_estimates(args: argparse.Namespace) -> int:
    import pandas as pd

    from data.store import load_dataset
    from analysis.estimates import estimates_table

    dataset = load_dataset(args.data).on(args.geography)
    comparators = None
    if args.comparators:
        path = Path(args.comparators)
        if not path.exists():
            raise DataError("comparator file not found", file=str(path))
        try:
            comparators = pd.read_csv(path, dtype={"site_id": str, "indicator_id": str, "comparator_code": str})
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read comparator CSV ({exc})", file=str(path)) from exc
    table = estimates_table(dataset, comparators, k=args.k, method=args.method, weighting=args.weighting)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.writing")
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
    counts = table["method"].value_counts().to_dict()
    print(f"wrote {len(table)} estimates ({counts}) to {out}; comparator version "
          f"{table['comparator_version'].iloc[0]}")
    from analysis.estimates import estimates_summary

    print(estimates_summary(table).to_string(index=False))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from data.ingest import ingest

    mapping = dict(m.split("=", 1) for m in args.map or [])
    summary = ingest(args.kind, args.files, args.into, progress=not args.quiet, shared=args.shared,
                     indicator_map=mapping, allow_mixed=args.allow_mixed)
    print(summary.text())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """The deep check: every file hashed against the manifest and every table read in full."""
    from time import perf_counter

    from data.store import deep_verify

    t0 = perf_counter()
    manifest = deep_verify(args.data)
    print(f"{args.data}: verified ({manifest['label']} dataset {manifest['dataset_checksum']}, "
          f"{len(manifest['files'])} files hashed and read in full in {perf_counter() - t0:.1f} s)")
    return 0


def cmd_programme(args: argparse.Namespace) -> int:
    from data.reference import REFERENCE_DIR
    from data.store import load_dataset
    from indicators.programme import dataset_groups, programme_comparison, read_exclusions

    dataset = load_dataset(args.data)
    exclusions_file = Path(args.exclude) if args.exclude else REFERENCE_DIR / "programme_exclusions.csv"
    units = dataset.units(args.geography)
    exclude = read_exclusions(exclusions_file, units)
    groups = dataset_groups(dataset, args.geography)
    if groups.panel.empty:
        raise DataError(f"the dataset has no monthly ea_all rows on the {args.geography} geography "
                        "(ingest the MAR with `pioneers ingest mar` or build it with `pioneers build-real`)",
                        file=str(args.data))
    result = programme_comparison(groups.panel, groups.pioneers, first_year=args.first, last_year=args.last,
                                  exclude=exclude | groups.part | groups.pool_exclusions)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, frame in ((out, result.table), (out.with_name(f"{out.stem}_monthly.csv"), result.monthly)):
        tmp = path.with_name(f".{path.name}.writing")
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    print(f"programme comparison, emergency admissions, {args.geography} units, {args.first} to {args.last} "
          f"-> {out} (monthly series: {out.with_name(f'{out.stem}_monthly.csv')})")
    print(f"  method: {result.method}")
    print(f"  left out: {len(groups.part)} unit(s) only partly in a Pioneer; {len(exclude)} from {exclusions_file}; "
          f"{len(groups.pool_exclusions)} kept out of every comparator pool; "
          f"{len(result.dropped['without 12 months in both years'])} without 12 months in both years")
    print(result.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def cmd_build_real(args: argparse.Namespace) -> int:
    from time import perf_counter

    from data.real import build_real, shared_dir

    t0 = perf_counter()
    loaded = build_real(args.out, shared=args.shared)
    print(f"built real dataset from {shared_dir(args.shared)} in {args.out} in {perf_counter() - t0:.1f} s")
    for name, info in loaded.items():
        print(f"  {name:<6} {info['rows']:>6,} observations from {info['read']:,} rows read")
    return 0


def cmd_hes(args: argparse.Namespace) -> int:
    """`pioneers hes build|synth`: all the work is in data/hes (docs/hes.md)."""
    from data.hes import build, synth

    if args.hes_command == "synth":
        info = synth.write(args.out, episodes=args.episodes, seed=args.seed)
        print(f"wrote a generated HES-like extract (not real data) to {args.out}: {info['episodes']:,} episode rows, "
              f"{info['attendances']:,} A&E rows; true counts in truth_counts.csv")
        return 0
    result = build.build(args.apc, args.out, ae=args.ae or [], into=args.into, engine=args.engine,
                         geography=args.geography, master=args.master, population=args.population,
                         shared=args.shared, progress=not args.quiet)
    print(result.text())
    print(f"wrote {len(result.observations):,} observation rows (unsuppressed, internal) to {args.out}")
    if "ingest" in result.summary:
        print(result.summary["ingest"].text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pioneers", description="Integrated Care Pioneers indicator dashboard")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-demo", help="generate the demonstration dataset")
    p.add_argument("--out", required=True, type=Path, help="dataset directory to write (replaced atomically)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.set_defaults(func=cmd_build_demo)

    p = sub.add_parser("info", help="describe a dataset")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("serve", help="run the dashboard")
    p.add_argument("--data", type=Path, help="dataset directory (default: the demo dataset, built if absent)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    p.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    p.add_argument("--dev", action="store_true", help="Flask development server instead of gunicorn")
    p.add_argument("--cache-dir", type=Path, help="shared results cache directory (PIONEERS_CACHE_DIR)")
    p.add_argument("--redis-url", help="keep shared results in Redis instead (redis://host:port/db)")
    p.add_argument("--no-warm", action="store_true", help="no first page rendered before fork, no warming in workers")
    p.add_argument("--access-log", action="store_true", help="log every request to stdout")
    p.add_argument("--anonymised-only", action="store_true",
                   help="never show a real site, LA or CCG name, whatever a request asks (PIONEERS_ANONYMISED_ONLY=1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("verify", help="deep check of a dataset: hash every file, read every table")
    p.add_argument("--data", required=True, type=Path)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("match", help="choose each Pioneer's nearest non-Pioneer comparator LAs")
    p.add_argument("--data", required=True, type=Path, help="dataset directory")
    p.add_argument("--out", required=True, type=Path, help="CSV of comparator sets (written atomically)")
    p.add_argument("--k", type=_k_or_auto, default=K_DEFAULT,
                   help=f"comparators per site, {K_RANGE[0]}-{K_RANGE[1]} (default {K_DEFAULT}), or 'auto': per site "
                        "(and indicator) the largest k whose comparators keep every |SMD| < 0.25")
    p.add_argument("--method", choices=["mahalanobis", "euclidean"], default="mahalanobis")
    p.add_argument("--rule", choices=list(RULES), default=RULE_DEFAULT,
                   help="balanced (default): the k of the 3k nearest whose mean is most like the site; "
                        "nearest: the k nearest (matching algorithm 2)")
    p.add_argument("--per-indicator", action="store_true",
                   help="one set per site and indicator, adding baseline level and slope")
    p.add_argument("--caliper", type=float, default=None,
                   help="maximum distance (the method's units); sites short of k are warned, and get fewer comparators")
    p.add_argument("--balance", type=Path, default=None, help="also write the balance table (CSV)")
    p.add_argument("--geography", choices=["la", "ccg"], default="la",
                   help="local authorities (default) or CCG units, with non-Pioneer CCG units as the pool")
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("estimates", help="per-site DiD, change in trend and pooled effects as a CSV table")
    p.add_argument("--data", required=True, type=Path, help="dataset directory")
    p.add_argument("--out", required=True, type=Path, help="CSV file to write")
    p.add_argument("--comparators", type=Path, help="comparator CSV (site_id, [indicator_id,] comparator_code, rank)")
    p.add_argument("--k", type=int, default=K_DEFAULT, help=f"comparators per site when matching here (default {K_DEFAULT})")
    p.add_argument("--method", default="mahalanobis", help="matching distance (default mahalanobis)")
    p.add_argument("--geography", choices=["la", "ccg"], default="la",
                   help="local authorities (default) or CCG units (indicators without CCG data say so in note)")
    p.add_argument("--weighting", choices=["whole", "population_share"], default="whole",
                   help="how an LA only partly inside a site's footprint counts: in full (default), or by the share "
                        "of its population inside (site_areas population_share); prefer --geography ccg where "
                        "the indicator exists on CCGs")
    p.set_defaults(func=cmd_estimates)

    p = sub.add_parser("ingest", help="load published files into a dataset (created if absent)")
    p.add_argument("kind", choices=["fingertips", "dtoc", "ascof", "tidy", "mar"])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--into", required=True, type=Path, help="dataset directory (created, or merged into)")
    p.add_argument("--shared", type=Path, help="folder of the official reference files (default ../shared/data/real)")
    p.add_argument("--map", action="append", metavar="SOURCE_ID=INDICATOR",
                   help="map a source indicator the catalogue lacks, e.g. 93356=falls_65")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--allow-mixed", action="store_true",
                   help="allow published files into a dataset with generated (demo) figures; each indicator "
                        "keeps its own label")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("hes", help="record-level HES: build the hospital indicators, or generate a synthetic extract")
    hes = p.add_subparsers(dest="hes_command", required=True)
    b = hes.add_parser("build", help="count the HES indicators from APC (and A&E) episode files")
    b.add_argument("--apc", nargs="+", required=True, help="APC episode files or globs (CSV or parquet)")
    b.add_argument("--ae", nargs="+", help="A&E attendance files or globs")
    b.add_argument("--out", required=True, type=Path, help="observations parquet to write (unsuppressed, internal)")
    b.add_argument("--into", type=Path, help="dataset directory to ingest into (created, or merged into)")
    b.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    b.add_argument("--master", help="Spark master URL (default local[2])")
    b.add_argument("--geography", choices=["la", "ccg"], default="la")
    b.add_argument("--population", type=Path, help="populations CSV (area_code, year, age_group, population)")
    b.add_argument("--shared", type=Path, help="folder of the official reference files (default ../shared/data/real)")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=cmd_hes)
    s_ = hes.add_parser("synth", help="write a generated HES-like extract whose true counts are known")
    s_.add_argument("--episodes", type=int, default=1_000_000)
    s_.add_argument("--out", required=True, type=Path)
    s_.add_argument("--seed", type=int, default=DEFAULT_SEED)
    s_.set_defaults(func=cmd_hes)

    p = sub.add_parser("programme", help="emergency admission growth: Pioneer vs non-participant units")
    p.add_argument("--data", required=True, type=Path, help="dataset directory")
    p.add_argument("--out", required=True, type=Path, help="CSV to write (and FILE_monthly.csv beside it)")
    p.add_argument("--geography", choices=["ccg", "la"], default="ccg")
    p.add_argument("--from", dest="first", default="2013/14", help="first financial year (default 2013/14)")
    p.add_argument("--to", dest="last", default="2017/18", help="last financial year (default 2017/18)")
    p.add_argument("--exclude", type=Path, help="CSV of unit codes to leave out of the non-participants "
                   "(unit_code, reason; default data/reference/programme_exclusions.csv, shipped empty)")
    p.set_defaults(func=cmd_programme)

    p = sub.add_parser("build-real", help="build the real dataset from ../shared/data/real")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--shared", type=Path, help="folder of the real files (default ../shared/data/real)")
    p.set_defaults(func=cmd_build_real)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DataError as exc:
        print(f"pioneers {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pioneers {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:  # permission denied, disk full, a symlink loop: the system's reason, one line
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"pioneers {args.command}: error: {exc.strerror or exc}{where}; nothing was written", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
