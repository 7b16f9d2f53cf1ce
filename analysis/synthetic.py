"""Synthetic control for the estimates table and a site's SCM detail (indicators.scm does the fitting).

The treated unit is the site's aggregate series on the dataset's geography (its LAs, or its CCG
units on ``geography="ccg"``); the donors are the comparator pool (matching.covariates.
comparator_pool: non-Pioneer units less exclusions) with complete data over the pre and post
periods used. The periods used are the site's pre and post periods in which at least half the
pool is observed, so one period missing for most units does not empty the pool. Placebo fits
depend only on the indicator and the dates, so the table fits them once for every site sharing
dates (waves 1 and 2), and the site detail repeats exactly the same route for one site.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from data.errors import DataError
from data.panels import IndicatorPanel, indicator_panels
from data.store import Dataset
from indicators import scm
from indicators.power import POWER, mde_pct
from indicators.did import POST, PRE, TRANSITION, treatment_phase
from matching.covariates import comparator_pool

ALPHA = 0.05
WEIGHT_SHOWN = 0.001
"""Donors with a weight above this count in ``n_comparators`` and appear in the weights list."""


def donor_design(d: IndicatorPanel, pool: list[str], phase: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Donor codes, their values (donors x periods) and the phase with unused periods set to transition."""
    phase = np.asarray(phase, dtype=object)
    rows = d.area_frame.index.get_indexer(pool)
    rows = np.sort(rows[rows >= 0])
    values = d.area_frame.to_numpy()[rows]
    used = (phase == PRE) | (phase == POST)
    if len(rows):
        used &= np.isfinite(values).mean(axis=0) >= 0.5
    phase_used = np.where(used, phase, TRANSITION)
    complete = np.isfinite(values[:, used]).all(axis=1)
    codes = d.area_frame.index[rows][complete].tolist()
    return codes, values[complete], phase_used


def scm_group(d: IndicatorPanel, pool: list[str], site_ids: list[str], phase: np.ndarray,
              alpha: float = ALPHA, power: float = POWER) -> dict:
    """SCM for the sites of one (indicator, dates): indicators.scm.site_scm_batch's arrays plus
    ``donor_codes``, ``donors`` (values) and ``phase`` (the periods used)."""
    codes, donors, phase_used = donor_design(d, pool, phase)
    y_sites = d.site_frame.loc[site_ids].to_numpy(dtype=float)
    y_used = np.where(phase_used == TRANSITION, np.nan, y_sites)
    out = scm.site_scm_batch(y_used, donors, phase_used, alpha, power)
    out.update(donor_codes=codes, donors=donors, phase=phase_used)
    return out


def scm_block(ind: str, fit: dict, site_ids: list[str], notes: list[str]) -> dict:
    """Rows for the estimates table (``method="scm"``) from ``scm_group``'s result.

    ``notes``: the table's plain-words reason for each site without an estimate, or its basis
    note; a poor pre-period fit is added in words."""
    n = len(site_ids)
    notes = [_scm_note(note, fit, i) for i, note in enumerate(notes)]
    return {"site_id": list(site_ids), "indicator_id": [ind] * n, "method": ["scm"] * n,
            "effect": fit["effect"], "effect_pct": fit["effect_pct"], "ci_low": fit["ci_low"],
            "ci_high": fit["ci_high"], "p_value": fit["p_value"], "p_method": [scm.P_METHOD] * n,
            "pre_trend_p": np.full(n, np.nan), "n_comparators": fit["n_donors"], "n_pre": fit["n_pre"],
            "n_post": fit["n_post"], "baseline_mean": fit["baseline_mean"], "pre_rmspe": fit["pre_rmspe"],
            "mde_pct": mde_pct(fit["mde"], fit["counterfactual"]),
            "pre_fit": [("poor" if p else "good") if np.isfinite(e) else ""
                        for p, e in zip(fit["poor_fit"], fit["effect"])],
            "note": notes}


