"""/indicator/<indicator_id>: one indicator across all 25 sites."""
from __future__ import annotations

import dash
from dash import dcc, html

from layouts.components import charts, page
from analysis.results import context, no_data_message, no_data_reason
from layouts.components.urlstate import href, parse_query

ACROSS_CHARTS = {"caterpillar": "Estimated effect in each site", "pooled": "Pooled event study",
                 "funnel": "Latest values against England (funnel plot)"}


def title(indicator_id: str | None = None, **_):
    try:
        cat = context().catalogue
        return (f"{cat.at[indicator_id, 'short_name']} - Integrated Care Pioneers" if indicator_id in cat.index
                else "Not found - Integrated Care Pioneers")
    except Exception:
        return "Integrated Care Pioneers"


dash.register_page(__name__, path_template="/indicator/<indicator_id>", title=title, name="Indicator", order=3)


def layout(indicator_id: str | None = None, **query) -> html.Div:
    state = parse_query(query)
    ctx = context(state.geo)
    if indicator_id not in ctx.indicator_ids():
        return page.not_found("indicator", state)
    here = f"/indicator/{indicator_id}"
    if state.present:
        kind = state.chart if state.chart in (*ACROSS_CHARTS, "indicator_multiples") else "caterpillar"
        return html.Div([page.present_exit(state, here), _block(kind, indicator_id, state)])
    cat = ctx.catalogue.loc[indicator_id]
    facts = html.Dl([html.Dt("Definition"), html.Dd(cat["definition"]),
                     html.Dt("Numerator"), html.Dd(cat["numerator"]),
                     html.Dt("Denominator"), html.Dd(cat["denominator"]),
                     html.Dt("Unit"), html.Dd(cat["unit"]),
                     html.Dt("Better when"), html.Dd({"lower": "lower", "higher": "higher"}.get(cat["polarity"],
                                                                                           "no direction")),
                     html.Dt("Source"), html.Dd(cat["source"]),
                     html.Dt("Caveats"), html.Dd(cat["caveats"] or "None recorded")], id="indicator-facts")
    body = [html.H1(cat["name"], className="h3")]
    reason = no_data_reason(indicator_id, state.geo)
    if reason and state.geo == "ccg":
        # Say so in words rather than draw empty axes (every indicator but ea_all on CCGs).
        return html.Div(body + [facts, html.P(f"{cat['short_name']}: {reason}.", className="alert alert-secondary",
                                              id="indicator-unavailable")])
    if reason:
        # A dataset without this indicator is not a broken dataset: say which source would fill it.
        return html.Div(body + [html.P(no_data_message(indicator_id), className="alert alert-secondary",
                                       id="no-data"), facts])
    body.append(facts)
    for kind, heading in ACROSS_CHARTS.items():
        body += [html.H2(heading, className="h4"), _block(kind, indicator_id, state)]
    body.append(html.H2("Every site's trend", className="h4"))
    spec = charts.ChartSpec("indicator_multiples", indicator_id=indicator_id, anon=state.anon, geo=state.geo)
    chart = charts.build(spec)
    body.append(page.chart_block(chart, spec, state))
    body.append(html.P(["Detail for one site: "] + [
        item for sid in ctx.names.ordered(state.anon) for item in
        (dcc.Link(ctx.names.display(sid, state.anon),
                  href=href(f"/site/{ctx.names.path_id(sid, state.anon)}/indicator/{indicator_id}", state)), " · ")
    ][:-1], className="small"))
    return html.Div(body)


def _block(kind: str, indicator_id: str, state) -> html.Div:
    spec = charts.ChartSpec(kind, indicator_id=indicator_id, anon=state.anon, geo=state.geo)
    try:
        chart = charts.build(spec)
    except charts.ChartUnavailable as exc:
        return page.unavailable(ACROSS_CHARTS.get(kind, "This chart"), str(exc))
    return page.chart_block(chart, spec, state)
