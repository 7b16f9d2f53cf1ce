"""/data: what the dashboard is showing: label, sources, coverage, the sites, the catalogue, downloads."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from analysis.cache import memo
from analysis.results import context
from data.summary import coverage
from layouts.components import page, tables
from layouts.components.exports import coverage_by_year
from layouts.components.readings import source_words
from layouts.components.urlstate import parse_query

dash.register_page(__name__, path="/data", title="Data - Integrated Care Pioneers", name="Data", order=6)


@memo
def _coverage(checksum: str, geography: str = "la"):
    return coverage(context(geography).dataset)


def _approximations(notes: list[str], anon: bool) -> list:
    """The dataset's own record of how its figures were made; the notes name areas, so not when anonymised."""
    if not notes:
        return []
    if anon:
        return [html.H2("How the figures were made", className="h4"),
                html.P(f"{len(notes)} notes on approximations and left-out data are in the named view: they name "
                       "areas.")]
    return [html.H2("How the figures were made", className="h4"),
            html.Ul([html.Li(n) for n in notes], id="approximations")]


def layout(**query) -> html.Div:
    state = parse_query(query)
    ctx = context(state.geo)
    units = "CCG units" if state.geo == "ccg" else "local authorities"
    ds = ctx.dataset
    order = ctx.names.ordered(state.anon)
    sites = ds.sites.set_index("site_id").loc[order].reset_index()
    site_table = sites.assign(Site=[ctx.names.display(s, state.anon) for s in sites["site_id"]],
                              Start=sites["start"].dt.strftime("%d %b %Y"))[["Site", "wave", "Start"]]
    cov = _coverage(ds.checksum, state.geo)
    origin = {"generated": "generated, not real", "mixed": "partly generated, not real", "real": "published files"}
    cov = cov.assign(origin=[origin.get("generated" if ds.is_demo else ds.provenance.get(i, ""), "")
                             for i in cov["indicator_id"]])
    cov = cov[["name", "frequency", "first_period", "last_period", "n_areas", "origin"]].rename(columns={
        "name": "Indicator", "frequency": "Frequency", "first_period": "First period",
        "last_period": "Last period", "n_areas": "Areas with data", "origin": "Origin of the figures"})
    sources = ds.manifest.get("sources", [])
    source_items = [html.Li(source_words(src)) for src in sources] or [html.Li("No sources recorded in the manifest")]
    matrix = coverage_by_year(ctx)
    cat = ds.catalogue[["indicator_id", "name", "unit", "polarity", "frequency", "source"]].rename(columns={
        "indicator_id": "Id", "name": "Indicator", "unit": "Unit", "polarity": "Better when",
        "frequency": "Frequency", "source": "Source"})
    return html.Div(([page.present_exit(state, "/data")] if state.present else []) + [
        html.H1("The data behind the dashboard", className="h3"),
        html.P(f"Dataset: {ds.label}; checksum {ds.checksum}; created {ds.manifest.get('created', '')}; "
               f"shown on {units}."),
        html.H2("Sources and vintages", className="h4"), html.Ul(source_items, id="sources"),
        *_approximations(ds.manifest.get("approximations", []), state.anon),
        html.H2("Coverage by indicator", className="h4"), tables.html_table(cov, "Coverage by indicator"),
        html.H2(f"Coverage matrix: share of {units} with data, % (indicator x financial year)",
                className="h4"),
        html.Div(tables.html_table(matrix.reset_index().rename(columns={"indicator": "Indicator"}),
                                   f"Coverage matrix, % of {units} with a value"),
                 className="table-responsive", id="coverage-matrix"),
        html.H2("Catalogue", className="h4"), tables.html_table(cat, "Indicator catalogue"),
        html.H2(f"The {len(ds.sites)} Pioneer sites", className="h4"),
        tables.html_table(site_table.rename(columns={"wave": "Wave"}), "Pioneer sites"),
        html.H2("Downloads", className="h4"),
        html.Div([dbc.Button("Download the whole package (.xlsx)", id="package-button", color="primary",
                             outline=True, size="sm"), dcc.Download(id="package-download")]),
    ])
