"""Synthetic control per site: a second estimator beside matched DiD.

Variant: the unit weights of synthetic difference-in-differences (Arkhangelsky et al. 2021,
"Synthetic Difference-in-Differences", AER), with uniform time weights. The weights ``w`` over
the donor pool are on the simplex (non-negative, summing to one) and are fitted on pre-period
outcomes only, by

    min_w  || (y_pre - mean(y_pre)) - (X_pre - mean(X_pre)) w ||^2  +  zeta^2 * T_pre * ||w||^2

Why this variant and not classic SCM (Abadie et al. 2010):
- the intercept (the demeaning, a unit fixed effect) lets the synthetic control sit at a
  different level from the site. A site aggregate can lie outside the convex hull of the pool
  (a large, deprived conurbation such as Greater Manchester), where classic SCM cannot fit the
  level at all; only the shape of the pre-period series has to be matched;
- the ridge term (SDID's ``zeta = (N_treated * T_post)^(1/4) * sd(first differences of the
  donors' pre-period outcomes)``) makes the weights unique and spreads them over donors that fit
  alike, so placebo refits are stable and one noisy LA does not carry the whole counterfactual.
Time weights are left uniform so the effect is the project's DiD contrast (post mean minus pre
mean of the site's gap to its synthetic control), comparable with indicators.did's rows; full
SDID would add a second optimisation per placebo for little gain on long, smooth pre-periods.
With ``zeta = 0`` this is the demeaned SCM of Doudchenko and Imbens (2016) / Ferman and Pinto
(2021); tests check that case against pysyncon and the penalised case by hand.

Effect: ``mean_post(gap) - mean_pre(gap)``, ``gap = site - synthetic``; ``effect_pct`` is the
effect as % of the synthetic post-period counterfactual (site post mean minus effect), the
convention of indicators.did.

Inference, placebo-in-space (Abadie, Diamond and Hainmueller 2010): every donor in turn is
treated as the site (excluded from its own donors) and refitted. p = (1 + #{placebo ratio >=
site ratio}) / (1 + n) with ratio = post-period RMSPE / pre-period RMSPE. The 95% interval is
``effect +/- c``, c from the placebo effects exactly as indicators.did.placebo_half_width (the
inverted placebo rank test of the effects). The two need not agree: p ranks the RMSPE ratio, the
interval the effect.

Pre-period fit is flagged poor when the site's pre-RMSPE is above the 90th percentile of the
placebos' pre-RMSPEs, or above 10% of the site's pre-period mean (``POOR_FIT_*``).

Speed: the placebos of one (indicator, dates) share the donors' Gram matrix, so all of them are
solved at once by accelerated projected gradient (FISTA with adaptive restart) on the simplex,
one matrix product per iteration for the whole batch.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from functools import cache
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from indicators.did import POST, PRE, placebo_half_width
from indicators.power import POWER, minimum_detectable_effect

P_METHOD = "placebo RMSPE rank"
POOR_FIT_PERCENTILE = 90
POOR_FIT_RELATIVE = 0.10
_TOL = 1e-8
_BIG = 1e30
_MAX_ITER = 20000


# --- the solver: many simplex-constrained least squares at once ------------------------------------------

def project_simplex(v: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Euclidean projection of each row of ``v`` onto the simplex over its ``allowed`` entries
    (the others are set to 0). Sort-based (Held, Wolfe and Crowder 1974; Duchi et al. 2008)."""
    v = np.asarray(v, dtype=float)
    if allowed is not None:  # a disallowed entry sorts last and never enters the support
        v = np.where(allowed, v, -_BIG)
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1)
    ranks = np.arange(1, v.shape[1] + 1)
    support = (u - (css - 1.0) / ranks > 0).sum(axis=1)  # the condition holds on a prefix
    theta = (np.take_along_axis(css, (support - 1)[:, None], axis=1)[:, 0] - 1.0) / support
    return np.maximum(v - theta[:, None], 0.0)


@cache  # a constant of the process (the loaded BLAS libraries), not of any data
def _blas() -> ThreadpoolController:
    """Found once per process (inspecting the loaded libraries takes milliseconds)."""
    return ThreadpoolController()


