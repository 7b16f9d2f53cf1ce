"""One Dash app per test process for the serving tests.

Dash hands callbacks registered with ``@dash.callback`` to the first app that starts serving and
then forgets them, so a second ``create_app()`` in the same process would have no page callbacks.
Every in-process serving test therefore shares this app (with its own results cache directory).
"""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache


@lru_cache(maxsize=1)
def shared_app():
    os.environ["PIONEERS_CACHE_DIR"] = tempfile.mkdtemp(prefix="pioneers-test-cache-")
    from app import create_app

    app = create_app()
    app.server.test_client().get("/_dash-dependencies")  # Dash wires the page router on first request
    return app
