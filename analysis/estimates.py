"""The estimates table: every site and indicator, DiD with placebo inference, ITS and pooled.

This is the glue between the dataset, the comparator sets (matching/) and the estimators
(indicators/: did, its, pooled). One call builds the whole table; it keeps nothing itself (the
dashboard memoises it in analysis.results, keyed by code version and dataset checksum).

Rows: ``method="did"`` (one per site and indicator; the interval is the placebo-in-space one),
``method="its"`` (change in trend on the site's own series; HAC interval) and
``method="pooled"`` (``site_id`` all, wave1, wave2; Callaway-Sant'Anna style) and
``method="scm"`` (synthetic control over the whole pool, analysis.synthetic; its own columns
``pre_rmspe`` and ``pre_fit``, missing or "" on other rows).

Every catalogue indicator gets its rows, whatever the data hold. Where no estimate can be made
(no data for the indicator, none for the site's LAs, nothing before the site's start or after
it, no comparator with data) the numbers are missing and ``note`` says why in plain words.
``value_basis`` says what the estimate is built on: "counts" (a site's value is the sum of its
LAs' numerators over the sum of their denominators), "rates" (the source gives rates only: the
DiD and ITS run on the published values, and a multi-LA site's value is the denominator-weighted
mean of its LAs' rates, as data.aggregate computes it, equal weights where the source gives no
denominator; the note says so), "mixed", or "" with no data.
``mde_pct`` (DiD and synthetic-control rows): the minimum detectable effect at 80% power and
two-sided 5%, from the placebo distribution (indicators.power), as a % of the same counterfactual
as ``effect_pct``: what "no clear difference" could have missed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import synthetic
from data.errors import DataError
from data.panels import IndicatorPanel, indicator_panels
from data.periods import period_label
from data.store import Dataset
from indicators import its as its_module
from indicators import pooled as pooled_module
from indicators.did import (CLUSTER_LABEL, PLACEBO_P_METHOD, POST, PRE, placebo_arrays, placebo_estimates, site_did,
                            site_did_batch, treatment_phase)
from indicators.power import POWER, mde_pct, minimum_detectable_effect
from indicators.scm import P_METHOD as SCM_P_METHOD
from matching.covariates import comparator_pool
from matching.select import K_DEFAULT, ComparatorSet, PlaceboSet, match, placebo_set

COLUMNS = ["site_id", "indicator_id", "method", "effect", "effect_pct", "ci_low", "ci_high", "p_value",
           "p_method", "pre_trend_p", "n_comparators", "n_pre", "n_post", "baseline_mean", "comparator_version",
           "value_basis", "note", "mde_pct", "pre_rmspe", "pre_fit"]
ALPHA = 0.05
METHODS_IN_TABLE = ("did", "its", "scm", "pooled")
"""The table's methods, in the order its rows take within an indicator."""


# --- inputs ------------------------------------------------------------------------------------------

@dataclass
class Comparators:
    """Comparator table (site_id, indicator_id or missing, comparator_code, rank), its version and
    where placebo comparators come from."""

    table: pd.DataFrame
    version: str
    per_indicator: bool
    k: int


