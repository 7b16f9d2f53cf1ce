"""HTTP hardening of the Dash server: security headers, compression, a health endpoint, a guard
on callback requests, generic error pages, and a banner (never a stack trace) when the dataset
on disk is missing or altered.

``harden(app)`` is called once by ``create_app``; everything here works per request, so a fault
appearing or clearing under a running server is seen on the next page or callback.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dash
import orjson
from dash import html
from flask import Flask, Response, g, request
from flask_compress import Compress
from plotly.io.json import to_json_plotly
from werkzeug.exceptions import HTTPException

from analysis.cache import shared_result
from analysis.names import anonymised_only
from data.active import dataset_health, one_version
from data.errors import DataError

log = logging.getLogger("pioneers.serving")

BANNER_ID = "data-fault"
GENERIC_ERROR = "Something went wrong on the server. The error has been logged; please try again."
CALLBACK_PATH = "/_dash-update-component"


@dataclass(frozen=True)
class WebSettings:
    """Choices about what the server sends. Environment variables so every worker agrees.

    PIONEERS_CSP             on (default) | off: send a Content-Security-Policy
    PIONEERS_CSP_EVAL        off (default) | on: add 'unsafe-eval' to script-src (only if a chart type needs it)
    PIONEERS_FRAME_ANCESTORS 'self' by default: who may embed the dashboard in a frame
    PIONEERS_MAX_REQUEST_MB  largest request body accepted (default 4)
    PIONEERS_SHARE_PAGES     on (default) | off: keep rendered page layouts in the shared results cache
    """

    csp: bool = True
    csp_eval: bool = False
    frame_ancestors: str = "'self'"
    max_request_mb: float = 4.0
    share_pages: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WebSettings:
        env = os.environ if env is None else env
        on = {"on", "1", "true", "yes"}
        try:
            max_mb = float(env.get("PIONEERS_MAX_REQUEST_MB", "4"))
        except ValueError:
            raise DataError(f"PIONEERS_MAX_REQUEST_MB must be a number; got {env['PIONEERS_MAX_REQUEST_MB']!r}")
        return cls(csp=env.get("PIONEERS_CSP", "on").lower() in on,
                   csp_eval=env.get("PIONEERS_CSP_EVAL", "off").lower() in on,
                   frame_ancestors=env.get("PIONEERS_FRAME_ANCESTORS", "'self'"),
                   max_request_mb=max_mb, share_pages=env.get("PIONEERS_SHARE_PAGES", "on").lower() in on)


def content_security_policy(inline_script_hashes: list[str], settings: WebSettings) -> str:
    """A policy Dash runs under: scripts only from this server plus Dash's own hashed inline scripts.

    Styles need 'unsafe-inline' (Dash components and plotly set style attributes and inject
    <style> elements); images allow data: and blob: for plotly's image export and downloads.
    """
    script = ["'self'", *inline_script_hashes] + (["'unsafe-eval'"] if settings.csp_eval else [])
    directives = {
        "default-src": ["'self'"],
        "script-src": script,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": [settings.frame_ancestors],
    }
    return "; ".join(f"{k} {' '.join(v)}" for k, v in directives.items())


def public_problem(exc: DataError) -> str:
    """The error's message with server paths cut down to file names: enough to act on, no layout leak."""
    text = str(exc)
    if exc.file:
        text = text.replace(exc.file, Path(exc.file).name)
    return text


def fault_banner(problem: str | None, banner_id: str = BANNER_ID) -> html.Div:
    """The red strip at the top of every page while the dataset cannot be trusted."""
    if not problem:
        return html.Div(id=banner_id, hidden=True)
    return html.Div([
        html.Strong("The data behind this dashboard cannot be read right now. "),
        html.Span(problem),
        html.Span(" Figures are withheld until the dataset is restored; reload the page to try again."),
    ], id=banner_id, role="alert", className="alert alert-danger mb-2")


def _guard_shell(app: dash.Dash) -> None:
    """Wrap the layout function: show the banner when the dataset fails its check at page load."""
    shell = app.layout
    if not callable(shell) or getattr(shell, "_fault_guarded", False):
        return

    def guarded_shell():
        problem = dataset_health()["problem"]
        problem = _redact_paths(problem) if problem else None
        try:
            inner = shell()
        except DataError as exc:
            log.error("page shell could not be built: %s", exc)
            problem = problem or public_problem(exc)
            inner = html.Main(dash.page_container, id="main", role="main")
        return html.Div([fault_banner(problem), inner])

    guarded_shell._fault_guarded = True
    app.layout = guarded_shell


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _json_form(obj: Any) -> Any:
    """What orjson cannot write itself: a Dash component or a plotly figure by its own JSON form,
    anything else (a pandas timestamp, a numpy array orjson does not take) as plotly's encoder writes it."""
    to_plotly_json = getattr(obj, "to_plotly_json", None)
    if to_plotly_json is not None:
        return to_plotly_json()
    return orjson.loads(to_json_plotly(obj))


