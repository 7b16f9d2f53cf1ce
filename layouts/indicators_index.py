"""/indicators: the catalogue, each indicator linking to its page."""
from __future__ import annotations

import dash
from dash import dcc, html

from analysis.results import context, indicator_has_data
from layouts.components import page
from layouts.components.urlstate import href, parse_query

dash.register_page(__name__, path="/indicators", title="Indicators - Integrated Care Pioneers", name="Indicators", order=4)


def layout(**query) -> html.Div:
    state = parse_query(query)
    ctx = context()
    items = [html.Li([dcc.Link(ctx.catalogue.at[i, "name"], href=href(f"/indicator/{i}", state)),
                      html.Span(f" ({ctx.catalogue.at[i, 'unit']}; {ctx.catalogue.at[i, 'frequency']}ly; "
                                f"{'lower' if ctx.catalogue.at[i, 'polarity'] == 'lower' else 'higher'} is better)"
                                if ctx.catalogue.at[i, "polarity"] in ("lower", "higher") else "",
                                className="small text-muted"),
                      html.Span(" Not available on CCGs" if state.geo == "ccg" else " No data in this dataset",
                                className="badge text-bg-secondary ms-2",
                                id=f"no-data-{i}") if not indicator_has_data(i, state.geo) else None])
             for i in ctx.indicator_ids()]
    exit_link = [page.present_exit(state, "/indicators")] if state.present else []
    return html.Div(exit_link + [html.H1("The 12 indicators", className="h3"), html.Ul(items, id="indicator-list")])
