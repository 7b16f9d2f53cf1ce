"""Minimum detectable effect from the placebo distribution (indicators/power.py)."""
import numpy as np
import pytest

from indicators.did import placebo_half_width, placebo_p_value
from indicators.power import critical_value, detection_power, minimum_detectable_effect


def test_hand_worked_case():
    # 19 placebo effects -9..9: m = floor(0.05 * 20) = 1, so the critical value is the largest |e| = 9.
    # For tau > 0 an estimate tau + e is significant when e >= 9 - tau; 80% of 19 draws is 15.2, so 16
    # draws are needed: e in -6..9, i.e. 9 - tau <= -6, tau >= 15. Just below 15 only 15 draws (78.9%).
    placebo = np.arange(-9, 10, dtype=float)
    assert critical_value(placebo) == 9 == placebo_half_width(placebo)
    assert minimum_detectable_effect(placebo) == pytest.approx(15.0)
    assert detection_power(15.0, placebo) == pytest.approx(16 / 19)
    assert detection_power(14.99, placebo) == pytest.approx(15 / 19)
    # Normal version: (1.959964 + 0.841621) x SD; SD (ddof 1) of -9..9 = sqrt(570 / 18).
    assert minimum_detectable_effect(placebo, method="normal") == pytest.approx(2.801585 * np.sqrt(570 / 18), rel=1e-6)


def test_skewed_placebos_need_a_larger_effect_on_the_long_side():
    # Mirror a skewed set: the quantile MDE takes the harder direction, so it is the same either way.
    rng = np.random.default_rng(3)
    placebo = rng.gamma(1.0, 1.0, 99) - 1.0
    assert minimum_detectable_effect(placebo) == pytest.approx(minimum_detectable_effect(-placebo))


def test_too_few_placebos():
    assert np.isinf(minimum_detectable_effect(np.arange(10.0)))  # 10 < 19: the rank test cannot reach 5%
    assert np.isnan(minimum_detectable_effect(np.array([np.nan, 1.0])))
    with pytest.raises(ValueError, match="unknown MDE method"):
        minimum_detectable_effect(np.arange(30.0), method="bootstrap")


@pytest.mark.parametrize("shape", ["normal", "t3"])
def test_planted_effect_of_the_mde_is_detected_about_80_percent_of_the_time(shape):
    rng = np.random.default_rng(2015)
    draw = (lambda n: rng.normal(0.0, 2.0, n)) if shape == "normal" else (lambda n: rng.standard_t(3, n))
    placebo = draw(199)
    mde = minimum_detectable_effect(placebo)
    assert np.isfinite(mde) and mde > 0
    detected = {}
    for size in (mde, mde / 2):
        for sign in (1, -1):
            estimates = sign * size + draw(4000)
            detected[(size, sign)] = np.mean([placebo_p_value(e, placebo) <= 0.05 for e in estimates])
    for sign in (1, -1):
        assert 0.72 <= detected[(mde, sign)] <= 0.90, detected
        assert detected[(mde / 2, sign)] < 0.5, detected  # half the MDE is mostly missed
    if shape == "normal":  # the normal version agrees with the quantile one on normal placebos
        assert minimum_detectable_effect(placebo, method="normal") == pytest.approx(mde, rel=0.15)
