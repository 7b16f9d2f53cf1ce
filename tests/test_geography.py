"""The geography threaded through the orchestration: CCG units run through the same routes as LAs.

- The same numbers relabelled as CCG units give the same estimates on the CCG route as on the
  LA route (a hand-made two-geography dataset built from the demo's LA tables).
- The CCG comparator pool leaves out every Pioneer unit, whole or part.
- Cache keys and comparator versions name the geography.
- On the demo's generated CCG units the DiD recovers the planted ea_all effects.
- Indicators without CCG data say so in words; the URL state carries and checks ``geo``.
"""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from analysis import results
from analysis.cache import _checksum_of
from analysis.estimates import NOT_ON_CCG, estimates_table
from data.errors import DataError
from data.reference import ENGLAND_CODE
from data.store import CCG_TYPE, Dataset
from layouts.components.urlstate import DEFAULT, parse_query, query_problem, to_query
from matching.covariates import comparator_pool
from matching.select import match

NUMBERS = ["effect", "effect_pct", "ci_low", "ci_high", "p_value", "pre_trend_p", "n_comparators", "n_pre",
           "n_post", "baseline_mean"]


@pytest.fixture(scope="module")
def relabelled(demo) -> tuple[Dataset, dict[str, str]]:
    """The demo's LA tables twice: as LAs and, relabelled E38..., as CCG units with the same numbers.

    Codes keep their sort order, so every matrix row and every tie falls the same way on both routes.
    """
    la = {name: getattr(demo, name) for name in ("areas", "site_areas", "population", "observations")}
    codes = sorted(set(la["areas"]["area_code"]) - {ENGLAND_CODE})
    to_ccg = {code: f"E38{i:06d}" for i, code in enumerate(codes)}
    ccg_areas = la["areas"][la["areas"]["area_code"] != ENGLAND_CODE].assign(type=CCG_TYPE)
    ccg_obs = la["observations"][la["observations"]["area_code"] != ENGLAND_CODE]
    ccg_pop = la["population"][la["population"]["area_code"] != ENGLAND_CODE]
    relabel = (lambda f: f.assign(area_code=f["area_code"].map(to_ccg)))
    tables = dict(demo.tables)
    tables["areas"] = pd.concat([la["areas"], relabel(ccg_areas)], ignore_index=True)
    tables["site_areas"] = pd.concat([la["site_areas"], relabel(la["site_areas"])], ignore_index=True)
    tables["population"] = pd.concat([la["population"], relabel(ccg_pop)], ignore_index=True)
    tables["observations"] = pd.concat([la["observations"], relabel(ccg_obs)], ignore_index=True)
    tables["exclusions"] = pd.concat([demo.exclusions, relabel(demo.exclusions)], ignore_index=True)
    manifest = dict(demo.manifest, dataset_checksum="relabelled-demo")
    return Dataset(path=demo.path, manifest=manifest, tables=tables), to_ccg


def test_ccg_route_equals_la_route_on_the_same_numbers_relabelled(relabelled):
    ds, to_ccg = relabelled
    la = estimates_table(ds)
    ccg = estimates_table(ds.on("ccg"))
    assert len(la) == len(ccg) > 0 and la["effect"].notna().sum() > 100
    pd.testing.assert_frame_equal(la[["site_id", "indicator_id", "method"]], ccg[["site_id", "indicator_id", "method"]])
    np.testing.assert_allclose(la[NUMBERS].to_numpy(float), ccg[NUMBERS].to_numpy(float), rtol=1e-9, atol=1e-12,
                               equal_nan=True)
    assert (la["comparator_version"] != ccg["comparator_version"]).all()  # the geography is in the version
    la_sets, ccg_sets = match(ds, per_indicator=True), match(ds.on("ccg"), per_indicator=True)
    assert la_sets.table["comparator_code"].map(to_ccg).tolist() == ccg_sets.table["comparator_code"].tolist()


def test_views_share_tables_and_keep_england_on_both(relabelled):
    ds, _ = relabelled
    ccg = ds.on("ccg")
    assert ds.geography == "la" and ccg.geography == "ccg"
    assert ccg.on("ccg") is ccg and ccg.on("la") is ds and ds.on("ccg") is ccg  # one view per geography
    assert ccg.tables is ds.tables and ccg.derived is not ds.derived
    assert (ccg.areas["type"] == CCG_TYPE).all() and not (ds.areas["type"] == CCG_TYPE).any()
    for view in (ds, ccg):
        assert (view.observations["area_code"] == ENGLAND_CODE).any()
    with pytest.raises(DataError, match="geography"):
        ds.on("pct")


def test_ccg_pool_leaves_out_pioneer_and_part_pioneer_units(demo):
    ccg = demo.on("ccg")
    members = ccg.site_areas
    part = set(members.loc[members["coverage"] == "part", "area_code"])
    assert part, "the demo's CCG units include part-Pioneer units (Devon, Somerset)"
    pool = set(comparator_pool(ccg))
    assert pool and not pool & set(members["area_code"])
    assert pool <= set(ccg.areas["area_code"]) - {ENGLAND_CODE}
    assert len(pool) == len(ccg.areas) - len(set(members["area_code"]))
    sets = match(ccg, per_indicator=True)
    assert set(sets.table["comparator_code"]) <= pool and len(sets.table) > 0


