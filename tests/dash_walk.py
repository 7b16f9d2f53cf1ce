"""Walk the dashboard the way a browser does, from the app's own callback map and layouts (test tooling).

The Dash renderer loads /_dash-layout and /_dash-dependencies, asks the page router callback
for the page's content, then fires every callback whose inputs and outputs are on the page;
a person then changes controls (a radio, a dropdown, a switch), firing callbacks with that
property as the changed one. This module builds exactly those request bodies, so the load test,
the memory benchmark and the serving tests exercise every callback the app registers,
including ones added after this was written. Production code never imports it.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

ROUTER_OUTPUT_PREFIX = ".._pages_content.children"
TEMPLATE_VAR = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


class Transport(Protocol):
    def get(self, path: str) -> tuple[int, bytes]: ...
    def post_json(self, path: str, body: dict) -> tuple[int, bytes]: ...


def parse_id(raw: Any) -> Any:
    """An id as the renderer sends it: a string, or a dict for pattern-matching ids."""
    if isinstance(raw, str) and raw.startswith("{"):
        return json.loads(raw)
    return raw


def id_key(cid: Any) -> str:
    return json.dumps(cid, sort_keys=True) if isinstance(cid, dict) else str(cid)


def parse_outputs(output: str) -> list[tuple[Any, str]]:
    """'..a.children...b.data..' or 'a.children' -> [(id, property), ...]."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    result = []
    for part in parts:
        cid, prop = part.rsplit(".", 1)
        result.append((parse_id(cid), prop))
    return result


def components_by_id(tree: Any) -> dict[str, dict]:
    """id key -> {"id", "type", "props"} for every component with an id in a layout JSON tree."""
    found: dict[str, dict] = {}

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and "type" in node:
                if "id" in props:
                    found[id_key(props["id"])] = {"id": props["id"], "type": node["type"], "props": props}
                for value in props.values():
                    visit(value)
            else:
                for value in node.values():
                    visit(value)

    visit(tree)
    return found


def _matches(pattern: dict, concrete: Any) -> bool:
    if not isinstance(concrete, dict) or set(pattern) != set(concrete):
        return False
    return all(isinstance(v, list) or concrete[k] == v for k, v in pattern.items())


def _bind(pattern: Any, bound: dict) -> Any:
    """Replace MATCH wildcards in a pattern id by the values of one concrete component."""
    if not isinstance(pattern, dict):
        return pattern
    return {k: bound.get(k, v) if v == ["MATCH"] else v for k, v in pattern.items()}


@dataclass
class Walker:
    """Builds callback request bodies for one browser session's view of the app."""

    dependencies: list[dict]
    known: dict[str, dict] = field(default_factory=dict)  # components on the current page

    def _value(self, cid: Any, prop: str) -> Any:
        comp = self.known.get(id_key(cid))
        return None if comp is None else comp["props"].get(prop)

    def _dep_values(self, deps: list[dict], bound: dict) -> list | None:
        values = []
        for dep in deps:
            cid = _bind(parse_id(dep["id"]), bound)
            if isinstance(cid, dict) and any(v == ["ALL"] for v in cid.values()):
                values.append([{"id": c["id"], "property": dep["property"], "value": c["props"].get(dep["property"])}
                               for c in self.known.values() if _matches(cid, c["id"])])
                continue
            if id_key(cid) not in self.known:
                return None
            values.append({"id": cid, "property": dep["property"], "value": self._value(cid, dep["property"])})
        return values

    def body(self, dep: dict, bound: dict | None = None, changed: list[str] | None = None) -> dict | None:
        """The request the renderer would send for ``dep`` on the current page, or None if it is not on it."""
        bound = bound or {}
        outs = [(_bind(cid, bound), prop) for cid, prop in parse_outputs(dep["output"])]
        if not all(id_key(cid) in self.known for cid, _ in outs):
            return None
        inputs = self._dep_values(dep["inputs"], bound)
        state = self._dep_values(dep.get("state", []), bound)
        if inputs is None or state is None:
            return None
        outputs = [{"id": cid, "property": prop} for cid, prop in outs]
        return {"output": dep["output"], "outputs": outputs if dep["output"].startswith("..") else outputs[0],
                "inputs": inputs, "state": state, "changedPropIds": changed or []}

    def server_callbacks(self) -> Iterator[dict]:
        return (d for d in self.dependencies if not d.get("clientside_function")
                and not d["output"].startswith(ROUTER_OUTPUT_PREFIX))

    def _bindings(self, dep: dict) -> list[dict]:
        """For MATCH callbacks, one binding per concrete component matching the first input."""
        first = parse_id(dep["inputs"][0]["id"]) if dep["inputs"] else None
        if not (isinstance(first, dict) and ["MATCH"] in first.values()):
            return [{}]
        return [c["id"] for c in self.known.values() if _matches(first, c["id"])]

    def initial_bodies(self) -> list[dict]:
        """What the renderer fires when the page appears (callbacks without prevent_initial_call)."""
        bodies = []
        for dep in self.server_callbacks():
            if dep.get("prevent_initial_call"):
                continue
            for bound in self._bindings(dep):
                body = self.body(dep, bound)
                if body is not None:
                    bodies.append(body)
        return bodies

    def interaction_bodies(self, limit_per_control: int = 3) -> list[dict]:
        """A person changing each control on the page: another option of a radio or dropdown,
        a switch flipped, a button clicked."""
        bodies = []
        for dep in self.server_callbacks():
            for bound in self._bindings(dep):
                for inp in dep["inputs"]:
                    cid = _bind(parse_id(inp["id"]), bound)
                    comp = self.known.get(id_key(cid))
                    if comp is None:
                        continue
                    for new in _alternatives(comp, inp["property"])[:limit_per_control]:
                        saved = comp["props"].get(inp["property"])
                        comp["props"][inp["property"]] = new
                        body = self.body(dep, bound, changed=[f"{id_key(cid)}.{inp['property']}"])
                        comp["props"][inp["property"]] = saved
                        if body is not None:
                            bodies.append(body)
        return bodies