def simplex_least_squares(gram: np.ndarray, target: np.ndarray, allowed: np.ndarray, ridge: float | np.ndarray,
                          tol: float = _TOL, max_iter: int = _MAX_ITER, top: float | np.ndarray | None = None
                          ) -> np.ndarray:
    """Minimise ``w'Gw - 2 b'w + ridge * |w|^2`` over the simplex on ``allowed``, for every row.

    ``gram`` (J, J) shared or (B, J, J) per problem; ``target`` b (B, J); ``allowed`` (B, J);
    ``ridge`` scalar or (B,); ``top``: the largest eigenvalue of ``gram`` if known (scalar or (B,)).
    Returns w (B, J). FISTA with gradient-based restart (O'Donoghue and
    Candes 2015); stops when no weight moved by more than ``tol`` in an iteration.
    """
    gram = np.asarray(gram, dtype=float)
    target = np.asarray(target, dtype=float)
    n, j = target.shape
    ridge = np.broadcast_to(np.asarray(ridge, dtype=float), (n,))
    shared = gram.ndim == 2
    if top is None:
        top = np.linalg.eigvalsh(gram)[-1] if shared else np.linalg.eigvalsh(gram)[:, -1]
    step = (1.0 / (2.0 * (np.maximum(top, 0.0) + ridge) + 1e-300))[:, None]
    counts = allowed.sum(axis=1, keepdims=True)
    w = np.where(allowed, 1.0 / np.maximum(counts, 1), 0.0)
    z, t = w.copy(), np.ones((n, 1))
    # Small matrices: BLAS threads only add overhead, and on a shared 2-core machine they make
    # each product ten times slower; one thread for the loop.
    with _blas().limit(limits=1, user_api="blas"):
        for it in range(max_iter):
            gz = z @ gram if shared else np.einsum("bj,bjk->bk", z, gram)
            w_new = project_simplex(z - step * 2.0 * (gz - target + ridge[:, None] * z), allowed)
            delta = w_new - w
            restart = ((z - w_new) * delta).sum(axis=1, keepdims=True) > 0
            t_new = np.where(restart, 1.0, (1 + np.sqrt(1 + 4 * t * t)) / 2)
            z = w_new + np.where(restart, 0.0, (t - 1) / t_new) * delta
            w, t = w_new, t_new
            if it % 10 == 9 and np.abs(delta).max() <= tol:
                break
    return w


# --- the estimator ---------------------------------------------------------------------------------------

@dataclass
class Fit:
    """Weights and gap summaries, one row per treated unit of a batch."""

    weights: np.ndarray  # (B, J)
    intercept: np.ndarray  # (B,): mean pre-period gap, added to the synthetic series
    effect: np.ndarray
    pre_rmspe: np.ndarray
    post_rmspe: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.post_rmspe / self.pre_rmspe


def penalty_zeta(donors: np.ndarray, phase: np.ndarray) -> float:
    """SDID's regularisation scale for one treated unit: (T_post)^(1/4) * sd of the donors' first
    differences over the pre-period."""
    pre = np.asarray(phase) == PRE
    diffs = np.diff(np.asarray(donors, dtype=float)[:, pre], axis=1)
    diffs = diffs[np.isfinite(diffs)]
    sd = float(np.std(diffs, ddof=1)) if diffs.size > 1 else 0.0
    return float((np.asarray(phase) == POST).sum()) ** 0.25 * sd


