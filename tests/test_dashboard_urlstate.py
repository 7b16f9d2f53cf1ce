"""URL state: the query string round-trips, defaults stay out of links, bad values fall back."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from layouts.components.urlstate import BASES, DEFAULT, ViewState, href, parse_query, to_query
from matching.select import K_DEFAULT, K_RANGE, METHODS


def test_defaults_make_an_empty_query():
    assert to_query(DEFAULT) == ""
    assert parse_query("") == DEFAULT
    assert parse_query(None) == DEFAULT


def test_reads_modes_and_basis():
    state = parse_query("?anon=1&present=1&basis=its&chart=spc")
    assert state == ViewState(anon=True, present=True, basis="its", chart="spc")


def test_dash_query_dict_is_read_like_a_string():
    assert parse_query({"anon": "1", "basis": "england"}) == parse_query("?anon=1&basis=england")


def test_bad_values_fall_back_to_defaults():
    state = parse_query("?anon=maybe&basis=nonsense&k=lots&method=magic&chart=<script>")
    assert state == DEFAULT


def test_k_is_clamped_to_the_range_matching_accepts():
    assert parse_query("?k=500").k == K_RANGE[1]
    assert parse_query("?k=0").k == K_RANGE[0]
    assert parse_query("?k=2").k == K_RANGE[0] and parse_query("?k=16").k == K_RANGE[1]
    assert DEFAULT.k == K_DEFAULT and K_RANGE[0] <= K_DEFAULT <= K_RANGE[1]


def test_href_keeps_state_and_applies_changes():
    state = ViewState(anon=True, basis="spc")
    assert href("/site/pioneer-c", state) == "/site/pioneer-c?anon=1&basis=spc"
    assert href("/", state, basis="did") == "/?anon=1"


@given(anon=st.booleans(), present=st.booleans(), basis=st.sampled_from(sorted(BASES)),
       chart=st.sampled_from(["", "trend", "spc", "ea_all"]), k=st.integers(*K_RANGE), method=st.sampled_from(METHODS))
def test_round_trip(anon, present, basis, chart, k, method):
    state = ViewState(anon=anon, present=present, basis=basis, chart=chart, k=k, method=method)
    assert parse_query(to_query(state)) == state
