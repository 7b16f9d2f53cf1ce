"""Pooled effect across Pioneers: group-time ATTs with never-treated comparators.

Two start dates (the waves) make plain two-way fixed effects biased (Goodman-Bacon): already
treated sites act as controls for later ones. Instead, following Callaway and Sant'Anna (2021),
each cohort (wave) is compared only with never-treated units (the non-Pioneer comparator pool),
period by period, against the cohort's own last pre-transition period (a "universal" base):

    ATT(g, t) = mean_{i in g}(Y_it - Y_ib) - mean_{i in never}(Y_it - Y_ib),   b = base of g

without covariates (unconditional parallel trends). These are aggregated by event time
(t minus the cohort's first post period), by cohort (mean over its post periods) and overall
(the "simple" aggregate: post cells weighted by cohort size).

Intervals: analytic influence functions, as in Callaway and Sant'Anna: for one cell
``psi_i = 1{g}(dY_i - mu_g)/p_g - 1{never}(dY_i - mu_never)/p_never`` and ``se = sqrt(sum psi^2)/N``;
aggregates combine cell influence functions with their weights, plus the term for estimating
the cohort-size weights. Normal intervals. Tested against the ``differences`` package.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from indicators.did import POST, PRE

P_METHOD = "influence-function normal (Callaway-Sant'Anna, never-treated)"
GROUP_TIME_COLUMNS = ["cohort", "period_start", "event_time", "phase", "att", "se", "ci_low", "ci_high",
                      "n_treated", "n_control", "treated_mean"]
EVENT_TIME_COLUMNS = ["event_time", "att", "se", "ci_low", "ci_high", "n_cohorts"]


@dataclass
class PooledResult:
    group_time: pd.DataFrame  # cohort, period_start, event_time, phase, att, se, ci_low, ci_high, ...
    event_time: pd.DataFrame  # event_time, att, se, ci_low, ci_high, n_cohorts
    summary: pd.DataFrame  # one row per aggregate: all and each cohort


def _influence(dy: np.ndarray, treated: np.ndarray, control: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ATT of each cell (column of ``dy``, units x periods) and each unit's influence on it.

    Units missing at t or at the base have no influence on that cell. Returns (att (T,),
    psi (units, T), treated share p_g (T,)).
    """
    ok = np.isfinite(dy)
    n = dy.shape[0]
    t_ok, c_ok = treated[:, None] & ok, control[:, None] & ok
    n_t, n_c = t_ok.sum(0), c_ok.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_t = np.where(t_ok, dy, 0).sum(0) / n_t
        mu_c = np.where(c_ok, dy, 0).sum(0) / n_c
        psi = (np.where(t_ok, dy - mu_t, 0) / (n_t / n)) - (np.where(c_ok, dy - mu_c, 0) / (n_c / n))
    att = np.where((n_t > 0) & (n_c > 0), mu_t - mu_c, np.nan)
    psi = np.where(np.isfinite(att)[None], np.nan_to_num(psi), 0.0)
    return att, psi, n_t / n


def _aggregate(atts: np.ndarray, psis: np.ndarray, shares: np.ndarray, memberships: np.ndarray,
               estimate_weights: bool) -> tuple[float, float]:
    """Weighted aggregate of cells and its standard error.

    ``shares`` are cohort shares p_g per cell, ``memberships`` (cells, units) the indicator of the
    cell's cohort; weights are p_g / sum p_g. With ``estimate_weights`` the extra influence of
    estimating p_g is added (Callaway and Sant'Anna's ``wif``).
    """
    n = psis.shape[1]
    total = shares.sum()
    w = shares / total
    theta = float(w @ atts)
    psi = w @ psis
    if estimate_weights:
        dev = memberships - shares[:, None]
        wif = dev / total - np.outer(shares, dev.sum(axis=0)) / total ** 2
        psi = psi + atts @ wif
    return theta, float(np.sqrt((psi ** 2).sum()) / n)


