"""Plain-language readings say the direction, the size, and whether it could be chance."""
from __future__ import annotations

import math

import pandas as pd

from layouts.components.readings import did_reading, effects_table


def test_lower_is_better_and_clear():
    text = did_reading("Emergency admissions", -3.04, -20.0, -1.0, 0.03, "lower")
    assert text == ("Emergency admissions: 3.0% lower than expected from similar areas; a better result that is "
                    "unlikely to be chance alone (p = 0.03).")


def test_interval_spanning_zero_could_be_chance():
    text = did_reading("Falls admissions 65+", 2.5, -10.0, 14.0, 0.45, "lower")
    assert "2.5% higher" in text and "this could be chance" in text


def test_higher_is_better_and_clear_but_worse():
    text = did_reading("Deaths at home 65+", -4.0, -3.0, -0.5, 0.01, "higher")
    assert "worse result" in text


def test_missing_estimate_is_said_plainly():
    assert "no estimate" in did_reading("X", math.nan, math.nan, math.nan, math.nan, "lower")


def test_effects_table_has_one_row_per_estimate():
    catalogue = pd.DataFrame({"short_name": ["A", "B"], "polarity": ["lower", "higher"]}, index=["a", "b"])
    est = pd.DataFrame({"indicator_id": ["a", "b"], "effect": [-5.0, 1.0], "effect_pct": [-2.0, 0.5],
                        "ci_low": [-9.0, -2.0], "ci_high": [-1.0, 4.0], "p_value": [0.02, 0.6],
                        "pre_trend_p": [0.5, 0.7]})
    table = effects_table(est, catalogue)
    assert table["Indicator"].tolist() == ["A", "B"]
    assert table["95% interval (units)"].tolist() == ["-9.00 to -1.00", "-2.00 to 4.00"]
    assert table["What it means"].str.contains("could be chance").tolist() == [False, True]
