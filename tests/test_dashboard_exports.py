"""Exports: the workbook and grid CSV say what they are, carry the demo notice, and name nothing real when anonymised."""
from __future__ import annotations

import io

import openpyxl
import pytest

from layouts.components.anonymise import find_real_names, real_names


@pytest.fixture(scope="module")
def ctx(demo_dir):
    """The demo dataset as the active one. Estimates use analysis.estimates' own disk cache (keyed by the
    dataset checksum and comparator version), so repeated runs read rather than recompute them."""
    from data.active import set_active_dataset
    from analysis import results

    set_active_dataset(demo_dir)
    return results.context()


def _cells(data: bytes) -> dict[str, list[list]]:
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def test_workbook_sheets_notice_and_grid(ctx):
    from analysis import results
    from layouts.components import grid
    from layouts.components.exports import package_workbook
    from layouts.components.urlstate import ViewState

    sheets = _cells(package_workbook(ctx, anon=False, basis="did"))
    names = list(sheets)
    assert names[:2] == ["Notes", "Overview"] and names[-1] == "Definitions" and len(names) == 2 + 25 + 1
    assert sheets["Notes"][1][0] == "Generated demonstration data, not real"
    shown = grid.grid_export(ctx, grid.grid_cells(ctx, results.overview("did"), ViewState()))
    assert sheets["Overview"][0] == list(shown.columns)
    assert [r[1] for r in sheets["Overview"][1:]] == shown["Site"].tolist()
    assert sheets["Overview"][1][2] == shown.iloc[0, 2]
    assert "Barnsley" in names


def test_anonymised_workbook_names_nothing_real(ctx):
    from layouts.components.exports import package_workbook

    sheets = _cells(package_workbook(ctx, anon=True, basis="england"))
    text = "\n".join(list(sheets) + [str(v) for rows in sheets.values() for row in rows for v in row if v is not None])
    forbidden = real_names(ctx.dataset.sites, ctx.dataset.areas)
    assert find_real_names(text, forbidden) == []
    assert "Pioneer C" in sheets


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
    assert len(links) == len(cells) == 25 * 12
    assert {a["id"] for a in links} == {f"cell-{r.path_id}-{r.indicator_id}" for r in cells.itertuples()}
    assert all(a["href"].startswith("/site/") for a in links)

    hostile = cells.assign(site="<script>alert(1)</script> & Co", text='"+1.0%"')
    markup = grid.grid_table(ctx, hostile, state).children.children
    assert "<script>" not in markup and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in markup
    assert 'title="&lt;script&gt;' in markup and "&quot;+1.0%&quot;" in markup
