"""Ingest published files into a dataset: create it, or merge into it, all or nothing.

Every file is loaded and checked before anything is written; one problem anywhere means
nothing is written and the existing dataset stays byte-identical. Rows are keyed by
(indicator_id, area_code, period_start): a newer vintage replaces the older rows and the
summary counts how many changed; re-ingesting a file already recorded in the manifest (same
SHA-256) with no new values writes nothing at all.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from data import ccg, real
from data.active import register_cache
from data.errors import DataError
from data.loaders import KEY, OBSERVATION_COLUMNS, LoadContext, loader_for
from data.loaders.population import district_to_county, load_district_population, upper_tier_population
from data.periods import PLAUSIBLE_FIRST_YEAR, PLAUSIBLE_LAST_YEAR, PLAUSIBLE_RANGE, period_label
from data.reference import Reference, default_reference
from data.store import dataset_lock, load_dataset, read_manifest, write_dataset

COMPARED = ["numerator", "denominator", "value", "ci_low", "ci_high", "flag"]


@dataclass
class IngestSummary:
    """What an ingest read, kept, flagged and skipped, per indicator, and what it changed."""

    kind: str
    files: list[str]
    into: str
    rows_read: int = 0
    kept: int = 0
    flagged: int = 0
    rejected: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    written: bool = False
    created: bool = False
    skipped: Counter = field(default_factory=Counter)
    per_indicator: pd.DataFrame = field(default_factory=pd.DataFrame)

    def text(self) -> str:
        lines = [f"{'created' if self.created else 'updated' if self.written else 'unchanged'} {self.into}: "
                 f"{len(self.files)} {self.kind} file(s); {self.rows_read:,} rows read, {self.kept:,} kept "
                 f"({self.flagged:,} flagged), {self.rejected:,} rejected (skipped by rule, below)",
                 f"  {self.added:,} rows added, {self.changed:,} changed (newer vintage replaced older), "
                 f"{self.unchanged:,} unchanged"]
        for reason, n in self.skipped.most_common():
            lines.append(f"  skipped {n:,}: {reason}")
        for row in self.per_indicator.itertuples(index=False):
            lines.append(f"  {row.indicator_id:<15} {row.rows:>7,} rows  {row.first_period} to {row.last_period}  "
                         f"{row.areas} areas, {row.flagged:,} flagged")
        if not self.written and not self.created:
            lines.append("  nothing new: the dataset was left exactly as it was")
        return "\n".join(lines)


def context_for(reference: Reference, existing: pd.DataFrame | None, shared: Path | None) -> LoadContext:
    """Population and district lookups: from the existing dataset and, if present, the shared ONS files."""
    population = existing if existing is not None and len(existing) else None
    districts = district_population = None
    paths = real.source_paths(shared)
    if all(p.exists() for p in (paths["myeb3"], paths["councils"])):
        districts, district_population, shared_population = _shared_tables(
            str(paths["myeb3"]), str(paths["councils"]), tuple(reference.areas["area_code"]))
        if population is None:
            population = shared_population
    return LoadContext(reference=reference, population=population, districts=districts,
                       district_population=district_population, shared=real.shared_dir(shared))


@register_cache  # published files under ../shared, read once per process; clear_all() empties it
@lru_cache(maxsize=2)
def _shared_tables(myeb3: str, councils: str, area_codes: tuple[str, ...]):
    """Read the ONS and mySociety files once per process: every ingest needs them."""
    return (district_to_county(councils), load_district_population(myeb3),
            upper_tier_population(myeb3, councils, list(area_codes), carry_forward_to=real.LAST_POPULATION_YEAR))


def ingest(kind: str, files: list[Path | str], into_dir: Path | str, progress: bool = True, *,
           reference: Reference | None = None, shared: Path | str | None = None,
           indicator_map: dict[str, str] | None = None, allow_mixed: bool = False) -> IngestSummary:
    """Load every file of ``kind`` and merge the observations into the dataset at ``into_dir``.

    The whole read-merge-write holds the dataset's exclusive lock: a second ingest into the same
    dataset waits for this one, then merges into its result, so no update is lost. Ingesting into
    a dataset with generated (demo) figures is refused unless ``allow_mixed``."""
    into = Path(into_dir)
    files = [Path(f) for f in files]
    if not files:
        raise DataError("no files to ingest")
    with dataset_lock(into):
        return _ingest_locked(kind, files, into, progress, reference=reference, shared=shared,
                              indicator_map=indicator_map, allow_mixed=allow_mixed)


def _ingest_locked(kind: str, files: list[Path], into: Path, progress: bool, *, reference: Reference | None,
                   shared: Path | str | None, indicator_map: dict[str, str] | None,
                   allow_mixed: bool) -> IngestSummary:
    from tqdm import tqdm

    loader = loader_for(kind)
    reference = reference or default_reference()
    existing = load_dataset(into) if into.is_symlink() or into.exists() and (into.is_file() or any(into.iterdir())) else None
    if existing is not None and existing.generated_indicators and not allow_mixed:
        raise DataError("the dataset holds generated demonstration figures (" + ", ".join(existing.generated_indicators)
                        + "); ingesting published files into it would mix generated and real numbers. Ingest into "
                        "a new folder (or build-real), or pass --allow-mixed to keep both, each indicator labelled by "
                        "its origin; nothing was written", file=str(into))
    context = context_for(reference, existing.population if existing else None, Path(shared) if shared else None)
    context.indicator_map.update(indicator_map or {})

    summary = IngestSummary(kind=kind, files=[str(f) for f in files], into=str(into))
    results, failures = [], []
    bar = tqdm(files, desc=f"ingest {kind}", unit="file", disable=not progress or len(files) < 2)
    for path in bar:
        bar.set_postfix_str(path.name)
        try:
            result = loader(path, context)
            _check_plausible(result.observations, path)
            results.append(result)
        except DataError as exc:
            failures.append(exc)
    if failures:
        problems = [p for exc in failures for p in (exc.problems or [str(exc).splitlines()[0]])]
        listed = "\n".join(f"  - {p}" for p in problems[:25])
        more = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
        raise DataError(f"{problems[0]} [{len(problems)} problem(s) in {len(failures)} of {len(files)} file(s); "
                        f"nothing was written]\n{listed}{more}", problems=problems)

    if len(results) == 1:
        new = results[0].observations  # one file: its keys are already checked unique
    else:
        new = pd.concat([r.observations for r in results], ignore_index=True).drop_duplicates(KEY, keep="last")
    summary.rows_read = sum(r.rows_read for r in results)
    summary.kept = len(new)
    summary.flagged = int((new["flag"] != "").sum())
    summary.rejected = sum(r.rows_skipped for r in results)
    for r in results:
        summary.skipped.update(r.skipped)
    summary.per_indicator = _per_indicator(new, reference)

    sources = [r.source for r in results]
    if existing is None:
        tables = real.reference_tables(reference, context.population, shared)
        tables = _with_geography(tables, new, shared)
        tables["observations"] = new.sort_values(KEY).reset_index(drop=True)
        summary.added = len(new)
        # A generated source (pioneers hes synth) makes a dataset labelled as generated, never "real".
        label = "demo" if any(s.get("generated") for s in sources) else "real"
        write_dataset(into, tables, label=label, sources=sources)
        summary.written = summary.created = True
        return summary

    if any(s.get("generated") for s in sources) and existing.label != "demo":
        raise DataError(f"generated data (pioneers hes synth) cannot be merged into the {existing.label} dataset at "
                        f"{into}: ingest it into a new directory [nothing was written]")
    old = existing.tables["observations"][OBSERVATION_COLUMNS]  # every geography and frequency
    merged, added, changed = merge_observations(old, new)
    summary.added, summary.changed = added, changed
    summary.unchanged = len(new) - added - changed
    manifest = read_manifest(into)
    known = {s.get("sha256") for s in manifest.get("sources", [])}
    fresh = [s for s in sources if s.get("sha256") not in known]
    if added == 0 and changed == 0 and not fresh:
        return summary
    tables = {name: frame for name, frame in existing.tables.items()}
    tables = _with_geography(tables, new, shared)
    tables["observations"] = merged
    for name in ("sites",):
        for col in ("start", "transition_start", "transition_end"):
            tables[name][col] = pd.to_datetime(tables[name][col]).dt.date
    label = existing.label if existing.label in ("real", "mixed") else "mixed"
    extra = {k: v for k, v in manifest.items() if k not in (
        "schema_version", "label", "notice", "created", "sources", "row_counts", "files", "dataset_checksum")}
    write_dataset(into, tables, label=label, sources=[*manifest.get("sources", []), *fresh], extra=extra)
    summary.written = True
    return summary


def _with_geography(tables: dict[str, pd.DataFrame], new: pd.DataFrame, shared) -> dict[str, pd.DataFrame]:
    """Add the CCG units (areas, populations, site memberships) when the new rows are on CCGs."""
    if not ccg.CCGS_CSV.exists():
        return tables
    units = set(ccg.units_table(ccg.read_ccgs())["unit_code"])
    if not new["area_code"].isin(units).any():
        return tables
    return ccg.with_ccg_units(tables, ccg.geography(str(real.shared_dir(shared))))


def merge_observations(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Rows of ``new`` replace rows of ``old`` with the same key. Returns (merged, added, changed)."""
    old = old.assign(period_start=pd.to_datetime(old["period_start"]))
    new = new.assign(period_start=pd.to_datetime(new["period_start"]))
    joined = new[KEY + COMPARED].merge(old[KEY + COMPARED], on=KEY, how="left", suffixes=("", "_old"),
                                       indicator=True)
    present = (joined["_merge"] == "both").to_numpy()
    differs = np.zeros(len(joined), dtype=bool)
    for col in COMPARED:
        a, b = joined[col], joined[f"{col}_old"]
        if col == "flag":
            differs |= (a.astype(str) != b.astype(str)).to_numpy()
        else:
            same = (a == b) | (a.isna() & b.isna())
            differs |= ~same.to_numpy()
    added = int((~present).sum())
    changed = int((present & differs).sum())
    keys_new = pd.MultiIndex.from_frame(new[KEY])
    keep_old = ~pd.MultiIndex.from_frame(old[KEY]).isin(keys_new)
    superseded = _superseded_years(old, new)
    changed += int((keep_old & superseded).sum())
    keep_old &= ~superseded
    merged = pd.concat([old[keep_old], new], ignore_index=True).sort_values(KEY).reset_index(drop=True)
    merged["period_start"] = merged["period_start"].dt.date
    return merged, added, changed


