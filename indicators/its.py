"""Change in trend: segmented regression (interrupted time series) on one site's series.

``y_t = b0 + b1*time + level*post + slope*(time - t1)*post + season + e_t`` with ``time`` in
years, ``t1`` the time of the first post period (so ``level`` is the jump at the end of the
transition, against the pre-period trend carried forward) and season dummies by
quarter-of-year or month for sub-annual data. Transition periods are left out.

Standard errors are Newey-West (HAC, Bartlett kernel) with the statsmodels small-sample
correction n/(n-k). Lag choice [C]: ``maxlags = floor(4 * (n/100)^(2/9))``, the Newey-West (1994)
plug-in rule (3 for 36 quarters or 108 months, 2 for 8 years), overridable. The numpy
implementation here agrees with statsmodels OLS(cov_type="HAC") to 1e-8 (tested) and is ~20x
faster, which the full estimates table needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special  # not scipy.stats: the same functions, and stats adds ~0.5-1 s to start-up

from indicators.did import POST, PRE, TRANSITION

P_METHOD = "Newey-West (HAC) normal"


def newey_west_lags(n: int) -> int:
    """The Newey-West (1994) plug-in lag: floor(4 (n/100)^(2/9))."""
    return int(np.floor(4 * (n / 100) ** (2 / 9)))


def its_design(period_starts, frequency: str, phase: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Design matrix of the segmented regression for the kept (non-transition) periods.

    Returns (design with named columns, boolean mask of the kept periods).
    """
    columns, matrix, keep = its_design_arrays(period_starts, frequency, phase)
    return pd.DataFrame(matrix, index=pd.DatetimeIndex(pd.to_datetime(period_starts)), columns=columns), keep


