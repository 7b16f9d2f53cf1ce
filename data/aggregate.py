"""Aggregating areas into sites, comparator groups and England.

A rate cannot be averaged: a group's value is the sum of its areas' numerators over the sum of
their denominators. Sources that give only a rate (a DSR, a score) are aggregated weighted by
denominator (or population) and flagged "rate_only" so the UI can say so.

A group period from which a member is missing stands in for the whole group only if the member
is small: see ``MISSING_MEMBER_SHARE``; larger gaps leave the period out (``missing_members``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["indicator_id", "period_start", "frequency"]
MISSING_MEMBER_SHARE = 0.05
"""[C] A site period is left out (value, numerator and denominator missing, flag "member_missing")
when members that report the indicator in other periods are missing from it and together hold at
least 5% of the population of the members that report it: the rest would stand in for the whole
site (e.g. one of Cheshire's two LAs). Smaller gaps are kept and flagged "incomplete" (on the real
data: the City of London, 0.7% of Waltham Forest and East London and City, in 11 DTOC months; the
Isles of Scilly, 0.4% of Cornwall, in 3 years of deaths). A member that never reports the indicator
is not expected. Population is the baseline all-ages population of each unit (equal weights when
any member's is unknown)."""


def member_weights(population: pd.Series | None, area_codes) -> np.ndarray:
    """Each area's weight in the missing-member rule: its population (``population`` maps
    area_code to people); an unknown one counts as a typical unit (the median); all 1 without
    populations."""
    codes = pd.Index(area_codes)
    if population is None:
        return np.ones(len(codes))
    known = population[np.isfinite(population.astype(float)) & (population.astype(float) > 0)].astype(float)
    fill = float(known.median()) if len(known) else 1.0
    return known.reindex(codes).fillna(fill).to_numpy(dtype=float)


def area_population(areas: pd.DataFrame) -> pd.Series | None:
    """The areas table's baseline population by area_code (None when the table has none)."""
    return areas.set_index("area_code")["population"] if "population" in areas.columns else None


def missing_members(usable: np.ndarray, members: np.ndarray, weights: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The missing-member rule on matrices: (members reported, members expected, left out).

    ``usable`` (areas x periods) is True where an area has a value; ``members`` (groups x areas)
    0/1; ``weights`` (areas,) from ``member_weights``. A member is expected when it has a value in
    any period. Returns (groups x periods) reported counts, (groups,) expected counts and the
    (groups x periods) mask of group periods left out by ``MISSING_MEMBER_SHARE``.
    """
    usable = np.asarray(usable, dtype=bool)
    reports = usable.any(axis=1)
    n_reported = members @ usable.astype(float)
    n_expected = members @ reports.astype(float)
    expected_pop = members @ (reports * weights)
    present_pop = members @ (usable * weights[:, None])
    return n_reported, n_expected, _left_out_by_share(n_reported, present_pop, expected_pop[:, None])


def _left_out_by_share(n_reported, present_pop, expected_pop) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        share_missing = np.where(expected_pop > 0, 1 - present_pop / np.where(expected_pop > 0, expected_pop, 1), 0.0)
    return (np.asarray(n_reported) > 0) & (share_missing >= MISSING_MEMBER_SHARE - 1e-9)


def contributions(num, den, value) -> tuple[np.ndarray, ...]:
    """The aggregation rule, per observation: what it adds to its group's sums.

    An observation with a numerator and a positive denominator is counted (its numerator and
    denominator are summed); any other observation with a value adds its published rate,
    weighted by its denominator (1 without one). Returns (usable, counted, numerator,
    denominator, weighted rate, weight), zeros where an observation adds nothing. Works
    elementwise on arrays of any shape.
    """
    num, den, value = (np.asarray(a, dtype=float) for a in (num, den, value))
    usable = np.isfinite(value)
    counted = usable & np.isfinite(num) & np.isfinite(den) & (np.nan_to_num(den) > 0)
    rated = usable & ~counted
    weight = np.where(np.isfinite(den), den, 1.0)
    return (usable, counted, np.where(counted, num, 0.0), np.where(counted, den, 0.0),
            np.where(rated, value * weight, 0.0), np.where(rated, weight, 0.0))


def group_value(s_num, s_den, s_wv, s_w, n_counted, multiplier) -> np.ndarray:
    """The aggregation rule, per group: sum of numerators over sum of denominators times the
    multiplier when any member was counted, else the weighted mean of the published rates."""
    with np.errstate(invalid="ignore", divide="ignore"):
        by_counts = np.where(s_den != 0, s_num / np.where(s_den != 0, s_den, np.nan) * multiplier, np.nan)
        by_rates = np.where(s_w != 0, s_wv / np.where(s_w != 0, s_w, np.nan), np.nan)
    return np.where(np.asarray(n_counted) > 0, by_counts, by_rates)


def aggregate(observations: pd.DataFrame, members: pd.DataFrame, multipliers: pd.Series,
              population: pd.Series | None = None, leave_out_missing: bool = True) -> pd.DataFrame:
    """Aggregate area observations into groups.

    ``members`` has columns ``group`` and ``area_code`` (an area may belong to several groups);
    ``multipliers`` maps indicator_id to the catalogue multiplier; ``population`` maps area_code
    to the population that weighs a missing member (``missing_members``). Returns one row per
    group, indicator and period with numerator, denominator, value, n_areas, n_expected and flag
    ("incomplete" when some member areas are missing, "rate_only" when aggregated from rates,
    "member_missing" when the period is left out: value, numerator and denominator missing).
    ``leave_out_missing=False`` keeps every period (England as a sum of LAs: flagged, not left out).
    """
    obs = observations.merge(members[["group", "area_code"]], on="area_code", how="inner")
    usable = obs["value"].notna()
    obs = obs[usable]
    _, counted, num, den, wv, w = contributions(obs["numerator"], obs["denominator"], obs["value"])
    obs = obs.assign(_num=num, _den=den, _wv=wv, _w=w, _counts=counted.astype(int))
    grouped = obs.groupby(["group", *KEYS], observed=True, sort=True).agg(
        numerator=("_num", "sum"), denominator=("_den", "sum"), _wv=("_wv", "sum"), _w=("_w", "sum"),
        _counts=("_counts", "sum"), n_areas=("area_code", "nunique"),
    ).reset_index()
    mult = grouped["indicator_id"].map(multipliers).astype(float)
    rate_only = grouped["_counts"] == 0
    grouped["value"] = group_value(grouped["numerator"].to_numpy(), grouped["denominator"].to_numpy(),
                                   grouped["_wv"].to_numpy(), grouped["_w"].to_numpy(), grouped["_counts"].to_numpy(),
                                   mult.to_numpy())
    grouped.loc[rate_only, ["numerator", "denominator"]] = np.nan
    expected = members.groupby("group")["area_code"].nunique()
    grouped["n_expected"] = grouped["group"].map(expected).astype(int)
    flags = np.where(rate_only, "rate_only", "")
    incomplete = grouped["n_areas"] < grouped["n_expected"]
    flags = np.where(incomplete, np.where(flags == "", "incomplete", flags + ";incomplete"), flags)
    if leave_out_missing and len(grouped):
        left_out = _left_out(obs, grouped, population)
        grouped.loc[left_out, ["numerator", "denominator", "value"]] = np.nan
        flags = np.where(left_out, np.where(flags == "", "member_missing", flags + ";member_missing"), flags)
    grouped["flag"] = flags
    return grouped.drop(columns=["_wv", "_w", "_counts"])


def _left_out(obs: pd.DataFrame, grouped: pd.DataFrame, population: pd.Series | None) -> np.ndarray:
    """``missing_members`` on the frame route: per group and series (indicator, frequency), the
    members with a value in any period are expected; a period is left out by the same share."""
    series = ["group", "indicator_id", "frequency"]
    codes = obs["area_code"].unique()
    weight = obs["area_code"].map(dict(zip(codes, member_weights(population, codes))))
    obs = obs.assign(_pop=weight.to_numpy(dtype=float))
    present = obs.groupby(series + ["period_start"], observed=True)["_pop"].sum()
    expected = obs.drop_duplicates(series + ["area_code"]).groupby(series, observed=True)["_pop"].sum()
    index = pd.MultiIndex.from_frame(grouped[series + ["period_start"]])
    present_pop = present.reindex(index).to_numpy()
    expected_pop = expected.reindex(pd.MultiIndex.from_frame(grouped[series])).to_numpy()
    return _left_out_by_share(grouped["n_areas"].to_numpy(), present_pop, expected_pop)


def site_members(site_areas: pd.DataFrame) -> pd.DataFrame:
    """Site membership as a ``group, area_code`` frame: every LA of the site, whole or part."""
    return site_areas.rename(columns={"site_id": "group"})[["group", "area_code"]]


def aggregate_sites(observations: pd.DataFrame, site_areas: pd.DataFrame, catalogue: pd.DataFrame,
                    population: pd.Series | None = None) -> pd.DataFrame:
    out = aggregate(observations, site_members(site_areas), catalogue.set_index("indicator_id")["multiplier"],
                    population)
    return out.rename(columns={"group": "site_id"})
