"""/site/<site_id>: a Pioneer lead's own page: the site, its LAs, all 12 indicators, effects, comparators."""
from __future__ import annotations

import dash
import pandas as pd
from dash import dcc, html

from layouts.components import charts, page
from layouts.components import readings, tables
from layouts.components.anonymise import comparator_labels
from analysis.results import BALANCE_WORDS, balance_rows, comparators, context, estimates, site_balance
from indicators.glance import summarise_icons
from layouts.components.urlstate import GEOGRAPHY_NAMES, href, parse_query


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
    ctx = context(state.geo)
    sid = ctx.names.resolve(site_id)
    if sid is None:
        return page.not_found("site", state)
    path_id = ctx.names.path_id(sid, state.anon)
    if state.present:
        ind = state.chart if state.chart in ctx.indicator_ids() else None
        spec = (charts.ChartSpec("trend", site=path_id, indicator_id=ind, anon=state.anon, geo=state.geo) if ind else
                charts.ChartSpec("spine", site=path_id, anon=state.anon, geo=state.geo) if state.chart == "spine" else
                charts.ChartSpec("site_multiples", site=path_id, anon=state.anon, geo=state.geo))
        return html.Div([page.present_exit(state, f"/site/{path_id}"),
                         page.chart_block(charts.build(spec), spec, state)])
    site = ctx.dataset.sites.set_index("site_id").loc[sid]
    name = ctx.names.display(sid, state.anon)
    header = [html.H1(name, className="h3"),
              html.P(f"Wave {site['wave']}; Pioneer from {site['start']:%d %b %Y}; transition "
                     f"{site['transition_start']:%b %Y} to {site['transition_end']:%b %Y}.")]
    header.append(_areas(ctx, sid) if not state.anon else
                  html.P(f"{GEOGRAPHY_NAMES[state.geo]} are hidden in anonymised mode.", className="small text-muted"))
    spec = charts.ChartSpec("site_multiples", site=path_id, anon=state.anon, geo=state.geo)
    chart = charts.build(spec)
    details = html.P(["Detail for one indicator: "] + [
        item for ind in ctx.indicator_ids() for item in
        (dcc.Link(ctx.catalogue.at[ind, "short_name"], href=href(f"/site/{path_id}/indicator/{ind}", state)), " · ")
    ][:-1], className="small")
    return html.Div(header + _glance(ctx, sid, path_id, state) + [
        html.H2("Trends in the 12 indicators", className="h4"),
        page.chart_block(chart, spec, state), details,
        html.H2("Estimated effects", className="h4"),
        html.P("Difference-in-differences against each indicator's matched comparators. Intervals and p values "
               "come from placebo tests on non-Pioneer areas and are exploratory: with one site, chance "
               "differences are common. A small pre-trend p suggests the site and its comparators were already "
               "drifting apart before the start.", className="small"),
        html.Div(tables.html_table(_effects(ctx, sid, state.geo), f"Estimated effects: {name}"), className="table-responsive",
                 id="site-effects"),
        html.H2("Matched comparators", className="h4"),
        _comparators(ctx, sid, state.anon, state.geo),
    ])


def _glance(ctx, sid: str, path_id: str, state) -> list:
    """Against England at a glance (spine chart and its table) and the Making Data Count icons summary."""
    spec = charts.ChartSpec("spine", site=path_id, anon=state.anon, geo=state.geo)
    try:
        chart = charts.build(spec)
    except charts.ChartUnavailable as exc:
        return [page.unavailable("The spine chart", str(exc))]
    icons = summarise_icons(chart.table.rename(columns={"SPC variation (latest point)": "Variation",
                                                       "SPC assurance (limits against England)": "Assurance"}))
    return [html.H2("At a glance: latest values against England", className="h4"),
            page.chart_block(chart, spec, state),
            html.Div(tables.html_table(chart.table, "Latest values, recent trend and SPC icons by indicator"),
                     className="table-responsive", id="site-glance"),
            html.P("Recent trend: the slope of the last five points, weighted by their precision, tested against no "
                   "change (p < 0.05). SPC icons (NHS Making Data Count): variation of the latest point on the XmR "
                   "chart of the site's own series; assurance says whether the limits of the latest 12 points sit "
                   "wholly better, wholly worse, or either side of England's latest value (the chart's own limits "
                   "come from the baseline before the start).", className="small"),
            html.Div(tables.html_table(icons, "Making Data Count summary: indicators by icon"),
                     className="table-responsive", id="mdc-summary")]


