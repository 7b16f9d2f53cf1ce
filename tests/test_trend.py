"""Trend series: hand-worked on a five-LA mini dataset, and consistent on the demo dataset."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from data.aggregate import aggregate
from data.errors import DataError
from data.reference import ENGLAND_CODE
from data.store import Dataset
from indicators.ci import byar_rate, wilson
from indicators.trend import TREND_COLUMNS, area_values, period_phase, site_values, trend_spc, trend_table

QUARTERS = pd.to_datetime(["2012-10-01", "2013-04-01", "2014-01-01", "2014-04-01"])


def _mini_dataset(with_england: bool = True) -> Dataset:
    """Site s1 = LAs A1 + A2; comparators C1, C2, C3; one quarterly rate per 100,000.

    Period 1 (2012/13 Q3), counts / population:
      A1 10 / 1,000 (1,000 per 100k)   A2 60 / 3,000 (2,000)   -> site 70 / 4,000 = 1,750
      C1  5 / 1,000 (500)   C2 20 / 2,000 (1,000)   C3 30 / 1,000 (3,000)
    Later periods are written below; C3 does not report in period 2.
    """
    counts = {  # area: [(numerator, denominator) per quarter]
        "A1": [(10, 1000), (20, 1000), (30, 1000), (40, 1000)],
        "A2": [(60, 3000), (30, 3000), (15, 3000), (0, 3000)],
        "C1": [(5, 1000), (6, 1000), (7, 1000), (8, 1000)],
        "C2": [(20, 2000), (20, 2000), (20, 2000), (20, 2000)],
        "C3": [(30, 1000), (None, 1000), (10, 1000), (10, 1000)],
    }
    rows = []
    for area, series in counts.items():
        for start, (num, den) in zip(QUARTERS, series):
            value = np.nan if num is None else num / den * 100_000
            rows.append((area, start, np.nan if num is None else float(num), float(den), value,
                         "missing" if num is None else ""))
    if with_england:
        for start, (num, den) in zip(QUARTERS, [(500, 50_000), (400, 50_000), (450, 50_000), (300, 50_000)]):
            rows.append((ENGLAND_CODE, start, float(num), float(den), num / den * 100_000, ""))
    obs = pd.DataFrame(rows, columns=["area_code", "period_start", "numerator", "denominator", "value", "flag"])
    obs = obs.assign(indicator_id="rate_q", frequency="quarter", ci_low=np.nan, ci_high=np.nan, source="test")
    areas = pd.DataFrame({"area_code": list(counts), "name": [f"Area {c}" for c in counts]})
    catalogue = pd.DataFrame([{"indicator_id": "rate_q", "name": "A rate", "multiplier": 100_000.0,
                               "unit": "per 100,000", "polarity": "lower", "frequency": "quarter",
                               "value_type": "rate", "ci_method": "byar"}])
    sites = pd.DataFrame([{"site_id": "s1", "name": "Site one", "wave": 1, "start": pd.Timestamp("2013-10-01"),
                           "transition_start": pd.Timestamp("2013-04-01"),
                           "transition_end": pd.Timestamp("2014-03-31"), "anon_label": "Pioneer Q"}])
    site_areas = pd.DataFrame({"site_id": "s1", "area_code": ["A1", "A2"], "coverage": ["whole", "part"],
                               "population_share": [1.0, 0.5]})
    tables = {"observations": obs, "areas": areas, "catalogue": catalogue, "sites": sites,
              "site_areas": site_areas}
    return Dataset(path=Path("."), manifest={"label": "demo", "dataset_checksum": "mini"}, tables=tables)


COMPARATORS = pd.DataFrame({"site_id": "s1", "comparator_code": ["C1", "C2", "C3"]})


def trend_series(dataset, site_id, indicator_id, comparators):
    """One site's trend through the route the app uses (trend_table, sliced as analysis.results does)."""
    table = trend_table(dataset, comparators, site_ids=[site_id], indicator_ids=[indicator_id])
    return table.drop(columns=["site_id", "indicator_id"]).reset_index(drop=True)


def test_two_la_site_is_sum_of_numerators_over_sum_of_denominators():
    trend = trend_series(_mini_dataset(), "s1", "rate_q", COMPARATORS)
    assert list(trend.columns) == TREND_COLUMNS
    # Hand-worked: (10+60)/(1000+3000), (20+30)/4000, (30+15)/4000, (40+0)/4000 per 100,000.
    assert trend["site_value"].tolist() == pytest.approx([1750.0, 1250.0, 1125.0, 1000.0], rel=1e-12)
    assert trend["site_numerator"].tolist() == [70.0, 50.0, 45.0, 40.0]
    assert trend["site_denominator"].tolist() == [4000.0] * 4
    # Not the mean of the two LAs' rates, which would be (1000 + 2000) / 2 = 1500 in period 1.
    assert trend["site_value"].iloc[0] != 1500.0
    low, high = byar_rate(70.0, 4000.0, multiplier=100_000)
    assert (trend["site_ci_low"].iloc[0], trend["site_ci_high"].iloc[0]) == pytest.approx((low, high), rel=1e-12)


