"""/ Overview: the 25 sites (by wave) x 12 indicators grid that replaces the Excel package's summary.

Each cell is a link to that site and indicator, so the grid is usable by keyboard; the basis
(DiD, change in trend, England benchmark, SPC) is part of the URL.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from analysis.results import context, overview
from layouts.components import grid, page
from layouts.components.tables import csv_download, csv_text
from layouts.components.urlstate import BASES, href, parse_query

dash.register_page(__name__, path="/", title="Overview - Integrated Care Pioneers", name="Overview", order=0)


CELL_MEANING = {
    "did": "Each cell: the estimated effect of Pioneer status, as % of what the site would have had if it had moved "
           "like its matched comparators; colour says whether that is better, worse or no clear difference "
           "(95% placebo interval), given which direction is good.",
    "its": "Each cell: the change in the site's own trend after its start, as % of the pre-Pioneer trend carried "
           "forward; colour says whether the trend clearly improved or worsened (95% interval).",
    "scm": "Each cell: the estimated effect of Pioneer status, as % of the site's synthetic control (a weighted "
           "blend of non-Pioneer areas fitted to the site's own pre-Pioneer series); colour says whether that is "
           "better, worse or no clear difference (95% placebo interval), given which direction is good.",
    "england": "Each cell: how far the site's latest value is above (+) or below (-) England's, in %; colour says "
               "whether its 95% interval is entirely better or worse than England (the Fingertips rule).",
    "spc": "Each cell: the latest value against the site's own pre-Pioneer mean, in %; colour says whether the "
           "latest point is a special cause (improvement or concern) on an XmR chart or common cause variation.",
}


CCG_NOTE = ("On CCGs: sites are their CCG units (2019/20 successors), compared with non-Pioneer CCG units. Of the "
            "published files only emergency admissions are by CCG (a record-level HES build adds its indicators); "
            "an indicator with no CCG data says so in its cells.")


def layout(**query) -> html.Div:
    state = parse_query(query)
    ctx = context(state.geo)
    results = overview(state.basis, state.geo)
    cells = grid.grid_cells(ctx, results, state)
    basis_links = dbc.Nav([
        dbc.NavItem(dcc.Link(label, href=href("/", state, basis=key), id=f"basis-{key}",
                             className="nav-link" + (" active" if key == state.basis else ""),
                             title=f"{label}{' (selected)' if key == state.basis else ''}"))
        for key, label in BASES.items()], pills=True, className="mb-2", id="basis-nav")
    intro = html.P(CELL_MEANING[state.basis] + " Select a cell for the detail.", className="mb-2", id="cell-meaning")
    if state.basis == "england":
        intro = html.Div([intro, html.P(grid.latest_periods(results, ctx), className="small mb-2",
                                        id="latest-periods")])
    body = [page.present_exit(state, "/")] if state.present else []
    body += [html.H1("Overview: every Pioneer site and indicator", className="h3"),
            html.Div([html.Span("Basis: ", id="basis-label", className="fw-bold me-2"), basis_links],
                     role="group", **{"aria-labelledby": "basis-label"}), intro]
    if state.geo == "ccg":
        body.append(html.P(CCG_NOTE, className="small alert alert-info py-1", id="geography-note"))
    body += [grid.legend(results), grid.grid_table(ctx, cells, state)]
    if state.present:  # a slide of the grid says where its numbers come from
        body.append(page.present_source(ctx.source_line()))
    body += [
             html.Div([dbc.Button("Download this grid (CSV)", id="grid-csv-button", size="sm", color="secondary",
                                  outline=True, className="me-2"),
                       dcc.Download(id="grid-csv-download"),
                       dbc.Button("Download the whole package (.xlsx)", id="package-button", size="sm",
                                  color="primary", outline=True),
                       dcc.Download(id="package-download")], className="my-2")]
    return html.Div(body, id="overview", className="present-grid" if state.present else "")


@dash.callback(dash.Output("grid-csv-download", "data"), dash.Input("grid-csv-button", "n_clicks"),
               dash.State("url", "search"), prevent_initial_call=True)
def download_grid(_clicks, search):
    state = parse_query(search)
    ctx = context(state.geo)
    table = grid.grid_export(ctx, grid.grid_cells(ctx, overview(state.basis, state.geo), state))
    name = (f"overview_{state.basis}" + ("_ccg" if state.geo == "ccg" else "") + ("_anonymised" if state.anon else "")
            + ".csv")
    return dcc.send_string(csv_download(csv_text(table, ctx.dataset.notice, f"Overview grid: {BASES[state.basis]}")),
                           name)
