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
from scipy import special  # not scipy.stats: the same functions, and stats adds ~0.5-1 s to start-up

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
    cohort = cohort_of.reindex(values.index)
    return pooled_att_arrays(values.to_numpy(dtype=float), cohort.to_numpy(dtype=object),
                             cohort.isna().to_numpy(), values.columns, phases, alpha)


def pooled_att_arrays(y: np.ndarray, cohort: np.ndarray, control: np.ndarray, periods: pd.Index,
                      phases: dict[str, np.ndarray], alpha: float = 0.05) -> PooledResult:
    """``pooled_att`` on arrays: ``y`` (units, periods), ``cohort`` each unit's cohort name,
    ``control`` True for never-treated units."""
    z = special.ndtri(1 - alpha / 2)
    n_periods = len(periods)
    gt, cells = {c: [] for c in GROUP_TIME_COLUMNS}, {c: [] for c in ("name", "event", "post", "att", "psi", "share",
                                                                         "member")}
    for name in sorted(phases):
        phase = np.asarray(phases[name])
        treated = cohort == name
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
        ts = np.delete(np.arange(n_periods), base)
        event = ts - first_post
        for col, v in (("cohort", np.full(len(ts), name, dtype=object)), ("period_start", periods[ts]),
                       ("event_time", event), ("phase", phase[ts]), ("att", att[ts]), ("se", se[ts]),
                       ("ci_low", att[ts] - z * se[ts]), ("ci_high", att[ts] + z * se[ts]),
                       ("n_treated", (treated[:, None] & ok).sum(0)[ts]),
                       ("n_control", (control[:, None] & ok).sum(0)[ts]), ("treated_mean", treated_mean[ts])):
            gt[col].append(v)
        for col, v in (("name", np.full(len(ts), name, dtype=object)), ("event", event),
                       ("post", phase[ts] == POST), ("att", att[ts]), ("psi", psi[:, ts].T), ("share", share[ts]),
                       ("member", np.tile(treated.astype(float), (len(ts), 1)))):
            cells[col].append(v)
    # No cohort with both pre and post periods (e.g. data only after the start): empty, same columns.
    if gt["cohort"]:
        group_time = pd.DataFrame({c: np.concatenate([np.asarray(part) for part in v]) for c, v in gt.items()},
                                  columns=GROUP_TIME_COLUMNS)
        for col in ("event_time", "n_treated", "n_control"):
            group_time[col] = group_time[col].astype("int64")
        c_name, c_event, c_post, c_att, c_psi, c_share, c_member = (
            np.concatenate(cells[c]) if c not in ("psi", "member") else np.vstack(cells[c])
            for c in ("name", "event", "post", "att", "psi", "share", "member"))
    else:
        group_time = pd.DataFrame([], columns=GROUP_TIME_COLUMNS)
        c_name = c_event = c_post = c_att = c_share = np.array([])
        c_psi = c_member = np.zeros((0, len(y)))

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
    c_post = c_post.astype(bool)
    gt_treated = group_time["n_treated"].to_numpy(dtype=float)
    gt_mean = group_time["treated_mean"].to_numpy(dtype=float)
    gt_cohort = group_time["cohort"].to_numpy(dtype=object)
    gt_period = group_time["period_start"].to_numpy()
    for label, chosen, est_w in [("all", c_post, True)] + [
            (name, c_post & (c_name == name), False) for name in sorted(phases)]:
        theta, se, _ = agg(chosen, est_w)
        part = c_post & (True if label == "all" else gt_cohort == label) if len(group_time) else np.zeros(0, bool)
        treated_post = float(np.average(gt_mean[part], weights=gt_treated[part])) if part.any() else float("nan")
        counterfactual = treated_post - theta
        summary_rows.append({
            "aggregate": label, "att": theta, "se": se, "ci_low": theta - z * se, "ci_high": theta + z * se,
            "p_value": float(2 * special.ndtr(-abs(theta / se))) if se and np.isfinite(se) and se > 0 else float("nan"),
            "effect_pct": theta / counterfactual * 100 if np.isfinite(counterfactual) and counterfactual else float("nan"),
            "n_treated": int((~control if label == "all" else cohort == label).sum()),
            "n_control": int(control.sum()),
            "n_pre": max(int((np.asarray(phases[n]) == PRE).sum()) for n in (sorted(phases) if label == "all"
                                                                              else [label])),
            "n_post": int(len(np.unique(gt_period[part]))),
        })
    return PooledResult(group_time=group_time, event_time=pd.DataFrame(events, columns=EVENT_TIME_COLUMNS),
                        summary=pd.DataFrame(summary_rows))
