"""NHS England delayed transfers of care, LA basis: delayed days by responsible organisation.

Reads the monthly workbooks (sheet "LA - by responsible org", every layout 2011-2019) and the
stacked CSV of all months. Quirks handled: ONS codes only from Jul 2015 (earlier rows carry NHS
3-digit council codes, mapped through data/reference/areas.csv nhs_la_code, then by name);
the oldest workbooks have an SHA column of '-' instead of a region; '-' is missing, not zero
(a row whose three organisations are all '-' is missing even when its total reads 0: Poole,
Apr 2019); residents of Scotland, Wales and outside GB are counted in England's row but are not
councils (skipped); BCP and Dorset UA from May 2019 follow data/reference/reorganisations.csv.
Denominator: population aged 18+ (approximated, see data/loaders/population.py).
"""
from __future__ import annotations

import io

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.periods import MONTH_NUMBERS
from data.loaders import LoadContext, LoadResult, finish, join_flags
from data.loaders.geography import name_key, name_lookup, resolve
from data.loaders.population import attach_denominator
from data.loaders.reading import (Problems, check_field_sizes, file_rows, find_columns, numbers,
                                  read_csv_strings, short_rows, source_vintage)
from data.reference import ENGLAND_CODE

INDICATOR = "dtoc"
SHEET = "la - by responsible org"
ORGS = ("delayed_days_nhs", "delayed_days_social_care", "delayed_days_both")
SPELLINGS = {
    "period": ("period",),
    "parent_area": ("parent_area", "Region", "SHA"),
    "ons_code": ("ons_code", "ONS Geography", "ONS Code"),
    "nhs_la_code": ("nhs_la_code", "Code", "LA Code"),
    "la_name": ("la_name", "Name"),
    "delayed_days_nhs": ("delayed_days_nhs", "NHS"),
    "delayed_days_social_care": ("delayed_days_social_care", "Social Care"),
    "delayed_days_both": ("delayed_days_both", "Both"),
    "delayed_days_total": ("delayed_days_total", "Total"),
}


def load(path: Path, context: LoadContext) -> LoadResult:
    path = Path(path)
    if path.suffix.lower() in (".xls", ".xlsx"):
        frame, rows = _read_workbook(path)
    else:
        frame = read_csv_strings(path)
        rows = file_rows(frame)
    return _observations(frame, rows, path, context)


def _read_workbook(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """One monthly workbook's "LA - by responsible org" sheet as strings, with the period as a column."""
    import xlrd

    try:
        # xlrd writes its warnings ("file size not 512 + multiple of sector size") to stdout by
        # default, into the middle of the CLI's output: they go to a log this loader drops.
        book = xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO(), verbosity=0)
    except Exception as exc:  # xlrd raises several unrelated types for a non-workbook
        raise DataError(f"not a readable .xls workbook ({exc})", file=str(path)) from exc
    sheet_name = next((n for n in book.sheet_names() if n.strip().lower() == SHEET), None)
    if sheet_name is None:
        raise DataError(f"no sheet 'LA - by responsible org' (sheets: {book.sheet_names()})", file=str(path))
    sheet = book.sheet_by_name(sheet_name)
    cells = [[_cell_text(v) for v in sheet.row_values(r)] for r in range(sheet.nrows)]
    where = f"{path}[{sheet_name}]"
    period = None
    for r, row in enumerate(cells[:15]):
        if any(v.strip().lower() == "period:" for v in row):
            text = next((v for v in row[row.index(next(v for v in row if v.strip().lower() == "period:")) + 1:]
                         if v.strip()), "")
            m = re.match(r"^\s*([A-Za-z]+)\s+(\d{4})", text)
            if m and m.group(1).lower() in MONTH_NUMBERS:
                period = f"{m.group(2)}-{MONTH_NUMBERS[m.group(1).lower()]:02d}"
            else:
                raise DataError(f"cannot read the period {text!r} (expected e.g. 'April 2016')",
                                file=where, row=r + 1, column="Period:")
    if period is None:
        raise DataError("no 'Period:' row in the sheet's header block", file=where)
    header_row = next((r for r, row in enumerate(cells[:40])
                       if "name" in [v.strip().lower() for v in row] and "total" in [v.strip().lower() for v in row]),
                      None)
    if header_row is None:
        raise DataError("no table header with 'Name' and 'Total' columns in the first 40 rows", file=where)
    header = [v.strip() for v in cells[header_row]]
    # Keep the first block (delayed days); later blocks repeat NHS/Social Care/Both (people per day).
    seen, keep = set(), []
    for i, h in enumerate(header):
        if h and h.lower() not in seen:
            seen.add(h.lower())
            keep.append(i)
    body = []
    numbers_at = []
    for r in range(header_row + 1, len(cells)):
        row = cells[r]
        if not any(v.strip() for v in row):
            continue
        name_col = header.index(next(h for h in header if h.lower() == "name"))
        if not row[name_col].strip():
            continue  # footnotes sit in the first columns below the table
        body.append([row[i] if i < len(row) else "" for i in keep])
        numbers_at.append(r + 1)
    frame = pd.DataFrame(body, columns=[header[i] for i in keep], dtype=str)
    frame["period"] = period
    frame.attrs["file"] = where
    return frame, np.array(numbers_at)


