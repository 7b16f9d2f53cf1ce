"""The balanced matching rule (algorithm 3), the caliper, k by balance, and one site's love plot:
hand-worked pools where the answer is known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from data.errors import DataError
from matching.select import ALGORITHM_VERSION, balanced_subset, k_by_balance, match, match_k_by_balance, match_units

# One covariate. Site at 0; its 3k = 6 nearest for k = 2 are A .5, B .6, C -.7, G .9, H 1.0, I 1.1
# (D, E and F are farther). Nearest neighbours: A, B (mean .55). Balanced, by hand: greedy takes A
# (|.5|), then C (mean -.1); swapping A for B gives mean -.05, and no other pair of the six is closer
# to 0 ({G, C} .1, {A, B} .55), so the answer is B, C.
POOL = pd.DataFrame({"x": [0.5, 0.6, -0.7, 0.9, 1.0, 1.1, 5.0, -5.0, 10.0]},
                    index=["A", "B", "C", "G", "H", "I", "D", "E", "F"])
SITE = pd.DataFrame({"x": [0.0]}, index=["S"])
SD = POOL["x"].std(ddof=1)


def test_algorithm_version_bumped_for_the_new_rule():
    assert ALGORITHM_VERSION == 3


def test_balanced_rule_picks_the_pair_whose_mean_is_the_site_by_hand():
    for method in ("mahalanobis", "euclidean"):
        nearest = match_units(SITE, POOL, k=2, method=method, rule="nearest")
        assert nearest["comparator_code"].tolist() == ["A", "B"]
        balanced = match_units(SITE, POOL, k=2, method=method)
        assert balanced["comparator_code"].tolist() == ["B", "C"]  # nearest first
        assert balanced["rank"].tolist() == [1, 2]
        assert_allclose(balanced["distance"], np.array([0.6, 0.7]) / SD, rtol=1e-12)
    # D and E (mean 0, exactly the site) are beyond the 3k nearest: the distance stays the gate.
    assert not {"D", "E"} & set(match_units(SITE, POOL, k=2)["comparator_code"])


def test_balanced_subset_core_by_hand():
    cands = np.array([[[0.5], [0.6], [-0.7], [0.9]]])
    assert balanced_subset(np.array([[0.0]]), cands, 2).tolist() == [[1, 2]]
    # Only two allowed: both are taken, whatever their mean; one allowed: the other slot is empty (-1).
    allowed = np.array([[True, True, False, False]])
    assert sorted(balanced_subset(np.array([[0.0]]), cands, 2, allowed)[0].tolist()) == [0, 1]
    one = balanced_subset(np.array([[0.0]]), cands, 2, np.array([[True, False, False, False]]))
    assert one.tolist() == [[0, -1]]


def test_caliper_excludes_the_far_unit_and_says_so_in_words():
    sites = pd.DataFrame({"x": [0.0, 100.0]}, index=["S", "far"])
    out, warnings = match_units(sites, POOL, k=2, caliper=0.65 / SD, return_warnings=True)
    # Within 0.65 of the site: A and B only, so the balanced rule must take them; C (0.7) is excluded.
    assert out[out["unit"] == "S"]["comparator_code"].tolist() == ["A", "B"]
    assert (out["unit"] == "far").sum() == 0
    assert len(warnings) == 1 and warnings[0].startswith("far: no comparator within caliper")
    with pytest.raises(DataError, match="rule"):
        match_units(SITE, POOL, k=2, rule="closest")


def test_k_by_balance_rule_by_hand():
    # The largest k whose worst |SMD| is below 0.25: 6 (not 4, which is also under).
    assert k_by_balance({3: 0.20, 4: 0.24, 5: 0.30, 6: 0.10}) == 6
    # None under 0.25: the smallest worst |SMD|, ties to the larger k.
    assert k_by_balance({3: 0.30, 4: 0.28, 5: 0.28}) == 5
    assert k_by_balance({3: 0.9, 4: np.nan}) == 3
    assert k_by_balance({3: np.nan, 7: np.nan}) == 7
    with pytest.raises(DataError):
        k_by_balance({})


def test_match_k_by_balance_applies_the_rule_to_each_site(demo):
    ks = (3, 4, 5, 8)
    auto = match_k_by_balance(demo, ks=ks)
    by_k = {k: match(demo, k=k) for k in ks}
    worst = {k: cs.balance().assign(a=lambda b: b["smd_after"].abs()).groupby("site_id")["a"].max()
             for k, cs in by_k.items()}
    sizes = auto.table.groupby("site_id").size()
    chosen = auto.params["chosen_k"]
    assert len(chosen) == demo.sites.shape[0]
    for site_id in demo.sites["site_id"]:
        expected = k_by_balance({k: worst[k][site_id] for k in ks})
        assert chosen[f"{site_id}|"] == expected == sizes[site_id]
        assert auto.comparators(site_id) == by_k[expected].comparators(site_id)
        mine = auto.balance().query("site_id == @site_id").reset_index(drop=True)
        theirs = by_k[expected].balance().query("site_id == @site_id").reset_index(drop=True)
        assert_allclose(mine["smd_after"], theirs["smd_after"], rtol=0, atol=0)
    assert auto.params["k"] == "auto by balance" and auto.version != by_k[5].version


def test_balanced_rule_balances_more_cells_than_nearest_on_the_demo(demo):
    def share(cs):
        b = cs.balance()
        worst = b.assign(a=b["smd_after"].abs()).groupby(["site_id", "indicator_id"])["a"].max()
        return (worst < 0.25).mean()

    balanced, nearest = match(demo, per_indicator=True), match(demo, per_indicator=True, rule="nearest")
    assert balanced.params["rule"] == "balanced" and balanced.version != nearest.version
    assert share(balanced) > share(nearest)


@pytest.fixture(scope="module")
def active_demo(demo_dir):
    from data.active import set_active_dataset

    set_active_dataset(demo_dir)


def test_site_love_plot_draws_the_sites_balance_rows(active_demo):
    from analysis import results
    from layouts.components import charts

    ctx = results.context()
    b = results.comparator_set(ctx.dataset.checksum).balance()
    rows = b[(b["site_id"] == "leeds") & (b["indicator_id"] == "ea_all")]
    love = results.site_love("leeds", "ea_all")
    assert_allclose(love.set_index("covariate")["abs_after"].sort_index(),
                    rows.set_index("covariate")["smd_after"].abs().sort_index(), rtol=0, atol=0)
    chart = charts.build(charts.ChartSpec("site_love", site="leeds", indicator_id="ea_all"))
    before, after = chart.figure.data
    assert before.marker.symbol != after.marker.symbol  # shape as well as colour
    assert sorted(s.x0 for s in chart.figure.layout.shapes) == [0.1, 0.25]
    assert len(chart.table) == len(rows) == len(before.x)
    shown = dict(zip(chart.table["Covariate"], chart.table["|SMD| after (site vs comparators)"]))
    assert dict(zip(after.y, after.x)) == pytest.approx(shown, abs=1e-3)
    # Anonymised: the title and file name name no site.
    slug = ctx.names.path_id("leeds", True)
    anon = charts.build(charts.ChartSpec("site_love", site=slug, indicator_id="ea_all", anon=True))
    assert "Leeds" not in anon.title and "leeds" not in anon.filename.lower()


def test_url_keeps_caliper_and_k_auto_and_forged_values_fall_back():
    from layouts.components.urlstate import parse_query, to_query

    state = parse_query("?kauto=1&caliper=1.25")
    assert (state.kauto, state.caliper) == (True, 1.25) and parse_query(to_query(state)) == state
    for forged in ("nan", "inf", "-1", "1e300", "abc", "0"):
        assert parse_query(f"?caliper={forged}").caliper == 0.0


def test_matching_page_names_sites_without_a_comparator_within_the_caliper(active_demo):
    import json

    from tests.serving_support import shared_app

    shared_app()  # the pages register with the app

    from analysis import results
    from layouts.components.anonymise import find_real_names, real_names
    from layouts.matching import recompute_matching, within_words

    assert within_words(0, 5, 0.5, "mahalanobis") == "no comparator within 0.5 (mahalanobis distance): no good match"
    assert within_words(2, 5, 0.5, "mahalanobis").startswith("only 2 of 5 within 0.5")
    covariates = ["log_population", "share_65", "deprivation", "density"]
    out = json.dumps(recompute_matching("mahalanobis", 5, covariates, ["auto"], 0.9, "?anon=1").to_plotly_json(),
                     default=lambda o: o.to_plotly_json() if hasattr(o, "to_plotly_json") else str(o))
    assert "no good match" in out and "k (auto by balance)" in out and "Within the caliper" in out
    ds = results.context().dataset
    assert find_real_names(out, real_names(ds.sites, ds.areas)) == []
    named = json.dumps(recompute_matching("mahalanobis", 5, covariates, [], 0.9, "").to_plotly_json(),
                       default=lambda o: o.to_plotly_json() if hasattr(o, "to_plotly_json") else str(o))
    assert "Greater Manchester" in named and "no comparator within caliper 0.9" in named  # warnings, named mode
    bad = recompute_matching("mahalanobis", 5, covariates, [], -2, "")
    assert "caliper above 0" in str(bad.children)
