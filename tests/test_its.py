"""Segmented regression: textbook answer on an exact series, agreement with statsmodels HAC."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from indicators.did import treatment_phase
from indicators.its import its_batch, its_design, newey_west_lags, segmented_regression

PERIODS = pd.date_range("2010-04-01", periods=36, freq="3MS")
PHASE = treatment_phase(PERIODS, "quarter", "2013-10-01", "2013-04-01", "2014-03-31")


def test_hand_worked_segmented_regression_is_exact():
    # y = 100 + 2*years, then +5 at the first post period and slope +1/year after it, Q2 +3.
    design, keep = its_design(PERIODS, "quarter", PHASE)
    years = design["time"].to_numpy()
    t1 = years[PHASE == "post"][0]
    q2 = ((PERIODS.month - 4) % 12 // 3 + 1 == 2).astype(float)
    y = 100 + 2 * years + np.where(PHASE == "post", 5 + 1.0 * (years - t1), 0) + 3 * q2
    fit = segmented_regression(pd.Series(y, index=PERIODS), "quarter", PHASE)
    assert fit.level_change == pytest.approx(5.0, abs=1e-9)
    assert fit.slope_change == pytest.approx(1.0, abs=1e-9)
    post_years = years[PHASE == "post"] - t1
    assert fit.effect == pytest.approx(5 + post_years.mean(), abs=1e-9)
    cf = fit.series.loc[fit.series["phase"] == "post", "counterfactual"].to_numpy()
    np.testing.assert_allclose(cf, (100 + 2 * years + 3 * q2)[PHASE == "post"], atol=1e-8)


def test_agrees_with_statsmodels_hac():
    rng = np.random.default_rng(4)
    y = 50 + np.cumsum(rng.normal(0, 1, 36)) * 0.5 + rng.normal(0, 1, 36)
    fit = segmented_regression(pd.Series(y, index=PERIODS), "quarter", PHASE)
    design, keep = its_design(PERIODS, "quarter", PHASE)
    lags = newey_west_lags(int(keep.sum()))
    res = sm.OLS(y[keep], design[keep]).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True})
    assert fit.maxlags == lags == 3
    assert fit.level_change == pytest.approx(res.params["level_change"], abs=1e-8)
    assert fit.slope_change == pytest.approx(res.params["slope_change"], abs=1e-8)
    lo, hi = res.conf_int().loc["level_change"]
    assert fit.level_ci[0] == pytest.approx(lo, abs=1e-8) and fit.level_ci[1] == pytest.approx(hi, abs=1e-8)
    assert fit.level_p == pytest.approx(res.pvalues["level_change"], abs=1e-8)


def test_batch_equals_single_fits_including_missing_values():
    rng = np.random.default_rng(6)
    y = 80 + rng.normal(0, 2, (4, 36)) + np.linspace(0, 6, 36)
    y[2, 5] = np.nan
    batch = its_batch(y, PERIODS, "quarter", PHASE)
    for i in range(4):
        single = segmented_regression(pd.Series(y[i], index=PERIODS), "quarter", PHASE)
        assert batch["effect"][i] == pytest.approx(single.effect, abs=1e-8)
        assert batch["ci_low"][i] == pytest.approx(single.ci_low, abs=1e-8)
        assert batch["effect_pct"][i] == pytest.approx(single.effect_pct, abs=1e-8)


def test_monthly_and_yearly_designs():
    months = pd.date_range("2011-04-01", periods=96, freq="MS")
    design, _ = its_design(months, "month", treatment_phase(months, "month", "2015-04-01", "2015-01-01", "2015-03-31"))
    assert sum(c.startswith("m") for c in design.columns) == 11
    years = pd.date_range("2010-04-01", periods=9, freq="12MS")
    design, _ = its_design(years, "year", treatment_phase(years, "year", "2013-10-01", "2013-04-01", "2014-03-31"))
    assert list(design.columns) == ["const", "time", "level_change", "slope_change"]