def its_design_arrays(period_starts, frequency: str, phase: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``its_design`` as (column names, matrix, kept periods), in plain numpy for the batched table."""
    starts = np.asarray(pd.DatetimeIndex(period_starts).to_numpy(), dtype="datetime64[D]")
    phase = np.asarray(phase)
    keep = phase != TRANSITION
    post = phase == POST
    years = (starts - starts[0]).astype(float) / 365.25
    t1 = years[post][0] if post.any() else years[-1]
    names = ["const", "time", "level_change", "slope_change"]
    cols = [np.ones(len(starts)), years, post.astype(float), np.where(post, years - t1, 0.0)]
    if frequency in ("quarter", "month"):
        month = starts.astype("datetime64[M]").astype(int) % 12 + 1
        season = ((month - 4) % 12 // 3 + 1) if frequency == "quarter" else month
        levels = sorted(set(season[keep].tolist()))
        name = "q" if frequency == "quarter" else "m"
        for level in levels[1:]:
            names.append(f"{name}{level}")
            cols.append((season == level).astype(float))
    return names, np.column_stack(cols), keep


def ols_hac(y: np.ndarray, x: np.ndarray, maxlags: int, use_correction: bool = True
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS with Newey-West covariance, as statsmodels computes it. Returns (params, cov, resid)."""
    n, k = x.shape
    xtx_inv = np.linalg.pinv(x.T @ x)
    params = xtx_inv @ (x.T @ y)
    resid = y - x @ params
    scores = x * resid[:, None]
    meat = scores.T @ scores
    for lag in range(1, maxlags + 1):
        w = 1 - lag / (maxlags + 1)
        cross = scores[lag:].T @ scores[:-lag]
        meat += w * (cross + cross.T)
    cov = xtx_inv @ meat @ xtx_inv
    if use_correction:
        cov *= n / (n - k)
    return params, cov, resid


@dataclass
class ItsFit:
    """A site's change in trend on one indicator."""

    level_change: float
    level_ci: tuple[float, float]
    level_p: float
    slope_change: float  # per year
    slope_ci: tuple[float, float]
    slope_p: float
    effect: float  # mean post-period gap between fitted and counterfactual
    effect_se: float
    effect_pct: float
    ci_low: float
    ci_high: float
    p_value: float
    n_pre: int
    n_post: int
    maxlags: int
    baseline_mean: float
    series: pd.DataFrame  # period_start, phase, observed, fitted, counterfactual


def segmented_regression(series: pd.Series, frequency: str, phase: np.ndarray,
                         maxlags: int | None = None, alpha: float = 0.05) -> ItsFit:
    """Fit the segmented regression to a site's series (indexed by period start)."""
    design, keep = its_design(series.index, frequency, phase)
    phase = np.asarray(phase)
    y_all = series.to_numpy(dtype=float)
    use = keep & np.isfinite(y_all)
    x, y = design.to_numpy()[use], y_all[use]
    lags = newey_west_lags(len(y)) if maxlags is None else maxlags
    nan_fit = len(y) <= x.shape[1] or not (phase[use] == POST).any() or not (phase[use] == PRE).any()
    if nan_fit:
        params = np.full(x.shape[1], np.nan)
        cov = np.full((x.shape[1], x.shape[1]), np.nan)
    else:
        params, cov, _ = ols_hac(y, x, lags)
    cols = list(design.columns)
    z = special.ndtri(1 - alpha / 2)

    def coef(name: str, weights: np.ndarray | None = None) -> tuple[float, float, tuple[float, float], float]:
        c = np.zeros(len(cols))
        if weights is None:
            c[cols.index(name)] = 1.0
        else:
            c = weights
        est = float(c @ params)
        se = float(np.sqrt(c @ cov @ c))
        p = float(2 * special.ndtr(-abs(est / se))) if se > 0 else float("nan")
        return est, se, (est - z * se, est + z * se), p

    level, _, level_ci, level_p = coef("level_change")
    slope, _, slope_ci, slope_p = coef("slope_change")
    if not np.any(x[:, cols.index("slope_change")] != 0):
        # One period after the start: a change of slope is not identified (not "zero").
        slope, slope_ci, slope_p = float("nan"), (float("nan"), float("nan")), float("nan")
    post_rows = design.to_numpy()[phase == POST]
    mean_c = np.zeros(len(cols))
    if len(post_rows):
        mean_c[cols.index("level_change")] = 1.0
        mean_c[cols.index("slope_change")] = post_rows[:, cols.index("slope_change")].mean()
    effect, effect_se, (lo, hi), p = coef("", mean_c)
    full = design.to_numpy()
    fitted = full @ params
    cf_cols = full.copy()
    cf_cols[:, cols.index("level_change")] = 0.0
    cf_cols[:, cols.index("slope_change")] = 0.0
    counterfactual = cf_cols @ params
    post_cf = counterfactual[phase == POST]
    cf_mean = float(post_cf.mean()) if len(post_cf) else float("nan")
    pre_obs = (phase == PRE) & np.isfinite(y_all)
    table = pd.DataFrame({
        "period_start": series.index, "phase": phase, "observed": y_all,
        "fitted": np.where(keep, fitted, np.nan),
        "counterfactual": np.where(phase == POST, counterfactual, np.where(keep, fitted, np.nan)),
    })
    pct = effect / cf_mean * 100 if np.isfinite(cf_mean) and cf_mean != 0 else float("nan")
    return ItsFit(
        level_change=level, level_ci=level_ci, level_p=level_p,
        slope_change=slope, slope_ci=slope_ci, slope_p=slope_p,
        effect=effect, effect_se=effect_se, effect_pct=float(pct), ci_low=lo, ci_high=hi, p_value=p,
        n_pre=int(pre_obs.sum()), n_post=int(((phase == POST) & np.isfinite(y_all)).sum()),
        maxlags=lags, baseline_mean=float(y_all[pre_obs].mean()) if pre_obs.any() else float("nan"),
        series=table,
    )


def its_batch(y: np.ndarray, period_starts, frequency: str, phase: np.ndarray, maxlags: int | None = None,
              alpha: float = 0.05) -> dict[str, np.ndarray]:
    """The table's fast path: the same segmented regression for several sites sharing dates.

    ``y`` is (sites, periods). Sites observed in every kept period share one design and are
    solved together; any other site is fitted alone on its observed periods (the same numbers
    ``segmented_regression`` gives). Returns arrays: effect, effect_pct, ci_low, ci_high,
    p_value, level_change, slope_change, n_pre, n_post, baseline_mean, maxlags.
    """
    y = np.asarray(y, dtype=float)
    phase = np.asarray(phase)
    cols, full, keep = its_design_arrays(period_starts, frequency, phase)
    post = phase == POST
    n_sites = y.shape[0]
    z = special.ndtri(1 - alpha / 2)
    c = np.zeros(len(cols))
    if post.any():
        c[cols.index("level_change")] = 1.0
        c[cols.index("slope_change")] = full[post, cols.index("slope_change")].mean()
    cf_design = full.copy()
    cf_design[:, [cols.index("level_change"), cols.index("slope_change")]] = 0.0
    out = {name: np.full(n_sites, np.nan) for name in (
        "effect", "effect_se", "effect_pct", "ci_low", "ci_high", "p_value", "level_change", "slope_change")}
    out["maxlags"] = np.zeros(n_sites, dtype=int)
    complete = np.isfinite(y[:, keep]).all(axis=1)
    x = full[keep]
    n, k = x.shape
    enough = n > k and post[keep].any() and (phase[keep] == PRE).any()

    def store(rows: np.ndarray, params: np.ndarray, covs: np.ndarray, lags: int) -> None:
        est = params @ c
        se = np.sqrt(np.einsum("i,sij,j->s", c, covs, c))
        cf = (cf_design[post] @ params.T).mean(axis=0) if post.any() else np.full(len(rows), np.nan)
        out["effect"][rows], out["effect_se"][rows] = est, se
        out["ci_low"][rows], out["ci_high"][rows] = est - z * se, est + z * se
        with np.errstate(invalid="ignore", divide="ignore"):
            out["p_value"][rows] = 2 * special.ndtr(-np.abs(est / se))
            out["effect_pct"][rows] = np.where(cf != 0, est / cf * 100, np.nan)
        out["level_change"][rows] = params[:, cols.index("level_change")]
        out["slope_change"][rows] = params[:, cols.index("slope_change")]
        out["maxlags"][rows] = lags

    rows = np.nonzero(complete)[0]
    if len(rows) and enough:
        lags = newey_west_lags(n) if maxlags is None else maxlags
        xtx_inv = np.linalg.pinv(x.T @ x)
        params = (xtx_inv @ x.T @ y[rows][:, keep].T).T  # (S, k)
        resid = y[rows][:, keep] - params @ x.T
        scores = x[None] * resid[:, :, None]  # (S, n, k)
        meat = np.einsum("snk,snl->skl", scores, scores)
        for lag in range(1, lags + 1):
            cross = np.einsum("snk,snl->skl", scores[:, lag:], scores[:, :-lag])
            meat += (1 - lag / (lags + 1)) * (cross + cross.transpose(0, 2, 1))
        covs = xtx_inv[None] @ meat @ xtx_inv[None] * (n / (n - k))
        store(rows, params, covs, lags)
    for r in np.nonzero(~complete)[0]:
        use = keep & np.isfinite(y[r])
        xr = full[use]
        if len(xr) <= xr.shape[1] or not (phase[use] == POST).any() or not (phase[use] == PRE).any():
            continue
        lags = newey_west_lags(len(xr)) if maxlags is None else maxlags
        params, cov, _ = ols_hac(y[r, use], xr, lags)
        store(np.array([r]), params[None], cov[None], lags)
    observed = np.isfinite(y)
    pre_obs, post_obs = (phase == PRE) & observed, post & observed
    out["n_pre"], out["n_post"] = pre_obs.sum(1), post_obs.sum(1)
    with np.errstate(invalid="ignore"):
        out["baseline_mean"] = np.where(pre_obs.any(1), np.where(pre_obs, y, 0).sum(1) / pre_obs.sum(1), np.nan)
    return out
