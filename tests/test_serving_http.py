"""Headers, compression, health, error pages and the shared results cache, in-process."""
from __future__ import annotations

import logging
import os
import socket
import zlib
from pathlib import Path

import pytest
from flask import Flask

from analysis import cache as results_cache
from analysis.cache import CacheSettings, result_key, shared_result
from data.errors import DataError
from serving.web import GENERIC_ERROR, WebSettings, content_security_policy


@pytest.fixture(scope="module")
def client(demo_dir):
    from data.active import set_active_dataset
    from tests.serving_support import shared_app

    old = os.environ.get("PIONEERS_DATA")
    app = shared_app()
    set_active_dataset(demo_dir)
    yield app.server.test_client()
    if old:
        set_active_dataset(old)


def test_security_headers_on_pages_and_callbacks(client):
    for r in (client.get("/"), client.get("/_dash-layout"), client.get("/healthz")):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in csp and "object-src 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]  # scripts: self + hashes only


def test_csp_allows_exactly_dashs_inline_scripts(client):
    import base64
    import hashlib
    import re

    html = client.get("/").get_data(as_text=True)
    html = re.sub(r"<!--\[if IE\]>.*?<!\[endif\]-->", "", html, flags=re.S)  # only Internet Explorer runs these
    script_src = client.get("/").headers["Content-Security-Policy"].split("script-src ")[1].split(";")[0].split()
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", html, re.S)
    assert inline, "Dash's index page has inline scripts; the policy must cover them"
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src, f"inline script not allowed by the CSP: {body[:80]!r}"


def test_csp_eval_only_when_asked():
    assert "'unsafe-eval'" not in content_security_policy([], WebSettings())
    assert "'unsafe-eval'" in content_security_policy([], WebSettings(csp_eval=True))


def test_responses_are_compressed(client):
    r = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and b"<html" in zlib.decompress(r.get_data(), 47)
    suites = client.get("/_dash-dependencies", headers={"Accept-Encoding": "br"})
    assert suites.headers.get("Content-Encoding") == "br"
    plain = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers


def test_health_reports_dataset(client, demo):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.json["status"] == "ok" and r.json["verified"] is True
    assert r.json["checksum"] == demo.checksum and r.json["dataset"] == demo.label
    assert r.headers["Cache-Control"] == "no-store"


def test_unexpected_errors_are_generic_and_logged(caplog):
    from serving.web import _install_error_handlers

    class FakeDash:
        callback_map: dict = {}

    server = Flask("t")
    _install_error_handlers(FakeDash(), server)

    @server.route("/boom")
    def boom():
        raise RuntimeError("secret detail /etc/passwd")

    with caplog.at_level(logging.ERROR, "pioneers.serving"):
        r = server.test_client().get("/boom")
    assert r.status_code == 500 and r.get_data(as_text=True) == GENERIC_ERROR
    assert "secret detail" in caplog.text  # logged server-side, not sent
    r = server.test_client().get("/missing<script>")
    assert r.status_code == 404 and r.get_data(as_text=True) == "404 Not Found"


def test_cache_settings_from_environment(tmp_path):
    s = CacheSettings.from_env({"PIONEERS_CACHE_DIR": str(tmp_path)})
    assert s.flask_config()["CACHE_TYPE"] == "FileSystemCache" and s.flask_config()["CACHE_DIR"] == str(tmp_path)
    r = CacheSettings.from_env({"PIONEERS_REDIS_URL": "redis://127.0.0.1:6399/2"})
    assert r.backend == "redis" and r.flask_config() == {"CACHE_TYPE": "RedisCache",
                                                         "CACHE_REDIS_URL": "redis://127.0.0.1:6399/2",
                                                         "CACHE_DEFAULT_TIMEOUT": 0, "CACHE_KEY_PREFIX": "pioneers:"}
    with pytest.raises(DataError, match="PIONEERS_REDIS_URL"):
        CacheSettings.from_env({"PIONEERS_CACHE": "redis"})
    with pytest.raises(DataError, match="one of"):
        CacheSettings.from_env({"PIONEERS_CACHE": "memcached"})


def test_result_keys_name_dataset_and_comparator_version():
    a = result_key("estimates", "aaaa", "v1", ("ea_all",), {"k": 5})
    assert a == result_key("estimates", "aaaa", "v1", ("ea_all",), {"k": 5})
    assert len({a, result_key("estimates", "bbbb", "v1", ("ea_all",), {"k": 5}),
                result_key("estimates", "aaaa", "v2", ("ea_all",), {"k": 5}),
                result_key("estimates", "aaaa", "v1", ("ea_65",), {"k": 5}),
                result_key("trend", "aaaa", "v1", ("ea_all",), {"k": 5})}) == 5
    assert "/aaaa/v1/" in a


