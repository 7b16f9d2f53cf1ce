"""Issue 14: what users see. Page layouts built in process on the demo data (the pure builders have
their own tests in test_dashboard_figures.py; the real dataset's gaps in test_dashboard_real.py)."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import dash
import pytest

from tests.browser.dash_http import components


@pytest.fixture(scope="module")
def app(demo_dir):
    from data.active import set_active_dataset
    from tests.serving_support import shared_app

    set_active_dataset(demo_dir)
    return shared_app()


def render(path: str):
    """The layout Dash's router would return for ``path`` (a URL with its query)."""
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query))
    for page in dash.page_registry.values():
        args = _match(page, parts.path)
        if args is not None:
            return page["layout"](**args, **query)
    raise AssertionError(f"no page for {path}")


def _match(page, path: str):
    template = page.get("path_template")
    if template is None:
        return {} if page["path"] == path else None
    want, got = template.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return None
    args = {}
    for w, g in zip(want, got):
        if w.startswith("<"):
            args[w[1:-1]] = g
        elif w != g:
            return None
    return args


def tree(layout) -> dict:
    return layout.to_plotly_json() if hasattr(layout, "to_plotly_json") else layout


def _json(layout):
    import json

    return json.loads(json.dumps(layout, cls=__import__("plotly").utils.PlotlyJSONEncoder))


def graphs(layout) -> list[dict]:
    return [c for c in components(_json(layout)) if c.get("type") == "Graph"]


def present_links(layout) -> list[tuple[str, str]]:
    """(chart key, link href) of the "Presentation view" link in every chart block."""
    out = []
    for block in components(_json(layout)):
        if block["props"].get("className") != "chart-block":
            continue
        inner = list(components(block["props"]["children"]))
        [key] = [c["props"]["id"]["key"] for c in inner if c.get("type") == "Graph"]
        [link] = [c["props"]["href"] for c in inner if c["props"].get("children") == "Presentation view"]
        out.append((key, link))
    return out


@pytest.mark.parametrize("path", ["/site/leeds/indicator/dtoc", "/site/leeds", "/indicator/dtoc",
                                  "/site/pioneer-k/indicator/ea_all?anon=1", "/indicator/ea_all?anon=1"])
def test_every_presentation_link_opens_its_own_chart(app, path):
    """Item 2: each link opens exactly the chart it sits under, with that chart's own file name."""
    links = present_links(render(path))
    assert len(links) >= 1
    for key, link in links:
        assert "present=1" in link
        shown = graphs(render(link))
        assert len(shown) == 1, link
        assert shown[0]["props"]["id"]["key"] == key, link
        from layouts.components.charts import ChartSpec, build
        from layouts.components.figures import graph_config

        want = graph_config(build(ChartSpec.from_key(key)).filename, True)["toImageButtonOptions"]["filename"]
        assert shown[0]["props"]["config"]["toImageButtonOptions"]["filename"] == want


def test_matching_presentation_link_opens_the_balance_chart(app):
    from layouts.matching import recompute_matching
    from matching.covariates import DEMOGRAPHIC

    out = recompute_matching("euclidean", 7, list(DEMOGRAPHIC), "")
    [(key, link)] = present_links(out)
    shown = graphs(render(link))
    assert [g["props"]["id"]["key"] for g in shown] == [key]


def _by_id(layout, cid):
    found = [c for c in components(_json(layout)) if c["props"].get("id") == cid]
    return found[0] if found else None


def _text(node) -> str:
    import json

    return json.dumps(node)


def test_balance_quality_words():
    from layouts.components.results import balance_quality

    assert balance_quality([0.05, 0.09]) == "good"
    assert balance_quality([0.05, 0.2]) == "acceptable"
    assert balance_quality([0.05, -0.3, float("nan")]) == "poor"


def test_detail_page_says_how_well_the_comparators_match_and_names_them(app):
    """Item 4: balance beside the result, and the comparators by name (numbered when anonymised)."""
    from layouts.components.results import comparators, context, site_balance

    ctx = context()
    cs = comparators()
    codes = cs.comparators("leeds", "dtoc")
    named = _text(_by_id(render("/site/leeds/indicator/dtoc"), "did-comparators"))
    assert all(ctx.area_names[c] in named for c in codes)
    anon = _text(_by_id(render("/site/pioneer-k/indicator/dtoc?anon=1"), "did-comparators"))
    assert "Comparator 1" in anon and not any(ctx.area_names[c] in anon for c in codes)
    bal = site_balance("leeds", "dtoc")
    note = _text(_by_id(render("/site/leeds/indicator/dtoc"), "did-balance"))
    assert f"{bal.n_good} of {bal.n_covariates} baseline characteristics" in note
    reading = _text(_by_id(render("/site/leeds/indicator/dtoc"), "did-reading"))
    assert ("poorly matched" in reading) == (bal.quality == "poor")


def test_site_tables_rate_each_comparator_set(app):
    from layouts.components.results import BALANCE_WORDS, site_balance

    site = _text(render("/site/leeds"))
    assert "Comparators" in site and BALANCE_WORDS[site_balance("leeds", "dtoc").quality] in site


def test_detail_page_reconciles_methods_that_disagree(app):
    """Item 5: where DiD and ITS disagree, the page says what each asks; where they agree it says nothing."""
    from layouts.components.results import context, overview

    ctx = context()
    did, its = overview("did"), overview("its")
    both = did.merge(its, on=["site_id", "indicator_id"], suffixes=("_did", "_its"))
    both = both[(both["outcome_did"] != "not compared") & (both["outcome_its"] != "not compared")]
    differ = both[both["outcome_did"] != both["outcome_its"]].iloc[0]
    agree = both[both["outcome_did"] == both["outcome_its"]].iloc[0]
    page = render(f"/site/{differ['site_id']}/indicator/{differ['indicator_id']}")
    text = _text(_by_id(page, "methods-reading"))
    assert "Difference-in-differences asks" in text and differ["outcome_label_its"] in text
    assert _by_id(render(f"/site/{agree['site_id']}/indicator/{agree['indicator_id']}"), "methods-reading") is None
    assert ctx is not None
