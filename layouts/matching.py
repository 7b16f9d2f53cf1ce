"""/matching: choose the comparator method, k and covariates; balance (love plot) and the sets, recomputed live."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from layouts.components import page
from layouts.components.results import context, matching_view
from layouts.components.urlstate import METHODS, parse_query

dash.register_page(__name__, path="/matching", title="Matching - Integrated Care Pioneers", name="Matching", order=5)

COVARIATES = {"population": "Population", "share_65": "Share aged 65+", "deprivation": "Deprivation (IMD)",
              "density": "Population density"}


def layout(**query) -> html.Div:
    state = parse_query(query)
    controls = dbc.Row([
        dbc.Col([dbc.Label("Method", html_for="match-method"),
                 dcc.Dropdown(id="match-method", options=[{"label": m.title(), "value": m} for m in METHODS],
                              value=state.method, clearable=False)], md=3),
        dbc.Col([dbc.Label("Comparators per site (k)", html_for="match-k"),
                 dbc.Input(id="match-k", type="number", min=1, max=20, step=1, value=state.k)], md=2),
        dbc.Col([dbc.Label("Covariates", html_for="match-covariates"),
                 dbc.Checklist(id="match-covariates", options=[{"label": v, "value": k} for k, v in COVARIATES.items()],
                               value=list(COVARIATES), inline=True)], md=7),
    ], className="mb-3")
    return html.Div([html.H1("Matched comparators", className="h3"),
                     html.P("Each Pioneer site is compared with the k most similar local authorities that are not "
                            "part of any Pioneer, on baseline (pre-2013) characteristics. Change the choices to "
                            "see how balance and the comparator sets change."),
                     controls, dcc.Loading(html.Div(id="match-output"))])


@dash.callback(Output("match-output", "children"), Input("match-method", "value"), Input("match-k", "value"),
               Input("match-covariates", "value"), State("url", "search"))
def recompute_matching(method, k, covariates, search):
    view = matching_view(method, int(k or 5), tuple(covariates or ()), parse_query(search).anon)
    return view if view is not None else page.unavailable("Comparator matching")