def _two_workers(settings: CacheSettings):
    """Two Flask servers with their own Cache objects on one backend: what two gunicorn workers hold."""
    from flask_caching import Cache

    caches = []
    for name in ("worker1", "worker2"):
        server = Flask(name)
        cache = Cache()
        cache.init_app(server, config=settings.flask_config())
        cache.app = server
        caches.append(cache)
    return caches


def test_filesystem_cache_is_shared_between_workers(tmp_path, demo, monkeypatch):
    settings = CacheSettings(directory=tmp_path / "shared")
    settings.directory.mkdir()
    worker1, worker2 = _two_workers(settings)
    calls = []

    def estimates(dataset, indicator_id, *, k=5):
        calls.append(indicator_id)
        return {"indicator": indicator_id, "rows": len(dataset.observations), "k": k}

    monkeypatch.setitem(results_cache._state, "ready", True)
    monkeypatch.setattr(results_cache, "results", worker1)
    cached = shared_result("estimates", comparator_version=lambda ds, ind, **kw: f"k{kw.get('k', 5)}")(estimates)
    first = cached(demo, "ea_all", k=5)
    monkeypatch.setattr(results_cache, "results", worker2)  # the other worker asks the same question
    assert cached(demo, "ea_all", k=5) == first and calls == ["ea_all"]
    cached(demo, "ea_all", k=10)  # another comparator version is another result
    assert calls == ["ea_all", "ea_all"]
    assert len(list(settings.directory.iterdir())) >= 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_backend_configured_and_unreachable_server_falls_back(demo, monkeypatch, caplog):
    """No Redis server runs here: the backend is really a RedisCache, and a dead server costs a
    warning and a direct computation, not a failed page."""
    pytest.importorskip("redis")
    settings = CacheSettings(backend="redis", redis_url=f"redis://127.0.0.1:{_free_port()}/0")
    worker, _ = _two_workers(settings)
    assert type(worker.cache).__name__ == "RedisCache"
    monkeypatch.setitem(results_cache._state, "ready", True)
    monkeypatch.setattr(results_cache, "results", worker)
    cached = shared_result("trend")(lambda dataset, site: f"{site}:{dataset.checksum}")
    with caplog.at_level(logging.WARNING, "pioneers.cache"):
        assert cached(demo, "barnsley") == f"barnsley:{demo.checksum}"
    assert "unreachable" in caplog.text


def test_redis_setting_without_client_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_redis(name, *args, **kwargs):
        if name == "redis":
            raise ImportError("no redis")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_redis)
    with pytest.raises(DataError, match="pip install"):
        results_cache.init_results_cache(Flask("x"), CacheSettings(backend="redis", redis_url="redis://h:1/0"))



def test_pages_are_encoded_by_orjson_with_the_values_of_the_standard_encoder(client):
    """Dash encodes its responses with plotly's encoder, which uses orjson when it is installed (a
    project dependency, for speed); the page cache keeps a layout as the values of its own encoder
    (serving.web.page_json, orjson walking the page). Three pages' layouts as built (figures with
    numpy arrays, tables, links), encoded all three ways, give the same values."""
    import inspect
    import json

    import dash
    import plotly.io as pio
    from dash._utils import to_json
    from dash.development.base_component import Component

    from serving.web import page_json

    assert pio.json.config.default_engine == "auto" and to_json({"x": 1.5}) == '{"x":1.5}'  # orjson's spacing
    pages = [("layouts.site", {"site_id": "leeds"}), ("layouts.indicator", {"indicator_id": "dtoc", "anon": "1"}),
             ("layouts.site_indicator", {"site_id": "leeds", "indicator_id": "ea_all", "geo": "ccg"})]
    for module, arguments in pages:
        layout = inspect.unwrap(dash.page_registry[module]["layout"])(**arguments)  # the page's own function
        assert isinstance(layout, Component), module
        encoded = {}
        for engine in ("orjson", "json"):
            pio.json.config.default_engine = engine
            try:
                encoded[engine] = to_json(layout)
            finally:
                pio.json.config.default_engine = "auto"
        assert encoded["orjson"] != encoded["json"], module  # two encoders did write it
        assert json.loads(encoded["orjson"]) == json.loads(encoded["json"]), module
        assert page_json(layout) == json.loads(encoded["json"]), module
