"""Each loader on the real files it claims, checked against totals the files themselves carry."""
from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from data.loaders import LoadContext, ascof, dtoc, fingertips
from data.loaders.population import district_to_county, load_district_population, upper_tier_population
from data.reference import ENGLAND_CODE

pytestmark = pytest.mark.realdata

DTOC = "nhse_dtoc_la_monthly_2011_2019/dtoc_delayed_days_by_la_responsible_org_2011-04_2019-12.csv"
MYEB3 = "ons_myeb3_lad_population_2001_2018/MYEB3_summary_components_of_change_series_UK_(2018).csv"
COUNCILS = "mysociety_uk_local_authorities_past_current/uk_local_authorities_current.csv"


@pytest.fixture(scope="session")
def context(real_dir, reference):
    pop = upper_tier_population(real_dir / MYEB3, real_dir / COUNCILS, reference.areas["area_code"].tolist(),
                                carry_forward_to=2024)
    return LoadContext(reference=reference, population=pop, districts=district_to_county(real_dir / COUNCILS),
                       district_population=load_district_population(real_dir / MYEB3))


@pytest.fixture(scope="session")
def dtoc_stack(real_dir, context):
    return dtoc.load(real_dir / DTOC, context)


def test_population_matches_ons_published_totals(context):
    pop = context.population.set_index(["area_code", "year", "age_group"])["population"]
    assert pop[(ENGLAND_CODE, 2018, "all")] == 55_977_178
    assert pop[(ENGLAND_CODE, 2011, "all")] == 53_107_169
    assert pop[("E08000035", 2018, "all")] == 789_194  # Leeds
    counties = context.population[(context.population["year"] == 2018) & (context.population["age_group"] == "all")]
    assert len(counties) == 153  # 152 councils + England
    assert counties[counties["area_code"] != ENGLAND_CODE]["population"].sum() == 55_977_178
    approx = context.population[context.population["age_group"] != "all"]["flag"]
    assert approx.str.contains("approximate_denominator").all()


def test_dtoc_sum_of_councils_equals_england_every_month(real_dir, dtoc_stack):
    """England's row = councils kept + residents outside England + councils dropped by the 2019 policy."""
    england, outside = {}, defaultdict(float)
    with open(real_dir / DTOC, newline="") as f:
        for row in csv.DictReader(f):
            if row["la_name"] == "England":
                england[row["period"]] = float(row["delayed_days_total"])
            elif row["nhs_la_code"] in ("9900", "9901", "9902") or row["ons_code"] in ("E06000058", "E06000059"):
                outside[row["period"]] += float(row["delayed_days_total"])
    obs = dtoc_stack.observations
    councils = obs[obs["area_code"] != ENGLAND_CODE]
    sums = councils.groupby(councils["period_start"].dt.strftime("%Y-%m"))["numerator"].sum()
    eng_rows = obs[obs["area_code"] == ENGLAND_CODE]
    eng = eng_rows.set_index(eng_rows["period_start"].dt.strftime("%Y-%m"))["numerator"]
    assert len(england) == 105 and len(sums) == 105
    for period, total in england.items():
        assert sums[period] + outside[period] == pytest.approx(total, abs=0.5), period
        assert eng[period] == total
    assert england["2013-04"] == 113_297 and england["2019-12"] == 148_101


def test_dtoc_codes_before_july_2015_map_to_the_same_councils(dtoc_stack):
    obs = dtoc_stack.observations
    per_month = obs[obs["area_code"] != ENGLAND_CODE].groupby("period_start")["area_code"].nunique()
    # 151 councils every month (Isles of Scilly is not in the returns); 148 after the Apr 2019 cutoff (Bournemouth, Poole, Dorset end).
    assert set(per_month[per_month.index < "2019-05-01"]) == {151}
    assert set(per_month[per_month.index >= "2019-05-01"]) == {148}
    early = set(obs[obs["period_start"] == "2011-04-01"]["area_code"])
    late = set(obs[obs["period_start"] == "2016-04-01"]["area_code"])
    assert early == late
    poole_apr19 = obs[(obs["area_code"] == "E06000029") & (obs["period_start"] == "2019-04-01")].iloc[0]
    assert np.isnan(poole_apr19["numerator"]) and "missing" in poole_apr19["flag"]


def test_dtoc_workbooks_agree_with_the_stack(real_dir, context, dtoc_stack):
    stack = dtoc_stack.observations.set_index(["area_code", "period_start"])["numerator"]
    for name, month in (("April_16.xls", "2016-04-01"), ("Dec_19.xls", "2019-12-01")):
        book = dtoc.load(real_dir / "nhse_dtoc_la_monthly_2011_2019" / "original_samples" / name, context)
        obs = book.observations
        assert set(obs["period_start"]) == {pd.Timestamp(month)}
        assert len(obs) == len(stack.xs(pd.Timestamp(month), level="period_start"))
        for row in obs.itertuples():
            assert row.numerator == stack[(row.area_code, row.period_start)] or np.isnan(row.numerator)


def test_dtoc_value_is_days_per_100k_adults(dtoc_stack):
    eng = dtoc_stack.observations.query("area_code == @ENGLAND_CODE")
    ratio = eng["value"] / (eng["numerator"] / eng["denominator"] * 1e5)
    assert np.allclose(ratio, 1)
    assert 200 < eng["value"].min() and eng["value"].max() < 500  # domain.md: ~270 to ~460 per 100k a month


