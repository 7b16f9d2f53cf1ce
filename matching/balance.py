"""Covariate balance: does a comparator set look like its site?

Standardised mean difference (SMD) of each covariate, before matching (site vs the whole
candidate pool) and after (site vs its comparators). A single site has no spread of its own, so
both divide by the SD across the candidate pool (ddof 1). |SMD| < 0.1 is marked "good",
< 0.25 "acceptable", otherwise "poor" (thresholds are a parameter).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

THRESHOLDS = (0.1, 0.25)
RATINGS = ("good", "acceptable", "poor")


def rate_smd(smd: np.ndarray | pd.Series, thresholds: tuple[float, float] = THRESHOLDS) -> np.ndarray:
    """'good' / 'acceptable' / 'poor' for each |SMD|; '' where it cannot be computed."""
    a = np.abs(np.asarray(smd, dtype=float))
    return np.select([np.isnan(a), a < thresholds[0], a < thresholds[1]], ["", *RATINGS[:2]], RATINGS[2])


def balance_frame(unit_column: str, sites: np.ndarray, columns: list[str], site_X: np.ndarray,
                  comparator_mean: np.ndarray, n_comparators: np.ndarray, pool_X: np.ndarray,
                  thresholds: tuple[float, float] = THRESHOLDS) -> pd.DataFrame:
    """Array core of ``balance_table``: rows of site_X / comparator_mean are sites, columns covariates;
    pool_X is the candidate pool the matching used (complete rows)."""
    n_s, n_c = site_X.shape
    pool_mean = pool_X.mean(axis=0)
    pool_sd = pool_X.std(axis=0, ddof=1) if len(pool_X) > 1 else np.full(n_c, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        smd_before = ((site_X - pool_mean) / pool_sd).ravel()
        smd_after = ((site_X - comparator_mean) / pool_sd).ravel()
    return pd.DataFrame({
        unit_column: np.repeat(sites, n_c),
        "covariate": np.tile(np.asarray(columns, dtype=object), n_s),
        "site_value": site_X.ravel(),
        "comparator_mean": comparator_mean.ravel(),
        "n_comparators": np.repeat(n_comparators, n_c),
        "pool_mean": np.tile(pool_mean, n_s),
        "pool_sd": np.tile(pool_sd, n_s),
        "smd_before": smd_before,
        "smd_after": smd_after,
        "balance_before": rate_smd(smd_before, thresholds),
        "balance_after": rate_smd(smd_after, thresholds),
    })


def balance_table(site_covariates: pd.DataFrame, pool_covariates: pd.DataFrame, comparators: pd.DataFrame,
                  *, unit_column: str = "unit", thresholds: tuple[float, float] = THRESHOLDS) -> pd.DataFrame:
    """Balance of each site and covariate.

    ``site_covariates`` (indexed by unit) and ``pool_covariates`` (indexed by area_code, the
    whole candidate pool; rows with a missing covariate are left out, as matching leaves them
    out) share covariate columns; ``comparators`` has ``unit_column`` and comparator_code (as
    match_units returns). One row per site and covariate: unit_column, covariate, site_value,
    comparator_mean, n_comparators, pool_mean, pool_sd, smd_before, smd_after, balance_before,
    balance_after.
    """
    columns = list(site_covariates.columns)
    pool = pool_covariates[columns]
    pool = pool[pool.notna().all(axis=1)]
    comp = pool.reindex(comparators["comparator_code"].to_numpy())
    comp.index = comparators[unit_column].to_numpy()
    grouped = comp.groupby(level=0, sort=False)
    sites = site_covariates.index
    comparator_mean = grouped.mean().reindex(index=sites, columns=columns).to_numpy(dtype=float)
    n_comp = grouped.size().reindex(sites).fillna(0).to_numpy(dtype=int)
    return balance_frame(unit_column, sites.to_numpy(), columns, site_covariates.to_numpy(dtype=float),
                         comparator_mean, n_comp, pool.to_numpy(dtype=float), thresholds)


def balance_summary(balance: pd.DataFrame, unit_column: str = "site_id") -> pd.DataFrame:
    """Mean |SMD| before and after matching per site (and indicator, when present)."""
    keys = [unit_column] + (["indicator_id"] if "indicator_id" in balance.columns else [])
    b = balance.assign(abs_before=balance["smd_before"].abs(), abs_after=balance["smd_after"].abs())
    out = b.groupby(keys, dropna=False, sort=True).agg(
        mean_abs_smd_before=("abs_before", "mean"), mean_abs_smd_after=("abs_after", "mean"),
        n_covariates=("covariate", "size"),
        n_good_after=("balance_after", lambda r: int((r == "good").sum()))).reset_index()
    out["improved"] = out["mean_abs_smd_after"] < out["mean_abs_smd_before"]
    return out
