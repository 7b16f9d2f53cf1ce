"""NHS Digital's ASCOF CSV ("Measures from the Adult Social Care Outcomes Framework").

Rates and percentages only, one row per council, measure and year. Quirks handled: measure codes
renumbered in 2023/24 (new 2C = old 2A(2), new 2D1 = old 2B(1)), read per year through
data/reference/ascof_measures.csv; codes written "2A(2)" or "2A2"; a Windows-1252 en dash
(0x96) in descriptions; "Council type" vs "Council Type"; region and council-type rows (skipped);
councils created after Mar 2019 (reorganisations.csv policy). Measures the catalogue does not
hold are counted as skipped by code, never guessed onto an indicator.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.loaders import LoadContext, LoadResult, finish, join_flags
from data.loaders.geography import resolve
from data.loaders.population import attach_denominator
from data.loaders.reading import (Problems, find_columns, numbers, read_csv_strings, source_vintage, usable_rows)
from data.periods import parse_period
from data.reference import ENGLAND_CODE, REFERENCE_DIR

MEASURES = REFERENCE_DIR / "ascof_measures.csv"
SPELLINGS = {
    "year": ("Year", "Financial Year"),
    "name": ("Geographical Description", "Geography"),
    "code": ("ONS Code", "ONS Area Code", "Area Code"),
    "measure": ("Measure Group", "ASCOF Measure Code", "Measure Code"),
    "value": ("Measure_Value", "Measure Value", "Value"),
    "level": ("Geographical Level",),
    "disaggregation": ("Disaggregation Level",),
}
KEPT_LEVELS = {"council": "council", "england": "england"}


def measure_code(text: str) -> str:
    """'2A(2)' and '2A2' are the same measure."""
    return re.sub(r"[^0-9A-Za-z]", "", str(text)).upper()


def _catalogue_codes(year: pd.Series, code: pd.Series) -> pd.Series:
    """Each row's measure code in the catalogue's (pre-2023/24) numbering; NaN when not listed for the year."""
    table = pd.read_csv(MEASURES, dtype=str, keep_default_na=False)
    listed = set(table["ascof_code"])
    out = code.where(~code.isin(listed))  # codes the table does not list keep their own name
    for _, m in table.iterrows():
        first = int(m["first_year"])
        last = int(m["last_year"]) if m["last_year"] else 9999
        hit = (code == m["ascof_code"]) & year.between(first, last)
        out = out.where(~hit, m["catalogue_code"])
    return out


def load(path: Path, context: LoadContext) -> LoadResult:
    path = Path(path)
    file = str(path)
    frame = read_csv_strings(path)
    cols = find_columns(frame, SPELLINGS, file, ("year", "code", "measure", "value", "level"))
    problems = Problems()
    skipped: Counter = Counter()
    rows_read = len(frame)
    frame, rows, get = usable_rows(frame, file, problems, cols)

    level = get["level"].str.lower()
    for lvl, n in level[~level.isin(KEPT_LEVELS)].value_counts().items():
        skipped[f"geographical level {lvl!r} (only councils and England are kept)"] += int(n)
    if "disaggregation" in get:
        dis = get["disaggregation"].str.lower()
        other = ~dis.isin(["total", ""])
        for d, n in dis[other].value_counts().items():
            skipped[f"disaggregation {d!r} (only totals are kept)"] += int(n)
        level = level.where(~other, "skip")
    wanted = level.isin(KEPT_LEVELS)

    years = {}
    for text in get["year"][wanted].unique():
        try:
            start, freq = parse_period(text)
            years[text] = start if freq == "year" else None
        except ValueError:
            years[text] = None
    period = get["year"].map(years)
    bad = wanted & period.isna()
    if bad.any():
        problems.add_rows(file, rows[bad.to_numpy()], cols["year"],
                          "unparseable year (expected a financial year such as 2017-18)", get["year"][bad])
    fy = pd.to_datetime(period).dt.year

    code = get["measure"].map(measure_code)
    cat_code = _catalogue_codes(fy, code)
    catalogue = context.reference.catalogue
    by_ascof = {measure_code(c): i for c, i in zip(catalogue["ascof_code"], catalogue["indicator_id"]) if c}
    by_ascof.update(context.indicator_map)
    indicator = cat_code.map(by_ascof)
    unmapped = wanted & indicator.isna() & period.notna()
    for c, n in code[unmapped].value_counts().items():
        skipped[f"ASCOF measure {c}: not a catalogue indicator (ascof_code in data/reference/indicators.csv)"] += int(n)
    keep = wanted & indicator.notna() & period.notna()

    area = pd.Series(np.nan, index=frame.index, dtype=object)
    eng = keep & (level == "england")
    area[eng] = ENGLAND_CODE
    councils = keep & (level == "council")
    if councils.any():
        resolved = resolve(get["code"][councils], rows[councils.to_numpy()], file, cols["code"],
                           context.reference, problems, skipped)
        area[councils] = resolved
    value = numbers(get["value"], file, rows, cols["value"], problems)
    keep = keep & area.notna()

    obs = pd.DataFrame({"indicator_id": indicator, "area_code": area, "period_start": period,
                        "frequency": "year", "value": value,
                        "flag": np.where(value.isna(), "missing", "rate_only")})[keep.to_numpy()]
    key_rows = rows[keep.to_numpy()]
    wrong_freq = obs["indicator_id"].map(catalogue.set_index("indicator_id")["frequency"]) != "year"
    if wrong_freq.any():
        problems.add_rows(file, key_rows[wrong_freq.to_numpy()], cols["measure"],
                          "the catalogue indicator for this measure is not annual", obs["indicator_id"][wrong_freq])
    dup = obs.duplicated(["indicator_id", "area_code", "period_start"], keep=False).to_numpy()
    if dup.any():
        problems.add_rows(file, key_rows[dup], cols["code"], "duplicate row: the same measure, area and year "
                          "appear more than once", obs["area_code"][dup] + " " + obs["indicator_id"][dup])
    problems.raise_if_any(f"cannot load ASCOF file {path.name}")
    if obs.empty:
        raise DataError("no rows for any catalogue indicator (expected ASCOF measures such as 2A2 or 2B1 "
                        "for councils or England)", file=file, column=cols["measure"])

    obs = _denominators(obs, context)
    first, last = obs["period_start"].min(), obs["period_start"].max()
    source = {"kind": "ascof", "name": "NHS Digital ASCOF measures", **source_vintage(path),
              "vintage": f"{first.year}/{(first.year + 1) % 100:02d} to {last.year}/{(last.year + 1) % 100:02d}"}
    return LoadResult(observations=finish(obs, f"NHS Digital ASCOF: {path.name}", context.multipliers()),
                      rows_read=rows_read, skipped=skipped, source=source)


def _denominators(obs: pd.DataFrame, context: LoadContext) -> pd.DataFrame:
    """Rates only: the catalogue's population denominator (approximate) is attached as the weight."""
    need = obs["indicator_id"].map(context.reference.catalogue.set_index("indicator_id")["denominator_population"])
    obs = obs.assign(denominator=np.nan, numerator=np.nan)
    for group in need.dropna().unique():
        if not group:
            continue
        rows = need == group
        den, flag = attach_denominator(obs[rows], context.population, group)
        obs.loc[rows, "denominator"] = den
        obs.loc[rows, "flag"] = join_flags(obs.loc[rows, "flag"], flag)
    return obs
