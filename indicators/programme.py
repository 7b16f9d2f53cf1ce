"""The programme comparison (Morciano 2021's question): did emergency admissions grow less in
Pioneer units than in units that took part in no programme?

A pure function of a monthly panel (unit, month, count, population) and the two groups. Method,
stated in every result: each group's rate is pooled (sum of counts over sum of mean monthly
populations, per 1,000 a year) in the first and the last financial year; growth is the % change
between them. Intervals: a bootstrap over units (units resampled with replacement within each
group, ``n_boot`` draws, fixed seed), percentile 95% limits. The difference in growth (Pioneer
minus non-participant, in percentage points) gets a bootstrap interval and a permutation p-value
(group labels shuffled among the units, same seed): the share of shuffles with a difference at
least as large in absolute value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.reference import ENGLAND_CODE

COLUMNS = ["group", "n_units", "rate_from_per_1000", "rate_to_per_1000", "growth_pct", "ci_low", "ci_high",
           "p_value"]
GROUPS = ("pioneer", "non_participant")
METHOD = ("pooled rate per 1,000 a year (sum of counts / mean monthly population); 95% intervals from a "
          "bootstrap over units ({n_boot} draws, seed {seed}); p from {n_perm} permutations of the group labels")


@dataclass(frozen=True)
class ProgrammeResult:
    """The comparison table (COLUMNS), both groups' monthly series, and what was left out and why."""

    table: pd.DataFrame
    monthly: pd.DataFrame
    dropped: dict
    method: str


def financial_year_start(label: str) -> pd.Timestamp:
    """'2013/14' -> 1 Apr 2013; anything else is refused."""
    m = re.fullmatch(r"(\d{4})/(\d{2})", str(label).strip())
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise DataError(f"{label!r} is not a financial year (expected e.g. 2013/14)", column="--from/--to")
    return pd.Timestamp(int(m.group(1)), 4, 1)