def page_json(layout: Any) -> Any:
    """A layout as the JSON values the browser receives: the values Dash's own encoder (plotly's, on
    orjson) gives. That encoder walks every node of the page in Python before orjson writes it; here
    orjson walks the page and asks `_json_form` only about components, figures and the odd array."""
    return orjson.loads(orjson.dumps(layout, default=_json_form, option=_JSON_OPTIONS))


def _shared_layout(module: str, layout: Callable) -> Callable:
    """A page's layout rendered once per dataset, code version and URL arguments, and kept in the
    shared results cache as the JSON the browser receives: a page is a pure function of its URL
    and the dataset, so every worker can answer a repeat visit without rebuilding its figures."""
    @shared_result(f"page/{module}")
    def rendered(**kwargs):
        return page_json(layout(**kwargs))

    return rendered


PageArguments = Callable[[dict, tuple[str, ...]], dict]
"""The app's rule for a page's URL arguments (path variables and the query), given by the app:
what it returns is what the page sees and what its shared cache entry is keyed on."""


def _all_arguments(kwargs: dict, path_variables: tuple[str, ...]) -> dict:
    return kwargs


def _guard_page(layout: Callable, render: Callable | None = None, path_variables: tuple[str, ...] = (),
                page_arguments: PageArguments = _all_arguments) -> Callable:
    render = render or layout

    def guarded_layout(**kwargs):
        try:
            return render(**page_arguments(kwargs, path_variables))
        except DataError as exc:
            log.error("page layout failed on the dataset: %s", exc)
            return html.Div([html.H1("Data unavailable"), fault_banner(public_problem(exc), "page-data-fault")])

    guarded_layout._fault_guarded = True
    guarded_layout.__wrapped__ = layout
    return guarded_layout


def guard_pages(share_layouts: bool = True, page_arguments: PageArguments = _all_arguments) -> None:
    """Every registered page answers a dataset fault with a banner instead of a failed callback,
    and (``share_layouts``) is served from the shared cache after its first rendering."""
    for module, page in dash.page_registry.items():
        layout = page.get("layout")
        if callable(layout) and not getattr(layout, "_fault_guarded", False):
            render = _shared_layout(module, layout) if share_layouts else None
            variables = tuple(re.findall(r"<(\w+)>", page.get("path_template") or ""))
            page["layout"] = _guard_page(layout, render, variables, page_arguments)


def on_callback_error(err: Exception) -> Any:
    """Dash's global callback error handler: a dataset fault becomes the banner; anything else
    goes on to the server's generic error page (and the log)."""
    if isinstance(err, DataError):
        log.error("callback failed on the dataset: %s", err)
        banner = fault_banner(public_problem(err))
        dash.set_props(BANNER_ID, {"children": banner.children, "hidden": False, "role": "alert",
                                   "className": banner.className})
        return None  # outputs keep their values
    raise err


def _dependency_shape_ok(declared: list[dict], sent: Any) -> bool:
    """Inputs or states in a callback request match the callback's declared ids and properties."""
    if not isinstance(sent, list) or len(sent) != len(declared):
        return False
    for want, got in zip(declared, sent):
        if isinstance(want["id"], dict) or str(want["id"]).startswith("{"):  # pattern-matching: dict or list (ALL)
            items = got if isinstance(got, list) else [got]
            if not all(isinstance(i, dict) and isinstance(i.get("id"), dict)
                       and i.get("property") == want["property"] for i in items):
                return False
        elif not (isinstance(got, dict) and got.get("id") == want["id"] and got.get("property") == want["property"]):
            return False
    return True


def callback_request_problem(app: dash.Dash, body: Any) -> str | None:
    """Why a callback request cannot be for a callback this app registered (None if it can)."""
    if not isinstance(body, dict):
        return "request body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in app.callback_map:
        return "unknown callback"
    spec = app.callback_map[output]
    if not _dependency_shape_ok(spec.get("inputs", []), body.get("inputs")):
        return "inputs do not match the callback"
    if not _dependency_shape_ok(spec.get("state", []), body.get("state", [])):
        return "state does not match the callback"
    if not isinstance(body.get("outputs"), (dict, list)):
        return "outputs missing"
    if "changedPropIds" in body and not (isinstance(body["changedPropIds"], list)
                                         and all(isinstance(p, str) for p in body["changedPropIds"])):
        return "changedPropIds must be a list of strings"
    return None


def _plain(message: str, status: int) -> Response:
    return Response(message, status=status, mimetype="text/plain")


