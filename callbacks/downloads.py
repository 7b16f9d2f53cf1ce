"""Thin wiring of downloads: a chart's CSV from its spec; the whole package as a workbook."""
from __future__ import annotations

import dash
from dash import MATCH, ClientsideFunction, Input, Output, State, dcc

from analysis.cache import shared_result
from analysis.results import context
from layouts.components import charts, tables
from layouts.components.anonymise import anonymised_only
from layouts.components.exports import package_workbook
from layouts.components.urlstate import ForgedRequest, parse_query


@dash.callback(
    Output({"type": "csv-download", "key": MATCH}, "data"),
    Input({"type": "csv-button", "key": MATCH}, "n_clicks"),
    State({"type": "csv-button", "key": MATCH}, "id"),
    prevent_initial_call=True,
)
def download_chart_csv(_clicks, button_id):
    if not isinstance(button_id, dict):
        raise ForgedRequest("the download button's id is not one this dashboard made")
    spec = charts.ChartSpec.from_key(button_id.get("key"))
    if anonymised_only() and spec.site in context(spec.geo).names.names:
        # Dash echoes the button's key in its answer: a key naming a site by its real id is refused.
        raise ForgedRequest("this server shows anonymised charts only")
    try:
        chart = charts.build(spec)
    except charts.ChartUnavailable:
        # A page only offers a CSV for a chart it drew: a key naming no site or chart was edited.
        raise ForgedRequest("the chart this download key names is not available") from None
    return dcc.send_string(tables.csv_download(tables.csv_text(chart.table, context(spec.geo).dataset.notice, chart.title)),
                           f"{chart.filename}.csv")


@dash.callback(
    Output("package-download", "data"),
    Input("package-button", "n_clicks"),
    State("url", "search"),
    prevent_initial_call=True,
)
def download_package(_clicks, search):
    state = parse_query(search)
    name = ("pioneer-indicators" + ("_ccg" if state.geo == "ccg" else "") + ("_anonymised" if state.anon else "")
            + ".xlsx")
    return dcc.send_bytes(shared_workbook(state.anon, state.basis, state.geo), name)


@shared_result("workbook")
def shared_workbook(anon: bool, basis: str, geography: str = "la") -> bytes:
    """The package workbook of the active dataset on ``geography``, built once for every worker (it takes
    seconds and is the same bytes every time; ``basis`` is one of the four validated bases and ``geography``
    one of two, so at most 16 kept)."""
    return package_workbook(context(geography), anon=anon, basis=basis)


# Slide images (presentation mode): plotly draws them in the browser from the chart on show, at the
# size and scale of the modebar's camera button and with the chart's file name (assets/exports.js).
for _fmt in ("png", "svg"):
    dash.clientside_callback(
        ClientsideFunction(namespace="pioneers", function_name=f"download_{_fmt}"),
        Output({"type": "image-button", "key": MATCH, "format": _fmt}, "title"),
        Input({"type": "image-button", "key": MATCH, "format": _fmt}, "n_clicks"),
        prevent_initial_call=True,
    )
