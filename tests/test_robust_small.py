"""The pipeline on awkward data, made by hand: no data, no pre-period, rate-only rows, flat or
missing covariates. Each case must give warnings and notes, never an exception, and rate-only
rows must give the same DiD as the counts they came from."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.periods import period_phase
from data.store import load_dataset, write_dataset
from indicators.did import panel_did
from analysis.estimates import COLUMNS, NO_DATA, estimates_table
from indicators.pooled import GROUP_TIME_COLUMNS, pooled_att
from indicators.spc import CHART_COLUMNS
from indicators.trend import TREND_COLUMNS, area_values, site_values, trend_spc, trend_table
from matching.select import match, placebo_set

TABLES = ("observations", "areas", "population", "sites", "site_areas", "catalogue", "exclusions")


def _write_variant(demo, out, **changes):
    tables = {name: getattr(demo, name).copy() for name in TABLES}
    tables.update(changes)
    write_dataset(out, tables, label="mixed")
    return load_dataset(out)


@pytest.fixture(scope="module")
def awkward(demo, tmp_path_factory):
    """The demo's geography with awkward data: share_65 the same everywhere, one pool LA without
    deprivation, dtoc as it is, care_home_65 only from 2017/18, falls_65 as rates only (numerators
    removed) and one pool LA without any falls data; every other indicator has no rows."""
    obs = demo.observations
    pool_la = sorted(set(demo.areas["area_code"]) - set(demo.site_areas["area_code"])
                     - set(demo.exclusions["area_code"]) - {"E92000001"})
    no_falls, no_deprivation = pool_la[0], pool_la[1]
    dtoc = obs[obs["indicator_id"] == "dtoc"]
    care = obs[(obs["indicator_id"] == "care_home_65") & (obs["period_start"] >= pd.Timestamp("2017-04-01"))]
    falls = obs[(obs["indicator_id"] == "falls_65") & (obs["area_code"] != no_falls)]
    falls = falls.assign(numerator=np.nan, flag="rate_only")
    areas = demo.areas.assign(share_65=0.2)
    areas.loc[areas["area_code"] == no_deprivation, "deprivation"] = np.nan
    ds = _write_variant(demo, tmp_path_factory.mktemp("awkward") / "dataset",
                        observations=pd.concat([dtoc, care, falls], ignore_index=True), areas=areas)
    return ds, no_falls, no_deprivation


def test_matching_drops_flat_and_missing_covariates_with_warnings(awkward):
    ds, _, no_deprivation = awkward
    sets = match(ds)
    assert any("'share_65' left out" in w and "same value" in w for w in sets.warnings)
    assert any(no_deprivation in w and "left out" in w for w in sets.warnings)
    assert (sets.table.groupby("site_id").size() == 5).all() and sets.table["site_id"].nunique() == 25
    assert no_deprivation not in set(sets.table["comparator_code"])
    assert "share_65" not in set(sets.balance()["covariate"])


def test_per_indicator_matching_uses_only_las_with_data_and_falls_back_without_baseline(awkward):
    ds, no_falls, _ = awkward
    sets = match(ds, per_indicator=True)
    t = sets.table
    assert set(t["indicator_id"]) == {"dtoc", "care_home_65", "falls_65"}
    assert (t.groupby(["site_id", "indicator_id"]).size() == 5).all() and len(t) == 25 * 3 * 5
    assert no_falls not in set(t.loc[t["indicator_id"] == "falls_65", "comparator_code"])
    for site_id in ds.sites["site_id"]:
        assert any(w.startswith(f"{site_id}: too little care_home_65 data") and "demographic covariates only" in w
                   for w in sets.warnings), site_id
    assert any("no site or pool LA has any ea_all data" in w for w in sets.warnings)
    placebo = placebo_set(ds, "barnsley", "care_home_65").frame()
    assert placebo.attrs["covariates"] == ["log_population", "deprivation", "density"]
    assert len(placebo) == 5 * placebo["area_code"].nunique() > 0
    falls_placebo = placebo_set(ds, "barnsley", "falls_65").frame()
    assert no_falls not in set(falls_placebo["area_code"]) | set(falls_placebo["comparator_code"])
    assert "baseline_level" in falls_placebo.attrs["covariates"]


@pytest.fixture(scope="module")
def awkward_table(awkward, tmp_path_factory):
    return estimates_table(awkward[0])


def test_estimates_give_notes_not_exceptions(awkward, awkward_table):
    ds, _, _ = awkward
    t = awkward_table
    assert list(t.columns) == COLUMNS
    n_sites, n_ind = len(ds.sites), len(ds.catalogue)
    assert (t["method"] == "did").sum() == (t["method"] == "its").sum() == n_sites * n_ind
    assert (t["method"] == "pooled").sum() == 3 * n_ind
    empty = t[t["indicator_id"] == "ea_all"]
    assert empty["effect"].isna().all() and (empty["note"] == NO_DATA).all()
    care = t[t["indicator_id"] == "care_home_65"]
    assert care["effect"].isna().all() and care["p_value"].isna().all() and care["ci_low"].isna().all()
    site_rows = care[care["method"] != "pooled"]
    assert (site_rows["note"] == "no data before the site's start: 2017/18 onwards only").all()
    assert (site_rows["n_pre"] == 0).all() and (site_rows["n_post"] > 0).all()
    assert care.loc[care["site_id"] == "wave1", "note"].iloc[0] == "no data before wave 1's start: 2017/18 onwards only"
    for ind in ("dtoc", "falls_65"):
        rows = t[t["indicator_id"] == ind]
        assert rows["effect"].notna().all(), ind
        assert ((rows["ci_low"] <= rows["effect"]) & (rows["effect"] <= rows["ci_high"])).all()
    falls = t[t["indicator_id"] == "falls_65"]
    assert (falls["value_basis"] == "rates").all()
    assert falls["note"].str.startswith("from published rates (no counts)").all()
    multi = falls[(falls["method"] == "did") & falls["site_id"].isin(["cheshire", "nw-london"])]
    assert multi["note"].str.contains("denominator-weighted mean").all()
    assert (t.loc[t["indicator_id"] == "dtoc", "value_basis"] == "counts").all()
    dtoc = t[t["indicator_id"] == "dtoc"]
    poor_fit = dtoc["pre_fit"] == "poor"  # a synthetic control's poor pre-period fit is said in its note
    assert (dtoc.loc[~poor_fit, "note"] == "").all()
    assert dtoc.loc[poor_fit, "note"].str.startswith("poor pre-period fit").all()


def test_rate_only_did_equals_the_count_based_did(demo, awkward, tmp_path):
    """A denominator-weighted mean of rates is the sum of numerators over the sum of denominators,
    so with the same comparators the rate-only DiD effect must equal the count-based one."""
    ds, _, _ = awkward
    comps = match(ds, per_indicator=True).table  # as a frame: both datasets use the same comparators
    rated = estimates_table(ds, comps)
    counted = estimates_table(demo, comps)
    key = ["site_id", "method"]
    a = rated[(rated["indicator_id"] == "falls_65") & (rated["method"] == "did")].set_index(key)["effect"]
    b = counted[(counted["indicator_id"] == "falls_65") & (counted["method"] == "did")].set_index(key)["effect"]
    # Only sites untouched by the LA removed from falls: all of them (it is a pool LA).
    np.testing.assert_allclose(a.sort_index().to_numpy(), b.sort_index().to_numpy(), rtol=1e-9, atol=1e-9)


def trend_series(dataset, site_id, indicator_id, comparators):
    """One site's trend through the route the app uses (trend_table, sliced as analysis.results does)."""
    table = trend_table(dataset, comparators, site_ids=[site_id], indicator_ids=[indicator_id])
    return table.drop(columns=["site_id", "indicator_id"]).reset_index(drop=True)


