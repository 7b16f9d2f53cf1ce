"""Trend series: a site against its matched comparators and England, period by period.

Everything is at the indicator's own frequency and labelled with financial-year periods. A site's
value is the sum of its LAs' numerators over the sum of their denominators (data.aggregate); its
interval is the Fingertips interval for that aggregate (indicators.ci).

Comparators are summarised two ways each period:
- ``comparator_mean``: the mean of the comparator LAs' own rates, each LA counting once. This is
  the line the dashboard shows, because it is what the per-site DiD compares against (each
  comparator LA is one unit there, whatever its size).
- ``comparator_pooled``: the comparators as one population (sum of numerators over sum of
  denominators), for readers who want "the comparator group's rate".
plus ``comparator_min``/``comparator_max`` (the range band) and ``comparator_n`` (LAs reporting).

England is the published national row (area E92000001) when the dataset has one, otherwise the
aggregate of every LA. Each period carries a ``phase``: "pre", "transition" or "post" (see
:func:`period_phase`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from data.aggregate import aggregate, area_population
from data.errors import DataError
from data.periods import period_label, period_phase
from data.reference import ENGLAND_CODE
from indicators.benchmark import benchmark_many
from indicators.ci import ci_for
from indicators.spc import CHART_COLUMNS, spc

COMPARATOR_LINE = "comparator_mean"
"""Which comparator summary the dashboard draws (the other is in the table for export)."""

PHASES = ("pre", "transition", "post")
SITE_COLUMNS = ["site_id", "indicator_id", "period_start", "frequency", "period_label", "phase", "numerator",
                "denominator", "value", "ci_low", "ci_high", "n_areas", "n_expected", "flag"]
AREA_COLUMNS = ["area_code", "name", "period_start", "period_label", "numerator", "denominator", "value",
                "ci_low", "ci_high", "flag", "site_ids", "is_pioneer", "england_value", "benchmark"]

TREND_COLUMNS = [
    "period_start", "period_label", "frequency", "phase",
    "site_numerator", "site_denominator", "site_value", "site_ci_low", "site_ci_high", "site_n_areas", "site_flag",
    "comparator_mean", "comparator_pooled", "comparator_min", "comparator_max", "comparator_n",
    "england_value", "england_ci_low", "england_ci_high", "england_flag", "benchmark",
]


def _catalogue_row(dataset, indicator_id: str) -> pd.Series:
    cat = dataset.catalogue
    rows = cat[cat["indicator_id"] == indicator_id]
    if rows.empty:
        raise DataError(f"unknown indicator {indicator_id!r}; expected one of {sorted(cat['indicator_id'])}",
                        column="indicator_id")
    return rows.iloc[0]


def _site_rows(dataset, site_ids: list[str] | None) -> pd.DataFrame:
    sites = dataset.sites
    if site_ids is None:
        return sites
    unknown = sorted(set(site_ids) - set(sites["site_id"]))
    if unknown:
        raise DataError(f"unknown site(s) {unknown}; expected one of {sorted(sites['site_id'])}", column="site_id")
    return sites[sites["site_id"].isin(site_ids)]


def label_periods(period_start: pd.Series, frequency: pd.Series | str) -> pd.Series:
    """Financial-year labels ("2014/15 Q1") for many periods, computing each distinct one once."""
    freq = frequency if isinstance(frequency, pd.Series) else pd.Series(frequency, index=period_start.index)
    codes, distinct = pd.factorize(pd.MultiIndex.from_arrays([period_start, freq]))
    labels = np.array([period_label(p, f) for p, f in distinct], dtype=object)
    return pd.Series(labels[codes] if len(codes) else [], index=period_start.index, dtype=object)


def _with_ci(frame: pd.DataFrame, catalogue: pd.DataFrame, level: float, prefix: str = "") -> pd.DataFrame:
    """Add ``ci_low``/``ci_high`` for an aggregate frame holding several indicators."""
    low = pd.Series(np.nan, index=frame.index)
    high = pd.Series(np.nan, index=frame.index)
    rows = catalogue.drop_duplicates("indicator_id").set_index("indicator_id")
    for indicator_id, part in frame.groupby("indicator_id", sort=False):
        if indicator_id not in rows.index:
            raise DataError(f"observations name indicator {indicator_id!r}, which is not in the catalogue",
                            column="indicator_id")
        row = rows.loc[indicator_id]
        lo, hi = ci_for(row, part["numerator"], part["denominator"], float(row["multiplier"]),
                        value=part["value"], level=level)
        low[part.index], high[part.index] = lo, hi
    return frame.assign(**{f"{prefix}ci_low": low, f"{prefix}ci_high": high})


def _multipliers(dataset) -> pd.Series:
    return dataset.catalogue.set_index("indicator_id")["multiplier"].astype(float)


def _area_observations(dataset, indicator_ids: list[str] | None) -> pd.DataFrame:
    obs = dataset.observations
    if indicator_ids is not None:
        obs = obs[obs["indicator_id"].isin(indicator_ids)]
    return obs


# --- all sites at once --------------------------------------------------------------------------

def site_values(dataset, indicator_id: str | list[str] | None = None, level: float = 0.95,
                site_ids: list[str] | None = None) -> pd.DataFrame:
    """Every site's aggregated series (one indicator, several, or all) with intervals and phases.

    Columns: site_id, indicator_id, period_start, frequency, period_label, phase, numerator,
    denominator, value, ci_low, ci_high, n_areas, n_expected, flag ("incomplete" when a member LA
    did not report, "member_missing" when the period is left out for it (data.aggregate),
    "rate_only" when aggregated from rates).
    """
    indicator_ids = [indicator_id] if isinstance(indicator_id, str) else indicator_id
    for ind in indicator_ids or []:
        _catalogue_row(dataset, ind)
    sites = _site_rows(dataset, site_ids)
    members = dataset.site_areas[dataset.site_areas["site_id"].isin(sites["site_id"])]
    obs = _area_observations(dataset, indicator_ids)
    obs = obs[obs["area_code"] != ENGLAND_CODE]
    agg = aggregate(obs, members.rename(columns={"site_id": "group"}), _multipliers(dataset),
                    area_population(dataset.areas))
    agg = agg.rename(columns={"group": "site_id"})
    if agg.empty:  # no data for these indicators: the right columns, no rows
        types = {"period_start": obs["period_start"].dtype, "n_areas": "int64", "n_expected": "int64"}
        types.update({c: float for c in ("numerator", "denominator", "value", "ci_low", "ci_high")})
        return pd.DataFrame({c: pd.Series(dtype=types.get(c, object)) for c in SITE_COLUMNS})
    agg = _with_ci(agg, dataset.catalogue, level)
    agg["period_label"] = label_periods(agg["period_start"], agg["frequency"])
    dates = sites.set_index("site_id")[["start", "transition_start", "transition_end"]]
    agg["phase"] = period_phase(agg["period_start"], agg["frequency"], agg["site_id"].map(dates["start"]),
                                agg["site_id"].map(dates["transition_start"]),
                                agg["site_id"].map(dates["transition_end"]))
    return agg[SITE_COLUMNS]


def england_values(dataset, indicator_ids: list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """England per indicator and period: the published national row, or the sum of all LAs.

    Published intervals are kept; missing ones are computed the Fingertips way. Columns:
    indicator_id, period_start, frequency, numerator, denominator, value, ci_low, ci_high, flag,
    england_basis ("published" or "sum of LAs").
    """
    obs = _area_observations(dataset, indicator_ids)
    published = obs[obs["area_code"] == ENGLAND_CODE]
    missing_inds = sorted(set(obs["indicator_id"]) - set(published["indicator_id"]))
    frames = []
    if len(published):
        frames.append(published.drop(columns=["area_code", "source"]).assign(england_basis="published"))
    if missing_inds:
        las = obs[obs["indicator_id"].isin(missing_inds) & (obs["area_code"] != ENGLAND_CODE)]
        members = pd.DataFrame({"group": "england", "area_code": dataset.areas["area_code"]})
        summed = aggregate(las, members, _multipliers(dataset), leave_out_missing=False)  # a total: flagged only
        frames.append(summed.drop(columns=["group", "n_areas", "n_expected"]).assign(
            ci_low=np.nan, ci_high=np.nan, england_basis="sum of LAs"))
    cols = ["indicator_id", "period_start", "frequency", "numerator", "denominator", "value", "ci_low",
            "ci_high", "flag", "england_basis"]
    if not frames:  # no data: typed so that merging on period_start still works
        types = {"period_start": obs["period_start"].dtype}
        types.update({c: float for c in ("numerator", "denominator", "value", "ci_low", "ci_high")})
        return pd.DataFrame({c: pd.Series(dtype=types.get(c, object)) for c in cols})
    eng = pd.concat(frames, ignore_index=True)[cols]
    need = eng["ci_low"].isna() | eng["ci_high"].isna()
    if need.any():
        computed = _with_ci(eng.loc[need, ["indicator_id", "numerator", "denominator", "value"]],
                            dataset.catalogue, level, prefix="_")
        eng.loc[need, "ci_low"] = computed["_ci_low"]
        eng.loc[need, "ci_high"] = computed["_ci_high"]
    return eng


def area_values(dataset, indicator_id: str, period_start=None, level: float = 0.95) -> pd.DataFrame:
    """Every LA's value with its interval for one period (the latest by default), for funnel plots
    and league tables, benchmarked against England.

    Columns: area_code, name, period_start, period_label, numerator, denominator, value, ci_low,
    ci_high, flag, site_ids (";"-joined Pioneer sites the LA belongs to, "" if none), is_pioneer,
    england_value, benchmark (an Outcome value).
    """
    row = _catalogue_row(dataset, indicator_id)
    obs = _area_observations(dataset, [indicator_id])
    las = obs[obs["area_code"] != ENGLAND_CODE]
    if period_start is None:
        reported = las[las["value"].notna()]
        if reported.empty:  # no LA reports this indicator: nothing to plot, not an error
            return _empty_area_values(las)
        period_start = reported["period_start"].max()
    period_start = pd.Timestamp(period_start)
    frame = las[las["period_start"] == period_start].copy()
    if frame.empty:
        return _empty_area_values(las)
    need = frame["ci_low"].isna() | frame["ci_high"].isna()
    low, high = ci_for(row, frame["numerator"], frame["denominator"], float(row["multiplier"]),
                       value=frame["value"], level=level)
    frame["ci_low"] = frame["ci_low"].where(~need, low)
    frame["ci_high"] = frame["ci_high"].where(~need, high)
    frame["period_label"] = period_label(period_start, row["frequency"])
    names = dataset.areas.set_index("area_code")["name"]
    frame["name"] = frame["area_code"].map(names)
    sites_of = dataset.site_areas.groupby("area_code")["site_id"].agg(lambda s: ";".join(sorted(s)))
    frame["site_ids"] = frame["area_code"].map(sites_of).fillna("")
    frame["is_pioneer"] = frame["site_ids"] != ""
    eng = england_values(dataset, [indicator_id], level)
    eng_value = eng.loc[eng["period_start"] == period_start, "value"]
    frame["england_value"] = float(eng_value.iloc[0]) if len(eng_value) else np.nan
    frame["benchmark"] = [o.value for o in benchmark_many(frame["ci_low"], frame["ci_high"],
                                                          frame["england_value"], row["polarity"])]
    return frame[AREA_COLUMNS].reset_index(drop=True)


def _empty_area_values(las: pd.DataFrame) -> pd.DataFrame:
    """``area_values`` with no rows (the indicator has no data for the period asked)."""
    types = {"is_pioneer": bool, "period_start": las["period_start"].dtype}
    for c in ("numerator", "denominator", "value", "ci_low", "ci_high", "england_value"):
        types[c] = float
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, object)) for c in AREA_COLUMNS})


# --- trend series -------------------------------------------------------------------------------

def _comparator_members(dataset, comparators: pd.DataFrame | None, site_ids: list[str],
                        indicator_ids: list[str]) -> pd.DataFrame:
    """Comparator LAs as rows of site_id, indicator_id, area_code, validated."""
    if comparators is None or len(comparators) == 0:
        return pd.DataFrame({"site_id": pd.Series(dtype=object), "indicator_id": pd.Series(dtype=object),
                             "area_code": pd.Series(dtype=object)})
    if "comparator_code" not in comparators.columns:
        raise DataError(f"comparators need a 'comparator_code' column; got {list(comparators.columns)}",
                        column="comparator_code")
    comp = comparators
    if "site_id" in comp.columns:
        comp = comp[comp["site_id"].isin(site_ids)]
    elif len(site_ids) == 1:
        comp = comp.assign(site_id=site_ids[0])
    else:
        raise DataError("comparators for several sites need a 'site_id' column", column="site_id")
    if "indicator_id" in comp.columns:
        comp = comp[comp["indicator_id"].isin(indicator_ids)]
        members = comp[["site_id", "indicator_id", "comparator_code"]]
    else:
        members = comp[["site_id", "comparator_code"]].merge(
            pd.DataFrame({"indicator_id": indicator_ids}), how="cross")
    members = members.rename(columns={"comparator_code": "area_code"}).drop_duplicates()
    unknown = sorted(set(members["area_code"]) - set(dataset.areas["area_code"]))
    if unknown:
        raise DataError(f"comparator code(s) {unknown[:5]} are not LAs in this dataset", column="comparator_code")
    own = members.merge(dataset.site_areas[["site_id", "area_code"]], on=["site_id", "area_code"])
    if len(own):
        raise DataError(f"comparator {own['area_code'].iloc[0]} is one of site {own['site_id'].iloc[0]!r}'s own "
                        "LAs: a site cannot be its own comparator", column="comparator_code")
    return members


def trend_table(dataset, comparators: pd.DataFrame | None, site_ids: list[str] | None = None,
                indicator_ids: list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Trend series for many sites and indicators at once (one aggregation, no per-site loop).

    Returns ``site_id``, ``indicator_id`` and the :data:`TREND_COLUMNS`, one row per site,
    indicator and period in which England, the site or a comparator has data.
    """
    sites = _site_rows(dataset, site_ids)
    site_ids = sites["site_id"].tolist()
    indicator_ids = indicator_ids or dataset.catalogue["indicator_id"].tolist()
    for ind in indicator_ids:
        _catalogue_row(dataset, ind)
    catalogue = dataset.catalogue.set_index("indicator_id")
    obs = _area_observations(dataset, indicator_ids)
    las = obs[obs["area_code"] != ENGLAND_CODE]
    keys = ["site_id", "indicator_id", "period_start"]

    site = site_values(dataset, indicator_ids, level, site_ids).rename(columns={
        "numerator": "site_numerator", "denominator": "site_denominator", "value": "site_value",
        "ci_low": "site_ci_low", "ci_high": "site_ci_high", "n_areas": "site_n_areas", "flag": "site_flag"})

    members = _comparator_members(dataset, comparators, site_ids, indicator_ids)
    comp_obs = las[las["value"].notna()].merge(members, on=["indicator_id", "area_code"])
    counted = comp_obs["numerator"].notna() & (comp_obs["denominator"] > 0)
    comp_obs = comp_obs.assign(_num=comp_obs["numerator"].where(counted, 0.0),
                               _den=comp_obs["denominator"].where(counted, 0.0))
    comp = comp_obs.groupby(keys, sort=False).agg(
        comparator_mean=("value", "mean"), comparator_min=("value", "min"), comparator_max=("value", "max"),
        comparator_n=("value", "size"), _num=("_num", "sum"), _den=("_den", "sum"),
        _frequency=("frequency", "first")).reset_index()
    mult = comp["indicator_id"].map(catalogue["multiplier"]).astype(float)
    comp["comparator_pooled"] = comp["_num"] / comp["_den"].where(comp["_den"] > 0) * mult

    eng = england_values(dataset, indicator_ids, level).rename(columns={
        "value": "england_value", "ci_low": "england_ci_low", "ci_high": "england_ci_high",
        "flag": "england_flag", "frequency": "_eng_frequency"})
    eng = eng[["indicator_id", "period_start", "_eng_frequency", "england_value", "england_ci_low",
               "england_ci_high", "england_flag"]]

    # Every period with any data for the indicator, for every site.
    periods = obs[["indicator_id", "period_start"]].drop_duplicates()
    grid = pd.DataFrame({"site_id": site_ids}).merge(periods, how="cross")
    out = (grid.merge(site.drop(columns=["period_label", "phase", "frequency", "n_expected"]), on=keys, how="left")
               .merge(comp.drop(columns=["_num", "_den", "_frequency"]), on=keys, how="left")
               .merge(eng, on=["indicator_id", "period_start"], how="left"))
    out["frequency"] = out["indicator_id"].map(catalogue["frequency"])
    out["comparator_n"] = out["comparator_n"].fillna(0).astype(int)
    out["site_n_areas"] = out["site_n_areas"].fillna(0).astype(int)
    out["period_label"] = label_periods(out["period_start"], out["frequency"])
    dates = sites.set_index("site_id")
    out["phase"] = period_phase(out["period_start"], out["frequency"], out["site_id"].map(dates["start"]),
                                out["site_id"].map(dates["transition_start"]),
                                out["site_id"].map(dates["transition_end"]))
    polarity = out["indicator_id"].map(catalogue["polarity"])
    out["benchmark"] = [o.value for o in benchmark_many(out["site_ci_low"], out["site_ci_high"],
                                                        out["england_value"], polarity)]
    out["site_flag"] = out["site_flag"].fillna("missing")
    out["england_flag"] = out["england_flag"].fillna("missing")
    out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    return out[["site_id", "indicator_id", *TREND_COLUMNS]].astype({c: "str" for c in TREND_TEXT_COLUMNS})


