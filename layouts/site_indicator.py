"""/site/<site_id>/indicator/<indicator_id>: one site and indicator: trend, event study, change in trend, SPC."""
from __future__ import annotations

import dash
import pandas as pd
from dash import dcc, html

from layouts.components import charts, page, readings, tables
from analysis.results import context, missing_estimate_reason, site_detail, site_trend
from layouts.components.urlstate import href, parse_query

DETAIL_CHARTS = {"trend": "Trend against comparators and England", "event": "Event study",
                 "its": "Change in trend (interrupted time series)", "spc": "Statistical process control"}


def title(site_id: str | None = None, indicator_id: str | None = None, **_):
    try:
        ctx = context()
        sid = ctx.names.resolve(site_id)
        if sid is None or indicator_id not in ctx.indicator_ids():
            return "Not found - Integrated Care Pioneers"
        anon = site_id != sid
        return f"{ctx.catalogue.at[indicator_id, 'short_name']}: {ctx.names.display(sid, anon)} - Integrated Care Pioneers"
    except Exception:
        return "Integrated Care Pioneers"


dash.register_page(__name__, path_template="/site/<site_id>/indicator/<indicator_id>", title=title,
                   name="Site and indicator", order=1)  # before /site/<site_id>, which would swallow it


def layout(site_id: str | None = None, indicator_id: str | None = None, **query) -> html.Div:
    state = parse_query(query)
    ctx = context(state.geo)
    sid = ctx.names.resolve(site_id)
    if sid is None:
        return page.not_found("site", state)
    if indicator_id not in ctx.indicator_ids():
        return page.not_found("indicator", state)
    path_id = ctx.names.path_id(sid, state.anon)
    here = f"/site/{path_id}/indicator/{indicator_id}"
    specs = {kind: charts.ChartSpec(kind, site=path_id, indicator_id=indicator_id, anon=state.anon, geo=state.geo)
             for kind in DETAIL_CHARTS}
    if state.present:
        kind = state.chart if state.chart in DETAIL_CHARTS else "trend"
        return html.Div([page.present_exit(state, here), _block(specs[kind], state)])
    cat = ctx.catalogue.loc[indicator_id]
    name = ctx.names.display(sid, state.anon)
    body = [html.H1(f"{cat['name']}: {name}", className="h3"),
            html.P([dcc.Link(f"All indicators for {name}", href=href(f"/site/{path_id}", state)), " · ",
                    dcc.Link("All sites for this indicator", href=href(f"/indicator/{indicator_id}", state))]),
            html.P(cat["definition"], className="small")]
    reason = missing_estimate_reason(sid, indicator_id, state.geo)
    if reason is not None:
        # Nothing to estimate from (e.g. a real dataset without this indicator, or without data
        # before the start): say why in words and draw only the series that exist.
        body.append(html.P(f"No estimate for {name}: {reason}.", className="alert alert-secondary",
                           id="no-estimate"))
        if site_trend(sid, indicator_id, state.geo)["site_value"].notna().any():
            body += [html.H2(DETAIL_CHARTS["trend"], className="h4"), _block(specs["trend"], state)]
        return html.Div(body)
    detail = site_detail(sid, indicator_id, state.geo)
    for kind, heading in DETAIL_CHARTS.items():
        body += [html.H2(heading, className="h4"), _block(specs[kind], state)]
        if kind == "event":
            r = detail["did"].iloc[0]
            body.append(html.P(readings.did_reading(cat["short_name"], r["effect_pct"], r["ci_low"], r["ci_high"],
                                                    r["p_value"], cat["polarity"]), className="fw-semibold",
                               id="did-reading"))
            body.append(tables.html_table(_did_numbers(detail["did"], cat["unit"]), "Difference-in-differences"))
        if kind == "its":
            body.append(tables.html_table(_its_numbers(detail["its_summary"], cat["unit"]),
                                          "Change in trend: segmented regression with Newey-West errors"))
    return html.Div(body)


def _did_numbers(did, unit: str):
    r = did.iloc[0]
    return pd.DataFrame({"Measure": ["Effect", "Effect, % of expected", "95% placebo interval",
                                     "p (placebo-in-space, exploratory)", "Cluster-robust interval (likely too narrow)",
                                     "Pre-trend test p", "Comparator set version"],
                         "Value": [f"{r['effect']:.2f} {unit}", f"{r['effect_pct']:.1f}%",
                                   f"{r['ci_low']:.2f} to {r['ci_high']:.2f}", f"{r['p_value']:.3f}",
                                   f"{r['cluster_ci_low']:.2f} to {r['cluster_ci_high']:.2f}",
                                   f"{r['pre_trend_p']:.3f}", str(r["comparator_version"])]})


def _its_numbers(summary, unit: str):
    names = {"level_change": "Level change at the start", "slope_change_per_year": "Change in slope per year",
             "mean_post_effect": "Mean effect after the start"}
    return pd.DataFrame({"Term": summary["term"].map(names).fillna(summary["term"]),
                         f"Estimate ({unit})": summary["estimate"].round(2),
                         "95% interval": [f"{a:.2f} to {b:.2f}" for a, b in zip(summary["ci_low"], summary["ci_high"])],
                         "p": summary["p_value"].round(3)})


def _block(spec: charts.ChartSpec, state) -> html.Div:
    try:
        chart = charts.build(spec)
    except charts.ChartUnavailable as exc:
        return page.unavailable(DETAIL_CHARTS[spec.kind], str(exc))
    return page.chart_block(chart, spec, state)
