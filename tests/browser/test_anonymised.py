"""Anonymised mode names no real site, LA or comparator anywhere: page text, figure JSON, titles, URLs, downloads.

How the work is split, to stay fast on two shared cores:
- Bulk, over HTTP, in two parts run in parallel (every page template; all 25 site pages and 12
  indicator pages; 50 site x indicator pages covering every site and every indicator; the overview on
  all four bases, /indicators, /matching with its live callback, /data, and the not-found page): the
  page router's response is exactly the layout JSON the browser renders, including every figure's
  data and layout (hover text, legends, titles) and every link
  (the URLs a user can reach), plus the page title. Every chart CSV on the site and indicator pages,
  the grid CSV and the workbook are fetched through the same download callbacks the buttons call.
  The 1,200 CSVs of the site x indicator pages are built by the same chart builders as the figures
  on those pages (which are scanned) and are sampled for three sites (first of wave 1, one mid-list, first of wave 2).
- In the browser, a representative subset (overview, a site, a site x indicator, an indicator, the
  matching and data pages, and the switch from named to anonymised), opened as deep links and by
  in-app navigation (`open_path`): what is actually on screen
  (innerText, the live figure JSON of every plot, document.title, the URL after client-side
  navigation) and the downloads as the browser saves them, file names included.
"""
from __future__ import annotations

import base64
import json

import pytest

from layouts.components.anonymise import SiteNames, find_real_names, real_names
from tests.browser import dash_http
from tests.browser_support import open_path, wait_ready
from tests.workbooks import workbook_text

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def forbidden(demo):
    return real_names(demo.sites, demo.areas)


@pytest.fixture(scope="module")
def names(demo):
    return SiteNames.from_sites(demo.sites)


def _scan(what: str, text: str, forbidden: list[str], leaks: list[str]) -> None:
    hits = find_real_names(text, forbidden)
    if hits:
        leaks.append(f"{what}: {hits[:5]}")


PAIRS_PER_SITE = 2


def _bulk_paths(demo, names) -> list[str]:
    """Every page template; every site page and indicator page; site x indicator pages in a
    covering design: each site with two indicators, each indicator with at least four sites
    (the same builders make all 300, so what varies is the site's and the indicator's data)."""
    indicators = demo.catalogue["indicator_id"].tolist()
    paths = ["/", "/indicators", "/matching", "/data", "/site/nowhere"]
    for i, site_id in enumerate(names.ordered(True)):
        pid = names.path_id(site_id, True)
        paths.append(f"/site/{pid}")
        paths += [f"/site/{pid}/indicator/{indicators[(i + j * 5) % len(indicators)]}" for j in range(PAIRS_PER_SITE)]
    paths += [f"/indicator/{ind}" for ind in indicators]
    return paths


BULK_PARTS = 2  # see _bulk_part


def _bulk_part(demo, names, part: int) -> list[str]:
    """One of the two halves of `_bulk_paths`, each a test of its own, so the two workers scan in
    parallel, each on its own server. Part 0 takes the templates and indicator pages (the overview's
    grid, the indicator CSVs, the callbacks and the workbook) and every third site; part 1 takes the
    other sites, among them the three whose site x indicator CSVs are sampled (with alternate sites
    instead, part 0 took 1.6 times as long as part 1)."""
    paths = _bulk_paths(demo, names)
    fixed = [p for p in paths if not p.startswith("/site/") or p == "/site/nowhere"]
    sites = [pid for pid in dict.fromkeys(p.split("/")[2] for p in paths if p not in fixed)]
    part0 = set(sites[1::3])
    if part == 0:
        return [p for p in paths if p in fixed or (p not in fixed and p.split("/")[2] in part0)]
    return [p for p in paths if p not in fixed and p.split("/")[2] not in part0]


def test_bulk_parts_together_are_the_bulk_paths(demo, names):
    parts = [_bulk_part(demo, names, i) for i in range(BULK_PARTS)]
    assert sorted(p for part in parts for p in part) == sorted(_bulk_paths(demo, names))
    assert len(_bulk_paths(demo, names)) == 5 + 25 * (1 + PAIRS_PER_SITE) + 12
    assert all(len(part) > 20 for part in parts)


def test_bulk_paths_cover_every_site_and_indicator(demo, names):
    pairs = [p.split("/") for p in _bulk_paths(demo, names) if p.count("/") == 4]
    sites = {p[2] for p in pairs}
    per_indicator = {}
    for p in pairs:
        per_indicator.setdefault(p[4], set()).add(p[2])
    assert sites == {names.path_id(s, True) for s in names.ordered(True)}
    assert set(per_indicator) == set(demo.catalogue["indicator_id"])
    assert min(len(v) for v in per_indicator.values()) >= 4


