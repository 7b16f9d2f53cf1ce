"""Overdispersion-adjusted funnel limits (indicators.funnel): hand-worked numbers and a planted variance."""
from __future__ import annotations

import numpy as np
import pytest

from indicators.funnel import adjusted_limits, overdispersion, winsorise


def test_hand_worked_phi_and_tau2_without_winsorising():
    # Five areas, null SE 1 each, values 10 +/- (0, 1, 2, 3, 4) around a target of 10; share 0: no clipping.
    values = np.array([10.0, 11.0, 8.0, 13.0, 6.0])
    od = overdispersion(values, np.ones(5), 10.0, share=0.0)
    # z = 0, 1, -2, 3, -4 -> phi = (0 + 1 + 4 + 9 + 16) / 5 = 6
    assert od.phi == pytest.approx(6.0)
    # w = 1 each: sum w - sum w^2 / sum w = 5 - 1 = 4; tau^2 = (5 * 6 - 4) / 4 = 6.5
    assert od.tau2 == pytest.approx(6.5)
    low, high = adjusted_limits(10.0, np.array([1.0]), od.tau2, 1.96)
    assert high[0] == pytest.approx(10 + 1.96 * np.sqrt(7.5)) and low[0] == pytest.approx(10 - 1.96 * np.sqrt(7.5))


def test_no_overdispersion_gives_plain_limits():
    values = np.array([10.0, 10.5, 9.5, 10.2, 9.8])
    od = overdispersion(values, np.ones(5), 10.0, share=0.0)
    assert od.tau2 == 0.0


def test_winsorising_clips_the_tails():
    z = np.arange(11, dtype=float)  # 0..10: the 10th and 90th percentiles are 1 and 9
    assert winsorise(z, 0.1).tolist() == [1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]


def test_planted_between_area_variance_is_recovered():
    """150 areas with denominators from 1,000 to 1,000,000, rates around 500 per 100,000 with a planted
    between-area SD of 40: tau is estimated close to 40 and nearly all areas then fall inside the 99.8% limits."""
    rng = np.random.default_rng(14)
    n = np.geomspace(1e3, 1e6, 150)
    target, tau = 500.0, 40.0
    true_rate = target + rng.normal(0, tau, len(n))
    counts = rng.poisson(true_rate * n / 1e5)
    values = counts / n * 1e5
    se = np.sqrt(target * 1e5 / n)  # Poisson null SE of a rate per 100,000
    # Unwinsorised, the moment estimate recovers the planted variance.
    od = overdispersion(values, se, target, share=0.0)
    assert np.sqrt(od.tau2) == pytest.approx(tau, rel=0.25)
    low, high = adjusted_limits(target, se, od.tau2, 3.09)
    assert np.mean((values < low) | (values > high)) < 0.02
    # Winsorised at 10% (the default, robust to a few outliers) it is smaller but still widens the limits so
    # that most areas are inside, where plain limits put most large areas outside.
    robust = overdispersion(values, se, target)
    assert 0 < robust.tau2 < od.tau2
    low, high = adjusted_limits(target, se, robust.tau2, 3.09)
    plain_low, plain_high = adjusted_limits(target, se, 0.0, 3.09)
    plain_out = np.mean((values < plain_low) | (values > plain_high))
    assert np.mean((values < low) | (values > high)) < 0.05 < 0.1 < plain_out
