"""A site period with a member missing is left out, by one rule on both routes (issue 15 part 3)."""
import numpy as np
import pandas as pd
import pytest

from data.aggregate import MISSING_MEMBER_SHARE, aggregate, member_weights, missing_members
from data.panels import site_aggregate

MONTHS = pd.to_datetime(["2014-08-01", "2014-09-01", "2014-10-01"])
POPULATION = pd.Series({"EAST": 300_000.0, "WEST": 260_000.0, "ISLE": 2_000.0, "NEVER": 50_000.0})


def _obs(rows):
    out = []
    for code, counts in rows.items():
        for month, count in zip(MONTHS, counts):
            out.append({"indicator_id": "dtoc", "area_code": code, "period_start": month, "frequency": "month",
                        "numerator": count, "denominator": POPULATION[code],
                        "value": np.nan if np.isnan(count) else count / POPULATION[code] * 100_000})
    return pd.DataFrame(out)


def test_hand_made_missing_member_period_is_left_out():
    # A two-LA site like Cheshire: WEST did not report Sep 2014, so EAST alone would stand in for the site.
    obs = _obs({"EAST": [900.0, 1055.0, 1100.0], "WEST": [500.0, np.nan, 700.0]})
    members = pd.DataFrame({"group": "site", "area_code": ["EAST", "WEST"]})
    out = aggregate(obs, members, pd.Series({"dtoc": 100_000.0}), POPULATION).set_index("period_start")
    assert out.loc["2014-08-01", "value"] == pytest.approx(1400 / 560_000 * 100_000)  # by hand: 250.0
    assert out.loc["2014-10-01", "value"] == pytest.approx(1800 / 560_000 * 100_000)
    sep = out.loc["2014-09-01"]
    assert np.isnan(sep["value"]) and np.isnan(sep["numerator"]) and np.isnan(sep["denominator"])
    assert sep["flag"] == "incomplete;member_missing" and sep["n_areas"] == 1
    # Without the rule the month would read as EAST's rate (357.9), not the site's.
    kept = aggregate(obs, members, pd.Series({"dtoc": 100_000.0}), POPULATION, leave_out_missing=False)
    assert kept.set_index("period_start").loc["2014-09-01", "value"] == pytest.approx(1055 / 300_000 * 100_000)


def test_a_small_member_missing_is_kept_and_one_never_reporting_is_not_expected():
    # ISLE holds 2,000 of 302,000 people (0.7% < 5%): its gap is kept, flagged incomplete. NEVER has no
    # value in any period: it is not expected, so no period is incomplete for it.
    obs = _obs({"EAST": [900.0, 1055.0, 1100.0], "ISLE": [3.0, np.nan, 4.0], "NEVER": [np.nan] * 3})
    members = pd.DataFrame({"group": "site", "area_code": ["EAST", "ISLE", "NEVER"]})
    out = aggregate(obs, members, pd.Series({"dtoc": 100_000.0}), POPULATION).set_index("period_start")
    assert 2_000 / 302_000 < MISSING_MEMBER_SHARE
    assert out.loc["2014-09-01", "value"] == pytest.approx(1055 / 300_000 * 100_000)
    assert out.loc["2014-09-01", "flag"] == "incomplete"
    assert out["value"].notna().all()


def test_matrix_route_leaves_out_the_same_periods():
    obs = _obs({"EAST": [900.0, 1055.0, 1100.0], "WEST": [500.0, np.nan, 700.0], "ISLE": [3.0, np.nan, 4.0]})
    areas = ["EAST", "WEST", "ISLE"]
    mats = [obs.pivot(index="area_code", columns="period_start", values=c).reindex(index=areas).to_numpy(float)
            for c in ("numerator", "denominator", "value")]
    members = np.array([[1, 1, 0], [1, 0, 1]], dtype=float)  # site 1: EAST + WEST; site 2: EAST + ISLE
    weights = member_weights(POPULATION, areas)
    num, den, value = site_aggregate(*mats, members, 100_000.0, weights)
    reported, expected, left_out = missing_members(np.isfinite(mats[2]), members, weights)
    assert left_out.tolist() == [[False, True, False], [False, False, False]]
    assert reported[0].tolist() == [2, 1, 2] and expected.tolist() == [2, 2]
    assert np.isnan(value[0, 1]) and np.isnan(num[0, 1]) and value[1, 1] == pytest.approx(1055 / 300_000 * 100_000)
    frame = aggregate(obs, pd.DataFrame({"group": ["s1", "s1", "s2", "s2"], "area_code": ["EAST", "WEST", "EAST", "ISLE"]}),
                      pd.Series({"dtoc": 100_000.0}), POPULATION)
    wide = frame.pivot(index="group", columns="period_start", values="value").to_numpy()
    np.testing.assert_allclose(value, wide, rtol=1e-12)


def test_the_page_says_which_periods_were_left_out(demo_dir, demo):
    """The site-indicator page names each left-out period and how many members reported (not anonymised)."""
    import json

    from plotly.utils import PlotlyJSONEncoder

    from data.active import set_active_dataset
    from data.panels import indicator_panels, left_out_periods
    from tests.serving_support import shared_app
    from tests.test_dashboard_ux import render

    set_active_dataset(demo_dir)
    shared_app()
    gaps = left_out_periods(indicator_panels(demo)["dtoc"], "cheshire")
    assert gaps, "the demo should hold a Cheshire DTOC month with a member LA missing"
    start, n, expected = gaps[0]
    text = json.dumps(render("/site/cheshire/indicator/dtoc"), cls=PlotlyJSONEncoder)
    assert f"{start:%b %Y} left out: {n} of {expected} member LAs reported" in text
    assert "left-out-periods" in text
    anon = json.dumps(render("/site/cheshire/indicator/dtoc?anon=1"), cls=PlotlyJSONEncoder)
    assert f"{start:%b %Y} left out: a member LA did not report" in anon and f"of {expected} member" not in anon
