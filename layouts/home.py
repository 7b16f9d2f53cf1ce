"""/ Overview. A placeholder listing sites and indicators until the overview grid lands (issue 6)."""
from __future__ import annotations

import dash
from dash import html

dash.register_page(__name__, path="/", title="Overview - Integrated Care Pioneers", name="Overview")


def layout(**_query) -> html.Div:
    from layouts.data_page import layout as data_layout

    return data_layout()
