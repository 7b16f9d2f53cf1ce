"""NHS England Monthly Activity Return (MAR), commissioner basis: emergency admissions (ea_all).

Reads the original monthly workbooks (sheet "Commissioner") in every layout 2012-2019 - PCTs
with SHA parents (2012/13), CCGs with NHS England area teams (2013-2015), CCGs with regions
(later) - and the stacked table of all months. The count is "Total Non-elective G&A Admissions
(FFCEs)": first finished consultant episodes, not HES spells.

Checks: in every month the commissioners (CCGs or PCTs plus NHS England and the National
Commissioning Group) sum to the England row; every CCG code belongs to the CCG vintage of the
month's financial year (data/reference/ccgs.csv), every PCT code to the PCT bridge. A row is
placed in time by its period (the stacked table's financial_year column has a fill-down
artefact in Jun 2017). Fractional published values are kept and flagged ``fractional``.

Rows made (indicator ea_all, monthly and quarterly for complete quarters):
- CCG units (data/ccg.py): CCGs summed to their stable unit; 2012/13 PCTs spread over the 2015
  CCGs by postcode share, flagged ``bridged_from_pcts``;
- upper-tier LAs: each CCG's (or PCT's) count spread by its population shares for the month's
  vintage, flagged ``apportioned_from_ccgs``;
- England (E92000001): the sum of the CCG-commissioned counts, so that England, units and LAs
  count the same admissions (NHS England's specialised commissioning rows are excluded and
  counted in the summary with their reason).
Denominators: all-ages population of the unit or LA (see data/ccg.py for units).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from data import ccg
from data.ccg import financial_year
from data.errors import DataError
from data.periods import MONTH_NUMBERS
from data.loaders import LoadContext, LoadResult, finish, join_flags
from data.loaders.population import attach_denominator
from data.loaders.reading import Problems, file_rows, find_columns, numbers, read_csv_strings, source_vintage
from data.reference import ENGLAND_CODE

INDICATOR = "ea_all"
SHEET = "commissioner"
LAYOUTS = {"sha": "PCTs with SHA parents (2012/13)", "area team": "CCGs with NHS England area teams (2013-2015)",
           "region": "CCGs with NHS England regions (2015-2019)"}
NON_CCG = {
    "X24": "NHS England (specialised and directly commissioned services): not a CCG",
    "YDD82": "National Commissioning Group (2012/13): not a PCT",
}
"""Commissioners counted in England's total but not on any geography; excluded with this reason."""
PCT_YEAR = "2012/13"
TOLERANCE = 0.5
INCOMPLETE_WINDOW = 25
INCOMPLETE_RATIO = 0.5
"""[C] A commissioner's month below half the median of its own 25 months around it (centred, at least 7 of
them reported) is an incomplete submission: Solihull and Birmingham CrossCity reported about a tenth and
two fifths of their usual admissions from Jul 2014 to Mar 2015, Gloucestershire an eighth from Dec 2016 to
Jun 2017. A window of 25 months keeps a gap of up to a year from dragging the median down with it."""
SPELLINGS = {
    "period": ("period",),
    "parent_code": ("parent_code",),
    "org_code": ("org_code", "Org Code"),
    "org_name": ("org_name", "Org Name"),
    "non_elective": ("non_elective_ga_total", "Total Non-elective G&A Admissions (FFCEs)"),
}


def load(path: Path, context: LoadContext) -> LoadResult:
    from data.real import shared_dir  # here, not at the top: data.real imports this module

    path = Path(path)
    if path.suffix.lower() in (".xls", ".xlsx"):
        frame, rows, layout = _read_workbook(path)
    else:
        frame = read_csv_strings(path)
        rows, layout = file_rows(frame), "stacked"
    geo = ccg.geography(str(shared_dir(context.shared)))
    return _observations(frame, rows, path, context, geo, layout)


