"""Every page on the CCG geography in headless Chromium: the switch is in the URL and keyboard
reachable, pages load with an empty console, indicators without CCG data say so in words, a
forged geography is answered with a plain message, and exports name the geography."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.browser import dash_http
from tests.browser_support import open_path, wait_ready

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def workers_set_up(server):
    """A few index requests one after another, so each worker sets Dash up before the browser's
    parallel script requests arrive (Dash registers its script paths on a worker's first request;
    a second thread of a worker still doing so is answered "not a registered library")."""
    for _ in range(6):
        with urllib.request.urlopen(server + "/", timeout=60) as res:
            res.read()

CCG_PAGES = [
    ("/?geo=ccg", "Overview: every Pioneer site and indicator"),
    ("/?geo=ccg&basis=england", "Overview"),
    ("/site/leeds?geo=ccg", "Leeds"),
    ("/site/pioneer-k?anon=1&geo=ccg", "Pioneer K"),
    ("/site/leeds/indicator/ea_all?geo=ccg", "Emergency admissions"),
    ("/site/leeds/indicator/dtoc?geo=ccg", "Delayed transfers of care"),
    ("/indicator/ea_all?geo=ccg", "Emergency admissions"),
    ("/indicator/falls_65?geo=ccg", "Emergency admissions due to falls"),
    ("/indicators?geo=ccg", "The 12 indicators"),
    ("/matching?geo=ccg", "Matched comparators"),
    ("/data?geo=ccg", "The data behind the dashboard"),
    ("/programme?geo=ccg", "Emergency admissions: Pioneer and non-participant areas"),
    ("/programme", "Emergency admissions: Pioneer and non-participant areas"),
]


@pytest.mark.parametrize("path,heading", CCG_PAGES, ids=[p for p, _ in CCG_PAGES])
def test_ccg_page_loads_with_empty_console(tab, server, path, heading):
    """In one tab: a deep link for each page template's first URL, in-app navigation for the rest
    (`open_path`), so the geography switch is checked both as a full load sets it from the URL and as
    the URL callback sets it."""
    open_path(tab, server, path)
    assert heading in tab.locator("#_pages_content h1").first.inner_text()
    assert tab.console.messages == []
    assert "Traceback" not in tab.content()
    want = "ccg" if "geo=ccg" in path else "la"
    assert tab.locator(f"#geo-switch input[value={want}]").is_checked()


def test_indicator_without_ccg_data_says_so_instead_of_empty_axes(tab, server):
    open_path(tab, server, "/indicator/falls_65?geo=ccg")
    text = tab.locator("#indicator-unavailable").inner_text()
    assert "not available on the CCG geography" in text
    assert tab.locator("#_pages_content .js-plotly-plot").count() == 0
    open_path(tab, server, "/site/leeds/indicator/dtoc?geo=ccg")
    assert "not available on the CCG geography" in tab.locator("#no-estimate").inner_text()
    open_path(tab, server, "/?geo=ccg")
    assert "not available on CCGs" in tab.locator("#_pages_content").inner_text()


def test_ccg_pages_show_ccg_units(tab, server):
    open_path(tab, server, "/site/leeds?geo=ccg")
    assert "NHS Leeds CCG" in tab.locator("#site-areas").inner_text()
    assert "CCG units" in tab.locator("#site-comparators").evaluate("e => e.parentElement.innerText")
    open_path(tab, server, "/site/leeds")  # the URL without geo=ccg puts the page back on LAs
    assert "NHS Leeds CCG" not in tab.locator("#site-areas").inner_text()


def test_geography_switch_by_keyboard_keeps_it_in_the_url_and_the_nav(tab, server):
    open_path(tab, server, "/site/leeds?basis=its")
    tab.locator("#geo-switch input[value=la]").focus()
    tab.keyboard.press("ArrowRight")  # radio group: arrows move and select
    tab.wait_for_url("**/site/leeds?basis=its&geo=ccg")
    wait_ready(tab)
    assert tab.locator("#geo-switch input[value=ccg]").is_checked()
    assert "NHS Leeds CCG" in tab.locator("#site-areas").inner_text()
    for nav in ("#nav-overview", "#nav-matching", "#nav-programme", "#nav-data"):
        assert "geo=ccg" in tab.locator(nav).get_attribute("href")
    tab.locator("#nav-programme").click()
    tab.wait_for_url("**/programme?basis=its&geo=ccg")
    wait_ready(tab)
    assert "CCG units" in tab.locator("#programme-geography").inner_text()
    assert tab.console.messages == []


def test_forged_geography_gets_a_plain_message(server):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server + "/site/leeds?geo=%3Cscript%3Ealert(1)%3C/script%3E", timeout=30)
    assert err.value.code == 400
    body = err.value.read().decode()
    assert "Unknown geography" in body and "<script>alert" not in body and "Traceback" not in body
    layout, _ = dash_http.page(server, "/indicator/ea_all", "?geo=wales")  # reached inside the app
    text = str(layout)
    assert "Unknown geography 'wales'" in text and "Traceback" not in text


def test_ccg_exports_name_the_geography(server):
    grid = dash_http.download(server, "grid-csv-download", "grid-csv-button", "?geo=ccg")
    assert grid["filename"] == "overview_did_ccg.csv" and "not available on CCGs" in grid["content"]
    layout, _ = dash_http.page(server, "/site/leeds/indicator/ea_all", "?geo=ccg")
    keys = dash_http.csv_keys(layout)
    assert keys and all('"geo":"ccg"' in k for k in keys)
    data = dash_http.csv_download(server, keys[0])
    assert "(CCG units)" in data["content"] and data["filename"].endswith("_ccg.csv")
    book = dash_http.download(server, "package-download", "package-button", "?geo=ccg")
    assert book["filename"] == "pioneer-indicators_ccg.xlsx"
