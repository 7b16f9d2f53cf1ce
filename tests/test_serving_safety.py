"""Server hardening from issue 13: anonymised-only mode against forged requests (item 7), banded
denominators (8), text-only exports (9), dataset faults as 503 and banner (11), forged values as
400 (12), the page cache keyed on known parameters and path traversal (13)."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from layouts.components.anonymise import find_real_names, real_names

ANONYMISED_ONLY_ENV = "PIONEERS_ANONYMISED_ONLY"  # what `pioneers serve --anonymised-only` sets
from tests.browser.dash_http import csv_download_body, download_body, page_body

SITE_PATHS = ["/site/barnsley", "/site/barnsley/indicator/ea_all", "/site/greater-manchester/indicator/dtoc",
              "/site/pioneer-c", "/", "/indicators", "/indicator/ea_all", "/indicator/dtoc", "/matching", "/data",
              "/Barnsley", "/site/Barnsley", "/indicator/Leeds", "/data/Kent", "/programme"]
SEARCHES = ["", "?anon=0", "?anon=false&present=1", "?basis=its&anon=", "?utm_source=1&anon=no",
            "?geo=ccg&anon=0", "?geo=Barnsley"]
CHART_KINDS = ["trend", "site_multiples", "event", "its", "spc", "caterpillar", "funnel", "indicator_multiples",
               "pooled", "love", "site_love", "sensitivity"]


@pytest.fixture(scope="module")
def app(demo_dir):
    from data.active import set_active_dataset
    from tests.serving_support import shared_app

    old = os.environ.get("PIONEERS_DATA")
    app = shared_app()
    set_active_dataset(demo_dir)
    yield app
    if old:
        set_active_dataset(old)


@pytest.fixture(scope="module")
def client(app):
    return app.server.test_client()


@pytest.fixture(scope="module")
def forbidden(demo) -> list[str]:
    return real_names(demo.sites, demo.areas)


def _site_id_of(demo, name: str) -> str:
    return demo.sites.set_index("name").at[name, "site_id"]


def _texts_of_response(r) -> list[tuple[str, str]]:
    """(what, text) pairs to scan: the body, any download's content and file name, xlsx sheets and cells."""
    out = [("body", r.get_data(as_text=True)), ("location", r.headers.get("Location", ""))]
    if r.mimetype == "application/json":
        try:
            payload = json.loads(r.get_data())
        except ValueError:
            return out
        for value in (payload.get("response") or {}).values() if isinstance(payload, dict) else []:
            for data in value.values() if isinstance(value, dict) else []:
                if isinstance(data, dict) and "filename" in data:
                    out.append(("filename", data["filename"]))
                    if data.get("base64"):
                        raw = base64.b64decode(data["content"])
                        if raw[:2] == b"PK":
                            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                                out += [(f"xlsx:{n}", z.read(n).decode("utf-8", "replace")) for n in z.namelist()]
    return out


