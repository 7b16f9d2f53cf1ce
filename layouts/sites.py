"""/site: every Pioneer site, by wave, each linking to its own page (a Pioneer lead's way in)."""
from __future__ import annotations

import dash
from dash import dcc, html

from layouts.components import page
from analysis.results import context
from layouts.components.urlstate import href, parse_query

dash.register_page(__name__, path="/site", title="Sites - Integrated Care Pioneers", name="Sites", order=2)


def layout(**query) -> html.Div:
    state = parse_query(query)
    ctx = context()
    sites = ctx.dataset.sites.set_index("site_id")
    body = [page.present_exit(state, "/site")] if state.present else []
    body += [html.H1("The Pioneer sites", className="h3"),
            html.P("Choose a site to see all its indicators against its matched comparators and England.")]
    for wave in sorted(set(ctx.names.waves.values())):
        items = []
        for sid in ctx.names.ordered(state.anon):
            if ctx.names.waves[sid] != wave:
                continue
            link = dcc.Link(ctx.names.display(sid, state.anon),
                            href=href(f"/site/{ctx.names.path_id(sid, state.anon)}", state, present=False, chart=""))
            items.append(html.Li([link, html.Span(f" (Pioneer from {sites.at[sid, 'start']:%b %Y})",
                                                  className="small text-muted")]))
        body += [html.H2(f"Wave {wave}", className="h4"), html.Ul(items, id=f"sites-wave-{wave}")]
    return html.Div(body, id="sites")