def _sheet_cells(path: Path) -> tuple[list[list[str]], str]:
    """The Commissioner sheet as rows of text (xlrd for .xls, openpyxl for .xlsx)."""
    try:
        if path.suffix.lower() == ".xls":
            import xlrd

            book = xlrd.open_workbook(str(path), on_demand=True)
            names = book.sheet_names()
            name = next((n for n in names if n.strip().lower() == SHEET), None)
            if name is None:
                raise DataError(f"no sheet 'Commissioner' (sheets: {names}): not a MAR workbook", file=str(path))
            sheet = book.sheet_by_name(name)
            return [[_text(v) for v in sheet.row_values(r)] for r in range(sheet.nrows)], name
        import openpyxl

        book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
        name = next((n for n in book.sheetnames if n.strip().lower() == SHEET), None)
        if name is None:
            raise DataError(f"no sheet 'Commissioner' (sheets: {book.sheetnames}): not a MAR workbook",
                            file=str(path))
        return [[_text(v) for v in row] for row in book[name].iter_rows(values_only=True)], name
    except DataError:
        raise
    except Exception as exc:  # the readers raise many unrelated types for a non-workbook
        raise DataError(f"not a readable workbook ({exc})", file=str(path)) from exc


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _read_workbook(path: Path) -> tuple[pd.DataFrame, np.ndarray, str]:
    """One monthly workbook: its commissioner rows as text, with the period from the header block."""
    cells, sheet_name = _sheet_cells(path)
    where = f"{path}[{sheet_name}]"
    period = None
    for r, row in enumerate(cells[:15]):
        labels = [v.strip().lower() for v in row]
        if "period:" in labels:
            text = next((v for v in row[labels.index("period:") + 1:] if v.strip()), "")
            m = re.match(r"^\s*([A-Za-z]+)\s+(\d{4})", text)
            if not (m and m.group(1).lower() in MONTH_NUMBERS):
                raise DataError(f"cannot read the period {text!r} (expected e.g. 'April 2014')",
                                file=where, row=r + 1, column="Period:")
            period = f"{m.group(2)}-{MONTH_NUMBERS[m.group(1).lower()]:02d}"
    if period is None:
        raise DataError("no 'Period:' row in the sheet's header block", file=where)
    header_row = next((r for r, row in enumerate(cells[:40])
                       if "org code" in [v.strip().lower() for v in row]), None)
    if header_row is None:
        raise DataError("no table header with an 'Org Code' column in the first 40 rows", file=where)
    header = [v.strip() for v in cells[header_row]]
    lower = [h.lower() for h in header]
    layout = next((k for k in LAYOUTS if f"{k} code" in lower), None)
    if layout is None:
        raise DataError(f"unknown MAR layout: the parent columns are none of "
                        f"{[f'{k.title()} Code' for k in LAYOUTS]} (header: {[h for h in header if h][:8]})",
                        file=where, row=header_row + 1)
    parent = lower.index(f"{layout} code")
    body, numbers_at = [], []
    org_name = lower.index("org name") if "org name" in lower else None
    for r in range(header_row + 1, len(cells)):
        row = cells[r] + [""] * (len(header) - len(cells[r]))
        if org_name is None or not row[org_name].strip():
            continue  # blank separators and the footnotes below the table
        body.append([row[i] for i in range(len(header))] + [row[parent]])
        numbers_at.append(r + 1)
    frame = pd.DataFrame(body, columns=[*[h or f"_{i}" for i, h in enumerate(header)], "parent_code"], dtype=str)
    frame["period"] = period
    frame.attrs["file"] = where
    return frame, np.array(numbers_at, dtype=int), layout


