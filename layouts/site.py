"""/site/<site_id>: a Pioneer lead's own page: the site, its LAs, all 12 indicators, effects, comparators."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts.components import charts, page
from layouts.components.results import context, site_effects
from layouts.components.urlstate import href, parse_query


def title(site_id: str | None = None, **_):
    """Names the site by its path id: an anonymous path id gives an anonymous title."""
    try:
        names = context().names
        sid = names.resolve(site_id)
        anon = sid is not None and site_id != sid
        return f"{names.display(sid, anon)} - Integrated Care Pioneers" if sid else "Not found - Integrated Care Pioneers"
    except Exception:  # the title must never break the page
        return "Integrated Care Pioneers"


dash.register_page(__name__, path_template="/site/<site_id>", title=title, name="Site", order=2)


def layout(site_id: str | None = None, **query) -> html.Div:
    state = parse_query(query)
    ctx = context()
    sid = ctx.names.resolve(site_id)
    if sid is None:
        return page.not_found("site", state)
    path_id = ctx.names.path_id(sid, state.anon)
    if state.present:
        ind = state.chart if state.chart in ctx.indicator_ids() else None
        spec = (charts.ChartSpec("trend", site=path_id, indicator_id=ind, anon=state.anon) if ind else
                charts.ChartSpec("site_multiples", site=path_id, anon=state.anon))
        return html.Div([page.present_exit(state, f"/site/{path_id}"),
                         page.chart_block(charts.build(spec), spec, state)])
    site = ctx.dataset.sites.set_index("site_id").loc[sid]
    name = ctx.names.display(sid, state.anon)
    header = [html.H1(name, className="h3"),
              html.P(f"Wave {site['wave']}; Pioneer from {site['start']:%d %b %Y}; transition "
                     f"{site['transition_start']:%b %Y} to {site['transition_end']:%b %Y}.")]
    header.append(_areas(ctx, sid) if not state.anon else
                  html.P("Local authorities are hidden in anonymised mode.", className="small text-muted"))
    spec = charts.ChartSpec("site_multiples", site=path_id, anon=state.anon)
    chart = charts.build(spec)
    details = html.P(["Detail for one indicator: "] + [
        item for ind in ctx.indicator_ids() for item in
        (dcc.Link(ctx.catalogue.at[ind, "short_name"], href=href(f"/site/{path_id}/indicator/{ind}", state)), " · ")
    ][:-1], className="small")
    effects = site_effects(sid, state.anon)
    return html.Div(header + [
        html.H2("Trends in the 12 indicators", className="h4"),
        page.chart_block(chart, spec, state, height=chart.figure.layout.height), details,
        html.H2("Estimated effects", className="h4"),
        effects if effects is not None else page.unavailable("The table of estimated effects"),
        html.H2("Matched comparators", className="h4"),
        page.unavailable("The comparator set, its distances and balance"),
    ])


def _areas(ctx, sid: str) -> html.Div:
    areas = ctx.dataset.site_areas[ctx.dataset.site_areas["site_id"] == sid]
    items = []
    for a in areas.itertuples():
        label = f"{ctx.area_names.get(a.area_code, a.area_code)} ({a.area_code})"
        if a.coverage == "part":
            label += (f": only part of this local authority belongs to the site (about {a.population_share:.0%} "
                      "of its population), so its LA-level data dilute any change")
        items.append(html.Li(label, className="text-warning-emphasis" if a.coverage == "part" else ""))
    return html.Div([html.P("Local authorities:", className="mb-0"), html.Ul(items, id="site-areas")])