def _forged_requests(client, demo, sample: bool = False) -> list:
    """Everything a visitor could send without ?anon=1: pages, layouts, router calls, every callback of
    each page, the mode switch flipped off, every chart's CSV with anon:false, the workbook and grid.
    ``sample``: the same kinds of request, each for one site and fewer variants (the negative control)."""
    from tests.dash_walk import FlaskTransport, Session

    responses = []
    for path in SITE_PATHS[:2] if sample else SITE_PATHS:
        for search in SEARCHES[:2] if sample else SEARCHES:
            responses.append(client.get(path + search, follow_redirects=True))
            responses.append(client.post("/_dash-update-component", json=page_body(path, search)))
    responses.append(client.get("/_dash-layout"))
    responses.append(client.get("/healthz"))

    class Recording(FlaskTransport):
        def get(self, path):
            r = self.client.get(path, follow_redirects=True)
            responses.append(r)
            return r.status_code, r.get_data()

        def post_json(self, path, body):
            r = self.client.post(path, json=body)
            responses.append(r)
            return r.status_code, r.get_data()

    session = Session(Recording(client))
    for path in ["/site/barnsley"] if sample else ["/site/barnsley", "/site/barnsley/indicator/ea_all", "/matching", "/"]:
        session.open(path)
        session.use_controls(limit_per_control=1, downloads=True)

    # The mode switch forged off while on a named path.
    deps = json.loads(client.get("/_dash-dependencies").get_data())
    sync = next(d for d in deps if "anon-switch.value" in d["output"] and "url.pathname" in d["output"])
    values = {"url.pathname": "/site/barnsley", "url.search": "", "anon-switch.value": False,
              "present-switch.value": False, "geo-switch.value": "la"}
    responses.append(client.post("/_dash-update-component", json={
        "output": sync["output"], "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]}
                                              for o in sync["output"].strip(".").split("...")],
        "inputs": [{"id": i["id"], "property": i["property"], "value": values[f"{i['id']}.{i['property']}"]}
                   for i in sync["inputs"]],
        "changedPropIds": ["anon-switch.value"]}))

    # Download keys edited to anon:false, for every chart kind, with real site ids.
    for site in ("barnsley",) if sample else ("barnsley", "greater-manchester", "pioneer-c"):
        for kind in CHART_KINDS:
            for geo in ("la",) if sample else ("la", "ccg"):
                key = json.dumps({"anon": False, "compact": False, "covariates": "", "indicator_id": "ea_all", "k": 5,
                                  "kind": kind, "method": "mahalanobis", "site": site, "geo": geo}, sort_keys=True,
                                 separators=(",", ":"))
                responses.append(client.post("/_dash-update-component", json=csv_download_body(key)))
    for search in ("",) if sample else ("", "?anon=0", "?geo=ccg&anon=0"):
        responses.append(client.post("/_dash-update-component",
                                     json=download_body("package-download", "package-button", search)))
        responses.append(client.post("/_dash-update-component",
                                     json=download_body("grid-csv-download", "grid-csv-button", search)))
    return responses


def _leaks(responses, forbidden) -> list[str]:
    found = []
    for r in responses:
        for what, text in _texts_of_response(r):
            names = find_real_names(text, forbidden)
            if names:
                found.append(f"{r.request.path if hasattr(r, 'request') else ''} {what}: {names[:5]}")
    return found


def _request_kind(r) -> str:
    """Which kind of forged request a response answers: a page, a callback, a download."""
    if r.request.path != "/_dash-update-component":
        return "page"
    body = r.get_data(as_text=True)
    if '"_pages_content"' in body:
        return "router"
    return "download" if '"filename"' in body else "callback"


def test_anonymised_only_server_never_returns_a_real_name(client, demo, forbidden, monkeypatch):
    monkeypatch.setenv(ANONYMISED_ONLY_ENV, "1")
    responses = _forged_requests(client, demo)
    assert len(responses) > 150
    assert all(r.status_code < 500 for r in responses), [r.status_code for r in responses if r.status_code >= 500]
    leaks = _leaks(responses, forbidden)
    assert not leaks, leaks[:10]
    # The named path is redirected before any HTML names the site.
    r = client.get("/site/barnsley")
    assert r.status_code == 302 and r.headers["Location"].startswith("/site/pioneer-")
    # The switch is on and cannot be turned off.
    shell = client.get("/_dash-layout").get_data(as_text=True)
    assert '"id": "anon-switch"' in shell.replace('"id":"anon-switch"', '"id": "anon-switch"')
    switch = next(c for c in _components(json.loads(shell)) if c["props"].get("id") == "anon-switch")
    assert switch["props"]["value"] is True and switch["props"]["disabled"] is True


def test_the_same_forged_requests_do_find_names_on_a_normal_server(client, demo, forbidden, monkeypatch):
    """Negative control: the scan can fail; without the mode, these requests name sites and LAs. The
    same kinds of request as above, for one site (the full set costs minutes and shows nothing more):
    every kind - page HTML, page router, other callbacks, downloads - names a site or LA."""
    monkeypatch.delenv(ANONYMISED_ONLY_ENV, raising=False)
    responses = _forged_requests(client, demo, sample=True)
    leaks = _leaks(responses, forbidden)
    assert any("Barnsley" in l for l in leaks) and any("filename" in l for l in leaks)
    named = {_request_kind(r) for r in responses if _leaks([r], forbidden)}
    assert named == {"page", "router", "callback", "download"}, named


def _components(tree):
    from tests.browser.dash_http import components

    return list(components(tree))


# ---- 8. banded denominators ----------------------------------------------------------------------

