"""The pure matching core on hand-built pools: known answers, brute force, scikit-learn, invariances."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

from data.errors import DataError
from matching.balance import balance_table
from matching.select import match_units, pool_transform


def _frame(rows: dict[str, list[float]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def test_one_covariate_known_answer():
    # Pool 0..4 has SD sqrt(2.5); a site at 1.2 is 0.2, 0.8, 1.2 from LAs at 1, 2, 0.
    pool = _frame({"L0": [0.0], "L1": [1.0], "L2": [2.0], "L3": [3.0], "L4": [4.0]}, ["x"])
    site = _frame({"S": [1.2]}, ["x"])
    for method in ("mahalanobis", "euclidean"):
        out = match_units(site, pool, k=3, method=method, rule="nearest")
        assert out["comparator_code"].tolist() == ["L1", "L2", "L0"]
        assert out["rank"].tolist() == [1, 2, 3]
        assert_allclose(out["distance"], np.array([0.2, 0.8, 1.2]) / np.sqrt(2.5), rtol=1e-12)


def test_two_clusters_obvious_neighbours():
    pool = _frame({
        "A1": [0.0, 0.0], "A2": [1.0, 0.2], "A3": [0.2, 1.0],
        "B1": [10.0, 10.0], "B2": [11.0, 10.2], "B3": [10.2, 11.0],
        "C1": [20.0, 0.0], "C2": [21.0, 0.5], "C3": [20.5, 1.0],
    }, ["x", "y"])
    sites = _frame({"nearA": [0.3, 0.3], "nearB": [10.4, 10.3], "nearC": [20.4, 0.5]}, ["x", "y"])
    for method in ("mahalanobis", "euclidean"):
        out = match_units(sites, pool, k=3, method=method)
        got = out.groupby("unit")["comparator_code"].apply(set).to_dict()
        assert got == {"nearA": {"A1", "A2", "A3"}, "nearB": {"B1", "B2", "B3"}, "nearC": {"C1", "C2", "C3"}}
        assert (out.groupby("unit")["distance"].apply(lambda d: d.is_monotonic_increasing)).all()
        # With replacement: two sites at the same place share all their comparators.
    twins = _frame({"S1": [0.3, 0.3], "S2": [0.3, 0.3]}, ["x", "y"])
    out = match_units(twins, pool, k=3)
    assert out[out["unit"] == "S1"]["comparator_code"].tolist() == out[out["unit"] == "S2"]["comparator_code"].tolist()


@pytest.fixture(scope="module")
def random_pool():
    rng = np.random.default_rng(7)
    cov = np.array([[1.0, 0.6, 0.2, 0.0], [0.6, 1.0, 0.3, 0.1], [0.2, 0.3, 1.0, -0.4], [0.0, 0.1, -0.4, 1.0]])
    scale = np.array([1.0, 50.0, 0.01, 1e4])
    X = rng.multivariate_normal(np.zeros(4), cov, size=80) * scale
    cols = ["log_population", "share_65", "deprivation", "density"]
    pool = pd.DataFrame(X, columns=cols, index=[f"E{i:08d}" for i in range(80)])
    sites = pd.DataFrame(rng.multivariate_normal(np.zeros(4), cov, size=6) * scale, columns=cols,
                         index=[f"site{i}" for i in range(6)])
    return sites, pool


def test_mahalanobis_agrees_with_brute_force_and_scipy(random_pool):
    sites, pool = random_pool
    out = match_units(sites, pool, k=7, rule="nearest")
    VI = np.linalg.inv(np.cov(pool.to_numpy(), rowvar=False))
    D = cdist(sites.to_numpy(), pool.to_numpy(), metric="mahalanobis", VI=VI)
    # Brute force by the definition, for one site, as a second independent route.
    diff = sites.to_numpy()[0] - pool.to_numpy()
    assert_allclose(np.sqrt(np.einsum("ij,jk,ik->i", diff, VI, diff)), D[0], rtol=1e-10)
    for i, site in enumerate(sites.index):
        order = np.argsort(D[i])[:7]
        mine = out[out["unit"] == site]
        assert mine["comparator_code"].tolist() == pool.index[order].tolist()
        assert_allclose(mine["distance"], D[i, order], rtol=1e-9)


def test_agrees_with_sklearn_nearest_neighbors(random_pool):
    sites, pool = random_pool
    cols = list(pool.columns)
    for method, weights in (("mahalanobis", None), ("euclidean", None),
                            ("euclidean", {"log_population": 2.0, "share_65": 0.5, "deprivation": 1.0, "density": 3.0})):
        out = match_units(sites, pool, k=5, method=method, weights=weights, rule="nearest")
        w = None if weights is None else np.array([weights[c] for c in cols])
        centre, A = pool_transform(pool.to_numpy(), method, w, cols)
        Zp, Zs = (pool.to_numpy() - centre) @ A, (sites.to_numpy() - centre) @ A
        dist, idx = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(Zp).kneighbors(Zs)
        assert out["comparator_code"].tolist() == pool.index.to_numpy()[idx].ravel().tolist(), method
        assert_allclose(out["distance"], dist.ravel(), rtol=1e-9)
    # And sklearn's own Mahalanobis metric on the raw covariates.
    VI = np.linalg.inv(np.cov(pool.to_numpy(), rowvar=False))
    nn = NearestNeighbors(n_neighbors=5, algorithm="brute", metric="mahalanobis", metric_params={"VI": VI})
    dist, idx = nn.fit(pool.to_numpy()).kneighbors(sites.to_numpy())
    out = match_units(sites, pool, k=5, rule="nearest")
    assert out["comparator_code"].tolist() == pool.index.to_numpy()[idx].ravel().tolist()
    assert_allclose(out["distance"], dist.ravel(), rtol=1e-8)


def test_standardised_euclidean_by_hand(random_pool):
    sites, pool = random_pool
    weights = {"log_population": 2.0, "density": 0.0}
    out = match_units(sites, pool, k=4, method="euclidean", weights=weights, rule="nearest")
    sd = pool.std(ddof=1)
    w = pd.Series({"log_population": 2.0, "share_65": 1.0, "deprivation": 1.0, "density": 0.0})
    d = np.sqrt((((sites.iloc[[2]].to_numpy() - pool.to_numpy()) / sd.to_numpy()) ** 2 * w.to_numpy()).sum(axis=1))
    order = np.argsort(d)[:4]
    mine = out[out["unit"] == "site2"]
    assert mine["comparator_code"].tolist() == pool.index[order].tolist()
    assert_allclose(mine["distance"], d[order], rtol=1e-10)
    # A zero weight is the same as leaving the covariate out.
    without = match_units(sites.drop(columns="density"), pool, k=4, method="euclidean",
                          weights={"log_population": 2.0}, rule="nearest")
    assert without["comparator_code"].tolist() == out["comparator_code"].tolist()


def test_mahalanobis_invariant_to_rescaling_and_pool_order(random_pool):
    sites, pool = random_pool
    base = match_units(sites, pool, k=6)
    rescaled_pool, rescaled_sites = pool.copy(), sites.copy()
    for frame in (rescaled_pool, rescaled_sites):
        frame["density"] = frame["density"] * 1e-3 + 17.0
        frame["share_65"] = frame["share_65"] * 250.0
    rescaled = match_units(rescaled_sites, rescaled_pool, k=6)
    assert rescaled["comparator_code"].tolist() == base["comparator_code"].tolist()
    assert_allclose(rescaled["distance"], base["distance"], rtol=1e-8)
    shuffled = pool.sample(frac=1.0, random_state=3)
    assert shuffled.index.tolist() != pool.index.tolist()
    reordered = match_units(sites, shuffled, k=6)
    assert reordered["comparator_code"].tolist() == base["comparator_code"].tolist()
    assert_allclose(reordered["distance"], base["distance"], rtol=1e-10)


def test_ties_broken_by_code_whatever_the_pool_order():
    pool = _frame({"E3": [1.0], "E1": [-1.0], "E2": [3.0], "E0": [-3.0]}, ["x"])
    site = _frame({"S": [0.0]}, ["x"])
    for order in (["E3", "E1", "E2", "E0"], ["E0", "E2", "E1", "E3"]):
        out = match_units(site, pool.loc[order], k=4)
        assert out["comparator_code"].tolist() == ["E1", "E3", "E0", "E2"]


def test_caliper_warns_naming_the_site_and_keeps_only_close_candidates():
    pool = _frame({"L0": [0.0], "L1": [1.0], "L2": [2.0], "L3": [3.0], "L4": [4.0]}, ["x"])
    sites = _frame({"close": [2.0], "far": [40.0]}, ["x"])
    caliper = 1.5 / np.sqrt(2.5)  # 1.5 covariate units
    out, warnings = match_units(sites, pool, k=3, caliper=caliper, return_warnings=True)
    assert out[out["unit"] == "close"]["comparator_code"].tolist() == ["L2", "L1", "L3"]
    assert (out["unit"] == "far").sum() == 0
    assert len(warnings) == 1 and warnings[0].startswith("far: no comparator within caliper") and "caliper" in warnings[0]
    assert out.attrs["warnings"] == warnings
    partial = match_units(_frame({"edge": [4.5]}, ["x"]), pool, k=3, caliper=caliper)
    assert partial["comparator_code"].tolist() == ["L4"]
    assert partial.attrs["warnings"][0].startswith("edge: only 1 of 3")


def test_missing_covariates_and_bad_settings():
    pool = _frame({"L0": [0.0, 1.0], "L1": [1.0, 0.0], "L2": [2.0, 2.5], "L3": [np.nan, 1.0], "L4": [4.0, 3.0]},
                  ["x", "y"])
    sites = _frame({"ok": [1.0, 1.0], "gap": [np.nan, 1.0]}, ["x", "y"])
    out, warnings = match_units(sites, pool, k=2, return_warnings=True)
    assert set(out["unit"]) == {"ok"} and "L3" not in set(out["comparator_code"])
    assert any(w.startswith("gap: no comparators") for w in warnings)
    assert any("L3" in w for w in warnings)
    with pytest.raises(DataError, match="not one of"):
        match_units(sites, pool, method="cosine")
    with pytest.raises(DataError, match="euclidean method only"):
        match_units(sites, pool, k=2, weights={"x": 2.0})
    with pytest.raises(DataError, match="not matched on"):
        match_units(sites, pool, k=2, method="euclidean", weights={"z": 2.0})
    with pytest.raises(DataError, match="pool has 4 LAs"):
        match_units(sites, pool, k=5)
    with pytest.raises(DataError, match="caliper"):
        match_units(sites, pool, k=2, caliper=-1.0)
    flat = pool.assign(y=1.0)
    with pytest.raises(DataError, match="do not vary"):
        match_units(sites, flat, k=2)
    collinear = pool.dropna().assign(z=lambda f: 2 * f["x"] - f["y"])
    with pytest.raises(DataError, match="collinear"):
        match_units(sites.dropna().assign(z=1.0), collinear, k=2)


def test_balance_table_by_hand():
    pool = _frame({"L0": [0.0, 10.0], "L1": [1.0, 20.0], "L2": [2.0, 30.0], "L3": [3.0, 40.0]}, ["x", "y"])
    site = _frame({"S": [2.5, 15.0]}, ["x", "y"])
    comparators = pd.DataFrame({"unit": ["S", "S"], "comparator_code": ["L2", "L3"]})
    b = balance_table(site, pool, comparators).set_index("covariate")
    sd_x, sd_y = np.std([0, 1, 2, 3], ddof=1), np.std([10, 20, 30, 40], ddof=1)
    assert_allclose(b.loc["x", ["site_value", "comparator_mean", "pool_mean", "pool_sd"]].astype(float),
                    [2.5, 2.5, 1.5, sd_x])
    assert_allclose(b.loc["x", "smd_before"], 1.0 / sd_x)
    assert b.loc["x", "smd_after"] == 0.0 and b.loc["x", "balance_after"] == "good"
    assert_allclose(b.loc["y", "smd_after"], (15 - 35) / sd_y)
    assert b.loc["y", "balance_after"] == "poor"  # |-1.55|
    assert b.loc["x", "balance_before"] == "poor"  # 0.77
    assert (b["n_comparators"] == 2).all()
    mild = balance_table(_frame({"S": [1.7, 25.0]}, ["x", "y"]), pool, comparators).set_index("covariate")
    # x: (1.7 - 1.5) / 1.29 = 0.155 -> acceptable before
    assert mild.loc["x", "balance_before"] == "acceptable"
