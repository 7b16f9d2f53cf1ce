"""The "real" dataset, built from the official files in ../shared/data/real.

Which files, which years, and how each approximation is made is said here and in
docs/data-format.md ("The real dataset"); the manifest records every source with its SHA-256
and vintage. ``real_coverage`` tells the dashboard which indicators have real data and for
which years (the rest have none in a real dataset: they are not filled with generated values).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from data import ccg
from data.errors import DataError
from data.loaders import KEY, LoadContext, ascof, dtoc, fingertips, mar
from data.loaders.population import (district_to_county, load_district_population,
                                     upper_tier_population)
from data.loaders.reading import read_csv_strings, source_vintage
from data.reference import ENGLAND_CODE, Reference, default_reference
from data.store import Dataset, write_dataset
from data.summary import coverage

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = ROOT.parent / "shared" / "data" / "real"
BASELINE_YEAR = 2012
LAST_POPULATION_YEAR = 2024
"""Populations after mid-2018 (the last estimate in the files) repeat mid-2018, flagged estimated."""

FILES = {
    "dtoc": "nhse_dtoc_la_monthly_2011_2019/dtoc_delayed_days_by_la_responsible_org_2011-04_2019-12.csv",
    "ascof": "nhsd_ascof_csv_2017_2024/trend_data.csv",
    "falls": "trafford_gm_fingertips_ascof_dtoc/admissions_falls.csv",
    "diupr": "trafford_gm_fingertips_ascof_dtoc/deaths_at_home.csv",
    "myeb3": "ons_myeb3_lad_population_2001_2018/MYEB3_summary_components_of_change_series_UK_(2018).csv",
    "myeb3_geog19": "ons_myeb3_lad_population_2001_2018/MYEB3_summary_components_of_change_series_UK_(2018_geog19).csv",
    "councils": "mysociety_uk_local_authorities_past_current/uk_local_authorities_current.csv",
    "imd": "mhclg_iod2019_lad_summaries/IoD2019.csv",
    "mar": "nhse_mar_commissioner_monthly_2012_2019/mar_commissioner_monthly_2012-04_2019-12.csv",
    "ccg_lookup_2015": "ons_lsoa11_ccg_lad_lookups_2015_2019/LSOA11_CCG15_LAD15_EN_LU.csv",
    "ccg_lookup_2017": "ons_lsoa11_ccg_lad_lookups_2015_2019/LSOA11_CCG17_LAD17_EN_LU.csv",
    "ccg_lookup_2018": "ons_lsoa11_ccg_lad_lookups_2015_2019/LSOA11_CCG18_LAD18_EN_LU.csv",
    "ccg_lookup_2019": "ons_lsoa11_ccg_lad_lookups_2015_2019/LSOA11_CCG19_LAD19_EN_LU.csv",
    "lsoa_population": "ons_lsoa11_population_mid2017/lsoa11_population_mid2017_all_ages_and_65plus_single_year.csv",
    "pct_bridge": "pct2012_to_ccg2013_postcode_shares/ccg2ons.js",
}
IMD_SUCCESSORS = {"E06000028": "E06000058", "E06000029": "E06000058", "E10000009": "E06000059"}
"""[C] IMD 2019 is on 2019 boundaries: Bournemouth and Poole take BCP's score, Dorset County Dorset UA's."""


def shared_dir(shared: Path | str | None = None) -> Path:
    return Path(shared or os.environ.get("PIONEERS_SHARED_DATA") or DEFAULT_SHARED)


def source_paths(shared: Path | str | None = None) -> dict[str, Path]:
    base = shared_dir(shared)
    return {k: base / v for k, v in FILES.items()}


def population_table(reference: Reference, shared: Path | str | None = None) -> pd.DataFrame:
    paths = source_paths(shared)
    return upper_tier_population(paths["myeb3"], paths["councils"], reference.areas["area_code"].tolist(),
                                 carry_forward_to=LAST_POPULATION_YEAR)


def area_covariates(reference: Reference, population: pd.DataFrame, shared: Path | str | None = None) -> pd.DataFrame:
    """The areas table with baseline covariates from the real files.

    population: mid-2012 all ages (MYEB3). share_65: null (unknown) for every area: the files have
    no age bands, and a constant England share would look like data while saying nothing about
    any area (matching drops a covariate no pool LA has, with a warning). deprivation:
    IMD 2019 average score, districts weighted by mid-2018 population (2019 boundaries).
    density: mid-2012 population per km2 of area_km2.
    """
    paths = source_paths(shared)
    areas = reference.areas.copy()
    base = population[(population["year"] == BASELINE_YEAR) & (population["age_group"] == "all")]
    areas["population"] = areas["area_code"].map(base.set_index("area_code")["population"]).astype(float)
    areas["share_65"] = np.nan
    areas["deprivation"] = areas["area_code"].map(imd_upper_tier(paths["imd"], paths["myeb3_geog19"],
                                                                 paths["councils"]))
    areas["density"] = areas["population"] / areas["area_km2"]
    missing = areas.loc[areas[["population", "deprivation"]].isna().any(axis=1), "area_code"].tolist()
    if missing:
        raise DataError(f"no population or IMD score for area(s) {missing[:10]}", file=str(paths["imd"]))
    return areas


def imd_upper_tier(imd_csv: Path, myeb3_geog19: Path, councils_csv: Path) -> pd.Series:
    """IMD 2019 average score by upper-tier area: population-weighted mean of its districts."""
    imd = read_csv_strings(imd_csv)
    imd = imd[imd["index_domain"] == "Index of Multiple Deprivation"]
    score = pd.to_numeric(imd["average_score"]).to_numpy()
    pop = load_district_population(myeb3_geog19)
    pop = pop[pop["year"] == pop["year"].max()].set_index("district_code")["population"]
    lookup = district_to_county(councils_csv).set_index("district")["county"]
    frame = pd.DataFrame({"district": imd["lad19cd"].to_numpy(), "score": score})
    frame["area"] = frame["district"].map(lookup).fillna(frame["district"])
    frame["w"] = frame["district"].map(pop)
    if frame["w"].isna().any():
        raise DataError(f"no mid-2018 population for IMD district(s) {frame.loc[frame['w'].isna(), 'district'].tolist()[:5]}",
                        file=str(myeb3_geog19))
    by_area = frame.groupby("area").apply(lambda g: float(np.average(g["score"], weights=g["w"])), include_groups=False)
    for old, new in IMD_SUCCESSORS.items():
        by_area[old] = by_area[new]
    return by_area


def reference_tables(reference: Reference, population: pd.DataFrame | None,
                     shared: Path | str | None = None) -> dict[str, pd.DataFrame]:
    """Every table but observations: reference data, populations and covariates where the files allow."""
    if population is not None and all(p.exists() for p in source_paths(shared).values()):
        areas = area_covariates(reference, population, shared)
    else:
        areas = reference.areas.assign(population=np.nan, share_65=np.nan, deprivation=np.nan, density=np.nan)
    sites = reference.sites.copy()
    for col in ("start", "transition_start", "transition_end"):
        sites[col] = pd.to_datetime(sites[col]).dt.date
    empty_pop = pd.DataFrame({"area_code": pd.Series(dtype=str), "year": pd.Series(dtype="int32"),
                              "age_group": pd.Series(dtype=str), "population": pd.Series(dtype=float),
                              "flag": pd.Series(dtype=str)})
    return {"areas": areas, "population": population if population is not None else empty_pop, "sites": sites,
            "site_areas": reference.site_areas, "catalogue": reference.catalogue, "exclusions": reference.exclusions}


def build_real(out: Path | str, shared: Path | str | None = None, progress: bool = False) -> dict:
    """Build the real dataset at ``out`` from the shared files; returns what was loaded per source."""
    paths = source_paths(shared)
    absent = [str(p) for p in paths.values() if not p.exists()]
    if absent:
        raise DataError(f"real data files not found: {absent[:3]} (pass --shared DIR)", file=absent[0])
    reference = default_reference()
    population = population_table(reference, shared)
    context = LoadContext(reference=reference, population=population,
                          districts=district_to_county(paths["councils"]),
                          district_population=load_district_population(paths["myeb3"]),
                          shared=shared_dir(shared))
    results = {
        "dtoc": dtoc.load(paths["dtoc"], context),
        "ascof": ascof.load(paths["ascof"], context),
        "falls": fingertips.load(paths["falls"], context),
        "diupr": fingertips.load(paths["diupr"], context),
        "mar": mar.load(paths["mar"], context),
    }
    obs = pd.concat([r.observations for r in results.values()], ignore_index=True)
    obs = obs.sort_values(KEY).reset_index(drop=True)
    obs["period_start"] = obs["period_start"].dt.date
    tables = reference_tables(reference, population, shared)
    tables = ccg.with_ccg_units(tables, ccg.geography(str(shared_dir(shared))))
    tables["observations"] = obs
    sources = [r.source for r in results.values()]
    for key, name in (("myeb3", "ONS mid-year population estimates MYEB3 (mid-2001 to mid-2018)"),
                      ("councils", "mySociety UK local authorities, past and current (CC-BY-4.0)"),
                      ("imd", "MHCLG English Indices of Deprivation 2019, district summaries"),
                      ("myeb3_geog19", "ONS MYEB3 on 2019 boundaries (IMD weights)"),
                      ("ccg_lookup_2015", "ONS LSOA11 -> CCG -> LAD lookup, July 2015"),
                      ("ccg_lookup_2017", "ONS LSOA11 -> CCG -> LAD lookup, April 2017"),
                      ("ccg_lookup_2018", "ONS LSOA11 -> CCG -> LAD lookup, April 2018"),
                      ("ccg_lookup_2019", "ONS LSOA11 -> CCG -> LAD lookup, April 2019"),
                      ("lsoa_population", "ONS mid-2017 LSOA populations, all ages and 65+"),
                      ("pct_bridge", "2012/13 PCT -> 2013 CCG postcode shares (third-party compilation)")):
        sources.append({"kind": "reference", "name": name, **source_vintage(paths[key])})
    notes = {
        "approximations": [
            "18+ and 65+ populations = England age share (data/reference/england_age_shares.csv) x all-ages "
            "population; rows flagged approximate_denominator",
            "share_65 in areas is null (unknown) for every area: the files have no age bands; matching leaves it out",
            "falls_65, diupr_65, care_home_65, reablement_91 are rates only: counties from districts are "
            "population-weighted (all ages); flagged rate_only",
            "populations after mid-2018 repeat mid-2018, flagged estimated",
            "Bournemouth, Poole and Dorset end in Mar 2019 (BCP and Dorset UA rows dropped: policy cutoff)",
            "ea_all (MAR): first finished consultant episodes, not HES spells; LA counts apportioned from CCGs by "
            "mid-2017 LSOA population shares (flagged apportioned_from_ccgs); 2012/13 PCTs bridged to CCGs by "
            "postcode shares (bridged_from_pcts); CCG unit populations = mid-2017 LSOA populations scaled by "
            "district growth (approximate_denominator); England = sum of CCG-commissioned admissions",
            *[f"ea_all (MAR) commissioner {reason}" for reason in results["mar"].skipped
              if "incomplete submission" in reason],
        ],
    }
    write_dataset(out, tables, label="real", sources=sources, extra=notes)
    return {k: {"rows": len(r.observations), "read": r.rows_read, "skipped": dict(r.skipped)}
            for k, r in results.items()}


def real_coverage(dataset: Dataset) -> pd.DataFrame:
    """Per catalogue indicator: whether the dataset has real data and for which periods.

    Columns: indicator_id, name, frequency, has_real_data, first_period, last_period, n_periods,
    n_areas, source. In a demo dataset nothing is real.
    """
    cov = coverage(dataset)
    real = not dataset.is_demo
    obs = dataset.observations
    sources = obs.groupby("indicator_id")["source"].agg(lambda s: "; ".join(sorted(set(s.str.split(":").str[0]))))
    cov["has_real_data"] = real & (cov["n_periods"] > 0)
    cov["source"] = cov["indicator_id"].map(sources).where(cov["has_real_data"], "")
    return cov[["indicator_id", "name", "frequency", "has_real_data", "first_period", "last_period",
                "n_periods", "n_areas", "source"]]