def _observations(frame: pd.DataFrame, rows: np.ndarray, path: Path, context: LoadContext, geo,
                  layout: str) -> LoadResult:
    file = frame.attrs.get("file", str(path))
    cols = find_columns(frame, SPELLINGS, file, ("period", "org_code", "org_name", "non_elective"))
    problems = Problems()
    skipped: Counter = Counter()
    if INDICATOR not in set(context.reference.catalogue["indicator_id"]):
        raise DataError(f"the catalogue has no indicator {INDICATOR!r}", file="data/reference/indicators.csv",
                        column="indicator_id")
    frame = frame.fillna("")
    get = {k: frame[v].str.strip() for k, v in cols.items()}
    period = pd.to_datetime(get["period"] + "-01", format="%Y-%m-%d", errors="coerce")
    bad = period.isna().to_numpy()
    if bad.any():
        problems.add_rows(file, rows[bad], cols["period"], "unparseable period (expected YYYY-MM)", get["period"][bad])
    count = numbers(get["non_elective"], file, rows, cols["non_elective"], problems, missing_marks=())
    code = get["org_code"].str.upper()
    england = get["org_name"].str.lower().eq("england") & code.eq("")
    month = period.dt.strftime("%Y-%m")

    # 1. Commissioners sum to England in every month.
    commissioners = ~england & period.notna()
    sums = count[commissioners].groupby(month[commissioners]).sum()
    eng = pd.DataFrame({"month": month[england], "total": count[england], "row": rows[england.to_numpy()]})
    dup_eng = eng["month"].duplicated(keep=False)
    if dup_eng.any():
        problems.add_rows(file, eng.loc[dup_eng, "row"].to_numpy(), cols["org_name"],
                          "more than one England row for the month", eng.loc[dup_eng, "month"])
    eng = eng.drop_duplicates("month")
    for m in sorted(set(sums.index) - set(eng["month"])):
        first = rows[(month == m).to_numpy()][0]
        problems.add(file, int(first), cols["org_name"], f"no England row for {m}: cannot check the commissioners' sum")
    for rec in eng.itertuples(index=False):
        got = float(sums.get(rec.month, 0.0))
        if np.isfinite(rec.total) and abs(got - rec.total) > TOLERANCE:
            problems.add(file, int(rec.row), cols["non_elective"],
                         f"the commissioners of {rec.month} sum to {got:,.1f}, not England's {rec.total:,.1f}")

    # 2. Every code known for its year: PCTs in 2012/13, the year's CCG vintage after.
    fy = pd.Series("", index=frame.index)
    ok = period.notna()
    fy[ok] = financial_year(period[ok])
    non_ccg = commissioners & code.isin(NON_CCG)
    for c, n in code[non_ccg].value_counts().items():
        skipped[f"{c} {NON_CCG[c]} (in England's total)"] += int(n)
    skipped["England rows (checked against the commissioners, not stored: England is their sum)"] += int(england.sum())
    rows_ccg = commissioners & ~non_ccg
    by_vintage = geo.codes_by_vintage()
    every = set().union(*by_vintage.values())
    pcts = set(geo.bridge["pct_code"])
    known = pd.Series([c in (pcts if y == PCT_YEAR else by_vintage.get(y, set())) for c, y in zip(code, fy)],
                      index=frame.index)
    unknown = rows_ccg & ~known
    if unknown.any():
        for i in np.flatnonzero(unknown.to_numpy()):
            c, y = code.iloc[i], fy.iloc[i]
            if y == PCT_YEAR:
                why = "PCT code not in the 2012/13 PCT -> CCG bridge (pct2012_to_ccg2013_postcode_shares)"
            elif y not in by_vintage:
                why = f"period {month.iloc[i]} is outside the CCG vintages {min(by_vintage)}-{max(by_vintage)}"
            elif c in every:
                other = sorted(v for v, s in by_vintage.items() if c in s)
                why = f"CCG code is not in the {y} CCG set (it is a CCG of {', '.join(other)})"
            else:
                why = "CCG code found in no CCG vintage of data/reference/ccgs.csv"
            problems.add(file, int(rows[i]), cols["org_code"], f"{why} (got {c!r})")
    dup = rows_ccg & frame.assign(_m=month, _c=code).duplicated(["_m", "_c"], keep=False)
    if dup.any():
        problems.add_rows(file, rows[dup.to_numpy()], cols["org_code"], "the same commissioner twice in a month",
                          code[dup])
    if layout == "sha" and (fy[rows_ccg] != PCT_YEAR).any():
        problems.add(file, None, None, "a PCT/SHA workbook must be a 2012/13 month")
    problems.raise_if_any(f"cannot load MAR file {path.name}")

    counts = pd.DataFrame({"period_start": period[rows_ccg], "vintage": fy[rows_ccg], "ccg_code": code[rows_ccg],
                           "count": count[rows_ccg]})
    counts = counts[counts["count"].notna()]
    counts["fractional"] = (counts["count"] % 1) != 0
    incomplete = incomplete_submissions(counts)
    names = dict(zip(code[rows_ccg], get["org_name"][rows_ccg]))
    for c, months in incomplete.groupby("ccg_code")["period_start"]:
        skipped[f"{c} ({names.get(c, '')}) {months.min():%Y-%m} to {months.max():%Y-%m}: incomplete submission (below "
                f"{INCOMPLETE_RATIO:g} x the commissioner's {INCOMPLETE_WINDOW}-month median); every unit and LA "
                "it contributes to is left out for those months"] += len(months)
    obs = _all_rows(counts, geo, incomplete)
    den, den_flag = attach_denominator(obs, _populations(context, geo), "all")
    obs["denominator"] = den
    obs["flag"] = join_flags(obs["flag"], den_flag)
    source = {"kind": "mar", "name": "NHS England Monthly Activity Return (commissioner basis)",
              "layout": LAYOUTS.get(layout, "stacked table of all months"), **source_vintage(path),
              "vintage": f"{counts['period_start'].min():%Y-%m} to {counts['period_start'].max():%Y-%m}"}
    return LoadResult(observations=finish(obs, f"NHS England MAR: {path.name}", context.multipliers()),
                      rows_read=len(frame), skipped=skipped, source=source)


