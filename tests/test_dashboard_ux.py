"""Issue 14: what users see. Page layouts built in process on the demo data (the pure builders have
their own tests in test_dashboard_figures.py; the real dataset's gaps in test_dashboard_real.py)."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import dash
import pandas as pd
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


@pytest.mark.parametrize("path", ["/site/leeds/indicator/dtoc", "/site/leeds", "/indicator/dtoc"])
def test_every_chart_carries_its_table_alternative(app, path):
    """Accessibility: each chart block holds its table, folded away, keyed like its chart (the browser draws
    it on first opening: tests/browser/test_interaction.py), and the table is the chart's own table."""
    from layouts.components.charts import ChartSpec, build
    from layouts.components.tables import markdown_table

    layout = _json(render(path))
    blocks = [b for b in components(layout) if b["props"].get("className") == "chart-block"]
    figures = graphs(layout)
    assert len(blocks) >= 1
    stores = {c["props"]["id"]["key"]: c["props"]["data"] for c in components(layout)
              if isinstance(c["props"].get("id"), dict) and c["props"]["id"].get("type") == "table-alt-text"}
    for block in blocks:
        inner = list(components(block["props"]["children"]))
        [key] = [c["props"]["id"]["key"] for c in inner if c.get("type") == "Graph"]
        kinds = {c["props"]["id"]["type"] for c in inner if isinstance(c["props"].get("id"), dict)
                 and c["props"]["id"].get("key") == key}
        assert {"table-alt-summary", "table-alt", "table-alt-text"} <= kinds, (path, key)
        assert stores[key] == markdown_table(build(ChartSpec.from_key(key)).table), (path, key)
    assert len(stores) == len(figures) == len(blocks), path  # every graph (the programme page's: test_dashboard_real)


def test_matching_presentation_link_opens_the_balance_chart(app):
    from layouts.matching import recompute_matching
    from matching.covariates import DEMOGRAPHIC

    out = recompute_matching("euclidean", 7, list(DEMOGRAPHIC), [], None, "")
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
    from analysis.results import balance_quality

    assert balance_quality([0.05, 0.09]) == "good"
    assert balance_quality([0.05, 0.2]) == "acceptable"
    assert balance_quality([0.05, -0.3, float("nan")]) == "poor"


def test_detail_page_says_how_well_the_comparators_match_and_names_them(app):
    """Item 4: balance beside the result, and the comparators by name (numbered when anonymised)."""
    from analysis.results import comparators, context, site_balance

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
    from analysis.results import BALANCE_WORDS, site_balance

    site = _text(render("/site/leeds"))
    assert "Comparators" in site and BALANCE_WORDS[site_balance("leeds", "dtoc").quality] in site


def test_detail_page_reconciles_methods_that_disagree(app):
    """Item 5: where DiD and ITS disagree, the page says what each asks; where they agree it says nothing."""
    from analysis.results import overview

    did, its = overview("did"), overview("its")
    both = did.merge(its, on=["site_id", "indicator_id"], suffixes=("_did", "_its"))
    both = both[(both["outcome_did"] != "not compared") & (both["outcome_its"] != "not compared")]
    differ = both[both["outcome_did"] != both["outcome_its"]].iloc[0]
    agree = both[both["outcome_did"] == both["outcome_its"]].iloc[0]
    page = render(f"/site/{differ['site_id']}/indicator/{differ['indicator_id']}")
    text = _text(_by_id(page, "methods-reading"))
    assert "Difference-in-differences asks" in text and differ["outcome_label_its"] in text
    assert _by_id(render(f"/site/{agree['site_id']}/indicator/{agree['indicator_id']}"), "methods-reading") is None


def test_sites_page_lists_every_site_and_grid_rows_link_to_them(app):
    """Item 6: /site lists the sites; overview row names are links; a picker on every page."""
    from layouts.components.anonymise import find_real_names, real_names
    from analysis.results import context

    ctx = context()
    listing = _text(render("/site"))
    for sid in ctx.names.names:
        assert f'"/site/{sid}"' in listing
    anon = _text(render("/site?anon=1"))
    assert "Pioneer A" in anon and find_real_names(anon, real_names(ctx.dataset.sites, ctx.dataset.areas)) == []
    grid = _text(render("/"))
    assert grid.count('className=\\"grid-site-link\\"') == len(ctx.names.names)
    assert 'href=\\"/site/leeds\\"' in grid


