"""Forged callback requests against the app: every callback it registers, discovered from
app.callback_map, gets unknown ids, wrong types, huge strings, HTML and script in every input,
and unknown site and indicator ids. Nothing may come back as a stack trace or as live HTML.
"""
from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dash_walk import parse_id, parse_outputs
from serving.web import GENERIC_ERROR
from tests.browser.dash_http import components

HTML_PAYLOADS = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>",
    "javascript:alert(1)", "</script><script>alert(2)</script>", "<iframe srcdoc='<b>x</b>'>",
    "{{7*7}}", "${7*7}", "'; DROP TABLE sites; --", "../../../../etc/passwd", "\x00\x01\ufffe",
    "E99999999", "not_an_indicator", "Z9", "pioneer-zz", "<b>bold</b>",
]
UNKNOWN_PATHS = ["/site/{p}", "/site/{p}/indicator/{p}", "/indicator/{p}", "/site/barnsley/indicator/{p}",
                 "/{p}", "/data?anon={p}&present={p}", "/?basis={p}&site={p}&chart={p}"]
TAG = re.compile(rb"<\s*(script|img|svg|iframe|b)\b", re.I)


def forged_app():
    from tests.serving_support import shared_app

    return shared_app()


def callback_keys() -> list[str]:
    return sorted(forged_app().callback_map)


def _text_values():
    return st.one_of(
        st.sampled_from(HTML_PAYLOADS),
        st.text(max_size=40),
        st.builds(lambda p, t: t.format(p=p), st.sampled_from(HTML_PAYLOADS), st.sampled_from(UNKNOWN_PATHS)),
        st.just("A" * 300_000),
        st.just("<script>" * 20_000),
    )


def _any_values():
    scalars = st.one_of(TEXT_VALUES, st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                        st.booleans(), st.none())
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                        max_leaves=8)


# Each strategy is built once: a strategy built afresh for every draw made Hypothesis analyse it again
# (its recursion and emptiness), which cost as much as handling the forged request.
TEXT_VALUES = _text_values()
ANY_VALUES = _any_values()


def _forge_id(declared, draw_text):
    cid = parse_id(declared) if isinstance(declared, str) else declared
    if isinstance(cid, dict):  # pattern-matching id: keep the keys, forge the wildcard values
        return {k: (draw_text if isinstance(v, list) else v) for k, v in cid.items()}
    return cid


@st.composite
def forged_bodies(draw, key: str):
    spec = forged_app().callback_map[key]
    kind = draw(st.sampled_from(["values", "values", "values", "shape"]))
    outputs = [{"id": _forge_id(cid, draw(TEXT_VALUES)), "property": prop} for cid, prop in parse_outputs(key)]
    def deps(declared):
        return [{"id": _forge_id(d["id"], draw(TEXT_VALUES)), "property": d["property"], "value": draw(ANY_VALUES)}
                for d in declared]
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": deps(spec["inputs"]), "state": deps(spec.get("state", [])),
            "changedPropIds": [f"{json.dumps(i['id']) if isinstance(i['id'], dict) else i['id']}.{i['property']}"
                               for i in spec["inputs"][:1]]}
    if kind == "shape":  # unknown component ids, wrong properties, wrong counts, wrong types
        mutation = draw(st.sampled_from(["unknown_id", "unknown_prop", "extra_input", "no_inputs", "inputs_dict",
                                         "output_garbage", "changed_garbage", "not_object"]))
        if mutation == "unknown_id" and body["inputs"]:
            body["inputs"][0]["id"] = draw(TEXT_VALUES)
        elif mutation == "unknown_prop" and body["inputs"]:
            body["inputs"][0]["property"] = draw(TEXT_VALUES)
        elif mutation == "extra_input":
            body["inputs"].append({"id": "nope", "property": "value", "value": draw(ANY_VALUES)})
        elif mutation == "no_inputs":
            body.pop("inputs")
        elif mutation == "inputs_dict":
            body["inputs"] = draw(ANY_VALUES)
        elif mutation == "output_garbage":
            body["output"] = draw(TEXT_VALUES)
        elif mutation == "changed_garbage":
            body["changedPropIds"] = draw(ANY_VALUES)
        else:
            body = draw(ANY_VALUES)
    return body


def check_response(response, body) -> None:
    data = response.get_data()
    assert b"Traceback" not in data and b'File "' not in data, f"stack trace returned for {str(body)[:300]}"
    if response.status_code >= 500:
        assert response.status_code == 500 and data.decode() == GENERIC_ERROR, (response.status_code, data[:300])
    assert not TAG.search(data), f"unescaped HTML returned: {data[:300]!r}"
    if response.status_code == 200 and response.mimetype == "application/json":
        text = data.decode()
        check_raw_html(json.loads(text), body)
        assert "javascript:alert" not in text.lower() or '"href"' not in text, "script URL echoed into a link"


