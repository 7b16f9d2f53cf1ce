"""Calendar-year data phased by their true dates (issue 15 part 3)."""
import pandas as pd
import pytest

from data.loaders import fingertips
from data.loaders.tidy import _parse as tidy_period
from data.periods import containing_period, period_label, period_phase
from data.reference import load_reference


@pytest.fixture(scope="module")
def waves():
    return load_reference().waves.set_index("wave")


def _phases(starts, wave_row):
    return dict(zip([s.year for s in starts], period_phase(pd.Series(starts), "year", wave_row["start"],
                                                          wave_row["transition_start"], wave_row["transition_end"])))


def test_each_wave_phases_calendar_years_by_hand(waves):
    # The sites table's dates: wave 1 starts 2013-10-01, transition 2013-04-01 to 2014-03-31;
    # wave 2 starts 2015-04-01, transition 2015-01-01 to 2015-03-31.
    w1, w2 = waves.loc[1], waves.loc[2]
    assert (str(w1["transition_start"].date()), str(w1["transition_end"].date())) == ("2013-04-01", "2014-03-31")
    assert (str(w2["transition_start"].date()), str(w2["transition_end"].date())) == ("2015-01-01", "2015-03-31")
    calendar = [fingertips.period_start(str(y))[0] for y in range(2011, 2018)]
    # Wave 1: 2012 ends before Apr 2013 (pre); 2013 overlaps the transition; so does 2014 (Jan-Mar 2014);
    # 2015 begins after Mar 2014 (post).
    assert _phases(calendar, w1) == {2011: "pre", 2012: "pre", 2013: "transition", 2014: "transition",
                                     2015: "post", 2016: "post", 2017: "post"}
    # Wave 2: 2014 ends before Jan 2015 (pre, wholly); 2015 contains the transition (left out); 2016 post.
    assert _phases(calendar, w2) == {2011: "pre", 2012: "pre", 2013: "pre", 2014: "pre", 2015: "transition",
                                     2016: "post", 2017: "post"}
    # The old storage (calendar Y as financial Y/Y+1) phased them differently: the defect this fixes.
    as_financial = [pd.Timestamp(y, 4, 1) for y in range(2011, 2018)]
    assert _phases(as_financial, w1)[2014] == "post" and _phases(as_financial, w2)[2014] == "transition"


def test_calendar_years_are_labelled_as_years_and_marked_on_their_own_axis(waves):
    assert period_label(pd.Timestamp("2014-01-01"), "year") == "2014"
    assert period_label(pd.Timestamp("2014-04-01"), "year") == "2014/15"
    calendar = pd.DatetimeIndex([pd.Timestamp(y, 1, 1) for y in range(2010, 2017)])
    financial = pd.DatetimeIndex([pd.Timestamp(y, 4, 1) for y in range(2010, 2017)])
    start = waves.loc[1, "start"]  # 2013-10-01
    assert period_label(containing_period(calendar, start, "year"), "year") == "2013"
    assert period_label(containing_period(financial, start, "year"), "year") == "2013/14"
    # A date past the data still gets a label of the series' own kind.
    assert period_label(containing_period(calendar, pd.Timestamp("2019-05-01"), "year"), "year") == "2019"


def test_tidy_csv_reads_a_calendar_year():
    assert tidy_period("2014") == (pd.Timestamp("2014-01-01"), "year")
    assert tidy_period("2014/15") == (pd.Timestamp("2014-04-01"), "year")


def test_reingesting_calendar_years_replaces_the_old_financial_year_rows():
    """A dataset built before calendar years kept their dates holds calendar 2014 as 2014-04-01; the
    same file read now gives 2014-01-01. The new row replaces the old, never sits beside it."""
    from data.ingest import merge_observations

    def rows(starts, values, area="E08000035", ind="diupr_65"):
        return pd.DataFrame({"indicator_id": ind, "area_code": area, "period_start": pd.to_datetime(starts),
                             "frequency": "year", "numerator": float("nan"), "denominator": float("nan"),
                             "value": values, "ci_low": float("nan"), "ci_high": float("nan"), "flag": "", "source": "x"})

    old = pd.concat([rows(["2013-04-01", "2014-04-01"], [40.0, 41.0]),
                     rows(["2013-04-01", "2014-04-01"], [5.0, 6.0], ind="falls_65")], ignore_index=True)
    new = rows(["2013-01-01", "2014-01-01", "2015-01-01"], [40.0, 41.0, 42.0])
    merged, added, changed = merge_observations(old, new)
    deaths = merged[merged["indicator_id"] == "diupr_65"]
    assert sorted(pd.to_datetime(deaths["period_start"]).dt.strftime("%Y-%m-%d")) == ["2013-01-01", "2014-01-01",
                                                                                       "2015-01-01"]
    assert len(merged[merged["indicator_id"] == "falls_65"]) == 2  # another indicator's years are untouched
    assert (added, changed) == (3, 2)
