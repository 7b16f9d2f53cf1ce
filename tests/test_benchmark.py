"""The Fingertips benchmarking rule, with polarity, scalar and vectorised."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from data.errors import DataError
from indicators.benchmark import Outcome, benchmark, benchmark_many

CASES = [
    # low, high, england, polarity, expected
    (80.0, 90.0, 100.0, "lower", Outcome.BETTER),
    (80.0, 90.0, 100.0, "higher", Outcome.WORSE),
    (80.0, 90.0, 100.0, "none", Outcome.LOWER),
    (110.0, 120.0, 100.0, "lower", Outcome.WORSE),
    (110.0, 120.0, 100.0, "higher", Outcome.BETTER),
    (110.0, 120.0, 100.0, "none", Outcome.HIGHER),
    (95.0, 105.0, 100.0, "lower", Outcome.SIMILAR),
    (95.0, 105.0, 100.0, "none", Outcome.SIMILAR),
    # an interval touching England's value is not entirely above or below it
    (100.0, 105.0, 100.0, "higher", Outcome.SIMILAR),
    (90.0, 100.0, 100.0, "lower", Outcome.SIMILAR),
    (np.nan, 105.0, 100.0, "lower", Outcome.NOT_COMPARED),
    (95.0, 105.0, np.nan, "higher", Outcome.NOT_COMPARED),
    (None, None, 100.0, "none", Outcome.NOT_COMPARED),
]


@pytest.mark.parametrize("low, high, england, polarity, expected", CASES)
def test_rule(low, high, england, polarity, expected):
    assert benchmark(low, high, england, polarity) is expected


def test_vectorised_matches_scalar_rule():
    frame = pd.DataFrame(CASES, columns=["low", "high", "england", "polarity", "expected"], index=range(10, 23))
    got = benchmark_many(frame["low"].astype(float), frame["high"].astype(float), frame["england"], frame["polarity"])
    assert got.index.equals(frame.index)
    assert got.tolist() == frame["expected"].tolist()


def test_vectorised_with_scalar_england_and_polarity():
    got = benchmark_many(np.array([1.0, 4.0, 6.0]), np.array([2.0, 6.0, 7.0]), 5.0, "higher")
    assert got.tolist() == [Outcome.WORSE, Outcome.SIMILAR, Outcome.BETTER]


def test_every_outcome_has_words_and_a_distinct_colour():
    colours = [o.colour for o in Outcome]
    assert len(set(colours)) == len(Outcome)
    for outcome in Outcome:
        assert re.fullmatch(r"#[0-9A-F]{6}", outcome.colour)
        assert outcome.label and outcome.value in outcome.label.lower()
    assert Outcome("better") is Outcome.BETTER and Outcome.BETTER == "better"


def test_unknown_polarity_is_refused():
    with pytest.raises(DataError, match="polarity"):
        benchmark(1.0, 2.0, 3.0, "up")
    with pytest.raises(DataError, match="polarity"):
        benchmark_many([1.0], [2.0], 3.0, ["down"])
