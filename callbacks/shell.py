"""Thin wiring of the shell: mode switches <-> URL, nav links keep the query, presentation hides chrome."""
from __future__ import annotations

import dash
from dash import Input, Output, ctx, no_update

from layouts.components.anonymise import translate_path
from analysis.results import context
from layouts.components.urlstate import GEOGRAPHY_NAMES, href, parse_query, to_query, with_changes


@dash.callback(
    Output("url", "pathname"), Output("url", "search"),
    Output("anon-switch", "value"), Output("present-switch", "value"), Output("geo-switch", "value"),
    Input("url", "pathname"), Input("url", "search"),
    Input("anon-switch", "value"), Input("present-switch", "value"), Input("geo-switch", "value"),
)
def sync_modes(pathname, search, anon, present, geo):
    """Switch flipped: write the mode into the URL (and the site path id). URL changed: set the switches."""
    state = parse_query(search)
    names = context().names
    if ctx.triggered_id in ("anon-switch", "present-switch", "geo-switch"):
        new = with_changes(state, anon=bool(anon), present=bool(present),
                           geo=geo if isinstance(geo, str) and geo in GEOGRAPHY_NAMES else state.geo)
        return translate_path(pathname, names, new.anon), to_query(new), no_update, no_update, no_update
    path = translate_path(pathname, names, True) if state.anon else no_update
    if path == pathname:
        path = no_update
    return path, no_update, state.anon, state.present, state.geo


@dash.callback(
    Output("nav-overview", "href"), Output("nav-sites", "href"), Output("nav-indicators", "href"),
    Output("nav-matching", "href"), Output("nav-data", "href"), Output("nav-brand", "href"),
    Output("navbar", "className"), Output("site-picker", "options"), Output("nav-programme", "href"),
    Input("url", "search"),
)
def keep_query_in_nav(search):
    state = with_changes(parse_query(search), present=False, chart="")
    hidden = "d-none" if parse_query(search).present else "mb-2 border-bottom"
    return (href("/", state), href("/site", state), href("/indicators", state), href("/matching", state),
            href("/data", state), href("/", state), hidden, site_options(state.anon), href("/programme", state))


def site_options(anon: bool) -> list[dict]:
    """The site picker's choices in display order: anonymous labels and path ids in anonymised mode."""
    names = context().names
    return [{"label": f"{names.display(s, anon)} (wave {names.waves[s]})", "value": names.path_id(s, anon)}
            for s in names.ordered(anon)]


@dash.callback(
    Output("url", "pathname", allow_duplicate=True), Output("site-picker", "value"),
    Input("site-picker", "value"),
    prevent_initial_call=True,
)
def go_to_site(path_id):
    """Picking a site opens its page (the query, and so the mode, is kept); the picker clears for the next time."""
    if not path_id:
        return no_update, no_update
    return f"/site/{path_id}", None
