"""Confidence intervals as Fingertips computes them.

Sources: PHE/OHID "Fingertips technical guidance" and APHO Technical Briefing 3, "Commonly used
public health statistics and their confidence intervals"; the formulas match PHE's own R package
PHEindicatormethods (wilson_lower/upper, byars_lower/upper, phe_dsr).

- Proportions: Wilson score interval.
- Rates and counts: Byar's approximation to the Poisson limits of the count, divided by the
  denominator; below 10 events the exact Poisson limits (chi-squared based) are used instead.
- Directly standardised rates: Dobson's method, which scales the Poisson limits of the total count
  by the DSR's own standard error. Fingertips does not publish a DSR from fewer than 10 events, so
  the interval is left blank below ``DSR_MIN_COUNT`` (a parameter).

Every function is vectorised over numpy arrays and pandas Series (a Series in gives a Series out,
with the same index), works at any confidence level (0.95 default; Fingertips also uses 0.998),
and returns NaN where the inputs are missing or cannot carry an interval (zero denominator).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import special  # not scipy.stats: the same functions, and stats adds ~0.5-1 s to start-up

from data.errors import DataError
from data.reference import CI_METHODS

EXACT_BELOW = 10
"""Counts below this use exact Poisson limits instead of Byar's approximation (Fingertips rule)."""

DSR_MIN_COUNT = 10
"""Fingertips suppresses DSRs (and their intervals) computed from fewer events than this."""

Limits = tuple[Any, Any]


def z_value(level: float = 0.95) -> float:
    """Two-sided normal quantile for a confidence level: 1.96 at 95%, 3.09 at 99.8%."""
    if not 0.5 <= level < 1:
        raise DataError(f"confidence level {level!r} must be a fraction between 0.5 and 1 (e.g. 0.95 or 0.998)")
    return float(special.ndtri(1 - (1 - float(level)) / 2))


def _arrays(*values) -> tuple[pd.Index | None, list[np.ndarray]]:
    """Float arrays of a common shape, remembering the index of the first Series given."""
    index = next((v.index for v in values if isinstance(v, pd.Series)), None)
    arrays = [np.asarray(pd.to_numeric(v, errors="coerce") if isinstance(v, pd.Series) else v, dtype=float)
              for v in values]
    return index, list(np.broadcast_arrays(*arrays))


def _out(index: pd.Index | None, *arrays: np.ndarray) -> tuple:
    if index is not None:
        return tuple(pd.Series(a, index=index) for a in arrays)
    return tuple(a if a.ndim else float(a) for a in arrays)


def _check_counts(name: str, counts: np.ndarray) -> None:
    bad = np.flatnonzero(counts < 0)
    if len(bad):
        raise DataError(f"{name} must not be negative; got {counts.flat[bad[0]]} at position {bad[0]}",
                        column=name)