def _option_values(options: Any) -> list:
    if isinstance(options, dict):
        return list(options)
    values = []
    for opt in options or []:
        values.append(opt.get("value") if isinstance(opt, dict) else opt)
    return values


def _alternatives(comp: dict, prop: str) -> list:
    props = comp["props"]
    current = props.get(prop)
    if prop == "value" and "options" in props:
        return [v for v in _option_values(props["options"]) if v != current and not isinstance(current, list)] or (
            [_option_values(props["options"])[:1]] if isinstance(current, list) else [])
    if prop == "value" and isinstance(current, bool):
        return [not current]
    if prop == "n_clicks":
        return [(current or 0) + 1]
    return []


def router_body(dependencies: list[dict], pathname: str, search: str = "") -> dict:
    """The Dash pages router request for a URL (what a click on a link sends)."""
    dep = next(d for d in dependencies if d["output"].startswith(ROUTER_OUTPUT_PREFIX))
    outputs = [{"id": cid, "property": prop} for cid, prop in parse_outputs(dep["output"])]
    values = {"pathname": pathname, "search": search}
    return {"output": dep["output"], "outputs": outputs,
            "inputs": [{"id": i["id"], "property": i["property"], "value": values.get(i["property"])}
                       for i in dep["inputs"]],
            "state": [{"id": s["id"], "property": s["property"], "value": None} for s in dep.get("state", [])],
            "changedPropIds": ["_pages_location.pathname"]}


def page_paths(registry: list[dict], values: dict[str, list[str]], per_template: int | None = None) -> list[str]:
    """Every page's URL: static paths, and each path template filled from ``values`` (variable
    name -> ids, e.g. site_id -> the 25 sites). Templates with an unknown variable are left out."""
    paths = []
    for page in registry:
        template = page.get("path_template")
        if not template:
            paths.append(page["path"])
            continue
        names = TEMPLATE_VAR.findall(template)
        if not all(n in values for n in names):
            continue
        combos: list[dict] = [{}]
        for name in names:
            choices = values[name][:per_template] if per_template else values[name]
            combos = [{**c, name: v} for c in combos for v in choices]
        for combo in combos:
            paths.append(TEMPLATE_VAR.sub(lambda m: combo[m.group(1)], template))
    return paths


def app_paths(dataset, per_template: int | None = None) -> list[str]:
    """Every page URL of the app (its page registry, read in this process) for ``dataset``."""
    import dash

    from app import create_app

    create_app()
    registry = [p for p in dash.page_registry.values() if not p["module"].endswith("not_found_404")]
    return page_paths(registry, dataset_path_values(dataset), per_template=per_template)


def dataset_path_values(dataset) -> dict[str, list[str]]:
    """Values for the path variables the pages use, from the dataset being served."""
    sites = [str(s) for s in dataset.sites["site_id"]]
    indicators = [str(i) for i in dataset.catalogue["indicator_id"]]
    return {"site_id": sites, "code": sites, "indicator_id": indicators}


def trace_types(tree: Any) -> set[str]:
    """The plotly trace types of every figure anywhere in a layout or callback response."""
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            figure = node.get("figure")
            if isinstance(figure, dict) and isinstance(figure.get("data"), list):
                found.update(trace.get("type", "scatter") for trace in figure["data"] if isinstance(trace, dict))
            for value in node.values():
                visit(value)

    visit(tree)
    return found


