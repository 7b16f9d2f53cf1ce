"""Reference data, periods, site aggregation and the realism of the demo dataset."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.aggregate import aggregate, aggregate_sites
from data.errors import DataError
from data.periods import align, fy_quarter, parse_period, period_label, period_range
from data.reference import ENGLAND_CODE, load_reference

# --- reference data ---------------------------------------------------------------------------


def test_reference_has_152_las_25_sites_12_indicators(reference):
    assert len(reference.areas) == 152
    assert reference.areas["type"].value_counts().to_dict() == {
        "unitary": 56, "metropolitan district": 36, "london borough": 32, "county": 27, "city of london": 1}
    assert reference.areas["region"].value_counts().to_dict() == {
        "London": 33, "North West": 23, "South East": 19, "South West": 16, "Yorkshire and The Humber": 15,
        "West Midlands": 14, "North East": 12, "East of England": 11, "East Midlands": 9}
    assert len(reference.sites) == 25
    assert reference.sites["wave"].value_counts().to_dict() == {1: 14, 2: 11}
    assert len(reference.catalogue) == 12


def test_site_footprints_follow_domain_brief(reference):
    sa = reference.site_areas
    nwl = set(sa[sa.site_id == "nw-london"].area_code)
    assert nwl == {"E09000005", "E09000009", "E09000013", "E09000015", "E09000017", "E09000018",
                   "E09000020", "E09000033"}
    assert len(sa[sa.site_id == "greater-manchester"]) == 10
    part = sa[sa.coverage == "part"].set_index(["site_id", "area_code"]).index
    assert ("north-staffs", "E10000028") in part and ("south-somerset", "E10000027") in part
    assert (sa[sa.coverage == "part"]["population_share"] < 1).all()


def test_wave_defaults_and_per_site_override(reference, tmp_path):
    sites = reference.sites.set_index("site_id")
    assert sites.at["leeds", "start"] == pd.Timestamp("2013-10-01")
    assert sites.at["leeds", "transition_end"] == pd.Timestamp("2014-03-31")
    assert sites.at["camden", "start"] == pd.Timestamp("2015-04-01")
    # an analyst overrides one site's start in the file
    import shutil
    from data.reference import REFERENCE_DIR
    for f in REFERENCE_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    text = (tmp_path / "sites.csv").read_text().replace("camden,Camden,2,,,", "camden,Camden,2,2015-07-01,,")
    (tmp_path / "sites.csv").write_text(text)
    edited = load_reference(tmp_path).sites.set_index("site_id")
    assert edited.at["camden", "start"] == pd.Timestamp("2015-07-01")
    assert edited.at["sheffield", "start"] == pd.Timestamp("2015-04-01")


def test_comparator_pool_excludes_every_pioneer_la_and_exclusions(reference):
    pool = set(reference.comparator_pool())
    assert not pool & set(reference.site_areas.area_code)
    assert "E06000053" not in pool and "E09000001" not in pool
    assert len(pool) == 152 - reference.site_areas.area_code.nunique()


def test_a_bad_edit_to_reference_is_reported_with_file_row_and_column(tmp_path):
    import shutil
    from data.reference import REFERENCE_DIR
    for f in REFERENCE_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    text = (tmp_path / "site_areas.csv").read_text().replace("leeds,E08000035,whole", "leeds,E08999999,whole")
    (tmp_path / "site_areas.csv").write_text(text)
    with pytest.raises(DataError) as err:
        load_reference(tmp_path)
    msg = str(err.value)
    assert "site_areas.csv" in msg and "area_code" in msg and "E08999999" in msg and "row 10" in msg


def test_anonymous_labels_follow_neither_alphabetical_nor_wave_order(reference):
    sites = reference.sites
    labels = sites["anon_label"]
    assert sorted(labels) == [f"Pioneer {chr(65 + i)}" for i in range(25)]
    for order in (sites.index, sites.sort_values("name").index):
        seq = labels.loc[order].str[-1].map(ord).to_numpy()
        assert not (np.abs(np.diff(seq)) == 1).any()


# --- periods -----------------------------------------------------------------------------------

@pytest.mark.parametrize("start,freq,label", [
    ("2014-04-01", "quarter", "2014/15 Q1"), ("2014-10-01", "quarter", "2014/15 Q3"),
    ("2015-01-01", "quarter", "2014/15 Q4"), ("2014-04-01", "year", "2014/15"),
    ("1999-04-01", "year", "1999/00"), ("2014-04-01", "month", "Apr 2014"), ("2015-03-01", "month", "Mar 2015"),
])
def test_financial_year_labels(start, freq, label):
    assert period_label(pd.Timestamp(start), freq) == label
    assert parse_period(label) == (pd.Timestamp(start), freq)


def test_period_alignment_and_ranges():
    assert align(pd.Timestamp("2015-02-17"), "quarter") == pd.Timestamp("2015-01-01")
    assert align(pd.Timestamp("2015-02-17"), "year") == pd.Timestamp("2014-04-01")
    assert fy_quarter(pd.Timestamp("2013-11-01")) == 3
    assert len(period_range("2010-04-01", "2019-03-01", "quarter")) == 36
    assert len(period_range("2010-04-01", "2019-03-01", "month")) == 108


@pytest.mark.parametrize("text,expected", [
    ("2014-04", ("2014-04-01", "month")), ("2019-12", ("2019-12-01", "month")), ("2011-12", ("2011-12-01", "month")),
    ("2014-15", ("2014-04-01", "year")), ("2014-04-01", ("2014-04-01", "month")), ("2014/15 Q4", ("2015-01-01", "quarter")),
])
def test_iso_months_and_hyphenated_financial_years(text, expected):
    assert parse_period(text) == (pd.Timestamp(expected[0]), expected[1])


@pytest.mark.parametrize("bad", ["2014/16", "Q1 2014", "2014-13", "Foo 2014", ""])
def test_unreadable_periods_say_what_was_expected(bad):
    with pytest.raises(ValueError, match="expected"):
        parse_period(bad)


# --- aggregation -------------------------------------------------------------------------------

def test_site_value_is_sum_of_numerators_over_sum_of_denominators():
    # Hand-worked: LA A 30 admissions / 1,000 people; LA B 10 / 4,000. Site rate = 40 / 5,000
    # = 800 per 100,000, not the mean of the two rates (3,000 and 250 -> 1,625).
    obs = pd.DataFrame({
        "indicator_id": "ea_all", "area_code": ["A", "B"], "period_start": pd.Timestamp("2014-04-01"),
        "frequency": "quarter", "numerator": [30.0, 10.0], "denominator": [1000.0, 4000.0],
        "value": [3000.0, 250.0]})
    members = pd.DataFrame({"group": ["site", "site"], "area_code": ["A", "B"]})
    out = aggregate(obs, members, pd.Series({"ea_all": 100000.0}))
    assert out.loc[0, "numerator"] == 40 and out.loc[0, "denominator"] == 5000
    assert out.loc[0, "value"] == pytest.approx(800.0)
    assert out.loc[0, "flag"] == ""


def test_rate_only_sources_are_weighted_and_flagged():
    obs = pd.DataFrame({
        "indicator_id": "falls_65", "area_code": ["A", "B"], "period_start": pd.Timestamp("2014-04-01"),
        "frequency": "year", "numerator": [np.nan, np.nan], "denominator": [1000.0, 3000.0],
        "value": [2000.0, 1000.0]})
    members = pd.DataFrame({"group": ["s", "s"], "area_code": ["A", "B"]})
    out = aggregate(obs, members, pd.Series({"falls_65": 100000.0}))
    assert out.loc[0, "value"] == pytest.approx((2000 * 1000 + 1000 * 3000) / 4000)
    assert out.loc[0, "flag"] == "rate_only"
    assert np.isnan(out.loc[0, "numerator"])


def test_missing_member_flags_the_aggregate_incomplete():
    obs = pd.DataFrame({
        "indicator_id": "ea_all", "area_code": ["A", "B"], "period_start": pd.Timestamp("2014-04-01"),
        "frequency": "quarter", "numerator": [30.0, np.nan], "denominator": [1000.0, 4000.0],
        "value": [3000.0, np.nan]})
    members = pd.DataFrame({"group": ["s", "s"], "area_code": ["A", "B"]})
    out = aggregate(obs, members, pd.Series({"ea_all": 100000.0}))
    assert out.loc[0, "flag"] == "incomplete" and out.loc[0, "n_areas"] == 1


def test_demo_england_row_is_the_sum_of_all_areas(demo):
    obs = demo.observations
    las = obs[obs.area_code != ENGLAND_CODE].groupby(["indicator_id", "period_start"])["numerator"].sum()
    eng = obs[obs.area_code == ENGLAND_CODE].set_index(["indicator_id", "period_start"])["numerator"]
    pd.testing.assert_series_equal(las.sort_index(), eng.sort_index(), check_names=False)


def test_aggregate_sites_covers_all_sites_and_indicators(demo):
    out = aggregate_sites(demo.observations, demo.site_areas, demo.catalogue)
    assert out["site_id"].nunique() == 25 and out["indicator_id"].nunique() == 12


# --- realism of the demo -----------------------------------------------------------------------

def _england_by_fy(demo, indicator_id):
    obs = demo.observations
    e = obs[(obs.area_code == ENGLAND_CODE) & (obs.indicator_id == indicator_id)].copy()
    e["fy"] = [d.year if d.month >= 4 else d.year - 1 for d in e["period_start"]]
    return e


# Ranges from domain.md section 4, per year (rates) or as a level (percentages).
ANNUAL_RATE_RANGES = {
    "ea_all": (2013, 8000, 9800),        # ~8,900/100k/yr (891 per 10,000 in 2013/14)
    "ea_65": (2010, 22000, 26000),       # ~23,000-25,000/100k/yr in 2010/11
    "acsc_chronic": (2014, 800, 1000),
    "acute_no_admit": (2014, 1200, 1500),
    "ae_attend": (2014, 350, 400),
    "care_home_65": (2014, 620, 700),    # 659 (2014/15)
    "falls_65": (2010, 2000, 2250),      # 2126 (2010/11)
}
LEVEL_RANGES = {
    ("readmit_30", 2014): (11, 13), ("reablement_91", 2015): (80, 84), ("diupr_65", 2014): (42, 49),
    ("ltc_supported", 2012): (52, 56), ("ltc_supported", 2017): (49, 53),
}


@pytest.mark.parametrize("indicator_id", sorted(ANNUAL_RATE_RANGES))
def test_demo_england_annual_rates_within_domain_ranges(demo, indicator_id):
    fy, low, high = ANNUAL_RATE_RANGES[indicator_id]
    e = _england_by_fy(demo, indicator_id)
    yearly = e[e.fy == fy]
    multiplier = demo.catalogue.set_index("indicator_id").at[indicator_id, "multiplier"]
    annual = yearly["numerator"].sum() / yearly["denominator"].mean() * multiplier
    assert low <= annual <= high, f"{indicator_id} {fy}: {annual:.0f} not in [{low}, {high}]"


@pytest.mark.parametrize("key", sorted(LEVEL_RANGES))
def test_demo_england_percentages_within_domain_ranges(demo, key):
    indicator_id, fy = key
    low, high = LEVEL_RANGES[key]
    e = _england_by_fy(demo, indicator_id)
    yearly = e[e.fy == fy]
    level = yearly["numerator"].sum() / yearly["denominator"].sum() * 100
    assert low <= level <= high, f"{indicator_id} {fy}: {level:.1f}% not in [{low}, {high}]"


def test_demo_dtoc_shape_and_skew(demo):
    e = _england_by_fy(demo, "dtoc").set_index("period_start")["value"]
    assert 240 <= e["2011-04-01":"2012-03-01"].mean() <= 310      # ~270 in 2011
    assert 420 <= e["2016-12-01":"2017-03-01"].mean() <= 500      # ~460 early 2017
    assert 280 <= e["2018-06-01":"2018-08-01"].mean() <= 350      # ~310 mid 2018
    obs = demo.observations
    la = obs[(obs.indicator_id == "dtoc") & (obs.area_code != ENGLAND_CODE)]
    by_la = la.groupby("area_code")["numerator"].sum() / la.groupby("area_code")["denominator"].sum()
    assert by_la.quantile(0.98) / by_la.quantile(0.02) > 10        # heavily skewed between LAs


def test_demo_admissions_peak_in_winter(demo):
    e = _england_by_fy(demo, "ea_all")
    q = e.groupby(e["period_start"].dt.month)["value"].mean()
    assert q[1] > q[7] and q[1] > q[4]  # Jan-Mar above Jul-Sep and Apr-Jun


def test_demo_levels_follow_deprivation(demo):
    obs = demo.observations
    ea = obs[(obs.indicator_id == "ea_all") & (obs.area_code != ENGLAND_CODE)]
    rate = ea.groupby("area_code")["numerator"].sum() / ea.groupby("area_code")["denominator"].sum()
    dep = demo.areas.set_index("area_code")["deprivation"]
    assert np.corrcoef(rate.loc[dep.index], dep)[0, 1] > 0.2


def test_demo_has_a_few_missing_and_suppressed_values(demo):
    flags = demo.observations["flag"].value_counts()
    assert 0 < flags.get("missing", 0) < 0.01 * len(demo.observations)
    assert flags.get("suppressed", 0) > 0
    assert demo.observations.loc[demo.observations.flag == "missing", "value"].isna().all()


def test_truth_table_plants_some_effects_and_dilutes_part_areas(demo):
    truth = demo.truth
    assert len(truth) == 25 * 12
    share = (truth["effect_pct"] != 0).mean()
    assert 0.2 < share < 0.5
    whole_only = truth[truth.site_id == "leeds"]
    assert (whole_only["effect_pct"] == whole_only["effect_pct_la_basis"]).all()
    somerset = truth[(truth.site_id == "south-somerset") & (truth.effect_pct != 0)]
    assert len(somerset) and (somerset.effect_pct_la_basis.abs() < somerset.effect_pct.abs()).all()


def test_planted_effect_shows_in_the_counts(demo):
    # Leeds is a whole-LA wave-1 site: a planted effect must move its rate relative to England.
    truth = demo.truth.set_index(["site_id", "indicator_id"])["effect_pct"]
    obs = demo.observations
    for ind in ("ea_all", "ea_65", "acsc_chronic", "acute_no_admit", "ae_attend", "dtoc"):
        eff = truth[("leeds", ind)]
        site = obs[(obs.area_code == "E08000035") & (obs.indicator_id == ind)].set_index("period_start")["value"]
        eng = obs[(obs.area_code == ENGLAND_CODE) & (obs.indicator_id == ind)].set_index("period_start")["value"]
        ratio = site / eng
        change = (ratio["2014-04-01":].mean() / ratio[:"2013-03-31"].mean() - 1) * 100
        if abs(eff) >= 6:
            assert np.sign(change) == np.sign(eff), (ind, eff, change)
