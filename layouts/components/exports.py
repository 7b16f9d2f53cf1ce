"""The whole package as an .xlsx workbook an analyst can work in (it replaces the Excel package).

Sheets: Notes (what it is, each sheet, the methods, the sources; "generated demonstration data,
not real" for demo data), Overview (numbers) and Overview outcomes (words), Effects, Pooled,
Trends (every site's series with comparators and England), Comparators, Balance, Definitions.
Numbers are numbers and text is text. Names follow the mode: anonymised workbooks name no site
or LA and leave out counts and denominators.
"""
from __future__ import annotations

import datetime as dt
import io
import math

import numpy as np
import pandas as pd
import xlsxwriter

from analysis import results
from analysis.cache import memo
from data.periods import PERIODS_PER_YEAR, fy_label
from data.reference import ENGLAND_CODE
from layouts.components import grid
from layouts.components.anonymise import comparator_labels
from layouts.components.readings import relative_interval, source_words
from layouts.components.urlstate import BASES, GEOGRAPHY_NAMES, ViewState


def coverage_by_year(ctx) -> pd.DataFrame:
    """Indicator x financial year: % of the geography's units with at least one value that year."""
    return _coverage_by_year(ctx.dataset.checksum, ctx.dataset.geography).copy()


@memo
def _coverage_by_year(checksum: str, geography: str = "la") -> pd.DataFrame:
    ctx = results.context(geography)
    obs = ctx.dataset.observations
    obs = obs[(obs["area_code"] != ENGLAND_CODE) & obs["value"].notna()]
    # A period counts in the financial year holding its midpoint: a calendar year (Jan-Dec 2014)
    # in 2014/15, where nine of its months fall; months, quarters and financial years in their own.
    months = obs["frequency"].map(PERIODS_PER_YEAR).rdiv(12).fillna(12)
    middle = obs["period_start"] + pd.to_timedelta(months * 30.44 / 2, unit="D")
    first_year = middle.dt.year.where(middle.dt.month >= 4, middle.dt.year - 1)
    years = first_year.map({y: fy_label(y) for y in first_year.unique()})
    counts = obs.assign(year=years).groupby(["indicator_id", "year"])["area_code"].nunique().unstack(fill_value=0)
    units = ctx.dataset.areas["area_code"] != ENGLAND_CODE
    pct = (100 * counts / max(int(units.sum()), 1)).round().astype(int)
    pct.index = [ctx.catalogue.at[i, "short_name"] for i in pct.index]
    pct.index.name = "indicator"
    return pct


def _sheet_name(text: str, used: set[str]) -> str:
    name = "".join(ch for ch in text if ch not in "[]:*?/\\")[:31]
    base, i = name, 2
    while name in used:
        name = f"{base[:28]} {i}"
        i += 1
    used.add(name)
    return name


METHOD_NOTES = [
    ("Difference-in-differences (DiD)", "Each site against its k matched comparator local authorities, with area and "
     "period fixed effects; effect in indicator units and as % of the counterfactual (the site's baseline moved as "
     "its comparators moved). Intervals and p values from placebo-in-space tests on non-Pioneer areas: exploratory "
     "with one treated site. Pre-trend p tests parallel trends before the start."),
    ("Change in trend (interrupted time series)", "Segmented regression on the site's own series with level and "
     "slope change and quarter-of-year terms, Newey-West standard errors; effect = mean difference after the start "
     "from the pre-Pioneer trend carried forward."),
    ("Synthetic control", "Each site against a weighted blend of every non-Pioneer area with complete data (weights "
     "on the simplex, fitted to the site's pre-Pioneer series with an intercept and synthetic DiD's ridge penalty, "
     "Arkhangelsky et al. 2021); effect = change in the site's gap to it, as % of the synthetic counterfactual. "
     "p = rank of the site's post/pre RMSPE ratio among placebo refits of every donor (Abadie et al. 2010); 95% "
     "interval from the placebo effects. Pre-period fit flagged poor above the placebos' 90th percentile or 10% "
     "of the site's mean."),
    ("Pooled effect", "Callaway and Sant'Anna group-time effects by wave against never-Pioneer areas, aggregated over "
     "all Pioneers and by wave; influence-function normal intervals."),
    ("England benchmark", "Fingertips rule: the site's 95% interval entirely below England's value is lower, entirely "
     "above higher, else similar; polarity turns lower/higher into better/worse. Intervals: Wilson (proportions), "
     "Byar (rates; exact Poisson below 10 events), Dobson (directly standardised rates)."),
    ("SPC (Making Data Count)", "XmR chart: mean and limits (mean +/- 2.66 x mean moving range) from the pre-Pioneer "
     "periods; special cause = a point outside the limits, 2 of 3 beyond 2 sigma on one side, 7 in a row on one "
     "side of the mean, or 7 rising or falling."),
    ("Matching", "k nearest non-Pioneer local authorities on baseline (pre-2013) population, age, deprivation, "
     "density and the indicator's baseline level and slope; balance as standardised mean differences (pool SD): "
     "|SMD| < 0.1 good, < 0.25 acceptable, else poor."),
]

