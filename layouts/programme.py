"""/programme: emergency admissions in Pioneer and non-participant units (Morciano 2021's question).

Calls the pure comparison (indicators/programme.py) on the active dataset; shows both groups'
monthly series (chart with its table alternative), the comparison table and its CSV export.
Only group totals appear, never a unit's name, so the page is the same in anonymised mode.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from analysis.cache import memo
from analysis.results import context
from indicators.programme import ProgrammeResult, dataset_groups, programme_comparison
from layouts.components import tables
from layouts.components.figures import graph_config
from layouts.components.programme import (FIRST, GEOGRAPHIES, LAST, SOURCE, comparison_table, series_figure,
                                          series_table)
from layouts.components.page import unavailable
from layouts.components.urlstate import ForgedRequest, parse_query

dash.register_page(__name__, path="/programme", title="Programme comparison - Integrated Care Pioneers",
                   name="Programme comparison", order=7)


@memo
def comparison(checksum: str, geography: str) -> ProgrammeResult | None:
    """The comparison on the active dataset (None when it has no monthly emergency admissions there)."""
    groups = dataset_groups(context(geography).dataset, geography)
    if groups.panel.empty:
        return None
    return programme_comparison(groups.panel, groups.pioneers, first_year=FIRST, last_year=LAST,
                                exclude=groups.part | groups.pool_exclusions)


def layout(**query) -> html.Div:
    state = parse_query(query)
    geography = state.geo  # the header's geography switch (?geo=), as on every page
    ctx = context(geography)
    switch = html.P(f"Units: {GEOGRAPHIES[geography]} (change with the Geography switch at the top).",
                    id="programme-geography", className="small")
    head = [html.H1("Emergency admissions: Pioneer and non-participant areas", className="h3"),
            html.P(f"Growth in emergency admission rates from {FIRST} to {LAST} in the units wholly in a "
                   "Pioneer and in the units in none (Morciano et al. 2021 asked the same question of CCGs: "
                   "+6.4% in Pioneers, +12% in non-participants, 2013-2018)."), switch]
    result = comparison(ctx.dataset.checksum, geography)
    if result is None:
        return html.Div(head + [unavailable(
            "The programme comparison", f"this dataset has no monthly emergency admissions on {GEOGRAPHIES[geography]}"
            " (build the real dataset, or ingest the Monthly Activity Return with `pioneers ingest mar`)")])
    title = f"Emergency admissions a month, Pioneer and non-participant {GEOGRAPHIES[geography]}"
    figure = series_figure(result.monthly, title=title, source=f"Source: {SOURCE}. {ctx.source_line()}")
    t = result.table.set_index("group")
    reading = (f"Pioneer units grew {t.at['pioneer', 'growth_pct']:+.1f}% and non-participant units "
               f"{t.at['non_participant', 'growth_pct']:+.1f}%: a difference of "
               f"{t.at['difference', 'growth_pct']:+.1f} percentage points (95% CI "
               f"{t.at['difference', 'ci_low']:+.1f} to {t.at['difference', 'ci_high']:+.1f}, "
               f"p = {t.at['difference', 'p_value']:.3f}).")
    return html.Div(head + [
        html.P(reading, id="programme-reading", className="lead"),
        dcc.Graph(figure=figure, config=graph_config(f"programme_{geography}"), id="programme-chart",
                  style={"height": "480px"}),
        html.P("Blue solid line: Pioneer units; orange dashed line: non-participant units.", className="small"),
        tables.table_alternative(series_table(result.monthly), title, "programme"),
        html.H2("Growth from the first to the last year", className="h4"),
        tables.html_table(comparison_table(result.table), f"Programme comparison, {GEOGRAPHIES[geography]}, "
                          f"{FIRST} to {LAST}"),
        html.P(f"Method: {result.method}. Units only partly in a Pioneer are in neither group. "
               "Other programmes (e.g. Vanguards) are not excluded unless listed in "
               "data/reference/programme_exclusions.csv.", className="small text-muted"),
        dbc.Button("Download the table (CSV)", id="programme-csv-button", color="primary", outline=True, size="sm"),
        dcc.Download(id="programme-csv-download"),
        dcc.Store(id="programme-geography-store", data=geography),
    ])


@dash.callback(
    Output("programme-csv-download", "data"),
    Input("programme-csv-button", "n_clicks"),
    State("programme-geography-store", "data"),
    prevent_initial_call=True,
)
def download_programme_csv(_clicks, geography):
    if not isinstance(geography, str) or geography not in GEOGRAPHIES:
        raise ForgedRequest("the programme page's geography is not one this dashboard offers")
    ctx = context(geography)
    result = comparison(ctx.dataset.checksum, geography)
    if result is None:
        return dash.no_update
    title = f"Programme comparison, emergency admissions, {GEOGRAPHIES[geography]}, {FIRST} to {LAST}"
    return dcc.send_string(tables.csv_text(result.table, ctx.dataset.notice, title),
                           f"programme_comparison_{geography}.csv")
