"""Build the HES indicators from record-level extracts: count, add denominators, write, ingest.

``count_extract`` runs the Ibis definitions on one engine and returns the internal,
unsuppressed monthly counts by recorded area of residence. ``build`` maps areas to the
dataset's geography, sums months into the catalogue's quarters, attaches populations, writes
the observations (parquet, observation schema: unsuppressed, for the internal dataset only) and,
with ``into``, ingests them through data/ingest.py (all or nothing, manifest, provenance
"record-level HES extract"). Figures leave the dataset only through data.hes.disclosure.
"""
from __future__ import annotations

import glob
import time
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data import ccg, real
from data.errors import DataError
from data.hes import fields, indicators, spells
from data.hes.engines import Engine, engine_for
from data.ingest import ingest
from data.loaders.population import attach_denominator, district_to_county
from data.periods import align
from data.reference import ENGLAND_CODE, Reference, default_reference
from data.schema import OBSERVATIONS

SOURCE = "record-level HES extract"
APC_INDICATORS = ("ea_all", "ea_65", "acsc_chronic", "acute_no_admit", "readmit_30")
AE_INDICATORS = ("ae_attend",)
UNSUPPRESSED_NOTE = b"UNSUPPRESSED counts from a record-level HES extract: internal use only; publish only through disclosure control"


@dataclass
class BuildResult:
    counts: pd.DataFrame            # internal, unsuppressed: indicator_id, resla, ccg, month, numerator, denominator
    observations: pd.DataFrame      # the observation schema, quarterly, unsuppressed
    summary: dict = field(default_factory=dict)
    engine: str = "duckdb"

    def text(self) -> str:
        s = self.summary
        lines = [f"HES build ({self.engine}): {s.get('apc_rows', 0):,} APC episode rows in {s.get('apc_files', 0)} file(s), "
                 f"{s.get('ae_rows', 0):,} A&E rows in {s.get('ae_files', 0)} file(s)",
                 f"  {s.get('duplicate_episodes', 0):,} duplicate episode(s) counted once; "
                 f"{s.get('invalid_admission_date', 0):,} episode(s) without a valid admission date left out; "
                 f"{s.get('cips', 0):,} continuous inpatient spells",
                 f"  admissions with no known area of residence: {s.get('unknown_area', 0):,} (England totals only); "
                 f"outside England: {s.get('outside_england', 0):,} (left out)"]
        for ind, n in sorted(s.get("rows_per_indicator", {}).items()):
            lines.append(f"  {ind:<15} {n:>7,} observation rows")
        return "\n".join(lines)


def expand(patterns: list[str | Path]) -> list[Path]:
    """Paths and globs -> files, in a stable order; a pattern matching nothing is an error."""
    out = []
    for pattern in patterns:
        hits = sorted(glob.glob(str(pattern))) if any(ch in str(pattern) for ch in "*?[") else [str(pattern)]
        if not hits:
            raise DataError("no file matches this pattern", file=str(pattern))
        out += [Path(h) for h in hits]
    return out


def _stack(tables: list[ibis.Table]) -> ibis.Table:
    return tables[0] if len(tables) == 1 else ibis.union(*tables)  # UNION ALL: every row kept


def _read(engine: Engine, files: list[fields.ExtractFile], parse) -> ibis.Table:
    """Every file read with its canonical column names, files of one layout (the same stored types)
    stacked and parsed together, then the layouts stacked: a parquet file's stored types differ from
    a CSV's text, and the parsed columns have one type whatever the input. Parsing works row by row,
    so parsing the stack equals stacking the parsed files; a year of files is one parse to compile
    and plan instead of one per file."""
    layouts: dict[ibis.Schema, list[ibis.Table]] = {}
    for number, f in enumerate(files):
        raw = engine.read(f.path, f.mapping, f.kind, f.delimiter, number)
        layouts.setdefault(raw.schema(), []).append(raw)
    return _stack([parse(_stack(raws)) for raws in layouts.values()])