def comparators_from(comparators: ComparatorSet | pd.DataFrame | None, dataset: Dataset, *, k: int, method: str,
                     per_indicator: bool) -> Comparators:
    """Accept a matching ComparatorSet, a frame (e.g. read from a CSV), or None (match now)."""
    if comparators is None:
        comparators = match(dataset, k=k, method=method, per_indicator=per_indicator)
    if isinstance(comparators, ComparatorSet):
        table, version = comparators.table, str(comparators.version)
    elif isinstance(comparators, pd.DataFrame):
        table = comparators
        if "version" in table.columns and table["version"].notna().any():
            version = str(table["version"].dropna().iloc[0])
        else:
            blob = table.sort_values(list(table.columns)).to_csv(index=False).encode()
            version = "file-" + hashlib.sha256(blob).hexdigest()[:12]
    else:
        raise DataError(f"comparators must be a ComparatorSet or a table; got {type(comparators).__name__}")
    missing = [c for c in ("site_id", "comparator_code", "rank") if c not in table.columns]
    if missing:
        raise DataError(f"comparator table lacks column(s) {missing}; expected site_id, indicator_id, "
                        "comparator_code, rank", column=missing[0])
    table = table.copy()
    if "indicator_id" not in table.columns:
        table["indicator_id"] = pd.NA
    unknown = sorted(set(table["site_id"]) - set(dataset.sites["site_id"]))
    if unknown:
        raise DataError(f"comparator table names unknown site(s) {unknown[:5]}", column="site_id")
    bad = sorted(set(table["comparator_code"]) - set(dataset.areas["area_code"]))
    if bad:
        raise DataError(f"comparator table names unknown area code(s) {bad[:5]}", column="comparator_code")
    per_ind = bool(table["indicator_id"].notna().any())
    # An empty set (e.g. a geography the dataset holds no units of) leaves every row without an estimate.
    k_used = _largest_set(table) if len(table) else int(k)
    return Comparators(table=table, version=version, per_indicator=per_ind, k=k_used)


def _largest_set(table: pd.DataFrame) -> int:
    """The most comparators any (site, indicator) has; a missing indicator is one group of its own."""
    site = pd.factorize(table["site_id"])[0]
    indicator = pd.factorize(table["indicator_id"], use_na_sentinel=False)[0]
    return int(np.bincount(site * (indicator.max() + 1) + indicator).max())


def _comparator_codes(comps: Comparators, site_id: str, indicator_id: str) -> list[str]:
    t = comps.table
    mine = t["site_id"] == site_id
    if comps.per_indicator:
        mine &= t["indicator_id"] == indicator_id
    return t[mine].sort_values("rank")["comparator_code"].tolist()


def _pool(dataset: Dataset) -> list[str]:
    return comparator_pool(dataset)


def _dates(site: pd.Series) -> tuple:
    return (site["start"], site["transition_start"], site["transition_end"])


def _placebo(dataset: Dataset, comps: Comparators, site_id: str, indicator_id: str, method: str) -> PlaceboSet:
    """The site's placebo-in-space comparators: the one placebo route for the table and the detail charts."""
    return placebo_set(dataset, site_id, indicator_id if comps.per_indicator else None, k=comps.k, method=method)


# --- the table ------------------------------------------------------------------------------------------

def estimates_table(dataset: Dataset, comparators: ComparatorSet | pd.DataFrame | None = None, *,
                    k: int = K_DEFAULT, method: str = "mahalanobis", per_indicator: bool = True,
                    weighting: str = "whole", methods: tuple[str, ...] = METHODS_IN_TABLE) -> pd.DataFrame:
    """One row per site, indicator and method (did, its), plus pooled rows, in ``COLUMNS``.

    ``comparators``: a matching ComparatorSet, a comparator frame, or None to match now with
    ``k``, ``method`` and ``per_indicator`` ([C] default: per indicator, so the indicator's
    baseline level and slope are matched too). Computed every call: the dashboard keeps it in
    analysis.results' memo, keyed by code version and dataset checksum. ``weighting``: how a
    part-covered member counts in its site's series (data.panels.SITE_WEIGHTINGS; the comparators
    are matched on the default, whole-member series either way). ``methods``: only these methods'
    rows (a page that shows DiD need not wait for synthetic control); ``in_table_order`` of the
    parts for every method is the whole table.
    """
    comps = comparators_from(comparators, dataset, k=k, method=method, per_indicator=per_indicator)
    return compute_estimates(dataset, comps, method=method, weighting=weighting, methods=methods)


