"""Per-site difference-in-differences with area and period fixed effects, and its inference.

The model for one site and indicator is ``y_at = a_a + g_t + effect * D_at + e_at`` over the
site's aggregate series and its comparator LAs, with the transition periods left out
(``D`` = 1 for the site in post periods). With one treated area, cluster-robust errors
over-reject (MacKinnon and Webb), so the interval the dashboard shows comes from
placebo-in-space: every pool LA is given the site's dates and its own comparators and the same
estimate is made for it.

Speed without approximation: all panels here have few areas (the site plus k comparators) and
many periods. Period effects are removed exactly by demeaning each period over the areas
observed in it (this is the within transformation for an unbalanced panel when the area
effects are kept as regressors, Frisch-Waugh-Lovell); what is left is a tiny
(1 + areas)-column least-squares problem per panel, solved for every panel of a batch at once
with numpy. Missing cells are simply masked, so balanced and unbalanced panels take the same
exact route; tests check the estimate against statsmodels OLS with C(area) + C(period) dummies
and linearmodels PanelOLS to 1e-8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special  # not scipy.stats: the same functions, and stats adds ~0.5-1 s to start-up

from data.periods import period_phase

PRE, TRANSITION, POST = "pre", "transition", "post"
CLUSTER_CAVEAT = "unreliable with one treated area: shown for reference only"
"""With one treated unit, cluster-robust errors over-reject on average (MacKinnon and Webb), so the interval
is too narrow in general, yet for a given site it can be wider than the placebo interval: the caveat says
what holds for every site."""
CLUSTER_LABEL = f"cluster-robust by area: {CLUSTER_CAVEAT}"
PLACEBO_P_METHOD = "placebo-in-space rank: (1 + #{|placebo| >= |site|}) / (1 + n_placebo)"


def treatment_phase(period_starts, frequency: str, start, transition_start=None,
                    transition_end=None) -> np.ndarray:
    """Label each period pre, transition or post, by the one rule the whole project uses
    (data.periods.period_phase): a period straddling either boundary is left out, not mixed."""
    starts = pd.Series(pd.to_datetime(pd.DatetimeIndex(period_starts)))
    return period_phase(starts, frequency, start, transition_start, transition_end).to_numpy()


# --- the batched exact two-way fixed-effects core ------------------------------------------------

def _period_demean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Remove period effects: subtract, in each period, the mean over the areas observed in it."""
    count = mask.sum(axis=-2, keepdims=True)
    total = np.where(mask, values, 0.0).sum(axis=-2, keepdims=True)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return np.where(mask, values - mean, 0.0)