def count_extract(apc: list[str | Path], ae: list[str | Path] = (), engine: Engine | str = "duckdb",
                  spark=None, master: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Monthly counts by recorded area (internal, unsuppressed) and what the build saw."""
    own = isinstance(engine, str)
    eng = engine_for(engine, spark, master) if own else engine
    summary: dict = {"timings": {}}
    clock = [time.perf_counter()]

    def step(name: str) -> None:  # wall seconds per step, for benchmarks/bench_hes.py
        now = time.perf_counter()
        summary["timings"][name] = now - clock[0]
        clock[0] = now

    try:
        apc_files = [fields.describe_file(p, "apc") for p in expand(list(apc))]
        ae_files = [fields.describe_file(p, "ae") for p in expand(list(ae))] if ae else []
        present = {name for f in apc_files for name, src in f.mapping.items() if src}
        typed = eng.materialise(_read(eng, apc_files, lambda raw: fields.parse_apc(raw, present)), "episodes")
        step("read and parse episodes")
        # One pass for every check and the summary figures (each query is a Spark job).
        stats = fields.check(typed, apc_files, extra={
            "rows": typed.count(), "keys": typed.epikey.nunique(),
            "kept": typed.epikey.nunique(where=typed.adm_day.notnull()),
            "first": typed.admidate.min(), "last": typed.admidate.max()})
        step("check episodes")
        # Without repeated episode keys (the usual extract) the de-duplicating window is not needed.
        episodes = spells.clean_episodes(typed) if stats["rows"] > stats["keys"] else spells.valid_episodes(typed)
        cips = eng.materialise(spells.continuous_spells(spells.provider_spells(episodes)), "cips")
        step("spells")
        parts = [indicators.long_form(eng.to_pandas(indicators.admissions(cips)))]
        step("admissions")
        parts.append(eng.to_pandas(indicators.readmissions(cips)))
        step("readmissions")
        summary.update(apc_files=len(apc_files), apc_rows=int(stats["rows"]),
                       duplicate_episodes=int(stats["rows"] - stats["keys"]),
                       invalid_admission_date=int(stats["keys"] - stats["kept"]),
                       cips=int(cips.count().to_pandas()),
                       apc_first=pd.Timestamp(stats["first"]), apc_last=pd.Timestamp(stats["last"]))
        if ae_files:
            typed_ae = eng.materialise(_read(eng, ae_files, fields.parse_ae), "attendances")
            step("read and parse A&E")
            ae_stats = fields.check(typed_ae, ae_files, extra={
                "rows": typed_ae.count(), "keys": typed_ae.aekey.nunique(),
                "first": typed_ae.arrivaldate.min(), "last": typed_ae.arrivaldate.max()})
            summary.update(ae_files=len(ae_files), ae_rows=int(ae_stats["rows"]),
                           ae_first=pd.Timestamp(ae_stats["first"]), ae_last=pd.Timestamp(ae_stats["last"]))
            parts.append(eng.to_pandas(indicators.attendances(typed_ae,
                                                              deduplicate=ae_stats["rows"] > ae_stats["keys"])))
            step("check and count A&E")
        counts = pd.concat(parts, ignore_index=True)
    finally:
        if own:
            eng.close()
    counts = counts.astype({"numerator": "int64", "month": "int64"})
    counts["denominator"] = counts["denominator"].astype("Int64")
    counts = counts.sort_values(["indicator_id", "month", "resla", "ccg"], na_position="last").reset_index(drop=True)
    return counts, summary


def ccg_units(codes: pd.Series) -> pd.Series:
    """CCG codes as HES records them (E38 codes or 3-character ODS codes, of any year) -> the
    dataset's stable CCG unit (docs/ccg-geography.md: every CCG mapped to its 2019/20 successor).
    An E38 code not in data/reference/ccgs.csv is kept as it is; anything else is unknown (None)."""
    lookup: dict[str, str] = {}
    if ccg.CCGS_CSV.exists():
        table = ccg.read_ccgs()
        units = ccg.unit_of(table)["area_code"]
        lookup = {**dict(zip(table["ccg_code"], units)),
                  **{e38: unit for e38, unit in zip(table["e38_code"], units) if e38}}
    e38 = codes.where(codes.str.match(r"^E38[0-9]{6}$", na=False))
    return codes.map(lookup).fillna(e38).where(codes.notna())


def _area_lookup(reference: Reference, districts: pd.DataFrame | None) -> dict[str, str]:
    lookup = {c: c for c in reference.areas["area_code"]}
    if districts is not None:
        lookup.update(dict(zip(districts["district"], districts["county"])))
    return lookup


def _complete_quarters(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Quarters whose three months all lie inside the extract's span of months."""
    first_month, last_month = pd.Timestamp(first.year, first.month, 1), pd.Timestamp(last.year, last.month, 1)
    q = align(first_month, "quarter")
    if q < first_month:
        q += pd.DateOffset(months=3)
    quarters = []
    while q + pd.DateOffset(months=2) <= last_month:
        quarters.append(q)
        q += pd.DateOffset(months=3)
    return quarters


def observations_from_counts(counts: pd.DataFrame, summary: dict, *, reference: Reference,
                             population: pd.DataFrame, geography: str = "la",
                             districts: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Quarterly observation rows for every area, England included, with denominators."""
    catalogue = reference.catalogue.set_index("indicator_id")
    c = counts.copy()
    if geography == "la":
        lookup = _area_lookup(reference, districts)
        c["area_code"] = c["resla"].map(lookup)
        england = c["resla"].isna() | c["resla"].str.startswith("E", na=False)
        areas = sorted(reference.areas["area_code"])
    else:
        c["area_code"] = ccg_units(c["ccg"])
        england = ~c["resla"].str.match(r"^[WSN]", na=False)
        areas = sorted(set(population["area_code"]) - {ENGLAND_CODE})
    summary["unknown_area"] = int(c.loc[england & c["area_code"].isna() & (c["indicator_id"] == "ea_all"), "numerator"].sum())
    summary["outside_england"] = int(c.loc[~england & (c["indicator_id"] == "ea_all"), "numerator"].sum())
    c = c[england]
    year, month = c["month"] // 100, c["month"] % 100
    fy_year = year.where(month >= 4, year - 1)
    quarter_month = 4 + (month - 4) % 12 // 3 * 3  # 4, 7, 10 or 13 (January of the next year)
    c["period_start"] = pd.to_datetime(pd.DataFrame({"year": fy_year + (quarter_month > 12), "month": (quarter_month - 1) % 12 + 1,
                                                     "day": 1}))
    la = c.dropna(subset=["area_code"]).groupby(["indicator_id", "area_code", "period_start"], as_index=False)[
        ["numerator", "denominator"]].sum(min_count=1)
    eng = c.groupby(["indicator_id", "period_start"], as_index=False)[["numerator", "denominator"]].sum(min_count=1)
    eng["area_code"] = ENGLAND_CODE
    found = pd.concat([la, eng], ignore_index=True)

    frames = []
    for ind in (*APC_INDICATORS, *AE_INDICATORS):
        first, last = ((summary.get("ae_first"), summary.get("ae_last")) if ind in AE_INDICATORS else
                       (summary.get("apc_first"), summary.get("apc_last")))
        if first is None or pd.isna(first):
            continue
        quarters = _complete_quarters(first, last)
        if ind == "readmit_30":  # a discharge needs 30 days of follow-up inside the extract
            quarters = [q for q in quarters if q + pd.DateOffset(months=3) + pd.Timedelta(days=29) <= last]
        grid = pd.MultiIndex.from_product([[ind], [*areas, ENGLAND_CODE], quarters],
                                          names=["indicator_id", "area_code", "period_start"]).to_frame(index=False)
        frames.append(grid)
    grid = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["indicator_id", "area_code", "period_start"])
    grid["period_start"] = pd.to_datetime(grid["period_start"]).astype("datetime64[ns]")
    found["period_start"] = pd.to_datetime(found["period_start"]).astype("datetime64[ns]")
    obs = grid.merge(found, on=["indicator_id", "area_code", "period_start"], how="left")
    proportion = obs["indicator_id"] == "readmit_30"
    obs["numerator"] = obs["numerator"].astype("float64").fillna(0.0)
    obs["denominator"] = obs["denominator"].astype("float64")
    obs.loc[proportion, "denominator"] = obs.loc[proportion, "denominator"].fillna(0.0)
    obs["frequency"] = "quarter"
    obs["flag"] = ""
    for ind in obs.loc[~proportion, "indicator_id"].unique():
        rows = obs["indicator_id"] == ind
        group = catalogue.at[ind, "denominator_population"] or "all"
        values, flags = attach_denominator(obs[rows], _with_england(population, geography), group)
        obs.loc[rows, "denominator"] = values.to_numpy()
        obs.loc[rows, "flag"] = flags.to_numpy()
    empty = proportion & (obs["denominator"] == 0)
    obs.loc[empty, ["numerator", "denominator"]] = np.nan
    obs.loc[empty, "flag"] = "missing"
    mult = obs["indicator_id"].map(catalogue["multiplier"]).astype(float)
    obs["value"] = obs["numerator"] / obs["denominator"].where(obs["denominator"] > 0) * mult
    obs["ci_low"] = obs["ci_high"] = np.nan
    obs["source"] = SOURCE
    summary["rows_per_indicator"] = obs.groupby("indicator_id").size().to_dict()
    return obs[[f.name for f in OBSERVATIONS]].sort_values(["indicator_id", "area_code", "period_start"]).reset_index(drop=True), summary


def _with_england(population: pd.DataFrame, geography: str) -> pd.DataFrame:
    """England's population: given, or the sum of the areas' (for the LA geography)."""
    if population is None or population.empty or (population["area_code"] == ENGLAND_CODE).any():
        return population
    total = population.groupby(["year", "age_group"], as_index=False)["population"].sum()
    flags = population.groupby(["year", "age_group"])["flag"].agg(lambda f: ";".join(sorted({x for x in f if x})))
    total["flag"] = [flags.get((y, g), "") for y, g in zip(total["year"], total["age_group"])]
    total["area_code"] = ENGLAND_CODE
    return pd.concat([population, total[population.columns]], ignore_index=True)


def write_observations(obs: pd.DataFrame, out: Path | str, *, generated: bool = False) -> Path:
    """The unsuppressed observations as parquet, written beside the target and renamed into place."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = obs.assign(period_start=pd.to_datetime(obs["period_start"]).dt.date)
    table = pa.Table.from_pandas(frame, schema=OBSERVATIONS, preserve_index=False)
    meta = {b"pioneers": UNSUPPRESSED_NOTE, b"pioneers_source": SOURCE.encode(),
            b"pioneers_generated": b"true" if generated else b"false"}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    tmp = out.with_name(f".{out.name}.writing")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out)
    return out


def build(apc: list[str | Path], out: Path | str, *, ae: list[str | Path] = (), into: Path | str | None = None,
          engine: str = "duckdb", geography: str = "la", spark=None, master: str | None = None,
          population: Path | str | pd.DataFrame | None = None, shared: Path | str | None = None,
          reference: Reference | None = None, progress: bool = False):
    """The whole route: count, shape, write ``out``, and ingest into ``into`` when given."""
    if geography not in ("la", "ccg"):
        raise DataError(f"unknown geography {geography!r}; expected 'la' or 'ccg'")
    reference = reference or default_reference()
    pop, generated = _population(population, reference, shared, geography)
    counts, summary = count_extract(apc, ae, engine, spark=spark, master=master)
    districts = None
    paths = real.source_paths(shared)
    if geography == "la" and paths["councils"].exists():
        districts = district_to_county(paths["councils"])
    obs, summary = observations_from_counts(counts, summary, reference=reference, population=pop,
                                            geography=geography, districts=districts)
    generated = generated or _is_generated(apc)
    write_observations(obs, out, generated=generated)
    result = BuildResult(counts=counts, observations=obs, summary=summary, engine=engine)
    if into is not None:
        result.summary["ingest"] = ingest("hes", [out], into, progress=progress, shared=shared)
    return result


def _is_generated(apc: list[str | Path]) -> bool:
    """A synthetic extract (pioneers hes synth) says so in a GENERATED.txt beside its files."""
    return any((Path(p).parent / "GENERATED.txt").exists() for p in expand(list(apc)))


def _population(population, reference: Reference, shared, geography: str) -> tuple[pd.DataFrame, bool]:
    if isinstance(population, pd.DataFrame):
        return population, False
    if population is not None:
        path = Path(population)
        if not path.exists():
            raise DataError("population file not found", file=str(path))
        frame = pd.read_csv(path, dtype={"area_code": str, "age_group": str, "flag": str}, keep_default_na=False)
        missing = {"area_code", "year", "age_group", "population"} - set(frame.columns)
        if missing:
            raise DataError(f"population file lacks column(s) {sorted(missing)} (expected area_code, year, "
                            "age_group, population[, flag])", file=str(path), row=1)
        frame["flag"] = frame.get("flag", "")
        frame["population"] = pd.to_numeric(frame["population"], errors="coerce")
        return frame, (path.parent / "GENERATED.txt").exists()
    paths = real.source_paths(shared)
    if geography == "ccg":
        if not paths["councils"].exists():
            raise DataError("the CCG geography needs CCG unit populations: pass --population FILE (area_code, year, "
                            "age_group, population) or --shared DIR with the ONS files", file=str(paths["councils"]))
        return ccg.geography(str(real.shared_dir(shared))).population, False
    if not all(p.exists() for p in (paths["myeb3"], paths["councils"])):
        raise DataError("ONS population files not found for the denominators (pass --shared DIR or --population FILE)",
                        file=str(paths["myeb3"]))
    return real.population_table(reference, shared), False