SHEET_NOTES = [
    ("Overview", "The overview grid's numbers on the chosen basis: % per site (rows) and indicator (columns), as numbers."),
    ("Overview outcomes", "The same cells' outcomes in words (and why a cell is empty)."),
    ("Effects", "Every site's DiD, synthetic-control and change-in-trend estimates with intervals, p values, counts of periods and "
     "comparators, and the comparator set's balance."),
    ("Pooled", "The pooled effect across Pioneers: all sites, wave 1, wave 2."),
    ("Trends", "Every site's series for every indicator with its 95% interval, its matched comparators' mean, lowest "
     "and highest, and England with its interval; numerators and denominators where the dataset has them."),
    ("Comparators", "Each site's comparators for each indicator, nearest first, with their distances."),
    ("Balance", "Standardised mean difference of each matching covariate before and after matching."),
    ("Definitions", "The indicator catalogue: definition, numerator, denominator, unit, polarity, source, caveats."),
]


def _notes_sheet(ctx, anon: bool, basis: str) -> pd.DataFrame:
    """What the workbook is, what each sheet holds, the methods, and the sources, as a two-column sheet."""
    ds = ctx.dataset
    rows = [("Dataset", ds.notice),  # names generated and disclosure-controlled figures, whatever else it holds
            ("Package", "Integrated Care Pioneers indicator package"),
            ("Dataset checksum", ds.checksum),
            ("Overview basis", BASES[basis]),
            ("Units", f"{GEOGRAPHY_NAMES[ds.geography]}" + (" (2019/20 successors; only emergency admissions have "
                                                            "CCG data)" if ds.geography == "ccg" else "")),
            ("Names", "Anonymised: sites are shown by their Pioneer letter, comparators by number; local authorities "
                      "and CCGs are not named, and counts and denominators are left out because a site's size could "
                      "identify it" if anon else "Named: sites and local authorities are shown by name")]
    rows += [(f"Sheet: {name}", text) for name, text in SHEET_NOTES]
    rows += [(f"Method: {name}", text) for name, text in METHOD_NOTES]
    for src in ds.manifest.get("sources", []):
        rows.append(("Source", source_words(src)))
    return pd.DataFrame(rows, columns=["Item", "Notes"])


def _site_name(ctx, anon: bool):
    return lambda site_id: ctx.names.display(site_id, anon) if site_id in ctx.names.names else site_id


