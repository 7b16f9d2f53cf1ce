"""A generated demonstration dataset, deterministic for a seed.

Real codes, names, types and regions; everything else is synthetic: populations, covariates and
all indicator counts. Levels, trends, seasonality and spreads follow domain.md (section 4) through
data/reference/demo_parameters.csv, so the dashboard looks like the real thing. Effects of known
size are planted in some site-indicator pairs and recorded in the ``truth`` table, which the
statistics are tested against and which is never shown to users as data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from data.ccg import VINTAGES, read_ccgs, unit_of, units_table
from data.periods import period_range
from data.reference import ENGLAND_CODE, REFERENCE_DIR, Reference, default_reference
from data.store import CCG_TYPE, write_dataset

FIRST, LAST = "2010-04-01", "2019-03-01"
POP_YEARS = range(2009, 2020)
BASELINE_YEAR = 2012
PLANTED_SHARE = 0.35
PLANTED_RANGE_PCT = (4.0, 12.0)

# Synthetic population by council type: (median population 2010, log sd) and covariate centres.
_TYPE_PARAMS = {
    #                      pop median, log sd, share65, sd, IMD score, sd
    "county":               (750_000, 0.35, 0.195, 0.020, 16.0, 4.0),
    "unitary":              (200_000, 0.45, 0.170, 0.030, 23.0, 8.0),
    "metropolitan district": (300_000, 0.40, 0.160, 0.020, 29.0, 7.0),
    "london borough":       (260_000, 0.20, 0.110, 0.030, 25.0, 8.0),
    "city of london":       (7_500, 0.0, 0.150, 0.0, 15.0, 0.0),
}
_SPECIAL_POPULATION = {"E06000053": 2_250.0}  # Isles of Scilly


def _areas_and_population(ref: Reference, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    areas = ref.areas.sort_values("area_code").reset_index(drop=True).copy()
    n = len(areas)
    p = np.array([_TYPE_PARAMS[t] for t in areas["type"]], dtype=float)
    z = rng.standard_normal((n, 4))
    pop2010 = p[:, 0] * np.exp(p[:, 1] * z[:, 0])
    for code, value in _SPECIAL_POPULATION.items():
        pop2010[areas["area_code"].to_numpy() == code] = value
    deprivation = np.clip(p[:, 4] + p[:, 5] * z[:, 1], 5.0, 50.0)
    # More deprived areas are younger: a realistic negative correlation for matching to work on.
    share65 = np.clip(p[:, 2] + p[:, 3] * (0.8 * z[:, 2] - 0.4 * z[:, 1]), 0.06, 0.30)
    share18 = np.clip(0.785 - 0.01 * z[:, 3] + 0.2 * (share65 - 0.17), 0.72, 0.86)
    growth = 0.007 + 0.004 * rng.standard_normal(n)
    rows = []
    for year in POP_YEARS:
        total = pop2010 * (1 + growth) ** (year - 2010)
        s65 = np.clip(share65 + 0.003 * (year - 2010), 0.05, 0.35)
        for group, values in (("all", total), ("18+", total * share18), ("65+", total * s65)):
            rows.append(pd.DataFrame({"area_code": areas["area_code"], "year": year, "age_group": group,
                                      "population": np.round(values), "flag": "estimated"}))
    population = pd.concat(rows, ignore_index=True)
    base = population[population["year"] == BASELINE_YEAR].pivot(index="area_code", columns="age_group",
                                                                     values="population")
    areas["population"] = areas["area_code"].map(base["all"])
    areas["share_65"] = areas["area_code"].map(base["65+"] / base["all"])
    areas["deprivation"] = np.round(deprivation, 2)
    areas["density"] = areas["population"] / areas["area_km2"]
    return areas, population


def _season(starts: pd.DatetimeIndex, amplitude_pct: float, peak: str) -> np.ndarray:
    """Seasonal multiplier: a cosine peaking in January (winter) or July (summer)."""
    if peak == "none" or amplitude_pct == 0:
        return np.ones(len(starts))
    mid_month = np.asarray(starts.month) + (1 if len(starts) > 1 and (starts[1] - starts[0]).days > 40 else 0)
    peak_month = 1 if peak == "winter" else 7
    return 1 + amplitude_pct / 100 * np.cos(2 * np.pi * (mid_month - peak_month) / 12)


def _england_curve(indicator_id: str, starts: pd.DatetimeIndex, level: float, trend_pct: float,
                   curves: pd.DataFrame) -> np.ndarray:
    years = np.asarray((starts - pd.Timestamp(FIRST)).days / 365.25)
    own = curves[curves["indicator_id"] == indicator_id]
    if len(own):
        x = (pd.to_datetime(own["period"]) - pd.Timestamp(FIRST)).dt.days / 365.25
        return np.exp(np.interp(years, x, np.log(own["level"].astype(float))))
    return level * (1 + trend_pct / 100) ** years


def _plant_effects(ref: Reference, rng: np.random.Generator) -> pd.DataFrame:
    polarity = ref.catalogue.set_index("indicator_id")["polarity"]
    rows = []
    for site in ref.site_ids():
        for ind in ref.indicator_ids():
            planted = rng.random() < PLANTED_SHARE
            size = rng.uniform(*PLANTED_RANGE_PCT)
            improves = rng.random() < 0.75
            sign = -1 if polarity[ind] == "lower" else 1
            effect = (sign if improves else -sign) * size if planted else 0.0
            rows.append((site, ind, round(effect, 1)))
    return pd.DataFrame(rows, columns=["site_id", "indicator_id", "effect_pct"])


def _denominators(basis: str, scale: float, pops: dict[str, np.ndarray], per_year: int) -> np.ndarray:
    if basis == "pop_all":
        return pops["all"]
    if basis == "pop_65":
        return pops["65+"]
    if basis == "pop_18":
        return pops["18+"]
    base = pops["65+"] if basis in ("reablement_discharges", "deaths_65") else pops["all"]
    return base * scale * (4 / per_year if basis == "discharges" else 1.0)


def generate(seed: int = 2013, reference: Reference | None = None) -> dict[str, pd.DataFrame]:
    """Build every table of a demo dataset in memory."""
    ref = reference or default_reference()
    rng = np.random.default_rng(seed)
    params = pd.read_csv(REFERENCE_DIR / "demo_parameters.csv").set_index("indicator_id")
    curves = pd.read_csv(REFERENCE_DIR / "demo_england_curves.csv")
    areas, population = _areas_and_population(ref, rng)
    truth = _plant_effects(ref, rng)
    codes = areas["area_code"].to_numpy()
    n = len(codes)
    z_dep = ((areas["deprivation"] - areas["deprivation"].mean()) / areas["deprivation"].std()).to_numpy()
    z_age = ((areas["share_65"] - areas["share_65"].mean()) / areas["share_65"].std()).to_numpy()
    pop_by = {g: population[population["age_group"] == g].pivot(index="area_code", columns="year",
                                                                 values="population").loc[codes]
              for g in ("all", "18+", "65+")}
    sites = ref.sites.set_index("site_id")
    shares = ref.site_areas.copy()
    catalogue = ref.catalogue.set_index("indicator_id")

    obs_frames, truth_la = [], []
    for ind in ref.indicator_ids():
        par, cat = params.loc[ind], catalogue.loc[ind]
        freq = cat["frequency"]
        per_year = {"month": 12, "quarter": 4, "year": 1}[freq]
        starts = period_range(FIRST, LAST, freq)
        t = len(starts)
        years_since = ((starts - pd.Timestamp(FIRST)).days / 365.25).to_numpy()
        england = _england_curve(ind, starts, float(par["level_2010"]), float(par["annual_trend_pct"]), curves)
        season = _season(starts, float(par["season_amplitude_pct"]), par["season_peak"])
        # Area level: covariates, a persistent area effect and an area-specific drift.
        area_effect = (par["deprivation_coef"] * z_dep + par["age_coef"] * z_age
                       + par["between_area_sd"] * rng.standard_normal(n))
        drift = 0.006 * rng.standard_normal(n)
        log_rate = (np.log(england * season)[None, :] + area_effect[:, None]
                    + drift[:, None] * years_since[None, :]
                    + par["noise_sd"] * rng.standard_normal((n, t)))
        # Centre so the population-weighted England rate follows the curve despite the spread.
        weights = areas["population"].to_numpy()
        log_rate -= np.log(np.average(np.exp(area_effect), weights=weights))
        multiplier = np.ones((n, t))
        own = truth[(truth["indicator_id"] == ind) & (truth["effect_pct"] != 0)]
        for _, row in own.iterrows():
            start = sites.at[row["site_id"], "start"]
            after = (starts >= start)
            for _, member in shares[shares["site_id"] == row["site_id"]].iterrows():
                i = np.searchsorted(codes, member["area_code"])
                multiplier[i, after] *= 1 + row["effect_pct"] / 100 * member["population_share"]
        rate = np.exp(log_rate) * multiplier
        pop_year = [s.year if s.month >= 7 else s.year - 1 for s in starts]  # the mid-year estimate in force
        pops = {g: pop_by[g][pop_year].to_numpy() for g in pop_by}
        denom_expected = _denominators(par["denominator_basis"], float(par["denominator_scale"]), pops, per_year)
        if par["denominator_basis"].startswith("pop"):
            denominator = denom_expected
        else:
            denominator = rng.poisson(denom_expected).astype(float)
        mult = float(cat["multiplier"])
        if cat["value_type"] == "proportion":
            p = np.clip(rate / mult, 0.001, 0.995)
            numerator = rng.binomial(denominator.astype(np.int64), p).astype(float)
        else:
            numerator = rng.poisson(rate * denominator / mult).astype(float)
        frame = pd.DataFrame({
            "indicator_id": ind,
            "area_code": np.repeat(codes, t),
            "period_start": np.tile(starts.to_numpy(), n),
            "frequency": freq,
            "numerator": numerator.ravel(),
            "denominator": denominator.ravel(),
        })
        # The LA-basis truth: what the planted effect does to the site's aggregate expected rate.
        for site_id in own["site_id"]:
            members = shares[shares["site_id"] == site_id]
            idx = np.searchsorted(codes, members["area_code"].to_numpy())
            after = starts >= sites.at[site_id, "start"]
            expected = np.exp(log_rate[idx][:, after]) * denom_expected[idx][:, after]
            ratio = (expected * multiplier[idx][:, after]).sum() / expected.sum()
            truth_la.append((site_id, ind, round((ratio - 1) * 100, 3)))
        obs_frames.append(frame)

    obs = pd.concat(obs_frames, ignore_index=True)
    obs["value"] = np.nan
    obs["flag"] = ""
    # A few missing returns, and small counts suppressed as the publishers do.
    missing = rng.random(len(obs)) < 0.002
    suppressed = ((obs["numerator"] < 3) & obs["indicator_id"].isin(
        catalogue.index[catalogue["value_type"] != "proportion"])) | (obs["denominator"] <= 0)
    obs.loc[missing, "flag"] = "missing"
    obs.loc[suppressed & ~missing, "flag"] = "suppressed"
    obs.loc[missing | suppressed, "numerator"] = np.nan
    mult_by_ind = obs["indicator_id"].map(catalogue["multiplier"]).astype(float)
    obs["value"] = obs["numerator"] / obs["denominator"] * mult_by_ind

    # England from the sum of every area that reported: a missing or suppressed LA leaves both its
    # count and its denominator out (keeping the denominator would bias England low), and the row
    # is flagged "estimated".
    reported = obs["numerator"].notna()
    eng = obs.assign(denominator=obs["denominator"].where(reported)).groupby(
        ["indicator_id", "period_start", "frequency"], sort=True).agg(
        numerator=("numerator", "sum"), denominator=("denominator", "sum"),
        n=("numerator", "count")).reset_index()
    eng["area_code"] = ENGLAND_CODE
    eng["value"] = eng["numerator"] / eng["denominator"] * eng["indicator_id"].map(catalogue["multiplier"]).astype(float)
    eng["flag"] = np.where(eng["n"] < n, "estimated", "")
    obs = pd.concat([obs, eng.drop(columns="n")], ignore_index=True)
    obs["ci_low"] = np.nan
    obs["ci_high"] = np.nan
    obs["source"] = "demo"
    obs["period_start"] = pd.to_datetime(obs["period_start"]).dt.date
    obs = obs.sort_values(["indicator_id", "area_code", "period_start"]).reset_index(drop=True)

    truth = truth.merge(pd.DataFrame(truth_la, columns=["site_id", "indicator_id", "effect_pct_la_basis"]),
                        on=["site_id", "indicator_id"], how="left")
    truth["effect_pct_la_basis"] = truth["effect_pct_la_basis"].fillna(0.0)
    ccg = _ccg_units(ref, truth, params.loc[CCG_INDICATOR], catalogue.loc[CCG_INDICATOR], curves,
                     np.random.default_rng([seed, 38]))
    truth = truth.merge(ccg["truth"], on=["site_id", "indicator_id"], how="left")
    truth["effect_pct_ccg_basis"] = truth["effect_pct_ccg_basis"].fillna(0.0)
    obs = pd.concat([obs, ccg["observations"]], ignore_index=True)
    areas = pd.concat([areas, ccg["areas"][areas.columns]], ignore_index=True)
    population = pd.concat([population, ccg["population"]], ignore_index=True)
    sites_table = ref.sites.copy()
    for col in ("start", "transition_start", "transition_end"):
        sites_table[col] = sites_table[col].dt.date
    return {
        "observations": obs,
        "areas": areas,
        "population": population,
        "sites": sites_table,
        "site_areas": pd.concat([ref.site_areas, ccg["site_areas"][ref.site_areas.columns]], ignore_index=True),
        "catalogue": ref.catalogue,
        "exclusions": ref.exclusions,
        "truth": truth,
    }


CCG_INDICATOR = "ea_all"
"""The one indicator the demo generates on CCG units, as the real data hold only emergency admissions there."""


def _ccg_site_units(ref: Reference, units: pd.DataFrame) -> pd.DataFrame:
    """site_areas rows for the CCG units from data/reference/site_ccgs.csv: a unit is whole when all
    its 2013/14 CCGs are wholly in the site; a part unit's population_share is the share of its
    CCGs in the site by count, a CCG only partly in the site counting half (generated: the demo
    has no CCG populations of its own)."""
    ccgs = read_ccgs()
    first = unit_of(ccgs)
    first = first[first["vintage"] == VINTAGES[0]]
    rows = []
    for (site_id, unit), g in ref.site_ccgs.merge(first, on="ccg_code").groupby(["site_id", "area_code"], sort=True):
        n_unit = int((first["area_code"] == unit).sum())
        whole = bool((g["coverage"] == "whole").all()) and len(g) == n_unit
        rows.append({"site_id": site_id, "area_code": unit, "coverage": "whole" if whole else "part",
                     "population_share": 1.0 if whole else (g["coverage"].map({"whole": 1.0, "part": 0.5}).sum()
                                                                  / n_unit),
                     "basis": "C" if (g["basis"] == "C").any() else "S", "note": "generated (demo)"})
    return pd.DataFrame(rows)


def _ccg_units(ref: Reference, truth: pd.DataFrame, par: pd.Series, cat: pd.Series, curves: pd.DataFrame,
               rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """CCG units with generated populations, covariates and monthly (and quarterly) emergency
    admissions, with each site's planted ea_all effect; a separate random stream, so the LA tables
    are the same with or without them. Real codes and names; every number generated. Area and
    density are left null, as on the real data (the shared files give no CCG areas)."""
    units = units_table(read_ccgs()).sort_values("unit_code").reset_index(drop=True)
    codes = units["unit_code"].to_numpy()
    n = len(codes)
    z = rng.standard_normal((n, 3))
    pop2010 = 250_000 * np.exp(0.45 * z[:, 0])
    deprivation = np.clip(22.0 + 7.0 * z[:, 1], 5.0, 50.0)
    share65 = np.clip(0.17 + 0.03 * (0.8 * z[:, 2] - 0.4 * z[:, 1]), 0.06, 0.30)
    growth = 0.007 + 0.004 * rng.standard_normal(n)
    pop_rows = []
    for year in POP_YEARS:
        total = np.round(pop2010 * (1 + growth) ** (year - 2010))
        for group, values in (("all", total), ("65+", np.round(total * (share65 + 0.003 * (year - 2010))))):
            pop_rows.append(pd.DataFrame({"area_code": codes, "year": year, "age_group": group,
                                          "population": values, "flag": "estimated"}))
    population = pd.concat(pop_rows, ignore_index=True)
    pop_all = population[population["age_group"] == "all"].pivot(index="area_code", columns="year",
                                                                  values="population").loc[codes]
    areas = pd.DataFrame({"area_code": codes, "name": units["name"].to_numpy(), "type": CCG_TYPE, "region": "",
                          "nhs_la_code": units["ods_code"].to_numpy(), "area_km2": np.nan,
                          "population": pop_all[BASELINE_YEAR].to_numpy(), "share_65": np.round(share65, 4),
                          "deprivation": np.round(deprivation, 2), "density": np.nan})
    site_units = _ccg_site_units(ref, units)

    months = period_range(FIRST, LAST, "month")
    years_since = ((months - pd.Timestamp(FIRST)).days / 365.25).to_numpy()
    quarterly = _england_curve(CCG_INDICATOR, months, float(par["level_2010"]), float(par["annual_trend_pct"]), curves)
    england = quarterly / 3 * _season(months, float(par["season_amplitude_pct"]), par["season_peak"])
    z_dep = (deprivation - deprivation.mean()) / deprivation.std()
    z_age = (share65 - share65.mean()) / share65.std()
    area_effect = (par["deprivation_coef"] * z_dep + par["age_coef"] * z_age
                   + par["between_area_sd"] * rng.standard_normal(n))
    log_rate = (np.log(england)[None, :] + area_effect[:, None]
                + 0.006 * rng.standard_normal(n)[:, None] * years_since[None, :]
                + par["noise_sd"] * rng.standard_normal((n, len(months))))
    log_rate -= np.log(np.average(np.exp(area_effect), weights=pop2010))
    multiplier = np.ones((n, len(months)))
    sites = ref.sites.set_index("site_id")
    planted = truth[(truth["indicator_id"] == CCG_INDICATOR) & (truth["effect_pct"] != 0)]
    for _, row in planted.iterrows():
        after = months >= sites.at[row["site_id"], "start"]
        for _, member in site_units[site_units["site_id"] == row["site_id"]].iterrows():
            multiplier[np.searchsorted(codes, member["area_code"]), after] *= (
                1 + row["effect_pct"] / 100 * member["population_share"])
    mult = float(cat["multiplier"])
    denominator = pop_all[[m.year if m.month >= 7 else m.year - 1 for m in months]].to_numpy()
    expected = np.exp(log_rate) * denominator / mult
    numerator = rng.poisson(expected * multiplier).astype(float)
    truth_rows = []
    for site_id in planted["site_id"]:
        idx = np.searchsorted(codes, site_units.loc[site_units["site_id"] == site_id, "area_code"].to_numpy())
        after = months >= sites.at[site_id, "start"]
        ratio = (expected[idx][:, after] * multiplier[idx][:, after]).sum() / expected[idx][:, after].sum()
        truth_rows.append((site_id, CCG_INDICATOR, round((ratio - 1) * 100, 3)))
    monthly = pd.DataFrame({"indicator_id": CCG_INDICATOR, "area_code": np.repeat(codes, len(months)),
                            "period_start": np.tile(months.to_numpy(), n), "frequency": "month",
                            "numerator": numerator.ravel(), "denominator": denominator.ravel()})
    # Quarters (the catalogue's frequency): the months' counts summed, the mean monthly population.
    quarter = monthly.assign(period_start=pd.PeriodIndex(monthly["period_start"], freq="Q").start_time)
    quarter = quarter.groupby(["indicator_id", "area_code", "period_start"], as_index=False).agg(
        numerator=("numerator", "sum"), denominator=("denominator", "mean")).assign(frequency=cat["frequency"])
    obs = pd.concat([monthly, quarter], ignore_index=True)
    obs["value"] = obs["numerator"] / obs["denominator"] * mult
    obs["flag"] = ""
    obs["ci_low"] = np.nan
    obs["ci_high"] = np.nan
    obs["source"] = "demo"
    obs["period_start"] = pd.to_datetime(obs["period_start"]).dt.date
    return {"areas": areas, "population": population, "site_areas": site_units, "observations": obs,
            "truth": pd.DataFrame(truth_rows, columns=["site_id", "indicator_id", "effect_pct_ccg_basis"])}


def build_demo(out, seed: int = 2013) -> None:
    """Generate the demo dataset and write it atomically to ``out``."""
    tables = generate(seed)
    write_dataset(out, tables, label="demo",
                  sources=[{"name": "generated demonstration data", "seed": seed,
                            "vintage": "synthetic", "generator": "data.demo"}],
                  extra={"seed": seed})
