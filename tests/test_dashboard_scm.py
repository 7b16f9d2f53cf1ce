"""The estimator switch (est=did|scm) in the URL and on the site-indicator page, and SCM in exports."""
from __future__ import annotations

import json

import dash
import plotly
import pytest

from layouts.components.urlstate import ESTIMATORS, ViewState, href, known_arguments, parse_query


def test_est_is_read_kept_and_forged_values_fall_back():
    assert parse_query("?est=scm").est == "scm"
    assert parse_query("").est == "did" and parse_query("?est=did") == ViewState()
    for forged in ("?est=<script>", "?est=SCM", "?est=", "?est=synth"):
        assert parse_query(forged).est == "did"
    assert href("/site/leeds/indicator/dtoc", ViewState(anon=True), est="scm") == "/site/leeds/indicator/dtoc?anon=1&est=scm"
    assert href("/", ViewState(est="scm"), est="did") == "/"
    assert known_arguments({"site_id": "leeds", "est": "scm", "utm": "x"}, ("site_id",)) == {"site_id": "leeds",
                                                                                             "est": "scm"}
    assert known_arguments({"est": "nonsense"}, ()) == {}
    assert set(ESTIMATORS) == {"did", "scm"}


@pytest.fixture(scope="module")
def page(demo_dir):
    from data.active import set_active_dataset
    from tests.serving_support import shared_app

    set_active_dataset(demo_dir)
    shared_app()
    return dash.page_registry["layouts.site_indicator"]["layout"]


def _ids(layout) -> set[str]:
    text = json.dumps(layout, cls=plotly.utils.PlotlyJSONEncoder)
    return {part.split('"')[0] for part in text.split('"id": "')[1:]}


def test_page_switches_estimator_by_url(page):
    did = _ids(page(site_id="leeds", indicator_id="dtoc"))
    scm = _ids(page(site_id="leeds", indicator_id="dtoc", est="scm"))
    forged = _ids(page(site_id="leeds", indicator_id="dtoc", est="<script>"))
    assert "did-reading" in did and "scm-reading" not in did
    assert "scm-reading" in scm and "scm-fit" in scm and "did-reading" not in scm
    assert forged == did
    assert {"est-did", "est-scm"} <= scm


def test_scm_chart_has_a_table_alternative_matching_the_detail(demo_dir, page):
    from analysis import results
    from layouts.components import charts

    chart = charts.build(charts.ChartSpec("scm", site="leeds", indicator_id="dtoc"))
    detail = results.scm_detail("leeds", "dtoc")
    assert list(chart.table.columns[:4]) == ["Period", "Phase", "Leeds", "Synthetic control"]
    assert len(chart.table) == len(detail["series"])
    assert chart.table["Synthetic control"].round(3).equals(detail["series"]["synthetic"].round(3))
    names = [t.name for t in chart.figure.data]
    assert "Leeds" in names and any(n.startswith("Synthetic control") for n in names)
    assert "colour" in chart.colour_note.lower() or "blue" in chart.colour_note.lower()


def test_overview_grid_on_synthetic_control_links_to_the_scm_view(demo_dir, page):
    from analysis import results
    from analysis.results import context
    from layouts.components import grid

    over = results.overview("scm")
    assert len(over) == 300 and over["effect_pct"].notna().all()
    cells = grid.grid_cells(context(), over, ViewState(basis="scm"))
    assert cells.loc[cells["kind"] == "site", "href"].str.contains("est=scm").all()


def test_exports_carry_the_scm_rows(demo_dir, page):
    from analysis import results
    from analysis.results import context
    from layouts.components.exports import _effects_sheet

    est = results.estimates()
    assert (est["method"] == "scm").sum() == 300
    sheet = _effects_sheet(context(), anon=True)
    scm = sheet[sheet["method"] == "scm"]
    assert len(scm) == 300 and (scm["Method"] == "Synthetic control").all()
    assert scm["Pre-period fit (SCM)"].isin(["good", "poor"]).all()
    assert not scm["Site"].isin(list(context().names.names.values())).any()


def test_scm_slide_has_a_takeaway_naming_no_site(demo_dir, page):
    from layouts.components import charts

    text = charts.takeaway(charts.ChartSpec("scm", site="pioneer-c", indicator_id="ea_all", anon=True))
    assert text.startswith("Emergency admissions") and "synthetic control" in text
    assert "Barnsley" not in text
    slide = json.dumps(page(site_id="pioneer-c", indicator_id="ea_all", anon="1", present="1", chart="scm"),
                       cls=plotly.utils.PlotlyJSONEncoder)
    assert "against its synthetic control" in slide and "Barnsley" not in slide
