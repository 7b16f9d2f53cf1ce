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
