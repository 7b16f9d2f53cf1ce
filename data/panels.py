"""Every indicator as area x period matrices, with each site's aggregate: built once per dataset.

``IndicatorPanel`` is the project's one area x period type. Matching (baseline level and
slope), the estimates table and the detail charts all need the same thing: an LA's series and
a site's series for one indicator. The observations are coded once and scattered into numpy
matrices, and site aggregates are one matrix product with the site membership matrix, by the
rule in ``data.aggregate`` (the same functions the frame route uses).

Cached on the Dataset object (``Dataset.derived``); treat the arrays as read-only.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from data.aggregate import area_population, contributions, group_value, member_weights, missing_members
from data.errors import DataError
from data.reference import ENGLAND_CODE
from data.store import Dataset

@dataclass(frozen=True, eq=False)
class IndicatorPanel:
    """One indicator: LA matrices (areas x periods) and site aggregates (sites x periods).

    ``num``/``den`` are NaN where the source gives none; ``value`` is NaN where an LA has no
    observation. ``site_num``/``site_den`` sum the members with counts (NaN where no member has
    counts, as data.aggregate leaves a rate-only row); ``site_value`` is the aggregate value.
    ``site_reported`` (sites x periods) and ``site_expected`` (sites,) count member LAs with a value
    in the period and in any period; ``site_left_out`` marks the site periods left out because a
    member is missing (data.aggregate.MISSING_MEMBER_SHARE).
    """

    indicator_id: str
    frequency: str  # the catalogue's
    multiplier: float
    periods: pd.DatetimeIndex
    areas: pd.Index
    num: np.ndarray
    den: np.ndarray
    value: np.ndarray
    site_ids: pd.Index
    site_num: np.ndarray
    site_den: np.ndarray
    site_value: np.ndarray
    site_reported: np.ndarray | None = None
    site_expected: np.ndarray | None = None
    site_left_out: np.ndarray | None = None

    @property
    def has_denominators(self) -> bool:
        return bool(np.isfinite(self.den).any())

    @cached_property
    def area_frame(self) -> pd.DataFrame:
        """``value`` as a frame: area_code x period_start (built once; treat as read-only)."""
        return pd.DataFrame(self.value, index=self.areas, columns=self.periods)

    @cached_property
    def site_frame(self) -> pd.DataFrame:
        """``site_value`` as a frame: site_id x period_start (built once; treat as read-only)."""
        return pd.DataFrame(self.site_value, index=self.site_ids, columns=self.periods)


def left_out_periods(panel: IndicatorPanel, site_id: str) -> list[tuple[pd.Timestamp, int, int]]:
    """The site's periods left out because a member is missing: (period start, members with a
    value, members expected), in time order."""
    if panel.site_left_out is None or site_id not in panel.site_ids:
        return []
    i = panel.site_ids.get_loc(site_id)
    return [(panel.periods[t], int(panel.site_reported[i, t]), int(panel.site_expected[i]))
            for t in np.nonzero(panel.site_left_out[i])[0]]


def site_aggregate(num: np.ndarray, den: np.ndarray, value: np.ndarray, members: np.ndarray,
                   multiplier: float, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sites' (numerator, denominator, value) from member LAs by data.aggregate's rule.

    ``members`` is (sites x areas) 0/1; ``num``, ``den``, ``value`` are (areas x periods).
    Numerator and denominator are missing where no member was counted (a rate-only value), and
    all three where a member is missing (data.aggregate.missing_members, weighted by ``weights``,
    the areas' populations; equal without).
    """
    usable, counted, c_num, c_den, wv, w = contributions(num, den, value)
    # Membership, not its weight, decides which members are expected (a part-covered LA is a member).
    _, _, left_out = missing_members(usable, (members > 0).astype(float),
                                     np.ones(usable.shape[0]) if weights is None else weights)
    s_num, s_den = members @ c_num, members @ c_den
    n_counts = members @ counted.astype(float)
    n_any = members @ usable.astype(float)
    site_value = np.where(n_any == 0, np.nan, group_value(s_num, s_den, members @ wv, members @ w, n_counts, multiplier))
    with_counts = (n_counts > 0) & (n_any > 0) & ~left_out
    return (np.where(with_counts, s_num, np.nan), np.where(with_counts, s_den, np.nan),
            np.where(left_out, np.nan, site_value))


SITE_WEIGHTINGS = ("whole", "population_share")
"""How a member unit counts in its site's aggregate. ``whole`` [C, default]: every member in full,
also one only part inside the footprint. ``population_share``: each member's numerator and
denominator (or, for rates, its weight) times the share of its population inside the footprint
(site_areas.population_share), i.e. the part is assumed to have its unit's rate and counts by its
size. Prefer the CCG geography where the indicator exists on it: CCG units follow most footprints."""


