"""Anonymised mode: what a site, comparator or LA is called on screen, in URLs and in exports.

Sites become their fixed shuffled label ("Pioneer C"; data/reference/anonymous_labels.csv,
carried in the sites table) and comparators "Comparator 1..k". The URL path of a site page
uses a path id: the site id normally, the slug of its label ("pioneer-c") in anonymised mode,
so a shared anonymised link names nothing real. Both resolve back to the site server-side.
"""
from __future__ import annotations

import re

import pandas as pd

from analysis.names import SiteNames, anonymised_only, ccg_reference_names


def comparator_labels(codes: list[str], area_names: dict[str, str], anon: bool) -> dict[str, str]:
    """Display name of each comparator LA, in the order given (rank order): "Comparator 1.." when anonymised."""
    if anon or anonymised_only():
        return {code: f"Comparator {i}" for i, code in enumerate(codes, start=1)}
    return {code: area_names.get(code, code) for code in codes}


def translate_path(pathname: str, names: SiteNames, anon: bool) -> str:
    """Rewrite a /site/<id>... path to the path id for the mode; other paths are unchanged."""
    parts = (pathname or "/").split("/")
    if len(parts) >= 3 and parts[1] == "site":
        site_id = names.resolve(parts[2])
        if site_id is not None:
            parts[2] = names.path_id(site_id, anon or anonymised_only())
    return "/".join(parts)


class RealNames(tuple):
    """Names anonymised mode must never show, sorted, with one compiled whole-word scanner
    (``find``): compiling the prefix tree of about 1,000 names takes longer than scanning a page."""

    def __new__(cls, names):
        self = super().__new__(cls, sorted({n for n in names if isinstance(n, str) and n}))
        # Word boundaries that allow "-" and digits inside a name; the tree tries longer names first. The
        # leading class of first letters lets the scan skip most positions before it tests the boundary
        # (1.7 times as fast on page JSON).
        firsts = "".join(re.escape(c) for c in sorted({n[0] for n in self}))
        self.pattern = re.compile(f"(?=[{firsts}])" + r"(?<![A-Za-z0-9-])(?:" + _trie_alternation(list(self))
                                  + r")(?![A-Za-z0-9-])") if self else re.compile(r"(?!)")
        return self

    def find(self, text: str) -> list[str]:
        """The names found in ``text`` as whole words (case-sensitive, as names are proper nouns), each once."""
        return sorted(set(self.pattern.findall(text)))


def real_names(sites: pd.DataFrame, areas: pd.DataFrame) -> RealNames:
    """Every name anonymised mode must never show: sites, LAs and CCGs (hence comparators on either
    geography), site ids, area codes; and every CCG of every vintage and its E38 code (from the CCG
    reference table), whether or not ``areas`` holds the CCG units."""
    out = (set(sites["name"]) | set(areas["name"]) | set(areas["area_code"]) | set(sites["site_id"])
           | set(ccg_reference_names()))
    return RealNames(n for n in out if n != "E92000001")


def _trie_alternation(names: list[str]) -> str:
    """One regex alternation of ``names`` written as a prefix tree ("Cheshire(?: East| West and
    Chester)?"): a scan tests one branch per character instead of every name at every position.
    Longer continuations come before a name's end, so the longest name that ends on a word boundary wins."""
    trie: dict = {}
    for name in names:
        node = trie
        for char in name:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


def find_real_names(text: str, names: RealNames | list[str]) -> list[str]:
    """Real names found in ``text`` as whole words (see RealNames.find); pass the RealNames of
    `real_names` to scan many texts with one compiled scanner."""
    return (names if isinstance(names, RealNames) else RealNames(names)).find(text)


DENOMINATOR_BANDS = ((0, 100_000), (100_000, 250_000), (250_000, 500_000), (500_000, 1_000_000),
                     (1_000_000, float("inf")))
"""[C] Anonymised views show a site's denominator (its population or count of events) only as one of
these bands, never exactly: an exact population names the site (2,207,866 adults is Greater
Manchester). A banded site is drawn at the band's geometric middle (open ends closed at 50,000 and
2,000,000). docs/data-format.md and the funnel page state the rule."""


def denominator_band(value: float) -> tuple[str, float]:
    """(label, position on a log axis) of the band holding ``value``."""
    for low, high in DENOMINATOR_BANDS:
        if low <= value < high:
            lo, hi = max(low, 50_000), min(high, 2_000_000)
            if high == float("inf"):
                label = f"{low:,} or more"
            elif low == 0:
                label = f"under {high:,}"
            else:
                label = f"{low:,} to {high:,}"
            return label, float((lo * hi) ** 0.5)
    return "unknown", float("nan")


BANDING_RULE = ("Anonymised: denominators are shown only in bands (under 100,000; 100,000 to 250,000; 250,000 to "
                "500,000; 500,000 to 1,000,000; 1,000,000 or more), each site drawn at its band's middle, so no "
                "site can be recognised by its size.")
