"""Matching covariates for Pioneer sites and candidate comparator LAs.

Demographic covariates come from the dataset's ``areas`` table (its baseline columns: mid-2012
population, share aged 65+, IMD score, density), so they do not move with the baseline date.
Population and density are logged (log persons, log persons per km2): their spread across
English LAs is multiplicative. A multi-LA site is described on the same basis as its LA-level
indicator data: whole member LAs summed (a part-covered LA counts whole, as in
``data.aggregate``), shares and deprivation population-weighted, density = total population over
total area.

Indicator covariates (``baseline_level``, ``baseline_slope``) come from the indicator's counts in
the baseline window: periods lying wholly before the baseline end. For a site that is its own
aggregate (sum of numerators over sum of denominators, via ``data.aggregate``); for an LA its own
counts. Level is in the indicator's units per period; slope is the OLS trend of the per-period
value in indicator units per year. All areas and indicators are computed at once and cached per
dataset and baseline date, because placebo inference asks for the same covariates hundreds of
times.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from data.errors import DataError
from data.panels import indicator_panels
from data.reference import ENGLAND_CODE
from data.store import Dataset

DEMOGRAPHIC = ("log_population", "share_65", "deprivation", "density")
BASELINE = ("baseline_level", "baseline_slope")
BASELINE_COLUMNS = ("transition_start", "start")
"""Which sites-table date ends the baseline ([C]; default: the start of the transition period)."""
_MONTHS = {"month": 1, "quarter": 3, "year": 12}

def _cache(dataset: Dataset) -> dict:
    """Matching's per-dataset cache, kept on the Dataset (dropped with it)."""
    return dataset.derived.setdefault("matching", {})


def pioneer_area_codes(dataset: Dataset) -> set[str]:
    """Every LA that holds any part of a Pioneer."""
    return set(dataset.site_areas["area_code"])


def comparator_pool(dataset: Dataset, pool: Iterable[str] | None = None) -> list[str]:
    """Candidate comparator LAs: in no Pioneer (whole or part), minus the exclusions table.

    ``pool`` overrides the default (the pool is a setting) but may never contain a Pioneer LA.
    """
    if pool is None:
        cache = _cache(dataset)
        if "pool" not in cache:
            areas = set(dataset.areas["area_code"]) - {ENGLAND_CODE}
            excluded = pioneer_area_codes(dataset) | set(dataset.exclusions["area_code"])
            cache["pool"] = sorted(areas - excluded)
        return list(cache["pool"])
    areas = set(dataset.areas["area_code"]) - {ENGLAND_CODE}
    pioneers = pioneer_area_codes(dataset)
    pool = sorted(set(pool))
    unknown = [c for c in pool if c not in areas]
    if unknown:
        raise DataError(f"comparator pool has area code(s) not in the areas table: {unknown[:5]}", column="area_code")
    inside = [c for c in pool if c in pioneers]
    if inside:
        raise DataError(f"comparator pool contains Pioneer LA(s) {inside[:5]}; a Pioneer LA (whole or part) "
                        "can never be a comparator", column="area_code")
    if not pool:
        raise DataError("comparator pool is empty")
    return pool


def units_with_data(dataset: Dataset, indicator_id: str) -> frozenset[str]:
    """LAs (by area_code) and sites (by site_id) with at least one value of the indicator, cached.

    A comparator without data for an indicator can show nothing about it, so per-indicator
    matching draws only from these.
    """
    cache = _cache(dataset)
    if "with_data" not in cache:
        found = {}
        for ind, p in indicator_panels(dataset).items():
            las = p.areas[np.isfinite(p.value).any(axis=1)]
            sites = p.site_ids[np.isfinite(p.site_value).any(axis=1)]
            found[ind] = frozenset(las.tolist()) | frozenset(sites.tolist())
        cache["with_data"] = found
    return cache["with_data"].get(indicator_id, frozenset())