def test_site_picker_offers_every_site_in_the_mode(app):
    from callbacks.shell import go_to_site, keep_query_in_nav
    from analysis.results import context

    ctx = context()
    def picker(search):  # the one list among the callback's outputs (the rest are hrefs and a class)
        (found,) = [out for out in keep_query_in_nav(search) if isinstance(out, list)]
        return found

    options = picker("?anon=1")
    assert len(options) == len(ctx.names.names)
    assert all(o["label"].startswith("Pioneer ") and o["value"].startswith("pioneer-") for o in options)
    named = picker("")
    assert {"label": "Leeds (wave 1)", "value": "leeds"} in named
    assert go_to_site("leeds") == ("/site/leeds", None)


def test_pooled_effect_in_the_grid_and_the_caterpillar(app):
    """Item 7: pooled rows (all, wave 1, wave 2) in the DiD grid and on the caterpillar, numbers from the estimates."""
    from layouts.components import charts, grid
    from analysis.results import context, estimates, overview
    from layouts.components.urlstate import ViewState

    ctx = context()
    est = estimates()
    pooled = est[est["method"] == "pooled"].set_index(["site_id", "indicator_id"])
    cells = grid.grid_cells(ctx, overview("did"), ViewState())
    rows = cells[cells["kind"] == "pooled"]
    assert sorted(rows["site"].unique()) == ["All Pioneers (pooled)", "Wave 1 Pioneers (pooled)",
                                             "Wave 2 Pioneers (pooled)"]
    cell = rows[(rows["site_id"] == "all") & (rows["indicator_id"] == "dtoc")].iloc[0]
    assert cell["text"] == f"{pooled.at[('all', 'dtoc'), 'effect_pct']:+.1f}%"
    assert "Pooled across Pioneers" in _text(render("/"))
    assert "pooled" not in set(grid.grid_cells(ctx, overview("its"), ViewState(basis="its"))["kind"])
    chart = charts.build(charts.ChartSpec("caterpillar", indicator_id="dtoc"))
    [trace] = [t for t in chart.figure.data if t.name.startswith("Pooled")]
    assert list(trace.y) == ["Wave 2 Pioneers (pooled)", "Wave 1 Pioneers (pooled)", "All Pioneers (pooled)"]
    assert float(chart.table.set_index("Site").loc["All Pioneers (pooled)"].iloc[0]) == round(
        pooled.at[("all", "dtoc"), "effect"], 2)


PRESENTED = ["/?present=1", "/matching?present=1", "/data?present=1", "/indicators?present=1", "/site?present=1",
             "/site/leeds?present=1", "/indicator/dtoc?present=1", "/site/leeds/indicator/dtoc?present=1"]


@pytest.mark.parametrize("path", PRESENTED)
def test_every_presented_page_has_an_exit(app, path):
    """Item 12: the navigation is hidden in presentation mode, so every presented page offers its own way out."""
    links = [c for c in components(_json(render(path))) if c["props"].get("children") == "Exit presentation view"]
    assert len(links) == 1
    assert "present" not in links[0]["props"]["href"]


def test_presented_grid_has_its_source_line(app):
    from analysis.results import context

    assert context().source_line() in _text(_by_id(render("/?present=1"), "present-source"))


@pytest.mark.parametrize("path", ["/site/pioneer-k/indicator/dtoc?anon=1&present=1&chart=event",
                                  "/site/pioneer-k/indicator/dtoc?anon=1&present=1&chart=its",
                                  "/site/pioneer-k/indicator/dtoc?anon=1&present=1&chart=spc",
                                  "/site/pioneer-k?anon=1&present=1", "/indicator/dtoc?anon=1&present=1",
                                  "/indicator/dtoc?anon=1&present=1&chart=funnel",
                                  "/indicator/dtoc?anon=1&present=1&chart=pooled", "/matching?anon=1&present=1"])
def test_every_slide_has_a_takeaway_naming_no_one(app, path):
    """Item 12: a one-line plain-words takeaway above the chart, generated from the estimate, no name when anonymised."""
    from layouts.components.anonymise import find_real_names, real_names
    from analysis.results import context

    ctx = context()
    [graph] = graphs(render(path))
    notes = [a for a in graph["props"]["figure"]["layout"]["annotations"] if a.get("name") == "takeaway"]
    assert len(notes) == 1 and len(notes[0]["text"]) > 20
    assert find_real_names(notes[0]["text"], real_names(ctx.dataset.sites, ctx.dataset.areas)) == []


def test_detail_takeaway_is_the_estimate_reading(app):
    from layouts.components import charts
    from analysis.results import overview_row

    text = charts.takeaway(charts.ChartSpec("event", site="leeds", indicator_id="dtoc"))
    r = overview_row("did", "leeds", "dtoc")
    assert text.startswith(f"Delayed transfers: {abs(r['effect_pct']):.1f}%") and "Leeds" not in text


