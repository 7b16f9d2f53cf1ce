"""The minimum detectable effect in the estimates table and the site detail (issue 15 part 4)."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.estimates import site_detail
from indicators.power import minimum_detectable_effect


@pytest.fixture
def table(demo_estimates):
    return demo_estimates


def test_mde_only_on_did_and_scm_rows_and_positive(table):
    did = table[table["method"] == "did"]
    assert did["mde_pct"].notna().all() and (did["mde_pct"] > 0).all()
    scm = table[(table["method"] == "scm") & table["effect"].notna()]
    assert len(scm) and scm["mde_pct"].notna().all() and (scm["mde_pct"] > 0).all()
    assert table.loc[~table["method"].isin(["did", "scm"]), "mde_pct"].isna().all()


def test_table_and_detail_give_the_same_mde(table, demo):
    for site_id, ind in (("kent", "ea_all"), ("camden", "dtoc"), ("west-norfolk", "falls_65")):
        row = table[(table["method"] == "did") & (table["site_id"] == site_id) & (table["indicator_id"] == ind)].iloc[0]
        detail = site_detail(demo, site_id, ind)
        did = detail["did"].iloc[0]
        by_hand = minimum_detectable_effect(detail["placebo"]["placebo_effect"].to_numpy())
        assert did["mde"] == pytest.approx(by_hand)
        assert did["mde_pct"] == pytest.approx(by_hand / abs(did["counterfactual_mean"]) * 100)
        assert row["mde_pct"] == pytest.approx(did["mde_pct"], rel=1e-9)


def test_planted_effects_above_the_mde_are_mostly_detected(table, demo):
    did = table[table["method"] == "did"].merge(demo.truth, on=["site_id", "indicator_id"], suffixes=("", "_truth"))
    planted = did[did["effect_pct_la_basis"] != 0]
    above = planted[planted["effect_pct_la_basis"].abs() >= planted["mde_pct"]]
    below = planted[planted["effect_pct_la_basis"].abs() < planted["mde_pct"]]
    print(f"\nplanted cells at or above their MDE: {len(above)}, detected (p < 0.05) {np.mean(above['p_value'] < 0.05):.0%}; "
          f"below: {len(below)}, detected {np.mean(below['p_value'] < 0.05):.0%}")
    assert len(above) >= 8
    assert np.mean(above["p_value"] < 0.05) >= 0.7
    assert np.mean(below["p_value"] < 0.05) < np.mean(above["p_value"] < 0.05)
