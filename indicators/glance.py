"""At-a-glance summaries Fingertips and NHS "Making Data Count" users expect: the spine chart's
position of a value in England's range, the recent trend of the last few points, and the
variation icon of an SPC chart's latest point. Pure numpy/pandas; no Dash here.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special  # not scipy.stats: the same functions, and stats adds ~0.5-1 s to start-up

from indicators.spc import spc
from indicators.spc import summary as spc_summary

RECENT_POINTS = 5
"""Fingertips judges the recent trend on the last five points."""
ASSURANCE_POINTS = 12
"""[C] Assurance reads the XmR limits of the latest 12 points (three years of quarters), not the baseline's:
the baseline describes the process before the Pioneer started, and a site whose process has since moved
would otherwise be "consistently better than England" while its latest value is worse."""


def spine_summary(values, england: float, polarity: str) -> dict:
    """England's spread of area values, placed as Fingertips does: England at 0, the area furthest from it
    at -1 or 1, and "worse" (or "lower" with no direction) on the left.

    Returns lowest, q25, q75, highest (indicator units) and ``scale`` and ``flip`` for ``spine_position``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v) or not math.isfinite(england):
        return {"lowest": np.nan, "q25": np.nan, "q75": np.nan, "highest": np.nan, "scale": np.nan, "flip": False}
    lo, q25, q75, hi = np.quantile(v, [0, 0.25, 0.75, 1])
    scale = max(england - lo, hi - england) or 1.0
    return {"lowest": float(lo), "q25": float(q25), "q75": float(q75), "highest": float(hi), "scale": float(scale),
            "flip": polarity == "lower"}


def spine_position(value: float, england: float, summary: dict) -> float:
    """Where ``value`` sits on the spine (-1 worst/lowest end, 0 England, 1 best/highest end)."""
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (value, england, summary["scale"])):
        return np.nan
    x = (value - england) / summary["scale"]
    return -x if summary["flip"] else x


def recent_trend(values, low=None, high=None, points: int = RECENT_POINTS, alpha: float = 0.05) -> str:
    """"increasing", "decreasing", "no significant change" or "" (fewer than ``points`` values).

    The slope of the last ``points`` values against time, weighted by each value's precision
    (from its 95% interval when given), tested against zero (two-sided, ``alpha``)."""
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(y)
    y = y[keep][-points:]
    if len(y) < points:
        return ""
    if low is not None and high is not None:
        se = ((np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) / (2 * 1.96))[keep][-points:]
        w = np.where(np.isfinite(se) & (se > 0), 1 / np.where(se > 0, se, 1) ** 2, np.nan)
        if not np.isfinite(w).all():
            w = np.ones_like(y)
    else:
        w = np.ones_like(y)
    t = np.arange(len(y), dtype=float)
    tw = np.average(t, weights=w)
    yw = np.average(y, weights=w)
    sxx = np.sum(w * (t - tw) ** 2)
    slope = np.sum(w * (t - tw) * (y - yw)) / sxx
    if low is not None and high is not None and np.isfinite(se).all():
        se_slope = math.sqrt(1 / sxx)  # known sampling errors: the slope's variance is 1 / sum w (t - tw)^2
        z = slope / se_slope
        p = 2 * special.ndtr(-abs(z))
    else:
        from scipy import stats  # heavy (~0.5-1 s at start-up): only this fallback, on a site page, needs it

        fit = stats.linregress(t, y)
        slope, p = fit.slope, fit.pvalue
    if not math.isfinite(p) or p >= alpha:
        return "no significant change"
    return "increasing" if slope > 0 else "decreasing"


TREND_ARROWS = {"increasing": "\u2191", "decreasing": "\u2193", "no significant change": "\u2192", "": ""}


def trend_words(direction: str, polarity: str) -> str:
    """The recent trend with its arrow and, for an indicator with a direction, whether that is better or worse."""
    if not direction:
        return "not enough recent points"
    arrow = TREND_ARROWS[direction]
    if direction == "no significant change" or polarity not in ("lower", "higher"):
        return f"{arrow} {direction}"
    better = (direction == "decreasing") == (polarity == "lower")
    return f"{arrow} {direction}, getting {'better' if better else 'worse'}"


VARIATION_ICONS = {
    ("improvement", "high"): "Special cause improvement (high)", ("improvement", "low"): "Special cause improvement (low)",
    ("concern", "high"): "Special cause concern (high)", ("concern", "low"): "Special cause concern (low)",
    ("neutral", "high"): "Special cause neither (high)", ("neutral", "low"): "Special cause neither (low)",
    ("common cause", "high"): "Common cause variation", ("common cause", "low"): "Common cause variation",
}


def variation_icon(variation: str | None, value: float, mean: float) -> str:
    """The Making Data Count variation icon of the latest point, in words (its side of the mean, high or low)."""
    if not variation or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (value, mean)):
        return "Not charted"
    return VARIATION_ICONS[(variation, "high" if value >= mean else "low")]


ASSURANCE_WORDS = {"consistently passes": "Consistently better than England",
                   "consistently fails": "Consistently worse than England",
                   "hit and miss": "Hit and miss against England", None: "No direction: no assurance"}


def assurance(values: pd.Series, polarity: str, target: float | None, points: int = ASSURANCE_POINTS) -> str | None:
    """Making Data Count assurance of the current process: the limits of the latest ``points`` values
    (all when fewer; at least 2) against ``target``; None with no direction, no target or too few values."""
    recent = pd.Series(values, dtype=float).dropna().tail(points)
    if polarity == "none" or target is None or not math.isfinite(target) or len(recent) < 2:
        return None
    return spc_summary(spc(recent.reset_index(drop=True), polarity), target)["assurance"]


def summarise_icons(frame: pd.DataFrame) -> pd.DataFrame:
    """Count of indicators by variation icon and by assurance icon: the Making Data Count summary table."""
    v = frame["Variation"].value_counts().rename_axis("Icon").reset_index(name="Indicators").assign(Kind="Variation")
    a = frame["Assurance"].value_counts().rename_axis("Icon").reset_index(name="Indicators").assign(Kind="Assurance")
    return pd.concat([v, a], ignore_index=True)[["Kind", "Icon", "Indicators"]]