def test_anonymised_funnel_bands_denominators_in_chart_hover_and_csv(app, demo):
    from layouts.components import charts
    from layouts.components.anonymise import DENOMINATOR_BANDS

    named = charts.build(charts.ChartSpec("funnel", indicator_id="ea_all"))
    anon = charts.build(charts.ChartSpec("funnel", indicator_id="ea_all", anon=True))
    exact = set(named.table["Denominator"].round(0))
    assert len(exact) > 10  # the named chart shows exact sizes (the negative control)
    assert "Denominator" not in anon.table and "Denominator band" in anon.table
    bands = set(anon.table["Denominator band"])
    assert bands <= {"under 100,000", "100,000 to 250,000", "250,000 to 500,000", "500,000 to 1,000,000",
                     "1,000,000 or more"} and len(bands) < len(DENOMINATOR_BANDS) + 1
    fig = json.dumps(anon.figure.to_plotly_json(), default=str)
    for value in exact:
        assert f"{value:.0f}" not in fig.replace(".0,", ",") or value < 1000, f"exact denominator {value} in the figure"
    xs = {x for t in anon.figure.data if t.mode == "markers" for x in t.x}
    assert len(xs) <= len(DENOMINATOR_BANDS)
    assert "bands" in anon.colour_note and "1,000,000 or more" in anon.colour_note
    gm = demo.sites.set_index("name").at["Greater Manchester", "anon_label"]
    assert anon.table.set_index("Site").at[gm, "Denominator band"] == "1,000,000 or more"


# ---- 9. formula injection -------------------------------------------------------------------------

def test_exports_write_text_as_text():
    from layouts.components.exports import workbook_bytes
    from layouts.components.tables import as_text, csv_text

    evil = pd.DataFrame({"Site": ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(1)", "Leeds"],
                         "Value": [-1.5, 2.0, 3.0, 4.0], "Label": ["-0.5", "-", "-x", "ok"]})
    with zipfile.ZipFile(io.BytesIO(workbook_bytes([("S", evil)]))) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet, "a cell was written as a formula"
    assert "HYPERLINK" in sheet and "<hyperlink" not in sheet
    text = csv_text(evil, "notice", "title")
    assert "\n\"'=HYPERLINK" in text and "\n'+cmd" in text and "\n'@SUM" in text
    assert ",-1.5," in text and ",-0.5" in text and ",-\n" in text.replace("\r", "") and ",'-x" in text
    assert as_text(evil)["Value"].tolist() == [-1.5, 2.0, 3.0, 4.0]


# ---- 11. dataset faults: 503 and a banner, never 500 or a hang -----------------------------------

@pytest.fixture()
def own(demo_dir, tmp_path, app):
    from data.active import set_active_dataset

    ds = tmp_path / "ds"
    shutil.copytree(demo_dir, ds)
    set_active_dataset(ds)
    yield ds
    set_active_dataset(demo_dir)


def _fault_answers(client) -> tuple[int, str]:
    health = client.get("/healthz")
    shell = client.get("/_dash-layout")
    assert shell.status_code == 200, shell.get_data()[:200]
    assert b"cannot be read right now" in shell.get_data()
    for path in ("/site/barnsley", "/data"):
        r = client.post("/_dash-update-component", json=page_body(path))
        assert r.status_code == 200 and b"Traceback" not in r.get_data()
    return health.status_code, health.get_data(as_text=True)