def _populations(context: LoadContext, geo) -> pd.DataFrame:
    la = context.population if context.population is not None else pd.DataFrame(columns=geo.population.columns)
    return pd.concat([la[~la["area_code"].isin(geo.population["area_code"])], geo.population], ignore_index=True)


def commissioner_to_units(counts: pd.DataFrame, geo) -> pd.DataFrame:
    """CCG (and 2012/13 PCT) counts -> stable units: period_start, area_code, count, flag."""
    pct = counts["vintage"] == PCT_YEAR
    ccg = counts[~pct].merge(geo.unit_of, on=["vintage", "ccg_code"], how="left")
    bridged = counts[pct].rename(columns={"ccg_code": "pct_code"}).merge(
        geo.bridge[["pct_code", "ccg_code", "share"]], on="pct_code")
    to_unit = geo.unit_of[geo.unit_of["vintage"] == "2015/16"][["ccg_code", "area_code"]]
    bridged = bridged.merge(to_unit, on="ccg_code", how="left")
    bridged["count"] = bridged["count"] * bridged["share"]
    parts = [ccg.assign(bridged=False), bridged.assign(bridged=True)]
    both = pd.concat([p[["period_start", "area_code", "count", "fractional", "bridged"]] for p in parts],
                     ignore_index=True)
    if both["area_code"].isna().any():
        raise DataError("a CCG has no stable unit in data/reference/ccgs.csv", file="data/reference/ccgs.csv",
                        column="unit_code")
    return _sum(both)


