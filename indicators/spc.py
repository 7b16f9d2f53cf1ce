"""Statistical process control: the NHS "Making Data Count" XmR chart.

The mean and the mean moving range come from a fixed baseline (the first N points, or the points
up to an end date: for a Pioneer, naturally the pre-intervention periods) and are then held for
the whole series, so later points are judged against how the process behaved before.
Process limits are mean +/- 2.66 x mean moving range (3 sigma, sigma = mean moving range / 1.128);
the 1- and 2-sigma lines are a third and two thirds of that distance.

Special-cause rules, each a small function returning a boolean Series that marks every point
taking part in a signal (as NHSRplotthedots does):
1. a point outside the process limits;
2. two out of three consecutive points beyond 2 sigma on the same side of the mean (all three on
   that side; a point beyond 3 sigma also counts as beyond 2 sigma);
3. a shift: ``run_length`` (7) or more consecutive points on one side of the mean;
4. a trend: ``trend_length`` (7) or more consecutive points each rising, or each falling.
A point exactly on the mean breaks a shift, and two equal consecutive values break a trend.

Each point is then typed with the indicator's polarity: "improvement", "concern", "neutral" (an
indicator with no preferred direction) or "common cause".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.errors import DataError

LIMIT_FACTOR = 2.66
"""3 / d2 with d2 = 1.128 for moving ranges of two points."""
MR_SCREEN_FACTOR = 3.267
"""Upper limit of the moving-range chart: larger moving ranges are screened out of the baseline."""
RUN_LENGTH = 7
TREND_LENGTH = 7

VARIATIONS = ("improvement", "concern", "neutral", "common cause")
CHART_COLUMNS = ["value", "in_baseline", "mean", "lower_limit", "upper_limit", "lower_2sigma", "upper_2sigma",
                 "lower_1sigma", "upper_1sigma", "outside_limits", "two_of_three", "shift", "trend", "special_cause",
                 "variation"]
"""The columns of an XmR chart frame (see ``spc``)."""


VARIATION_COLOURS = {"improvement": "#56B4E9", "concern": "#E69F00", "neutral": "#CC79A7", "common cause": "#999999"}
"""Making Data Count variation colours from the Okabe-Ito colour-blind-safe palette (sky, orange, purple,
grey): the SPC chart and the overview grid use these, so the two never disagree."""


@dataclass(frozen=True)
class Limits:
    mean: float
    mean_moving_range: float
    n_baseline: int

    @property
    def sigma(self) -> float:
        return self.mean_moving_range * LIMIT_FACTOR / 3

    @property
    def lower(self) -> float:
        return self.mean - LIMIT_FACTOR * self.mean_moving_range

    @property
    def upper(self) -> float:
        return self.mean + LIMIT_FACTOR * self.mean_moving_range


def baseline_mask(values: pd.Series, baseline_points: int | None = None,
                  baseline_end: pd.Timestamp | str | None = None) -> pd.Series:
    """Which points form the baseline: the first ``baseline_points``, or those indexed on or before
    ``baseline_end`` (the index must then be dates), or all points when neither is given."""
    if baseline_points is not None and baseline_end is not None:
        raise DataError("give the SPC baseline as a number of points or an end date, not both")
    n = len(values)
    if baseline_end is not None:
        if not isinstance(values.index, pd.DatetimeIndex):
            raise DataError("an SPC baseline end date needs a series indexed by period start")
        return pd.Series(values.index <= pd.Timestamp(baseline_end), index=values.index)
    k = n if baseline_points is None else int(baseline_points)
    if k < 2:
        raise DataError(f"an SPC baseline needs at least 2 points; got {k}")
    return pd.Series(np.arange(n) < k, index=values.index)


def xmr_limits(values: pd.Series, baseline: pd.Series, screen_outliers: bool = True) -> Limits:
    """Mean and mean moving range of the baseline points (moving ranges within the baseline only).

    With ``screen_outliers`` (the NHSRplotthedots default) moving ranges above 3.267 x the mean
    moving range are dropped and the mean moving range recomputed, so one wild month does not
    widen the limits.
    """
    base = values[baseline.to_numpy()].to_numpy(dtype=float)
    base = base[~np.isnan(base)]
    if len(base) < 2:
        raise DataError(f"an SPC baseline needs at least 2 values; got {len(base)}")
    moving_ranges = np.abs(np.diff(base))
    amr = moving_ranges.mean()
    if screen_outliers and amr > 0:
        kept = moving_ranges[moving_ranges < MR_SCREEN_FACTOR * amr]
        amr = kept.mean() if len(kept) else amr
    return Limits(mean=float(base.mean()), mean_moving_range=float(amr), n_baseline=len(base))


def _side(v: np.ndarray, mean: float) -> np.ndarray:
    return np.sign(v - mean)


def _mark_runs(condition: np.ndarray, length: int) -> np.ndarray:
    """Mark every element of each run of True of at least ``length`` consecutive elements."""
    c = np.asarray(condition, dtype=bool)
    if len(c) == 0 or length <= 0:
        return c.copy()
    edges = np.diff(np.concatenate(([0], c.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    marked = np.zeros(len(c), dtype=bool)
    for start, end in zip(starts, ends):
        if end - start >= length:
            marked[start:end] = True
    return marked


def _outside(v: np.ndarray, limits: Limits) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (v > limits.upper) | (v < limits.lower)


def _two_of_three(v: np.ndarray, limits: Limits) -> np.ndarray:
    side = _side(v, limits.mean)
    two_sigma = 2 * limits.sigma
    with np.errstate(invalid="ignore"):
        beyond = np.where(v > limits.mean + two_sigma, 1, np.where(v < limits.mean - two_sigma, -1, 0))
    marked = np.zeros(len(v), dtype=bool)
    if len(v) < 3:
        return marked
    sides = np.lib.stride_tricks.sliding_window_view(side, 3)
    beyonds = np.lib.stride_tricks.sliding_window_view(beyond, 3)
    for direction in (1, -1):
        hit = (sides == direction).all(axis=1) & ((beyonds == direction).sum(axis=1) >= 2)
        for offset in range(3):
            marked[offset:len(v) - 2 + offset] |= hit & (beyonds[:, offset] == direction)
    return marked


def _shift(v: np.ndarray, limits: Limits, run_length: int) -> np.ndarray:
    side = _side(v, limits.mean)
    return _mark_runs(side > 0, run_length) | _mark_runs(side < 0, run_length)


def _trend_direction(v: np.ndarray, trend_length: int) -> np.ndarray:
    """+1 / -1 for points in a rising / falling trend of the required length, 0 otherwise."""
    steps = np.sign(np.diff(v))
    direction = np.zeros(len(v), dtype=int)
    for sign in (1, -1):
        # A trend of k points is k-1 consecutive steps; step j joins point j and point j+1.
        runs = _mark_runs(steps == sign, trend_length - 1)
        points = np.zeros(len(v), dtype=bool)
        points[:-1] |= runs
        points[1:] |= runs
        direction[points] = sign
    return direction


def _floats(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=float)


def rule_outside_limits(values: pd.Series, limits: Limits) -> pd.Series:
    """Rule 1: a point above the upper or below the lower process limit."""
    return pd.Series(_outside(_floats(values), limits), index=values.index)


def rule_two_of_three(values: pd.Series, limits: Limits) -> pd.Series:
    """Rule 2: two of three consecutive points beyond 2 sigma on one side (the three on that side).

    Marks the points beyond 2 sigma in each qualifying window of three.
    """
    return pd.Series(_two_of_three(_floats(values), limits), index=values.index)


def rule_shift(values: pd.Series, limits: Limits, run_length: int = RUN_LENGTH) -> pd.Series:
    """Rule 3: ``run_length`` or more consecutive points on the same side of the mean."""
    return pd.Series(_shift(_floats(values), limits, run_length), index=values.index)


def rule_trend(values: pd.Series, trend_length: int = TREND_LENGTH) -> pd.Series:
    """Rule 4: ``trend_length`` or more consecutive points each higher (or each lower) than the last."""
    return pd.Series(_trend_direction(_floats(values), trend_length) != 0, index=values.index)


def spc(values: pd.Series, polarity: str, baseline_points: int | None = None,
        baseline_end: pd.Timestamp | str | None = None, run_length: int = RUN_LENGTH,
        trend_length: int = TREND_LENGTH, screen_outliers: bool = True) -> pd.DataFrame:
    """The XmR chart of one series: limits, each rule, and each point's variation type.

    ``values`` is ordered in time (index: period_start, ideally). Returns one row per point with
    value, in_baseline, mean, lower/upper limits, 1- and 2-sigma lines, the four rule columns,
    special_cause and variation (improvement / concern / neutral / common cause). The limits are
    also in ``frame.attrs``. Missing values are kept as rows with no rule flags and no type.
    """
    if polarity not in ("lower", "higher", "none"):
        raise DataError(f"polarity {polarity!r} is not one of ('lower', 'higher', 'none')", column="polarity")
    base = baseline_mask(values, baseline_points, baseline_end)
    limits = xmr_limits(values, base, screen_outliers)
    v_all = _floats(values)
    present = ~np.isnan(v_all)
    v = v_all[present]
    outside = _outside(v, limits)
    two = _two_of_three(v, limits)
    shift = _shift(v, limits, run_length)
    trend_dir = _trend_direction(v, trend_length)
    trend = trend_dir != 0
    side = _side(v, limits.mean)
    # A special cause's direction: its side of the mean, except a trend-only signal, which goes
    # the way the trend goes (a rising trend below the mean is still a rise).
    direction = np.where(outside | two | shift, side, trend_dir)
    special = outside | two | shift | trend
    if polarity == "none":
        variation = np.where(special, "neutral", "common cause")
    else:
        good = 1 if polarity == "higher" else -1
        variation = np.where(~special, "common cause",
                             np.where(direction == good, "improvement",
                                      np.where(direction == -good, "concern", "neutral")))

    def spread(point_values, fill):
        full = np.full(len(v_all), fill, dtype=object if isinstance(fill, str) or fill is None else None)
        full[present] = point_values
        return full

    sigma = limits.sigma
    out = pd.DataFrame({
        "value": v_all, "in_baseline": base.to_numpy(), "mean": limits.mean,
        "lower_limit": limits.lower, "upper_limit": limits.upper,
        "lower_2sigma": limits.mean - 2 * sigma, "upper_2sigma": limits.mean + 2 * sigma,
        "lower_1sigma": limits.mean - sigma, "upper_1sigma": limits.mean + sigma,
        "outside_limits": spread(outside, False).astype(bool), "two_of_three": spread(two, False).astype(bool),
        "shift": spread(shift, False).astype(bool), "trend": spread(trend, False).astype(bool),
        "special_cause": spread(special, False).astype(bool),
        "variation": spread(variation, None),
    }, index=values.index)
    out.attrs.update(mean=limits.mean, mean_moving_range=limits.mean_moving_range,
                     lower_limit=limits.lower, upper_limit=limits.upper, n_baseline=limits.n_baseline,
                     polarity=polarity)
    return out


def summary(chart: pd.DataFrame, target: float | None = None) -> dict:
    """Series-level reading of a chart: the latest point's variation type and, with a target,
    assurance ("consistently passes", "consistently fails" or "hit and miss") from where the
    process limits sit relative to the target.
    """
    latest = chart[chart["value"].notna()].tail(1)
    polarity = chart.attrs.get("polarity", "none")
    result = {
        "latest_period": latest.index[0] if len(latest) else None,
        "latest_value": float(latest["value"].iloc[0]) if len(latest) else np.nan,
        "latest_variation": latest["variation"].iloc[0] if len(latest) else None,
        "n_special_cause": int(chart["special_cause"].sum()),
        "mean": chart.attrs.get("mean"),
        "lower_limit": chart.attrs.get("lower_limit"),
        "upper_limit": chart.attrs.get("upper_limit"),
        "assurance": None,
    }
    if target is not None and polarity != "none":
        low, high = chart.attrs["lower_limit"], chart.attrs["upper_limit"]
        passes = low > target if polarity == "higher" else high < target
        fails = high < target if polarity == "higher" else low > target
        result["assurance"] = "consistently passes" if passes else "consistently fails" if fails else "hit and miss"
    return result