def indicator_panels(dataset: Dataset, weighting: str = "whole") -> dict[str, IndicatorPanel]:
    """Every indicator the dataset has observations for, by indicator_id (cached per dataset and
    weighting; see ``SITE_WEIGHTINGS``)."""
    if weighting not in SITE_WEIGHTINGS:
        raise DataError(f"site weighting {weighting!r} is not one of {SITE_WEIGHTINGS}")
    key = "panels" if weighting == "whole" else f"panels-{weighting}"
    if key not in dataset.derived:
        dataset.derived[key] = _build(dataset, weighting)
    return dataset.derived[key]


def membership(site_ids: pd.Index, area_index: pd.Index, site_areas: pd.DataFrame, weighting: str = "whole"
               ) -> np.ndarray:
    """The (sites x areas) membership matrix: 1 per member, or its population share inside the
    footprint with ``population_share`` (a member without a share counts in full)."""
    members = np.zeros((len(site_ids), len(area_index)))
    rows, cols = site_ids.get_indexer(site_areas["site_id"]), area_index.get_indexer(site_areas["area_code"])
    ok = (rows >= 0) & (cols >= 0)
    if weighting == "population_share":
        share = pd.to_numeric(site_areas["population_share"], errors="coerce").to_numpy(dtype=float)
        weight = np.where(np.isfinite(share) & (share > 0), np.minimum(share, 1.0), 1.0)
    else:
        weight = np.ones(len(site_areas))
    members[rows[ok], cols[ok]] = weight[ok]
    return members


def _build(dataset: Dataset, weighting: str = "whole") -> dict[str, IndicatorPanel]:
    obs = dataset.observations
    area_codes, area_index = pd.factorize(obs["area_code"], sort=True)
    ind_codes, ind_index = pd.factorize(obs["indicator_id"], sort=True)
    england = area_index.get_indexer([ENGLAND_CODE])[0]
    keep = area_codes != england if england >= 0 else np.ones(len(obs), dtype=bool)
    if england >= 0:
        # Renumber the LAs without England so matrix rows are exactly the LAs observed.
        area_index = area_index.delete(england)
        area_codes = np.where(area_codes > england, area_codes - 1, area_codes)
    area_codes, ind_codes = area_codes[keep], ind_codes[keep]
    starts = obs["period_start"].to_numpy()[keep]
    num_all, den_all, val_all = (obs[c].to_numpy(dtype=float)[keep] for c in ("numerator", "denominator", "value"))
    # Rows for an area or indicator present only as England have no LA left to fill.
    used_areas = np.unique(area_codes)
    if len(used_areas) < len(area_index):
        remap = np.full(len(area_index), -1)
        remap[used_areas] = np.arange(len(used_areas))
        area_index, area_codes = area_index[used_areas], remap[area_codes]

    catalogue = dataset.catalogue.set_index("indicator_id")
    site_ids = pd.Index(dataset.sites["site_id"], name="site_id")
    members = membership(site_ids, pd.Index(area_index), dataset.site_areas, weighting)
    area_index = pd.Index(area_index, name="area_code")
    weights = member_weights(area_population(dataset.areas), area_index)

    order = np.argsort(ind_codes, kind="stable")
    bounds = np.searchsorted(ind_codes[order], np.arange(len(ind_index) + 1))
    panels = {}
    for j, ind in enumerate(ind_index):
        sel = order[bounds[j]:bounds[j + 1]]
        if not len(sel):
            continue
        if ind not in catalogue.index:
            raise DataError(f"indicator {ind!r} is not in the catalogue", column="indicator_id")
        periods, p_pos = np.unique(starts[sel], return_inverse=True)
        shape = (len(area_index), len(periods))
        mats = []
        for arr in (num_all, den_all, val_all):
            m = np.full(shape, np.nan)
            m[area_codes[sel], p_pos] = arr[sel]
            mats.append(m)
        multiplier = float(catalogue.at[ind, "multiplier"])
        s_num, s_den, s_value = site_aggregate(*mats, members, multiplier, weights)
        reported, expected, left_out = missing_members(np.isfinite(mats[2]), (members > 0).astype(float), weights)
        panels[str(ind)] = IndicatorPanel(
            indicator_id=str(ind), frequency=str(catalogue.at[ind, "frequency"]), multiplier=multiplier,
            periods=pd.DatetimeIndex(periods, name="period_start"), areas=area_index,
            num=mats[0], den=mats[1], value=mats[2], site_ids=site_ids,
            site_num=s_num, site_den=s_den, site_value=s_value, site_reported=reported, site_expected=expected,
            site_left_out=left_out)
    return panels