@dataclass
class Step:
    kind: str  # page | layout | dependencies | router | callback | asset
    path: str
    status: int
    seconds: float
    size: int


class Session:
    """One browser tab: loads the shell once, then moves between pages and uses their controls."""

    def __init__(self, transport: Transport, fetch_assets: bool = False) -> None:
        self.t = transport
        self.fetch_assets = fetch_assets
        self.steps: list[Step] = []
        self.walker: Walker | None = None
        self.shell: dict[str, dict] = {}
        self.trace_types: set[str] = set()  # of every figure the server sent

    def _timed(self, kind: str, path: str, call) -> tuple[int, bytes]:
        t0 = time.perf_counter()
        status, data = call()
        self.steps.append(Step(kind, path, status, time.perf_counter() - t0, len(data)))
        return status, data

    def _post(self, body: dict, kind: str = "callback", label: str | None = None) -> tuple[int, Any]:
        status, data = self._timed(kind, label or body["output"][:80],
                                   lambda: self.t.post_json("/_dash-update-component", body))
        if status == 200 and data:
            try:
                answer = json.loads(data)
            except ValueError:
                return status, None
            self.trace_types |= trace_types(answer)
            return status, answer
        return status, None

    def open(self, path: str) -> None:
        """A full page load: HTML, (assets), layout, dependencies, router, initial callbacks."""
        status, html_bytes = self._timed("page", path, lambda: self.t.get(path))
        if self.fetch_assets and status == 200:
            for src in re.findall(rb'src="(/_dash-component-suites/[^"]+)"', html_bytes) + \
                    re.findall(rb'href="(/assets/[^"]+)"', html_bytes):
                self._timed("asset", src.decode(), lambda s=src.decode(): self.t.get(s))
        _, layout = self._timed("layout", "/_dash-layout", lambda: self.t.get("/_dash-layout"))
        _, deps = self._timed("dependencies", "/_dash-dependencies", lambda: self.t.get("/_dash-dependencies"))
        self.shell = components_by_id(json.loads(layout))
        self.walker = Walker(json.loads(deps))
        self._show(path, fire_shell=True)

    def navigate(self, path: str) -> None:
        """A click on a link inside the app: router callback and the new page's callbacks."""
        self._show(path, fire_shell=False)

    def _show(self, path: str, fire_shell: bool) -> None:
        assert self.walker is not None, "open() a page first"
        pathname, _, search = path.partition("?")
        status, answer = self._post(router_body(self.walker.dependencies, pathname, f"?{search}" if search else ""),
                                    kind="router", label=path)
        page = {}
        if status == 200 and answer:
            page = components_by_id(answer.get("response", {}).get("_pages_content", {}).get("children"))
        location = {"pathname": pathname, "search": f"?{search}" if search else "", "href": path}
        known = {**self.shell, **page}
        for comp in known.values():
            if comp["type"] == "Location":
                comp["props"].update(location)
        before = set(self.shell)
        self.walker.known = known
        for body in self.walker.initial_bodies():
            ids = {id_key(i["id"]) for i in body["inputs"] if isinstance(i, dict)}
            if fire_shell or not ids <= before:
                self._post(body)

    def use_controls(self, limit_per_control: int = 2, downloads: bool = False) -> None:
        """Change each control on the page; file downloads only if asked (people rarely do)."""
        assert self.walker is not None
        for body in self.walker.interaction_bodies(limit_per_control):
            if downloads or not self._is_download(body):
                self._post(body)

    def _is_download(self, body: dict) -> bool:
        outs = body["outputs"] if isinstance(body["outputs"], list) else [body["outputs"]]
        assert self.walker is not None
        return any(self.walker.known.get(id_key(o["id"]), {}).get("type") == "Download" for o in outs)


class FlaskTransport:
    """In-process transport over Flask's test client (tests, memory benchmark)."""

    def __init__(self, client) -> None:
        self.client = client

    def get(self, path: str) -> tuple[int, bytes]:
        r = self.client.get(path)
        return r.status_code, r.get_data()

    def post_json(self, path: str, body: dict) -> tuple[int, bytes]:
        r = self.client.post(path, json=body)
        return r.status_code, r.get_data()


class HttpTransport:
    """A keep-alive HTTP/1.1 connection to a running server, as one browser would hold."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname, parts.port or 80, timeout
        self._conn = None

    def _request(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        import http.client

        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, data
            except (ConnectionError, http.client.HTTPException):
                self.close()  # the server closed a kept-alive connection: reconnect once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, bytes]:
        return self._request("GET", path, None, {"Accept-Encoding": "identity"})

    def post_json(self, path: str, body: dict) -> tuple[int, bytes]:
        return self._request("POST", path, json.dumps(body).encode(),
                             {"Content-Type": "application/json", "Accept-Encoding": "identity"})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
