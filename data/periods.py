"""Financial-year periods: the only way a user ever sees time.

English health and care data run April to March. A period is identified by its first day
(``period_start``) and its frequency; labels follow the publications: "Apr 2014" (month),
"2014/15 Q1" (quarter, Apr-Jun), "2014/15" (year).

[C] A yearly period is twelve months from its first day, whatever that day is: financial years
start on 1 April ("2014/15"), calendar years (deaths, from ONS registrations) on 1 January and are
labelled "2014". A calendar year is never stored as a financial year: phasing reads the true
dates, so a calendar year overlapping a site's transition is left out (``period_phase``).
"""
from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

FREQUENCIES = ("month", "quarter", "year")
PERIODS_PER_YEAR = {"month": 12, "quarter": 4, "year": 1}
_MONTHS_PER_PERIOD = {"month": 1, "quarter": 3, "year": 12}
_MONTH_ABBR = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTH_NUMBERS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"])}
"""Full month names, lower case, to their numbers (published workbooks title their sheets "April 2014")."""
PLAUSIBLE_FIRST_YEAR, PLAUSIBLE_LAST_YEAR = 1990, 2040
"""[C] Periods from financial year 1990/91 to 2040/41 (Apr 1990 to Mar 2041) are accepted: the
sources run 2001-2024, so anything outside is a typo or a unit slip, never data. Checked before a
date is built, so a year such as 9999 cannot wrap around to 1815."""
PLAUSIBLE_RANGE = f"{PLAUSIBLE_FIRST_YEAR}/{(PLAUSIBLE_FIRST_YEAR + 1) % 100:02d} to " \
                  f"{PLAUSIBLE_LAST_YEAR}/{(PLAUSIBLE_LAST_YEAR + 1) % 100:02d}"


class PeriodOutOfRange(ValueError):
    """A readable period outside the plausible range."""


def check_plausible_year(text: str, year: int, month: int = 4) -> None:
    """Raise PeriodOutOfRange for a period whose financial year lies outside the plausible range."""
    first_year = year if month >= 4 else year - 1
    if not PLAUSIBLE_FIRST_YEAR <= first_year <= PLAUSIBLE_LAST_YEAR:
        raise PeriodOutOfRange(f"period {text!r} is outside the plausible range {PLAUSIBLE_RANGE}")


def financial_year(d: date | pd.Timestamp) -> int:
    """The calendar year in which the financial year containing ``d`` begins (2014 for 2014/15)."""
    return d.year if d.month >= 4 else d.year - 1


def fy_label(start_year: int) -> str:
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def fy_quarter(d: date | pd.Timestamp) -> int:
    """Quarter of the financial year, 1 (Apr-Jun) to 4 (Jan-Mar)."""
    return (d.month - 4) % 12 // 3 + 1


def period_label(period_start: date | pd.Timestamp, frequency: str) -> str:
    d = pd.Timestamp(period_start)
    if frequency == "month":
        return f"{_MONTH_ABBR[d.month - 1]} {d.year}"
    if frequency == "quarter":
        return f"{fy_label(financial_year(d))} Q{fy_quarter(d)}"
    if frequency == "year":
        return str(d.year) if is_calendar_year(d, frequency) else fy_label(financial_year(d))
    raise ValueError(f"unknown frequency {frequency!r}; expected one of {FREQUENCIES}")


def is_calendar_year(period_start: date | pd.Timestamp, frequency: str) -> bool:
    """A yearly period starting on 1 January (a calendar year, not a financial one)."""
    d = pd.Timestamp(period_start)
    return frequency == "year" and d.month == 1 and d.day == 1


def containing_period(periods: pd.DatetimeIndex, d, frequency: str) -> pd.Timestamp:
    """The period among ``periods`` (starts) that contains ``d``; the aligned financial period when
    none does. Used to mark a date on a series whose years may be calendar or financial years."""
    d = pd.Timestamp(d)
    starts = pd.DatetimeIndex(periods)
    if len(starts):
        ends = starts + pd.DateOffset(months=_MONTHS_PER_PERIOD[frequency])
        inside = (starts <= d) & (d < ends)
        if inside.any():
            return starts[inside][0]
        if all(is_calendar_year(s, frequency) for s in starts):
            return pd.Timestamp(d.year, 1, 1)
    return align(d, frequency)


def period_labels(starts: pd.Series | list, frequency: str) -> list[str]:
    return [period_label(s, frequency) for s in starts]


def period_range(first: str | date, last: str | date, frequency: str) -> pd.DatetimeIndex:
    """Period starts from the period containing ``first`` to the one containing ``last``."""
    start = align(pd.Timestamp(first), frequency)
    end = align(pd.Timestamp(last), frequency)
    return pd.date_range(start, end, freq=pd.DateOffset(months=_MONTHS_PER_PERIOD[frequency]))


def align(d: pd.Timestamp, frequency: str) -> pd.Timestamp:
    """First day of the period of ``frequency`` that contains ``d``."""
    d = pd.Timestamp(d)
    if frequency == "month":
        return pd.Timestamp(d.year, d.month, 1)
    if frequency == "quarter":
        months_into_fy = (d.month - 4) % 12
        return pd.Timestamp(financial_year(d), 4, 1) + pd.DateOffset(months=months_into_fy // 3 * 3)
    if frequency == "year":
        return pd.Timestamp(financial_year(d), 4, 1)
    raise ValueError(f"unknown frequency {frequency!r}; expected one of {FREQUENCIES}")


_FY_RE = re.compile(r"^\s*(\d{4})\s*[/-]\s*(\d{2}|\d{4})\s*(?:Q([1-4]))?\s*$", re.IGNORECASE)
_MONTH_RE = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\s+(\d{4})\s*$")
_ISO_MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{2})(?:-(\d{2}))?\s*$")