@pytest.mark.parametrize("part", range(BULK_PARTS))
def test_bulk_http_scan_finds_no_real_name(server, demo, names, forbidden, part):
    leaks: list[str] = []
    n_pages = n_downloads = n_site_pages = 0
    sample_sites = {names.path_id(s, True) for s in names.ordered(True)[::12]}  # one per wave, and one more
    paths = _bulk_part(demo, names, part)
    for path in paths:
        searches = ["?anon=1"] if path != "/" else [f"?anon=1&basis={b}" for b in ("did", "its", "england", "spc")]
        for search in searches:
            layout, title = dash_http.page(server, path, search)
            n_pages += 1
            _scan(f"{path}{search} layout", json.dumps(layout), forbidden, leaks)
            _scan(f"{path}{search} title", title, forbidden, leaks)
            keys = dash_http.csv_keys(layout)
            if path.startswith("/site/") and path.count("/") == 2 and path != "/site/nowhere":
                n_site_pages += 1
                assert keys, f"{path}: no chart downloads found to scan"
            if "/indicator/" in path and path.startswith("/site/") and path.split("/")[2] not in sample_sites:
                keys = []
            for key in keys:
                data = dash_http.csv_download(server, key)
                n_downloads += 1
                _scan(f"{path} CSV {data['filename']}", data["filename"] + data["content"], forbidden, leaks)
    n_sites = len({p.split("/")[2] for p in paths if p.startswith("/site/")} - {"nowhere"})
    assert n_pages == len(paths) + 3 * (part == 0) and n_site_pages == n_sites  # the overview on four bases
    assert n_downloads > 40  # every chart of each site page, and of each indicator page (part 0)
    assert leaks == []
    if part:
        return  # the callbacks and workbook below are the same for every part: part 0 scans them
    # The live matching callback, as the page's controls fire it.
    body = {"output": "match-output.children", "outputs": {"id": "match-output", "property": "children"},
            "inputs": [{"id": "match-method", "property": "value", "value": "euclidean"},
                       {"id": "match-k", "property": "value", "value": 7},
                       {"id": "match-covariates", "property": "value", "value": ["share_65", "deprivation"]},
                       {"id": "match-kauto", "property": "value", "value": ["auto"]},
                       {"id": "match-caliper", "property": "value", "value": 1.0}],
            "state": [{"id": "url", "property": "search", "value": "?anon=1"}],
            "changedPropIds": ["match-k.value"]}
    _scan("matching callback", json.dumps(dash_http.post(server, body)), forbidden, leaks)
    for basis in ("did", "spc"):
        grid = dash_http.download(server, "grid-csv-download", "grid-csv-button", f"?anon=1&basis={basis}")
        _scan(f"grid CSV {basis}", grid["filename"] + grid["content"], forbidden, leaks)
    book = dash_http.download(server, "package-download", "package-button", "?anon=1")
    _scan("workbook", workbook_text(base64.b64decode(book["content"]), book["filename"]), forbidden, leaks)
    assert leaks == []


def test_scan_would_catch_a_leak(server, forbidden):
    """The same scan on the named view finds the names: the anonymised result above is not vacuous."""
    layout, title = dash_http.page(server, "/site/barnsley", "")
    assert "Barnsley" in find_real_names(json.dumps(layout) + title, forbidden)
    assert len(find_real_names(json.dumps(layout), forbidden)) >= 2  # the site and its comparator LAs


def _ccg_paths(names) -> list[str]:
    """On CCGs: every site page and its emergency admissions page (the one indicator with CCG data),
    a site x indicator page without CCG data, every indicator page, the overview, matching, data, programme."""
    paths = ["/", "/indicators", "/matching", "/data", "/programme", "/indicator/ea_all", "/indicator/dtoc"]
    for site_id in names.ordered(True):
        pid = names.path_id(site_id, True)
        paths += [f"/site/{pid}", f"/site/{pid}/indicator/ea_all"]
    return paths + [f"/site/{names.path_id(names.ordered(True)[0], True)}/indicator/dtoc"]


def test_ccg_geography_scan_finds_no_ccg_name(server, names, forbidden):
    """Anonymised mode on CCGs names no CCG (site units or comparators): pages, titles, chart CSVs,
    the matching callback, the grid CSV and the workbook."""
    leaks: list[str] = []
    n_downloads = 0
    for path in _ccg_paths(names):
        for search in (["?anon=1&geo=ccg&basis=" + b for b in ("did", "england")] if path == "/"
                       else ["?anon=1&geo=ccg"]):
            layout, title = dash_http.page(server, path, search)
            _scan(f"{path}{search} layout", json.dumps(layout), forbidden, leaks)
            _scan(f"{path}{search} title", title, forbidden, leaks)
            for key in dash_http.csv_keys(layout):
                data = dash_http.csv_download(server, key)
                n_downloads += 1
                _scan(f"{path} CSV {data['filename']}", data["filename"] + data["content"], forbidden, leaks)
    body = {"output": "match-output.children", "outputs": {"id": "match-output", "property": "children"},
            "inputs": [{"id": "match-method", "property": "value", "value": "mahalanobis"},
                       {"id": "match-k", "property": "value", "value": 5},
                       {"id": "match-covariates", "property": "value", "value": ["log_population", "deprivation"]},
                       {"id": "match-kauto", "property": "value", "value": []},
                       {"id": "match-caliper", "property": "value", "value": None}],
            "state": [{"id": "url", "property": "search", "value": "?anon=1&geo=ccg"}],
            "changedPropIds": ["match-k.value"]}
    _scan("matching callback on CCGs", json.dumps(dash_http.post(server, body)), forbidden, leaks)
    grid = dash_http.download(server, "grid-csv-download", "grid-csv-button", "?anon=1&geo=ccg")
    _scan("grid CSV on CCGs", grid["filename"] + grid["content"], forbidden, leaks)
    book = dash_http.download(server, "package-download", "package-button", "?anon=1&geo=ccg")
    _scan("workbook on CCGs", workbook_text(base64.b64decode(book["content"]), book["filename"]), forbidden, leaks)
    assert n_downloads > 50
    assert leaks == []