def test_cache_keys_and_comparator_versions_name_the_geography(demo):
    ccg = demo.on("ccg")
    assert match(demo).params["geography"] == "la" and match(ccg).params["geography"] == "ccg"
    assert match(demo).version != match(ccg).version
    # One caching policy (analysis.cache): every memoised statistic takes the geography, so it is
    # part of the memo key (code version, checksum, function, arguments), as in the shared results' key.
    for name in ("_context", "comparator_set", "_estimates", "_trend_table", "_trend_frames", "_site_detail",
                 "_pooled", "_site_spc", "_overview"):
        assert "geography" in inspect.signature(getattr(results, name)).parameters, name
    assert _checksum_of((demo,))[0] != _checksum_of((ccg,))[0]
    assert demo.cache_key.endswith("-la") and ccg.cache_key.endswith("-ccg")


def test_ccg_did_recovers_the_planted_effects(demo):
    """The demo plants each site's ea_all effect in its CCG units too (diluted in part units, as
    effect_pct_ccg_basis records); the matched DiD on CCG units finds it."""
    est = estimates_table(demo.on("ccg"))
    did = est[(est["method"] == "did") & (est["indicator_id"] == "ea_all")].set_index("site_id")
    truth = demo.truth[demo.truth["indicator_id"] == "ea_all"].set_index("site_id")["effect_pct_ccg_basis"]
    found = did["effect_pct"].reindex(truth.index)
    assert found.notna().all()
    assert np.corrcoef(found, truth)[0, 1] > 0.8
    assert np.mean(np.abs(found - truth)) < 3.0
    big = truth[truth.abs() >= 5].index
    assert len(big) >= 5 and (np.sign(found[big]) == np.sign(truth[big])).mean() >= 0.9


def test_indicators_without_ccg_data_say_so(demo):
    est = estimates_table(demo.on("ccg"))
    dtoc = est[est["indicator_id"] == "dtoc"]
    assert dtoc["effect"].isna().all() and (dtoc["note"] == NOT_ON_CCG).all()
    assert "not available on the CCG geography" in NOT_ON_CCG
    la = estimates_table(demo)
    assert la.loc[la["indicator_id"] == "dtoc", "effect"].notna().any()


def test_url_state_carries_and_checks_the_geography():
    assert DEFAULT.geo == "la" and to_query(DEFAULT) == ""
    state = parse_query("?geo=ccg&anon=1")
    assert state.geo == "ccg" and state.anon and parse_query(to_query(state)) == state
    assert parse_query({"geo": "ccg"}).geo == "ccg"
    assert query_problem("?geo=ccg") is None and query_problem("?anon=1") is None
    problem = query_problem("?geo=<script>")
    assert problem and "geo=la" in problem and "geo=ccg" in problem
    assert parse_query("?geo=<script>").geo == "la"  # never used: the page answers with the problem


def test_cli_match_and_estimates_on_ccgs(demo_dir, tmp_path):
    import cli

    sets, table = tmp_path / "ccg_sets.csv", tmp_path / "ccg_estimates.csv"
    assert cli.main(["match", "--data", str(demo_dir), "--out", str(sets), "--geography", "ccg",
                     "--per-indicator"]) == 0
    assert pd.read_csv(sets)["comparator_code"].str.startswith("E38").all()
    assert cli.main(["estimates", "--data", str(demo_dir), "--out", str(table), "--geography", "ccg",
                     "--comparators", str(sets)]) == 0
    est = pd.read_csv(table, keep_default_na=False, na_values=[""])
    did = est[(est["method"] == "did") & (est["indicator_id"] == "ea_all")]
    assert len(did) == 25 and did["effect"].notna().sum() >= 20
    assert (est.loc[est["indicator_id"] == "dtoc", "note"] == NOT_ON_CCG).all()


def test_a_dataset_without_ccg_units_says_so_on_ccgs(demo, tmp_path, monkeypatch, memo_restored):
    """An LA-only dataset (no CCG units): the CCG geography is refused in words, estimates on it
    are rows without numbers, and warming the server skips it; LAs are untouched."""
    from analysis import results
    from data.active import ENV_VAR, clear_caches, set_active_dataset
    from data.store import write_dataset

    tables = dict(demo.tables)
    for name in ("areas", "site_areas", "population"):
        tables[name] = getattr(demo, name)
    tables["observations"] = demo.tables["observations"][~demo.tables["observations"]["area_code"].str.startswith("E38")]
    write_dataset(tmp_path / "la_only", tables, label="demo")
    monkeypatch.setenv(ENV_VAR, "")
    set_active_dataset(tmp_path / "la_only")
    try:
        assert results.geography_problem("la") is None
        assert "no CCG units" in results.geography_problem("ccg")
        did = results.overview("did", "ccg")
        assert len(did) == 300 and did["effect_pct"].isna().all()
        assert results.overview("did", "la")["effect_pct"].notna().any()
        results.warm()
    finally:
        clear_caches()


def test_a_forged_geography_in_a_chart_key_is_refused():
    from layouts.components.charts import ChartSpec
    from layouts.components.urlstate import ForgedRequest

    spec = ChartSpec("trend", site="leeds", indicator_id="ea_all", geo="ccg")
    assert ChartSpec.from_key(spec.key()) == spec
    with pytest.raises(ValueError, match="geography"):
        ChartSpec("trend", site="leeds", indicator_id="ea_all", geo="wales")
    with pytest.raises(ForgedRequest):  # like any other bad key: a 400, not a dataset fault
        ChartSpec.from_key(spec.key().replace('"geo":"ccg"', '"geo":"wales"'))


def test_effects_table_says_not_available_on_ccgs(demo):
    from layouts.components.readings import effects_table

    est = estimates_table(demo.on("ccg"))
    rows = est[(est["site_id"] == "leeds") & (est["method"] == "did")]
    table = effects_table(rows, demo.catalogue.set_index("indicator_id")).set_index("Indicator")
    assert "not available on the CCG geography" in table.at["Delayed transfers", "What it means"]
    assert "than expected from similar areas" in table.at["Emergency admissions", "What it means"]