def _is_financial_year(year: str, suffix: str) -> bool:
    """"2014-04" is a month (as NHS England's files write them); "2014-15" is a financial year.
    A hyphenated two-digit suffix is read as a financial year only where it cannot be a month
    (2012-13 onwards); write "2011/12" for the earlier ones."""
    return len(suffix) == 2 and (int(year) + 1) % 100 == int(suffix) and int(suffix) > 12


def parse_period(text: str) -> tuple[pd.Timestamp, str]:
    """Parse a user-facing period: "2014/15", "2014/15 Q1", "2014-15", "Apr 2014", "2014-04".

    Returns (period_start, frequency). Raises ValueError naming what was expected.
    """
    m = _ISO_MONTH_RE.match(str(text))
    if m and 1 <= int(m.group(2)) <= 12 and not _is_financial_year(m.group(1), m.group(2)):
        check_plausible_year(text, int(m.group(1)), int(m.group(2)))
        return pd.Timestamp(int(m.group(1)), int(m.group(2)), 1), "month"
    m = _FY_RE.match(str(text))
    if m:
        y = int(m.group(1))
        check_plausible_year(text, y)
        y2 = int(m.group(2))
        if (y2 if y2 >= 100 else (y // 100) * 100 + y2) != y + 1 and not (y2 < 100 and (y + 1) % 100 == y2):
            raise ValueError(f"{text!r} is not a financial year (expected e.g. 2014/15)")
        if m.group(3):
            q = int(m.group(3))
            return pd.Timestamp(y, 4, 1) + pd.DateOffset(months=3 * (q - 1)), "quarter"
        return pd.Timestamp(y, 4, 1), "year"
    m = _MONTH_RE.match(str(text))
    if m and m.group(1).title() in _MONTH_ABBR:
        check_plausible_year(text, int(m.group(2)), _MONTH_ABBR.index(m.group(1).title()) + 1)
        return pd.Timestamp(int(m.group(2)), _MONTH_ABBR.index(m.group(1).title()) + 1, 1), "month"
    raise ValueError(
        f"cannot read period {text!r}: expected a financial year (2014/15), a quarter "
        f"(2014/15 Q1) or a month (Apr 2014 or 2014-04)")


def quarter_of_year(starts: pd.Series) -> pd.Series:
    """Financial-year quarter (1-4) of each period start, for seasonal terms."""
    months = pd.DatetimeIndex(starts).month
    return pd.Series(((months - 4) % 12) // 3 + 1, index=getattr(starts, "index", None))


def period_phase(period_start: pd.Series, frequency: pd.Series | str, start, transition_start,
                 transition_end) -> pd.Series:
    """Phase of each period relative to a site's start.

    "pre": the period ends before both the transition and the start. "post": it begins after the
    transition has ended and on or after the start. Anything else (a period overlapping the
    transition, or straddling the start) is "transition", so a yearly 2013/14 is transition for
    wave 1, and so is a yearly 2014/15 for wave 2 (it includes the Jan-Mar 2015 transition).
    ``start`` and the transition dates may be scalars or Series aligned with ``period_start``.
    """
    starts = pd.to_datetime(period_start)
    if isinstance(frequency, pd.Series):
        # float first: an empty text Series maps to an empty text Series, which cannot be divided
        per_year = frequency.map(PERIODS_PER_YEAR).astype("float64")
        if per_year.isna().any():
            raise ValueError(f"unknown frequency {frequency[per_year.isna()].iloc[0]!r}; expected one of {FREQUENCIES}")
        months = (12 // per_year).to_numpy().astype("int64")
    elif frequency in PERIODS_PER_YEAR:
        months = 12 // PERIODS_PER_YEAR[frequency]
    else:
        raise ValueError(f"unknown frequency {frequency!r}; expected one of {FREQUENCIES}")
    phase = _phase_array(starts.to_numpy().astype("datetime64[ns]"), months, _as_dates(start, starts.index),
                         _as_dates(transition_start, starts.index), _as_dates(transition_end, starts.index))
    return pd.Series(phase, index=starts.index, dtype=object)


def _phase_array(starts: np.ndarray, months, start: np.ndarray, t_start: np.ndarray, t_end: np.ndarray) -> np.ndarray:
    first_month = starts.astype("datetime64[M]")
    ends = (first_month + np.asarray(months).astype("timedelta64[M]")).astype("datetime64[ns]") - np.timedelta64(1, "D")
    t_start = np.where(np.isnat(t_start), start, t_start)
    t_end = np.where(np.isnat(t_end), start - np.timedelta64(1, "D"), t_end)
    pre = (ends < t_start) & (ends < start)
    post = (starts > t_end) & (starts >= start)
    return np.where(pre, "pre", np.where(post, "post", "transition")).astype(object)


def _as_dates(value, index: pd.Index) -> np.ndarray:
    """Dates as datetime64[ns], a scalar broadcast or a Series aligned to ``index``."""
    if isinstance(value, pd.Series):
        aligned = value if value.index.equals(index) else value.reindex(index)
        return pd.to_datetime(aligned).to_numpy().astype("datetime64[ns]")
    stamp = np.datetime64("NaT", "ns") if value is None or pd.isna(value) else np.datetime64(pd.Timestamp(value), "ns")
    return np.full(len(index), stamp, dtype="datetime64[ns]")