def commissioner_to_las(counts: pd.DataFrame, geo) -> pd.DataFrame:
    """CCG (and PCT) counts spread over upper-tier LAs by the vintage's population shares."""
    shares = geo.la_shares.rename(columns={"area_code": "la"})
    m = counts.merge(shares, on=["vintage", "ccg_code"], how="left")
    if m["la"].isna().any():
        missing = m.loc[m["la"].isna(), ["vintage", "ccg_code"]].drop_duplicates().head(3).values.tolist()
        raise DataError(f"no LA population shares for {missing}", column="ccg_code")
    m = m.assign(count=m["count"] * m["share"], area_code=m["la"], bridged=m["vintage"] == PCT_YEAR)
    return _sum(m[["period_start", "area_code", "count", "fractional", "bridged"]])


def _sum(parts: pd.DataFrame) -> pd.DataFrame:
    return parts.groupby(["period_start", "area_code"], as_index=False).agg(
        count=("count", "sum"), fractional=("fractional", "any"), bridged=("bridged", "any"))


def incomplete_submissions(counts: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``counts`` (period_start, vintage, ccg_code, count) that are incomplete submissions.

    A commissioner that reported a fraction of its admissions for some months would stand in for its
    whole population in those months (a unit, an LA and a site aggregate all drop by half or more), so
    they are found here and left out downstream rather than read as a fall in admissions.
    """
    ordered = counts.sort_values(["ccg_code", "period_start"])
    median = ordered.groupby("ccg_code")["count"].transform(
        lambda s: s.rolling(INCOMPLETE_WINDOW, center=True, min_periods=7).median())
    low = ordered["count"] < INCOMPLETE_RATIO * median
    return ordered[low.to_numpy()]


def _without(rows: pd.DataFrame, affected: pd.DataFrame) -> pd.DataFrame:
    """``rows`` less every (period_start, area_code) that ``affected`` names."""
    keys = pd.MultiIndex.from_frame(affected[["period_start", "area_code"]])
    return rows[~pd.MultiIndex.from_frame(rows[["period_start", "area_code"]]).isin(keys)]


def _all_rows(counts: pd.DataFrame, geo, incomplete: pd.DataFrame | None = None) -> pd.DataFrame:
    """Monthly and quarterly rows for units, LAs and England; a unit or LA month fed by an incomplete
    submission is left out (England keeps it: it is the published total)."""
    units = commissioner_to_units(counts, geo).assign(apportioned=False)
    las = commissioner_to_las(counts, geo).assign(apportioned=True)
    if incomplete is not None and len(incomplete):
        units = _without(units, commissioner_to_units(incomplete, geo))
        las = _without(las, commissioner_to_las(incomplete, geo))
    england = counts.assign(bridged=counts["vintage"] == PCT_YEAR).groupby("period_start", as_index=False).agg(
        count=("count", "sum"), fractional=("fractional", "any"), bridged=("bridged", "any"))
    england = england.assign(area_code=ENGLAND_CODE, apportioned=False)
    monthly = pd.concat([units, las, england], ignore_index=True).assign(frequency="month")
    quarterly = to_quarters(monthly)
    out = pd.concat([monthly, quarterly], ignore_index=True)
    flag = np.where(out["fractional"], "fractional", "")
    flag = np.where(out["bridged"], np.char.add(flag.astype(str), ";bridged_from_pcts"), flag)
    flag = np.where(out["apportioned"], np.char.add(flag.astype(str), ";apportioned_from_ccgs"), flag)
    return pd.DataFrame({"indicator_id": INDICATOR, "area_code": out["area_code"], "period_start": out["period_start"],
                         "frequency": out["frequency"], "numerator": out["count"], "flag": flag})


def to_quarters(monthly: pd.DataFrame) -> pd.DataFrame:
    """Financial-year quarters from months: only quarters with all three months are kept."""
    q_start = monthly["period_start"].dt.to_period("Q-MAR").dt.start_time
    g = monthly.assign(period_start=q_start).groupby(["period_start", "area_code"], as_index=False).agg(
        count=("count", "sum"), n=("count", "size"), fractional=("fractional", "any"),
        bridged=("bridged", "any"), apportioned=("apportioned", "any"))
    return g[g["n"] == 3].drop(columns="n").assign(frequency="quarter")
