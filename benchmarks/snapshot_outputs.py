"""Save, or compare against a saved copy, everything the dashboard computes for a dataset.

A restructuring must not change a number. This script records, for one or more datasets, the
estimates table, the comparator sets with their balance and covariates, the trend table, the
overview grid on every basis, site and pooled detail frames, and the layout JSON of a few pages
(overview, one site, one indicator, one site x indicator, matching), then compares a new
snapshot with a saved one to 1e-9 (dtypes, columns and index included).

    python benchmarks/snapshot_outputs.py save DIR --data demo=/tmp/x-demo --data real=/tmp/x-real
    python benchmarks/snapshot_outputs.py compare DIR --data demo=/tmp/x-demo --data real=/tmp/x-real

Every computation runs with caching off (a fresh process, PIONEERS_CACHE=none, a private cache
directory), so a stale cache cannot make two snapshots agree.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOL = 1e-9
SITES = 3  # detail frames for the first, middle and last site, on every indicator with data


def _service():
    """The orchestration module, wherever this version of the code keeps it."""
    try:
        import analysis.results as service  # after the consolidation
    except ImportError:
        import layouts.components.results as service  # before it
    return service


def _detail_functions():
    """Site and pooled detail, wherever this version of the code keeps them (as _service)."""
    try:
        from analysis.estimates import pooled_detail, site_detail
    except ImportError:
        from indicators.estimates import pooled_detail, site_detail
    return site_detail, pooled_detail


def _estimates_table():
    """The estimates table, wherever this version of the code keeps it (as _service)."""
    try:
        from analysis.estimates import estimates_table
    except ImportError:
        from indicators.estimates import estimates_table
    return estimates_table


def _layout_json(component) -> object:
    from dash._utils import to_json

    return json.loads(to_json(component))


def outputs(data_dir: str) -> dict[str, object]:
    """Every recorded output for the dataset at ``data_dir``, by name."""
    # Imported here: this runs in a fresh child interpreter (_run_fresh) whose environment turns the
    # caches off, and on the code both before and after the consolidation (see _service).
    import dash

    from app import create_app
    from data.active import active_dataset
    from matching.covariates import unit_covariates
    from matching.select import match

    try:
        create_app(data_dir, warm=False)
    except TypeError:  # the warm flag went with the consolidation
        create_app(data_dir)
    ds = active_dataset()
    service = _service()
    out: dict[str, object] = {}

    comps = match(ds, k=5, method="mahalanobis", per_indicator=True)
    out["comparators.table"] = comps.table
    out["comparators.balance"] = comps.balance()
    out["comparators.warnings"] = list(comps.warnings)
    site_comps = match(ds, k=5, method="euclidean", per_indicator=False)
    out["comparators_site_euclidean.table"] = site_comps.table
    out["comparators_site_euclidean.balance"] = site_comps.balance()
    out["covariates"] = unit_covariates(ds)

    try:
        out["estimates"] = _estimates_table()(ds, comps, cache=False)
    except TypeError:  # the consolidation left estimates_table with no cache of its own
        out["estimates"] = _estimates_table()(ds, comps)
    out["estimates.page"] = service.estimates()
    for basis in ("did", "its", "england", "spc"):
        out[f"overview.{basis}"] = service.overview(basis)

    site_detail, pooled_detail = _detail_functions()
    site_ids = list(ds.sites["site_id"])
    chosen = [site_ids[0], site_ids[len(site_ids) // 2], site_ids[-1]]
    with_data = sorted(set(ds.observations["indicator_id"]))
    for ind in with_data:
        for name, frame in pooled_detail(ds, ind).items():
            out[f"pooled.{ind}.{name}"] = frame
        for sid in chosen:
            try:
                detail = site_detail(ds, sid, ind, comps)
            except Exception as exc:  # noqa: BLE001 - the error itself is an output to keep equal
                out[f"site.{sid}.{ind}.error"] = f"{type(exc).__name__}: {exc}"
                continue
            for name, frame in detail.items():
                out[f"site.{sid}.{ind}.{name}"] = frame
            out[f"trend.{sid}.{ind}"] = service.site_trend(sid, ind)
            out[f"spc.{sid}.{ind}"] = service.spc_chart(sid, ind) if hasattr(service, "spc_chart") \
                else service.site_spc(sid, ind)

    pages = {p["path_template"] or p["path"]: p for p in dash.page_registry.values()}
    ind = with_data[0]
    visits = {
        "page.overview": ("/", {}),
        "page.overview_anon_its": ("/", {"anon": "1", "basis": "its"}),
        "page.site": ("/site/<site_id>", {"site_id": chosen[0]}),
        "page.indicator": ("/indicator/<indicator_id>", {"indicator_id": ind}),
        "page.site_indicator": ("/site/<site_id>/indicator/<indicator_id>",
                                {"site_id": chosen[1], "indicator_id": ind}),
        "page.matching": ("/matching", {}),
    }
    for name, (path, kwargs) in visits.items():
        layout = pages[path]["layout"]
        layout = getattr(layout, "__wrapped__", layout)
        out[name] = _layout_json(layout(**kwargs))
    return out


# --- comparison ---------------------------------------------------------------------------------

def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)
    return a == b


def diff_json(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys differ {sorted(set(a) ^ set(b))[:5]}"]
        return [d for k in a for d in diff_json(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: lengths {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff_json(x, y, f"{where}[{i}]")]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return [] if _close(float(a), float(b)) and type(a) is type(b) else [f"{where}: {a!r} != {b!r}"]
    return [] if a == b else [f"{where}: {str(a)[:80]!r} != {str(b)[:80]!r}"]


def diff_frame(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    problems = []
    if list(a.columns) != list(b.columns):
        return [f"columns {list(a.columns)} != {list(b.columns)}"]
    if a.shape != b.shape:
        return [f"shape {a.shape} != {b.shape}"]
    if not a.index.equals(b.index) or a.index.dtype != b.index.dtype:
        problems.append("index differs")
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype != y.dtype:
            problems.append(f"{col}: dtype {x.dtype} != {y.dtype}")
            continue
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            xa, ya = x.to_numpy(dtype=float, na_value=np.nan), y.to_numpy(dtype=float, na_value=np.nan)
            ok = np.isclose(xa, ya, rtol=TOL, atol=TOL, equal_nan=True)
            if not ok.all():
                i = int(np.argmin(ok))
                problems.append(f"{col}: {int((~ok).sum())} values differ, e.g. row {i}: {xa[i]!r} != {ya[i]!r}")
        elif not x.equals(y):
            problems.append(f"{col}: values differ")
    if a.attrs.keys() != b.attrs.keys():
        problems.append(f"attrs keys {sorted(a.attrs)} != {sorted(b.attrs)}")
    return problems


def diff(a, b) -> list[str]:
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        return diff_frame(a, b)
    if type(a) is not type(b):
        return [f"type {type(a).__name__} != {type(b).__name__}"]
    return diff_json(a, b)


# --- command line ---------------------------------------------------------------------------------

def _child(data_dir: str, out_file: str) -> None:
    with open(out_file, "wb") as fh:
        pickle.dump(outputs(data_dir), fh, protocol=5)


def _run_fresh(data_dir: str) -> dict:
    """Compute in a fresh interpreter with every cache off or private."""
    import subprocess

    with tempfile.TemporaryDirectory(prefix="snapshot-") as tmp:
        env = {**os.environ, "PIONEERS_CACHE": "none", "PIONEERS_CACHE_DIR": str(Path(tmp) / "cache")}
        out = Path(tmp) / "out.pkl"
        subprocess.run([sys.executable, __file__, "_child", data_dir, str(out)], check=True, env=env, cwd=str(ROOT))
        with open(out, "rb") as fh:
            return pickle.load(fh)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["save", "compare", "_child"])
    parser.add_argument("directory")
    parser.add_argument("extra", nargs="?")
    parser.add_argument("--data", action="append", default=[], help="NAME=DATASET_DIR (repeatable)")
    args = parser.parse_args(argv)
    if args.action == "_child":
        _child(args.directory, args.extra)
        return 0
    snap = Path(args.directory)
    failures = 0
    for item in args.data:
        name, _, data_dir = item.partition("=")
        new = _run_fresh(data_dir)
        path = snap / f"{name}.pkl"
        if args.action == "save":
            snap.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                pickle.dump(new, fh, protocol=5)
            print(f"{name}: saved {len(new)} outputs to {path}")
            continue
        with open(path, "rb") as fh:
            old = pickle.load(fh)
        problems = [f"{key}: missing now" for key in old if key not in new]
        problems += [f"{key}: new output" for key in new if key not in old]
        for key in old:
            if key in new:
                problems += [f"{key}: {p}" for p in diff(old[key], new[key])]
        status = "EQUAL" if not problems else f"{len(problems)} DIFFERENCES"
        print(f"{name}: {len(old)} outputs compared to {TOL:g} (dtypes included): {status}")
        for p in problems[:40]:
            print("   ", p)
        failures += bool(problems)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
