"""Making Data Count XmR chart: limits by hand, each rule triggered and just not triggered."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.errors import DataError
from indicators.spc import (LIMIT_FACTOR, Limits, baseline_mask, rule_outside_limits, rule_shift,
                            rule_trend, rule_two_of_three, spc, summary, xmr_limits)

# Limits with mean 0 and sigma exactly 1: process limits at +/-3, 2-sigma lines at +/-2.
UNIT = Limits(mean=0.0, mean_moving_range=3 / LIMIT_FACTOR, n_baseline=20)


def s(values) -> pd.Series:
    return pd.Series(values, dtype=float)


def test_limits_by_hand():
    # 10, 12, 11, 13, 14: mean 12; moving ranges 2, 1, 2, 1 -> mean 1.5;
    # limits 12 +/- 2.66 * 1.5 = 8.01 and 15.99; sigma = 1.5 * 2.66 / 3 = 1.33.
    chart = spc(s([10, 12, 11, 13, 14]), "higher")
    assert chart.attrs["mean"] == pytest.approx(12.0)
    assert chart.attrs["mean_moving_range"] == pytest.approx(1.5)
    assert chart["lower_limit"].iloc[0] == pytest.approx(8.01)
    assert chart["upper_limit"].iloc[0] == pytest.approx(15.99)
    assert chart["upper_2sigma"].iloc[0] == pytest.approx(12 + 2.66)
    assert chart["lower_1sigma"].iloc[0] == pytest.approx(12 - 1.33)
    assert (chart["variation"] == "common cause").all()


def test_baseline_is_fixed_by_points_or_end_date():
    values = pd.Series([10, 12, 11, 13, 14, 50, 60, 70.0],
                       index=pd.date_range("2012-04-01", periods=8, freq="QS-APR"))
    by_points = spc(values, "higher", baseline_points=5)
    by_date = spc(values, "higher", baseline_end="2013-04-01")
    for chart in (by_points, by_date):
        assert chart.attrs["mean"] == pytest.approx(12.0)
        assert chart.attrs["n_baseline"] == 5
        assert chart["in_baseline"].tolist() == [True] * 5 + [False] * 3
        assert chart["outside_limits"].tolist() == [False] * 5 + [True] * 3
        assert (chart["variation"].iloc[5:] == "improvement").all()
    with pytest.raises(DataError, match="not both"):
        baseline_mask(values, 5, "2013-04-01")
    with pytest.raises(DataError, match="at least 2"):
        spc(values, "higher", baseline_points=1)


def test_moving_range_outliers_are_screened():
    # Moving ranges: eight of 1 and one of 30 -> mean 38/9 = 4.22; 30 > 3.267 * 4.22, so dropped -> 1.
    values = s([10, 11, 10, 11, 10, 11, 10, 11, 10, 40])
    assert xmr_limits(values, baseline_mask(values)).mean_moving_range == pytest.approx(1.0)
    assert xmr_limits(values, baseline_mask(values), screen_outliers=False).mean_moving_range == pytest.approx(38 / 9)


def test_rule_outside_limits():
    got = rule_outside_limits(s([0, 3.1, -3.2, 2.9, 3.0, -3.0]), UNIT)
    assert got.tolist() == [False, True, True, False, False, False]  # on the limit is inside


def test_rule_two_of_three_triggers():
    got = rule_two_of_three(s([0.5, 2.5, 0.3, 2.2, 0.1]), UNIT)
    assert got.tolist() == [False, True, False, True, False]
    got = rule_two_of_three(s([-0.5, -2.5, -2.1, -0.3]), UNIT)
    assert got.tolist() == [False, True, True, False]


def test_rule_two_of_three_just_short():
    assert not rule_two_of_three(s([0.5, 2.5, 0.3, 0.2, 2.2]), UNIT).any()  # 2 beyond, but 4 apart
    assert not rule_two_of_three(s([2.5, -2.5, 2.2]), UNIT).any()  # opposite sides
    assert not rule_two_of_three(s([2.5, -0.1, 2.2]), UNIT).any()  # middle point below the mean
    assert not rule_two_of_three(s([1.9, 1.9, 1.9]), UNIT).any()  # within 2 sigma


def test_rule_shift_seven_triggers_six_does_not():
    six = s([-1, 0.5, 0.2, 1, 0.4, 0.3, 0.1, -0.2])
    seven = s([-1, 0.5, 0.2, 1, 0.4, 0.3, 0.1, 0.2, -0.2])
    assert not rule_shift(six, UNIT).any()
    assert rule_shift(seven, UNIT).tolist() == [False] + [True] * 7 + [False]
    below = s([-0.1] * 7)
    assert rule_shift(below, UNIT).all()
    on_mean = s([0.5, 0.2, 1, 0.0, 0.4, 0.3, 0.1, 0.2])  # a point on the mean breaks the run
    assert not rule_shift(on_mean, UNIT).any()
    assert rule_shift(six, UNIT, run_length=6).sum() == 6


def test_rule_trend_seven_triggers_six_does_not():
    six = s([5, 1, 2, 3, 4, 5, 6, 0])
    seven = s([5, 1, 2, 3, 4, 5, 6, 7, 0])
    assert not rule_trend(six).any()
    assert rule_trend(seven).tolist() == [False] + [True] * 7 + [False]
    falling = s([9, 8, 7, 6, 5, 4, 3])
    assert rule_trend(falling).all()
    tie = s([1, 2, 3, 3, 4, 5, 6, 7])  # an equal value breaks the trend
    assert not rule_trend(tie).any()


def test_typing_uses_polarity():
    # Baseline of 12 stable points (mean 10, last one above it), then a shift of 7 below the mean,
    # one point above it that ends the run, and one high outlier.
    base = [10, 9, 11] * 4
    values = s(base + [9.5, 9.6, 9.4, 9.5, 9.7, 9.3, 9.6, 10.2, 30])
    lower = spc(values, "lower", baseline_points=12)
    assert lower["shift"].iloc[12:19].all()
    assert (lower["variation"].iloc[12:19] == "improvement").all()
    assert lower["variation"].iloc[-1] == "concern"
    assert lower["variation"].iloc[-2] == "common cause"
    higher = spc(values, "higher", baseline_points=12)
    assert (higher["variation"].iloc[12:19] == "concern").all()
    assert higher["variation"].iloc[-1] == "improvement"
    neutral = spc(values, "none", baseline_points=12)
    assert (neutral["variation"].iloc[12:19] == "neutral").all() and neutral["variation"].iloc[-1] == "neutral"
    assert set(lower["variation"].iloc[:12]) == {"common cause"}


def test_trend_across_the_mean_takes_the_trend_direction():
    values = s([10, 11, 9, 10, 11, 9, 10, 11, 9, 10, 11, 9, 9.1, 9.3, 9.6, 10.1, 10.4, 10.6, 10.8])
    chart = spc(values, "higher", baseline_points=12)
    assert chart["trend"].iloc[11:].all()
    assert (chart["variation"].iloc[12:] == "improvement").all()  # includes points below the mean


def test_missing_values_are_kept_and_not_typed():
    values = s([10, 12, 11, np.nan, 13, 14])
    chart = spc(values, "lower")
    assert len(chart) == 6 and pd.isna(chart["variation"].iloc[3]) and not chart["special_cause"].iloc[3]
    assert chart.attrs["mean"] == pytest.approx(12.0)


def test_summary_latest_and_assurance():
    base = [10, 11, 9, 10, 11, 9, 10, 11, 9, 10, 11, 9]
    chart = spc(s(base + [30]), "lower", baseline_points=12)
    result = summary(chart, target=20)
    assert result["latest_variation"] == "concern" and result["n_special_cause"] == 1
    assert result["assurance"] == "consistently passes"  # upper limit (~13.5) below a lower-is-better target
    assert summary(chart, target=5)["assurance"] == "consistently fails"
    assert summary(chart, target=10)["assurance"] == "hit and miss"
    assert summary(chart)["assurance"] is None


def _reference_rules(v: list[float], mean: float, sigma: float, run: int = 7, trend: int = 7):
    """Plain loops written straight from the rule wording, to hold the vectorised rules to."""
    n = len(v)
    side = [(x > mean) - (x < mean) for x in v]
    beyond = [1 if x > mean + 2 * sigma else -1 if x < mean - 2 * sigma else 0 for x in v]
    two = [False] * n
    for i in range(n - 2):
        for d in (1, -1):
            if all(side[j] == d for j in range(i, i + 3)) and sum(beyond[j] == d for j in range(i, i + 3)) >= 2:
                for j in range(i, i + 3):
                    two[j] = two[j] or beyond[j] == d
    shift = [False] * n
    for i in range(n - run + 1):
        for d in (1, -1):
            if all(side[j] == d for j in range(i, i + run)):
                for j in range(i, i + run):
                    shift[j] = True
    rising = [False] * n
    for i in range(n - trend + 1):
        steps = [v[j + 1] - v[j] for j in range(i, i + trend - 1)]
        if all(st > 0 for st in steps) or all(st < 0 for st in steps):
            for j in range(i, i + trend):
                rising[j] = True
    return two, shift, rising


def test_vectorised_rules_match_plain_loops_on_random_series():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(3, 40))
        v = np.round(rng.normal(0, 1.3, n).cumsum() * rng.choice([0.0, 0.3, 1.0]) + rng.normal(0, 1, n), 1)
        two, shift, trend = _reference_rules(v.tolist(), 0.0, 1.0)
        series = s(v)
        assert rule_two_of_three(series, UNIT).tolist() == two, v
        assert rule_shift(series, UNIT).tolist() == shift, v
        assert rule_trend(series).tolist() == trend, v
