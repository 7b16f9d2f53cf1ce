"""Confidence intervals against published worked values and established implementations.

Tolerances: published values are given to 3-4 significant figures, so they are compared to
half a unit in the last published place; comparisons with scipy/statsmodels use rtol=1e-9.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from data.errors import DataError
from indicators.ci import (byar_count, byar_rate, ci_for, dobson, exact_poisson_count, wilson,
                           z_value)


# --- Wilson ------------------------------------------------------------------------------------

def test_wilson_published_example_3_of_10():
    # APHO Technical Briefing 3 / Newcombe and Altman: 3 of 10 -> 10.8% to 60.3% (95%).
    low, high = wilson(3, 10, multiplier=100)
    assert round(low, 1) == 10.8
    assert round(high, 1) == 60.3


def test_wilson_matches_statsmodels_at_both_fingertips_levels():
    rng = np.random.default_rng(1)
    n = rng.integers(1, 5000, 400)
    x = rng.binomial(n, rng.uniform(0, 1, 400))
    x[:3], n[:3] = [0, 5, 7], [10, 5, 7]  # the edges: 0% and 100%
    for level in (0.95, 0.998):
        low, high = wilson(x, n, level)
        ref_low, ref_high = proportion_confint(x, n, alpha=1 - level, method="wilson")
        assert_allclose(low, ref_low, rtol=1e-9, atol=1e-12)
        assert_allclose(high, ref_high, rtol=1e-9, atol=1e-12)


def test_wilson_keeps_series_index_and_blanks_missing():
    x = pd.Series([3.0, np.nan, 0.0], index=["a", "b", "c"])
    n = pd.Series([10.0, 10.0, 0.0], index=["a", "b", "c"])
    low, high = wilson(x, n, multiplier=100)
    assert list(low.index) == ["a", "b", "c"]
    assert np.isnan(low["b"]) and np.isnan(high["b"])
    assert np.isnan(low["c"])  # zero denominator: no interval, no error


def test_wilson_refuses_impossible_counts():
    with pytest.raises(DataError, match="exceeds denominator"):
        wilson([11], [10])
    with pytest.raises(DataError, match="negative"):
        wilson([-1], [10])


# --- Byar and exact Poisson -----------------------------------------------------------------

# Exact Poisson 95% limits for small counts, as tabulated (e.g. APHO TB3 / Garwood 1936 tables).
POISSON_TABLE = {0: (0.0, 3.689), 1: (0.0253, 5.572), 5: (1.624, 11.668), 9: (4.115, 17.085)}


@pytest.mark.parametrize("count, limits", POISSON_TABLE.items())
def test_exact_poisson_against_published_table(count, limits):
    low, high = exact_poisson_count(count)
    assert low == pytest.approx(limits[0], abs=6e-4)
    assert high == pytest.approx(limits[1], abs=6e-4)


def test_exact_poisson_against_scipy_chi2_limits():
    counts = np.arange(0, 200)
    for level in (0.95, 0.998):
        a = 1 - level
        low, high = exact_poisson_count(counts, level)
        expected_low = np.array([0.0] + [stats.chi2.ppf(a / 2, 2 * k) / 2 for k in counts[1:]])
        expected_high = np.array([stats.gamma.ppf(1 - a / 2, k + 1) for k in counts])  # same limit via gamma
        assert_allclose(low, expected_low, rtol=1e-9)
        assert_allclose(high, expected_high, rtol=1e-9)


def test_byar_uses_exact_below_ten_and_byar_from_ten():
    counts = np.arange(0, 30)
    low, high = byar_count(counts)
    ex_low, ex_high = exact_poisson_count(counts)
    assert_allclose(low[:10], ex_low[:10], rtol=1e-12)
    assert_allclose(high[:10], ex_high[:10], rtol=1e-12)
    # From 10 events Byar's formula is used: close to exact but not identical.
    assert not np.allclose(low[10:], ex_low[10:], rtol=1e-6)
    # Byar at 10 events against the published exact limits 4.795 and 18.390: within 0.2%.
    assert low[10] == pytest.approx(4.795, rel=2e-3)
    assert high[10] == pytest.approx(18.390, rel=2e-3)


def test_byar_hand_worked_10_events():
    # By hand: z = 1.959964; lower = 10 (1 - 1/90 - z/(3 sqrt 10))^3 = 4.7874;
    # upper = 11 (1 - 1/99 + z/(3 sqrt 11))^3 = 18.3915.
    low, high = byar_count(10)
    assert low == pytest.approx(4.7874, abs=1e-4)
    assert high == pytest.approx(18.3915, abs=1e-4)


def test_byar_close_to_exact_for_large_counts_at_998():
    counts = np.array([10, 50, 200, 1_000, 100_000])
    low, high = byar_count(counts, 0.998)
    ex_low, ex_high = (np.array(v) for v in zip(*[exact_poisson_count(int(c), 0.998) for c in counts]))
    assert_allclose(low, ex_low, rtol=0.02)
    assert_allclose(high, ex_high, rtol=0.02)
    assert_allclose(low[-1], ex_low[-1], rtol=1e-4)


def test_byar_rate_scales_count_limits():
    low, high = byar_rate(np.array([250.0]), np.array([100_000.0]), multiplier=100_000)
    c_low, c_high = byar_count(250.0)
    assert_allclose([low[0], high[0]], [c_low, c_high], rtol=1e-12)
    assert z_value(0.998) == pytest.approx(3.0902, abs=1e-4)


# --- Dobson -------------------------------------------------------------------------------------

def test_dobson_hand_worked_two_age_bands():
    # Two age bands with standard weights 3 and 1:
    #   band 1: 20 events in 1,000 people; band 2: 30 events in 500 people.
    # DSR = (3*20/1000 + 1*30/500)/4 = 0.06 -> 6,000 per 100,000.
    # var = (9*20/1000^2 + 1*30/500^2)/16 = 1.875e-5 per person^2 -> *1e10 = 187,500 (per 100,000)^2.
    # O = 50; Byar limits of 50: L = 50 (1 - 1/450 - z/(3 sqrt 50))^3 = 37.108,
    #                             U = 51 (1 - 1/459 + z/(3 sqrt 51))^3 = 65.920.
    # Dobson: 6000 + sqrt(187500/50) * (L - 50) = 6000 + 61.237 * (-12.892) = 5210.5,
    #         6000 + 61.237 * 15.920 = 6974.9.
    o_low, o_high = byar_count(50.0)
    low, high = dobson(50.0, 6000.0, dsr_variance=187_500.0)
    assert low == pytest.approx(6000 + np.sqrt(3750) * (o_low - 50), rel=1e-12)
    assert high == pytest.approx(6000 + np.sqrt(3750) * (o_high - 50), rel=1e-12)
    assert (round(o_low, 3), round(o_high, 3)) == (37.108, 65.920)
    assert (round(low, 1), round(high, 1)) == (5210.5, 6974.9)


def test_dobson_without_per_age_variance_equals_byar_for_a_crude_rate():
    counts = np.array([10.0, 57.0, 1234.0])
    population = np.array([5_000.0, 20_000.0, 300_000.0])
    dsr = counts / population * 100_000
    low, high = dobson(counts, dsr)
    b_low, b_high = byar_rate(counts, population, multiplier=100_000)
    assert_allclose(low, b_low, rtol=1e-12)
    assert_allclose(high, b_high, rtol=1e-12)


def test_dobson_left_blank_below_ten_events():
    low, high = dobson(np.array([9.0, 10.0]), np.array([500.0, 520.0]))
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert np.isfinite(low[1]) and np.isfinite(high[1])


# --- Dispatch -----------------------------------------------------------------------------------

def test_ci_for_dispatches_on_catalogue(reference):
    cat = reference.catalogue.set_index("indicator_id")
    num, den = pd.Series([30.0, 400.0]), pd.Series([100.0, 100_000.0])
    for indicator_id, row in cat.iterrows():
        low, high = ci_for(row, num, den, row["multiplier"])
        if row["ci_method"] == "wilson":
            expected = wilson(num, den, multiplier=row["multiplier"])
        elif row["ci_method"] == "byar":
            expected = byar_rate(num, den, multiplier=row["multiplier"])
        else:
            expected = dobson(num, num / den * row["multiplier"])
        assert_allclose(low, expected[0], rtol=1e-12, err_msg=indicator_id)
        assert_allclose(high, expected[1], rtol=1e-12, err_msg=indicator_id)
    assert {"wilson", "byar", "dobson"} <= set(cat["ci_method"])


def test_ci_for_accepts_a_method_name_and_refuses_unknown():
    low, _ = ci_for("Wilson", 3, 10, 100)
    assert round(low, 1) == 10.8
    with pytest.raises(DataError, match="unknown CI method"):
        ci_for("normal", 3, 10, 100)
    with pytest.raises(DataError, match="ci_method"):
        ci_for({"name": "x"}, 3, 10, 100)
    with pytest.raises(DataError, match="confidence level"):
        ci_for("byar", 3, 10, 100, level=95)


def test_scalars_give_floats_and_arrays_keep_their_shape():
    low, high = byar_count(3)
    assert isinstance(low, float) and low == pytest.approx(exact_poisson_count(3)[0], rel=1e-12)
    grid = np.array([[1.0, 20.0], [3.0, np.nan]])
    low, high = byar_count(grid)
    assert low.shape == (2, 2) and np.isnan(low[1, 1])
    assert low[0, 1] == pytest.approx(byar_count(20.0)[0], rel=1e-12)
    assert low[1, 0] == pytest.approx(exact_poisson_count(3.0)[0], rel=1e-12)