def site_baseline_ends(dataset: Dataset, baseline_column: str = "transition_start") -> pd.Series:
    """Each site's baseline end (periods must end on or before it), indexed by site_id."""
    if baseline_column not in BASELINE_COLUMNS:
        raise DataError(f"baseline column {baseline_column!r} is not one of {BASELINE_COLUMNS}", column=baseline_column)
    cache = _cache(dataset)
    key = ("ends", baseline_column)
    if key not in cache:
        ends = pd.to_datetime(dataset.sites.set_index("site_id")[baseline_column])
        if ends.isna().any():
            raise DataError(f"site {ends.index[ends.isna()][0]!r} has no {baseline_column} date",
                            column=baseline_column)
        cache[key] = ends
    return cache[key]


def demographic_covariates(dataset: Dataset) -> pd.DataFrame:
    """Demographic covariates of every site and LA, indexed by unit (site_id or area_code)."""
    cache = _cache(dataset)
    if "demographic" in cache:
        return cache["demographic"]
    areas = dataset.areas[dataset.areas["area_code"] != ENGLAND_CODE].set_index("area_code")
    needed = ["population", "share_65", "deprivation", "density"]
    missing = [c for c in needed if c not in areas.columns]
    if missing:
        raise DataError(f"areas table lacks column(s) {missing} needed for matching", column=missing[0])
    pop = areas["population"].astype(float)
    km2 = pop / areas["density"].astype(float)
    la = pd.DataFrame({
        "log_population": np.log(pop),
        "share_65": areas["share_65"].astype(float),
        "deprivation": areas["deprivation"].astype(float),
        "density": np.log(areas["density"].astype(float)),
    })
    members = dataset.site_areas[["site_id", "area_code"]].drop_duplicates()
    unknown = members.loc[~members["area_code"].isin(areas.index), "area_code"]
    if len(unknown):
        raise DataError(f"site_areas names area {unknown.iloc[0]!r} that is not in the areas table", column="area_code")
    m = members.assign(pop=members["area_code"].map(pop), km2=members["area_code"].map(km2),
                       pop65=members["area_code"].map(pop * areas["share_65"]),
                       popdep=members["area_code"].map(pop * areas["deprivation"]))
    sums = m.groupby("site_id", sort=True)[["pop", "km2", "pop65", "popdep"]].sum(min_count=1)
    site = pd.DataFrame({
        "log_population": np.log(sums["pop"]),
        "share_65": sums["pop65"] / sums["pop"],
        "deprivation": sums["popdep"] / sums["pop"],
        "density": np.log(sums["pop"] / sums["km2"]),
    })
    frame = pd.concat([site, la])
    frame.index.name = "unit"
    cache["demographic"] = frame
    return frame


