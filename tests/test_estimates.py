"""The estimates table against the demo dataset's planted effects, its cache and the CLI.

Tolerances (stated, and printed with ``pytest -s``): the 95% placebo interval holds the LA-basis
truth in at least 90% of planted cells; at most 10% of zero-effect cells have p < 0.05; over
planted cells the estimated effect_pct is within 5 percentage points of the truth on average
(mean absolute error) with a mean error within +/-1.5 points. Single cells can be further off:
the demo's area-specific drift and noise (dtoc: between-area sd 0.7, noise 0.10) make a one-area
comparison noisy, which the placebo interval reflects.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.estimates import COLUMNS, estimates_table, pooled_detail, site_detail
from tests import cli_process


@pytest.fixture
def table(demo_estimates):
    return demo_estimates


def truth_vs_estimate(table: pd.DataFrame, truth: pd.DataFrame, method: str = "did") -> pd.DataFrame:
    est = table[table["method"] == method].merge(truth.rename(columns={"effect_pct": "planted_pct"}),
                                                 on=["site_id", "indicator_id"])
    counterfactual = est["effect"] / est["effect_pct"] * 100
    est["ci_low_pct"] = est["ci_low"] / counterfactual * 100
    est["ci_high_pct"] = est["ci_high"] / counterfactual * 100
    est["truth_in_ci"] = (est["effect_pct_la_basis"] >= est[["ci_low_pct", "ci_high_pct"]].min(axis=1)) & (
        est["effect_pct_la_basis"] <= est[["ci_low_pct", "ci_high_pct"]].max(axis=1))
    est["error_pct"] = est["effect_pct"] - est["effect_pct_la_basis"]
    return est[["site_id", "indicator_id", "effect_pct_la_basis", "effect_pct", "ci_low_pct", "ci_high_pct",
                "truth_in_ci", "error_pct", "p_value", "pre_trend_p"]]


def test_shape_and_columns(table, demo):
    assert list(table.columns) == COLUMNS
    did = table[table["method"] == "did"]
    assert len(did) == len(demo.sites) * len(demo.catalogue) == 300
    assert len(table[table["method"] == "its"]) == 300
    pooled = table[table["method"] == "pooled"]
    assert sorted(pooled["site_id"].unique()) == ["all", "wave1", "wave2"] and len(pooled) == 36
    assert (did["ci_low"] <= did["effect"]).all() and (did["effect"] <= did["ci_high"]).all()
    assert (table["ci_low"] <= table["effect"]).all() and (table["effect"] <= table["ci_high"]).all()
    assert (did["n_comparators"] == 5).all() and table["comparator_version"].nunique() == 1
    assert ((did["p_value"] > 0) & (did["p_value"] <= 1)).all()


def test_planted_effects_recovered(table, demo):
    est = truth_vs_estimate(table, demo.truth)
    planted = est[est["effect_pct_la_basis"] != 0]
    zero = est[est["effect_pct_la_basis"] == 0]
    with pd.option_context("display.width", 200, "display.max_rows", 400):
        print("\nTruth (LA basis) vs DiD estimate, planted cells:")
        print(planted.round(2).to_string(index=False))
    coverage = planted["truth_in_ci"].mean()
    false_positive = (zero["p_value"] < 0.05).mean()
    mae, bias = planted["error_pct"].abs().mean(), planted["error_pct"].mean()
    print(f"planted {len(planted)}: coverage {coverage:.3f}, MAE {mae:.2f} pp, mean error {bias:+.2f} pp; "
          f"zero-effect {len(zero)}: share p<0.05 {false_positive:.3f}")
    assert len(planted) > 50
    assert coverage >= 0.90
    assert false_positive <= 0.10
    assert mae <= 5.0
    assert abs(bias) <= 1.5


def test_synthetic_control_recovers_planted_effects(table, demo):
    """Same criteria as DiD: truth inside the 95% interval in >= 90% of planted cells, p < 0.05 in
    <= 10% of zero-effect cells; MAE printed beside DiD's on the same cells."""
    scm = truth_vs_estimate(table, demo.truth, "scm")
    did = truth_vs_estimate(table, demo.truth, "did")
    planted = scm[scm["effect_pct_la_basis"] != 0]
    zero = scm[scm["effect_pct_la_basis"] == 0]
    did_planted = did[did["effect_pct_la_basis"] != 0]
    side = planted.merge(did_planted[["site_id", "indicator_id", "effect_pct", "truth_in_ci"]],
                         on=["site_id", "indicator_id"], suffixes=("_scm", "_did"))
    with pd.option_context("display.width", 200, "display.max_rows", 400):
        print("\nTruth (LA basis) vs synthetic control and DiD, planted cells:")
        print(side[["site_id", "indicator_id", "effect_pct_la_basis", "effect_pct_scm", "effect_pct_did",
                    "truth_in_ci_scm", "truth_in_ci_did"]].round(2).to_string(index=False))
    coverage = planted["truth_in_ci"].mean()
    false_positive = (zero["p_value"] < 0.05).mean()
    mae = planted["error_pct"].abs().mean()
    print(f"planted {len(planted)}: SCM coverage {coverage:.3f}, MAE {mae:.2f} pp, mean error "
          f"{planted['error_pct'].mean():+.2f} pp | DiD coverage {did_planted['truth_in_ci'].mean():.3f}, MAE "
          f"{did_planted['error_pct'].abs().mean():.2f} pp; zero-effect {len(zero)}: SCM share p<0.05 "
          f"{false_positive:.3f}, DiD {(did[did['effect_pct_la_basis'] == 0]['p_value'] < 0.05).mean():.3f}")
    assert len(planted) > 50 and len(zero) > 50
    assert coverage >= 0.90
    assert false_positive <= 0.10
    rows = table[table["method"] == "scm"]
    assert len(rows) == len(demo.sites) * len(demo.catalogue)
    assert (rows["p_method"] == "placebo RMSPE rank").all() and rows["pre_fit"].isin(["good", "poor"]).all()
    assert (rows["n_comparators"] > 0).all() and rows["pre_rmspe"].notna().all()
    poor = rows[rows["pre_fit"] == "poor"]
    assert poor["note"].str.contains("poor pre-period fit").all()


