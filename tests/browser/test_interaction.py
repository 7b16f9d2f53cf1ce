"""Grid clicks, basis and mode switches, and downloads that contain what is shown.

The tests share one tab and open their pages with `open_path`: a deep link for the first page of each
template, in-app navigation after that, as a user moves around the dashboard."""
from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest

from tests.browser_support import open_path, wait_ready

pytestmark = pytest.mark.browser


def test_grid_click_opens_the_right_detail(tab, server):
    open_path(tab, server, "/?basis=its")
    cell = tab.locator("#cell-leeds-dtoc")
    shown = cell.inner_text()
    cell.click()
    tab.wait_for_url("**/site/leeds/indicator/dtoc?basis=its")
    wait_ready(tab)
    assert tab.locator("#_pages_content h1").inner_text() == "Delayed transfers of care: delayed days: Leeds"
    assert shown.endswith("%")
    assert tab.console.messages == []


def test_grid_cells_are_keyboard_links(tab, server):
    open_path(tab, server, "/")
    tab.locator("#cell-barnsley-ea_all").focus()
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/site/barnsley/indicator/ea_all")


def test_basis_switch_changes_grid_and_url(tab, server):
    open_path(tab, server, "/")
    before = tab.locator("#grid-legend").inner_text()
    tab.locator("#basis-england").click()
    tab.wait_for_url("**/?basis=england")
    tab.wait_for_function("() => document.querySelector('#grid-legend').innerText.includes('England')")
    after = tab.locator("#grid-legend").inner_text()
    assert "comparators" in before and "England" in after
    assert tab.locator("#basis-england").get_attribute("class").endswith("active")
    assert tab.console.messages == []


def test_mode_switches_update_url_and_page(tab, server):
    open_path(tab, server, "/site/barnsley")
    assert tab.locator("#_pages_content h1").inner_text() == "Barnsley"
    tab.locator("label[for=anon-switch]").click()
    tab.wait_for_url("**/site/pioneer-c?anon=1")
    tab.wait_for_function("() => document.querySelector('#_pages_content h1')?.innerText === 'Pioneer C'")
    tab.wait_for_function("() => document.title.startsWith('Pioneer C')")
    assert tab.locator("#site-areas").count() == 0
    assert tab.locator("#nav-data").get_attribute("href") == "/data?anon=1"
    tab.locator("label[for=present-switch]").click()
    tab.wait_for_url("**/site/pioneer-c?anon=1&present=1")
    tab.wait_for_selector(".present-frame .js-plotly-plot")
    assert not tab.locator("#navbar").is_visible()
    tab.locator(".present-exit a").click()
    tab.wait_for_url("**/site/pioneer-c?anon=1")
    tab.wait_for_selector("#navbar", state="visible")
    assert tab.console.messages == []


def test_chart_csv_download_matches_the_chart(tab, server):
    open_path(tab, server, "/site/barnsley/indicator/ea_all")
    figure = json.loads(tab.evaluate("JSON.stringify(document.querySelector('.js-plotly-plot').data)"))
    with tab.expect_download() as info:
        tab.locator("button:has-text('Download CSV')").first.click()
    download = info.value
    assert download.suggested_filename == "trend_ea_all_barnsley.csv"
    assert open(download.path(), "rb").read(3) == b"\xef\xbb\xbf"  # the byte-order mark Excel needs
    lines = open(download.path(), encoding="utf-8-sig").read().splitlines()
    assert lines[0] == "# Generated demonstration data, not real"
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[2:]))))
    site = next(t for t in figure if t["name"] == "Barnsley")
    england = next(t for t in figure if t["name"] == "England")
    assert [r["Period"] for r in rows] == site["x"]
    assert [float(r["Barnsley"]) if r["Barnsley"] else None for r in rows] == pytest.approx(site["y"], rel=1e-6)
    assert [float(r["England"]) for r in rows] == pytest.approx(england["y"], rel=1e-6)


