"""/data: what the dashboard is showing: label, sources, coverage, the sites and the catalogue."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from data.active import active_dataset
from data.summary import coverage

dash.register_page(__name__, path="/data", title="Data - Integrated Care Pioneers", name="Data")


def _table(frame, caption: str) -> dbc.Table:
    return dbc.Table.from_dataframe(frame, striped=True, bordered=False, hover=True, size="sm",
                                    className="caption-top", **{"aria-label": caption})


def layout(**_query) -> html.Div:
    ds = active_dataset()
    notice = dbc.Alert(ds.notice, color="warning", className="fw-bold") if ds.is_demo else None
    sites = ds.sites[["name", "wave", "start"]].assign(start=ds.sites["start"].dt.strftime("%d %b %Y"))
    cov = coverage(ds)[["name", "frequency", "first_period", "last_period", "n_areas"]]
    return html.Div([
        html.H1("The data behind the dashboard"),
        notice,
        html.P(f"Dataset: {ds.label}; checksum {ds.checksum}; created {ds.manifest.get('created', '')}."),
        html.H2("Coverage by indicator"),
        _table(cov.rename(columns={"name": "Indicator", "frequency": "Frequency", "first_period": "First period",
                                   "last_period": "Last period", "n_areas": "Areas with data"}), "Coverage"),
        html.H2(f"The {len(ds.sites)} Pioneer sites"),
        _table(sites.rename(columns={"name": "Site", "wave": "Wave", "start": "Start"}), "Sites"),
    ])
