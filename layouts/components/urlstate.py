"""The URL holds the view's state, so any view can be shared by link and opens the same.

Pure helpers between a query string and a `ViewState`. Only known keys survive a round trip;
defaults are left out of the URL so links stay short.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from urllib.parse import parse_qsl, urlencode

from werkzeug.exceptions import BadRequest

from analysis.names import anonymised_only
from data.store import GEOGRAPHIES
from matching.select import K_DEFAULT, K_RANGE, METHODS


class ForgedRequest(BadRequest):
    """A request no page of this app could have sent (a value outside its controls): answered with
    400 and this plain description, never as a data fault. The description never echoes the request."""

    plain_description = True  # serving answers it with this description (it echoes nothing sent)

    def __init__(self, description: str) -> None:
        super().__init__(description)


BASES = {
    "did": "Matched-comparator difference-in-differences",
    "its": "Change in trend (interrupted time series)",
    "scm": "Synthetic control",
    "england": "England benchmark (latest period)",
    "spc": "SPC signal (Making Data Count)",
}
ESTIMATORS = {"did": "Matched difference-in-differences", "scm": "Synthetic control"}
"""The site-indicator page's estimator switch (``est``), in its order; anything else falls back to did."""
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
    kauto: bool = False  # the matching page's "k: auto by balance"
    caliper: float = 0.0  # the matching page's caliper (method distance units); 0 = none
    est: str = "did"

    def __post_init__(self) -> None:
        if anonymised_only() and not self.anon:  # an anonymised-only server: no state can name a site
            object.__setattr__(self, "anon", True)


DEFAULT = ViewState()
CALIPER_MAX = 10.0  # a caliper beyond this excludes nothing a real pool holds
_TRUE = {"1", "true", "yes", "on"}
_PLAIN_WORD = re.compile(r"[A-Za-z]{1,20}")


def parse_query(search: str | dict | None) -> ViewState:
    """Read a query string ("?anon=1&basis=its") or Dash's query dict; unknown or bad values fall back."""
    if isinstance(search, dict):
        pairs = {k: str(v) for k, v in search.items()}
    elif search is None or isinstance(search, str):
        pairs = dict(parse_qsl((search or "").lstrip("?")))
    else:
        raise ForgedRequest("the page address (search) must be text")
    basis = pairs.get("basis", DEFAULT.basis)
    method = pairs.get("method", DEFAULT.method)
    try:
        k = int(pairs.get("k", DEFAULT.k))
    except ValueError:
        k = DEFAULT.k
    try:
        caliper = round(float(pairs.get("caliper", 0.0)), 2)
    except ValueError:
        caliper = 0.0
    return ViewState(
        kauto=pairs.get("kauto", "").lower() in _TRUE,
        caliper=caliper if 0 < caliper <= CALIPER_MAX else 0.0,  # a forged caliper falls back to none
        anon=pairs.get("anon", "").lower() in _TRUE,
        present=pairs.get("present", "").lower() in _TRUE,
        basis=basis if basis in BASES else DEFAULT.basis,
        chart=pairs.get("chart", "") if pairs.get("chart", "").replace("_", "").isalnum() else "",
        k=min(max(k, K_RANGE[0]), K_RANGE[1]),
        method=method if method in METHODS else DEFAULT.method,
        geo=pairs.get("geo") if pairs.get("geo") in GEOGRAPHIES else DEFAULT.geo,
        est=pairs.get("est") if pairs.get("est") in ESTIMATORS else DEFAULT.est,
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
        # The value is repeated only when it is a plain short word and the view may show names: like a
        # ForgedRequest, the answer never echoes markup, and an anonymised view never echoes what was typed.
        anon = anonymised_only() or pairs.get("anon", "").lower() in _TRUE
        shown = f" {pairs['geo']!r}" if _PLAIN_WORD.fullmatch(pairs["geo"]) and not anon else ""
        return f"Unknown geography{shown} in the address: use geo=la (local authorities) or geo=ccg (CCGs)."
    return None


def to_query(state: ViewState) -> str:
    """The query string for a state ("" when everything is default), with the leading "?"."""
    values = asdict(state)
    out = {}
    for key, value in values.items():
        if value == getattr(ViewState, key):  # the class defaults: anon=1 stays in an anonymised-only URL
            continue
        out[key] = ("1" if value else "0") if isinstance(value, bool) else value
    return "?" + urlencode(out) if out else ""


def href(path: str, state: ViewState, **changes) -> str:
    """A link to ``path`` keeping the current state, with ``changes`` applied."""
    return path + to_query(replace(state, **changes) if changes else state)


def with_changes(state: ViewState, **changes) -> ViewState:
    return replace(state, **changes)


def known_arguments(kwargs: dict, path_variables: tuple[str, ...]) -> dict:
    """A page's URL arguments cut down to what the app reads: its path variables and the view state,
    normalised (defaults dropped, bad values replaced, anon forced on an anonymised-only server).
    Unknown query keys (?utm_source=N) neither reach the page nor make a new cache entry."""
    view_keys = set(ViewState.__dataclass_fields__)
    state = parse_query({k: v for k, v in kwargs.items() if k in view_keys and k not in path_variables})
    canonical = dict(pair.split("=", 1) for pair in to_query(state).lstrip("?").split("&") if pair)
    return {**{k: v for k, v in kwargs.items() if k in path_variables}, **canonical}
