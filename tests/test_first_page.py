"""The first page after a server starts: what the master computes before fork, and what it leaves out.

The cold-start figure itself is printed by benchmarks/bench_cold_start.py; these tests check the
parts that make it: the estimates table computed in parts equals the whole, the first page's
statistics need nothing more once the master has warmed them, and the app's import leaves
scipy.stats out.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dash
import pandas as pd
import pytest
from plotly.utils import PlotlyJSONEncoder

from analysis import results
from analysis.estimates import METHODS_IN_TABLE, estimates_table, in_table_order
from data.active import ENV_VAR, clear_caches, set_active_dataset
from matching.select import match

ROOT = Path(__file__).resolve().parents[1]


def test_estimates_in_parts_equal_the_whole_table(demo):
    comps = match(demo)
    whole = estimates_table(demo, comps)
    parts = [estimates_table(demo, comps, methods=part) for part in results.ESTIMATE_PARTS]
    for part, rows in zip(results.ESTIMATE_PARTS, parts):
        assert set(rows["method"]) == set(part)
    pd.testing.assert_frame_equal(in_table_order(parts), whole)
    # negative control: parts joined in the wrong order are not the table until put in its order
    assert not pd.concat(parts[::-1], ignore_index=True).equals(whole)
    assert sorted(m for part in results.ESTIMATE_PARTS for m in part) == sorted(METHODS_IN_TABLE)


def test_unknown_estimate_method_is_refused(demo):
    with pytest.raises(ValueError, match="methods must be some of"):
        estimates_table(demo, match(demo), methods=("did", "lasso"))


@pytest.fixture
def fresh_app(demo_dir, monkeypatch, memo_restored):
    """The app on the demo, with no shared results cache (each rendering computes) and an empty memo."""
    from app import create_app

    monkeypatch.setenv(ENV_VAR, "")
    monkeypatch.setenv("PIONEERS_CACHE", "none")
    app = create_app(demo_dir)
    clear_caches()
    yield app
    clear_caches()


def test_first_page_needs_nothing_after_the_master_rendered_it(fresh_app, monkeypatch):
    """What the overview shows on its default basis comes from the memo the master filled before
    fork by rendering "/"; synthetic control, which it does not show, is not computed for it."""
    from serving.gunicorn_app import render_first_page

    asked: list[tuple[str, ...]] = []
    original = results.estimates_table

    def spy(*args, **kwargs):
        asked.append(tuple(kwargs["methods"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(results, "estimates_table", spy)
    render_first_page(fresh_app)
    assert asked  # negative control: the spy sees the computation the master does
    assert "scm" not in {m for methods in asked for m in methods}

    def refuse(*args, **kwargs):
        raise AssertionError("the first page computed estimates after the master had rendered it")

    monkeypatch.setattr(results, "estimates_table", refuse)
    with fresh_app.server.test_request_context("/"):
        page = next(p for p in dash.page_registry.values() if p["path"] == "/")
        html_json = json.dumps(page["layout"](), cls=PlotlyJSONEncoder)
    assert "Overview: every Pioneer site and indicator" in html_json
    with pytest.raises(AssertionError, match="after the master"):
        results.overview("scm", "la")  # not rendered: it would compute


def test_app_import_leaves_scipy_stats_out():
    """scipy.stats added about a second to every server start; the estimators use scipy.special."""
    code = ("import sys; import app; before = 'scipy.stats' in sys.modules; import scipy.stats; "
            "print(before, 'scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]  # the second: the check sees the module once imported