TREND_TEXT_COLUMNS = ("period_label", "frequency", "phase", "site_flag", "england_flag", "benchmark")
"""Trend columns holding text, as pandas' default string type."""


def trend_spc(trend: pd.DataFrame, polarity: str, column: str = "site_value") -> pd.DataFrame:
    """The XmR chart of a trend's site values, with the pre-intervention periods as the fixed baseline.

    With fewer than 2 values before the start (data that begin after it) the limits come from the
    whole series, and ``attrs["baseline"]`` says so; with fewer than 2 values in all there is no
    chart: the frame has the chart's columns and no rows.
    """
    values = pd.Series(trend[column].to_numpy(dtype=float), index=pd.DatetimeIndex(trend["period_start"]))
    pre = (trend["phase"] == "pre").to_numpy()
    n_pre = int(pre.sum())
    observed = np.isfinite(values.to_numpy())
    if observed.sum() < 2:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in CHART_COLUMNS},
                             index=pd.DatetimeIndex([], name=values.index.name))
        empty.attrs.update(polarity=polarity, n_baseline=0, baseline="none: fewer than 2 values, no chart")
        return empty
    if (observed & pre).sum() >= 2:
        chart = spc(values, polarity, baseline_points=max(n_pre, 2))
        chart.attrs["baseline"] = "pre-intervention periods"
        return chart
    chart = spc(values, polarity, baseline_points=len(values))
    chart.attrs["baseline"] = "whole series: fewer than 2 values before the start"
    return chart