def _effects(ctx, sid: str, geo: str = "la"):
    est = estimates(geo)
    rows = est[(est["site_id"] == sid) & (est["method"] == "did")]
    rows = rows.set_index("indicator_id").loc[[i for i in ctx.indicator_ids() if i in set(rows["indicator_id"])]]
    return readings.effects_table(rows.reset_index(), ctx.catalogue,
                                  {ind: site_balance(sid, ind, geo).quality for ind in ctx.indicator_ids()})


def _comparators(ctx, sid: str, anon: bool, geo: str = "la") -> html.Div:
    """Each indicator's comparators, nearest first, with distance and balance; unnamed when anonymised."""
    cs = comparators(geo)
    table = cs.table[cs.table["site_id"] == sid]
    balance = balance_rows(geo)
    balance = balance[balance["site_id"] == sid]
    good = (balance.assign(ok=balance["balance_after"] == "good").groupby("indicator_id")["ok"].agg(["sum", "size"]))
    rows = []
    for ind in ctx.indicator_ids():
        part = table[table["indicator_id"] == ind].sort_values("rank")
        labels = comparator_labels(part["comparator_code"].tolist(), ctx.area_names, anon)
        rows.append({"Indicator": ctx.catalogue.at[ind, "short_name"],
                     "Comparators (nearest first, distance)": "; ".join(
                         f"{labels[c]} ({d:.2f})" for c, d in zip(part["comparator_code"], part["distance"])),
                     "Covariates well balanced": (f"{int(good.at[ind, 'sum'])} of {int(good.at[ind, 'size'])}"
                                                  if ind in good.index else ""),
                     "Overall": _balance_words(site_balance(sid, ind, geo))})
    return html.Div([
        html.P(f"Comparator set version {cs.version}: the k = {cs.params['k']} nearest non-Pioneer "
               f"{'CCG units' if geo == 'ccg' else 'local authorities'} by {cs.params['method']} distance on "
               f"baseline population, age, deprivation, "
               f"{'(density is not available on CCGs) ' if geo == 'ccg' else 'density '}and the "
               "indicator's own baseline level and slope. Balance: |standardised mean difference| < 0.1.",
               className="small"),
        html.Div(tables.html_table(pd.DataFrame(rows), "Matched comparators by indicator"),
                 className="table-responsive", id="site-comparators")])


def _balance_words(balance) -> str:
    if not balance.quality:
        return ""
    return f"{BALANCE_WORDS[balance.quality]} (largest |SMD| {balance.worst_smd:.2f})"


def _areas(ctx, sid: str) -> html.Div:
    areas = ctx.dataset.site_areas[ctx.dataset.site_areas["site_id"] == sid]
    ccg = ctx.dataset.geography == "ccg"
    unit, level = ("CCG unit", "CCG-level") if ccg else ("local authority", "LA-level")
    items = []
    for a in areas.itertuples():
        label = f"{ctx.area_names.get(a.area_code, a.area_code)} ({a.area_code})"
        if a.coverage == "part":
            share = (f"about {a.population_share:.0%} of its population" if pd.notna(a.population_share)
                     else "share not known")
            label += (f": only part of this {unit} belongs to the site ({share}), so its {level} data "
                      "dilute any change")
        items.append(html.Li(label, className="text-warning-emphasis" if a.coverage == "part" else ""))
    heading = "CCG units (2019/20 successors):" if ccg else "Local authorities:"
    parts = [html.P(heading, className="mb-0"), html.Ul(items, id="site-areas")]
    if not ccg and (areas["coverage"] == "part").any():
        parts.append(html.P(PART_LA_NOTE, className="small", id="site-part-note"))
    return html.Div(parts)


PART_LA_NOTE = ("Part-covered local authorities count in full in these figures. Weighting each by the share of its "
                "population inside the site is an option for the estimates (pioneers estimates --weighting "
                "population_share). Where an indicator is published by CCG (emergency admissions), the CCG view "
                "follows the site's footprint more closely and is the better basis.")