def test_table_alternative_opens_by_keyboard_with_the_chart_numbers(tab, server):
    """A chart's table is folded away until opened (drawn then, layouts/components/tables.py); opened with
    the keyboard, it is a real table of the chart's own numbers, and it stays drawn when folded and reopened."""
    open_path(tab, server, "/site/barnsley/indicator/ea_all")
    figure = json.loads(tab.evaluate("JSON.stringify(document.querySelector('.js-plotly-plot').data)"))
    details = tab.locator(".chart-block details").first
    assert details.locator("table").count() == 0  # nothing drawn for a folded table
    details.locator("summary").focus()
    tab.keyboard.press("Enter")
    details.locator("table").wait_for()
    assert details.get_attribute("open") is not None
    header = details.locator("thead th").all_inner_texts()
    cells = [row.locator("td").all_inner_texts() for row in details.locator("tbody tr").all()]
    site = next(t for t in figure if t["name"] == "Barnsley")
    assert header[0] == "Period" and [c[0] for c in cells] == site["x"]
    col = header.index("Barnsley")
    assert [float(c[col].replace(",", "")) if c[col] else None for c in cells] == pytest.approx(site["y"], abs=0.0051)  # shown to 2 places
    tab.keyboard.press("Space")  # fold it away and open it again: the same table
    assert details.get_attribute("open") is None
    tab.keyboard.press("Space")
    assert details.get_attribute("open") is not None and details.locator("tbody tr").count() == len(cells)
    assert tab.console.messages == []


def test_workbook_download_holds_the_grid(tab, server):
    open_path(tab, server, "/?basis=did")
    shown = tab.locator("#cell-leeds-ea_all").inner_text()
    with tab.expect_download(timeout=90_000) as info:
        tab.locator("#package-button").click()
    download = info.value
    assert download.suggested_filename == "pioneer-indicators.xlsx"
    wb = openpyxl.load_workbook(io.BytesIO(open(download.path(), "rb").read()), read_only=True)
    assert wb.sheetnames[:3] == ["Notes", "Overview", "Overview outcomes"]
    notes = [r[1] for r in wb["Notes"].iter_rows(values_only=True)]
    assert "Generated demonstration data, not real" in notes
    overview = list(wb["Overview"].iter_rows(values_only=True))
    leeds = next(r for r in overview if r[1] == "Leeds")
    assert f"{leeds[2]:+.1f}%" == shown  # the number itself, stored as a number
    outcomes = list(wb["Overview outcomes"].iter_rows(values_only=True))
    assert next(r for r in outcomes if r[1] == "Leeds")[2].startswith(shown + " (")


def test_grid_csv_download(tab, server):
    open_path(tab, server, "/?basis=spc&anon=1")
    with tab.expect_download() as info:
        tab.locator("#grid-csv-button").click()
    download = info.value
    assert download.suggested_filename == "overview_spc_anonymised.csv"
    text = open(download.path(), encoding="utf-8-sig").read()
    assert text.startswith("# Generated demonstration data, not real\n")
    assert "Pioneer C" in text and "Barnsley" not in text


def test_presentation_exports_png_and_svg_named_by_the_chart(tab, server, demo):
    from layouts.components.anonymise import find_real_names, real_names

    open_path(tab, server, "/site/pioneer-k/indicator/ea_all?anon=1&present=1&chart=trend")
    expected = tab.evaluate("document.querySelector('.present-frame .js-plotly-plot')"
                             "._context.toImageButtonOptions.filename")
    assert expected == "trend_ea_all_pioneer-k"  # the chart's own name, by its anonymous id
    files = {}
    for fmt in ("svg", "png"):
        with tab.expect_download(timeout=60_000) as info:
            tab.locator(f"button:has-text('Download {fmt.upper()}')").click()
        download = info.value
        assert download.suggested_filename == f"{expected}.{fmt}"
        files[fmt] = open(download.path(), "rb").read()
    svg = files["svg"].decode()
    assert svg.startswith("<svg") and 'width="1600"' in svg and 'height="900"' in svg
    assert "Pioneer K" in svg and not find_real_names(svg + expected, real_names(demo.sites, demo.areas))
    assert files["png"][:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(files["png"][16:20], "big"), int.from_bytes(files["png"][20:24], "big")
    assert (width, height) == (4800, 2700)  # 1600 x 900 at scale 3
    assert tab.console.messages == []
