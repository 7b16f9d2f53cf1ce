"""The shared indicator panels and the array fast paths built on them agree with the plain routes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from data.aggregate import aggregate
from data.panels import indicator_panels, site_aggregate
from indicators.did import placebo_arrays, placebo_half_width, placebo_half_widths


def _wide(frame: pd.DataFrame, column: str, index: list[str], periods) -> np.ndarray:
    return frame.pivot(index="group", columns="period_start", values=column).reindex(
        index=index, columns=periods).to_numpy(dtype=float)


def test_site_aggregate_matches_data_aggregate_on_counts_rates_and_gaps():
    # Three LAs, two sites, three periods: counts, a rate-only LA, a mixed period and a missing cell.
    periods = pd.to_datetime(["2012-04-01", "2013-04-01", "2014-04-01"])
    rows = []
    for code, num, den, value in [
        ("A", [10, 12, np.nan], [1000, 1000, np.nan], [1.0, 1.2, np.nan]),   # last period missing
        ("B", [5, 6, 7], [500, 400, 700], [1.0, 1.5, 1.0]),
        ("C", [np.nan] * 3, [np.nan, 200, np.nan], [2.0, 3.0, 4.0]),        # rates only
    ]:
        for p, n, d, v in zip(periods, num, den, value):
            rows.append({"indicator_id": "x", "area_code": code, "period_start": p, "frequency": "year",
                         "numerator": n, "denominator": d, "value": v})
    obs = pd.DataFrame(rows)
    members = pd.DataFrame({"group": ["s1", "s1", "s2", "s2"], "area_code": ["A", "B", "B", "C"]})
    ref = aggregate(obs, members, pd.Series({"x": 100.0}))

    areas, sites = ["A", "B", "C"], ["s1", "s2"]
    mats = [obs.pivot(index="area_code", columns="period_start", values=c).reindex(index=areas).to_numpy(float)
            for c in ("numerator", "denominator", "value")]
    m = np.array([[1, 1, 0], [0, 1, 1]], dtype=float)
    num, den, value = site_aggregate(*mats, m, 100.0)
    assert_allclose(value, _wide(ref, "value", sites, periods), rtol=1e-12)
    assert_allclose(num, _wide(ref, "numerator", sites, periods), rtol=1e-12)
    assert_allclose(den, _wide(ref, "denominator", sites, periods), rtol=1e-12)
    # s2 in the last period: B has counts, C only a rate: counts win (a rate is never averaged in).
    assert value[1, 2] == pytest.approx(7 / 700 * 100)


def test_panels_hold_every_la_and_site_series_of_the_demo(demo):
    from data.aggregate import aggregate_sites

    panels = indicator_panels(demo)
    assert panels is indicator_panels(demo)  # built once per dataset
    assert set(panels) == set(demo.catalogue["indicator_id"])
    obs = demo.observations[demo.observations["area_code"] != "E92000001"]
    ref = aggregate_sites(obs, demo.site_areas, demo.catalogue, demo.areas.set_index("area_code")["population"])
    for ind, p in panels.items():
        assert "E92000001" not in p.areas
        wide = ref[ref["indicator_id"] == ind].pivot(index="site_id", columns="period_start", values="value")
        ours = pd.DataFrame(p.site_value, index=p.site_ids, columns=p.periods).reindex(
            index=wide.index, columns=wide.columns)
        assert_allclose(ours.to_numpy(), wide.to_numpy(), rtol=1e-12)
        la = obs[obs["indicator_id"] == ind].pivot(index="area_code", columns="period_start", values="value")
        assert_allclose(pd.DataFrame(p.value, index=p.areas, columns=p.periods).reindex(
            index=la.index, columns=la.columns).to_numpy(), la.to_numpy(), rtol=0)


def test_placebo_arrays_stack_each_pool_la_with_its_comparators(demo):
    from data.panels import indicator_panels
    from matching.select import placebo_set

    areas = indicator_panels(demo)["dtoc"].area_frame
    placebo = placebo_set(demo, "leeds", "dtoc", k=5)
    frame = placebo.frame()
    # Drop two LAs' series so pool LAs and comparators without one must be handled.
    dropped = list(placebo.codes[:2])
    thinned = areas.drop(index=dropped)
    codes, own, comps = placebo_arrays(thinned, placebo.codes, placebo.order)
    assert codes == [c for c in placebo.codes if c in thinned.index] and not set(dropped) & set(codes)
    assert own.shape == (len(codes), areas.shape[1]) and comps.shape == (len(codes), 5, areas.shape[1])
    for i, code in enumerate(codes):
        assert_allclose(own[i], thinned.loc[code].to_numpy())
        ranked = frame[frame["area_code"] == code].sort_values("rank")["comparator_code"].tolist()
        for j, comp in enumerate(ranked):
            want = thinned.loc[comp].to_numpy() if comp in thinned.index else np.full(areas.shape[1], np.nan)
            assert_allclose(comps[i, j], want, equal_nan=True)
    assert np.isnan(comps).any()  # a dropped comparator is a missing row


def test_placebo_half_widths_equal_the_one_column_rule():
    rng = np.random.default_rng(5)
    draws = rng.normal(size=(60, 9))
    draws[rng.random(draws.shape) < 0.2] = np.nan
    draws[:, 3] = np.nan  # a column with no placebo at all
    draws[:50, 4] = np.nan  # too few placebos for a finite 5% interval
    want = [placebo_half_width(draws[:, j]) for j in range(draws.shape[1])]
    assert_allclose(placebo_half_widths(draws), want)
    assert np.isinf(placebo_half_widths(draws)[[3, 4]]).all()
    assert np.isinf(placebo_half_widths(np.zeros((0, 3)))).all()
