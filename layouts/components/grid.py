"""The overview grid as data (one row per site x indicator cell) and as an accessible HTML table."""
from __future__ import annotations

from html import escape

import pandas as pd
from dash import dcc, html

from analysis.results import NOT_ON_CCG_CELL, indicator_has_data, missing_estimate_reason, pooled_overview
from layouts.components.urlstate import ViewState, href

NOT_AVAILABLE = "not available"


def grid_cells(ctx, results: pd.DataFrame | None, state: ViewState) -> pd.DataFrame:
    """Every site x indicator cell in display order: label, wave, indicator, text, outcome, colour, link."""
    names = ctx.names
    lookup = {}
    if results is not None:
        cols = [results[c].tolist() for c in ("site_id", "indicator_id", "effect_pct", "outcome_label", "colour")]
        notes = results["note"].tolist() if "note" in results else [""] * len(results)
        periods = results["period"].tolist() if "period" in results else [""] * len(results)
        when = dict(zip(zip(cols[0], cols[1]), periods))
        lookup = {(s, i): (e, o, c, n) for s, i, e, o, c, n in zip(*cols, notes)}
    rows = []
    for site_id in names.ordered(state.anon):
        path_id = names.path_id(site_id, state.anon)
        site = names.display(site_id, state.anon)
        for ind in ctx.indicator_ids():
            effect, outcome, colour, note = lookup.get((site_id, ind), (None, NOT_AVAILABLE, "#ffffff", ""))
            missing = effect is None or pd.isna(effect)
            text = "–" if missing else f"{effect:+.1f}%"
            # The true reason for an empty cell, as on the detail page ("2017/18 onwards only").
            reason = (note or missing_reason(ctx, site_id, ind, state.geo)) if missing else ""
            period = when.get((site_id, ind), "") if results is not None else ""
            rows.append({"site_id": site_id, "path_id": path_id, "site": site, "wave": names.waves[site_id],
                         "group": f"Wave {names.waves[site_id]}", "kind": "site", "indicator_id": ind,
                         "period": period if isinstance(period, str) else "", "indicator": ctx.catalogue.at[ind, "short_name"], "text": text,
                         "effect_pct": effect, "outcome": outcome, "reason": reason, "colour": colour,
                         "href": href(f"/site/{path_id}/indicator/{ind}", state, present=False, chart="",
                                      est="scm" if state.basis == "scm" else state.est)})
    if state.basis == "did":
        rows += pooled_cells(ctx, state, max(names.waves.values(), default=0) + 1)
    return pd.DataFrame(rows)


POOLED_GROUP = "Pooled across Pioneers (against never-Pioneer areas)"


def pooled_cells(ctx, state: ViewState, wave_order: int) -> list[dict]:
    """The pooled rows (all, wave 1, wave 2) of the DiD grid; each cell links to the indicator's pooled chart."""
    pooled = pooled_overview(state.geo)
    rows = []
    for aggregate, part in pooled.groupby("aggregate", sort=False):
        by_ind = part.set_index("indicator_id")
        for ind in ctx.indicator_ids():
            r = by_ind.loc[ind] if ind in by_ind.index else None
            effect = None if r is None else r["effect_pct"]
            missing = effect is None or pd.isna(effect)
            rows.append({"site_id": aggregate, "path_id": f"pooled-{aggregate}",
                         "site": part["label"].iloc[0], "wave": wave_order, "group": POOLED_GROUP, "kind": "pooled",
                         "indicator_id": ind, "indicator": ctx.catalogue.at[ind, "short_name"],
                         "text": "–" if missing else f"{effect:+.1f}%", "effect_pct": effect,
                         "outcome": NOT_AVAILABLE if r is None else r["outcome_label"],
                         "reason": ((r["note"] if r is not None and r["note"] else "no pooled estimate")
                                    if missing else ""),
                         "colour": "#ffffff" if r is None else r["colour"],
                         "href": href(f"/indicator/{ind}", state, present=False, chart="")})
    return rows


def missing_reason(ctx, site_id: str, indicator_id: str, geography: str = "la") -> str:
    """Why a cell is empty when its basis gives no note of its own (England benchmark, SPC)."""
    if not indicator_has_data(indicator_id, geography):
        return NOT_ON_CCG_CELL if geography == "ccg" else "no data for this indicator in the dataset"
    return missing_estimate_reason(site_id, indicator_id, geography) or "no data for this site"


