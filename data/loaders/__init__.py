"""Loaders for the published files analysts bring: one module per source kind.

Every loader reads one file into observations in the dataset schema (data/schema.py
OBSERVATIONS), checks the whole file and raises one DataError listing every problem (file,
row, column, what was expected). ``LOADERS`` maps the ``pioneers ingest`` kind to its loader.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from data.errors import DataError
from data.loaders.reading import map_distinct
from data.reference import ENGLAND_CODE, Reference
from data.schema import OBSERVATIONS

OBSERVATION_COLUMNS = [f.name for f in OBSERVATIONS]
KEY = ["indicator_id", "area_code", "period_start", "frequency"]
"""A row's identity: a month and a quarter starting on the same day are different periods."""


@dataclass
class LoadContext:
    """What a loader needs besides its file: the reference tables and, if known, populations."""

    reference: Reference
    population: pd.DataFrame | None = None
    districts: pd.DataFrame | None = None
    """district -> county lookup (columns district, county) for district-level files."""
    district_population: pd.DataFrame | None = None
    """district_code, year, population (all ages): weights for aggregating district rates."""
    indicator_map: dict[str, str] = field(default_factory=dict)
    """Extra source-indicator -> catalogue mappings (a Fingertips ID the catalogue lacks)."""
    shared: Path | None = None
    """The shared ONS files (CCG lookups) for loaders that need them; None = the default folder."""

    def area_codes(self) -> set[str]:
        return set(self.reference.areas["area_code"])

    def multipliers(self) -> pd.Series:
        return self.reference.catalogue.set_index("indicator_id")["multiplier"].astype(float)


@dataclass
class LoadResult:
    """One file's observations, plus what was read and what was skipped, and why."""

    observations: pd.DataFrame
    rows_read: int
    skipped: Counter = field(default_factory=Counter)
    source: dict = field(default_factory=dict)

    @property
    def rows_skipped(self) -> int:
        return int(sum(self.skipped.values()))


def finish(obs: pd.DataFrame, source: str, multipliers: pd.Series) -> pd.DataFrame:
    """Complete the schema: value from counts where not given, blank CIs, tidy flags, sorted rows."""
    for col in OBSERVATION_COLUMNS:
        if col not in obs.columns:
            obs[col] = np.nan if col in ("numerator", "denominator", "value", "ci_low", "ci_high") else ""
    mult = obs["indicator_id"].map(multipliers).astype(float)
    computed = obs["numerator"] / obs["denominator"].where(obs["denominator"] > 0) * mult
    obs["value"] = obs["value"].where(obs["value"].notna(), computed)
    obs["flag"] = map_distinct(obs["flag"].fillna("").astype(str), _tidy_flags)
    obs["source"] = source
    obs["period_start"] = pd.to_datetime(obs["period_start"])
    return obs[OBSERVATION_COLUMNS].sort_values(KEY).reset_index(drop=True)


def _tidy_flags(text: str) -> str:
    parts = [p for p in dict.fromkeys(t.strip() for t in text.split(";")) if p]
    return ";".join(parts)


def join_flags(*flags: pd.Series) -> pd.Series:
    out = flags[0].astype(str)
    for f in flags[1:]:
        out = out + ";" + f.astype(str)
    return map_distinct(out, _tidy_flags)


def _registry() -> dict[str, Callable[[Path, LoadContext], LoadResult]]:
    from data.loaders import ascof, dtoc, fingertips, hes, mar, tidy  # here: each loader imports this package

    return {"fingertips": fingertips.load, "dtoc": dtoc.load, "ascof": ascof.load, "tidy": tidy.load,
            "hes": hes.load, "mar": mar.load}


KINDS = ("fingertips", "dtoc", "ascof", "tidy", "mar")


def loader_for(kind: str) -> Callable[[Path, LoadContext], LoadResult]:
    registry = _registry()
    if kind not in registry:
        raise DataError(f"unknown file kind {kind!r}; expected one of {list(registry)}")
    return registry[kind]


__all__ = ["ENGLAND_CODE", "KEY", "KINDS", "LoadContext", "LoadResult", "finish", "join_flags", "loader_for"]