def test_site_aggregation_matches_data_aggregate(demo):
    from data.aggregate import aggregate_sites
    from data.panels import indicator_panels

    data = indicator_panels(demo)
    obs = demo.observations[demo.observations["area_code"] != "E92000001"]
    ref = aggregate_sites(obs, demo.site_areas, demo.catalogue, demo.areas.set_index("area_code")["population"])
    for ind in ("ea_all", "falls_65", "dtoc"):
        wide = ref[ref["indicator_id"] == ind].pivot(index="site_id", columns="period_start", values="value")
        ours = data[ind].site_frame.reindex(index=wide.index, columns=wide.columns)
        np.testing.assert_allclose(ours.to_numpy(), wide.to_numpy(), rtol=1e-12)


def test_site_detail_and_pooled_detail(demo, table):
    detail = site_detail(demo, "barnsley", "ea_all")
    assert set(detail) >= {"series", "did", "event_study", "its", "its_summary", "placebo", "comparators"}
    row = table[(table["site_id"] == "barnsley") & (table["indicator_id"] == "ea_all") & (table["method"] == "did")]
    assert detail["did"]["effect"].item() == pytest.approx(row["effect"].item(), abs=1e-9)
    assert detail["did"]["ci_low"].item() == pytest.approx(row["ci_low"].item(), abs=1e-9)
    es = detail["event_study"]
    assert es["reference"].sum() == 1 and es.loc[es["reference"], "coef"].item() == 0
    assert len(detail["placebo"]) > 90
    pooled = pooled_detail(demo, "ea_all")
    assert {"wave1", "wave2"} == set(pooled["group_time"]["cohort"])


def test_bad_comparator_table_is_refused(demo):
    from data.errors import DataError

    bad = pd.DataFrame({"site_id": ["barnsley"], "comparator_code": ["E99999999"], "rank": [1]})
    with pytest.raises(DataError, match="unknown area code"):
        estimates_table(demo, bad)
    with pytest.raises(DataError, match="lacks column"):
        estimates_table(demo, pd.DataFrame({"site_id": ["barnsley"]}))


def test_cli_estimates(demo_dir, tmp_path, table):
    out = tmp_path / "est.csv"
    env = {"PIONEERS_CACHE_DIR": str(tmp_path / "cache")}
    res = cli_process.run(["estimates", "--data", str(demo_dir), "--out", str(out)], env=env)
    assert res.returncode == 0, res.stderr
    written = pd.read_csv(out)
    assert list(written.columns) == COLUMNS and len(written) == len(table)
    assert (written["method"] == "scm").sum() == 300 and written.loc[written["method"] == "scm", "pre_fit"].notna().all()
    bad = cli_process.run(["estimates", "--data", str(demo_dir), "--out", str(out),
                           "--comparators", str(tmp_path / "none.csv")], env=env)
    assert bad.returncode == 2 and "comparator file not found" in bad.stderr
