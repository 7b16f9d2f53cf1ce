"""Per-site DiD: textbook 2x2, agreement with statsmodels and linearmodels, placebo inference."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from indicators.did import (panel_did, event_study_coefficients, placebo_half_width, placebo_p_value,
                            pre_trend_test, site_did, treatment_phase)


def test_two_by_two_textbook():
    # Site 10 -> 16, comparator 8 -> 11: DiD = (16 - 10) - (11 - 8) = 3.
    y = np.array([[[10.0, 16.0], [8.0, 11.0]]])
    fit = panel_did(y, post=np.array([False, True]))
    assert fit.effect[0] == pytest.approx(3.0, abs=1e-12)


def test_balanced_panel_is_difference_of_mean_changes():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(1, 6, 10)) + 5
    post = np.arange(10) >= 6
    d = lambda row: row[post].mean() - row[~post].mean()  # noqa: E731
    expected = d(y[0, 0]) - np.mean([d(r) for r in y[0, 1:]])
    assert panel_did(y, post).effect[0] == pytest.approx(expected, abs=1e-12)


def _panel(seed: int, missing: bool):
    rng = np.random.default_rng(seed)
    n_areas, n_periods = 6, 24
    y = rng.normal(size=(n_areas, n_periods)) * 3 + rng.normal(size=(n_areas, 1)) * 10 + np.linspace(0, 5, n_periods)
    post = np.arange(n_periods) >= 14
    y[0, post] += 2.0
    keep = ~np.isin(np.arange(n_periods), [12, 13])  # a transition left out
    if missing:
        for a, t in [(0, 3), (0, 20), (2, 5), (3, 5), (4, 17), (5, 0), (1, 23)]:
            y[a, t] = np.nan
    long = pd.DataFrame([(f"a{a}", t, y[a, t], int(a == 0 and post[t]))
                         for a in range(n_areas) for t in range(n_periods) if keep[t] and np.isfinite(y[a, t])],
                        columns=["area", "period", "y", "d"])
    return y, post, keep, long


@pytest.mark.parametrize("missing", [False, True])
def test_agrees_with_statsmodels_dummies(missing):
    y, post, keep, long = _panel(11, missing)
    fit = panel_did(y[None], post, keep)
    ols = smf.ols("y ~ d + C(area) + C(period)", long).fit(cov_type="cluster", cov_kwds={"groups": long["area"]})
    np.testing.assert_allclose(fit.effect[0], ols.params["d"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.se_cluster[0], ols.bse["d"], rtol=1e-8)


@pytest.mark.parametrize("missing", [False, True])
def test_agrees_with_linearmodels_panelols(missing):
    from linearmodels.panel import PanelOLS

    y, post, keep, long = _panel(12, missing)
    fit = panel_did(y[None], post, keep)
    panel = long.set_index(["area", "period"])
    res = PanelOLS(panel["y"], panel[["d"]], entity_effects=True, time_effects=True).fit()
    np.testing.assert_allclose(fit.effect[0], res.params["d"], rtol=0, atol=1e-8)


def test_batched_equals_one_at_a_time():
    panels = np.stack([_panel(s, s % 2 == 0)[0] for s in range(5)])
    post, keep = _panel(0, False)[1:3]
    batch = panel_did(panels, post, keep).effect
    single = [panel_did(p[None], post, keep).effect[0] for p in panels]
    np.testing.assert_allclose(batch, single, atol=1e-10)


def test_event_study_agrees_with_statsmodels():
    y, post, keep, _ = _panel(13, True)
    ref = 11
    coef = event_study_coefficients(y[None, 0], y[None, 1:], ref)[0]
    long = pd.DataFrame([(a, t, y[a, t]) for a in range(y.shape[0]) for t in range(y.shape[1])
                         if np.isfinite(y[a, t])], columns=["area", "period", "y"])
    terms = [t for t in range(y.shape[1]) if t != ref and np.isfinite(y[0, t])]
    for t in terms:
        long[f"e{t}"] = ((long["area"] == 0) & (long["period"] == t)).astype(float)
    ols = smf.ols("y ~ " + " + ".join(f"e{t}" for t in terms) + " + C(area) + C(period)", long).fit()
    np.testing.assert_allclose(coef[terms], [ols.params[f"e{t}"] for t in terms], atol=1e-8)
    assert coef[ref] == 0


def test_placebo_p_and_interval_are_one_test():
    placebo = np.arange(1, 100, dtype=float)  # |placebo| = 1..99, n = 99
    assert placebo_p_value(99.5, placebo) == pytest.approx(1 / 100)
    assert placebo_p_value(50.0, placebo) == pytest.approx((1 + 50) / 100)
    half = placebo_half_width(placebo, 0.05)  # m = floor(0.05 * 100) = 5 -> 5th largest = 95
    assert half == 95.0
    # p <= 0.05 exactly when 0 is outside effect +/- half
    for effect in (94.9, 95.0, 95.1, 96.5, -95.1):
        assert (placebo_p_value(effect, placebo) <= 0.05) == (abs(effect) > half)
    assert placebo_p_value(95.5, placebo) <= 0.05 and abs(95.5) > half
    assert placebo_p_value(94.5, placebo) > 0.05 and abs(94.5) < half
    assert placebo_half_width(np.ones(10), 0.05) == np.inf


def test_pre_trend_test_flags_a_diverging_site():
    rng = np.random.default_rng(5)
    draws = rng.normal(size=(200, 6))
    _, p_flat = pre_trend_test(np.zeros(6), draws)
    _, p_trend = pre_trend_test(np.linspace(-6, 0, 6), draws)
    assert p_flat > 0.5 and p_trend < 0.001


def test_treatment_phase_wave_one_quarters_and_years():
    q = pd.date_range("2012-04-01", "2014-07-01", freq="3MS")
    phase = treatment_phase(q, "quarter", "2013-10-01", "2013-04-01", "2014-03-31")
    assert list(phase) == ["pre"] * 4 + ["transition"] * 4 + ["post"] * 2
    y = pd.DatetimeIndex(["2013-04-01", "2014-04-01", "2015-04-01"])
    assert list(treatment_phase(y, "year", "2015-04-01", "2015-01-01", "2015-03-31")) == ["pre", "transition", "post"]


def test_site_did_planted_effect_and_interval_bounds():
    rng = np.random.default_rng(8)
    periods = pd.date_range("2010-04-01", periods=30, freq="3MS")
    phase = treatment_phase(periods, "quarter", "2013-10-01", "2013-04-01", "2014-03-31")
    base = 100 + np.linspace(0, 10, 30)
    site = pd.Series(base + rng.normal(0, 1, 30) + np.where(phase == "post", 7.0, 0), index=periods)
    comps = pd.DataFrame(base + rng.normal(0, 1, (5, 30)), columns=periods)
    p_site = base + rng.normal(0, 1, (80, 30))
    p_comp = base + rng.normal(0, 1, (80, 5, 30))
    from indicators.did import placebo_estimates
    fit = site_did(site, comps, phase, placebo=placebo_estimates(p_site, p_comp, phase))
    assert fit.effect == pytest.approx(7.0, abs=1.5)
    assert fit.ci_low <= fit.effect <= fit.ci_high
    assert fit.p_value == pytest.approx(1 / 81)
    assert fit.effect_pct == pytest.approx(fit.effect / (fit.post_mean - fit.effect) * 100)
    assert fit.cluster_ci_low < fit.effect < fit.cluster_ci_high
    es = fit.event_study
    assert es.loc[es["reference"], "coef"].item() == 0
    assert (es.loc[es["phase"] == "post", "coef"].mean()) == pytest.approx(7.0, abs=1.5)
