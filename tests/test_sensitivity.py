"""The sensitivity view: the estimate under named variants, the main one equal to the estimates table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.estimates import site_detail
from analysis.sensitivity import VARIANTS, Variant, _phase, sensitivity_table, stability_verdict
from data.errors import DataError
from indicators.did import POST, PRE, TRANSITION


@pytest.fixture(scope="module")
def leeds(demo):
    return sensitivity_table(demo, "leeds", "ea_all")


def test_every_variant_has_a_row(leeds):
    assert leeds["variant"].tolist() == [v.name for v in VARIANTS]
    assert {(r.k, r.method, r.transition) for r in leeds.itertuples()} >= {
        (3, "mahalanobis", "left out"), (5, "mahalanobis", "left out"), (10, "mahalanobis", "left out"),
        (5, "euclidean", "left out"), (5, "mahalanobis", "post")}
    assert leeds["is_main"].sum() == 1
    assert np.isfinite(leeds["effect"]).all() and (leeds["ci_low"] < leeds["ci_high"]).all()
    did = leeds["estimator"] == "did"
    assert leeds.loc[did, "n_comparators"].tolist() == [v.k for v in VARIANTS if v.estimator == "did"]
    assert leeds.loc[~did, "n_comparators"].gt(1).all()  # the synthetic control's donors with weight


def test_synthetic_control_variant_equals_the_table_scm_row(demo, leeds, demo_estimates):
    scm = leeds[leeds["estimator"] == "scm"]
    assert len(scm) == 1
    table = demo_estimates
    row = table[(table["site_id"] == "leeds") & (table["indicator_id"] == "ea_all") & (table["method"] == "scm")].iloc[0]
    for col in ("effect", "effect_pct", "ci_low", "ci_high", "p_value"):
        assert scm[col].iloc[0] == pytest.approx(row[col], rel=1e-9, abs=1e-12), col


def test_main_variant_equals_the_main_estimate_exactly(demo, leeds, demo_estimates):
    main = leeds[leeds["is_main"]].iloc[0]
    detail = site_detail(demo, "leeds", "ea_all")["did"].iloc[0]
    for col in ("effect", "effect_pct", "ci_low", "ci_high", "p_value"):
        assert main[col] == detail[col], col
    table = demo_estimates
    row = table[(table["site_id"] == "leeds") & (table["indicator_id"] == "ea_all") & (table["method"] == "did")].iloc[0]
    for col in ("effect", "effect_pct", "ci_low", "ci_high", "p_value"):
        assert main[col] == pytest.approx(row[col], rel=1e-12, abs=1e-12), col
    # The other variants really are different estimates, but weighting by population share: Leeds is one
    # whole LA, so it counts the same either way.
    weighted = leeds["weighting"] == "population_share"
    assert leeds.loc[~leeds["is_main"] & ~weighted, "effect"].ne(main["effect"]).all()
    assert leeds.loc[weighted, "effect"].iloc[0] == main["effect"]


def test_transition_counted_as_post_leaves_no_period_out(demo):
    d = demo.sites.set_index("site_id").loc["leeds"]
    periods = pd.date_range("2011-04-01", "2016-01-01", freq="QS-JAN")
    left_out = _phase(demo, "leeds", periods, "quarter", "left out")
    as_post = _phase(demo, "leeds", periods, "quarter", "post")
    assert (left_out == TRANSITION).any() and not (as_post == TRANSITION).any()
    # The transition's quarters are after the start under "post"; the pre-period is unchanged.
    assert (as_post[left_out == TRANSITION] == POST).all()
    assert (as_post[left_out == PRE] == PRE).all()
    assert pd.Timestamp(d["transition_start"]) < pd.Timestamp(d["start"])
    with pytest.raises(DataError, match="transition rule"):
        _phase(demo, "leeds", periods, "quarter", "sometimes")


def test_unknown_estimator_is_refused_by_name(demo):
    with pytest.raises(DataError, match="bayesian"):
        sensitivity_table(demo, "leeds", "ea_all", [Variant("Bayesian structural time series", estimator="bayesian")])


def _table(effects, lows, highs):
    return pd.DataFrame({"effect": effects, "ci_low": lows, "ci_high": highs})


def test_stability_verdict_by_hand():
    assert stability_verdict(_table([-1.0, -1.2], [-2.0, -2.1], [-0.1, -0.3])).startswith("Stable")
    # Same sign, but -3 lies outside the first interval.
    assert stability_verdict(_table([-1.0, -3.0], [-2.0, -4.0], [-0.1, -2.5])).startswith("Partly stable")
    assert stability_verdict(_table([-0.2, 0.3], [-2.0, -1.5], [1.5, 2.0])).startswith("Unclear direction")
    assert stability_verdict(_table([-1.0, 2.0], [-2.0, 1.5], [-0.5, 2.5])).startswith("Not stable")
    assert stability_verdict(_table([-1.0, np.nan], [-2.0, np.nan], [0.5, np.nan])).startswith("Too few")


def test_page_shows_forest_plot_table_and_verdict(demo_dir):
    from data.active import set_active_dataset
    from analysis import results
    from layouts.components import charts

    set_active_dataset(demo_dir)
    table, verdict = results.sensitivity("leeds", "ea_all")
    chart = charts.build(charts.ChartSpec("sensitivity", site="leeds", indicator_id="ea_all"))
    assert len(chart.table) == len(VARIANTS) and verdict in chart.colour_note
    main, others = chart.figure.data
    assert main.marker.symbol != others.marker.symbol
    assert main.x[0] == pytest.approx(table.loc[table["is_main"], "effect_pct"].iloc[0], abs=1e-4)
    slug = results.context().names.path_id("leeds", True)
    anon = charts.build(charts.ChartSpec("sensitivity", site=slug, indicator_id="ea_all", anon=True))
    assert "Leeds" not in anon.title and "leeds" not in anon.filename.lower()


def test_memoised_comparator_sets_give_the_same_table(demo, leeds):
    from matching.select import match

    sets = {}
    given = sensitivity_table(demo, "leeds", "ea_all", comparator_sets=lambda k, method: sets.setdefault(
        (k, method), match(demo, k=k, method=method, per_indicator=True)))
    assert sorted(sets) == [(3, "mahalanobis"), (5, "euclidean"), (5, "mahalanobis"), (10, "mahalanobis")]
    pd.testing.assert_frame_equal(given, leeds)


def test_population_share_variant_equals_the_weighted_estimate(demo):
    """Airedale's two LAs are both part-covered with different shares, so weighting moves its estimate;
    the variant runs the weighted estimates' route exactly."""
    table = sensitivity_table(demo, "airedale", "ea_all")
    weighted = table[table["weighting"] == "population_share"].iloc[0]
    assert weighted["estimator"] == "did" and not weighted["is_main"]
    detail = site_detail(demo, "airedale", "ea_all", weighting="population_share")["did"].iloc[0]
    for col in ("effect", "effect_pct", "ci_low", "ci_high", "p_value"):
        assert weighted[col] == pytest.approx(detail[col], rel=1e-12, abs=1e-12), col
    main = table[table["is_main"]].iloc[0]
    assert weighted["effect"] != pytest.approx(main["effect"], rel=1e-6)
