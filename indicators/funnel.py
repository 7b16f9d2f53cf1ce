"""Funnel plot limits with overdispersion (Spiegelhalter 2005, "Handling over-dispersion of performance
indicators", Qual Saf Health Care 14:347-51).

Plain limits assume every area differs from England only by chance (Poisson or binomial
variation). With large denominators that variation is tiny, and real differences between areas
(case mix, recording) put nearly every large area outside them. The additive random-effects
model widens the limits by a between-area variance tau^2 estimated from the areas themselves:

    z_i = (y_i - target) / s_i              s_i: the null standard error at area i's denominator
    phi = mean(z_i^2), z winsorised at its 10th and 90th percentiles
    tau^2 = max(0, (I phi - (I - 1)) / (sum w_i - sum w_i^2 / sum w_i)),   w_i = 1 / s_i^2
    limits(n) = target +/- z_alpha sqrt(s(n)^2 + tau^2)

No Dash here: pure numpy, tested against hand-worked numbers and a planted between-area variance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINSOR = 0.10
"""Share winsorised at each end of the z-scores before estimating phi (Spiegelhalter's default)."""


@dataclass(frozen=True)
class Overdispersion:
    phi: float  # overdispersion factor: mean squared (winsorised) z-score; 1 = no overdispersion
    tau2: float  # between-area variance on the indicator's scale (0 when phi does not exceed (I-1)/I)
    n_areas: int


def winsorise(z: np.ndarray, share: float = WINSOR) -> np.ndarray:
    """Clip values below the ``share`` quantile and above the 1 - ``share`` quantile to those quantiles."""
    lo, hi = np.quantile(z, [share, 1 - share])
    return np.clip(z, lo, hi)


def overdispersion(values, null_se, target: float, share: float = WINSOR) -> Overdispersion:
    """phi and tau^2 of the areas' values around ``target`` given each area's null standard error."""
    y, s = np.asarray(values, dtype=float), np.asarray(null_se, dtype=float)
    ok = np.isfinite(y) & np.isfinite(s) & (s > 0)
    y, s = y[ok], s[ok]
    n = len(y)
    if n < 3:
        return Overdispersion(np.nan, 0.0, n)
    z = winsorise((y - target) / s, share)
    phi = float(np.mean(z ** 2))
    w = 1 / s ** 2
    excess = n * phi - (n - 1)
    tau2 = float(excess / (w.sum() - (w ** 2).sum() / w.sum())) if excess > 0 else 0.0
    return Overdispersion(phi, tau2, n)


def adjusted_limits(target: float, null_se, tau2: float, z: float):
    """(low, high) limits at each null standard error, widened by the between-area variance."""
    spread = z * np.sqrt(np.asarray(null_se, dtype=float) ** 2 + tau2)
    return target - spread, target + spread


def null_se(low, high, z: float):
    """The null standard error implied by symmetric-enough limits at level z (from the catalogue's CI method)."""
    return (np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) / (2 * z)