def _scm_note(note: str, fit: dict, i: int) -> str:
    if not np.isfinite(fit["effect"][i]):
        if len(fit["donor_codes"]) < 2:
            return "no synthetic control: fewer than two pool units have complete data for this indicator"
        if note and not note.startswith("effect not identified") and not note.startswith("no comparator"):
            return note
        return "no synthetic control: fewer than two periods before or none after the start with data"
    if fit["poor_fit"][i]:
        words = scm.fit_words(fit["pre_rmspe"][i], fit["baseline_mean"][i], True)
        return "; ".join(part for part in (note, words) if part)
    return note


def scm_site(dataset: Dataset, site_id: str, indicator_id: str, geography: str | None = None,
             alpha: float = ALPHA) -> dict[str, pd.DataFrame]:
    """Frames behind a site's synthetic-control view (and the sensitivity view's SCM variant).

    ``summary``: one row (effect, effect_pct, ci_low, ci_high, p_value, p_method, pre_rmspe,
    pre_rmspe_pct (of the site's pre mean), pre_fit "good"|"poor", fit_words, n_donors,
    n_placebo, baseline_mean); ``series``: period_start, phase, site, synthetic (the pre-period
    fit and the post-period counterfactual; NaN in periods not used); ``weights``: area_code,
    weight, for donors above ``WEIGHT_SHOWN``, largest first. The same route as the table's rows.
    """
    if geography is not None:
        dataset = dataset.on(geography)
    sites = dataset.sites.set_index("site_id")
    if site_id not in sites.index:
        raise DataError(f"unknown site {site_id!r}", column="site_id")
    data = indicator_panels(dataset)
    if indicator_id not in data:
        raise DataError(f"no observations for indicator {indicator_id!r}", column="indicator_id")
    d = data[indicator_id]
    if site_id not in d.site_frame.index:
        raise DataError(f"no observations for site {site_id!r} on indicator {indicator_id!r}", column="site_id")
    site = sites.loc[site_id]
    phase = treatment_phase(d.area_frame.columns, d.frequency, site["start"], site["transition_start"],
                            site["transition_end"])
    fit = scm_group(d, comparator_pool(dataset), [site_id], phase, alpha)
    weights = fit["weights"][0]
    effect, pre_mean = float(fit["effect"][0]), float(fit["baseline_mean"][0])
    has = np.isfinite(effect)
    synthetic = (scm.synthetic_series(weights, fit["intercept"][0], fit["donors"]) if has
                 else np.full(len(phase), np.nan))
    synthetic = np.where(fit["phase"] == TRANSITION, np.nan, synthetic)
    pre_rmspe = float(fit["pre_rmspe"][0])
    poor = bool(fit["poor_fit"][0])
    summary = pd.DataFrame([{
        "effect": effect, "effect_pct": float(fit["effect_pct"][0]), "ci_low": float(fit["ci_low"][0]),
        "ci_high": float(fit["ci_high"][0]), "p_value": float(fit["p_value"][0]), "p_method": scm.P_METHOD,
        "pre_rmspe": pre_rmspe,
        "pre_rmspe_pct": pre_rmspe / abs(pre_mean) * 100 if has and pre_mean else float("nan"),
        "pre_fit": ("poor" if poor else "good") if has else "",
        "fit_words": scm.fit_words(pre_rmspe, pre_mean, poor) if has else _scm_note("", fit, 0),
        "n_donors": int(fit["n_donors"][0]), "n_placebo": int(fit["n_placebo"][0]), "baseline_mean": pre_mean,
        "counterfactual_mean": float(fit["counterfactual"][0]),
        "mde_pct": float(mde_pct(fit["mde"][0], fit["counterfactual"][0])),
    }])
    series = pd.DataFrame({"period_start": d.area_frame.columns, "phase": treatment_phase(
        d.area_frame.columns, d.frequency, site["start"], site["transition_start"], site["transition_end"]),
        "site": d.site_frame.loc[site_id].to_numpy(dtype=float), "synthetic": synthetic})
    shown = weights > WEIGHT_SHOWN
    table = pd.DataFrame({"area_code": np.asarray(fit["donor_codes"], dtype=object)[shown] if shown.any() else [],
                          "weight": weights[shown]})
    table = table.sort_values(["weight", "area_code"], ascending=[False, True]).reset_index(drop=True)
    return {"summary": summary, "series": series, "weights": table}