def _baseline_arrays(dataset: Dataset, end: pd.Timestamp, min_periods: int = 2) -> dict:
    """Level, slope and period count of every (unit, indicator) at one baseline end, as arrays.

    Units are every site (its aggregate series, from ``data.panels``) then every LA observed.
    """
    cache = _cache(dataset)
    key = ("baseline_arrays", end, min_periods)
    if key in cache:
        return cache[key]
    panels = indicator_panels(dataset)
    indicators = list(panels)
    if panels:
        first = next(iter(panels.values()))
        units = first.site_ids.append(first.areas)
    else:
        units = pd.Index(dataset.sites["site_id"])
    values = np.full((len(units), len(indicators), 2), np.nan)
    periods = np.zeros((len(units), len(indicators)), dtype=int)
    origin = np.datetime64("2010-01-01", "D")
    for j, ind in enumerate(indicators):
        p = panels[ind]
        # A period belongs to the baseline only if it ends on or before the baseline end.
        last_start = np.datetime64(end - pd.DateOffset(months=_MONTHS[p.frequency]), "D")
        cols = p.periods.to_numpy().astype("datetime64[D]") <= last_start
        y = np.vstack([p.site_value, p.value])[:, cols]
        num = np.vstack([p.site_num, p.num])[:, cols]
        den = np.vstack([p.site_den, p.den])[:, cols]
        t = (p.periods.to_numpy().astype("datetime64[D]")[cols] - origin).astype(float) / 365.25
        ok = np.isfinite(y)
        counts = ok & np.isfinite(num) & np.isfinite(den) & (den > 0)
        n = ok.sum(axis=1)
        y0 = np.where(ok, y, 0.0)
        tt = np.where(ok, t[None, :], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sum_y, sum_t = y0.sum(axis=1), tt.sum(axis=1)
            # Counts where any exist (a rate is never averaged); otherwise the mean of published rates.
            level = np.where(counts.any(axis=1),
                             np.where(counts, num, 0.0).sum(axis=1) / np.where(counts, den, 0.0).sum(axis=1)
                             * p.multiplier, sum_y / n)
            sxx = (tt * tt).sum(axis=1) - sum_t ** 2 / n
            sxy = (tt * y0).sum(axis=1) - sum_t * sum_y / n
            slope = np.where((n >= min_periods) & (sxx > 1e-12), sxy / sxx, np.nan)
        values[:, j, 0] = np.where(n > 0, level, np.nan)
        values[:, j, 1] = slope
        periods[:, j] = n
    cache[key] = {"units": units, "indicators": indicators, "values": values, "periods": periods}
    return cache[key]


def _check_indicator(dataset: Dataset, indicator_id: str) -> None:
    if indicator_id not in set(dataset.catalogue["indicator_id"]):
        raise DataError(f"indicator {indicator_id!r} is not in the catalogue", column="indicator_id")


def covariate_matrix(dataset: Dataset, indicator_id: str | None, baseline_end
                     ) -> tuple[pd.Index, list[str], np.ndarray]:
    """Every unit's covariates as (units, columns, float array), cached: the fast path for matching.

    One baseline end applies to every unit. Rows follow ``demographic_covariates``.
    """
    demo = demographic_covariates(dataset)
    cache = _cache(dataset)
    if indicator_id is None:
        if "matrix_demographic" not in cache:
            cache["matrix_demographic"] = (demo.index, list(DEMOGRAPHIC), demo[list(DEMOGRAPHIC)].to_numpy(float))
        return cache["matrix_demographic"]
    end = pd.Timestamp(baseline_end)
    key = ("matrix", end, indicator_id)
    if key not in cache:
        _check_indicator(dataset, indicator_id)
        a = _baseline_arrays(dataset, end)
        if "unit_rows" not in cache:
            cache["unit_rows"] = a["units"].get_indexer(demo.index)
        rows = cache["unit_rows"]
        base = np.full((len(demo), 2), np.nan)
        if indicator_id in a["indicators"]:
            found = rows >= 0
            base[found] = a["values"][rows[found], a["indicators"].index(indicator_id)]
        _, _, demo_X = covariate_matrix(dataset, None, None)
        cache[key] = (demo.index, [*DEMOGRAPHIC, *BASELINE], np.hstack([demo_X, base]))
    return cache[key]


def covariates_at(dataset: Dataset, indicator_id: str | None, baseline_end) -> pd.DataFrame:
    """Every unit's covariates with one baseline end for all units, as a frame (a copy)."""
    index, columns, X = covariate_matrix(dataset, indicator_id, baseline_end)
    return pd.DataFrame(X.copy(), index=index, columns=columns)


def unit_covariates(dataset: Dataset, indicator_id: str | None = None, baseline_end=None,
                    baseline_column: str = "transition_start") -> pd.DataFrame:
    """Matching covariates of every site (by site_id) and LA (by area_code), indexed by unit.

    Columns: log_population, share_65, deprivation, density (log persons per km2), and with an
    ``indicator_id`` also baseline_level and baseline_slope. ``baseline_end`` applies one date to
    every unit; when None each site uses its own ``baseline_column`` date and LAs use the
    earliest site's date (pass ``baseline_end`` to compare LAs on a later site's window).
    """
    if indicator_id is None:
        return demographic_covariates(dataset).copy()
    _check_indicator(dataset, indicator_id)
    if baseline_end is not None:
        return covariates_at(dataset, indicator_id, baseline_end)
    ends = site_baseline_ends(dataset, baseline_column)
    frame = covariates_at(dataset, indicator_id, ends.min())
    for end, sites in ends.groupby(ends).groups.items():
        own = covariates_at(dataset, indicator_id, end)
        frame.loc[list(sites), list(BASELINE)] = own.loc[list(sites), list(BASELINE)].to_numpy()
    return frame
