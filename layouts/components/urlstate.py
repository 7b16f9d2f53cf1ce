"""The URL holds the view's state, so any view can be shared by link and opens the same.

Pure helpers between a query string and a `ViewState`. Only known keys survive a round trip;
defaults are left out of the URL so links stay short.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from urllib.parse import parse_qsl, urlencode

from data.store import GEOGRAPHIES
from matching.select import K_DEFAULT, K_RANGE, METHODS

BASES = {
    "did": "Matched-comparator difference-in-differences",
    "its": "Change in trend (interrupted time series)",
    "england": "England benchmark (latest period)",
    "spc": "SPC signal (Making Data Count)",
}
GEOGRAPHY_NAMES = {"la": "Local authorities", "ccg": "CCGs"}
"""The geography switch's labels, in its order (data.store.GEOGRAPHIES)."""


@dataclass(frozen=True)
class ViewState:
    anon: bool = False
    present: bool = False
    basis: str = "did"
    chart: str = ""
    k: int = K_DEFAULT
    method: str = "mahalanobis"
    geo: str = "la"


DEFAULT = ViewState()
_TRUE = {"1", "true", "yes", "on"}


def parse_query(search: str | dict | None) -> ViewState:
    """Read a query string ("?anon=1&basis=its") or Dash's query dict; unknown or bad values fall back."""
    if isinstance(search, dict):
        pairs = {k: str(v) for k, v in search.items()}
    else:
        pairs = dict(parse_qsl((search or "").lstrip("?")))
    basis = pairs.get("basis", DEFAULT.basis)
    method = pairs.get("method", DEFAULT.method)
    try:
        k = int(pairs.get("k", DEFAULT.k))
    except ValueError:
        k = DEFAULT.k
    return ViewState(
        anon=pairs.get("anon", "").lower() in _TRUE,
        present=pairs.get("present", "").lower() in _TRUE,
        basis=basis if basis in BASES else DEFAULT.basis,
        chart=pairs.get("chart", "") if pairs.get("chart", "").replace("_", "").isalnum() else "",
        k=min(max(k, K_RANGE[0]), K_RANGE[1]),
        method=method if method in METHODS else DEFAULT.method,
        geo=pairs.get("geo") if pairs.get("geo") in GEOGRAPHIES else DEFAULT.geo,
    )


def query_problem(search: str | dict | None) -> str | None:
    """Why a query cannot be shown (a forged or mistyped ``geo``), for a 400-style answer; None if fine.

    Other keys fall back to their defaults silently; the geography decides which units every number
    is about, so a page must never quietly show local authorities when CCGs were asked for."""
    if isinstance(search, dict):
        pairs = {k: str(v) for k, v in search.items()}
    else:
        pairs = dict(parse_qsl((search or "").lstrip("?")))
    if "geo" in pairs and pairs["geo"] not in GEOGRAPHIES:
        shown = pairs["geo"][:40]
        return f"Unknown geography {shown!r} in the address: use geo=la (local authorities) or geo=ccg (CCGs)."
    return None


def to_query(state: ViewState) -> str:
    """The query string for a state ("" when everything is default), with the leading "?"."""
    values = asdict(state)
    out = {}
    for key, value in values.items():
        if value == getattr(DEFAULT, key):
            continue
        out[key] = ("1" if value else "0") if isinstance(value, bool) else value
    return "?" + urlencode(out) if out else ""


def href(path: str, state: ViewState, **changes) -> str:
    """A link to ``path`` keeping the current state, with ``changes`` applied."""
    return path + to_query(replace(state, **changes) if changes else state)


def with_changes(state: ViewState, **changes) -> ViewState:
    return replace(state, **changes)
