"""Builds the Dash app: pages from layouts/, local assets only, no data I/O at import."""
from __future__ import annotations

from html import escape
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, dcc, html
from flask import Response, redirect, request, send_file

import callbacks.downloads  # noqa: F401  (registers its @dash.callback functions)
import callbacks.shell  # noqa: F401
import callbacks.tables  # noqa: F401
from analysis.cache import init_results_cache
from analysis.results import context, geography_problem
from data.active import set_active_dataset
from data.errors import DataError
from data.hes.disclosure import NOTICE as DISCLOSURE_NOTICE
from data.summary import coverage
from layouts.components.anonymise import anonymised_only, translate_path
from layouts.components.urlstate import GEOGRAPHY_NAMES, known_arguments, parse_query, query_problem
from serving.web import harden, on_callback_error

HERE = Path(__file__).resolve().parent
TITLE = "Integrated Care Pioneers: indicators"


def _notice() -> html.Div | None:
    """The dataset's origin on every page: demo data must never pass for real."""
    ctx = context()
    ds = ctx.dataset
    if ds.is_demo:
        return html.Div(ds.notice, id="data-notice", role="note",
                        className="alert alert-warning fw-bold py-1 mb-2 text-center")
    generated = bool(ds.generated_indicators)
    disclosure = f" {DISCLOSURE_NOTICE}." if getattr(ds, "disclosure_controlled", False) else ""
    return html.Div(coverage_sentence(ds, ctx.catalogue) + disclosure, id="data-notice", role="note",
                    className="alert alert-warning fw-bold py-1 mb-2 small" if generated else
                    "alert alert-info py-1 mb-2 small")


def coverage_sentence(ds, catalogue) -> str:
    """Which indicators a real dataset holds, and for which periods, in one sentence."""
    cov = coverage(ds).set_index("indicator_id")
    short = catalogue["short_name"]
    generated = set(ds.generated_indicators)  # any generated figure: never listed as real
    held = [f"{short[i]} ({cov.at[i, 'first_period']} to {cov.at[i, 'last_period']})"
            for i in cov.index if cov.at[i, "n_periods"] > 0 and i not in generated]
    absent = [short[i] for i in cov.index if cov.at[i, "n_periods"] == 0]
    text = ""
    if generated:
        text = ("Generated demonstration data, not real, for: "
                + ", ".join(short.get(i, i) for i in sorted(generated)) + ". ")
    text += (f"Real data in this dataset ({ds.label}): " if not generated else "Real data in this dataset: ") \
        + ("; ".join(held) if held else "none") + "."
    if absent:
        text += " No data in this dataset for: " + ", ".join(absent) + "."
    return text


def shell() -> html.Div:
    """The frame around every page: skip link, header with mode switches, notice, live main region."""
    return html.Div([
        html.A("Skip to main content", href="#main", className="visually-hidden-focusable skip-link"),
        dbc.Navbar(dbc.Container([
            dbc.NavbarBrand(TITLE, href="/", id="nav-brand"),
            dbc.Nav([dbc.NavLink("Overview", href="/", id="nav-overview"),
                     dbc.NavLink("Sites", href="/site", id="nav-sites"),
                     dbc.NavLink("Indicators", href="/indicators", id="nav-indicators"),
                     dbc.NavLink("Matching", href="/matching", id="nav-matching"),
                     dbc.NavLink("Programme", href="/programme", id="nav-programme"),
                     dbc.NavLink("Data", href="/data", id="nav-data")], navbar=True, className="me-auto"),
            html.Div([html.Label("Go to a site", htmlFor="site-picker", className="visually-hidden"),
                      dcc.Dropdown(id="site-picker", placeholder="Go to a site...", clearable=True, searchable=True,
                                   options=[], className="site-picker")],
                     className="me-3", style={"minWidth": "15rem"}),
            html.Div([
                html.Div([
                    html.Span("Geography", id="geo-switch-label", className="visually-hidden"),  # the options say it
                    dbc.RadioItems(id="geo-switch", value="la", inline=True, className="mb-0",
                                   label_class_name="text-nowrap",
                                   options=[{"label": label, "value": key} for key, label in GEOGRAPHY_NAMES.items()]),
                ], role="radiogroup", className="d-flex align-items-center me-3",
                    **{"aria-labelledby": "geo-switch-label"}),
                dbc.Switch(id="anon-switch", label="Anonymised" + (" (this server shows no names)"
                                                                   if anonymised_only() else ""),
                           value=anonymised_only(), disabled=anonymised_only(), className="me-3 mb-0"),
                dbc.Switch(id="present-switch", label="Presentation", value=False, className="mb-0"),
            ], className="d-flex flex-wrap align-items-center"),
        ], fluid=True, className="flex-wrap"), color="light", dark=False, className="mb-2 border-bottom", id="navbar"),
        _notice(),
        html.Main(dbc.Container(dash.page_container, fluid=True), id="main", role="main", tabIndex="-1",
                  **{"aria-live": "polite"}),
        dcc.Location(id="url", refresh="callback-nav"),
    ])


def create_app(data_dir: Path | str | None = None) -> Dash:
    """The app serving ``data_dir`` (default: the dataset named by PIONEERS_DATA); nothing is computed yet."""
    if data_dir is not None:
        set_active_dataset(data_dir)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "layouts"),
        assets_folder=str(HERE / "assets"),
        assets_path_ignore=["vendor"],  # served on demand (serve_plotly_bundle), never as a page script
        serve_locally=True,
        title=TITLE,
        suppress_callback_exceptions=True,
        update_title=None,
        on_error=on_callback_error,
    )
    app.index_string = app.index_string.replace("{%css%}", "{%css%}\n" + _preload_links(app), 1)
    app.layout = shell
    app.server.before_request(serve_plotly_bundle)
    app.server.before_request(refuse_unknown_geography)
    app.server.before_request(anonymous_path_redirect)
    serve_hardened(app)
    guard_geography(app)  # outside the hardened page: it reads ``geo`` as sent (see guard_geography)
    return app


