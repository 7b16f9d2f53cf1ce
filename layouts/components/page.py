"""Page furniture shared by every page: chart blocks with their table and CSV, not-found, headings."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts.components import figures, tables
from layouts.components.charts import Chart, ChartSpec, takeaway
from layouts.components.urlstate import ViewState, href


def chart_block(chart: Chart, spec: ChartSpec, state: ViewState, *, height: int = 420) -> html.Div:
    """A chart with what its colours mean, its table alternative and a CSV download of that table."""
    key = spec.key()
    fig = chart.figure
    if state.present:
        fig = figures.presentation(fig, takeaway(spec))
    # A figure that sets its own height (a caterpillar of 25 sites, 12 small multiples) gets it;
    # otherwise the container's fixed height would squeeze it and drop axis labels.
    own_height = chart.figure.layout.height
    graph = dcc.Graph(figure=fig, config=figures.graph_config(chart.filename, state.present),
                      style={"height": "100%" if state.present else f"{int(own_height or height)}px"},
                      id={"type": "chart", "key": key})
    if state.present:
        return html.Div([html.Div(graph, className="present-frame"), image_buttons(key)])
    return html.Div([
        graph,
        html.P(chart.colour_note, className="small text-muted mb-1"),
        html.Div([
            dbc.Button("Download CSV", id={"type": "csv-button", "key": key}, size="sm", color="secondary",
                       outline=True, className="me-2"),
            dcc.Download(id={"type": "csv-download", "key": key}),
            dcc.Link("Presentation view", href=present_href(spec, state), className="small",
                     id={"type": "present-link", "key": key}),
        ], className="mb-1"),
        tables.table_alternative(chart.table, chart.title, key),
    ], className="chart-block")


IMAGE_FORMATS = {"png": "Download PNG (slide, 1600 x 900 at scale 3)", "svg": "Download SVG"}


def image_buttons(key: str) -> html.Div:
    """Slide exports of the chart on show, drawn in the browser by plotly (callbacks/downloads.py);
    the file name is the chart's own (anonymised in anonymised mode)."""
    return html.Div([dbc.Button(label, id={"type": "image-button", "key": key, "format": fmt}, size="sm",
                                color="secondary", outline=True, className="me-2")
                     for fmt, label in IMAGE_FORMATS.items()], className="present-exports mt-2")


def present_target(spec: ChartSpec) -> tuple[str, str]:
    """The page and ``?chart=`` that show this chart alone in presentation view: every chart its own slide."""
    if spec.site and spec.indicator_id:
        return f"/site/{spec.site}/indicator/{spec.indicator_id}", spec.kind
    if spec.site:
        return f"/site/{spec.site}", "" if spec.kind == "site_multiples" else spec.kind
    if spec.kind == "love":
        return "/matching", ""
    if spec.indicator_id:
        return f"/indicator/{spec.indicator_id}", spec.kind
    return "/", ""


def present_href(spec: ChartSpec, state: ViewState) -> str:
    path, chart = present_target(spec)
    extra = {"k": spec.k, "method": spec.method} if spec.kind == "love" else {}
    return href(path, state, present=True, chart=chart, **extra)


def unavailable(what: str, why: str = "") -> dbc.Alert:
    """Say plainly that a number is not available rather than show a made-up one."""
    return dbc.Alert(f"{what} is not available here{': ' + why if why else ''}.", color="secondary",
                     className="small")


def not_found(what: str, state: ViewState) -> html.Div:
    return html.Div([
        html.H1("Page not found"),
        html.P(f"There is no {what} at this address. It may have been mistyped or renamed."),
        dcc.Link("Go to the overview", href=href("/", state)),
    ], className="not-found")


def present_source(text: str) -> html.P:
    """The source line under a presented page that is not a chart (the overview grid)."""
    return html.P(text, className="small text-muted present-source", id="present-source")


def present_exit(state: ViewState, path: str) -> html.Div:
    return html.Div(dcc.Link("Exit presentation view", href=href(path, state, present=False, chart="")),
                    className="present-exit small")
