"""Thin wiring of the table alternatives: a chart's table is drawn when its reader first opens it."""
from __future__ import annotations

import dash
from dash import MATCH, ClientsideFunction, Input, Output, State

# In the browser (assets/tables.js): the Markdown the page carries goes into the table's Markdown component.
dash.clientside_callback(
    ClientsideFunction(namespace="pioneers", function_name="show_table"),
    Output({"type": "table-alt", "key": MATCH}, "children"),
    Input({"type": "table-alt-summary", "key": MATCH}, "n_clicks"),
    State({"type": "table-alt-text", "key": MATCH}, "data"),
    prevent_initial_call=True,
)