def _superseded_years(old: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """Old yearly rows overlapped by a new yearly row of the same indicator and area that starts on
    another day: the same year read again with its true dates (a calendar year stored as a
    financial year before data.periods kept calendar years). The new row replaces the old one
    rather than sitting beside it as a second, overlapping year."""
    mask = np.zeros(len(old), dtype=bool)
    is_year_old, is_year_new = (old["frequency"] == "year").to_numpy(), (new["frequency"] == "year").to_numpy()
    if not is_year_old.any() or not is_year_new.any():
        return mask
    cols = ["indicator_id", "area_code", "period_start"]
    pairs = old.loc[is_year_old, cols].assign(_row=np.nonzero(is_year_old)[0]).merge(
        new.loc[is_year_new, cols], on=["indicator_id", "area_code"], suffixes=("", "_new"))
    gap = (pairs["period_start_new"] - pairs["period_start"]).abs()
    overlaps = (gap > pd.Timedelta(0)) & (gap < pd.Timedelta(days=365))
    mask[pairs.loc[overlaps, "_row"].to_numpy()] = True
    return mask


def _per_indicator(obs: pd.DataFrame, reference: Reference) -> pd.DataFrame:
    freq = reference.catalogue.set_index("indicator_id")["frequency"]
    rows = []
    for ind, g in obs.groupby("indicator_id", sort=True):
        f = g["frequency"].iloc[0] if len(g) else freq.get(ind, "year")
        rows.append({"indicator_id": ind, "rows": len(g), "areas": int(g["area_code"].nunique()),
                     "flagged": int((g["flag"] != "").sum()),
                     "first_period": period_label(g["period_start"].min(), f),
                     "last_period": period_label(g["period_start"].max(), f)})
    return pd.DataFrame(rows, columns=["indicator_id", "rows", "areas", "flagged", "first_period", "last_period"])


def _check_plausible(obs: pd.DataFrame, path: Path) -> None:
    """The last guard for every loader: periods in the plausible range, finite numbers only."""
    starts = pd.to_datetime(obs["period_start"])
    bad = ~starts.between(pd.Timestamp(PLAUSIBLE_FIRST_YEAR, 4, 1), pd.Timestamp(PLAUSIBLE_LAST_YEAR + 1, 3, 1))
    numbers = obs[["numerator", "denominator", "value", "ci_low", "ci_high"]].astype(float).to_numpy()
    infinite = np.isinf(numbers).any(axis=1)
    for mask, what in ((bad.to_numpy(), f"period outside the plausible range {PLAUSIBLE_RANGE}"),
                       (infinite, "a number that is not finite (infinite, or a value that overflowed)")):
        if mask.any():
            first = obs[mask].iloc[0]
            raise DataError(f"{what}: {int(mask.sum())} row(s), first {first['indicator_id']} {first['area_code']} "
                            f"{pd.Timestamp(first['period_start']).date()}", file=str(path))