def pooled_att(values: pd.DataFrame, cohort_of: pd.Series, phases: dict[str, np.ndarray],
               alpha: float = 0.05) -> PooledResult:
    """Group-time ATTs and their aggregates.

    ``values``: units x periods (a site's aggregate series or a pool LA's series per row);
    ``cohort_of``: unit -> cohort name, missing for never-treated units; ``phases``: cohort ->
    the pre/transition/post label of each period (see indicators.did.treatment_phase).
    """
    periods = values.columns
    y = values.to_numpy(dtype=float)
    cohort = cohort_of.reindex(values.index)
    control = cohort.isna().to_numpy()
    z = stats.norm.ppf(1 - alpha / 2)
    rows, cells = [], []
    for name in sorted(phases):
        phase = np.asarray(phases[name])
        treated = (cohort == name).to_numpy()
        pre = np.nonzero(phase == PRE)[0]
        post_idx = np.nonzero(phase == POST)[0]
        if not treated.any() or not len(pre) or not len(post_idx):
            continue
        base, first_post = pre[-1], post_idx[0]
        dy = y - y[:, [base]]
        att, psi, share = _influence(dy, treated, control)
        se = np.sqrt((psi ** 2).sum(0)) / len(psi)
        ok = np.isfinite(dy)
        seen = treated[:, None] & np.isfinite(y)
        with np.errstate(invalid="ignore", divide="ignore"):
            treated_mean = np.where(seen, y, 0).sum(0) / seen.sum(0)
        member = treated.astype(float)
        for t in range(len(periods)):
            if t == base:
                continue
            rows.append({"cohort": name, "period_start": periods[t], "event_time": int(t - first_post),
                         "phase": phase[t], "att": att[t], "se": se[t], "ci_low": att[t] - z * se[t],
                         "ci_high": att[t] + z * se[t], "n_treated": int((treated & ok[:, t]).sum()),
                         "n_control": int((control & ok[:, t]).sum()), "treated_mean": treated_mean[t]})
            cells.append((name, t - first_post, phase[t] == POST, att[t], psi[:, t], share[t], member))
    # No cohort with both pre and post periods (e.g. data only after the start): empty, same columns.
    group_time = pd.DataFrame(rows, columns=GROUP_TIME_COLUMNS)
    if cells:
        c_name = np.array([c[0] for c in cells], dtype=object)
        c_event = np.array([c[1] for c in cells])
        c_post = np.array([c[2] for c in cells])
        c_att = np.array([c[3] for c in cells])
        c_psi = np.vstack([c[4] for c in cells])
        c_share = np.array([c[5] for c in cells])
        c_member = np.vstack([c[6] for c in cells])
    else:
        c_name = c_event = c_post = c_att = c_share = np.array([])
        c_psi = c_member = np.zeros((0, len(values)))

    def agg(chosen: np.ndarray, estimate_weights: bool) -> tuple[float, float, float]:
        chosen = chosen & np.isfinite(c_att)
        if not chosen.any():
            return float("nan"), float("nan"), float("nan")
        theta, se = _aggregate(c_att[chosen], c_psi[chosen], c_share[chosen], c_member[chosen], estimate_weights)
        return theta, se, float(c_share[chosen].sum())

    events = []
    for e in np.unique(c_event):
        theta, se, _ = agg(c_event == e, True)
        events.append({"event_time": int(e), "att": theta, "se": se, "ci_low": theta - z * se,
                       "ci_high": theta + z * se, "n_cohorts": int(((c_event == e) & np.isfinite(c_att)).sum())})
    summary_rows = []
    post_gt = group_time[group_time["phase"] == POST] if len(group_time) else group_time
    for label, chosen, est_w in [("all", c_post.astype(bool), True)] + [
            (name, c_post.astype(bool) & (c_name == name), False) for name in sorted(phases)]:
        theta, se, _ = agg(chosen, est_w)
        part = post_gt if label == "all" else post_gt[post_gt["cohort"] == label]
        if len(part):
            weight = part["n_treated"].to_numpy(dtype=float)
            treated_post = float(np.average(part["treated_mean"], weights=weight))
        else:
            treated_post = float("nan")
        counterfactual = treated_post - theta
        summary_rows.append({
            "aggregate": label, "att": theta, "se": se, "ci_low": theta - z * se, "ci_high": theta + z * se,
            "p_value": float(2 * stats.norm.sf(abs(theta / se))) if se and np.isfinite(se) and se > 0 else float("nan"),
            "effect_pct": theta / counterfactual * 100 if np.isfinite(counterfactual) and counterfactual else float("nan"),
            "n_treated": int((cohort.notna() if label == "all" else cohort == label).sum()),
            "n_control": int(control.sum()),
            "n_pre": 0,
            "n_post": int(part["period_start"].nunique()) if len(part) else 0,
        })
    summary = pd.DataFrame(summary_rows)
    for i, label in enumerate(summary["aggregate"]):
        names = sorted(phases) if label == "all" else [label]
        summary.loc[i, "n_pre"] = max(int((np.asarray(phases[n]) == PRE).sum()) for n in names)
    return PooledResult(group_time=group_time, event_time=pd.DataFrame(events, columns=EVENT_TIME_COLUMNS),
                        summary=summary)
