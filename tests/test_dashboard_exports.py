"""Exports: the workbook and grid CSV say what they are, carry the demo notice, and name nothing real when anonymised."""
from __future__ import annotations

import io

import openpyxl
import pytest

from layouts.components.anonymise import find_real_names, real_names
from tests.workbooks import read_sheets


@pytest.fixture(scope="module")
def ctx(demo_dir):
    """The demo dataset as the active one; its statistics are computed once in this process and kept in
    analysis.cache's memo (keyed by the code version and the dataset checksum)."""
    from data.active import set_active_dataset
    from analysis import results

    set_active_dataset(demo_dir)
    return results.context()


def _cells(data: bytes) -> dict[str, list[list]]:
    """Every cell with openpyxl, which tells an int from a float and a date from a datetime."""
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


@pytest.fixture(scope="module")
def named_did_sheets(ctx) -> dict[str, list[list]]:
    """Every cell of the named package on the DiD basis, as a reader gets them back (built and read once)."""
    from layouts.components.exports import package_workbook

    return read_sheets(package_workbook(ctx, anon=False, basis="did"))


def test_workbook_sheets_notice_and_grid(ctx, named_did_sheets):
    from analysis import results
    from layouts.components import grid
    from layouts.components.urlstate import ViewState

    sheets = named_did_sheets
    names = list(sheets)
    assert names == ["Notes", "Overview", "Overview outcomes", "Effects", "Pooled", "Trends", "Comparators",
                     "Balance", "Definitions"]
    assert sheets["Notes"][1][1] == "Generated demonstration data, not real"
    shown = grid.grid_export(ctx, grid.grid_cells(ctx, results.overview("did"), ViewState()))
    assert sheets["Overview outcomes"][0] == list(shown.columns)
    assert [r[1] for r in sheets["Overview outcomes"][1:]] == shown["Site"].tolist()
    assert sheets["Overview outcomes"][1][2] == shown.iloc[0, 2]
    assert [r[1] for r in sheets["Overview"][1:]] == shown["Site"].tolist()
    assert "Barnsley" in {r[1] for r in sheets["Trends"][1:]}


def test_anonymised_workbook_names_nothing_real(ctx):
    from layouts.components.exports import package_workbook

    sheets = read_sheets(package_workbook(ctx, anon=True, basis="england"))
    text = "\n".join(list(sheets) + [str(v) for rows in sheets.values() for row in rows for v in row if v is not None])
    forbidden = real_names(ctx.dataset.sites, ctx.dataset.areas)
    assert find_real_names(text, forbidden) == []
    assert "Pioneer C" in {r[1] for r in sheets["Trends"][1:]}
    # A site's counts and population would identify it by its size.
    assert "Site denominator" not in sheets["Trends"][0] and "Site numerator" not in sheets["Trends"][0]


def test_chart_csv_starts_with_the_notice(ctx):
    from layouts.components import charts, tables

    chart = charts.build(charts.ChartSpec("trend", site="pioneer-c", indicator_id="ea_all", anon=True))
    text = tables.csv_text(chart.table, ctx.dataset.notice, chart.title)
    lines = text.splitlines()
    assert lines[0] == "# Generated demonstration data, not real"
    assert lines[2].split(",")[:2] == ["Period", "Pioneer C"]
    assert len(lines) == 3 + len(chart.table)
    assert chart.filename == "trend_ea_all_pioneer-c"


def test_grid_markup_escapes_text_and_links_every_cell(ctx):
    """The overview grid is one HTML string (see grid.grid_table): every cell is an in-app link with its id,
    and text that looks like markup reaches the browser as text."""
    from html.parser import HTMLParser

    from analysis import results
    from layouts.components import grid
    from layouts.components.urlstate import parse_query

    state = parse_query("")
    cells = grid.grid_cells(ctx, results.overview("did"), state)
    markup = grid.grid_table(ctx, cells, state).children.children
    links = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "dcclink":
                links.append(dict(attrs))

    Links().feed(markup)
    cell_links = [a for a in links if a["id"].startswith("cell-")]
    assert len(cell_links) == len(cells) == 25 * 12 + 3 * 12  # the sites, then the pooled rows
    assert {a["id"] for a in cell_links} == {f"cell-{r.path_id}-{r.indicator_id}" for r in cells.itertuples()}
    assert all(a["href"].startswith(("/site/", "/indicator/")) for a in cell_links)
    assert sum(a["id"].startswith("site-link-") for a in links) == 25

    hostile = cells.assign(site="<script>alert(1)</script> & Co", text='"+1.0%"')
    markup = grid.grid_table(ctx, hostile, state).children.children
    assert "<script>" not in markup and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in markup
    assert 'title="&lt;script&gt;' in markup and "&quot;+1.0%&quot;" in markup