def grid_export(ctx, cells: pd.DataFrame) -> pd.DataFrame:
    """The grid as shown: one row per site, one column per indicator with the cell's text and outcome."""
    cells = cells.assign(shown=cells["text"] + " (" + cells["outcome"]
                         + cells["reason"].map(lambda r: f": {r}" if r else "") + ")")
    wide = cells.pivot(index=["group", "site"], columns="indicator", values="shown")
    order = [ctx.catalogue.at[i, "short_name"] for i in ctx.indicator_ids()]
    wide = wide[order].reset_index()
    site_order = list(dict.fromkeys(cells["site"]))
    wide["_o"] = wide["site"].map({s: i for i, s in enumerate(site_order)})
    return wide.sort_values("_o").drop(columns="_o").rename(columns={"group": "Wave", "site": "Site"})


def legend(results: pd.DataFrame | None) -> html.Div:
    if results is None:
        return html.Div()
    pairs = results[["outcome_label", "colour"]].drop_duplicates().itertuples(index=False)
    return html.Div([html.Span("Colour shows the outcome: ", className="me-2")] + [
        html.Span([html.Span(className="swatch", style={"backgroundColor": colour}), label], className="me-3")
        for label, colour in pairs], className="small mb-2", id="grid-legend")


def grid_table(ctx, cells: pd.DataFrame, state: ViewState) -> html.Div:
    """The grid as one accessible HTML table inside a single dcc.Markdown.

    300 cells as Dash components (a Td and a dcc.Link each) took the browser about 0.6 s to
    render; as one component holding escaped HTML, with ``<dccLink>`` for in-app navigation
    (no page reload), it takes a fraction of that. Every text and attribute is escaped here.
    """
    indicators = ctx.indicator_ids()
    head = "".join(f'<th scope="col" class="grid-head"><abbr title="{_e(ctx.catalogue.at[i, "name"])}">'
                   f'{_e(ctx.catalogue.at[i, "short_name"])}</abbr></th>' for i in indicators)
    body = []
    for wave, part in cells.groupby("wave", sort=True):
        body.append(f'<tr><th colspan="{len(indicators) + 1}" scope="colgroup" class="wave-row">'
                    f'{_e(part["group"].iloc[0])}</th></tr>')
        for site, site_cells in part.groupby("site", sort=False):
            if site_cells["kind"].iloc[0] == "site":
                site_href = href(f"/site/{site_cells['path_id'].iloc[0]}", state, present=False, chart="")
                tds = [f'<th scope="row" class="grid-site" title="{_e(site)}"><dccLink href="{_e(site_href)}" '
                       f'className="grid-site-link" id="site-link-{_e(site_cells["path_id"].iloc[0])}">{_e(site)}'
                       f'</dccLink></th>']
            else:
                tds = [f'<th scope="row" class="grid-site grid-pooled" title="{_e(site)}">{_e(site)}</th>']
            for c in site_cells.itertuples():
                tds.append(f'<td style="background-color: {_e(c.colour)}" data-outcome="{_e(c.outcome)}">'
                           f'<dccLink href="{_e(c.href)}" className="grid-cell" id="cell-{_e(c.path_id)}-{_e(c.indicator_id)}" '
                           f'title="{_e(_cell_title(c))}">{_e(c.text)}</dccLink></td>')
            body.append("<tr>" + "".join(tds) + "</tr>")
    table = ('<table class="table table-sm table-bordered grid-table caption-top" id="grid">'
             "<caption>Pioneer sites by wave (rows) and indicators (columns)</caption>"
             f'<thead><tr><th scope="col" class="grid-site-head">Site</th>{head}</tr></thead>'
             f"<tbody>{''.join(body)}</tbody></table>")
    return html.Div(dcc.Markdown(table, dangerously_allow_html=True, dedent=False, id="grid-markup"),
                    className="table-responsive")


def _cell_title(c) -> str:
    period = getattr(c, "period", "")
    text = f"{c.site}, {c.indicator}{f' ({period})' if isinstance(period, str) and period else ''}: {c.text}, {c.outcome}"
    return text + (f" ({c.reason})" if c.reason else "")


def latest_periods(results: pd.DataFrame, ctx) -> str:
    """Which period each indicator's England comparison uses: the latest differs by source, so say so."""
    if results is None or "period" not in results:
        return ""
    parts = []
    for ind in ctx.indicator_ids():
        periods = results.loc[results["indicator_id"] == ind, "period"].dropna()
        if len(periods):
            common = periods.mode().iloc[0]
            others = "" if (periods == common).all() else " (some sites earlier)"
            parts.append(f"{ctx.catalogue.at[ind, 'short_name']} {common}{others}")
    return "Latest period compared: " + "; ".join(parts) + "." if parts else ""


def _e(value) -> str:
    return escape(str(value), quote=True)
