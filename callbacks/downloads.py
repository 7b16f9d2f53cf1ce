"""Thin wiring of downloads: a chart's CSV from its spec; the whole package as a workbook."""
from __future__ import annotations

import dash
from dash import MATCH, ClientsideFunction, Input, Output, State, dcc

from analysis.cache import shared_result
from analysis.results import context
from layouts.components import charts, tables
from layouts.components.exports import cached_package_workbook
from layouts.components.urlstate import parse_query


@dash.callback(
    Output({"type": "csv-download", "key": MATCH}, "data"),
    Input({"type": "csv-button", "key": MATCH}, "n_clicks"),
    State({"type": "csv-button", "key": MATCH}, "id"),
    prevent_initial_call=True,
)
def download_chart_csv(_clicks, button_id):
    spec = charts.ChartSpec.from_key(button_id["key"])
    chart = charts.build(spec)
    return dcc.send_string(tables.csv_text(chart.table, context(spec.geo).dataset.notice, chart.title),
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
    """The package workbook of the active dataset, built once for every worker (it takes seconds)."""
    return cached_package_workbook(context(geography), anon=anon, basis=basis)


# Slide images (presentation mode): plotly draws them in the browser from the chart on show, at the
# size and scale of the modebar's camera button and with the chart's file name (assets/exports.js).
for _fmt in ("png", "svg"):
    dash.clientside_callback(
        ClientsideFunction(namespace="pioneers", function_name=f"download_{_fmt}"),
        Output({"type": "image-button", "key": MATCH, "format": _fmt}, "title"),
        Input({"type": "image-button", "key": MATCH, "format": _fmt}, "n_clicks"),
        prevent_initial_call=True,
    )