def test_spc_colours_agree_between_the_grid_and_the_chart(app):
    """Item 11: one set of Making Data Count colours."""
    from layouts.components.figures import SPC_COLOURS
    from analysis.results import overview

    spc = overview("spc")
    assert len(spc) and all(c == SPC_COLOURS[v] for v, c in zip(spc["variation"], spc["colour"]))


def test_consistent_words_and_units(app):
    """Item 11: capitalised England outcomes; relative % and units both given, percentage points named;
    the diupr indicator named for what it measures; monthly axes are months; sources in words."""
    from layouts.components import charts, readings
    from analysis.results import OUTCOME_WORDS, context
    from layouts.components.readings import source_words
    from indicators.benchmark import Outcome

    assert OUTCOME_WORDS["england"][Outcome.BETTER] == "Better than England"
    ctx = context()
    assert ctx.catalogue.at["diupr_65", "short_name"] == "Deaths in usual residence 65+"
    est = pd.DataFrame({"indicator_id": ["readmit_30"], "effect": [-0.5], "effect_pct": [-4.0], "ci_low": [-1.0],
                        "ci_high": [0.25], "p_value": [0.2], "pre_trend_p": [0.5]})
    row = readings.effects_table(est, ctx.catalogue).iloc[0]
    assert row["Effect (indicator units)"] == "-0.50 percentage points"
    assert row["95% interval (relative)"] == "-8.0% to +2.0%"
    fig = charts.build(charts.ChartSpec("trend", site="leeds", indicator_id="dtoc")).figure
    assert fig.layout.xaxis.title.text == "Month"
    assert source_words({"name": "OHID Fingertips", "indicators": ["92727"], "vintage": "2001/02 to 2016/17",
                         "file": "deaths_at_home.csv", "sha256": "cc6d"}) == (
        "OHID Fingertips indicator 92727, 2001/02 to 2016/17 (file deaths_at_home.csv).")


def test_england_grid_says_which_latest_period_it_compares(app):
    text = _text(_by_id(render("/?basis=england"), "latest-periods"))
    assert "Latest period compared:" in text and "Delayed transfers" in text


def test_site_page_has_spine_chart_recent_trends_and_mdc_icons(app):
    """Item 9: the Fingertips spine chart, recent-trend arrows, counts and denominators, and the Making Data
    Count variation and assurance icons with their summary table."""
    from layouts.components import charts

    page = render("/site/leeds")
    keys = [g["props"]["id"]["key"] for g in graphs(page)]
    assert charts.ChartSpec("spine", site="leeds").key() in keys
    glance = _text(_by_id(page, "site-glance"))
    for column in ("Recent trend (last 5 points)", "SPC variation (latest point)", "SPC assurance", "Denominator",
                   "England's lowest area"):
        assert column in glance
    assert any(arrow in glance for arrow in ("\\u2191", "\\u2193", "\\u2192"))
    assert "Making Data Count summary" in _text(_by_id(page, "mdc-summary"))
    anon = charts.build(charts.ChartSpec("spine", site="pioneer-k", anon=True)).table
    assert "Denominator" not in anon.columns  # a site's size would identify it


def test_spine_positions_match_the_glance_numbers(app):
    from layouts.components import charts
    from analysis.results import site_glance

    chart = charts.build(charts.ChartSpec("spine", site="leeds"))
    g = site_glance("leeds").set_index("indicator")
    drawn = {y: x for t in chart.figure.data for x, y in zip(t.x, t.y)}
    row = g.loc["Delayed transfers"]
    want = (row["value"] - row["england"]) / row["scale"] * (-1 if row["flip"] else 1)
    assert drawn["Delayed transfers"] == pytest.approx(want, abs=1e-3)


def test_rates_have_confidence_whiskers_and_tables_counts(app):
    from layouts.components import charts

    named = charts.build(charts.ChartSpec("trend", site="leeds", indicator_id="ea_all"))
    [site] = [t for t in named.figure.data if t.name == "Leeds"]
    assert site.error_y.array is not None and len(site.error_y.array) == len(site.y)
    assert {"Leeds numerator", "Leeds denominator", "Leeds lower 95%"} <= set(named.table.columns)
    anon = charts.build(charts.ChartSpec("trend", site="pioneer-k", indicator_id="ea_all", anon=True))
    assert not any("numerator" in c or "denominator" in c for c in anon.table.columns)


def test_funnel_limits_are_adjusted_for_overdispersion(app):
    from layouts.components import charts

    fig = charts.build(charts.ChartSpec("funnel", indicator_id="ea_all")).figure
    by_name = {t.name: t for t in fig.data if t.showlegend is not False}
    adjusted = by_name["99.8% limits (overdispersion-adjusted)"]
    plain = by_name["Plain limits (chance alone)"]
    assert all(a >= p for a, p in zip(adjusted.y, plain.y)) and adjusted.y[-1] > plain.y[-1]
