"""Matching on the demo dataset: covariates, comparator sets, balance, versions, placebo, CLI."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.spatial.distance import cdist

from data.errors import DataError
from matching.balance import balance_summary
from matching.covariates import comparator_pool, unit_covariates
from matching.select import match, placebo_set
from tests import cli_process


@pytest.fixture(scope="module")
def per_site(demo):
    return match(demo)


@pytest.fixture(scope="module")
def per_indicator(demo):
    return match(demo, per_indicator=True)


def test_pool_is_non_pioneer_minus_exclusions(demo, reference):
    pool = comparator_pool(demo)
    assert pool == reference.comparator_pool()
    assert not set(pool) & set(demo.site_areas["area_code"])
    assert {"E06000053", "E09000001"}.isdisjoint(pool)
    with pytest.raises(DataError, match="Pioneer LA"):
        comparator_pool(demo, pool + ["E08000016"])  # Barnsley


def test_site_demographics_are_population_weighted_aggregates(demo):
    cov = unit_covariates(demo)
    areas = demo.areas.set_index("area_code")
    members = demo.site_areas.loc[demo.site_areas["site_id"] == "greater-manchester", "area_code"]
    a = areas.loc[members]
    pop = a["population"].sum()
    gm = cov.loc["greater-manchester"]
    assert_allclose(gm["log_population"], np.log(pop))
    assert_allclose(gm["share_65"], (a["population"] * a["share_65"]).sum() / pop)
    assert_allclose(gm["deprivation"], (a["population"] * a["deprivation"]).sum() / pop)
    assert_allclose(gm["density"], np.log(pop / (a["population"] / a["density"]).sum()))
    la = cov.loc["E08000016"]
    assert_allclose(la["log_population"], np.log(areas.at["E08000016", "population"]))
    assert_allclose(la["density"], np.log(areas.at["E08000016", "density"]))


def _direct_baseline(demo, codes, indicator, end_last_start):
    obs = demo.observations
    rows = obs[obs["area_code"].isin(codes) & (obs["indicator_id"] == indicator) & obs["numerator"].notna()
               & (pd.to_datetime(obs["period_start"]) <= pd.Timestamp(end_last_start))]
    # A period with a member missing is left out of the site's series (data.aggregate.missing_members:
    # every member here holds more than 5% of its site's population, so any gap leaves the period out).
    reporting = obs[obs["area_code"].isin(codes) & (obs["indicator_id"] == indicator) & obs["value"].notna()]
    complete = reporting.groupby("period_start")["area_code"].nunique() == reporting["area_code"].nunique()
    rows = rows[rows["period_start"].map(complete).fillna(False).astype(bool)]
    per = rows.groupby("period_start")[["numerator", "denominator"]].sum()
    mult = demo.catalogue.set_index("indicator_id").at[indicator, "multiplier"]
    level = per["numerator"].sum() / per["denominator"].sum() * mult
    t = (pd.to_datetime(per.index) - pd.Timestamp("2000-01-01")).days / 365.25
    slope = np.polyfit(np.asarray(t, dtype=float), (per["numerator"] / per["denominator"] * mult).to_numpy(), 1)[0]
    return level, slope, len(per)


def test_baseline_level_and_slope_from_site_aggregate_counts(demo):
    # Greater Manchester is wave 2: baseline ends 1 Jan 2015, last whole quarter is Oct-Dec 2014.
    cov = unit_covariates(demo, "ea_all")
    members = demo.site_areas.loc[demo.site_areas["site_id"] == "greater-manchester", "area_code"]
    level, slope, n = _direct_baseline(demo, members, "ea_all", "2014-10-01")
    assert n == 18  # 19 quarters to Oct-Dec 2014, one with a member borough missing (left out)
    assert_allclose(cov.at["greater-manchester", "baseline_level"], level, rtol=1e-10)
    assert_allclose(cov.at["greater-manchester", "baseline_slope"], slope, rtol=1e-8)
    # A wave 1 site (Leeds) and a yearly indicator: 2010/11 to 2012/13 before 1 Apr 2013.
    cov_y = unit_covariates(demo, "falls_65")
    level, slope, n = _direct_baseline(demo, ["E08000035"], "falls_65", "2012-04-01")
    assert n == 3
    assert_allclose(cov_y.at["leeds", "baseline_level"], level, rtol=1e-10)
    assert_allclose(cov_y.at["leeds", "baseline_slope"], slope, rtol=1e-8)
    # LAs default to the earliest site's window; an explicit date applies to everyone.
    level, slope, _ = _direct_baseline(demo, ["E06000001"], "ea_all", "2013-01-01")
    assert_allclose(cov.at["E06000001", "baseline_level"], level, rtol=1e-10)
    later = unit_covariates(demo, "ea_all", baseline_end="2015-01-01")
    level, _, _ = _direct_baseline(demo, ["E06000001"], "ea_all", "2014-10-01")
    assert_allclose(later.at["E06000001", "baseline_level"], level, rtol=1e-10)
    with pytest.raises(DataError, match="not in the catalogue"):
        unit_covariates(demo, "no_such_indicator")


def test_every_site_gets_k_non_pioneer_comparators(demo, per_site, per_indicator):
    pioneers = set(demo.site_areas["area_code"])
    sites = set(demo.sites["site_id"])
    for sets, n_ind in ((per_site, 1), (per_indicator, 12)):
        t = sets.table
        assert list(t.columns) == ["site_id", "indicator_id", "comparator_code", "rank", "distance", "version"]
        assert not set(t["comparator_code"]) & pioneers
        assert set(t["comparator_code"]) <= set(comparator_pool(demo))
        sizes = t.groupby(["site_id", "indicator_id"], dropna=False).size()
        assert len(sizes) == len(sites) * n_ind and (sizes == 5).all()
        assert set(t["site_id"]) == sites
        assert not t.duplicated(["site_id", "indicator_id", "comparator_code"]).any()
        assert sets.warnings == ()
    assert per_site.table["indicator_id"].isna().all()
    assert per_indicator.table["indicator_id"].notna().all()
    for k in (3, 15):
        sizes = match(demo, k=k, method="euclidean").table.groupby("site_id").size()
        assert (sizes == k).all()
    for bad in (2, 16, 5.0):
        with pytest.raises(DataError, match="k must be"):
            match(demo, k=bad)


def test_per_site_sets_agree_with_scipy_mahalanobis(demo, per_site):
    cov = unit_covariates(demo)
    pool = cov.loc[comparator_pool(demo)]
    VI = np.linalg.inv(np.cov(pool.to_numpy(), rowvar=False))
    D = cdist(cov.loc[["kent"]].to_numpy(), pool.to_numpy(), metric="mahalanobis", VI=VI)[0]
    order = np.argsort(D)[:5]
    nearest = match(demo, rule="nearest")  # the distance itself, checked on the plain nearest-neighbour rule
    kent = nearest.table[nearest.table["site_id"] == "kent"]
    assert kent["comparator_code"].tolist() == pool.index[order].tolist()
    assert_allclose(kent["distance"], D[order], rtol=1e-9)
    assert nearest.comparators("kent") == pool.index[order].tolist()
    # The balanced rule (the default) chooses among the site's 3k nearest, and reports their true distances.
    chosen = per_site.table[per_site.table["site_id"] == "kent"]
    within = pool.index[np.argsort(D)[:15]]
    assert set(chosen["comparator_code"]) <= set(within) and len(chosen) == 5
    assert_allclose(chosen["distance"], D[pool.index.get_indexer(chosen["comparator_code"])], rtol=1e-9)
    assert chosen["distance"].is_monotonic_increasing


def test_matching_improves_balance_for_every_site(per_site, per_indicator):
    balance = per_site.balance()
    assert set(balance["balance_after"]) <= {"good", "acceptable", "poor"}
    summary = balance_summary(balance)
    print("\nmean |SMD| per site, per-site Mahalanobis sets, k=5 (demo data)")
    print(summary[["site_id", "mean_abs_smd_before", "mean_abs_smd_after", "n_good_after"]].to_string(index=False))
    assert len(summary) == 25
    assert (summary["mean_abs_smd_after"] < summary["mean_abs_smd_before"]).all(), summary[~summary["improved"]]
    # Per indicator: reported, not required for every set (a site larger than any LA, such as
    # Greater Manchester, cannot always be balanced); most sets must still improve.
    ind = balance_summary(per_indicator.balance())
    print(f"per-indicator sets improved: {int(ind['improved'].sum())} of {len(ind)}; "
          f"mean |SMD| {ind['mean_abs_smd_before'].mean():.3f} -> {ind['mean_abs_smd_after'].mean():.3f}")
    print(ind.loc[~ind["improved"], ["site_id", "indicator_id", "mean_abs_smd_before", "mean_abs_smd_after"]]
          .to_string(index=False))
    assert ind["improved"].mean() > 0.9
    assert ind["mean_abs_smd_after"].mean() < 0.5 * ind["mean_abs_smd_before"].mean()


def test_balance_rows_match_the_table(demo, per_site):
    balance = per_site.balance().set_index(["site_id", "covariate"])
    cov = unit_covariates(demo)
    pool = cov.loc[comparator_pool(demo)]
    comps = per_site.comparators("leeds")
    row = balance.loc[("leeds", "deprivation")]
    assert_allclose(row["comparator_mean"], cov.loc[comps, "deprivation"].mean())
    assert_allclose(row["pool_sd"], pool["deprivation"].std(ddof=1))
    assert_allclose(row["smd_after"], (cov.at["leeds", "deprivation"] - cov.loc[comps, "deprivation"].mean())
                    / pool["deprivation"].std(ddof=1))
    assert (balance["version"] == per_site.version).all()


def test_version_is_stable_and_tracks_inputs(demo, per_site):
    again = match(demo)
    assert again.version == per_site.version
    pd.testing.assert_frame_equal(again.table, per_site.table)
    versions = {per_site.version, match(demo, k=6).version, match(demo, method="euclidean").version,
                match(demo, per_indicator=True).version, match(demo, caliper=3.0).version,
                match(demo, method="euclidean", weights={"deprivation": 2.0}).version,
                match(demo, covariates=["log_population", "deprivation"]).version,
                match(demo, pool=comparator_pool(demo)[1:]).version}
    assert len(versions) == 8
    by_start = match(demo, per_indicator=True, indicators=["ea_all"], baseline_column="start")
    by_transition = match(demo, per_indicator=True, indicators=["ea_all"])
    assert by_start.version != by_transition.version
    assert (by_start.table.groupby("site_id").size() == 5).all()
    with pytest.raises(DataError, match="baseline column"):
        match(demo, baseline_column="announced")
    other = dataclasses.replace(demo, manifest={**demo.manifest, "dataset_checksum": "0" * 16})
    changed = match(other)
    assert changed.version != per_site.version
    assert (changed.table["version"] == changed.version).all()


def test_caliper_names_the_sites_it_cannot_serve(demo):
    sets = match(demo, caliper=0.8)
    short = [w for w in sets.warnings if "caliper" in w]
    assert short, "a tight caliper should leave some site short"
    sizes = sets.table.groupby("site_id").size().reindex(demo.sites["site_id"], fill_value=0)
    for site, n in sizes.items():
        named = [w for w in short if w.startswith(f"{site}: ")]
        assert (n == 5) == (not named), site
    assert (sets.table["distance"] <= 0.8).all()


def test_placebo_set_frame(demo):
    pool = comparator_pool(demo)
    pioneers = set(demo.site_areas["area_code"])
    out = placebo_set(demo, "leeds", "ea_all", k=5, rule="nearest").frame()
    assert list(out.columns) == ["area_code", "comparator_code", "rank", "distance"]
    assert set(out["area_code"]) == set(pool)
    assert (out.groupby("area_code").size() == 5).all()
    assert not (out["area_code"] == out["comparator_code"]).any()
    assert not set(out["comparator_code"]) & pioneers
    # Brute force with the same (whole-pool) covariance, self excluded.
    cov = unit_covariates(demo, "ea_all", baseline_end="2013-04-01").loc[pool]
    VI = np.linalg.inv(np.cov(cov.to_numpy(), rowvar=False))
    D = cdist(cov.to_numpy(), cov.to_numpy(), metric="mahalanobis", VI=VI)
    np.fill_diagonal(D, np.inf)
    i = pool.index("E06000001")
    order = np.argsort(D[i])[:5]
    mine = out[out["area_code"] == "E06000001"]
    assert mine["comparator_code"].tolist() == [pool[j] for j in order]
    assert_allclose(mine["distance"], D[i, order], rtol=1e-9)
    # Sites sharing dates share the answer; a wave 2 site has its own baseline window.
    pd.testing.assert_frame_equal(out, placebo_set(demo, "kent", "ea_all", k=5, rule="nearest").frame())
    assert not out.equals(placebo_set(demo, "sheffield", "ea_all", k=5, rule="nearest").frame())
    out["rank"] = -1  # a caller's edit never reaches the cache
    assert (placebo_set(demo, "leeds", "ea_all", k=5, rule="nearest").frame()["rank"] > 0).all()
    per_site = placebo_set(demo, "leeds", k=4, method="euclidean").frame()
    assert (per_site.groupby("area_code").size() == 4).all()


def test_cli_writes_sets_and_balance_atomically(demo_dir, demo, tmp_path):
    out, bal = tmp_path / "sets.csv", tmp_path / "balance.csv"
    run = cli_process.run(["match", "--data", str(demo_dir), "--out", str(out), "--k", "4", "--per-indicator",
                           "--balance", str(bal)])
    assert run.returncode == 0, run.stderr
    written = pd.read_csv(out, dtype={"indicator_id": str}, keep_default_na=False)
    assert list(written.columns) == ["site_id", "indicator_id", "comparator_code", "rank", "distance", "version"]
    expected = match(demo, k=4, per_indicator=True)
    assert (written["version"] == expected.version).all()
    assert written["comparator_code"].tolist() == expected.table["comparator_code"].tolist()
    assert_allclose(written["distance"], expected.table["distance"], rtol=1e-12)
    b = pd.read_csv(bal)
    assert {"site_id", "indicator_id", "covariate", "smd_before", "smd_after", "balance_after"} <= set(b.columns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["balance.csv", "sets.csv"]  # no temp files left
    run = cli_process.run(["match", "--data", str(demo_dir), "--out", str(tmp_path / "site.csv")])
    assert run.returncode == 0, run.stderr
    site = pd.read_csv(tmp_path / "site.csv", dtype=str, keep_default_na=False)
    assert (site["indicator_id"] == "").all() and len(site) == 25 * 5
    before = out.read_bytes()
    run = cli_process.run(["match", "--data", str(demo_dir), "--out", str(out), "--k", "20"])
    assert run.returncode == 2 and "k must be" in run.stderr and "Traceback" not in run.stderr
    assert out.read_bytes() == before