LAZY_CHUNKS = {"dash/dcc/async-markdown.js": "preload", "dash/dcc/async-highlight.js": "prefetch"}
"""dcc.Markdown's code, which Dash fetches only once a Markdown component is on the page. Every page
has one (the overview grid, each chart's table alternative), and fetching its two chunks one after
the other after the layout had arrived added about 0.3 s to the first render. The first is
preloaded; the highlighting chunk, which some pages never ask for, is prefetched (a preload left
unused puts a warning in the console). plotly.js is neither: the overview has no chart."""


def _preload_links(app: Dash) -> str:
    def link(chunk: str, rel: str) -> str:
        kind = ' as="script"' if rel == "preload" else ""
        return f'<link rel="{rel}"{kind} href="{app.get_relative_path("/_dash-component-suites/" + chunk)}">'

    return "\n".join(link(chunk, rel) for chunk, rel in LAZY_CHUNKS.items())


PLOTLY_BUNDLE = HERE / "assets" / "vendor" / "plotly-basic.min.js"
"""plotly.js's basic bundle: the scatter, bar and pie traces with every layout component (shapes,
annotations, error bars, the modebar and its image export), of the same minor version as the full
bundle in the plotly package. dcc.Graph fetches plotly.js from PLOTLY_PATH the first time a page
holds a chart (the overview has none, so it never loads it); the app answers that path with this
file. The full bundle is four times the size and takes a browser correspondingly longer to evaluate
on every chart page. tests/test_plotly_bundle.py checks the version and what is served;
scripts/vendor-plotly.sh fetches the bundle for the installed plotly."""
PLOTLY_PATH = "/_dash-component-suites/plotly/package_data/plotly.min.js"
PLOTLY_BUNDLE_TRACES = frozenset({"scatter", "bar", "pie"})
"""The trace types the bundle draws; the real-data page walk (tests/test_dashboard_real.py) checks
every figure the server sends uses only these."""


def serve_plotly_bundle():
    if request.path != PLOTLY_PATH:
        return None
    return send_file(PLOTLY_BUNDLE, mimetype="text/javascript", conditional=True, etag=True, max_age=None)


def refuse_unknown_geography():
    """A page address with a forged or mistyped ``geo`` gets a plain 400 saying what is allowed."""
    if request.path.startswith(("/_dash", "/assets", "/_reload", "/_favicon")):
        return None
    problem = query_problem(request.query_string.decode(errors="replace"))
    if problem is None:
        return None
    body = (f"<!doctype html><html lang=\"en\"><head><title>Bad request - {TITLE}</title></head><body>"
            f"<h1>Bad request</h1><p>{escape(problem)}</p><p><a href=\"/\">Go to the overview</a></p></body></html>")
    return Response(body, status=400, mimetype="text/html")


def guard_geography(app: Dash) -> None:
    """Pages reached inside the app (no full page load) answer a forged ``geo`` with the same message.

    Applied after ``serve_hardened``: the hardened page normalises its URL arguments before they
    key the shared page cache (a forged ``geo`` would quietly become local authorities there), so
    this check reads the arguments as sent, outside it, and its answer is never cached."""
    for page in dash.page_registry.values():
        layout = page.get("layout")
        if callable(layout) and not getattr(layout, "_geo_guarded", False):
            page["layout"] = _geography_checked(layout)


def _geography_checked(layout):
    def checked(*args, **query):
        problem = query_problem(query)
        if problem:
            return html.Div([html.H1("Bad request", className="h3"),
                             html.P(problem, className="alert alert-warning", id="bad-geography")])
        try:
            missing = geography_problem(parse_query(query).geo)
        except DataError:
            missing = None  # the dataset is unreadable: the page itself shows the fault banner
        if missing:
            return html.Div([html.H1("Not available on the CCG geography", className="h3"),
                             html.P(f"Not available on the CCG geography: {missing}. Switch to local authorities "
                                    "with the Geography switch at the top.", className="alert alert-secondary",
                                    id="geography-unavailable")])
        return layout(*args, **query)

    checked._geo_guarded = True
    checked._fault_guarded = getattr(layout, "_fault_guarded", False)  # harden() wraps a page once
    checked.__wrapped__ = layout
    return checked


def anonymous_path_redirect():
    """``/site/<real id>...?anon=1`` -> ``/site/pioneer-x...?anon=1`` before any HTML is sent.

    Dash renders the page title from the path alone, so without this the first response (and the
    browser tab) would name the site for a moment. The app's own links already use anonymous
    ids; this covers a hand-typed or edited URL.
    """
    if not request.path.startswith("/site/") or not parse_query(request.query_string.decode()).anon:
        return None  # parse_query says anon on an anonymised-only server, whatever the URL asks
    try:
        target = translate_path(request.path, context().names, anon=True)
    except DataError:
        return None  # the dataset is unreadable: the page itself shows the fault banner
    if target == request.path:
        return None
    return redirect(f"{target}?{request.query_string.decode()}", code=302)


def serve_hardened(app: Dash) -> None:
    """Production wiring: shared results cache, security headers, compression, /healthz, fault banners."""
    init_results_cache(app.server)
    harden(app, page_arguments=known_arguments)


def server_for_wsgi():
    """Entry point for a WSGI server: the dataset comes from the PIONEERS_DATA environment variable."""
    return create_app().server