def test_trend_and_spc_on_awkward_data(awkward):
    ds, _, _ = awkward
    comps = match(ds, per_indicator=True).table
    empty = trend_series(ds, "barnsley", "ea_all", comps)
    assert list(empty.columns) == TREND_COLUMNS and len(empty) == 0
    chart = trend_spc(empty, "lower")
    assert list(chart.columns) == CHART_COLUMNS and len(chart) == 0 and "no chart" in chart.attrs["baseline"]
    care = trend_series(ds, "cheshire", "care_home_65", comps)
    assert len(care) > 0 and (care["phase"] == "post").all() and care["comparator_n"].gt(0).all()
    chart = trend_spc(care, "lower")
    assert len(chart) == len(care) and chart.attrs["baseline"].startswith("whole series")
    assert list(site_values(ds, "ea_all").columns)[:3] == ["site_id", "indicator_id", "period_start"]
    assert len(site_values(ds, "ea_all")) == 0 and len(area_values(ds, "ea_all")) == 0
    assert len(area_values(ds, "care_home_65")) > 0


def test_panel_did_without_a_pre_period_is_missing_not_an_error():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(2, 4, 6))
    y[0, 0, :3] = np.nan  # panel 0: the site is seen only after the start
    post = np.array([False, False, False, True, True, True])
    fit = panel_did(y, post)
    assert np.isnan(fit.effect[0]) and np.isfinite(fit.effect[1])
    alone = panel_did(y[1:], post)
    assert fit.effect[1] == pytest.approx(alone.effect[0], rel=1e-12)


def test_pooled_without_pre_period_and_empty_phase():
    periods = pd.date_range("2017-04-01", periods=4, freq="12MS")
    values = pd.DataFrame(np.arange(12.0).reshape(3, 4), index=["s1", "c1", "c2"], columns=periods)
    result = pooled_att(values, pd.Series({"s1": "wave1"}), {"wave1": np.array(["post"] * 4)})
    assert list(result.group_time.columns) == GROUP_TIME_COLUMNS and result.group_time.empty
    assert result.summary["att"].isna().all()
    assert len(period_phase(pd.Series([], dtype="datetime64[s]"), pd.Series([], dtype="str"),
                            pd.Series([], dtype="datetime64[s]"), None, None)) == 0
