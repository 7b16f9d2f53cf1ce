"""Aggregating areas into sites, comparator groups and England.

A rate cannot be averaged: a group's value is the sum of its areas' numerators over the sum of
their denominators. Sources that give only a rate (a DSR, a score) are aggregated weighted by
denominator (or population) and flagged "rate_only" so the UI can say so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["indicator_id", "period_start", "frequency"]


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
    has_counts = obs["numerator"].notna() & obs["denominator"].notna() & (obs["denominator"] > 0)
    weight = obs["denominator"].where(obs["denominator"].notna(), 1.0)
    obs = obs.assign(
        _num=obs["numerator"].where(has_counts, 0.0),
        _den=obs["denominator"].where(has_counts, 0.0),
        _wv=(obs["value"] * weight).where(~has_counts, 0.0),
        _w=weight.where(~has_counts, 0.0),
        _counts=has_counts.astype(int),
        _rates=(~has_counts).astype(int),
    )
    grouped = obs.groupby(["group", *KEYS], observed=True, sort=True).agg(
        numerator=("_num", "sum"), denominator=("_den", "sum"), _wv=("_wv", "sum"), _w=("_w", "sum"),
        _counts=("_counts", "sum"), n_areas=("area_code", "nunique"),
    ).reset_index()
    mult = grouped["indicator_id"].map(multipliers).astype(float)
    rate_only = grouped["_counts"] == 0
    grouped["value"] = np.where(rate_only, grouped["_wv"] / grouped["_w"].replace(0, np.nan),
                                grouped["numerator"] / grouped["denominator"].replace(0, np.nan) * mult)
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