def test_comparator_mean_pooled_and_range_by_hand():
    trend = trend_series(_mini_dataset(), "s1", "rate_q", COMPARATORS)
    first = trend.iloc[0]
    assert first["comparator_mean"] == pytest.approx((500 + 1000 + 3000) / 3)
    assert first["comparator_pooled"] == pytest.approx((5 + 20 + 30) / (1000 + 2000 + 1000) * 100_000)  # 1375
    assert (first["comparator_min"], first["comparator_max"], first["comparator_n"]) == (500.0, 3000.0, 3)
    second = trend.iloc[1]  # C3 missing: mean of C1 and C2 only, and the pool leaves C3's population out
    assert second["comparator_n"] == 2
    assert second["comparator_mean"] == pytest.approx((600 + 1000) / 2)
    assert second["comparator_pooled"] == pytest.approx(26 / 3000 * 100_000)


def test_phases_labels_and_dates_attached():
    trend = trend_series(_mini_dataset(), "s1", "rate_q", COMPARATORS)
    assert trend["period_label"].tolist() == ["2012/13 Q3", "2013/14 Q1", "2013/14 Q4", "2014/15 Q1"]
    assert trend["phase"].tolist() == ["pre", "transition", "transition", "post"]


def test_england_published_row_or_sum_of_las():
    published = trend_series(_mini_dataset(), "s1", "rate_q", COMPARATORS)
    assert published["england_value"].tolist() == pytest.approx([1000.0, 800.0, 900.0, 600.0], rel=1e-12)
    low, high = byar_rate(500.0, 50_000.0, multiplier=100_000)
    assert published["england_ci_low"].iloc[0] == pytest.approx(low)
    # Site period 1: 1,750 (CI about 1,364 to 2,211) vs England 1,000, lower is better -> worse.
    assert published["benchmark"].iloc[0] == "worse"
    summed = trend_series(_mini_dataset(with_england=False), "s1", "rate_q", COMPARATORS)
    # Period 1: all five LAs: (10+60+5+20+30) / (1000+3000+1000+2000+1000) = 125/8000.
    assert summed["england_value"].iloc[0] == pytest.approx(125 / 8000 * 100_000)


def test_comparators_without_site_column_and_none():
    trend = trend_series(_mini_dataset(), "s1", "rate_q", pd.DataFrame({"comparator_code": ["C1"]}))
    assert trend["comparator_mean"].iloc[0] == 500.0
    empty = trend_series(_mini_dataset(), "s1", "rate_q", None)
    assert empty["comparator_mean"].isna().all() and (empty["comparator_n"] == 0).all()


def test_bad_input_is_refused_by_name():
    ds = _mini_dataset()
    with pytest.raises(DataError, match="unknown site"):
        trend_series(ds, "nowhere", "rate_q", COMPARATORS)
    with pytest.raises(DataError, match="unknown indicator"):
        trend_series(ds, "s1", "nothing", COMPARATORS)
    with pytest.raises(DataError, match="comparator_code"):
        trend_series(ds, "s1", "rate_q", pd.DataFrame({"code": ["C1"]}))
    with pytest.raises(DataError, match="its own|own LAs"):
        trend_series(ds, "s1", "rate_q", pd.DataFrame({"comparator_code": ["C1", "A2"]}))
    with pytest.raises(DataError, match="not LAs"):
        trend_series(ds, "s1", "rate_q", pd.DataFrame({"comparator_code": ["Z9"]}))


def test_period_phase_for_wave_two_years_and_quarters():
    years = pd.Series(pd.to_datetime(["2013-04-01", "2014-04-01", "2015-04-01"]))
    phase = period_phase(years, "year", "2015-04-01", "2015-01-01", "2015-03-31")
    assert phase.tolist() == ["pre", "transition", "post"]
    quarters = pd.Series(pd.to_datetime(["2014-10-01", "2015-01-01", "2015-04-01"]))
    assert period_phase(quarters, "quarter", "2015-04-01", "2015-01-01", "2015-03-31").tolist() == [
        "pre", "transition", "post"]
    # Without a transition, only a period straddling the start is "transition".
    assert period_phase(years, "year", "2014-10-01", None, None).tolist() == ["pre", "transition", "post"]


# --- the demo dataset ---------------------------------------------------------------------------