def wilson(numerator, denominator, level: float = 0.95, multiplier: float = 1.0) -> Limits:
    """Wilson score interval for numerator/denominator, times ``multiplier`` (100 for a percentage).

    Preferred by Fingertips over the normal approximation because it stays inside 0-100% and
    behaves at small counts and at proportions near 0 or 1.
    """
    index, (x, n) = _arrays(numerator, denominator)
    _check_counts("numerator", x)
    over = np.flatnonzero(x > n)
    if len(over):
        raise DataError(f"numerator {x.flat[over[0]]} exceeds denominator {n.flat[over[0]]} at position "
                        f"{over[0]}: a proportion cannot exceed 1", column="numerator")
    z = z_value(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_ok = np.where(n > 0, n, np.nan)
        p = x / n_ok
        centre = 2 * x + z * z
        spread = z * np.sqrt(z * z + 4 * x * (1 - p))
        low = (centre - spread) / (2 * (n_ok + z * z))
        high = (centre + spread) / (2 * (n_ok + z * z))
    return _out(index, np.clip(low, 0, 1) * multiplier, np.clip(high, 0, 1) * multiplier)


def exact_poisson_count(count, level: float = 0.95) -> Limits:
    """Exact (Garwood, chi-squared based) limits for a Poisson count; lower limit 0 when count is 0."""
    index, (o,) = _arrays(count)
    _check_counts("numerator", o)
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        low = np.where(o > 0, special.gammaincinv(o, alpha / 2), 0.0)  # = chi2.ppf(alpha / 2, 2 o) / 2
        high = special.gammaincinv(o + 1, 1 - alpha / 2)  # = chi2.ppf(1 - alpha / 2, 2 o + 2) / 2
    low = np.where(np.isnan(o), np.nan, low)
    return _out(index, low, high)


def byar_count(count, level: float = 0.95, exact_below: float = EXACT_BELOW) -> Limits:
    """Limits for a Poisson count: Byar's approximation, exact Poisson below ``exact_below`` events."""
    index, (o,) = _arrays(count)
    _check_counts("numerator", o)
    z = z_value(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3
        high = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3
    small = np.atleast_1d(o < exact_below)
    if small.any():
        low, high = np.array(low, dtype=float, ndmin=1), np.array(high, dtype=float, ndmin=1)
        ex_low, ex_high = exact_poisson_count(np.atleast_1d(o)[small], level)
        low[small], high[small] = ex_low, ex_high
        low, high = low.reshape(o.shape), high.reshape(o.shape)
    return _out(index, low, high)


def byar_rate(numerator, denominator, level: float = 0.95, multiplier: float = 1.0,
              exact_below: float = EXACT_BELOW) -> Limits:
    """Interval for a crude rate numerator/denominator*multiplier from the Poisson limits of the count."""
    index, (o, n) = _arrays(numerator, denominator)
    low, high = byar_count(o, level, exact_below)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_ok = np.where(n > 0, n, np.nan)
        return _out(index, low / n_ok * multiplier, high / n_ok * multiplier)


def dobson(count, dsr, level: float = 0.95, dsr_variance=None, min_count: float = DSR_MIN_COUNT) -> Limits:
    """Dobson's interval for a directly standardised rate.

    ``count`` is the total observed events and ``dsr`` the standardised rate (in its display units).
    With ``dsr_variance`` (the variance of the DSR in the same units: sum of w_i^2 O_i / n_i^2 over
    age bands, divided by (sum w_i)^2 and scaled by the multiplier squared) the limits are
    DSR + sqrt(var/O) * (O_limit - O), as PHEindicatormethods::phe_dsr does.

    Without per-age data (``dsr_variance=None``, the usual case here: the dataset stores totals),
    the variance is taken as DSR^2/O, which is exact when the area's age structure matches the
    standard and otherwise an approximation; the interval then reduces to DSR * O_limit / O.
    Intervals from fewer than ``min_count`` events are left blank, as Fingertips does.
    """
    index, (o, v) = _arrays(count, dsr)
    _check_counts("numerator", o)
    o_low, o_high = byar_count(o, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        if dsr_variance is None:
            se_per_event = v / o
        else:
            _, (var,) = _arrays(dsr_variance)
            se_per_event = np.sqrt(var / o)
        low = v + se_per_event * (o_low - o)
        high = v + se_per_event * (o_high - o)
    blank = ~(o >= min_count)
    return _out(index, np.where(blank, np.nan, low), np.where(blank, np.nan, high))


def method_of(catalogue_row_or_method: str | Mapping | pd.Series) -> str:
    """The CI method named by a catalogue row (its ``ci_method``) or given directly."""
    method = catalogue_row_or_method
    if not isinstance(method, str):
        try:
            method = method["ci_method"]
        except (KeyError, TypeError, IndexError) as exc:
            raise DataError("catalogue row has no 'ci_method'", column="ci_method") from exc
    method = str(method).strip().lower()
    if method not in CI_METHODS:
        raise DataError(f"unknown CI method {method!r}; expected one of {CI_METHODS}", column="ci_method")
    return method


def ci_for(catalogue_row_or_method: str | Mapping | pd.Series, numerator, denominator, multiplier: float,
           value=None, level: float = 0.95) -> Limits:
    """The Fingertips interval for an indicator, dispatching on the catalogue's ``ci_method``.

    ``value`` is only needed for a DSR (Dobson): the standardised rate itself. If it is not given,
    the crude rate numerator/denominator*multiplier stands in (true of the demo data's DSRs).
    """
    method = method_of(catalogue_row_or_method)
    if method == "wilson":
        return wilson(numerator, denominator, level, multiplier)
    if method == "byar":
        return byar_rate(numerator, denominator, level, multiplier)
    if value is None:
        index, (o, n) = _arrays(numerator, denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            crude = o / np.where(n > 0, n, np.nan) * multiplier
        value = pd.Series(crude, index=index) if index is not None else crude
    return dobson(numerator, value, level)