@pytest.mark.parametrize("damage", ["manifest 123", "manifest list", "parquet is a directory", "parquet is a FIFO"])
def test_dataset_faults_give_503_and_a_banner(damage, own, client):
    target = own / "observations.parquet"
    if damage == "manifest 123":
        (own / "manifest.json").write_text("123")
    elif damage == "manifest list":
        (own / "manifest.json").write_text('["files"]')
    elif damage == "parquet is a directory":
        target.unlink()
        target.mkdir()
    else:
        target.unlink()
        os.mkfifo(target)
    result = {}
    worker = threading.Thread(target=lambda: result.update(answer=_fault_answers(client)), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "a request hung on the damaged dataset"
    status, body = result["answer"]
    assert status == 503 and '"verified": false' in body, body


def test_deep_health_check_finds_corruption_the_fast_check_cannot(own, client):
    target = own / "areas.parquet"
    st = target.stat()
    assert client.get("/healthz").status_code == 200
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with open(target, "r+b") as f:
        f.write(data)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert client.get("/healthz").status_code == 200  # documented: the fast check compares size, mtime, inode
    deep = client.get("/healthz?deep=1")
    assert deep.status_code == 503 and "areas.parquet" in deep.json["problem"]


# ---- 12. forged values: 400 with a plain message, not a data fault -------------------------------

def _matching_body(method, k, covariates, kauto=None, caliper=None):
    return {"output": "match-output.children", "outputs": {"id": "match-output", "property": "children"},
            "inputs": [{"id": "match-method", "property": "value", "value": method},
                       {"id": "match-k", "property": "value", "value": k},
                       {"id": "match-covariates", "property": "value", "value": covariates},
                       {"id": "match-kauto", "property": "value", "value": kauto or []},
                       {"id": "match-caliper", "property": "value", "value": caliper}],
            "state": [{"id": "url", "property": "search", "value": ""}],
            "changedPropIds": ["match-method.value"]}


@pytest.mark.parametrize("body", [
    _matching_body("foo", 5, ["deprivation"]),
    _matching_body([], 5, ["deprivation"]),
    _matching_body("mahalanobis", 5, "deprivation"),
    _matching_body("mahalanobis", {"x": 1}, ["deprivation"]),
    _matching_body("mahalanobis", 5, ["deprivation"], kauto=["yes"]),
    _matching_body("mahalanobis", 5, ["deprivation"], caliper={"x": 1}),
    csv_download_body('{"kind":"love","k":1000000,"method":"mahalanobis"}'),
    csv_download_body('{"kind":"love","caliper":1e300,"method":"mahalanobis"}'),
    csv_download_body('{"kind":"trend","method":"foo"}'),
    csv_download_body("not json"),
    csv_download_body('{"kind":"trend","site":["barnsley"]}'),
    csv_download_body('{"kind":"trend","extra":1}'),
    download_body("package-download", "package-button", ["?anon=1"]),
], ids=["method foo", "method []", "covariates text", "k object", "kauto forged", "caliper object",
        "k 10^6 in a key", "caliper 1e300 in a key", "method in a key",
        "key not JSON", "site a list", "unknown field", "search a list"])
def test_forged_values_get_400_not_a_data_fault(body, client):
    r = client.post("/_dash-update-component", json=body)
    text = r.get_data(as_text=True)
    assert r.status_code == 400, (r.status_code, text[:300])
    assert text.startswith("400 Bad Request") and "cannot be read right now" not in text
    assert "Traceback" not in text and len(text) < 300


def test_deeply_nested_json_gets_400(client):
    nested = "[" * 50_000 + "]" * 50_000
    r = client.post("/_dash-update-component", data=nested, content_type="application/json")
    assert r.status_code == 400 and "nested" in r.get_data(as_text=True)
    r = client.post("/_dash-update-component", json=_matching_body("euclidean", 5, ["deprivation"]))
    assert r.status_code == 200  # the real request still works


# ---- 13. other hardening -------------------------------------------------------------------------

def test_unknown_query_parameters_do_not_make_new_cached_pages(client, app):
    directory = Path(os.environ["PIONEERS_CACHE_DIR"])
    client.post("/_dash-update-component", json=page_body("/site/barnsley", "?basis=its"))
    before = sum(1 for p in directory.rglob("*") if p.is_file())
    assert before > 0, "the page was cached where this test looks"
    for n in range(30):
        r = client.post("/_dash-update-component", json=page_body("/site/barnsley", f"?basis=its&utm_source={n}"))
        assert r.status_code == 200
    assert sum(1 for p in directory.rglob("*") if p.is_file()) == before, \
        "each unknown query string was cached as a new page"


def test_known_arguments_keep_path_and_view_state_only(monkeypatch):
    from layouts.components.urlstate import known_arguments

    monkeypatch.delenv(ANONYMISED_ONLY_ENV, raising=False)
    assert known_arguments({"site_id": "barnsley", "utm_source": "9", "basis": "its", "k": "5"}, ("site_id",)) == \
        {"site_id": "barnsley", "basis": "its"}
    assert known_arguments({"anon": "yes", "basis": "nonsense"}, ()) == {"anon": "1"}
    monkeypatch.setenv(ANONYMISED_ONLY_ENV, "1")
    assert known_arguments({"site_id": "barnsley", "anon": "0"}, ("site_id",)) == {"site_id": "barnsley", "anon": "1"}


@pytest.mark.parametrize("path", ["/_dash-component-suites/../../etc/passwd",
                                  "/_dash-component-suites/dash/../../../../etc/passwd", "/assets/../app.py"])
def test_path_traversal_is_404(client, path):
    r = client.get(path)
    assert r.status_code == 404 and b"root:" not in r.get_data()
