"""Aggregating areas into sites, comparator groups and England.

A rate cannot be averaged: a group's value is the sum of its areas' numerators over the sum of
their denominators. Sources that give only a rate (a DSR, a score) are aggregated weighted by
denominator (or population) and flagged "rate_only" so the UI can say so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["indicator_id", "period_start", "frequency"]


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


def aggregate(observations: pd.DataFrame, members: pd.DataFrame, multipliers: pd.Series) -> pd.DataFrame:
    """Aggregate area observations into groups.

    ``members`` has columns ``group`` and ``area_code`` (an area may belong to several groups);
    ``multipliers`` maps indicator_id to the catalogue multiplier. Returns one row per group,
    indicator and period with numerator, denominator, value, n_areas, n_expected and flag
    ("incomplete" when some member areas are missing, "rate_only" when aggregated from rates).
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
    grouped["flag"] = flags
    return grouped.drop(columns=["_wv", "_w", "_counts"])


def site_members(site_areas: pd.DataFrame) -> pd.DataFrame:
    """Site membership as a ``group, area_code`` frame: every LA of the site, whole or part."""
    return site_areas.rename(columns={"site_id": "group"})[["group", "area_code"]]


def aggregate_sites(observations: pd.DataFrame, site_areas: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    out = aggregate(observations, site_members(site_areas), catalogue.set_index("indicator_id")["multiplier"])
    return out.rename(columns={"group": "site_id"})
