"""Builds the Dash app: pages from layouts/, local assets only, no data I/O at import."""
from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, dcc, html

from data.active import set_active_dataset
from serving.web import on_callback_error

HERE = Path(__file__).resolve().parent
TITLE = "Integrated Care Pioneers: indicators"


def shell() -> html.Div:
    """The frame around every page: skip link, header, live main region."""
    return html.Div([
        html.A("Skip to main content", href="#main", className="visually-hidden-focusable skip-link"),
        dbc.Navbar(dbc.Container([
            dbc.NavbarBrand(TITLE, href="/"),
            dbc.Nav([dbc.NavLink("Overview", href="/", id="nav-overview"),
                     dbc.NavLink("Data", href="/data", id="nav-data")], navbar=True),
        ], fluid=True), color="light", className="mb-3 border-bottom"),
        html.Main(dbc.Container(dash.page_container, fluid=True), id="main", role="main",
                  **{"aria-live": "polite"}),
        dcc.Location(id="url", refresh="callback-nav"),
    ])


def create_app(data_dir: Path | str | None = None) -> Dash:
    if data_dir is not None:
        set_active_dataset(data_dir)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "layouts"),
        assets_folder=str(HERE / "assets"),
        serve_locally=True,
        title=TITLE,
        suppress_callback_exceptions=True,
        update_title=None,
        on_error=on_callback_error,
    )
    app.layout = shell
    serve_hardened(app)
    return app


def serve_hardened(app: Dash) -> None:
    """Production wiring: shared results cache, security headers, compression, /healthz, fault banners."""
    from callbacks.cache import init_results_cache
    from serving.web import harden

    init_results_cache(app.server)
    harden(app)


def server_for_wsgi():
    """Entry point for a WSGI server: the dataset comes from the PIONEERS_DATA environment variable."""
    return create_app().server
