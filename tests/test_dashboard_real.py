"""The dashboard on the real dataset: every kind of page renders, none fails, and pages say which
indicators have real data.

The real dataset has gaps the demo never has (six indicators with no rows, two with no data
before any site's start, rate-only indicators), so each page type is walked through a real server
the way a browser walks it: router callback, then every callback the page fires.
"""
from __future__ import annotations

import json
import os
import urllib.request

import pytest

from app import PLOTLY_BUNDLE_TRACES
from tests.dash_walk import HttpTransport, Session
from tests.test_serving_server import Server


@pytest.fixture(scope="module")
def real_server(real_built_dir, tmp_path_factory):
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(tmp_path_factory.mktemp("real-cache"))}
    env.pop("PIONEERS_DATA", None)
    server = Server(["--data", str(real_built_dir), "--workers", "1", "--no-warm"], env)
    server.wait_healthy(timeout=60)
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def _paths(real_built) -> list[str]:
    sites = real_built.sites["site_id"].tolist()
    indicators = real_built.catalogue["indicator_id"].tolist()
    paths = ["/", "/?basis=its", "/?basis=england", "/?basis=spc", "/indicators", "/matching", "/data"]
    paths += [f"/site/{s}" for s in sites]
    paths += [f"/indicator/{i}" for i in indicators]
    # every indicator for one whole-LA wave-1 site and one multi-LA wave-2 site, anonymised too
    for s in ("leeds", "greater-manchester"):
        paths += [f"/site/{s}/indicator/{i}" for i in indicators]
    paths += ["/site/pioneer-k/indicator/dtoc?anon=1", "/site/pioneer-c?anon=1"]
    return paths


def test_every_page_type_renders_on_real_data(real_server, real_built):
    session = Session(HttpTransport(real_server))
    session.open("/")
    for path in _paths(real_built):
        session.navigate(path)
    failures = [f"{s.kind} {s.path}: HTTP {s.status}" for s in session.steps if s.status != 200]
    assert failures == [], failures[:10]
    routers = [s for s in session.steps if s.kind == "router"]
    assert len(routers) == len(_paths(real_built)) + 1
    # The browser draws them with plotly.js's basic bundle (app.PLOTLY_BUNDLE), which has no other trace type.
    assert "scatter" in session.trace_types and session.trace_types <= PLOTLY_BUNDLE_TRACES, session.trace_types


def _page_text(base: str, path: str) -> str:
    session = Session(HttpTransport(base))
    session.open(path)
    pathname, _, search = path.partition("?")
    from tests.dash_walk import router_body

    status, answer = session._post(router_body(session.walker.dependencies, pathname, f"?{search}" if search else ""),
                                   kind="router", label=path)
    assert status == 200
    return json.dumps(answer)


def test_pages_say_which_indicators_have_real_data(real_server):
    # The notice is part of the shell around every page.
    with urllib.request.urlopen(real_server + "/_dash-layout", timeout=30) as res:
        shell = res.read().decode()
    assert "Real data in this dataset (real)" in shell
    assert "Delayed transfers (Apr 2011 to Dec 2019)" in shell
    assert "No data in this dataset for: Emergency admissions" in shell
    assert "Generated demonstration data" not in shell
    # Panels without data say so rather than showing empty axes.
    assert "No data in this dataset" in _page_text(real_server, "/site/leeds")


def test_a_missing_estimate_is_explained_not_failed(real_server):
    text = _page_text(real_server, "/site/leeds/indicator/care_home_65")
    assert "No estimate for Leeds" in text and "2017/18" in text
    text = _page_text(real_server, "/site/leeds/indicator/ea_65")
    assert "No estimate for Leeds" in text and "no real data" in text.lower()


def test_an_indicator_without_real_data_says_so_and_keeps_its_definition(real_server):
    # Issue 14 item 1: no "data unavailable ... reload" banner, which says the dataset is broken.
    text = _page_text(real_server, "/indicator/ea_65")
    assert "cannot be read right now" not in text
    assert "There is no real data for Emergency admissions 65+ in this dataset" in text
    assert "It would come from HES APC" in text
    assert "Emergency hospital admissions of residents aged 65 and over" in text  # the definition
    index = _page_text(real_server, "/indicators")
    assert "no-data-ea_65" in index and "no-data-dtoc" not in index and "no-data-ea_all" not in index


def test_empty_charts_and_cells_give_the_true_reason(real_server):
    # care_home_65 has data from 2017/18 only: no empty pooled axes, and the reason everywhere.
    text = _page_text(real_server, "/indicator/care_home_65")
    assert "Pooled event study is not available here" in text and "2017/18 onwards only" in text
    site = _page_text(real_server, "/site/leeds")
    assert "too few periods or comparators" not in site
    assert "Care home admissions 65+: no estimate (no data before the site" in site
    grid = _page_text(real_server, "/")
    assert "Care home admissions 65+: \\u2013, not estimated (no data before the site" in grid


def test_programme_page_on_real_data_shows_both_groups_and_no_unit_names(real_server, real_built):
    for path in ("/programme?geo=ccg", "/programme", "/programme?anon=1&geo=ccg"):
        text = _page_text(real_server, path)
        assert "Pioneer units grew" in text and "Non-participant units" in text, path
        assert "Download the table (CSV)" in text
        assert "table-alt-text" in text and "| Month | Pioneer units, per 1,000 |" in text  # the chart's table alternative
        for name in real_built.units("ccg")["name"].head(40):
            assert name not in text, (path, name)