RAW_HTML_ALLOWED = {"grid-markup"}
"""Components allowed to carry raw HTML: only the overview grid (layouts/components/grid.grid_table),
built from reference data with every text and attribute escaped (tests/test_dashboard_exports.py)."""


def _request_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _request_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _request_strings(v)]
    return []


def check_raw_html(payload, body) -> None:
    """No component but the grid may render raw HTML, and no markup-like request text may reach the grid."""
    hostile = [s for s in _request_strings(body) if any(ch in s for ch in "<>\"'") or "script" in s.lower()]

    for component in components(payload):
        props = component["props"]
        if props.get("dangerously_allow_html") is True:
            assert props.get("id") in RAW_HTML_ALLOWED, f"raw HTML allowed in component {props.get('id')!r}"
            markup = str(props.get("children", ""))
            assert not TAG.search(markup.encode()), f"unexpected tag in the grid markup: {markup[:200]!r}"
            leaked = [s for s in hostile if len(s) >= 3 and s in markup]
            assert not leaked, f"request text reached the grid markup: {leaked[:3]}"


@pytest.fixture(scope="module")
def client(demo_dir):
    old = os.environ.get("PIONEERS_DATA")
    from data.active import set_active_dataset

    app = forged_app()
    set_active_dataset(demo_dir)
    yield app.server.test_client()
    if old is not None:
        set_active_dataset(old)


def test_every_registered_callback_is_covered():
    keys = callback_keys()
    assert any(k.startswith(".._pages_content") for k in keys), "the page router must be among the callbacks"
    # Server-side callbacks only: clientside ones never reach the server.
    assert len(keys) >= 1


SLOW_CALLBACKS = {"package-download.data": 4, ".._pages_content": 10}
"""Forged bodies per callback where a valid-looking body costs seconds (a file package, a page
render); every other callback gets 25. Fixed numbers, so the run is the same on any machine."""


def _examples_for(key: str) -> int:
    return next((n for prefix, n in SLOW_CALLBACKS.items() if key.startswith(prefix)), 25)


@pytest.mark.parametrize("key", callback_keys())
def test_forged_callback_requests(client, key):
    @settings(max_examples=_examples_for(key), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=forged_bodies(key))
    def forged(body):
        response = client.post("/_dash-update-component", json=body)
        check_response(response, body)

    forged()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.builds(lambda p, t: t.format(p=p), st.sampled_from(HTML_PAYLOADS), st.sampled_from(UNKNOWN_PATHS)))
def test_unknown_site_and_indicator_urls(client, path):
    """The page router asked for pages of unknown sites and indicators, with script in the URL."""
    from tests.dash_walk import router_body

    deps = json.loads(client.get("/_dash-dependencies").get_data())
    pathname, _, search = path.partition("?")
    body = router_body(deps, pathname, f"?{search}" if search else "")
    response = client.post("/_dash-update-component", json=body)
    check_response(response, body)
    assert response.status_code in (200, 204), (path, response.status_code, response.get_data()[:200])


def test_non_json_and_oversized_bodies(client):
    r = client.post("/_dash-update-component", data=b"<script>alert(1)</script>", content_type="application/json")
    assert r.status_code == 400 and not TAG.search(r.get_data())
    r = client.post("/_dash-update-component", data=b"x" * (5 * 1024 * 1024), content_type="application/json")
    assert r.status_code == 413 and b"Traceback" not in r.get_data()
    r = client.get("/<script>alert(1)</script>")
    assert b"<script>alert(1)" not in r.get_data()  # Dash echoes the URL into meta tags, escaped


def test_raw_html_check_refuses_other_components_and_echoed_input():
    """The guard above can fail: raw HTML anywhere but the grid, or request text inside the grid."""
    grid = {"type": "Markdown", "props": {"id": "grid-markup", "dangerously_allow_html": True,
                                          "children": "<table><tr><td>Leeds</td></tr></table>"}}
    check_raw_html({"response": {"x": {"children": [grid]}}}, {"inputs": [{"value": "<img src=x>"}]})
    other = {"type": "Markdown", "props": {"id": "notes", "dangerously_allow_html": True, "children": "hi"}}
    with pytest.raises(AssertionError, match="raw HTML allowed"):
        check_raw_html({"response": [other]}, {})
    echoed = {"type": "Markdown", "props": {"id": "grid-markup", "dangerously_allow_html": True,
                                            "children": "<td>x'onmouseover=1</td>"}}
    with pytest.raises(AssertionError, match="request text reached"):
        check_raw_html({"response": [echoed]}, {"state": [{"value": "x'onmouseover=1"}]})
