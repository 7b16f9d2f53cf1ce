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


@pytest.fixture
def page(tab):
    tab.console.messages.clear()
    return tab


def test_grid_click_opens_the_right_detail(page, server):
    open_path(page, server, "/?basis=its")
    cell = page.locator("#cell-leeds-dtoc")
    shown = cell.inner_text()
    cell.click()
    page.wait_for_url("**/site/leeds/indicator/dtoc?basis=its")
    wait_ready(page)
    assert page.locator("#_pages_content h1").inner_text() == "Delayed transfers of care: delayed days: Leeds"
    assert shown.endswith("%")
    assert page.console.messages == []


def test_grid_cells_are_keyboard_links(page, server):
    open_path(page, server, "/")
    page.locator("#cell-barnsley-ea_all").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/site/barnsley/indicator/ea_all")


def test_basis_switch_changes_grid_and_url(page, server):
    open_path(page, server, "/")
    before = page.locator("#grid-legend").inner_text()
    page.locator("#basis-england").click()
    page.wait_for_url("**/?basis=england")
    page.wait_for_function("() => document.querySelector('#grid-legend').innerText.includes('England')")
    after = page.locator("#grid-legend").inner_text()
    assert "comparators" in before and "England" in after
    assert page.locator("#basis-england").get_attribute("class").endswith("active")
    assert page.console.messages == []


def test_mode_switches_update_url_and_page(page, server):
    open_path(page, server, "/site/barnsley")
    assert page.locator("#_pages_content h1").inner_text() == "Barnsley"
    page.locator("label[for=anon-switch]").click()
    page.wait_for_url("**/site/pioneer-c?anon=1")
    page.wait_for_function("() => document.querySelector('#_pages_content h1')?.innerText === 'Pioneer C'")
    page.wait_for_function("() => document.title.startsWith('Pioneer C')")
    assert page.locator("#site-areas").count() == 0
    assert page.locator("#nav-data").get_attribute("href") == "/data?anon=1"
    page.locator("label[for=present-switch]").click()
    page.wait_for_url("**/site/pioneer-c?anon=1&present=1")
    page.wait_for_selector(".present-frame .js-plotly-plot")
    assert not page.locator("#navbar").is_visible()
    page.locator(".present-exit a").click()
    page.wait_for_url("**/site/pioneer-c?anon=1")
    page.wait_for_selector("#navbar", state="visible")
    assert page.console.messages == []


def test_chart_csv_download_matches_the_chart(page, server):
    open_path(page, server, "/site/barnsley/indicator/ea_all")
    figure = json.loads(page.evaluate("JSON.stringify(document.querySelector('.js-plotly-plot').data)"))
    with page.expect_download() as info:
        page.locator("button:has-text('Download CSV')").first.click()
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


def test_workbook_download_holds_the_grid(page, server):
    open_path(page, server, "/?basis=did")
    shown = page.locator("#cell-leeds-ea_all").inner_text()
    with page.expect_download(timeout=90_000) as info:
        page.locator("#package-button").click()
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


def test_grid_csv_download(page, server):
    open_path(page, server, "/?basis=spc&anon=1")
    with page.expect_download() as info:
        page.locator("#grid-csv-button").click()
    download = info.value
    assert download.suggested_filename == "overview_spc_anonymised.csv"
    text = open(download.path(), encoding="utf-8-sig").read()
    assert text.startswith("# Generated demonstration data, not real\n")
    assert "Pioneer C" in text and "Barnsley" not in text


def test_presentation_exports_png_and_svg_named_by_the_chart(page, server, demo):
    from layouts.components.anonymise import find_real_names, real_names

    open_path(page, server, "/site/pioneer-k/indicator/ea_all?anon=1&present=1&chart=trend")
    expected = page.evaluate("document.querySelector('.present-frame .js-plotly-plot')"
                             "._context.toImageButtonOptions.filename")
    assert expected == "trend_ea_all_pioneer-k"  # the chart's own name, by its anonymous id
    files = {}
    for fmt in ("svg", "png"):
        with page.expect_download(timeout=60_000) as info:
            page.locator(f"button:has-text('Download {fmt.upper()}')").click()
        download = info.value
        assert download.suggested_filename == f"{expected}.{fmt}"
        files[fmt] = open(download.path(), "rb").read()
    svg = files["svg"].decode()
    assert svg.startswith("<svg") and 'width="1600"' in svg and 'height="900"' in svg
    assert "Pioneer K" in svg and not find_real_names(svg + expected, real_names(demo.sites, demo.areas))
    assert files["png"][:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(files["png"][16:20], "big"), int.from_bytes(files["png"][20:24], "big")
    assert (width, height) == (4800, 2700)  # 1600 x 900 at scale 3
    assert page.console.messages == []