def test_demo_england_is_the_sum_over_all_152_las(demo):
    las = demo.observations[demo.observations["area_code"] != ENGLAND_CODE]
    assert las["area_code"].nunique() == 152 == len(demo.areas)
    members = pd.DataFrame({"group": "england", "area_code": demo.areas["area_code"]})
    summed = aggregate(las, members, demo.catalogue.set_index("indicator_id")["multiplier"])
    comparators = pd.DataFrame({"site_id": "leeds", "comparator_code": ["E08000025"]})
    table = trend_table(demo, comparators, site_ids=["leeds"])
    merged = table.merge(summed, on=["indicator_id", "period_start"], suffixes=("", "_sum"))
    assert len(merged) == len(table) == demo.observations["area_code"].eq(ENGLAND_CODE).sum()
    complete = merged["n_areas"] == 152
    assert complete.sum() > 150  # (Isles of Scilly's small counts are often suppressed)
    # England's value is exactly the reporting LAs' sum of counts over their sum of denominators,
    # whether or not all 152 reported.
    assert_allclose(merged["england_value"], merged["value"], rtol=1e-12)
    # Where some did not report, England's count is still the sum of the reported counts, and it says so.
    england = demo.observations[demo.observations["area_code"] == ENGLAND_CODE]
    check = england.merge(summed, on=["indicator_id", "period_start"], suffixes=("", "_sum"))
    assert_allclose(check["numerator"], check["numerator_sum"], rtol=1e-12)
    assert (merged.loc[~complete, "england_flag"] == "estimated").all()


def test_demo_site_values_match_raw_counts(demo):
    values = site_values(demo, "readmit_30")
    obs = demo.observations[demo.observations["indicator_id"] == "readmit_30"]
    cheshire = obs[obs["area_code"].isin(["E06000049", "E06000050"])].groupby("period_start")[
        ["numerator", "denominator"]].sum()
    got = values[values["site_id"] == "cheshire"].set_index("period_start")
    assert_allclose(got["value"], cheshire["numerator"] / cheshire["denominator"] * 100, rtol=1e-12)
    low, _ = wilson(cheshire["numerator"], cheshire["denominator"], multiplier=100)
    assert_allclose(got["ci_low"], low, rtol=1e-12)
    assert set(values["site_id"]) == set(demo.sites["site_id"])
    assert set(values["phase"]) == {"pre", "transition", "post"}


def test_demo_trend_table_every_site_and_indicator(demo, reference):
    pool = reference.comparator_pool()
    comparators = pd.concat([pd.DataFrame({"site_id": s, "comparator_code": pool[i:i + 8]})
                             for i, s in enumerate(demo.sites["site_id"])], ignore_index=True)
    table = trend_table(demo, comparators)
    groups = dict(list(table.groupby(["site_id", "indicator_id"], sort=False)))
    assert len(groups) == 25 * 12
    one = trend_series(demo, "leeds", "ea_all", comparators)
    pd.testing.assert_frame_equal(one, groups[("leeds", "ea_all")].drop(columns=["site_id", "indicator_id"])
                                  .reset_index(drop=True))
    assert table["comparator_n"].max() == 8
    assert (table["site_flag"] == "incomplete").any()


def test_mini_trend_without_an_england_row():
    single = trend_series(_mini_dataset(with_england=False), "s1", "rate_q", COMPARATORS)
    assert single["england_ci_low"].notna().all()


def test_demo_area_values_for_funnel_plot(demo):
    frame = area_values(demo, "diupr_65")
    assert len(frame) == 152 and frame["period_start"].nunique() == 1
    assert frame["period_start"].iloc[0] == demo.observations.query("indicator_id == 'diupr_65'")["period_start"].max()
    reported = frame["value"].notna()
    assert ((frame.loc[reported, "ci_low"] <= frame.loc[reported, "value"])
            & (frame.loc[reported, "value"] <= frame.loc[reported, "ci_high"])).all()
    assert frame.loc[frame["area_code"] == "E08000016", "site_ids"].iloc[0] == "barnsley"
    assert set(frame["benchmark"]) <= {"better", "similar", "worse", "not compared"}
    above = frame["ci_low"] > frame["england_value"]
    assert (frame.loc[above, "benchmark"] == "better").all()  # higher is better for this indicator


def test_trend_spc_uses_pre_periods_as_baseline(demo):
    trend = trend_series(demo, "barnsley", "ea_all", None)
    chart = trend_spc(trend, "lower")
    n_pre = int((trend["phase"] == "pre").sum())
    assert n_pre == 12 and chart.attrs["n_baseline"] == n_pre
    assert chart.attrs["mean"] == pytest.approx(trend["site_value"].iloc[:n_pre].mean())
