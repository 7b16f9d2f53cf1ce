"""Site names, anonymous labels and URL path ids: the lookup every page and export shares.

Sites become their fixed shuffled label ("Pioneer C"; data/reference/anonymous_labels.csv,
carried in the sites table) in anonymised mode; a site page's path id is the site id normally
and the slug of its label ("pioneer-c") in anonymised mode. Both resolve back to the site.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from data.ccg import read_ccgs, units_table

ANONYMISED_ONLY_ENV = "PIONEERS_ANONYMISED_ONLY"
"""Set by `pioneers serve --anonymised-only` (and inherited by every gunicorn worker)."""


def anonymised_only() -> bool:
    """Whether this server may show anonymised views only: then no request can turn names back on."""
    return os.environ.get(ANONYMISED_ONLY_ENV, "").lower() in ("1", "true", "yes", "on")


# A module-level constant loaded once from the project's own data/reference/ccgs.csv (package data,
# changed only with the code); no cache policy applies.
@lru_cache(maxsize=1)
def ccg_reference_names() -> tuple[str, ...]:
    """Names and E38 codes of every CCG of every vintage, and the stable units' joined names: what
    anonymised mode must never show on the CCG geography (data/reference/ccgs.csv)."""
    ccgs = read_ccgs()
    names = set(ccgs["name"]) | set(ccgs["e38_code"]) | set(units_table(ccgs)["name"])
    return tuple(sorted(n for n in names if isinstance(n, str) and n))


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
