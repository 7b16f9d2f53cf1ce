"""The project's own tidy CSV: anything else a user has, e.g. HES-derived counts.

Columns (header row required, any order, extra columns ignored):
``indicator_id, area_code, period, numerator, denominator`` and optionally ``value, flag``.
docs/data-format.md ("Ingesting files") is the reference. Checked: indicator in the catalogue,
area one of the 152 councils or England, period readable and at the indicator's frequency,
counts >= 0, denominator > 0, numerator <= denominator, a finite value, periods from 1990/91 to
2040/41, flags known, one row
per (indicator, area, period). Built to read millions of rows: every check is vectorised and
periods are parsed once per distinct label.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from data.loaders import LoadContext, LoadResult, finish
from data.loaders.reading import (Problems, check_field_sizes, file_rows, find_columns, map_distinct, numbers,
                                  read_csv_strings, short_rows, source_vintage, stripped)
from data.periods import (PLAUSIBLE_RANGE, PeriodOutOfRange, align, check_plausible_year, is_calendar_year,
                          parse_period)
from data.reference import ENGLAND_CODE
from data.schema import FLAGS

COLUMNS = {
    "indicator_id": ("indicator_id",),
    "area_code": ("area_code",),
    "period": ("period",),
    "numerator": ("numerator",),
    "denominator": ("denominator",),
    "value": ("value",),
    "flag": ("flag",),
}
REQUIRED = ("indicator_id", "area_code", "period", "numerator", "denominator")


def _parse(text: str) -> tuple[pd.Timestamp, str]:
    """parse_period, except that YYYY-MM (or YYYY-MM-01) is always a month.

    "2003-04" would otherwise be ambiguous (April 2003 or 2003/04): in the tidy format a
    financial year is written with a slash, "2003/04".
    """
    m = re.fullmatch(r"\s*(\d{4})-(\d{2})(?:-01)?\s*", text)
    if m and 1 <= int(m.group(2)) <= 12:
        check_plausible_year(text, int(m.group(1)), int(m.group(2)))
        return pd.Timestamp(int(m.group(1)), int(m.group(2)), 1), "month"
    m = re.fullmatch(r"\s*(\d{4})\s*", text)
    if m:  # a calendar year, January to December (deaths are registered by calendar year)
        check_plausible_year(text, int(m.group(1)), 1)
        return pd.Timestamp(int(m.group(1)), 1, 1), "year"
    return parse_period(text)


def load(path: Path, context: LoadContext) -> LoadResult:
    path = Path(path)
    file = str(path)
    frame = read_csv_strings(path)
    cols = find_columns(frame, COLUMNS, file, REQUIRED)
    problems = Problems()
    short = short_rows(frame, file, problems, list(cols.values()))
    if short.any():
        frame = frame[~short]
    frame = frame.fillna("") if short.any() else frame
    check_field_sizes(frame, file, problems)
    rows = file_rows(frame)
    get = {k: stripped(frame[v]) for k, v in cols.items()}
    frame = frame.iloc[:, :0]  # the columns live on in ``get``; free the rest
    catalogue = context.reference.catalogue.set_index("indicator_id")

    indicator = get["indicator_id"]
    unknown = ~indicator.isin(catalogue.index)
    if unknown.any():
        problems.add_rows(file, rows[unknown.to_numpy()], cols["indicator_id"],
                          f"unknown indicator (expected one of {list(catalogue.index)})", indicator[unknown])

    area = get["area_code"]
    bad_area = ~area.isin(context.area_codes() | {ENGLAND_CODE})
    if bad_area.any():
        problems.add_rows(file, rows[bad_area.to_numpy()], cols["area_code"],
                          "unknown area code (expected one of the 152 councils in data/reference/areas.csv or "
                          "E92000001)", area[bad_area])

    parsed, out_of_range = {}, set()
    for text in pd.unique(get["period"]):
        try:
            start, freq = _parse(text)
            parsed[text] = (start, freq) if align(start, freq) == start or is_calendar_year(start, freq) else None
        except PeriodOutOfRange:
            parsed[text] = None
            out_of_range.add(text)
        except ValueError:
            parsed[text] = None
    starts = map_distinct(get["period"], lambda k: parsed[k][0] if parsed[k] else pd.NaT, kind="datetime")
    freqs = map_distinct(get["period"], lambda k: parsed[k][1] if parsed[k] else "")
    bad_period = starts.isna()
    far = get["period"].isin(out_of_range) if out_of_range else pd.Series(False, index=bad_period.index)
    if far.any():
        problems.add_rows(file, rows[far.to_numpy()], cols["period"],
                          f"period outside the plausible range {PLAUSIBLE_RANGE}", get["period"][far])
    if (bad_period & ~far).any():
        bad_period_only = bad_period & ~far
        problems.add_rows(file, rows[bad_period_only.to_numpy()], cols["period"], "unparseable period (expected a "
                          "financial year 2014/15, a quarter 2014/15 Q1 or a month Apr 2014 / 2014-04)",
                          get["period"][bad_period_only])
    wrong_freq = ~bad_period & ~unknown & (freqs != map_distinct(indicator, lambda i: catalogue["frequency"].get(i, "")))
    if wrong_freq.any():
        problems.add_rows(file, rows[wrong_freq.to_numpy()], cols["period"],
                          "period is not at the indicator's frequency (see indicators.csv frequency)",
                          get["period"][wrong_freq] + " for " + indicator[wrong_freq])

    numerator = numbers(get["numerator"], file, rows, cols["numerator"], problems, missing_marks=("", "-", "NA"))
    denominator = numbers(get["denominator"], file, rows, cols["denominator"], problems, missing_marks=("", "-", "NA"))
    zero = denominator == 0
    if zero.any():
        problems.add_rows(file, rows[zero.to_numpy()], cols["denominator"],
                          "zero denominator (expected a population or count > 0, or blank if unknown)")
    over = numerator > denominator
    if over.any():
        # Every catalogue indicator counts events in a population (or discharges) over at most a year,
        # so a count above its denominator is a swapped column or a unit slip, rate or proportion.
        problems.add_rows(file, rows[over.to_numpy()], cols["numerator"],
                          "numerator exceeds denominator (a count cannot exceed the population or events it is "
                          "out of)",
                          get["numerator"][over] + " > " + get["denominator"][over])
    multiplier = indicator.map(context.multipliers()).astype(float)
    with np.errstate(all="ignore"):
        computed = numerator / denominator.where(denominator > 0) * multiplier
    overflow = np.isinf(computed)
    if overflow.any():
        problems.add_rows(file, rows[overflow.to_numpy()], cols["denominator"],
                          "numerator / denominator x multiplier is not a finite number (expected counts and a "
                          "population of ordinary size)", get["numerator"][overflow] + "/" + get["denominator"][overflow])
    value = (numbers(get["value"], file, rows, cols["value"], problems) if "value" in get
             else pd.Series(np.nan, index=frame.index))
    # The text of the parsed columns is no longer needed: release it before the frame is built
    # (on a 5-million-row file each is hundreds of MB).
    for parsed_column in ("numerator", "denominator", "value", "period"):
        get.pop(parsed_column, None)
    no_value = numerator.isna() & value.isna()
    if "flag" in get:
        flag = get["flag"]
        parts_ok = map_distinct(flag, lambda f: all(p.strip() in FLAGS for p in f.split(";")), kind="bool")
        if (~parts_ok).any():
            problems.add_rows(file, rows[(~parts_ok).to_numpy()], cols["flag"],
                              f"unknown flag (expected ';'-separated values of {[f for f in FLAGS if f]})", flag[~parts_ok])
    else:
        flag = pd.Series("", index=frame.index)
    flag = flag.where(~(no_value & (flag == "")), "missing")

    obs = pd.DataFrame({"indicator_id": indicator, "area_code": area, "period_start": starts,
                        "frequency": freqs, "numerator": numerator, "denominator": denominator,
                        "value": value, "flag": flag})
    dup = obs.duplicated(["indicator_id", "area_code", "period_start"], keep=False).to_numpy() & ~bad_period.to_numpy()
    if dup.any():
        problems.add_rows(file, rows[dup], cols["period"], "duplicate key: the same indicator, area and period "
                          "appear more than once", obs["indicator_id"][dup] + " " + obs["area_code"][dup])
    problems.raise_if_any(f"cannot load tidy file {path.name}")
    first, last = obs["period_start"].min(), obs["period_start"].max()
    source = {"kind": "tidy", "name": f"tidy CSV {path.name}", **source_vintage(path),
              "vintage": f"{first:%Y-%m} to {last:%Y-%m}"}
    return LoadResult(observations=finish(obs, f"tidy: {path.name}", context.multipliers()),
                      rows_read=len(frame) + int(short.sum()), skipped=Counter(), source=source)