def fit_units(treated: np.ndarray, donors: np.ndarray, phase: np.ndarray, *, zeta: float,
              allowed: np.ndarray | None = None) -> Fit:
    """Fit each row of ``treated`` (B, T; NaN where unobserved) on ``donors`` (J, T; complete on
    the pre and post periods), with ``allowed`` (B, J) donors per row. Periods of ``phase`` other
    than pre and post are ignored."""
    treated = np.atleast_2d(np.asarray(treated, dtype=float))
    donors = np.asarray(donors, dtype=float)
    phase = np.asarray(phase)
    pre, post = phase == PRE, phase == POST
    n, j = len(treated), len(donors)
    allowed = np.ones((n, j), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    seen = np.isfinite(treated)
    pre_seen = seen & pre[None, :]
    n_pre = pre_seen.sum(axis=1)
    x = donors[:, pre].T  # (T_pre, J)
    m = pre_seen[:, pre].astype(float)  # (B, T_pre)
    y = np.where(pre_seen, treated, 0.0)[:, pre]
    # The largest eigenvalue of a J x J Gram matrix is that of the small T_pre x T_pre one.
    with _blas().limit(limits=1, user_api="blas"):
        if (m == 1).all():
            xc = x - x.mean(axis=0)
            gram = xc.T @ xc
            target = (y - y.mean(axis=1, keepdims=True)) @ xc
            top = np.linalg.eigvalsh(xc @ xc.T)[-1]
        else:  # sites with gaps: each its own demeaning over the periods it is observed in
            cnt = np.maximum(n_pre, 1)[:, None]
            mu_x = (m @ x) / cnt  # (B, J)
            mu_y = (m * y).sum(axis=1, keepdims=True) / cnt
            xc = m[:, :, None] * (x[None] - mu_x[:, None, :])  # (B, T_pre, J), zero where unobserved
            gram = np.einsum("btj,btk->bjk", xc, xc)
            target = (m * (y - mu_y)) @ x
            top = np.linalg.eigvalsh(np.einsum("btj,bsj->bts", xc, xc))[:, -1]
    weights = simplex_least_squares(gram, target, allowed, zeta ** 2 * n_pre, top=top)
    return _summaries(treated, donors, phase, weights)


def _summaries(treated: np.ndarray, donors: np.ndarray, phase: np.ndarray, weights: np.ndarray) -> Fit:
    pre, post = phase == PRE, phase == POST
    synthetic = weights @ np.where(np.isfinite(donors), donors, 0.0)
    gap = treated - synthetic
    pre_gap = np.where(pre[None, :] & np.isfinite(gap), gap, np.nan)
    post_gap = np.where(post[None, :] & np.isfinite(gap), gap, np.nan)
    with np.errstate(invalid="ignore"), _quiet():
        intercept = np.nanmean(pre_gap, axis=1)
        pre_rmspe = np.sqrt(np.nanmean((pre_gap - intercept[:, None]) ** 2, axis=1))
        post_rmspe = np.sqrt(np.nanmean((post_gap - intercept[:, None]) ** 2, axis=1))
        effect = np.nanmean(post_gap, axis=1) - intercept
    return Fit(weights=weights, intercept=intercept, effect=effect, pre_rmspe=pre_rmspe, post_rmspe=post_rmspe)


@contextmanager
def _quiet():
    """nanmean warns on an all-missing row; such rows are meant to give NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield


def placebo_fits(donors: np.ndarray, phase: np.ndarray, zeta: float) -> Fit:
    """Every donor as the treated unit, fitted on the other donors: one batch for all of them."""
    j = len(donors)
    return fit_units(donors, donors, phase, zeta=zeta, allowed=~np.eye(j, dtype=bool))


def rank_p_values(ratio: np.ndarray, placebo_ratio: np.ndarray) -> np.ndarray:
    """(1 + #{placebo ratio >= site ratio}) / (1 + n), per site (Abadie et al. 2010)."""
    pr = np.asarray(placebo_ratio, dtype=float)
    pr = np.sort(pr[np.isfinite(pr)])
    ratio = np.asarray(ratio, dtype=float)
    at_least = len(pr) - np.searchsorted(pr, ratio, side="left")
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(ratio) & (len(pr) > 0), (1 + at_least) / (1 + len(pr)), np.nan)


def poor_fit(pre_rmspe: np.ndarray, pre_mean: np.ndarray, placebo_pre_rmspe: np.ndarray) -> np.ndarray:
    """The stated rule: pre-RMSPE above the placebos' 90th percentile, or above 10% of the pre mean."""
    ref = placebo_pre_rmspe[np.isfinite(placebo_pre_rmspe)]
    cut = np.percentile(ref, POOR_FIT_PERCENTILE) if len(ref) else np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = pre_rmspe / np.abs(pre_mean)
    return (pre_rmspe > cut) | (relative > POOR_FIT_RELATIVE)


def fit_words(pre_rmspe: float, pre_mean: float, poor: bool) -> str:
    """The pre-period fit in words, for the page and the table's note."""
    if not np.isfinite(pre_rmspe):
        return ""
    rel = pre_rmspe / abs(pre_mean) * 100 if pre_mean else float("nan")
    size = f"{rel:.1f}% of the site's pre-period mean" if np.isfinite(rel) else f"{pre_rmspe:.3g}"
    if poor:
        return (f"poor pre-period fit: the synthetic control misses the site by {size} on average before the "
                f"start (worse than 9 in 10 placebo fits, or over {POOR_FIT_RELATIVE:.0%}); treat the estimate "
                "with caution")
    return f"good pre-period fit: the synthetic control tracks the site within {size} before the start"


def site_scm_batch(y_sites: np.ndarray, donors: np.ndarray, phase: np.ndarray, alpha: float = 0.05,
                   power: float = POWER) -> dict[str, np.ndarray]:
    """SCM for several sites sharing dates against one donor matrix, with the shared placebos.

    Returns arrays: effect, effect_pct, ci_low, ci_high, p_value, pre_rmspe, poor_fit, n_donors
    (weight > 0.001), n_pre, n_post, baseline_mean, weights (S, J), intercept, n_placebo,
    counterfactual (the synthetic post-period mean ``effect_pct`` is a % of) and mde (the minimum
    detectable effect at ``power`` from the placebo effects, indicators.power; one for all sites).
    """
    phase = np.asarray(phase)
    y_sites = np.atleast_2d(np.asarray(y_sites, dtype=float))
    donors = np.asarray(donors, dtype=float)
    n = len(y_sites)
    pre, post = phase == PRE, phase == POST
    observed = np.isfinite(y_sites)
    n_pre, n_post = (observed & pre).sum(1), (observed & post).sum(1)
    with np.errstate(invalid="ignore"), _quiet():
        baseline = np.nanmean(np.where(pre, y_sites, np.nan), axis=1)
        post_mean = np.nanmean(np.where(post, y_sites, np.nan), axis=1)
    empty = {"effect": np.full(n, np.nan), "effect_pct": np.full(n, np.nan), "ci_low": np.full(n, np.nan),
             "ci_high": np.full(n, np.nan), "p_value": np.full(n, np.nan), "pre_rmspe": np.full(n, np.nan),
             "poor_fit": np.zeros(n, dtype=bool), "n_donors": np.zeros(n, dtype=int), "n_pre": n_pre,
             "n_post": n_post, "baseline_mean": baseline, "weights": np.zeros((n, len(donors))),
             "intercept": np.full(n, np.nan), "n_placebo": np.zeros(n, dtype=int),
             "counterfactual": np.full(n, np.nan), "mde": np.full(n, np.nan)}
    if len(donors) < 2 or not pre.any() or not post.any():
        return empty
    zeta = penalty_zeta(donors, phase)
    ok = (n_pre >= 2) & (n_post >= 1)
    out = empty
    if not ok.any():
        return out
    fit = fit_units(y_sites[ok], donors, phase, zeta=zeta)
    placebo = placebo_fits(donors, phase, zeta)
    effect = np.full(n, np.nan)
    effect[ok] = fit.effect
    pre_rmspe = np.full(n, np.nan)
    pre_rmspe[ok] = fit.pre_rmspe
    ratio = np.full(n, np.nan)
    ratio[ok] = fit.ratio
    weights = out["weights"]
    weights[ok] = fit.weights
    intercept = np.full(n, np.nan)
    intercept[ok] = fit.intercept
    p_eff = placebo.effect[np.isfinite(placebo.effect)]
    half = placebo_half_width(p_eff, alpha) if len(p_eff) else np.nan
    counterfactual = post_mean - effect
    with np.errstate(invalid="ignore", divide="ignore"):
        effect_pct = np.where(np.isfinite(counterfactual) & (counterfactual != 0), effect / counterfactual * 100,
                              np.nan)
    poor = poor_fit(pre_rmspe, baseline, placebo.pre_rmspe) & ok
    out.update(effect=effect, effect_pct=effect_pct, ci_low=effect - half, ci_high=effect + half,
               p_value=rank_p_values(ratio, placebo.ratio), pre_rmspe=pre_rmspe, poor_fit=poor,
               n_donors=(weights > 0.001).sum(axis=1), weights=weights, intercept=intercept,
               n_placebo=np.full(n, len(p_eff)), counterfactual=counterfactual,
               mde=np.where(ok, minimum_detectable_effect(p_eff, alpha, power) if len(p_eff) >= 2 else np.nan,
                            np.nan))
    return out


def synthetic_series(weights: np.ndarray, intercept: float, donors: np.ndarray) -> np.ndarray:
    """The site's synthetic control over all periods (level-shifted by the pre-period intercept)."""
    return np.asarray(weights, dtype=float) @ np.asarray(donors, dtype=float) + intercept
