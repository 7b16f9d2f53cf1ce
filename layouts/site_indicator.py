"""/site/<site_id>/indicator/<indicator_id>: one site and indicator: trend, event study, change in trend, SPC."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from layouts.components import charts, page, readings, tables
from analysis.results import (context, indicator_has_data, left_out_note, missing_estimate_reason, no_data_message,
                              overview_row, scm_detail, sensitivity, site_balance, site_detail, site_trend)
from indicators.did import CLUSTER_CAVEAT
from layouts.components.anonymise import anonymised_only, comparator_labels
from layouts.components.readings import format_p
from layouts.components.urlstate import ESTIMATORS, href, parse_query

DETAIL_CHARTS = {"trend": "Trend against comparators and England", "event": "Event study",
                 "its": "Change in trend (interrupted time series)", "spc": "Statistical process control"}
ESTIMATE_CHARTS = {"site_love": "Balance of the comparators (love plot)",
                   "sensitivity": "Sensitivity: the estimate under different analysis choices"}
"""Shown after the DiD numbers, only where there is an estimate."""
SCM_CHART = "Synthetic control: the site against a weighted blend of non-Pioneer areas"
TOP_DONORS = 10


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
             for kind in [*DETAIL_CHARTS, *ESTIMATE_CHARTS, "scm"]}
    if state.present:
        kind = state.chart if state.chart in specs else "trend"
        return html.Div([page.present_exit(state, here), _block(specs[kind], state)])
    cat = ctx.catalogue.loc[indicator_id]
    name = ctx.names.display(sid, state.anon)
    body = [html.H1(f"{cat['name']}: {name}", className="h3"),
            html.P([dcc.Link(f"All indicators for {name}", href=href(f"/site/{path_id}", state)), " · ",
                    dcc.Link("All sites for this indicator", href=href(f"/indicator/{indicator_id}", state))]),
            html.P(cat["definition"], className="small"), _estimator_switch(here, state)]
    if not indicator_has_data(indicator_id, state.geo):
        body.append(html.P(f"No estimate for {name}. {no_data_message(indicator_id, state.geo)}", className="alert alert-secondary",
                           id="no-estimate"))
        return html.Div(body)
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
        if kind == "event" and state.est == "scm":
            body += _scm_section(ctx, sid, indicator_id, specs["scm"], state, name)
            body += _sensitivity_section(sid, indicator_id, specs["sensitivity"], state)
            continue
        body += [html.H2(heading, className="h4"), _block(specs[kind], state)]
        gaps = left_out_note(sid, indicator_id, state.geo, state.anon) if kind == "trend" else ""
        if gaps:
            body.append(html.P(gaps, className="small", id="left-out-periods"))
        if kind == "event":
            r = detail["did"].iloc[0]
            balance = site_balance(sid, indicator_id, state.geo)
            body.append(html.P(readings.did_reading(cat["short_name"], r["effect_pct"], r["ci_low"], r["ci_high"],
                                                    r["p_value"], cat["polarity"], balance=balance.quality,
                                                    mde_pct=r.get("mde_pct")),
                               className="fw-semibold", id="did-reading"))
            body.append(_balance_note(ctx, sid, indicator_id, detail, balance, name, state.anon))
            body.append(tables.html_table(_did_numbers(detail["did"], cat["unit"]), "Difference-in-differences"))
            body += [html.H2(ESTIMATE_CHARTS["site_love"], className="h4"), _block(specs["site_love"], state)]
            body += _sensitivity_section(sid, indicator_id, specs["sensitivity"], state)
        if kind == "its":
            body.append(tables.html_table(_its_numbers(detail["its_summary"], cat["unit"]),
                                          "Change in trend: segmented regression with Newey-West errors"))
            did, its = overview_row("did", sid, indicator_id, state.geo), overview_row("its", sid, indicator_id, state.geo)
            both = readings.methods_reading(did["outcome"], its["outcome"], did["outcome_label"], its["outcome_label"])
            if both:
                body.append(html.P(both, className="alert alert-info small", id="methods-reading"))
    return html.Div(body)


def _sensitivity_section(sid: str, indicator_id: str, spec: charts.ChartSpec, state) -> list:
    """The estimate under each analysis choice, and the one-line verdict on its stability (both estimators)."""
    return [html.H2(ESTIMATE_CHARTS["sensitivity"], className="h4"), _block(spec, state),
            html.P(sensitivity(sid, indicator_id, state.geo)[1], className="fw-semibold", id="sensitivity-verdict")]


def _estimator_switch(here: str, state) -> dbc.Nav:
    """Matched DiD | synthetic control, kept in the URL as ``est``."""
    return dbc.Nav([html.Span("Estimator:", className="me-2 align-self-center small")] + [
        dbc.NavItem(dcc.Link(label, href=href(here, state, est=key), id=f"est-{key}",
                             className="nav-link" + (" active" if key == state.est else ""),
                             title=f"{label}{' (selected)' if key == state.est else ''}"))
        for key, label in ESTIMATORS.items()], pills=True, className="mb-2", id="estimator-nav")


def _scm_section(ctx, sid: str, indicator_id: str, spec: charts.ChartSpec, state, name: str) -> list:
    """The synthetic-control view: chart (with its table), the fit in words, the numbers, the top donors."""
    cat = ctx.catalogue.loc[indicator_id]
    detail = scm_detail(sid, indicator_id, state.geo)
    r = detail["summary"].iloc[0]
    out = [html.H2(SCM_CHART, className="h4"), _block(spec, state)]
    if pd.isna(r["effect"]):
        out.append(html.P(f"No synthetic-control estimate for {name}: {r['fit_words']}.",
                          className="alert alert-secondary", id="scm-reading"))
        return out
    out.append(html.P(readings.scm_reading(cat["short_name"], r["effect_pct"], r["effect"], r["ci_low"],
                                           r["ci_high"], r["p_value"], cat["polarity"], r["mde_pct"]),
                      className="fw-semibold", id="scm-reading"))
    poor = r["pre_fit"] == "poor"
    out.append(html.P(r["fit_words"][:1].upper() + r["fit_words"][1:] + ".",
                      className="alert alert-warning small" if poor else "small", id="scm-fit"))
    out.append(tables.html_table(_scm_numbers(r, cat["unit"]), "Synthetic control"))
    out.append(tables.html_table(_donor_table(ctx, detail["weights"], state.anon),
                                 f"Synthetic control weights: the {TOP_DONORS} largest of {int(r['n_donors'])} donors "
                                 "with weight above 0.001"))
    return out


def _scm_numbers(r, unit: str) -> pd.DataFrame:
    low_pct, high_pct = readings.relative_interval(r["effect"], r["effect_pct"], r["ci_low"], r["ci_high"])
    words = readings.unit_words(unit)
    return pd.DataFrame({"Measure": ["Effect (indicator units)", "Effect (relative, % of synthetic control)",
                                     "95% placebo interval (relative)", "95% placebo interval (indicator units)",
                                     "p (placebo RMSPE rank, exploratory)", "Pre-period fit error (RMSPE)",
                                     "Pre-period fit", "Smallest detectable effect (80% power)", "Donors with weight",
                                     "Placebo refits"],
                         "Value": [f"{r['effect']:+.2f} {words}", f"{r['effect_pct']:+.1f}%",
                                   f"{low_pct:+.1f}% to {high_pct:+.1f}%",
                                   f"{r['ci_low']:.2f} to {r['ci_high']:.2f} {words}", format_p(r["p_value"]),
                                   f"{r['pre_rmspe']:.3g} ({r['pre_rmspe_pct']:.1f}% of the pre-period mean)",
                                   r["pre_fit"], readings.mde_words(r["mde_pct"]), str(int(r["n_donors"])),
                                   str(int(r["n_placebo"]))]})


def _donor_table(ctx, weights: pd.DataFrame, anon: bool) -> pd.DataFrame:
    """Largest weights first; anonymised, donors are numbered, never named or coded."""
    top = weights.head(TOP_DONORS)
    if anon or anonymised_only():
        labels = [f"Donor {i}" for i in range(1, len(top) + 1)]
    else:
        labels = [ctx.area_names.get(c, c) for c in top["area_code"]]
    return pd.DataFrame({"Donor": labels, "Weight": [f"{w:.3f}" for w in top["weight"]]})


def _balance_note(ctx, sid: str, indicator_id: str, detail, balance, name: str, anon: bool) -> html.Div:
    """The comparators behind the estimate, named (numbered when anonymised), and how well they match."""
    codes = detail["comparators"]["comparator_code"].tolist()
    labels = comparator_labels(codes, ctx.area_names, anon)
    dist = dict(zip(codes, balance.distances)) if len(balance.distances) == len(codes) else {}
    named = "; ".join(f"{labels[c]} ({dist[c]:.2f})" if c in dist else labels[c] for c in codes)
    poor = balance.quality == "poor"
    return html.Div([
        html.P(balance.sentence(name) + (" Read this estimate with caution." if poor else ""),
               className="alert alert-warning small mb-1" if poor else "small mb-1", id="did-balance"),
        html.P(f"Matched comparators, nearest first (distance): {named or 'none'}.", className="small",
               id="did-comparators")])


def _did_numbers(did, unit: str):
    r = did.iloc[0]
    low_pct, high_pct = readings.relative_interval(r["effect"], r["effect_pct"], r["ci_low"], r["ci_high"])
    words = readings.unit_words(unit)
    return pd.DataFrame({"Measure": ["Effect (indicator units)", "Effect (relative, % of expected)",
                                     "95% placebo interval (relative)", "95% placebo interval (indicator units)",
                                     "p (placebo-in-space, exploratory)",
                                     "Smallest detectable effect (80% power, 5% two-sided; from the placebos)",
                                     f"Cluster-robust interval ({CLUSTER_CAVEAT})",
                                     "Pre-trend test p", "Comparator set version"],
                         "Value": [f"{r['effect']:+.2f} {words}", f"{r['effect_pct']:+.1f}%",
                                   f"{low_pct:+.1f}% to {high_pct:+.1f}%",
                                   f"{r['ci_low']:.2f} to {r['ci_high']:.2f} {words}", format_p(r["p_value"]),
                                   _mde_text(r),
                                   f"{r['cluster_ci_low']:.2f} to {r['cluster_ci_high']:.2f}",
                                   format_p(r["pre_trend_p"]), str(r["comparator_version"])]})


def _mde_text(r) -> str:
    """The minimum detectable effect, relative and in the indicator's units ("" when there are too few placebos)."""
    pct, units = r.get("mde_pct", float("nan")), r.get("mde", float("nan"))
    if pd.isna(pct):
        return "not available (too few placebo areas)"
    return f"{pct:.1f}% ({units:.2f} in indicator units)"


def _its_numbers(summary, unit: str):
    names = {"level_change": "Level change at the start", "slope_change_per_year": "Change in slope per year",
             "mean_post_effect": "Mean effect after the start"}
    return pd.DataFrame({"Term": summary["term"].map(names).fillna(summary["term"]),
                         f"Estimate ({unit})": summary["estimate"].round(2),
                         "95% interval": [f"{a:.2f} to {b:.2f}" if pd.notna(a) else "not identified (one period after the start)"
                                          for a, b in zip(summary["ci_low"], summary["ci_high"])],
                         "p": summary["p_value"].map(format_p)})


def _block(spec: charts.ChartSpec, state) -> html.Div:
    try:
        chart = charts.build(spec)
    except charts.ChartUnavailable as exc:
        return page.unavailable({**DETAIL_CHARTS, **ESTIMATE_CHARTS}[spec.kind], str(exc))
    return page.chart_block(chart, spec, state)