def compute_estimates(dataset: Dataset, comps: Comparators, *, method: str = "mahalanobis",
                      alpha: float = ALPHA, weighting: str = "whole",
                      methods: tuple[str, ...] = METHODS_IN_TABLE) -> pd.DataFrame:
    """The full table for a validated comparator table.

    Columns are gathered as arrays block by block (a block: one indicator, one set of dates,
    one placebo design) and made into a frame once at the end.
    """
    data = indicator_panels(dataset, weighting)
    sites = dataset.sites.set_index("site_id")
    pool = _pool(dataset)
    lookup = _comparator_lookup(comps)
    groups: dict[tuple, list[str]] = {}
    for site_id, dates in zip(sites.index, zip(sites["start"], sites["transition_start"], sites["transition_end"])):
        groups.setdefault(dates, []).append(site_id)
    bases = _value_bases(dataset)
    n_members = dataset.site_areas.groupby("site_id")["area_code"].nunique().to_dict()
    no_data = NO_DATA if dataset.geography == "la" else NOT_ON_CCG
    unknown = set(methods) - set(METHODS_IN_TABLE)
    if unknown or not methods:
        raise ValueError(f"methods must be some of {METHODS_IN_TABLE}; got {methods!r}")
    blocks = [rows[rows["method"].isin(methods)] for rows in
              (_no_data_rows(ind, sites, no_data) for ind in dataset.catalogue["indicator_id"] if ind not in data)]
    for ind, d in data.items():
        periods = d.area_frame.columns
        area_values = d.area_frame.to_numpy()
        row_of = {code: i for i, code in enumerate(d.area_frame.index)}
        site_row = {site_id: i for i, site_id in enumerate(d.site_frame.index)}
        site_values = d.site_frame.to_numpy()
        padded = np.vstack([area_values, np.full((1, len(periods)), np.nan)])
        phases: dict[tuple, np.ndarray] = {}
        for dates, members, placebo in (_placebo_groups(dataset, comps, groups, ind, method)
                                        if "did" in methods or "its" in methods else ()):
            if dates not in phases:
                phases[dates] = treatment_phase(periods, d.frequency, *dates)
            phase = phases[dates]
            present = [s for s in members if s in site_row]
            y_sites = site_values[[site_row[s] for s in present]]
            basis_note = _basis_note(bases[ind], [n_members.get(s, 0) for s in present], d)
            n = len(present)
            if "did" in methods:
                blocks.append(_did_block(ind, d, placebo, phase, present, lookup, comps, row_of, padded, y_sites,
                                         alpha, basis_note))
            if "its" not in methods:
                continue
            its = its_module.its_batch(y_sites, periods, d.frequency, phase, alpha=alpha)
            blocks.append({
                "site_id": present, "indicator_id": [ind] * n, "method": ["its"] * n, "effect": its["effect"],
                "effect_pct": its["effect_pct"], "ci_low": its["ci_low"], "ci_high": its["ci_high"],
                "p_value": its["p_value"],
                "p_method": [f"{its_module.P_METHOD}, maxlags {m}" for m in its["maxlags"]],
                "pre_trend_p": np.full(n, np.nan), "n_comparators": np.zeros(n, dtype=int), "n_pre": its["n_pre"],
                "n_post": its["n_post"], "baseline_mean": its["baseline_mean"], "mde_pct": np.full(n, np.nan),
                "note": _site_notes(y_sites, phase, periods, d.frequency, its["effect"], None, "its", basis_note)})
        scm_groups = groups.items() if "scm" in methods else ()
        for dates, members in scm_groups:  # synthetic control: placebos shared by every site with these dates
            present = [s for s in members if s in site_row]
            if dates not in phases:
                phases[dates] = treatment_phase(periods, d.frequency, *dates)
            fit = synthetic.scm_group(d, pool, present, phases[dates], alpha, POWER)
            basis_note = _basis_note(bases[ind], [n_members.get(s, 0) for s in present], d)
            notes = _site_notes(site_values[[site_row[s] for s in present]], phases[dates], periods, d.frequency,
                                fit["effect"], fit["n_donors"], "did", basis_note)
            blocks.append(synthetic.scm_block(ind, fit, present, notes))
        if "pooled" in methods:
            rows = _pooled_rows(ind, d, sites, pool, comps, alpha, bases.get(ind, ""), phases)
            blocks.append({col: [r[col] for r in rows] for col in rows[0]} if rows else {})
    columns = [c for c in COLUMNS if c not in ("comparator_version", "value_basis")]
    gathered = {col: np.concatenate([np.asarray(b[col], dtype=object if col in _TEXT else None) if col in b
                                     else _absent(col, len(b["site_id"])) for b in blocks if len(b)])
                 for col in columns}
    table = pd.DataFrame(gathered)
    table["comparator_version"] = comps.version
    table["value_basis"] = [bases.get(i, "") for i in table["indicator_id"]]
    table["note"] = table["note"].fillna("").astype(str)
    table = table[COLUMNS]
    for col in ("n_comparators", "n_pre", "n_post"):
        table[col] = table[col].astype("int64")
    for col in ("effect", "effect_pct", "ci_low", "ci_high", "p_value", "pre_trend_p", "baseline_mean", "mde_pct",
                "pre_rmspe"):
        table[col] = table[col].astype(float)
    return in_table_order([table])


