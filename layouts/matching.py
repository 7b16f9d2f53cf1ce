"""/matching: choose the comparator method, k and covariates; balance (love plot) and the sets, recomputed live."""
from __future__ import annotations

import dash
import pandas as pd
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from layouts.components import page
from layouts.components import charts, tables
from layouts.components.anonymise import comparator_labels
from layouts.components.figures import covariate_label
from analysis.results import context, geography_problem
from layouts.components.urlstate import CALIPER_MAX, ForgedRequest, parse_query
from matching.balance import THRESHOLDS
from matching.covariates import DEMOGRAPHIC
from matching.select import CANDIDATES, K_RANGE, METHODS

dash.register_page(__name__, path="/matching", title="Matching - Integrated Care Pioneers", name="Matching", order=5)

COVARIATES = {c: covariate_label(c) for c in DEMOGRAPHIC}


def layout(**query) -> html.Div:
    state = parse_query(query)
    if state.present:  # the balance chart alone, for the settings the presentation link carries
        spec = charts.ChartSpec("love", anon=state.anon, k=min(max(state.k, K_RANGE[0]), K_RANGE[1]),
                                method=state.method, covariates=",".join(DEMOGRAPHIC), kauto=state.kauto,
                                caliper=state.caliper)
        return html.Div([page.present_exit(state, "/matching"), page.chart_block(charts.build(spec), spec, state)])
    controls = dbc.Row([
        dbc.Col([dbc.Label("Method", html_for="match-method"),
                 dcc.Dropdown(id="match-method", options=[{"label": m.title(), "value": m} for m in METHODS],
                              value=state.method, clearable=False)], md=3),
        dbc.Col([dbc.Label("Comparators per site (k)", html_for="match-k"),
                 dbc.Input(id="match-k", type="number", min=K_RANGE[0], max=K_RANGE[1], step=1,
                           value=state.k),
                 dbc.Checklist(id="match-kauto", options=[{"label": "k: auto by balance", "value": "auto"}],
                               value=["auto"] if state.kauto else [], className="small")], md=2),
        dbc.Col([dbc.Label("Caliper (distance; empty = none)", html_for="match-caliper"),
                 dbc.Input(id="match-caliper", type="number", min=0, max=CALIPER_MAX, step=0.1,
                           value=state.caliper or None, placeholder="none")], md=2),
        dbc.Col([dbc.Label("Covariates", html_for="match-covariates"),
                 dbc.Checklist(id="match-covariates", options=[{"label": v, "value": k} for k, v in COVARIATES.items()],
                               value=list(COVARIATES), inline=True)], md=5),
    ], className="mb-3")
    units = "CCG units (2019/20 successors)" if state.geo == "ccg" else "local authorities"
    return html.Div([html.H1("Matched comparators", className="h3"),
                     html.P(f"Each Pioneer site is compared with the k most similar {units} that are not "
                            "part of any Pioneer, whole or part, on baseline (pre-2013) characteristics. Change the choices to "
                            "see how balance and the comparator sets change. This page matches on the demographic "
                            "covariates only; the estimates elsewhere use per-indicator sets that add each "
                            "indicator's baseline level and slope."),
                     html.P(f"Of each site's {CANDIDATES}k nearest areas, the k whose average is most like the site "
                            "are chosen, so the comparators are balanced around the site rather than all on one "
                            "side of it. \"k: auto by balance\" picks, for each site, the largest k from "
                            f"{K_RANGE[0]} to {K_RANGE[1]} whose comparators keep every standardised difference "
                            "below 0.25 (or the best-balanced k when none does). A caliper keeps only comparators "
                            "within that distance; there is none by default, because the largest sites are unlike "
                            "every single area and would be left with no estimate; sites short of comparators are "
                            "named below.", className="small"),
                     controls,
                     html.P("On CCGs: population density is not available (the shared files give no CCG areas), "
                            "so matching leaves it out; deprivation is the IMD 2019 score of each LSOA's district, "
                            "weighted by LSOA population.", className="small text-muted", id="ccg-covariates")
                     if state.geo == "ccg" else None,
                     dcc.Loading(html.Div(id="match-output"))])


@dash.callback(Output("match-output", "children"), Input("match-method", "value"), Input("match-k", "value"),
               Input("match-covariates", "value"), Input("match-kauto", "value"), Input("match-caliper", "value"),
               State("url", "search"))