def test_workbook_is_a_package_an_analyst_can_work_in(named_did_sheets):
    """Issue 14 item 8: numbers as numbers, one sheet per view, counts and denominators, comparator series,
    effects with intervals and p values, pooled results, a notes sheet with methods and sources; text that
    looks like a formula stays text."""
    from analysis import results

    sheets = named_did_sheets
    overview = sheets["Overview"]
    assert all(isinstance(v, float) or v is None for row in overview[1:] for v in row[2:])
    est = results.estimates()
    did = est[(est["method"] == "did") & (est["site_id"] == "leeds") & (est["indicator_id"] == "dtoc")].iloc[0]
    head = sheets["Effects"][0]
    row = next(r for r in sheets["Effects"][1:] if r[0] == "Difference-in-differences" and r[2] == "Leeds"
               and r[3] == "Delayed transfers")
    assert row[head.index("Effect (indicator units)")] == pytest.approx(did["effect"])
    assert row[head.index("p value")] == pytest.approx(did["p_value"])
    assert row[head.index("Lower 95% (units)")] == pytest.approx(did["ci_low"])
    pooled = sheets["Pooled"]
    assert {r[0] for r in pooled[1:]} == {"All Pioneers (pooled)", "Wave 1 Pioneers (pooled)", "Wave 2 Pioneers (pooled)"}
    trends = sheets["Trends"][0]
    for col in ("Site numerator", "Site denominator", "Site lower 95%", "Comparators mean", "Comparators lowest",
                "England"):
        assert col in trends
    notes = {r[0] for r in sheets["Notes"][1:]}
    assert "Method: Difference-in-differences (DiD)" in notes and "Method: Pooled effect" in notes
    assert any(k.startswith("Sheet: ") for k in notes)


def test_workbook_writes_formula_like_text_as_text(ctx, monkeypatch):
    import zipfile

    from layouts.components import exports

    hostile = ctx.catalogue.reset_index().assign(caveats="=HYPERLINK(\"http://x\",\"y\")")
    monkeypatch.setattr(ctx.dataset, "catalogue", hostile, raising=False)
    data = exports.package_workbook(ctx, anon=False, basis="its")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml


def test_csv_downloads_carry_a_byte_order_mark(ctx):
    from callbacks.downloads import download_chart_csv
    from layouts.components import charts

    key = charts.ChartSpec("trend", site="leeds", indicator_id="dtoc").key()
    sent = download_chart_csv(1, {"type": "csv-button", "key": key})
    assert sent["content"].startswith("\ufeff# Generated demonstration data, not real")


def test_workbook_cells_equal_what_pandas_to_excel_writes():
    """The package's writer against pandas' own: the same value and type in every cell, blanks for
    missing values and empty text, dates as dates, and text that looks like a number or formula as text."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    from layouts.components.exports import workbook_bytes

    frame = pd.DataFrame({"Text": ["Leeds", "", None, "=1+1"], "Float": [1.25, np.nan, float("-inf"), 1e-9],
                          "Int": np.array([1, 2, 3, -4], dtype="int64"), "Flag": [True, False, True, False],
                          "Date": [dt.date(2014, 4, 1), dt.date(2015, 1, 1), None, dt.date(2019, 3, 1)],
                          "Mixed": ["2.5", 3, None, "-"]})
    frame["Text"] = frame["Text"].astype("str").where(frame["Text"].notna())  # the pandas string dtype
    ours = _cells(workbook_bytes([("S", frame), ("Empty", frame.iloc[:0])]))
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="xlsxwriter", engine_kwargs={"options": {"strings_to_formulas": False}}) as xl:
        frame.to_excel(xl, sheet_name="S", index=False)
        frame.iloc[:0].to_excel(xl, sheet_name="Empty", index=False)
    theirs = _cells(buf.getvalue())
    assert ours == theirs
    assert [type(v) for v in ours["S"][1]] == [str, float, int, bool, dt.datetime, str]
