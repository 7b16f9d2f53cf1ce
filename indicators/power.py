"""Minimum detectable effect: what "no clear difference" can and cannot mean.

A site's DiD is judged by the placebo-in-space rank test (indicators.did): the estimate is
significant at ``alpha`` when its size reaches ``c``, the critical placebo value (the m-th
largest |placebo effect|, the interval half-width). Under a true effect ``tau`` the estimate is
``tau`` plus one more draw of the placebo noise, so the power against ``tau`` is the share of
placebo draws ``e`` with ``|tau + e| >= c``.

[C] The quantile version: the minimum detectable effect is the smallest ``|tau|`` at which that
empirical power reaches ``power`` in both directions (the larger of the two). It is read off the
placebo distribution itself, with the same critical value the test uses, so it needs no
normality: placebo effects of a few sites are often skewed or heavy-tailed. The normal
approximation ``(z_{1-alpha/2} + z_{power}) x SD(placebo)`` is offered for comparison
(``method="normal"``); on normal placebo draws the two agree closely.
"""
from __future__ import annotations

import numpy as np
from scipy import special  # not scipy.stats: the same functions, and stats adds ~0.5-1 s to start-up

MDE_METHODS = ("quantile", "normal")

POWER = 0.8
"""[C] The power at which the minimum detectable effect (``mde_pct``) is stated, for every estimator."""


def critical_value(placebo_effects: np.ndarray, alpha: float = 0.05) -> float:
    """The size an estimate must reach to be significant by the placebo rank test (infinite when
    there are fewer than 1/alpha - 1 placebo effects). The same rule as did.placebo_half_width."""
    absp = np.sort(np.abs(_finite(placebo_effects)))[::-1]
    m = int(np.floor(alpha * (len(absp) + 1) + 1e-9))
    return float(absp[m - 1]) if m >= 1 else float("inf")


def detection_power(effect: float, placebo_effects: np.ndarray, alpha: float = 0.05) -> float:
    """Share of placebo draws ``e`` with ``|effect + e|`` at or above the critical value."""
    e = _finite(placebo_effects)
    c = critical_value(e, alpha)
    if not len(e) or not np.isfinite(c):
        return float("nan")
    return float(np.mean(np.abs(effect + e) >= c))


def minimum_detectable_effect(placebo_effects: np.ndarray, alpha: float = 0.05, power: float = 0.8,
                              method: str = "quantile") -> float:
    """Smallest effect (in the placebo effects' units, positive) detected with ``power`` by a
    two-sided test at ``alpha``. NaN without placebo effects; infinite when there are too few for
    the rank test to reach ``alpha`` at all."""
    if method not in MDE_METHODS:
        raise ValueError(f"unknown MDE method {method!r}; expected one of {MDE_METHODS}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must lie between 0 and 1; got alpha={alpha}, power={power}")
    e = _finite(placebo_effects)
    if len(e) < 2:
        return float("nan")
    if method == "normal":
        return float((special.ndtri(1 - alpha / 2) + special.ndtri(power)) * np.std(e, ddof=1))
    c = critical_value(e, alpha)
    if not np.isfinite(c):
        return float("inf")
    return max(_one_direction(e, c, power), _one_direction(-e, c, power))


def _one_direction(e: np.ndarray, c: float, power: float) -> float:
    """Smallest tau >= 0 from which the share of draws with |tau + e| >= c stays at or above ``power``.

    The share changes only where tau + e_i crosses +c or -c, so it is evaluated at those points
    (tau = c - e_i and -c - e_i, each counted as reached there) and at 0.
    """
    candidates = np.unique(np.concatenate([[0.0], c - e, -c - e]))
    candidates = candidates[candidates >= 0]
    shifted = candidates[:, None] + e[None, :]
    # a tolerance so that a candidate built as c - e_i counts e_i as reaching c despite rounding
    tol = 1e-9 * max(1.0, c)
    share = np.mean(np.abs(shifted) >= c - tol, axis=1)
    below = np.nonzero(share < power)[0]
    if not len(below):
        return float(candidates[0])
    last_below = below[-1]
    return float(candidates[last_below + 1]) if last_below + 1 < len(candidates) else float("inf")


def mde_pct(mde, counterfactual) -> np.ndarray:
    """The minimum detectable effect as a % of each site's counterfactual mean (the scale of ``effect_pct``,
    for DiD and synthetic control alike); missing where either is missing or the placebos are too few for
    the rank test to reach its level."""
    mde, counterfactual = np.asarray(mde, dtype=float), np.asarray(counterfactual, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = mde / np.abs(counterfactual) * 100
    return np.where(np.isfinite(pct) & (counterfactual != 0), pct, np.nan)


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]