def _year_totals(panel: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Per unit: count over the 12 months from ``start`` and the mean population; units with all 12."""
    months = panel[(panel["period_start"] >= start) & (panel["period_start"] < start + pd.DateOffset(years=1))]
    g = months.groupby("unit")
    out = pd.DataFrame({"count": g["count"].sum(), "population": g["population"].mean(), "n": g["count"].count()})
    return out[out["n"] == 12].drop(columns="n")


def _growth(c0: np.ndarray, p0: np.ndarray, c1: np.ndarray, p1: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Growth % of the pooled rate for each row of unit indices ``idx`` (draws x units)."""
    r0 = c0[idx].sum(axis=-1) / p0[idx].sum(axis=-1)
    r1 = c1[idx].sum(axis=-1) / p1[idx].sum(axis=-1)
    return (r1 / r0 - 1.0) * 100.0


def programme_comparison(panel: pd.DataFrame, pioneers: set[str], *, first_year: str = "2013/14",
                         last_year: str = "2017/18", exclude: set[str] | frozenset = frozenset(),
                         n_boot: int = 2000, n_perm: int = 2000, seed: int = 2021) -> ProgrammeResult:
    """Compare growth in Pioneer and non-participant units.

    ``panel``: columns unit, period_start (month starts), count, population. ``pioneers``: the
    Pioneer units; every other unit not in ``exclude`` is a non-participant.
    """
    if financial_year_start(last_year) <= financial_year_start(first_year):
        raise DataError(f"the last year {last_year} must come after the first {first_year}", column="--to")
    panel = panel[~panel["unit"].isin(exclude)]
    y0 = _year_totals(panel, financial_year_start(first_year))
    y1 = _year_totals(panel, financial_year_start(last_year))
    units = y0.index.intersection(y1.index)
    dropped = {"excluded by the exclusion list": sorted(set(exclude)),
               "without 12 months in both years": sorted(set(panel["unit"]) - set(units) - set(exclude))}
    y0, y1 = y0.loc[units], y1.loc[units]
    is_p = np.array([u in pioneers for u in units])
    c0, p0, c1, p1 = (a.to_numpy(dtype=float) for a in (y0["count"], y0["population"], y1["count"], y1["population"]))
    rng = np.random.default_rng(seed)
    rows, draws = [], {}
    for name, mask in zip(GROUPS, (is_p, ~is_p)):
        members = np.flatnonzero(mask)
        if len(members) == 0:
            rows.append({"group": name, "n_units": 0})
            draws[name] = np.full(n_boot, np.nan)
            continue
        point = _growth(c0, p0, c1, p1, members[None, :])[0]
        boot = _growth(c0, p0, c1, p1, rng.choice(members, size=(n_boot, len(members)), replace=True))
        draws[name] = boot
        rows.append({"group": name, "n_units": len(members),
                     "rate_from_per_1000": c0[members].sum() / p0[members].sum() * 1000,
                     "rate_to_per_1000": c1[members].sum() / p1[members].sum() * 1000,
                     "growth_pct": point, "ci_low": np.percentile(boot, 2.5), "ci_high": np.percentile(boot, 97.5),
                     "p_value": np.nan})
    diff = rows[0].get("growth_pct", np.nan) - rows[1].get("growth_pct", np.nan)
    d_boot = draws["pioneer"] - draws["non_participant"]
    p_value = _permutation_p(c0, p0, c1, p1, is_p, diff, n_perm, rng)
    rows.append({"group": "difference", "n_units": int(len(units)), "rate_from_per_1000": np.nan,
                 "rate_to_per_1000": np.nan, "growth_pct": diff,
                 "ci_low": np.nanpercentile(d_boot, 2.5) if np.isfinite(d_boot).any() else np.nan,
                 "ci_high": np.nanpercentile(d_boot, 97.5) if np.isfinite(d_boot).any() else np.nan,
                 "p_value": p_value})
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    group_of = pd.Series(np.where(is_p, "pioneer", "non_participant"), index=units)
    return ProgrammeResult(table=table, monthly=monthly_series(panel[panel["unit"].isin(units)], group_of),
                           dropped=dropped, method=METHOD.format(n_boot=n_boot, seed=seed, n_perm=n_perm))


def _permutation_p(c0, p0, c1, p1, is_p: np.ndarray, observed: float, n_perm: int,
                   rng: np.random.Generator) -> float:
    n, k = len(is_p), int(is_p.sum())
    if k == 0 or k == n or not np.isfinite(observed):
        return np.nan
    order = np.argsort(rng.random((n_perm, n)), axis=1)
    treated, control = order[:, :k], order[:, k:]
    diffs = _growth(c0, p0, c1, p1, treated) - _growth(c0, p0, c1, p1, control)
    return float((1 + np.sum(np.abs(diffs) >= abs(observed) - 1e-12)) / (n_perm + 1))


def monthly_series(panel: pd.DataFrame, group_of: pd.Series) -> pd.DataFrame:
    """Each group's monthly rate per 1,000 population (a month's count over the month's population)."""
    p = panel.assign(group=panel["unit"].map(group_of)).dropna(subset=["group"])
    g = p.groupby(["group", "period_start"], as_index=False).agg(count=("count", "sum"),
                                                                population=("population", "sum"),
                                                                n_units=("unit", "nunique"))
    g["rate_per_1000"] = g["count"] / g["population"] * 1000
    return g[["group", "period_start", "n_units", "count", "population", "rate_per_1000"]]


@dataclass(frozen=True)
class ProgrammeGroups:
    """A geography's monthly ea_all panel and its groups, read from a dataset."""

    panel: pd.DataFrame
    pioneers: set
    part: set
    """Units only partly in a Pioneer: in neither group (a [C] choice: they would dilute both)."""
    pool_exclusions: set
    """LAs the dataset keeps out of every comparator pool (Isles of Scilly, City of London ...)."""


def dataset_groups(dataset, geography: str = "ccg", indicator_id: str = "ea_all") -> ProgrammeGroups:
    """The monthly panel on ``geography`` and which units are Pioneers, whole or part."""
    obs = dataset.observations_for(geography, "month")
    obs = obs[(obs["indicator_id"] == indicator_id) & obs["numerator"].notna() & obs["denominator"].notna()]
    panel = pd.DataFrame({"unit": obs["area_code"].to_numpy(), "period_start": pd.to_datetime(obs["period_start"]),
                          "count": obs["numerator"].to_numpy(dtype=float),
                          "population": obs["denominator"].to_numpy(dtype=float)})
    # England is the benchmark, never a unit of either group.
    panel = panel[panel["unit"].isin(set(dataset.units(geography)["area_code"]) - {ENGLAND_CODE})]
    members = dataset.site_units(geography)
    whole = set(members.loc[members["coverage"] == "whole", "area_code"])
    part = set(members.loc[members["coverage"] == "part", "area_code"])
    pool = set(dataset.exclusions["area_code"]) if geography == "la" else set()
    return ProgrammeGroups(panel=panel, pioneers=whole - part, part=part, pool_exclusions=pool - whole - part)


def read_exclusions(path, units: pd.DataFrame) -> set[str]:
    """Unit codes from an exclusion CSV (unit_code, reason): area codes of the geography, or for
    CCGs their 3-character ODS codes. Unknown codes are refused with file, row and column."""
    path = Path(path)
    if not path.exists():
        raise DataError("exclusion file not found", file=str(path))
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the exclusion CSV ({exc})", file=str(path)) from exc
    if "unit_code" not in frame.columns:
        raise DataError(f"missing column 'unit_code' (header: {list(frame.columns)})", file=str(path), row=1,
                        column="unit_code")
    by_ods = dict(zip(units["nhs_la_code"], units["area_code"]))
    known = set(units["area_code"])
    out = set()
    for i, code in enumerate(frame["unit_code"].str.strip()):
        unit = code if code in known else by_ods.get(code)
        if unit is None:
            raise DataError(f"unknown unit code (expected an area code of the geography, or a CCG's ODS code) "
                            f"(got {code!r})", file=str(path), row=i + 2, column="unit_code")
        out.add(unit)
    return out
