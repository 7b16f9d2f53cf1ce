"""The whole package as an .xlsx workbook for those who still want Excel.

Sheets: Notes (what it is, and "generated demonstration data, not real" for demo data),
Overview (the grid as shown), one sheet per site (its 12 series as shown on its page) and
Definitions (the catalogue). Names follow the mode: anonymised workbooks name no site or LA.
"""
from __future__ import annotations

import io

import pandas as pd

from analysis import results
from analysis.cache import memo
from data.periods import fy_label
from data.reference import ENGLAND_CODE
from layouts.components import grid
from layouts.components.urlstate import BASES, GEOGRAPHY_NAMES, ViewState


def coverage_by_year(ctx) -> pd.DataFrame:
    """Indicator x financial year: % of the geography's units with at least one value that year."""
    return _coverage_by_year(ctx.dataset.checksum, ctx.dataset.geography).copy()


@memo
def _coverage_by_year(checksum: str, geography: str = "la") -> pd.DataFrame:
    ctx = results.context(geography)
    obs = ctx.dataset.observations
    obs = obs[(obs["area_code"] != ENGLAND_CODE) & obs["value"].notna()]
    starts = obs["period_start"]
    first_year = starts.dt.year.where(starts.dt.month >= 4, starts.dt.year - 1)
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


def excel_writer(target) -> pd.ExcelWriter:
    """xlsxwriter with text kept as text: by default it turns a cell starting with "=" into a live
    formula (and "http..." into a link), so a name such as "=HYPERLINK(...)" would run in Excel."""
    return pd.ExcelWriter(target, engine="xlsxwriter",
                          engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}})


def package_workbook(ctx, *, anon: bool, basis: str) -> bytes:
    ds = ctx.dataset
    geo = ds.geography
    state = ViewState(anon=anon, basis=basis, geo=geo)
    notes = pd.DataFrame({"Notes": [
        ds.notice,
        "Integrated Care Pioneers indicator package",
        f"Dataset checksum {ds.checksum}",
        f"Overview basis: {BASES[basis]}",
        f"Units: {GEOGRAPHY_NAMES[geo]}" + (" (2019/20 successors; only emergency admissions have CCG data)"
                                           if geo == "ccg" else ""),
        "Anonymised: sites are shown by their Pioneer letter; local authorities and CCGs are not named" if anon
        else "Named: sites and local authorities are shown by name",
    ]})
    cells = grid.grid_cells(ctx, results.overview(basis, geo), state)
    buf = io.BytesIO()
    used: set[str] = set()
    # xlsxwriter: about half openpyxl's time (1.8 s against 3.3 s) for the ~56,000 cells of a package.
    with excel_writer(buf) as xl:
        notes.to_excel(xl, sheet_name=_sheet_name("Notes", used), index=False)
        grid.grid_export(ctx, cells).to_excel(xl, sheet_name=_sheet_name("Overview", used), index=False)
        for site_id in ctx.names.ordered(anon):
            frames = []
            for ind in ctx.indicator_ids():
                f = results.site_trend(site_id, ind, geo)
                frames.append(pd.DataFrame({"Indicator": ctx.catalogue.at[ind, "short_name"],
                                            "Unit": ctx.catalogue.at[ind, "unit"], "Period": f["period_label"],
                                            "Site value": f["site_value"].round(3),
                                            "England": f["england_value"].round(3), "Phase": f["phase"]}))
            pd.concat(frames).to_excel(xl, sheet_name=_sheet_name(ctx.names.display(site_id, anon), used),
                                       index=False)
        ds.catalogue.drop(columns=[c for c in ("fingertips_id", "ascof_code") if c in ds.catalogue]).to_excel(
            xl, sheet_name=_sheet_name("Definitions", used), index=False)
    return buf.getvalue()
