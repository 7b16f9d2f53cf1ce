"""The whole statistics pipeline on the real dataset (built from ../shared/data/real): it must
complete, say plainly where data cannot support an estimate, and agree with statsmodels where it can."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from data.aggregate import aggregate_sites
from indicators.did import TRANSITION, POST, treatment_phase
from analysis.estimates import COLUMNS, NO_DATA, estimates_table
from indicators.spc import CHART_COLUMNS
from indicators.trend import AREA_COLUMNS, SITE_COLUMNS, TREND_COLUMNS, area_values, site_values, trend_spc, trend_table
from matching.covariates import units_with_data
from matching.select import match
from tests import cli_process

WITH_PRE = ("dtoc", "falls_65", "diupr_65", "ea_all")
POST_ONLY = ("care_home_65", "reablement_91")


@pytest.fixture(scope="module")
def per_indicator(real_built):
    return match(real_built, per_indicator=True)


@pytest.fixture(scope="module")
def table(real_built, per_indicator, tmp_path_factory):
    return estimates_table(real_built, per_indicator)


def test_share_65_is_unknown_not_a_constant(real_built):
    assert real_built.areas["share_65"].isna().all()
    assert real_built.areas[["population", "deprivation", "density"]].notna().all().all()
    assert any("share_65" in note and "null" in note for note in real_built.manifest["approximations"])


def test_per_site_matching_leaves_out_share_65(real_built):
    sets = match(real_built)
    assert "covariate 'share_65' left out: no pool LA has a value for it" in sets.warnings
    assert sets.table["site_id"].nunique() == 25 and (sets.table.groupby("site_id").size() == 5).all()
    assert not set(sets.table["comparator_code"]) & set(real_built.site_areas["area_code"])


def test_per_indicator_matching_on_real_data(real_built, per_indicator):
    t = per_indicator.table
    assert set(t["indicator_id"]) == set(WITH_PRE) | set(POST_ONLY)
    assert (t.groupby(["site_id", "indicator_id"]).size() == 5).all()
    assert not set(t["comparator_code"]) & set(real_built.site_areas["area_code"])
    for ind, rows in t.groupby("indicator_id"):
        assert set(rows["comparator_code"]) <= units_with_data(real_built, ind), ind
    for ind in POST_ONLY:
        for site_id in real_built.sites["site_id"]:
            assert any(w.startswith(f"{site_id}: too little {ind} data") for w in per_indicator.warnings)
    no_data = set(real_built.catalogue["indicator_id"]) - set(WITH_PRE) - set(POST_ONLY)
    assert len(no_data) == 6
    for ind in no_data:
        assert f"no site or pool LA has any {ind} data: no comparators [indicator {ind}]" in per_indicator.warnings
    balance = per_indicator.balance()
    assert "share_65" not in set(balance["covariate"])


def test_estimates_table_on_real_data(real_built, table):
    assert list(table.columns) == COLUMNS
    assert (table["method"] == "did").sum() == (table["method"] == "its").sum() == 25 * 12
    assert (table["method"] == "pooled").sum() == 3 * 12
    for ind in WITH_PRE:
        rows = table[table["indicator_id"] == ind]
        assert rows["effect"].notna().all() and rows["effect_pct"].notna().all(), ind
        assert ((rows["ci_low"] <= rows["effect"]) & (rows["effect"] <= rows["ci_high"])).all()
        did = rows[rows["method"] == "did"]
        assert ((did["p_value"] > 0) & (did["p_value"] <= 1)).all() and (did["n_comparators"] == 5).all()
        assert (did["n_pre"] > 0).all() and (did["n_post"] > 0).all()
    for ind in ("falls_65", "diupr_65"):
        rows = table[table["indicator_id"] == ind]
        assert (rows["value_basis"] == "rates").all() and rows["note"].str.startswith("from published rates").all()
    diupr_multi = table[(table["indicator_id"] == "diupr_65") & (table["site_id"] == "greater-manchester")]
    assert diupr_multi["note"].str.contains("unweighted mean").all()  # the source gives no denominators
    dtoc = table[table["indicator_id"] == "dtoc"]
    poor_fit = dtoc["pre_fit"] == "poor"  # a synthetic control's poor pre-period fit is said in its note
    assert (dtoc["value_basis"] == "counts").all() and (dtoc.loc[~poor_fit, "note"] == "").all()
    assert dtoc.loc[poor_fit, "note"].str.startswith("poor pre-period fit").all()
    for ind in POST_ONLY:
        rows = table[table["indicator_id"] == ind]
        assert rows[["effect", "effect_pct", "ci_low", "ci_high", "p_value"]].isna().all().all()
        site_rows = rows[rows["method"] != "pooled"]
        assert (site_rows["note"] == "no data before the site's start: 2017/18 onwards only").all(), ind
        assert rows.loc[rows["site_id"] == "wave2", "note"].iloc[0] == "no data before wave 2's start: 2017/18 onwards only"
    missing = table[~table["indicator_id"].isin(WITH_PRE + POST_ONLY)]
    assert len(missing) == 6 * 78 and (missing["note"] == NO_DATA).all() and missing["effect"].isna().all()
    did = dtoc[dtoc["method"] == "did"].set_index("site_id")
    with pd.option_context("display.width", 200):
        print("\nReal DTOC DiD (delayed days per 100,000 18+ per month):")
        print(did[["effect", "effect_pct", "ci_low", "ci_high", "p_value", "pre_trend_p", "n_pre", "n_post"]]
              .round(3).to_string())


@pytest.mark.parametrize("site_id", ["barnsley", "cheshire", "greater-manchester", "camden"])
def test_real_dtoc_did_agrees_with_statsmodels(real_built, per_indicator, table, site_id):
    """Rebuild the site's panel from the observations (site = sum of numerators over sum of
    denominators via data.aggregate; comparators as published), drop the transition, and fit
    value ~ treated + C(area) + C(period) with statsmodels OLS: same effect to 1e-8."""
    obs = real_built.observations
    dtoc = obs[(obs["indicator_id"] == "dtoc") & (obs["area_code"] != "E92000001")]
    site_areas = real_built.site_areas[real_built.site_areas["site_id"] == site_id]
    site = aggregate_sites(dtoc, site_areas, real_built.catalogue)[["period_start", "value"]].assign(area="site")
    codes = per_indicator.comparators(site_id, "dtoc")
    comp = dtoc[dtoc["area_code"].isin(codes)][["period_start", "area_code", "value"]].rename(columns={"area_code": "area"})
    panel = pd.concat([site, comp], ignore_index=True).dropna(subset=["value"])
    dates = real_built.sites.set_index("site_id").loc[site_id]
    panel["phase"] = treatment_phase(panel["period_start"], "month", dates["start"], dates["transition_start"],
                                     dates["transition_end"])
    panel = panel[panel["phase"] != TRANSITION]
    panel["treated"] = ((panel["area"] == "site") & (panel["phase"] == POST)).astype(float)
    panel["period"] = panel["period_start"].astype(str)
    fit = smf.ols("value ~ treated + C(area) + C(period)", data=panel).fit()
    ours = table[(table["indicator_id"] == "dtoc") & (table["method"] == "did") & (table["site_id"] == site_id)]
    assert ours["effect"].iloc[0] == pytest.approx(fit.params["treated"], rel=1e-8, abs=1e-8)


def test_trend_views_on_every_real_site_and_indicator(real_built, per_indicator):
    comps = per_indicator.table
    catalogue = real_built.catalogue.set_index("indicator_id")
    table = trend_table(real_built, comps)  # the route analysis.results takes, sliced the same way
    frames = {key: part.drop(columns=["site_id", "indicator_id"]).reset_index(drop=True)
              for key, part in table.groupby(["site_id", "indicator_id"], sort=False)}
    empty = pd.DataFrame(columns=TREND_COLUMNS)
    for ind in catalogue.index:
        sv = site_values(real_built, ind)
        assert list(sv.columns) == SITE_COLUMNS
        av = area_values(real_built, ind)
        assert list(av.columns) == AREA_COLUMNS
        has_data = ind in WITH_PRE + POST_ONLY
        assert (len(sv) > 0) == has_data and (len(av) > 0) == has_data, ind
        for site_id in real_built.sites["site_id"]:
            trend = frames.get((site_id, ind), empty)
            assert list(trend.columns) == TREND_COLUMNS and (len(trend) > 0) == has_data
            chart = trend_spc(trend, catalogue.at[ind, "polarity"])
            assert list(chart.columns) == CHART_COLUMNS
            if ind in POST_ONLY:
                assert chart.attrs["baseline"].startswith("whole series")
            elif ind in WITH_PRE:
                assert chart.attrs["baseline"] == "pre-intervention periods"
                assert trend["comparator_n"].max() > 0


def test_cli_estimates_on_real_data(real_built_dir, tmp_path):
    out = tmp_path / "real-est.csv"
    run = cli_process.run(["estimates", "--data", str(real_built_dir), "--out", str(out)],
                          env={"PIONEERS_CACHE_DIR": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr
    written = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(written.columns) == COLUMNS and len(written) == 936  # 12 x (25 x did, its, scm + 3 pooled)
    lines = run.stdout.splitlines()
    assert any("with_estimate" in line and "without_estimate" in line for line in lines)
    dtoc_line = next(line for line in lines if line.strip().startswith("dtoc"))
    assert dtoc_line.split()[1:4] == ["78", "78", "0"]
    care_line = next(line for line in lines if line.strip().startswith("care_home_65"))
    assert care_line.split()[1:4] == ["78", "0", "78"] and "no data before the site's start" in care_line
