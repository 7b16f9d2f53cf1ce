"""The browser draws charts with plotly.js's basic bundle (app.PLOTLY_BUNDLE), served where dcc.Graph
fetches plotly.js; tests/test_dashboard_real.py checks that every figure's traces are in it."""
from __future__ import annotations

import re

from plotly.offline import get_plotlyjs_version

from app import PLOTLY_BUNDLE, PLOTLY_PATH
from tests.serving_support import shared_app


def test_the_bundle_is_plotly_basic_of_the_installed_plotly_version():
    header = PLOTLY_BUNDLE.read_text(encoding="utf-8")[:200]
    found = re.search(r"plotly\.js \(basic - minified\) v(\S+)", header)
    assert found, f"{PLOTLY_BUNDLE} is not plotly.js's basic bundle: {header[:80]!r}"
    # The same minor release (pyproject.toml pins plotly to it): a patch release changes no attribute.
    assert found.group(1).split(".")[:2] == get_plotlyjs_version().split(".")[:2], (
        f"{PLOTLY_BUNDLE} is plotly.js {found.group(1)} but the plotly package draws figures for "
        f"{get_plotlyjs_version()}: run scripts/vendor-plotly.sh")


def test_dcc_graph_gets_the_bundle_and_pages_do_not_load_it():
    client = shared_app().server.test_client()
    served = client.get(PLOTLY_PATH)
    assert served.status_code == 200 and served.mimetype == "text/javascript"
    assert served.get_data() == PLOTLY_BUNDLE.read_bytes()
    etag = served.headers["ETag"]
    assert client.get(PLOTLY_PATH, headers={"If-None-Match": etag}).status_code == 304
    # No page loads it as a script of its own (the overview has no chart, so it never fetches it).
    scripts = re.findall(r'<script src="([^"]+)"', client.get("/indicators").get_data(as_text=True))
    assert scripts and not [src for src in scripts if "plotly" in src or "vendor" in src]