def in_table_order(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Estimates rows (one table, or parts computed for some methods each) in the table's order:
    by indicator, then method (``METHODS_IN_TABLE``), keeping each part's order within them."""
    table = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    order = {m: i for i, m in enumerate(METHODS_IN_TABLE)}
    sort = np.lexsort((table["method"].map(order).to_numpy(), pd.factorize(table["indicator_id"], sort=True)[0]))
    return table.take(sort).reset_index(drop=True)


def _did_block(ind: str, d: IndicatorPanel, placebo, phase: np.ndarray, present: list[str], lookup: dict,
               comps: Comparators, row_of: dict[str, int], padded: np.ndarray, y_sites: np.ndarray, alpha: float,
               basis_note: str) -> dict:
    """The DiD rows of sites sharing dates and placebo design: one batch, the placebo interval shared."""
    draws = _placebo_draws_or_none(d, placebo, phase)
    idx = np.full((len(present), comps.k), len(padded) - 1)
    for i, site_id in enumerate(present):
        codes = [row_of[c] for c in lookup.get((site_id, ind if comps.per_indicator else None), [])
                 if c in row_of][: comps.k]
        idx[i, : len(codes)] = codes
    b = site_did_batch(y_sites, padded[idx], phase, draws, alpha)
    mde = minimum_detectable_effect(draws[0], alpha, POWER) if draws is not None else np.nan
    n = len(present)
    return {
        "site_id": present, "indicator_id": [ind] * n, "method": ["did"] * n, "effect": b["effect"],
        "effect_pct": b["effect_pct"], "ci_low": b["ci_low"], "ci_high": b["ci_high"],
        "p_value": b["p_value"], "p_method": [PLACEBO_P_METHOD] * n, "pre_trend_p": b["pre_trend_p"],
        "n_comparators": b["n_comparators"], "n_pre": b["n_pre"], "n_post": b["n_post"],
        "baseline_mean": b["baseline_mean"], "mde_pct": mde_pct(mde, b["counterfactual_mean"]),
        "note": _site_notes(y_sites, phase, d.area_frame.columns, d.frequency, b["effect"], b["n_comparators"], "did",
                            basis_note)}


_TEXT = ("site_id", "indicator_id", "method", "p_method", "note", "pre_fit")


def _absent(col: str, n: int) -> np.ndarray:
    """A column a block does not fill (the SCM-only ones on DiD, ITS and pooled rows)."""
    return np.full(n, "", dtype=object) if col in _TEXT else np.full(n, np.nan)


def _comparator_lookup(comps: Comparators) -> dict[tuple, list[str]]:
    """(site_id, indicator_id or None) -> comparator codes, nearest first."""
    t = comps.table.sort_values(["site_id", "rank"], kind="stable")
    keys = zip(t["site_id"], t["indicator_id"] if comps.per_indicator else [None] * len(t))
    out: dict[tuple, list[str]] = {}
    for key, code in zip(keys, t["comparator_code"]):
        out.setdefault(key, []).append(code)
    return out


def _site_fit(site_id: str, ind: str, d: IndicatorPanel, phase: np.ndarray, comps: Comparators,
              draws, codes: list[str], alpha: float):
    series = d.site_frame.loc[site_id]
    comp_codes = [c for c in _comparator_codes(comps, site_id, ind) if c in d.area_frame.index]
    return site_did(series, d.area_frame.loc[comp_codes], phase, placebo=draws, placebo_codes=codes, alpha=alpha)


def _wave_dates(sites: pd.DataFrame) -> tuple[pd.Series, dict[str, tuple]]:
    """Cohorts for the pooled estimator: one per wave, dated by the wave's most common dates."""
    cohort_of, dates = {}, {}
    for wave, members in sites.groupby("wave"):
        name = f"wave{int(wave)}"
        triples = list(zip(members["start"], members["transition_start"], members["transition_end"]))
        dates[name] = max(set(triples), key=triples.count)
        for site_id in members.index:
            cohort_of[site_id] = name
    return pd.Series(cohort_of, dtype=object), dates


def _wave_phases(d: IndicatorPanel, sites: pd.DataFrame, known: dict[tuple, np.ndarray] | None = None
                 ) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """Each wave's phases; ``known`` holds phases already worked out for these periods, by dates."""
    cohort_of, dates = _wave_dates(sites)
    known = known or {}
    return cohort_of, {name: known[t] if t in known else treatment_phase(d.area_frame.columns, d.frequency, *t)
                       for name, t in dates.items()}


def pooled_fit(d: IndicatorPanel, sites: pd.DataFrame, pool: list[str], alpha: float = ALPHA,
               known_phases: dict[tuple, np.ndarray] | None = None):
    cohort_of, phases = _wave_phases(d, sites, known_phases)
    rows = d.area_frame.index.get_indexer(pool)
    never = np.sort(rows[rows >= 0])  # pool LAs with a series, in the frame's order
    y = np.vstack([d.site_frame.to_numpy(), d.area_frame.to_numpy()[never]])
    site_cohort = cohort_of.reindex(d.site_frame.index)
    cohort = np.concatenate([site_cohort.to_numpy(dtype=object), np.full(len(never), None, dtype=object)])
    control = np.concatenate([site_cohort.isna().to_numpy(), np.ones(len(never), dtype=bool)])
    result = pooled_module.pooled_att_arrays(y, cohort, control, d.area_frame.columns, phases, alpha=alpha)
    return result, cohort_of, phases


def _pooled_rows(ind: str, d: IndicatorPanel, sites: pd.DataFrame, pool: list[str], comps: Comparators,
                 alpha: float, basis: str = "counts", known_phases: dict[tuple, np.ndarray] | None = None
                 ) -> list[dict]:
    result, cohort_of, phases = pooled_fit(d, sites, pool, alpha, known_phases)
    site_block = d.site_frame.to_numpy()
    rows = []
    for _, r in result.summary.iterrows():
        label = r["aggregate"]
        in_agg = (cohort_of.reindex(d.site_frame.index).notna() if label == "all"
                  else cohort_of.reindex(d.site_frame.index) == label).to_numpy()
        pre_mask = np.zeros(len(d.area_frame.columns), dtype=bool)
        for name, ph in phases.items():
            if label in ("all", name):
                pre_mask |= ph == PRE
        block = site_block[in_agg][:, pre_mask]
        baseline = float(np.nanmean(block)) if np.isfinite(block).any() else float("nan")
        rows.append({"site_id": label, "indicator_id": ind, "method": "pooled", "effect": r["att"],
                     "note": _pooled_note(label, d, cohort_of, phases, r["att"], basis),
                     "effect_pct": r["effect_pct"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "p_value": r["p_value"], "p_method": pooled_module.P_METHOD, "pre_trend_p": np.nan,
                     "n_comparators": int(r["n_control"]), "n_pre": int(r["n_pre"]), "n_post": int(r["n_post"]),
                     "baseline_mean": baseline, "mde_pct": np.nan})
    return rows


# --- notes: why a row has no estimate ------------------------------------------------------------------

NO_DATA = "no data for this indicator in the dataset"
NOT_ON_CCG = ("not available on the CCG geography: no source in this dataset gives this indicator by CCG "
              "(only emergency admissions, from NHS England's Monthly Activity Return, are published by commissioner)")
RATES_NOTE = "from published rates (no counts)"


def _value_bases(dataset: Dataset) -> dict[str, str]:
    """Per indicator with data: "counts", "rates" (published rates only) or "mixed"."""
    out = {}
    for ind, p in indicator_panels(dataset).items():
        usable = np.isfinite(p.value)
        if not usable.any():
            continue
        counted = (usable & np.isfinite(p.num) & np.isfinite(p.den) & (np.nan_to_num(p.den) > 0))[usable]
        out[ind] = "counts" if counted.all() else "rates" if not counted.any() else "mixed"
    return out


def _basis_note(basis: str, n_members: list[int], d: IndicatorPanel) -> list[str]:
    """For rate-only indicators, how each site's value was made (only multi-LA sites are weighted)."""
    if basis != "rates":
        return [""] * len(n_members)
    weighted = ("denominator-weighted mean of its LAs' rates" if d.has_denominators
                else "unweighted mean of its LAs' rates (the source gives no denominators)")
    return [RATES_NOTE + (f"; site value = {weighted}" if n > 1 else "") for n in n_members]


def _span(observed: np.ndarray, periods: pd.DatetimeIndex, frequency: str) -> tuple[str, str]:
    where = np.nonzero(observed)[0]
    return period_label(periods[where[0]], frequency), period_label(periods[where[-1]], frequency)


def _site_notes(y_sites: np.ndarray, phase: np.ndarray, periods: pd.DatetimeIndex, frequency: str,
                effect: np.ndarray, n_comparators: np.ndarray | None, method: str,
                basis_notes: list[str]) -> list[str]:
    """Plain-words reason for each site row without an estimate ("" when it has one)."""
    phase = np.asarray(phase)
    notes = []
    for i, y in enumerate(np.asarray(y_sites, dtype=float)):
        observed = np.isfinite(y)
        if not observed.any():
            notes.append("no data for the site's LAs")
            continue
        if not (observed & (phase == PRE)).any():
            notes.append(f"no data before the site's start: {_span(observed, periods, frequency)[0]} onwards only")
        elif not (observed & (phase == POST)).any():
            notes.append(f"no data after the site's start: data end {_span(observed, periods, frequency)[1]}")
        elif n_comparators is not None and n_comparators[i] == 0:
            notes.append("no comparator has data for this indicator")
        elif not np.isfinite(effect[i]):
            notes.append("effect not identified: no comparator has data both before and after the start"
                         if method == "did" else "too few periods before and after the start for the "
                         "segmented regression")
        else:
            notes.append(basis_notes[i])
    return notes


def _pooled_note(label: str, d: IndicatorPanel, cohort_of: pd.Series, phases: dict[str, np.ndarray],
                 att: float, basis: str = "counts") -> str:
    """Why a pooled row has no estimate, or which wave it leaves out."""
    names = sorted(phases) if label == "all" else [label]
    observed = np.isfinite(d.site_frame.to_numpy())
    periods = d.area_frame.columns
    cohort = cohort_of.reindex(d.site_frame.index).to_numpy()
    missing = []
    for name in names:
        rows = observed[cohort == name]
        wave = name.replace("wave", "wave ")
        if not rows.any():
            missing.append(f"no data for {wave}'s sites")
            continue
        seen = rows.any(axis=0)
        if not (seen & (phases[name] == PRE)).any():
            first, _ = _span(seen, periods, d.frequency)
            missing.append(f"no data before {wave}'s start: {first} onwards only")
        elif not (seen & (phases[name] == POST)).any():
            _, last = _span(seen, periods, d.frequency)
            missing.append(f"no data after {wave}'s start: data end {last}")
    if np.isfinite(att):
        parts = ([RATES_NOTE + "; multi-LA sites are weighted means of their LAs' rates"] if basis == "rates" else []) + (
            [f"leaves out {'; '.join(missing)}"] if missing else [])
        return "; ".join(parts)
    return "; ".join(missing) or "no estimate: too few periods before and after the start"


def _no_data_rows(ind: str, sites: pd.DataFrame, note: str = NO_DATA) -> pd.DataFrame:
    """Rows for an indicator the dataset holds nothing for: every number missing, the note says why."""
    cohort_of, _ = _wave_dates(sites)
    labels = ["all", *sorted(set(cohort_of))]
    site_ids = list(sites.index)
    frame = pd.DataFrame({
        "site_id": site_ids * 3 + labels, "indicator_id": ind,
        "method": ["did"] * len(site_ids) + ["its"] * len(site_ids) + ["scm"] * len(site_ids)
        + ["pooled"] * len(labels),
        "p_method": [PLACEBO_P_METHOD] * len(site_ids) + [its_module.P_METHOD] * len(site_ids)
        + [SCM_P_METHOD] * len(site_ids) + [pooled_module.P_METHOD] * len(labels),
        "n_comparators": 0, "n_pre": 0, "n_post": 0, "note": note, "pre_fit": "",
    })
    for col in ("effect", "effect_pct", "ci_low", "ci_high", "p_value", "pre_trend_p", "baseline_mean", "mde_pct",
                "pre_rmspe"):
        frame[col] = np.nan
    return frame


def _placebo_groups(dataset: Dataset, comps: Comparators, groups: dict[tuple, list[str]], ind: str, method: str):
    """(dates, sites, placebo set) for sites sharing dates and the covariates they were matched on
    (a site without baseline data is matched, and its placebos too, on demographics)."""
    for dates, members in groups.items():
        by_design: dict[int, tuple[list[str], object]] = {}
        for site_id in members:
            placebo = _placebo(dataset, comps, site_id, ind, method)
            by_design.setdefault(id(placebo), ([], placebo))[0].append(site_id)
        for sites_, placebo in by_design.values():
            yield dates, sites_, placebo


def _placebo_draws_or_none(d: IndicatorPanel, placebo, phase: np.ndarray):
    """Placebo effects for one design; None when the pool gave no placebo comparators."""
    if not len(placebo.codes):
        return None
    _, p_site, p_comp = placebo_arrays(d.area_frame, placebo.codes, placebo.order)
    if not len(p_site):
        return None
    return placebo_estimates(p_site, p_comp, phase)


def estimates_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per indicator: rows, rows with an estimate, rows without one, and the commonest reason why not."""
    has = table["effect"].notna()
    missing = table[~has]
    reason = missing.groupby("indicator_id")["note"].agg(lambda s: s.value_counts().index[0] if len(s) else "")
    out = pd.DataFrame({"rows": table.groupby("indicator_id").size(),
                        "with_estimate": has.groupby(table["indicator_id"]).sum(),
                        "without_estimate": (~has).groupby(table["indicator_id"]).sum()})
    out["main_reason"] = reason.reindex(out.index).fillna("")
    return out.reset_index()


# --- detail for charts -----------------------------------------------------------------------------------

def site_detail(dataset: Dataset, site_id: str, indicator_id: str,
                comparators: ComparatorSet | pd.DataFrame | None = None, *, k: int = K_DEFAULT,
                method: str = "mahalanobis", per_indicator: bool = True, alpha: float = ALPHA,
                weighting: str = "whole") -> dict[str, pd.DataFrame]:
    """Frames behind a site's charts for one indicator.

    ``series``: period_start, phase, site, comparator_mean, comparator_min, comparator_max;
    ``did``: one row (effect, placebo and cluster intervals, p values, pre-trend F and p);
    ``event_study``: period_start, event_time, phase, coef, ci_low, ci_high, reference;
    ``its``: period_start, phase, observed, fitted, counterfactual; ``its_summary``: level and
    slope change with intervals; ``placebo``: area_code, placebo_effect; ``comparators``: codes.
    """
    if site_id not in set(dataset.sites["site_id"]):
        raise DataError(f"unknown site {site_id!r}", column="site_id")
    data = indicator_panels(dataset, weighting)
    if indicator_id not in data:
        raise DataError(f"no observations for indicator {indicator_id!r}", column="indicator_id")
    d = data[indicator_id]
    comps = comparators_from(comparators, dataset, k=k, method=method, per_indicator=per_indicator)
    site = dataset.sites.set_index("site_id").loc[site_id]
    phase = treatment_phase(d.area_frame.columns, d.frequency, *_dates(site))
    placebo = _placebo(dataset, comps, site_id, indicator_id, method)
    codes, p_site, p_comp = placebo_arrays(d.area_frame, placebo.codes, placebo.order)
    draws = placebo_estimates(p_site, p_comp, phase)
    fit = _site_fit(site_id, indicator_id, d, phase, comps, draws, codes, alpha)
    mde = minimum_detectable_effect(draws[0], alpha, POWER) if len(draws[0]) else np.nan
    comp_codes = [c for c in _comparator_codes(comps, site_id, indicator_id) if c in d.area_frame.index]
    comp_values = d.area_frame.loc[comp_codes]
    series = pd.DataFrame({
        "period_start": d.area_frame.columns, "phase": phase, "site": d.site_frame.loc[site_id].to_numpy(dtype=float),
        "comparator_mean": comp_values.mean().to_numpy(), "comparator_min": comp_values.min().to_numpy(),
        "comparator_max": comp_values.max().to_numpy(),
    })
    its = its_module.segmented_regression(d.site_frame.loc[site_id], d.frequency, phase, alpha=alpha)
    did = pd.DataFrame([{
        "effect": fit.effect, "effect_pct": fit.effect_pct, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
        "p_value": fit.p_value, "p_method": PLACEBO_P_METHOD, "n_placebo": fit.n_placebo,
        "cluster_ci_low": fit.cluster_ci_low, "cluster_ci_high": fit.cluster_ci_high, "cluster_p": fit.cluster_p,
        "cluster_label": CLUSTER_LABEL,
        "pre_trend_f": fit.pre_trend_f, "pre_trend_p": fit.pre_trend_p, "baseline_mean": fit.baseline_mean,
        "post_mean": fit.post_mean, "counterfactual_mean": fit.counterfactual_mean,
        "comparator_version": comps.version,
        "mde": mde if np.isfinite(mde) else np.nan, "mde_pct": float(mde_pct(mde, fit.counterfactual_mean)),
    }])
    its_summary = pd.DataFrame([
        {"term": "level_change", "estimate": its.level_change, "ci_low": its.level_ci[0], "ci_high": its.level_ci[1],
         "p_value": its.level_p},
        {"term": "slope_change_per_year", "estimate": its.slope_change, "ci_low": its.slope_ci[0],
         "ci_high": its.slope_ci[1], "p_value": its.slope_p},
        {"term": "mean_post_effect", "estimate": its.effect, "ci_low": its.ci_low, "ci_high": its.ci_high,
         "p_value": its.p_value},
    ])
    return {"series": series, "did": did, "event_study": fit.event_study, "its": its.series,
            "its_summary": its_summary,
            "placebo": fit.placebo_effects.rename_axis("area_code").reset_index(),
            "comparators": pd.DataFrame({"comparator_code": comp_codes})}


def pooled_detail(dataset: Dataset, indicator_id: str, alpha: float = ALPHA) -> dict[str, pd.DataFrame]:
    """Group-time ATTs, the event-time aggregate and the summary rows of the pooled estimator."""
    data = indicator_panels(dataset)
    if indicator_id not in data:
        raise DataError(f"no observations for indicator {indicator_id!r}", column="indicator_id")
    result, _, _ = pooled_fit(data[indicator_id], dataset.sites.set_index("site_id"), _pool(dataset), alpha)
    return {"group_time": result.group_time, "event_time": result.event_time, "summary": result.summary}
