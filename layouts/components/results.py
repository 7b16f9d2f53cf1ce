"""What the pages show, computed from the active dataset by the data, indicators and matching
packages, cached per dataset checksum (registered with data.active so a refresh clears them).

This is the one place pages get numbers from. Where a statistic's package is not part of this
build yet, the function returns None and the page says the number is not available: the UI
never invents a statistic.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from data.active import active_dataset, register_cache
from data.aggregate import aggregate_sites
from data.periods import period_label
from data.reference import ENGLAND_CODE
from data.store import Dataset
from layouts.components.anonymise import SiteNames


@dataclass(frozen=True)
class Context:
    dataset: Dataset
    names: SiteNames
    catalogue: pd.DataFrame  # indexed by indicator_id
    area_names: dict[str, str]

    def indicator_ids(self) -> list[str]:
        return self.catalogue.index.tolist()

    def source_line(self, indicator_id: str | None = None) -> str:
        src = f"Source: {self.catalogue.at[indicator_id, 'source']}. " if indicator_id else ""
        notice = f"{self.dataset.notice}. " if self.dataset.is_demo else ""
        return f"{src}{notice}Integrated Care Pioneers indicators; dataset {self.dataset.checksum}."


def context() -> Context:
    ds = active_dataset()
    return _context(ds.checksum)


@register_cache
@lru_cache(maxsize=2)
def _context(checksum: str) -> Context:
    ds = active_dataset()
    return Context(dataset=ds, names=SiteNames.from_sites(ds.sites),
                   catalogue=ds.catalogue.set_index("indicator_id"),
                   area_names=dict(zip(ds.areas["area_code"], ds.areas["name"])))


@register_cache
@lru_cache(maxsize=2)
def _trend_frames(checksum: str) -> dict[tuple[str, str], pd.DataFrame]:
    """Every site x indicator trend frame, built once per dataset: pages then only look them up."""
    ctx = _context(checksum)
    ds = ctx.dataset
    series = aggregate_sites(ds.observations, ds.site_areas, ds.catalogue)
    obs = ds.observations
    england = obs[obs["area_code"] == ENGLAND_CODE][["indicator_id", "period_start", "value"]].rename(
        columns={"value": "england_value"})
    frame = series[["site_id", "indicator_id", "period_start", "frequency", "value", "flag"]].rename(
        columns={"value": "site_value"}).merge(england, on=["indicator_id", "period_start"], how="left")
    labels = {(p, f): period_label(p, f) for p, f in frame[["period_start", "frequency"]].drop_duplicates()
              .itertuples(index=False)}
    frame["period_label"] = [labels[(p, f)] for p, f in zip(frame["period_start"], frame["frequency"])]
    sites = ds.sites.set_index("site_id")
    frame["phase"] = "post"
    for site_id, part in frame.groupby("site_id"):
        frame.loc[part.index, "phase"] = site_phase(part["period_start"], sites.loc[site_id]).to_numpy()
    frame = frame.sort_values(["site_id", "indicator_id", "period_start"])
    cols = ["period_start", "period_label", "site_value", "england_value", "phase", "flag"]
    return {key: part[cols].reset_index(drop=True) for key, part in frame.groupby(["site_id", "indicator_id"])}


def site_phase(starts: pd.Series, site: pd.Series) -> pd.Series:
    """pre / transition / post for each period start, from the site's dates."""
    phase = pd.Series("post", index=starts.index, dtype="object")
    phase[starts < site["transition_start"]] = "pre"
    phase[(starts >= site["transition_start"]) & (starts <= site["transition_end"])] = "transition"
    phase[(starts > site["transition_end"]) & (starts < site["start"])] = "transition"
    return phase


def site_trend(site_id: str, indicator_id: str) -> pd.DataFrame:
    """The site's own series (sum of numerators over sum of denominators) beside England's.

    Columns: period_start, period_label, site_value, england_value, phase, flag. Comparator
    columns are added when the comparator statistics are part of the build.
    """
    frames = _trend_frames(context().dataset.checksum)
    empty = pd.DataFrame(columns=["period_start", "period_label", "site_value", "england_value", "phase", "flag"])
    return frames.get((site_id, indicator_id), empty).copy()


def intervention_labels(site_id: str, indicator_id: str) -> tuple[str, tuple[str, str]]:
    """The start period and the transition period as the indicator's own period labels."""
    from data.periods import align

    ctx = context()
    freq = ctx.catalogue.at[indicator_id, "frequency"]
    site = ctx.dataset.sites.set_index("site_id").loc[site_id]
    return (period_label(align(site["start"], freq), freq),
            (period_label(align(site["transition_start"], freq), freq),
             period_label(align(site["transition_end"], freq), freq)))


def overview(basis: str) -> pd.DataFrame | None:
    """One row per site and indicator for the overview grid on ``basis``; None if not available in this build.

    Columns: site_id, indicator_id, effect_pct (or value), ci_low, ci_high, outcome, outcome_label, colour.
    """
    return None


def site_effects(site_id: str, anon: bool):
    """The site's table of effects with intervals and a plain-language reading; None until the estimates exist."""
    return None


def matching_view(method: str, k: int, covariates: tuple[str, ...], anon: bool):
    """Love plot, balance table and comparator sets for the chosen settings; None until matching is in the build."""
    return None