def _overview_sheets(ctx, anon: bool, basis: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    cells = grid.grid_cells(ctx, results.overview(basis, ctx.dataset.geography),
                             ViewState(anon=anon, basis=basis, geo=ctx.dataset.geography))
    order = [ctx.catalogue.at[i, "short_name"] for i in ctx.indicator_ids()]
    numbers = cells.assign(value=pd.to_numeric(cells["effect_pct"], errors="coerce").round(3))
    wide = numbers.pivot(index=["wave", "group", "site"], columns="indicator", values="value")[order]
    wide = wide.reset_index().drop(columns="wave").rename(columns={"group": "Wave", "site": "Site"})
    site_order = {s: i for i, s in enumerate(dict.fromkeys(cells["site"]))}
    wide = wide.sort_values("Site", key=lambda s: s.map(site_order)).reset_index(drop=True)
    return wide, grid.grid_export(ctx, cells)


def _effects_sheet(ctx, anon: bool) -> pd.DataFrame:
    est = results.estimates(ctx.dataset.geography)
    est = est[est["method"].isin(["did", "its", "scm"])]
    name = _site_name(ctx, anon)
    pct = [relative_interval(e, p, lo, hi) for e, p, lo, hi in
           zip(est["effect"], est["effect_pct"], est["ci_low"], est["ci_high"])]
    order = {s: i for i, s in enumerate(ctx.names.ordered(anon))}
    out = pd.DataFrame({
        "Method": est["method"].map({"did": "Difference-in-differences", "its": "Change in trend (ITS)",
                                     "scm": "Synthetic control"}),
        "Wave": est["site_id"].map(ctx.names.waves), "Site": est["site_id"].map(name),
        "Indicator": est["indicator_id"].map(ctx.catalogue["short_name"]),
        "Unit": est["indicator_id"].map(ctx.catalogue["unit"]),
        "Effect (indicator units)": est["effect"], "Lower 95% (units)": est["ci_low"],
        "Upper 95% (units)": est["ci_high"], "Effect (% of expected)": est["effect_pct"],
        "Lower 95% (%)": [a for a, _ in pct], "Upper 95% (%)": [b for _, b in pct],
        "p value": est["p_value"], "p method": est["p_method"], "Pre-trend p": est["pre_trend_p"],
        "Minimum detectable effect (% of expected, 80% power)": est["mde_pct"],
        "Comparators": est["n_comparators"], "Periods before": est["n_pre"], "Periods after": est["n_post"],
        "Comparator balance": [results.site_balance(s, i, ctx.dataset.geography).quality if m == "did" else ""
                               for s, i, m in zip(est["site_id"], est["indicator_id"], est["method"])],
        "Note": est["note"].fillna(""),
        "method": est["method"], "Pre-period fit (SCM)": est["pre_fit"].fillna(""),
        "Pre-period RMSPE (SCM)": est["pre_rmspe"],
        "_o": est["site_id"].map(order), "_i": est["indicator_id"].map({i: n for n, i in enumerate(ctx.indicator_ids())}),
    })
    return out.sort_values(["Method", "_o", "_i"]).drop(columns=["_o", "_i"]).reset_index(drop=True)


def _pooled_sheet(ctx) -> pd.DataFrame:
    p = results.pooled_overview(ctx.dataset.geography)
    return pd.DataFrame({"Aggregate": p["label"], "Indicator": p["indicator_id"].map(ctx.catalogue["short_name"]),
                         "Unit": p["indicator_id"].map(ctx.catalogue["unit"]), "Effect (indicator units)": p["effect"],
                         "Lower 95% (units)": p["ci_low"], "Upper 95% (units)": p["ci_high"],
                         "Effect (% of expected)": p["effect_pct"], "p value": p["p_value"],
                         "Outcome": p["outcome_label"], "Never-Pioneer comparators": p["n_comparators"],
                         "Periods before": p["n_pre"], "Periods after": p["n_post"], "Note": p["note"]})


TREND_SHEET = {"period_label": "Period", "period_start": "Period start", "phase": "Phase",
               "site_numerator": "Site numerator", "site_denominator": "Site denominator", "site_value": "Site value",
               "site_ci_low": "Site lower 95%", "site_ci_high": "Site upper 95%",
               "comparator_mean": "Comparators mean", "comparator_min": "Comparators lowest",
               "comparator_max": "Comparators highest", "comparator_n": "Comparators with data",
               "england_value": "England", "england_ci_low": "England lower 95%", "england_ci_high": "England upper 95%",
               "benchmark": "Against England"}
SIZE_COLUMNS = ("site_numerator", "site_denominator")
"""Left out of anonymised workbooks: a site's counts and population would identify it by its size."""


def _trends_sheet(ctx, anon: bool) -> pd.DataFrame:
    table = results.all_site_trends(ctx.dataset.geography)
    cols = [c for c in TREND_SHEET if c in table.columns and not (anon and c in SIZE_COLUMNS)]
    order = {s: i for i, s in enumerate(ctx.names.ordered(anon))}
    frame = table.assign(_o=table["site_id"].map(order),
                         _i=table["indicator_id"].map({i: n for n, i in enumerate(ctx.indicator_ids())}))
    frame = frame.sort_values(["_o", "_i", "period_start"], kind="stable")
    out = pd.DataFrame({"Wave": frame["site_id"].map(ctx.names.waves).to_numpy(),
                        "Site": frame["site_id"].map(_site_name(ctx, anon)).to_numpy(),
                        "Indicator": frame["indicator_id"].map(ctx.catalogue["short_name"]).to_numpy(),
                        "Unit": frame["indicator_id"].map(ctx.catalogue["unit"]).to_numpy()})
    for c in cols:
        values = frame[c].to_numpy()
        out[TREND_SHEET[c]] = values.round(4) if values.dtype.kind == "f" else values
    out["Period start"] = pd.to_datetime(out["Period start"]).dt.date if "Period start" in out else None
    return out


def _comparators_sheets(ctx, anon: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    cs = results.comparators(ctx.dataset.geography)
    t = cs.table.sort_values(["site_id", "indicator_id", "rank"])
    names = []
    for (_, _), part in t.groupby(["site_id", "indicator_id"], sort=False):
        labels = comparator_labels(part["comparator_code"].tolist(), ctx.area_names, anon)
        names += [labels[c] for c in part["comparator_code"]]
    comps = pd.DataFrame({"Site": t["site_id"].map(_site_name(ctx, anon)).to_numpy(),
                          "Indicator": t["indicator_id"].map(ctx.catalogue["short_name"]).to_numpy(),
                          "Rank": t["rank"].to_numpy(), "Comparator": names,
                          "Distance": t["distance"].round(4).to_numpy()})
    if not anon:
        comps.insert(4, "ONS code", t["comparator_code"].to_numpy())
    b = results.balance_rows(ctx.dataset.geography)
    balance = pd.DataFrame({"Site": b["site_id"].map(_site_name(ctx, anon)),
                            "Indicator": b["indicator_id"].map(ctx.catalogue["short_name"]),
                            "Covariate": b["covariate"], "SMD before matching": b["smd_before"].round(4),
                            "SMD after matching": b["smd_after"].round(4), "Balance after": b["balance_after"]})
    return comps, balance


def workbook_bytes(sheets: list[tuple[str, pd.DataFrame]]) -> bytes:
    """An .xlsx of ``sheets`` (name, frame): a bold header row frozen above the rows, numbers as
    numbers, dates as dates, missing values and empty text blank, infinities as the text "inf", and
    every text cell as text, never a formula or a link (a name such as "=HYPERLINK(...)" would
    otherwise run in Excel): what pandas' ``to_excel`` writes (tests/test_dashboard_exports.py).

    Rows are written straight to xlsxwriter in its constant-memory mode, one cell call each: pandas'
    ``to_excel`` spent about half its time formatting each cell (the commit that made this says how long)."""
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"constant_memory": True, "strings_to_formulas": False,
                                     "strings_to_urls": False, "nan_inf_to_errors": False})
    header = book.add_format({"bold": True, "border": 1, "align": "center", "valign": "top"})
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, frame in sheets:
        sheet = book.add_worksheet(name)
        sheet.freeze_panes(1, 0)
        sheet.set_column(0, max(0, len(frame.columns) - 1), 16)
        sheet.write_row(0, 0, [str(c) for c in frame.columns], header)
        write = {float: sheet.write_number, int: sheet.write_number, bool: sheet.write_boolean,
                 str: sheet.write_string}
        columns = [frame[c].tolist() for c in frame.columns]
        for i, row in enumerate(zip(*columns), start=1):
            for j, value in enumerate(row):
                kind = type(value)
                if kind is float:
                    if value != value:
                        continue  # NaN: a blank cell
                    if math.isinf(value):
                        sheet.write_string(i, j, "inf" if value > 0 else "-inf")
                        continue
                elif value is None or value is pd.NA or value is pd.NaT or value == "":
                    continue
                elif kind not in write:
                    if isinstance(value, dt.date):  # datetime and Timestamp too
                        sheet.write_datetime(i, j, value, dates)
                        continue
                    value = value.item() if isinstance(value, np.generic) else str(value)
                    kind = type(value)
                write.get(kind, sheet.write)(i, j, value)
    book.close()
    return buf.getvalue()


def package_workbook(ctx, *, anon: bool, basis: str) -> bytes:
    """The analyst's package: one sheet per view, numbers stored as numbers, text as text, and a notes sheet."""
    ds = ctx.dataset
    overview_numbers, overview_words = _overview_sheets(ctx, anon, basis)
    comps, balance = _comparators_sheets(ctx, anon)
    sheets = [("Notes", _notes_sheet(ctx, anon, basis)), ("Overview", overview_numbers),
              ("Overview outcomes", overview_words), ("Effects", _effects_sheet(ctx, anon)),
              ("Pooled", _pooled_sheet(ctx)), ("Trends", _trends_sheet(ctx, anon)), ("Comparators", comps),
              ("Balance", balance),
              ("Definitions", ds.catalogue.drop(columns=[c for c in ("fingertips_id", "ascof_code")
                                                         if c in ds.catalogue]))]
    return workbook_bytes(sheets)