def _install_error_handlers(app: dash.Dash, server: Flask) -> None:
    @server.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # A fixed phrase per status: nothing from the request is echoed back.
        if getattr(exc, "plain_description", False):  # the app's own words about what it expected
            log.warning("refused forged request on %s: %s", request.path, exc.description)
            return _plain(f"400 Bad Request: {exc.description}", 400)
        return _plain(f"{exc.code} {exc.name}", exc.code or 500)

    @server.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _plain(GENERIC_ERROR, 500)

    @server.before_request
    def guard_callback_requests():
        if ".." in request.path.split("/") or "\\" in request.path:  # no path climbs out of a folder
            return _plain("404 Not Found", 404)
        if request.path != CALLBACK_PATH or request.method != "POST":
            return None
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            return _plain("400 Bad Request: request body is nested too deeply", 400)
        problem = callback_request_problem(app, body)
        if problem:
            log.warning("refused callback request: %s", problem)
            return _plain(f"400 Bad Request: {problem}", 400)
        return None


def _install_headers(app: dash.Dash, server: Flask, settings: WebSettings) -> None:
    policy: dict[str, str] = {}

    @server.after_request
    def security_headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "SAMEORIGIN" if settings.frame_ancestors == "'self'" else "DENY")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if settings.csp:
            # Hashes are taken at the first response, after Dash has defined its inline scripts.
            if "value" not in policy:
                policy["value"] = content_security_policy(list(app.csp_hashes()), settings)
            h.setdefault("Content-Security-Policy", policy["value"])
        else:
            h.setdefault("Content-Security-Policy", f"frame-ancestors {settings.frame_ancestors}")
        if request.path == "/healthz" or request.path == CALLBACK_PATH:
            h.setdefault("Cache-Control", "no-store")
        return response


class _StaticOnlyCache:
    """flask-compress keeps compressed copies only of static files (component suites, assets);
    callback and page responses, which differ per request, are compressed afresh each time."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._store.get(key)

    def set(self, key: str, value: bytes) -> None:
        if "|static|" in key and len(self._store) < 512:
            self._store[key] = value


def _compression_key(req) -> str:
    if req.method == "GET" and (req.path.startswith("/_dash-component-suites/") or req.path.startswith("/assets/")):
        return f"|static|{req.full_path}"
    return f"|dynamic|{id(req)}"


def _install_compression(server: Flask) -> None:
    server.config.update(
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_MIMETYPES=["text/html", "text/css", "text/plain", "application/json",
                            "application/javascript", "text/javascript", "image/svg+xml"],
        COMPRESS_CACHE_BACKEND=_StaticOnlyCache,
        COMPRESS_CACHE_KEY=_compression_key,
        COMPRESS_MIN_SIZE=500,
    )
    Compress(server)


def _install_health(server: Flask) -> None:
    def healthz():
        # ?deep=1: hash every file and read every table (seconds on a large dataset), not just stat them.
        health = dataset_health(deep=request.args.get("deep", "").lower() in ("1", "true", "yes"))
        if health["problem"]:
            health["problem"] = _redact_paths(health["problem"])
        health["pid"] = os.getpid()
        return Response(json.dumps(health), status=200 if health["verified"] else 503, mimetype="application/json")

    server.add_url_rule("/healthz", "pioneers_healthz", healthz, methods=["GET"])


def _redact_paths(text: str) -> str:
    """Keep file names, drop the directories above them."""
    return " ".join(Path(w).name if "/" in w else w for w in text.split(" "))


_URL_META = re.compile(r'<meta\s+property="(?:twitter|og):url"\s+content="[^"]*"\s*/?>\s*')


def _install_anonymised_only(server: Flask) -> None:
    """On an anonymised-only server, Dash's index page must not echo the requested URL into its
    meta tags: a hand-typed /site/Barnsley would come back naming the site. Registered last, so it
    runs before compression."""
    @server.after_request
    def drop_echoed_url(response: Response) -> Response:
        if anonymised_only() and response.mimetype == "text/html" and not response.direct_passthrough:
            html_text = response.get_data(as_text=True)
            cleaned = _URL_META.sub("", html_text)
            if cleaned != html_text:
                response.set_data(cleaned)
        return response


def _install_one_version(server: Flask) -> None:
    """Each request reads the dataset once and builds everything from that version (data.active.one_version)."""
    @server.before_request
    def hold_one_version():
        g.one_version = one_version()
        g.one_version.__enter__()

    @server.teardown_request
    def release_one_version(_exc=None):
        held = g.pop("one_version", None)
        if held is not None:
            held.__exit__(None, None, None)


def harden(app: dash.Dash, settings: WebSettings | None = None, page_arguments: PageArguments = _all_arguments) -> None:
    """Install headers, compression, health, callback guard, error pages and fault banners.
    ``page_arguments`` is the app's rule for the URL arguments a page sees (and is cached under)."""
    settings = settings or WebSettings.from_env()
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = int(settings.max_request_mb * 1024 * 1024)
    server.config["PROPAGATE_EXCEPTIONS"] = False
    _install_error_handlers(app, server)
    _install_one_version(server)
    _install_headers(app, server, settings)
    _install_compression(server)
    _install_health(server)
    _install_anonymised_only(server)
    _guard_shell(app)
    guard_pages(settings.share_pages, page_arguments)
