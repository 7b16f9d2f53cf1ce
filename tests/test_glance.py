"""Spine chart positions, recent trends and Making Data Count icons (indicators.glance): hand-worked cases."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from indicators.glance import (assurance, recent_trend, spine_position, spine_summary, summarise_icons, trend_words,
                               variation_icon)


def test_spine_puts_england_at_zero_and_worse_on_the_left():
    values = [10, 20, 30, 40, 60]
    s = spine_summary(values, 30.0, "lower")
    assert (s["lowest"], s["q25"], s["q75"], s["highest"]) == (10, 20, 40, 60)
    assert s["scale"] == 30  # the furthest area from England: 60 - 30
    assert spine_position(30.0, 30.0, s) == 0
    assert spine_position(60.0, 30.0, s) == -1  # highest is worst when lower is better: left end
    assert spine_position(15.0, 30.0, spine_summary(values, 30.0, "higher")) == pytest.approx(-0.5)
    assert math.isnan(spine_position(float("nan"), 30.0, s))


def test_recent_trend_on_the_last_five_points():
    assert recent_trend([5, 1, 2, 3, 4, 5]) == "increasing"  # the first point is not among the last five
    assert recent_trend([10, 9, 8, 7, 6]) == "decreasing"
    assert recent_trend([5, 6, 4, 6, 5]) == "no significant change"
    assert recent_trend([1, 2, 3]) == ""
    # With intervals: a rise of 1 a year with standard errors of 5 is no significant change
    y = np.array([50.0, 51, 52, 53, 54])
    assert recent_trend(y, y - 9.8, y + 9.8) == "no significant change"
    assert recent_trend(y, y - 0.098, y + 0.098) == "increasing"


def test_trend_words_say_better_or_worse_with_an_arrow():
    assert trend_words("decreasing", "lower") == "\u2193 decreasing, getting better"
    assert trend_words("increasing", "lower") == "\u2191 increasing, getting worse"
    assert trend_words("increasing", "none") == "\u2191 increasing"


def test_variation_icons_and_summary():
    assert variation_icon("improvement", 5.0, 4.0) == "Special cause improvement (high)"
    assert variation_icon("concern", 3.0, 4.0) == "Special cause concern (low)"
    assert variation_icon(None, 3.0, 4.0) == "Not charted"
    frame = pd.DataFrame({"Variation": ["Common cause variation"] * 2 + ["Special cause concern (high)"],
                          "Assurance": ["Hit and miss against England"] * 3})
    table = summarise_icons(frame)
    assert table.values.tolist() == [["Variation", "Common cause variation", 2],
                                     ["Variation", "Special cause concern (high)", 1],
                                     ["Assurance", "Hit and miss against England", 3]]


def test_assurance_reads_the_latest_points_not_the_baseline():
    """A lower-is-better series that sat near 10 and has moved to near 30: against England at 20 the
    baseline limits would pass, the current process (latest 12 points) consistently fails."""
    wiggle = np.tile([-0.5, 0.5], 6)
    values = pd.Series(np.concatenate([10 + wiggle, 30 + wiggle]))
    assert assurance(values, "lower", 20.0) == "consistently fails"
    assert assurance(values.iloc[:12], "lower", 20.0) == "consistently passes"
    assert assurance(values, "higher", 20.0) == "consistently passes"
    assert assurance(pd.Series([9.0, 31.0, 10.0, 29.0]), "lower", 20.0) == "hit and miss"
    assert assurance(values, "none", 20.0) is None
    assert assurance(values, "lower", float("nan")) is None
    assert assurance(pd.Series([1.0]), "lower", 20.0) is None