def _solve_guarded(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve batched normal equations; a column with no information (an area never observed)
    is decoupled by a unit diagonal so it gets coefficient 0 instead of making the system singular."""
    gram = gram.copy()
    diag = np.einsum("...ii->...i", gram)
    empty = diag <= 1e-12 * np.maximum(diag.max(axis=-1, keepdims=True), 1.0)
    idx = np.nonzero(empty)
    gram[(*idx[:-1], idx[-1], idx[-1])] = 1.0
    try:
        return np.linalg.solve(gram, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        # Some panel is not identified (e.g. the site has no pre period, so its post dummy is its
        # area dummy). Least squares still gives every estimable coefficient exactly; the caller
        # marks the effect missing when the treatment dummy has no variation net of the fixed
        # effects. Only the singular batch pays for the per-panel loop.
        flat_gram = gram.reshape(-1, *gram.shape[-2:])
        flat_rhs = rhs.reshape(-1, rhs.shape[-1])
        out = np.stack([np.linalg.lstsq(g, r, rcond=None)[0] for g, r in zip(flat_gram, flat_rhs)])
        return out.reshape(rhs.shape)


@dataclass
class PanelDid:
    """Batched DiD results, one entry per panel."""

    effect: np.ndarray
    se_cluster: np.ndarray
    df_cluster: np.ndarray
    n_obs: np.ndarray
    n_areas: np.ndarray
    n_periods: np.ndarray


def panel_did(y: np.ndarray, post: np.ndarray, keep: np.ndarray | None = None) -> PanelDid:
    """DiD of area 0 against areas 1.. in each panel, with area and period fixed effects.

    ``y`` has shape (panels, areas, periods) with NaN for missing cells; ``post`` (periods,)
    marks the treated periods of area 0; ``keep`` (periods,) drops periods (the transition).
    Returns the effect and a conventional cluster-robust (by area) standard error with the
    statsmodels small-sample correction G/(G-1) * (N-1)/(N-K), K = areas + periods.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim == 2:
        y = y[None]
    n_panels, n_areas, n_periods = y.shape
    post = np.asarray(post, dtype=bool)
    mask = np.isfinite(y)
    if keep is not None:
        mask &= np.asarray(keep, dtype=bool)[None, None, :]
    yv = np.where(mask, y, 0.0)
    # Regressors: the treatment dummy (area 0, post periods), then dummies for areas 1... Each is
    # an indicator of one area's cells, so after removing period means its normal equations have
    # a closed form (see _dummy_design): nothing of size panels x regressors x areas x periods.
    weight = mask.astype(float)
    weight[:, 0, :] *= post  # the cells each regressor switches on, per area row
    y_d = _period_demean(yv, mask)
    design = _dummy_design(weight, mask)
    gram = design.gram
    rhs = (weight * y_d).sum(axis=2)  # period-demeaned y sums to 0 over areas in each period
    beta = _solve_guarded(gram, rhs)
    resid = np.where(mask, y_d - design.combine(beta), 0.0)
    # The treatment dummy net of all fixed effects (FWL), for the cluster-robust sandwich.
    k = n_areas
    if k > 1:
        gamma = _solve_guarded(gram[:, 1:, 1:], gram[:, 1:, 0])
        d_tilde = design.combine(np.concatenate([np.ones((n_panels, 1)), -gamma], axis=1))
    else:
        d_tilde = design.combine(np.ones((n_panels, 1)))
    d_tilde = np.where(mask, d_tilde, 0.0)
    sdd = (d_tilde ** 2).sum(axis=(1, 2))
    scores = (d_tilde * resid).sum(axis=2)  # one score per area (cluster)
    n_obs = mask.sum(axis=(1, 2))
    areas_seen = mask.any(axis=2).sum(axis=1)
    periods_seen = mask.any(axis=1).sum(axis=1)
    n_params = areas_seen + periods_seen
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = areas_seen / (areas_seen - 1) * (n_obs - 1) / (n_obs - n_params)
        var = (scores ** 2).sum(axis=1) / sdd ** 2 * correction
        effect = np.where(sdd > 1e-12, beta[:, 0], np.nan)
    return PanelDid(effect=effect, se_cluster=np.sqrt(np.where(sdd > 1e-12, var, np.nan)),
                    df_cluster=areas_seen - 1, n_obs=n_obs, n_areas=areas_seen, n_periods=periods_seen)


@dataclass(frozen=True)
class _DummyDesign:
    """Period-demeaned area-indicator regressors, in closed form.

    Regressor j switches on area j's cells with weight ``weight[:, j, :]`` (0/1: a kept, observed
    cell; for the treatment dummy, also a post period). Removing the period means over the
    observed areas gives ``x_j[b, t] = mask[b, t] * (weight[j, t] * 1{b = j} - m[j, t])`` with
    ``m = weight / count``, hence the Gram matrix
    ``G[j, l] = 1{j = l} * sum_t weight[j, t] - sum_t count[t] * m[j, t] * m[l, t]``
    and ``sum_j c_j x_j = mask * (c_b * weight[b] - sum_j c_j m[j])``.
    """

    weight: np.ndarray  # (panels, regressors, periods); for ``combine``, regressor j is area j's
    mask: np.ndarray  # (panels, areas, periods): the cells in the fit
    share: np.ndarray  # m
    gram: np.ndarray  # (panels, regressors, regressors)

    def combine(self, coef: np.ndarray) -> np.ndarray:
        """sum_j coef[:, j] * x_j, as (panels, areas, periods); ``coef`` may cover the first regressors only."""
        n = coef.shape[1]
        own = np.zeros(self.mask.shape)
        own[:, :n] = coef[:, :, None] * self.weight[:, :n]
        common = np.einsum("pj,pjt->pt", coef, self.share[:, :n])
        return np.where(self.mask, own - common[:, None, :], 0.0)


def _dummy_design(weight: np.ndarray, mask: np.ndarray) -> _DummyDesign:
    count = mask.sum(axis=1).astype(float)  # (panels, periods)
    share = weight * np.divide(1.0, count, out=np.zeros_like(count), where=count > 0)[:, None, :]
    gram = -np.einsum("pt,pjt,plt->pjl", count, share, share)
    idx = np.arange(weight.shape[1])
    gram[:, idx, idx] += weight.sum(axis=2)
    return _DummyDesign(weight, mask, share, gram)


def period_effects(y: np.ndarray) -> np.ndarray:
    """Period effects of a two-way fixed-effects fit of each panel (panels, areas, periods).

    Normalised so that area 0 has area effect 0; NaN where no area is observed. Exact for
    unbalanced panels: area effects come from the period-demeaned normal equations, period
    effects are then the period means of ``y - area effect``.
    """
    y = np.asarray(y, dtype=float)
    n_panels, n_areas, n_periods = y.shape
    mask = np.isfinite(y)
    yv = np.where(mask, y, 0.0)
    area_fx = np.zeros((n_panels, n_areas))
    if n_areas > 1:
        # Dummies for areas 1.. (area 0 is the reference): the closed form of _dummy_design.
        weight = mask[:, 1:].astype(float)
        y_d = _period_demean(yv, mask)
        design = _dummy_design(weight, mask)
        rhs = (weight * y_d[:, 1:]).sum(axis=2)
        area_fx[:, 1:] = _solve_guarded(design.gram, rhs)
    count = mask.sum(axis=1)
    total = np.where(mask, yv - area_fx[:, :, None], 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def event_study_coefficients(treated: np.ndarray, comparators: np.ndarray, reference: int) -> np.ndarray:
    """Event-study coefficients of the treated area for every period, batched.

    The regression with area and period effects plus a dummy for the treated area in every
    period but ``reference`` fits the treated area exactly, so each coefficient is
    ``(y_t - y_ref) - (g_t - g_ref)`` with ``g`` the comparators' two-way period effects.
    ``treated`` is (panels, periods), ``comparators`` (panels, areas, periods).
    """
    g = period_effects(comparators)
    y = np.asarray(treated, dtype=float)
    coef = (y - y[:, [reference]]) - (g - g[:, [reference]])
    coef[:, reference] = 0.0
    return coef


# --- placebo-in-space inference ------------------------------------------------------------------

def placebo_p_value(effect: float, placebo: np.ndarray) -> float:
    """(1 + #{|placebo| >= |effect|}) / (1 + n): the site's rank among the placebo effects."""
    placebo = np.asarray(placebo, dtype=float)
    placebo = placebo[np.isfinite(placebo)]
    if not np.isfinite(effect) or len(placebo) == 0:
        return float("nan")
    return float((1 + np.sum(np.abs(placebo) >= abs(effect))) / (1 + len(placebo)))


def placebo_half_width(placebo: np.ndarray, alpha: float = 0.05) -> float:
    """Half-width of the interval got by inverting the placebo rank test.

    Under a constant effect ``tau`` the site's ``effect - tau`` is one more placebo draw; the set
    of ``tau`` not rejected at level ``alpha`` by the p-value above is
    ``effect +/- c``, with ``c`` the m-th largest |placebo|, ``m = floor(alpha * (n + 1))``.
    So p <= alpha exactly when 0 lies outside the interval. Infinite when n < 1/alpha - 1.
    """
    placebo = np.asarray(placebo, dtype=float)
    absp = np.sort(np.abs(placebo[np.isfinite(placebo)]))[::-1]
    m = int(np.floor(alpha * (len(absp) + 1) + 1e-9))
    if m < 1:
        return float("inf")
    return float(absp[m - 1])


def placebo_half_widths(placebo: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """``placebo_half_width`` for each column of a (placebos, coefficients) array, at once."""
    placebo = np.asarray(placebo, dtype=float)
    finite = np.isfinite(placebo)
    absp = -np.sort(-np.where(finite, np.abs(placebo), -np.inf), axis=0)  # descending; missing last
    m = np.floor(alpha * (finite.sum(axis=0) + 1) + 1e-9).astype(int)
    if not len(absp):
        return np.full(placebo.shape[1], np.inf)
    picked = np.take_along_axis(absp, np.maximum(m - 1, 0)[None, :], axis=0)[0]
    return np.where(m >= 1, picked, np.inf)


def pre_trend_test(leads: np.ndarray, placebo_leads: np.ndarray) -> tuple[float, float]:
    """Joint test that the site's lead coefficients are zero, using the placebo leads' spread.

    Hotelling's prediction T^2: the site's leads are compared with n placebo draws of the same
    coefficients (mean xbar, covariance S); ``F = n/(n+1) * (n-L)/(L(n-1)) * (x-xbar)' S^-1 (x-xbar)``
    has an F(L, n-L) distribution under the null. Returns (F, p); NaN if there are too few
    placebos for the number of leads.
    """
    leads = np.asarray(leads, dtype=float)
    ok = np.isfinite(leads)
    return pre_trend_from_moments(leads[ok], placebo_lead_moments(placebo_leads[:, ok]))


def placebo_lead_moments(placebo_leads: np.ndarray) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """(n, L, mean, covariance) of the placebos that have every lead; None if too few for the test."""
    draws = placebo_leads[np.isfinite(placebo_leads).all(axis=1)]  # placebos with every lead the site has
    n, n_leads = draws.shape
    if n_leads == 0 or n - n_leads < 1:
        return None
    return n, n_leads, draws.mean(axis=0), np.cov(draws, rowvar=False).reshape(n_leads, n_leads)


def pre_trend_from_moments(leads: np.ndarray, moments) -> tuple[float, float]:
    """``pre_trend_test`` given the site's observed leads and ``placebo_lead_moments`` of the same leads."""
    if moments is None:
        return float("nan"), float("nan")
    n, n_leads, centre, cov = moments
    diff = leads - centre
    try:
        t2 = float(diff @ np.linalg.solve(cov, diff))
    except np.linalg.LinAlgError:
        return float("nan"), float("nan")
    f = n / (n + 1) * (n - n_leads) / (n_leads * (n - 1)) * t2
    return f, float(special.fdtrc(n_leads, n - n_leads, f))  # = stats.f.sf, without its per-call overhead


# --- one site, one indicator ----------------------------------------------------------------------

@dataclass
class SiteDid:
    """A site's DiD on one indicator, with placebo and conventional inference and its event study."""

    effect: float
    effect_pct: float
    ci_low: float
    ci_high: float
    p_value: float
    cluster_se: float
    cluster_ci_low: float
    cluster_ci_high: float
    cluster_p: float
    pre_trend_f: float
    pre_trend_p: float
    n_comparators: int
    n_pre: int
    n_post: int
    n_placebo: int
    baseline_mean: float
    post_mean: float
    counterfactual_mean: float
    event_study: pd.DataFrame
    placebo_effects: pd.Series


def placebo_estimates(placebo_site: np.ndarray, placebo_comparators: np.ndarray, phase: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """Every pool LA's DiD effect and event study with the site's dates, in one batch.

    ``placebo_site`` (n, periods) and ``placebo_comparators`` (n, k, periods) are the pool LAs'
    own panels (see ``placebo_arrays``). Returns (effects, event-study coefficients (n, periods),
    reference period index); computed once per indicator and set of dates, shared by sites.
    """
    phase = np.asarray(phase)
    fit = panel_did(np.concatenate([placebo_site[:, None], placebo_comparators], axis=1),
                    phase == POST, phase != TRANSITION)
    pre = np.nonzero(phase == PRE)[0]
    ref = int(pre[-1]) if len(pre) else None
    es = event_study_coefficients(placebo_site, placebo_comparators, ref) if ref is not None else None
    return fit.effect, es, ref


def site_did_batch(y_sites: np.ndarray, y_comparators: np.ndarray, phase: np.ndarray,
                   placebo: tuple[np.ndarray, np.ndarray | None, int | None] | None,
                   alpha: float = 0.05) -> dict[str, np.ndarray]:
    """DiD for several sites sharing dates: the table's fast path (see ``site_did`` for one site).

    ``y_sites`` (S, periods), ``y_comparators`` (S, k, periods); the placebo distribution and
    the interval half-width are shared, since every site of the batch has the same dates.
    Returns arrays: effect, effect_pct, ci_low, ci_high, p_value, cluster_se, cluster_ci_low,
    cluster_ci_high, cluster_p, pre_trend_f, pre_trend_p, n_comparators, n_pre, n_post,
    n_placebo, baseline_mean, post_mean, counterfactual_mean, event_study (S, periods),
    event_study_half_width (S, periods), reference (S,).
    """
    phase = np.asarray(phase)
    y_sites = np.asarray(y_sites, dtype=float)
    n_sites, n_periods = y_sites.shape
    keep, post, pre = phase != TRANSITION, phase == POST, phase == PRE
    fit = panel_did(np.concatenate([y_sites[:, None], y_comparators], axis=1), post, keep)
    effect, se = fit.effect, fit.se_cluster
    df = np.maximum(fit.df_cluster, 1)
    tcrit = special.stdtrit(df, 1 - alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cluster_p = 2 * special.stdtr(df, -np.abs(effect / se))
    observed = np.isfinite(y_sites)
    pre_obs, post_obs = pre & observed, post & observed
    with np.errstate(invalid="ignore"):
        baseline = np.where(pre_obs.any(1), np.where(pre_obs, y_sites, 0).sum(1) / pre_obs.sum(1), np.nan)
        post_mean = np.where(post_obs.any(1), np.where(post_obs, y_sites, 0).sum(1) / post_obs.sum(1), np.nan)
    counterfactual = post_mean - effect
    with np.errstate(invalid="ignore", divide="ignore"):
        effect_pct = np.where(np.isfinite(counterfactual) & (counterfactual != 0), effect / counterfactual * 100, np.nan)

    if placebo is not None and len(placebo[0]):
        p_eff, p_es, p_ref = placebo
        p_ok = p_eff[np.isfinite(p_eff)]
    else:
        p_eff, p_es, p_ref, p_ok = np.array([]), None, None, np.array([])
    half = placebo_half_width(p_ok, alpha) if len(p_ok) else np.nan
    p_value = np.array([placebo_p_value(e, p_ok) for e in effect])

    refs = np.array([_reference_period(phase, y) if _reference_period(phase, y) is not None else -1
                     for y in y_sites])
    es = np.full((n_sites, n_periods), np.nan)
    es_half = np.full((n_sites, n_periods), np.nan)
    pre_f = np.full(n_sites, np.nan)
    pre_p = np.full(n_sites, np.nan)
    for ref in np.unique(refs[refs >= 0]):
        rows = np.nonzero(refs == ref)[0]
        es[rows] = event_study_coefficients(y_sites[rows], y_comparators[rows], int(ref))
        if p_es is None:
            continue
        draws = p_es - p_es[:, [ref]] if p_ref != ref else p_es
        es_half[rows] = placebo_half_widths(draws, alpha)[None, :]
        leads = np.nonzero(pre & (np.arange(n_periods) != ref))[0]
        if len(leads):
            lead_draws = draws[:, leads]
            shared: dict[bytes, tuple] = {}  # sites observed in the same leads share the placebo moments
            for r in rows:
                seen = np.isfinite(es[r, leads])
                moments = shared.get(seen.tobytes())
                if moments is None:
                    moments = shared[seen.tobytes()] = placebo_lead_moments(lead_draws[:, seen])
                pre_f[r], pre_p[r] = pre_trend_from_moments(es[r, leads][seen], moments)
    has_site = (observed & keep).any(axis=1)
    return {
        "effect": effect, "effect_pct": effect_pct, "ci_low": effect - half, "ci_high": effect + half,
        "p_value": p_value, "cluster_se": se, "cluster_ci_low": effect - tcrit * se,
        "cluster_ci_high": effect + tcrit * se, "cluster_p": cluster_p, "pre_trend_f": pre_f,
        "pre_trend_p": pre_p, "n_comparators": fit.n_areas - has_site.astype(int),
        "n_pre": pre_obs.sum(1), "n_post": post_obs.sum(1), "n_placebo": np.full(n_sites, len(p_ok)),
        "baseline_mean": baseline, "post_mean": post_mean, "counterfactual_mean": counterfactual,
        "event_study": es, "event_study_half_width": es_half, "reference": refs,
    }


def site_did(site: pd.Series, comparators: pd.DataFrame, phase: np.ndarray,
             placebo: tuple[np.ndarray, np.ndarray | None, int | None] | None = None,
             placebo_codes: list[str] | None = None, alpha: float = 0.05) -> SiteDid:
    """DiD for one site given its series, its comparators' series and the placebo estimates.

    ``site`` is indexed by period; ``comparators`` is (comparator areas x periods) on the same
    periods; ``phase`` labels the periods (see ``treatment_phase``); ``placebo`` is what
    ``placebo_estimates`` returns for the same dates.
    """
    phase = np.asarray(phase)
    periods = site.index
    y_site = site.to_numpy(dtype=float)[None]
    y_comp = comparators.reindex(columns=periods).to_numpy(dtype=float)[None]
    b = {name: value[0] for name, value in site_did_batch(y_site, y_comp, phase, placebo, alpha).items()}
    ref = int(b["reference"])
    post = phase == POST
    first_post = int(np.argmax(post)) if post.any() else len(periods)
    event_study = pd.DataFrame({
        "period_start": periods,
        "event_time": np.arange(len(periods)) - first_post,
        "phase": phase,
        "coef": b["event_study"],
        "ci_low": b["event_study"] - b["event_study_half_width"],
        "ci_high": b["event_study"] + b["event_study_half_width"],
        "reference": np.arange(len(periods)) == ref,
    })
    p_eff = placebo[0] if placebo is not None else np.array([])
    codes = placebo_codes if placebo_codes is not None else list(range(len(p_eff)))
    scalars = {name: float(b[name]) for name in (
        "effect", "effect_pct", "ci_low", "ci_high", "p_value", "cluster_se", "cluster_ci_low", "cluster_ci_high",
        "cluster_p", "pre_trend_f", "pre_trend_p", "baseline_mean", "post_mean", "counterfactual_mean")}
    return SiteDid(**scalars, n_comparators=int(b["n_comparators"]), n_pre=int(b["n_pre"]),
                   n_post=int(b["n_post"]), n_placebo=int(b["n_placebo"]), event_study=event_study,
                   placebo_effects=pd.Series(p_eff, index=codes, name="placebo_effect"))


def _reference_period(phase: np.ndarray, y_site: np.ndarray) -> int | None:
    """The last pre period in which the site is observed: the event study's reference."""
    pre = np.nonzero((phase == PRE) & np.isfinite(y_site))[0]
    return int(pre[-1]) if len(pre) else None


def placebo_arrays(area_values: pd.DataFrame, codes: np.ndarray, order: np.ndarray
                   ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Stack each pool LA's series with its own comparators' series (a placebo set in array form).

    ``area_values`` is (area_code x periods); pool LA ``codes[i]`` has comparators
    ``codes[order[i]]``, nearest first. Returns (codes with a series, their series (n, periods),
    their comparators' series (n, k, periods)); comparators without a series are missing rows."""
    rows = pd.Index(area_values.index).get_indexer(codes)
    values = np.vstack([area_values.to_numpy(dtype=float), np.full((1, area_values.shape[1]), np.nan)])
    comp_rows = np.where(rows[order] >= 0, rows[order], len(area_values)) if len(order) else order
    own = rows >= 0
    return list(np.asarray(codes)[own]), values[rows[own]], values[comp_rows[own]]