def recompute_matching(method, k, covariates, kauto, caliper, search):
    if method not in METHODS or not (covariates is None or isinstance(covariates, list)
                                     and all(isinstance(c, str) for c in covariates)):
        raise ForgedRequest("method must be one of the listed methods and covariates a list of names")
    if k is not None and not isinstance(k, (int, float, str)) or isinstance(k, bool):
        raise ForgedRequest("k must be a number")
    if not (kauto is None or isinstance(kauto, list) and set(kauto) <= {"auto"}):
        raise ForgedRequest("k auto must be the checkbox's own value")
    if caliper is not None and (isinstance(caliper, bool) or not isinstance(caliper, (int, float, str))):
        raise ForgedRequest("the caliper must be a number")
    try:
        caliper = float(caliper) if caliper not in (None, "") else 0.0
    except (TypeError, ValueError, OverflowError):
        caliper = -1.0
    if not (caliper == 0 or 0 < caliper <= CALIPER_MAX):
        return dbc.Alert(f"Choose a caliper above 0 and at most {CALIPER_MAX:g}, or leave it empty for none.",
                         color="warning")
    state = parse_query(search)
    try:
        k = int(k)
    except (TypeError, ValueError, OverflowError):
        k = 0
    if not K_RANGE[0] <= k <= K_RANGE[1] or not covariates:
        return dbc.Alert(f"Choose k from {K_RANGE[0]} to {K_RANGE[1]} and at least one covariate.", color="warning")
    missing = geography_problem(state.geo)
    if missing:
        return dbc.Alert(f"Not available on the CCG geography: {missing}.", color="secondary")
    covs = ",".join(c for c in DEMOGRAPHIC if c in covariates)
    spec = charts.ChartSpec("love", anon=state.anon, k=k, method=method, covariates=covs, geo=state.geo,
                            kauto=bool(kauto), caliper=round(caliper, 2))
    return html.Div([balance_warning(spec), page.chart_block(charts.build(spec), spec, state),
                     comparator_sets(spec, state.anon)])


def balance_warning(spec: charts.ChartSpec) -> html.Div | None:
    """Say plainly when matching leaves the sites unlike their comparators (mean |SMD| beyond 0.25)."""
    cs = charts.matching_set(spec)
    summary = charts.balance_summary_by_covariate(cs.balance())
    poor = summary[summary["abs_after"] >= THRESHOLDS[1]]
    if poor.empty:
        return None
    names = ", ".join(covariate_label(c) for c in poor["covariate"])
    return dbc.Alert(f"Balance is poor: after matching, {len(poor)} of {len(summary)} covariates are still beyond "
                     f"0.25 standard deviations on average ({names}). The comparators are not like their sites on "
                     "these, so differences between them may reflect how the areas differ; read the estimates "
                     "with caution.", color="warning", id="balance-warning", className="small")


def comparator_sets(spec: charts.ChartSpec, anon: bool) -> html.Div:
    """Every site's comparators for these settings, nearest first, with distances."""
    ctx = context(spec.geo)
    cs = charts.matching_set(spec)
    chosen = cs.params.get("chosen_k", {})
    by_site: dict[str, list[tuple[int, str, float]]] = {}
    t = cs.table
    for site_id, rank, code, dist in zip(t["site_id"].tolist(), t["rank"].tolist(), t["comparator_code"].tolist(),
                                         t["distance"].tolist()):
        by_site.setdefault(site_id, []).append((rank, code, dist))
    rows = []
    for site_id in ctx.names.ordered(anon):
        part = sorted(by_site.get(site_id, []))
        labels = comparator_labels([c for _, c, _ in part], ctx.area_names, anon)
        wanted = chosen.get(f"{site_id}|", spec.k)
        row = {"Site": ctx.names.display(site_id, anon), "Wave": ctx.names.waves[site_id]}
        if spec.kauto:
            row["k (auto by balance)"] = wanted
        row["Comparators (nearest first, distance)"] = ("; ".join(f"{labels[c]} ({d:.2f})" for _, c, d in part)
                                                        or "none")
        if spec.caliper:
            row["Within the caliper"] = within_words(len(part), wanted, spec.caliper, spec.method)
        rows.append(row)
    # matching words its warnings for LAs; on CCGs the pool is CCG units
    words = (lambda w: w.replace("pool LA", "pool CCG unit")) if spec.geo == "ccg" else (lambda w: w)
    warn = [html.Li(words(w)) for w in cs.warnings] if not anon else []
    return html.Div([html.H2(f"Comparator sets (version {cs.version})", className="h4", id="comparator-version"),
                     html.Ul(warn) if warn else None,
                     html.Div(tables.html_table(pd.DataFrame(rows), "Comparator sets"), className="table-responsive",
                              id="comparator-sets")])


def within_words(found: int, wanted: int, caliper: float, method: str) -> str:
    """A site's comparators against the caliper, in plain words."""
    where = f"within {caliper:g} ({method} distance)"
    if not found:
        return f"no comparator {where}: no good match"
    return f"all {wanted} {where}" if found >= wanted else f"only {found} of {wanted} {where}"