def test_ccg_scan_would_catch_a_leak(server, forbidden):
    """Negative control on CCGs: the named view of a site shows its CCG unit and CCG comparators by
    name, and the scan finds them."""
    layout, _ = dash_http.page(server, "/site/leeds", "?geo=ccg")
    hits = find_real_names(json.dumps(layout), forbidden)
    assert "NHS Leeds CCG" in hits
    assert len([h for h in hits if h.startswith("NHS ") and h != "NHS Leeds CCG"]) >= 2  # comparator CCGs


BROWSER_PATHS = ["/?anon=1", "/site/pioneer-c?anon=1", "/site/pioneer-w/indicator/dtoc?anon=1",
                 "/indicator/ea_all?anon=1", "/matching?anon=1", "/data?anon=1",
                 "/site/pioneer-c?anon=1&geo=ccg", "/indicator/ea_all?anon=1&geo=ccg", "/matching?anon=1&geo=ccg",
                 "/site/pioneer-w/indicator/dtoc?anon=1&est=scm", "/site/pioneer-c/indicator/ea_all?anon=1&est=scm&geo=ccg"]


def _screen_text(page) -> str:
    figures = page.evaluate("JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot'))"
                            ".map(g => ({data: g.data, layout: g.layout})))")
    return "\n".join([page.inner_text("body"), figures, page.title(), page.url])


def test_browser_subset_shows_no_real_name(page, server, forbidden):
    leaks: list[str] = []
    for path in BROWSER_PATHS:
        open_path(page, server, path)  # a deep link for each page template's first path, then in-app
        if path.startswith("/matching"):
            page.wait_for_selector("#comparator-sets")
        _scan(path, _screen_text(page), forbidden, leaks)
    open_path(page, server, "/site/pioneer-w/indicator/dtoc?anon=1")
    for button in page.locator("button:has-text('Download CSV')").all():
        with page.expect_download() as info:
            button.click()
        d = info.value
        _scan(f"download {d.suggested_filename}", d.suggested_filename + open(d.path(), encoding="utf-8").read(),
              forbidden, leaks)
    assert page.console.messages == []
    assert leaks == []


def test_switching_on_anonymised_mode_rewrites_the_url(page, server, forbidden):
    page.goto(server + "/site/north-staffs/indicator/ea_65")
    wait_ready(page)
    page.locator("label[for=anon-switch]").click()
    page.wait_for_url("**/site/pioneer-r/indicator/ea_65?anon=1")
    page.wait_for_function("() => document.title.includes('Pioneer R')")
    wait_ready(page)
    assert find_real_names(_screen_text(page), forbidden) == []


def test_hand_typed_real_site_id_with_anon_is_redirected_before_any_html(server, demo, names, forbidden):
    """A real id typed into an anonymised URL: the server answers with a redirect to the anonymous
    path, so neither the first HTML nor the tab title ever names the site."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    leaks = []
    for site_id in demo.sites["site_id"]:
        for suffix in ("", "/indicator/ea_all"):
            try:
                opener.open(f"{server}/site/{site_id}{suffix}?anon=1&basis=its", timeout=30)
                leaks.append(f"/site/{site_id}{suffix}: no redirect")
                continue
            except urllib.error.HTTPError as err:
                assert err.code == 302, (site_id, err.code)
                location = err.headers["Location"]
                body = err.read().decode()
            assert location.endswith(f"/site/{names.path_id(site_id, True)}{suffix}?anon=1&basis=its")
            _scan(f"redirect for {site_id}{suffix}", location + body, forbidden, leaks)
            with urllib.request.urlopen(f"{server}{location}" if location.startswith("/") else location,
                                        timeout=30) as res:
                _scan(f"first HTML of {location}", res.read().decode(), forbidden, leaks)
    assert leaks == []
    # Without ?anon=1 the real id is served as it is (no redirect).
    with urllib.request.urlopen(f"{server}/site/leeds", timeout=30) as res:
        assert res.geturl().endswith("/site/leeds") and "Leeds" in res.read().decode()
