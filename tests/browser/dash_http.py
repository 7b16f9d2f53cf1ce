"""Calling the running dashboard's Dash endpoints over HTTP, as the browser does (for bulk scans and the benchmark)."""
from __future__ import annotations

import json
import urllib.request

PAGE_OUTPUT = ".._pages_content.children..._pages_store.data.."


def post(base: str, body: dict, timeout: float = 120) -> dict:
    req = urllib.request.Request(base + "/_dash-update-component", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def page_body(pathname: str, search: str = "") -> dict:
    """The request the page router makes when the URL changes."""
    return {"output": PAGE_OUTPUT,
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"]}


def page(base: str, pathname: str, search: str = "") -> tuple[dict, str]:
    """The page's layout JSON and its title, as the router returns them."""
    resp = post(base, page_body(pathname, search))["response"]
    return resp["_pages_content"]["children"], resp["_pages_store"]["data"]["title"]


def csv_download_body(key: str) -> dict:
    out_id = {"type": "csv-download", "key": key}
    btn_id = {"type": "csv-button", "key": key}
    return {"output": json.dumps({"key": ["MATCH"], "type": "csv-download"}, separators=(",", ":")) + ".data",
            "outputs": {"id": out_id, "property": "data"},
            "inputs": [{"id": btn_id, "property": "n_clicks", "value": 1}],
            "state": [{"id": btn_id, "property": "id", "value": btn_id}],
            "changedPropIds": [json.dumps(btn_id, separators=(",", ":")) + ".n_clicks"]}


def csv_download(base: str, key: str) -> dict:
    """{"content", "filename", ...} of one chart's CSV download."""
    resp = post(base, csv_download_body(key))["response"]
    return next(iter(resp.values()))["data"]


def download_body(output: str, button: str, search: str) -> dict:
    return {"output": f"{output}.data", "outputs": {"id": output, "property": "data"},
            "inputs": [{"id": button, "property": "n_clicks", "value": 1}],
            "state": [{"id": "url", "property": "search", "value": search}],
            "changedPropIds": [f"{button}.n_clicks"]}


def download(base: str, output: str, button: str, search: str) -> dict:
    resp = post(base, download_body(output, button, search))["response"]
    return resp[output]["data"]


def components(tree):
    """Every Dash component (a dict with ``type`` and ``props``) anywhere in a layout or response."""
    if isinstance(tree, dict):
        if isinstance(tree.get("props"), dict):
            yield tree
        for v in tree.values():
            yield from components(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from components(v)


def csv_keys(layout) -> list[str]:
    """Every chart's download key in a layout (the pattern-matching ids of its CSV buttons)."""
    ids = (c["props"].get("id") for c in components(layout))
    return [cid["key"] for cid in ids if isinstance(cid, dict) and cid.get("type") == "csv-button"]
