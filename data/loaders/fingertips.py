"""Fingertips (OHID, formerly PHE) data: the "Export data" CSV and fingertipsR-style extracts.

Export quirks handled: every header spelling used over the years (``Indicator ID`` /
``IndicatorID``, ``Time period`` / ``Timeperiod``, ``Lower CI 95.0 limit`` /
``Lower_CI_95.0_limit``), ``Country`` or ``England`` area type, a newline inside a quoted
field with CRLF rows, category rows (deprivation deciles: skipped), other age bands than the
indicator's own (skipped), region and England rows (kept as benchmarks). Periods ``2015``,
``2015/16`` and ``2015 - 17`` are read (see ``period_start``). District rows (E07) are
aggregated to their county: summed counts where the indicator is a count-based proportion or
rate and every district has them, otherwise weighted by all-ages district population and
flagged ``rate_only``. Fingertips indicator IDs map to catalogue indicators through
indicators.csv ``fingertips_id``; an unknown ID is an error, never a guess.
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
from data.loaders.population import attach_denominator, estimate_year
from data.periods import period_label
from data.loaders.reading import (Problems, find_columns, numbers, read_csv_strings, source_vintage, usable_rows)
from data.reference import ENGLAND_CODE, REFERENCE_DIR

NAMES = REFERENCE_DIR / "fingertips_names.csv"
EXPORT = {
    "indicator_id": ("Indicator ID", "IndicatorID"),
    "area_code": ("Area Code", "AreaCode"),
    "area_type": ("Area Type", "AreaType"),
    "sex": ("Sex",),
    "age": ("Age",),
    "category_type": ("Category Type", "CategoryType"),
    "period": ("Time period", "Timeperiod", "Time Period"),
    "value": ("Value",),
    "ci_low": ("Lower CI 95.0 limit", "Lower_CI_95.0_limit", "LowerCI95.0limit", "Lower CI 95 limit"),
    "ci_high": ("Upper CI 95.0 limit", "Upper_CI_95.0_limit", "UpperCI95.0limit", "Upper CI 95 limit"),
    "count": ("Count",),
    "denominator": ("Denominator",),
}
EXTRACT = {
    "area_code": ("area_code", "AreaCode"),
    "period": ("period", "timeperiod"),
    "value": ("value",),
    "indicator": ("indicator", "IndicatorName", "indicator_name"),
}
TOTAL_AGE = "All ages"


def period_start(text: str) -> tuple[pd.Timestamp, str] | None:
    """'2015' -> calendar year 2015 (from 1 January); '2015/16' -> financial year 2015/16;
    '2015 - 17' (pooled calendar years) -> the middle calendar year, flagged estimated.

    A calendar year keeps its true dates (data.periods), so phasing leaves out a year that
    overlaps a site's transition instead of counting it as the financial year it mostly shares.
    """
    t = str(text).strip()
    m = re.fullmatch(r"(\d{4})", t)
    if m:
        return pd.Timestamp(int(m.group(1)), 1, 1), ""
    m = re.fullmatch(r"(\d{4})\s*/\s*(\d{2})", t)
    if m and (int(m.group(1)) + 1) % 100 == int(m.group(2)):
        return pd.Timestamp(int(m.group(1)), 4, 1), ""
    m = re.fullmatch(r"(\d{4})\s*-\s*(\d{2})", t)
    if m:
        first = int(m.group(1))
        last = first // 100 * 100 + int(m.group(2))
        if last > first:
            return pd.Timestamp((first + last) // 2, 1, 1), "estimated"
    return None


def load(path: Path, context: LoadContext) -> LoadResult:
    path = Path(path)
    file = str(path)
    frame = read_csv_strings(path)
    headers = {"".join(ch for ch in c.lower() if ch.isalnum()) for c in frame.columns}
    layout = "export" if {"indicatorid", "areacode"} <= headers else "extract"
    spellings = EXPORT if layout == "export" else EXTRACT
    required = ("indicator_id", "area_code", "period", "value") if layout == "export" else \
        ("area_code", "period", "value", "indicator")
    cols = find_columns(frame, spellings, file, required)
    problems = Problems()
    skipped: Counter = Counter()
    rows_read = len(frame)
    frame, rows, get = usable_rows(frame, file, problems, cols)
    keep = pd.Series(True, index=frame.index)

    # Which catalogue indicator each row is.
    catalogue = context.reference.catalogue
    by_id = {str(f).strip(): i for f, i in zip(catalogue["fingertips_id"], catalogue["indicator_id"]) if str(f).strip()}
    by_id.update(context.indicator_map)
    if layout == "export":
        source_id = get["indicator_id"]
    else:
        names = pd.read_csv(NAMES, dtype=str, keep_default_na=False)
        source_id = get["indicator"].map(dict(zip(names["indicator_name"].str.strip(), names["fingertips_id"])))
        nameless = source_id.isna()
        if nameless.any():
            problems.add_rows(file, rows[nameless.to_numpy()], cols["indicator"],
                              f"indicator name not in {NAMES.name} (add its Fingertips ID there)", get["indicator"][nameless])
        source_id = source_id.fillna("")
    indicator = source_id.map(by_id)
    unknown = indicator.isna() & (source_id != "")
    if unknown.any():
        for sid, n in source_id[unknown].value_counts().items():
            first = rows[(unknown & (source_id == sid)).to_numpy()][0]
            problems.add(file, int(first), cols.get("indicator_id", cols.get("indicator")),
                         f"Fingertips indicator {sid} is not in the catalogue (no row of data/reference/indicators.csv "
                         f"has fingertips_id {sid}); {n} row(s) - not guessed")
    keep &= indicator.notna()
    not_annual = keep & (indicator.map(catalogue.set_index("indicator_id")["frequency"]) != "year")
    if not_annual.any():
        problems.add(file, int(rows[not_annual.to_numpy()][0]), cols.get("indicator_id", cols.get("indicator")),
                     f"catalogue indicator {indicator[not_annual].iloc[0]!r} is not annual, but Fingertips "
                     f"periods are years ({int(not_annual.sum())} rows)")
        keep &= ~not_annual

    if layout == "export":
        if "category_type" in get:
            cat_rows = get["category_type"] != ""
            if cat_rows.any():
                skipped["category rows (e.g. deprivation deciles): only all-persons totals are kept"] += int(cat_rows.sum())
            keep &= ~cat_rows
        if "sex" in get:
            other_sex = ~get["sex"].str.lower().isin(["persons", ""])
            if (other_sex & keep).any():
                skipped["rows for one sex (only persons are kept)"] += int((other_sex & keep).sum())
            keep &= ~other_sex
        if "age" in get:
            ages = get["age"][keep]
            main = TOTAL_AGE if (ages == TOTAL_AGE).any() else (ages.mode().iloc[0] if len(ages) else "")
            other_age = get["age"] != main
            if (other_age & keep).any():
                skipped[f"age bands other than {main!r}"] += int((other_age & keep).sum())
            keep &= ~other_age

    periods = {t: period_start(t) for t in get["period"][keep].unique()}
    parsed = get["period"].map(lambda t: periods.get(t))
    bad = keep & parsed.isna()
    if bad.any():
        problems.add_rows(file, rows[bad.to_numpy()], cols["period"],
                          "unparseable time period (expected e.g. 2015, 2015/16 or 2015 - 17)", get["period"][bad])
    keep &= parsed.notna()
    start = parsed.map(lambda p: p[0] if p else pd.NaT)
    period_flag = parsed.map(lambda p: p[1] if p else "")

    value = numbers(get["value"], file, rows, cols["value"], problems)
    extra = {}
    for k in ("ci_low", "ci_high", "count", "denominator"):
        extra[k] = numbers(get[k], file, rows, cols[k], problems) if k in get else pd.Series(np.nan, index=frame.index)
    zero = keep & (extra["denominator"] == 0) & (extra["count"] > 0)
    if zero.any():
        problems.add_rows(file, rows[zero.to_numpy()], cols["denominator"], "zero denominator with a non-zero count",
                          get["denominator"][zero])

    codes = get["area_code"]
    district = codes.str.match(r"^E07\d{6}$") & keep
    combined = codes.str.match(r"^E47\d{6}$") & keep
    if combined.any():
        skipped["combined authorities (E47): not a council with social services"] += int(combined.sum())
    direct = keep & ~district & ~combined
    area = pd.Series(np.nan, index=frame.index, dtype=object)
    if direct.any():
        area[direct] = resolve(codes[direct], rows[direct.to_numpy()], file, cols["area_code"], context.reference,
                               problems, skipped, keep_regions=True)
    obs = pd.DataFrame({"indicator_id": indicator, "area_code": area, "period_start": start, "frequency": "year",
                        "numerator": extra["count"], "denominator": extra["denominator"], "value": value,
                        "ci_low": extra["ci_low"], "ci_high": extra["ci_high"],
                        "flag": join_flags(period_flag, pd.Series(np.where(value.isna(), "missing", ""), index=frame.index)),
                        "_row": rows})
    direct_obs = obs[(direct & area.notna()).to_numpy()]
    dup = direct_obs.duplicated(["indicator_id", "area_code", "period_start"], keep=False).to_numpy()
    if dup.any():
        problems.add_rows(file, direct_obs["_row"].to_numpy()[dup], cols["area_code"],
                          "duplicate row: the same indicator, area and period appear more than once",
                          direct_obs["area_code"][dup])
    counties = _districts_to_counties(obs[district.to_numpy()].assign(area_code=codes[district]), context,
                                      file, cols["area_code"], problems)
    problems.raise_if_any(f"cannot load Fingertips file {path.name}")
    if len(counties):
        have = set(zip(direct_obs["indicator_id"], direct_obs["area_code"], direct_obs["period_start"]))
        counties = counties[[k not in have for k in zip(counties["indicator_id"], counties["area_code"],
                                                         counties["period_start"])]]
    obs = pd.concat([direct_obs, counties], ignore_index=True).drop(columns="_row")
    if obs.empty:
        raise DataError("no rows for a catalogue indicator, area and period", file=file)
    obs = _population_weights(obs, context)
    first, last = obs["period_start"].min(), obs["period_start"].max()
    source = {"kind": "fingertips", "name": "OHID Fingertips", "layout": layout,
              "indicators": sorted(set(source_id[keep])), **source_vintage(path),
              "vintage": f"{period_label(first, 'year')} to {period_label(last, 'year')}"}
    return LoadResult(observations=finish(obs, f"Fingertips: {path.name}", context.multipliers()),
                      rows_read=rows_read, skipped=skipped, source=source)


def _districts_to_counties(obs: pd.DataFrame, context: LoadContext, file: str, column: str,
                           problems: Problems) -> pd.DataFrame:
    """County rows from district rows: summed counts if complete, else population-weighted rates."""
    if obs.empty:
        return obs
    if context.districts is None or context.district_population is None:
        raise DataError("district rows need the district-to-county lookup and district populations "
                        "(mySociety council list and ONS MYEB3); none available", file=file, column=column)
    county = obs["area_code"].map(context.districts.set_index("district")["county"])
    unknown = county.isna()
    if unknown.any():
        problems.add_rows(file, obs["_row"].to_numpy()[unknown.to_numpy()], column,
                          "district code has no county in the council list", obs["area_code"][unknown])
    obs = obs.assign(county=county)[~unknown]
    pop = context.district_population
    last = int(pop["year"].max())
    year = estimate_year(obs["period_start"], "year").clip(upper=last)
    key = pd.MultiIndex.from_arrays([obs["area_code"], year])
    weight = pd.Series(pop.set_index(["district_code", "year"])["population"].reindex(key).to_numpy(), index=obs.index)
    value_types = context.reference.catalogue.set_index("indicator_id")["value_type"]
    obs = obs.assign(_w=weight, _wv=weight * obs["value"], _has_counts=obs["numerator"].notna() & obs["denominator"].notna())
    expected = context.districts.groupby("county").size()
    out = []
    for (ind, cty, start), g in obs.groupby(["indicator_id", "county", "period_start"], sort=True):
        usable = g[g["value"].notna()]
        flags = []
        if len(usable) < expected.get(cty, 0):
            flags.append("estimated")
        counts = value_types.get(ind) != "dsr" and len(usable) and usable["_has_counts"].all()
        if counts:
            num, den = usable["numerator"].sum(), usable["denominator"].sum()
            value = np.nan
        elif len(usable):
            num, den = np.nan, np.nan
            value = usable["_wv"].sum() / usable["_w"].sum()
            flags.append("rate_only")
        else:
            num = den = value = np.nan
            flags.append("missing")
        out.append({"indicator_id": ind, "area_code": cty, "period_start": start, "frequency": "year",
                    "numerator": num, "denominator": den, "value": value, "ci_low": np.nan, "ci_high": np.nan,
                    "flag": ";".join(flags)})
    return pd.DataFrame(out)


def _population_weights(obs: pd.DataFrame, context: LoadContext) -> pd.DataFrame:
    """Rows without counts get the catalogue's population as denominator (a weight), and rate_only."""
    rate_only = obs["numerator"].isna() & obs["value"].notna()
    obs.loc[rate_only, "flag"] = join_flags(obs.loc[rate_only, "flag"], pd.Series("rate_only", index=obs.index[rate_only]))
    need = obs["indicator_id"].map(context.reference.catalogue.set_index("indicator_id")["denominator_population"])
    for group in [g for g in need.dropna().unique() if g]:
        rows = rate_only & (need == group)
        if rows.any() and context.population is not None:
            den, flag = attach_denominator(obs[rows], context.population, group)
            obs.loc[rows, "denominator"] = den
            obs.loc[rows, "flag"] = join_flags(obs.loc[rows, "flag"], flag)
    return obs