def test_ascof_england_2017_18_matches_published(real_dir, context):
    result = ascof.load(real_dir / "nhsd_ascof_csv_2017_2024" / "trend_data.csv", context)
    obs = result.observations.set_index(["indicator_id", "area_code", "period_start"])["value"]
    assert obs[("care_home_65", ENGLAND_CODE, pd.Timestamp("2017-04-01"))] == pytest.approx(585.6)
    assert obs[("reablement_91", ENGLAND_CODE, pd.Timestamp("2017-04-01"))] == pytest.approx(82.9)
    # 2023/24 renumbering: the new 2C row (read independently here) lands on care_home_65.
    raw = pd.read_csv(real_dir / "nhsd_ascof_csv_2017_2024" / "trend_data.csv", dtype=str, keep_default_na=False)
    new_2c = raw[(raw["Year"] == "2023-24") & (raw["Measure Group"] == "2C") & (raw["ONS Code"] == ENGLAND_CODE)]
    assert obs[("care_home_65", ENGLAND_CODE, pd.Timestamp("2023-04-01"))] == float(new_2c["Measure_Value"].iloc[0])
    first = result.observations[result.observations["period_start"] == "2017-04-01"]
    assert first.groupby("indicator_id")["area_code"].nunique().to_dict() == {"care_home_65": 153,
                                                                             "reablement_91": 153}
    assert not any("2A2" in k or "2B1" in k for k in result.skipped)  # never skipped as unknown


def test_fingertips_export_keeps_totals_and_reads_counts(real_dir, context):
    ctx = LoadContext(**{**context.__dict__, "indicator_map": {"93356": "falls_65"}})
    path = real_dir / "fingertips_countyua_export_campylobacter_2015" / "indicators-CountyUA.data.csv"
    result = fingertips.load(path, ctx)
    obs = result.observations.set_index(["area_code", "period_start"])
    hartlepool = obs.loc[("E06000001", pd.Timestamp("2015-01-01"))]  # calendar 2015
    assert (hartlepool["numerator"], hartlepool["denominator"]) == (132, 92_493)
    assert round(hartlepool["value"], 1) == 142.7
    assert obs.loc[(ENGLAND_CODE, pd.Timestamp("2015-01-01")), "numerator"] == 51_897
    assert obs.loc[("E10000016", pd.Timestamp("2015-01-01")), "denominator"] == 1_524_719  # Kent
    codes = result.observations["area_code"]
    assert codes.str.startswith("E12").sum() == 27 and (codes == ENGLAND_CODE).sum() == 3
    assert codes[~codes.str.startswith(("E12", "E92"))].nunique() == 152
    assert sum(n for k, n in result.skipped.items() if k.startswith("category")) == 60


def test_fingertips_extract_falls_england_and_counties(real_dir, context):
    path = real_dir / "trafford_gm_fingertips_ascof_dtoc" / "admissions_falls.csv"
    result = fingertips.load(path, context)
    obs = result.observations.set_index(["area_code", "period_start"])["value"]
    assert obs[(ENGLAND_CODE, pd.Timestamp("2010-04-01"))] == 2126
    assert obs[(ENGLAND_CODE, pd.Timestamp("2015-04-01"))] == 2169
    raw = pd.read_csv(path, dtype={"value": float})
    kent_districts = set(context.districts.loc[context.districts["county"] == "E10000016", "district"])
    kent_raw = raw[raw["area_code"].isin(kent_districts) & (raw["period"] == "2015/16")]["value"]
    assert len(kent_raw) == 12
    kent = obs[("E10000016", pd.Timestamp("2015-04-01"))]
    assert kent_raw.min() < kent < kent_raw.max()
    leeds = raw[(raw["area_code"] == "E08000035") & (raw["period"] == "2015/16")]["value"].iloc[0]
    assert obs[("E08000035", pd.Timestamp("2015-04-01"))] == leeds
    county_rows = result.observations[result.observations["area_code"].str.startswith("E10")]
    assert county_rows["flag"].str.contains("rate_only").all() and county_rows["area_code"].nunique() == 27


def test_fingertips_extract_diupr_england_2001(real_dir, context):
    result = fingertips.load(real_dir / "trafford_gm_fingertips_ascof_dtoc" / "deaths_at_home.csv", context)
    obs = result.observations.set_index(["area_code", "period_start"])["value"]
    assert obs[(ENGLAND_CODE, pd.Timestamp("2001-01-01"))] == 38.3  # calendar 2001, from 1 January
    assert result.source["vintage"] == "2001 to 2016"
    assert result.observations["area_code"].str.startswith("E10").sum() == 27 * 16


def test_fingertips_periods():
    assert fingertips.period_start("2015") == (pd.Timestamp("2015-01-01"), "")  # a calendar year keeps its dates
    assert fingertips.period_start("2015/16") == (pd.Timestamp("2015-04-01"), "")
    assert fingertips.period_start("2015 - 17") == (pd.Timestamp("2016-01-01"), "estimated")
    assert fingertips.period_start("2015/17") is None