def _cell_text(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _observations(frame: pd.DataFrame, rows: np.ndarray, path: Path, context: LoadContext) -> LoadResult:
    file = frame.attrs.get("file", str(path))
    cols = find_columns(frame, SPELLINGS, file,
                        ("period", "nhs_la_code", "la_name", *ORGS, "delayed_days_total"))
    problems = Problems()
    skipped: Counter = Counter()
    if INDICATOR not in set(context.reference.catalogue["indicator_id"]):
        raise DataError(f"the catalogue has no indicator {INDICATOR!r} for delayed transfers",
                        file="data/reference/indicators.csv", column="indicator_id")
    if context.population is None or context.population.empty:
        raise DataError("delayed transfers need population denominators (18+): none available; build the real "
                        "dataset first or ingest into a dataset that has a population table", file=file)
    short = short_rows(frame, file, problems, list(cols.values()))
    frame = frame[~short].fillna("")
    rows = rows[~short.to_numpy()]
    check_field_sizes(frame, file, problems)
    get = {k: frame[v].str.strip() for k, v in cols.items()}

    period = pd.to_datetime(get["period"] + "-01", format="%Y-%m-%d", errors="coerce")
    bad = period.isna()
    if bad.any():
        problems.add_rows(file, rows[bad.to_numpy()], cols["period"], "unparseable period (expected YYYY-MM)",
                          get["period"][bad])

    name = get["la_name"]
    nhs = get["nhs_la_code"]
    ons = get.get("ons_code", pd.Series("", index=frame.index))
    england = name.str.lower().eq("england") & nhs.isin(["-", ""])
    outside = nhs.isin(["9900", "9901", "9902"]) | name.str.lower().str.startswith("resident")
    if outside.any():
        skipped["residents of Scotland, Wales or outside GB (in England's total, not a council)"] += int(outside.sum())

    by_nhs = dict(zip(context.reference.areas["nhs_la_code"], context.reference.areas["area_code"]))
    by_name = name_lookup(context.reference)
    has_ons = ons.str.match(r"^E\d{8}$")
    code = ons.where(has_ons, None)
    from_nhs = nhs.map(by_nhs)
    code = code.where(code.notna(), from_nhs)
    from_name = name.map(lambda n: by_name.get(name_key(n)))
    code = code.where(code.notna(), from_name)
    code = code.where(~england, ENGLAND_CODE)
    unresolved = code.isna() & ~outside
    if unresolved.any():
        problems.add_rows(file, rows[unresolved.to_numpy()], cols["nhs_la_code"],
                          "unknown council: the ONS code, NHS 3-digit code and name match no area in "
                          "data/reference/areas.csv", nhs[unresolved] + " " + name[unresolved])
    candidates = code.where(~outside & ~unresolved)
    keep_code = resolve(candidates.fillna(ENGLAND_CODE), rows, file, cols.get("ons_code", cols["nhs_la_code"]),
                        context.reference, problems, skipped)
    keep_code = keep_code.where(~outside & ~unresolved)

    values = {k: numbers(get[k], file, rows, cols[k], problems) for k in (*ORGS, "delayed_days_total")}
    all_dash = pd.concat([get[k].eq("-") for k in ORGS], axis=1).all(axis=1)
    total = values["delayed_days_total"].where(~all_dash)
    parts = values[ORGS[0]].fillna(0) + values[ORGS[1]].fillna(0) + values[ORGS[2]].fillna(0)
    complete = pd.concat([values[k].notna() for k in ORGS], axis=1).all(axis=1)
    mismatch = complete & total.notna() & (np.abs(parts - total) > 0.5)
    if mismatch.any():
        problems.add_rows(file, rows[mismatch.to_numpy()], cols["delayed_days_total"],
                          "total does not equal NHS + Social Care + Both", get["delayed_days_total"][mismatch])

    keep = keep_code.notna() & period.notna()
    obs = pd.DataFrame({"indicator_id": INDICATOR, "area_code": keep_code, "period_start": period,
                        "frequency": "month", "numerator": total,
                        "flag": np.where(total.isna(), "missing", "")})[keep.to_numpy()]
    key_rows = rows[keep.to_numpy()]
    dup = obs.duplicated(["area_code", "period_start"], keep=False).to_numpy()
    if dup.any():
        problems.add_rows(file, key_rows[dup], cols["la_name"], "duplicate row: the same council and month "
                          "appear more than once", obs["area_code"][dup] + " " + obs["period_start"][dup].astype(str))
    problems.raise_if_any(f"cannot load delayed transfers file {path.name}")

    denominator, den_flag = attach_denominator(obs, context.population, "18+")
    obs["denominator"] = denominator
    obs["flag"] = join_flags(obs["flag"], den_flag)
    source = {"kind": "dtoc", "name": "NHS England delayed transfers of care (LA basis)", **source_vintage(path),
              "vintage": f"{obs['period_start'].min():%Y-%m} to {obs['period_start'].max():%Y-%m}"}
    return LoadResult(observations=finish(obs, f"NHS England DTOC: {path.name}", context.multipliers()),
                      rows_read=len(frame) + int(short.sum()), skipped=skipped, source=source)
