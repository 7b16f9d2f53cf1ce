"""Pooled group-time ATTs against the `differences` package (Callaway-Sant'Anna implementation)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from indicators.pooled import pooled_att

TOL = 1e-8  # ATTs; standard errors to rtol 1e-6


def _staggered_panel(seed: int = 0, n: int = 60, t_max: int = 14):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        g = 7 if i < 8 else (10 if i < 15 else np.nan)
        level = rng.normal(0, 3)
        for t in range(1, t_max + 1):
            effect = 2.0 + 0.3 * (t - g) if g == g and t >= g else 0.0
            rows.append((i, t, level + 0.5 * t + effect + rng.normal(), g))
    return pd.DataFrame(rows, columns=["id", "t", "y", "g"])


def _phases(t_max: int, first_post: int, transition: int) -> np.ndarray:
    t = np.arange(1, t_max + 1)
    return np.where(t < first_post - transition, "pre", np.where(t >= first_post, "post", "transition"))


def test_textbook_two_cohort_example():
    # Two cohorts of one unit, two never-treated; hand-worked ATT(g,t) = treated change - control change.
    values = pd.DataFrame([[1.0, 2.0, 6.0], [1.0, 1.0, 1.0], [0.0, 1.0, 2.0], [2.0, 3.0, 4.0]],
                          index=["a", "b", "c", "d"], columns=[1, 2, 3])
    cohort = pd.Series({"a": "w1", "b": "w2"})
    phases = {"w1": np.array(["pre", "post", "post"]), "w2": np.array(["pre", "pre", "post"])}
    res = pooled_att(values, cohort, phases)
    gt = res.group_time.set_index(["cohort", "period_start"])["att"]
    assert gt[("w1", 2)] == pytest.approx(1 - 1)  # a: +1, controls: +1
    assert gt[("w1", 3)] == pytest.approx(5 - 2)  # a: +5, controls: +2
    assert gt[("w2", 3)] == pytest.approx(0 - 1)  # b base is t=2: 0 change vs controls +1
    summary = res.summary.set_index("aggregate")
    assert summary.at["all", "att"] == pytest.approx((0 + 3 + -1) / 3)  # equal cohort sizes


@pytest.mark.parametrize("transition", [0, 1])
def test_agrees_with_differences_package(transition):
    from differences import ATTgt

    data = _staggered_panel()
    # `differences` dates a cohort by its first treated period; a transition of length a is its
    # "anticipation" a, which moves the universal base to g - 1 - a, as the pooled estimator does.
    att = ATTgt(data=data.set_index(["id", "t"]), cohort_column="g", base_period="universal",
                anticipation=transition)
    att.fit(formula="y", control_group="never_treated", est_method="reg", n_jobs=1, progress_bar=False)
    ref_simple = att.aggregate("simple")
    ref_event = att.aggregate("event")
    ref_cohort = att.aggregate("cohort")

    values = data.pivot(index="id", columns="t", values="y")
    cohort = data.groupby("id")["g"].first().map({7: "w1", 10: "w2"})
    t_max = values.shape[1]
    ours = pooled_att(values, cohort, {"w1": _phases(t_max, 7, transition), "w2": _phases(t_max, 10, transition)})
    summary = ours.summary.set_index("aggregate")
    assert summary.at["all", "att"] == pytest.approx(ref_simple.iloc[0, 0], abs=TOL)
    assert summary.at["all", "se"] == pytest.approx(ref_simple.iloc[0, 1], rel=1e-6)
    for name, g in (("w1", 7), ("w2", 10)):
        assert summary.at[name, "att"] == pytest.approx(ref_cohort.loc[g].iloc[0], abs=TOL)
        assert summary.at[name, "se"] == pytest.approx(ref_cohort.loc[g].iloc[1], rel=1e-6)
    ev = ours.event_time.set_index("event_time")
    for e, row in ref_event.iterrows():
        if not np.isfinite(row.iloc[1]):  # the base period: no estimate
            continue
        assert ev.at[e, "att"] == pytest.approx(row.iloc[0], abs=TOL)
        assert ev.at[e, "se"] == pytest.approx(row.iloc[1], rel=1e-6)


def test_not_plain_twfe_under_heterogeneous_dynamics():
    """With effects growing over time and staggered timing, TWFE is biased; the cohort estimator
    recovers the mean of the true post-period effects."""
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(9)
    rows, truth = [], []
    for i in range(80):
        g = 4 if i < 20 else (9 if i < 40 else np.nan)
        for t in range(1, 13):
            eff = 1.0 * (t - g + 1) if g == g and t >= g else 0.0
            if eff:
                truth.append(eff)
            rows.append((i, t, 0.2 * t + eff + rng.normal(0, 0.1), g))
    data = pd.DataFrame(rows, columns=["id", "t", "y", "g"])
    values = data.pivot(index="id", columns="t", values="y")
    cohort = data.groupby("id")["g"].first().map({4: "w1", 9: "w2"})
    res = pooled_att(values, cohort, {"w1": _phases(12, 4, 0), "w2": _phases(12, 9, 0)})
    data["d"] = ((data["g"] <= data["t"]) & data["g"].notna()).astype(float)
    twfe = smf.ols("y ~ d + C(id) + C(t)", data).fit().params["d"]
    assert res.summary.set_index("aggregate").at["all", "att"] == pytest.approx(np.mean(truth), abs=0.05)
    assert abs(twfe - np.mean(truth)) > 0.5
