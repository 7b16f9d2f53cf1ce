"""Anonymised mode: what a site, comparator or LA is called on screen, in URLs and in exports.

Sites become their fixed shuffled label ("Pioneer C"; data/reference/anonymous_labels.csv,
carried in the sites table) and comparators "Comparator 1..k". The URL path of a site page
uses a path id: the site id normally, the slug of its label ("pioneer-c") in anonymised mode,
so a shared anonymised link names nothing real. Both resolve back to the site server-side.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

ANONYMISED_ONLY_ENV = "PIONEERS_ANONYMISED_ONLY"
"""Set by `pioneers serve --anonymised-only` (and inherited by every gunicorn worker)."""


def anonymised_only() -> bool:
    """Whether this server may show anonymised views only: then no request can turn names back on."""
    return os.environ.get(ANONYMISED_ONLY_ENV, "").lower() in ("1", "true", "yes", "on")


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


@dataclass(frozen=True)
class SiteNames:
    """Lookup between site ids, real names, anonymous labels and URL path ids."""

    names: dict[str, str]
    labels: dict[str, str]
    waves: dict[str, int]

    @classmethod
    def from_sites(cls, sites: pd.DataFrame) -> "SiteNames":
        return cls(names=dict(zip(sites["site_id"], sites["name"])),
                   labels=dict(zip(sites["site_id"], sites["anon_label"])),
                   waves={s: int(w) for s, w in zip(sites["site_id"], sites["wave"])})

    def display(self, site_id: str, anon: bool) -> str:
        return self.labels[site_id] if anon or anonymised_only() else self.names[site_id]

    def path_id(self, site_id: str, anon: bool) -> str:
        return _slug(self.labels[site_id]) if anon or anonymised_only() else site_id

    def resolve(self, path_id: str | None) -> str | None:
        """The site id behind a path id (real or anonymous), or None if it names no site."""
        if path_id in self.names:
            return path_id
        for site_id, label in self.labels.items():
            if _slug(label) == path_id:
                return site_id
        return None

    def ordered(self, anon: bool) -> list[str]:
        """Site ids in display order: by wave then name; in anonymised mode by label only (wave is not secret)."""
        if anon or anonymised_only():
            return sorted(self.names, key=lambda s: (self.waves[s], self.labels[s]))
        return sorted(self.names, key=lambda s: (self.waves[s], self.names[s]))


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


def real_names(sites: pd.DataFrame, areas: pd.DataFrame) -> list[str]:
    """Every name anonymised mode must never show: sites, LAs (hence comparators), site ids, LA codes."""
    out = set(sites["name"]) | set(areas["name"]) | set(areas["area_code"]) | set(sites["site_id"])
    return sorted(n for n in out if isinstance(n, str) and n and n != "E92000001")


@lru_cache(maxsize=8)
def _name_pattern(names: tuple[str, ...]) -> re.Pattern:
    # Longest first, so "Cheshire East" is reported rather than a shorter name inside it.
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(r"(?<![A-Za-z0-9-])(?:" + alternatives + r")(?![A-Za-z0-9-])")


def find_real_names(text: str, names: list[str]) -> list[str]:
    """Real names found in ``text`` as whole words (case-sensitive, as names are proper nouns), each once."""
    return sorted(set(_name_pattern(tuple(names)).findall(text)))


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
