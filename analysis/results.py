"""What the pages show, computed from the active dataset by the indicators and matching packages,
memoised per code version, dataset checksum, geography and arguments (analysis.cache.memo;
``clear_all`` empties it). Every function takes the geography (``la`` | ``ccg``; data.store.Dataset.on).

This is the one place pages get numbers from; it returns frames, never components. The analysis
settings ([C] choices: k, matching method, per-indicator sets) are parameters with the packages'
defaults, and the matching page can vary them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.cache import memo
from analysis.estimates import NO_DATA, NOT_ON_CCG, estimates_table, pooled_detail
from analysis.estimates import site_detail as estimates_site_detail
from analysis.names import SiteNames
from data.active import active_dataset
from data.hes.disclosure import NOTICE as DISCLOSURE_NOTICE
from data.panels import indicator_panels
from data.periods import align, period_label
from data.store import DEMO_NOTICE, GEOGRAPHIES, Dataset
from indicators.benchmark import Outcome, benchmark_many
from indicators.trend import TREND_COLUMNS, trend_spc, trend_table
from matching.select import K_DEFAULT, ComparatorSet, match

DEFAULT_METHOD = "mahalanobis"
PER_INDICATOR = True  # [C] as analysis.estimates: match on each indicator's baseline level and slope too


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
        controlled = getattr(self.dataset, "disclosure_controlled", False)
        if indicator_id is None:  # the dataset's notice names its generated and controlled figures
            shown = bool(self.dataset.generated_indicators) or controlled
            notice = f"{self.dataset.notice}. " if shown else ""
        else:
            notice = f"{DEMO_NOTICE}. " if self.dataset.is_generated(indicator_id) else ""
            notice += f"{DISCLOSURE_NOTICE}. " if controlled else ""
        units = "Units: CCGs (2019/20 successors). " if self.dataset.geography == "ccg" else ""
        return f"{src}{notice}{units}Integrated Care Pioneers indicators; dataset {self.dataset.checksum}."


def _dataset(geography: str) -> Dataset:
    """The active dataset seen on ``geography`` (``la`` | ``ccg``; data.store.Dataset.on)."""
    return active_dataset().on(geography)


def context(geography: str = "la") -> Context:
    return _context(active_dataset().checksum, geography)


@memo
def _context(checksum: str, geography: str = "la") -> Context:
    ds = _dataset(geography)
    return Context(dataset=ds, names=SiteNames.from_sites(ds.sites),
                   catalogue=ds.catalogue.set_index("indicator_id"),
                   area_names=dict(zip(ds.areas["area_code"], ds.areas["name"])))


# --- comparators and estimates --------------------------------------------------------------------

@memo
def comparator_set(checksum: str, k: int = K_DEFAULT, method: str = DEFAULT_METHOD,
                   covariates: tuple[str, ...] | None = None, per_indicator: bool = PER_INDICATOR,
                   geography: str = "la") -> ComparatorSet:
    return match(_dataset(geography), k=k, method=method, per_indicator=per_indicator,
                 covariates=list(covariates) if covariates else None)


def comparators(geography: str = "la") -> ComparatorSet:
    """The comparator set every page uses (default settings)."""
    return comparator_set(active_dataset().checksum, geography=geography)


@memo
def _estimates(checksum: str, geography: str = "la") -> pd.DataFrame:
    return estimates_table(_dataset(geography), comparator_set(checksum, geography=geography), k=K_DEFAULT,
                           method=DEFAULT_METHOD)


def estimates(geography: str = "la") -> pd.DataFrame:
    return _estimates(active_dataset().checksum, geography)


@memo
def _trend_table(checksum: str, geography: str = "la") -> pd.DataFrame:
    """Every site x indicator trend (site, comparator mean and range, England), built once per dataset."""
    return trend_table(_dataset(geography), comparator_set(checksum, geography=geography).table)


@memo
def _trend_frames(checksum: str, geography: str = "la") -> dict[tuple[str, str], pd.DataFrame]:
    table = _trend_table(checksum, geography)
    if geography == "ccg":
        # An indicator without CCG data has England only: no series to show on this geography.
        table = table[table["indicator_id"].isin(list(indicator_panels(_dataset(geography))))]
    return {key: part.drop(columns=["site_id", "indicator_id"]).reset_index(drop=True)
            for key, part in table.groupby(["site_id", "indicator_id"], sort=False)}


def geography_problem(geography: str = "la") -> str | None:
    """Why the active dataset cannot be shown on ``geography`` at all (None when it can): a dataset
    built without CCG units (demo data before CCGs, an LA-only ingest) has nothing on CCGs."""
    if geography == "la" or len(active_dataset().units(geography)):
        return None
    return ("this dataset holds no CCG units (build the real dataset with `pioneers build-real`, ingest the "
            "Monthly Activity Return with `pioneers ingest mar`, or rebuild the demo)")


def no_data_reason(indicator_id: str, geography: str = "la") -> str | None:
    """Why an indicator has nothing to show on ``geography`` (None when it has data): pages say
    this in words instead of drawing empty axes (on CCGs, every indicator but emergency admissions)."""
    if indicator_id in indicator_panels(_dataset(geography)):
        return None
    return NOT_ON_CCG if geography == "ccg" else NO_DATA


def missing_estimate_reason(site_id: str, indicator_id: str, geography: str = "la") -> str | None:
    """Why the DiD for this site and indicator could not be estimated (the estimates' note), or None."""
    table = estimates(geography)
    row = table[(table["site_id"] == site_id) & (table["indicator_id"] == indicator_id) & (table["method"] == "did")]
    if row.empty:
        return "no estimate for this site and indicator"
    if pd.notna(row["effect"].iloc[0]):
        return None
    note = row["note"].iloc[0] if "note" in row.columns else ""
    return note if isinstance(note, str) and note else "the estimate could not be made from this dataset"


def site_trend(site_id: str, indicator_id: str, geography: str = "la") -> pd.DataFrame:
    """indicators.trend.TREND_COLUMNS for one site and indicator (a copy: callers may add columns)."""
    frame = _trend_frames(active_dataset().checksum, geography).get((site_id, indicator_id))
    if frame is None:  # no data for this site and indicator in this dataset (e.g. a real dataset's gaps)
        return pd.DataFrame(columns=TREND_COLUMNS)
    return frame.copy()


def intervention_labels(site_id: str, indicator_id: str) -> tuple[str, tuple[str, str]]:
    """The start period and the transition period as the indicator's own period labels."""
    ctx = context()
    freq = ctx.catalogue.at[indicator_id, "frequency"]
    site = ctx.dataset.sites.set_index("site_id").loc[site_id]
    return (period_label(align(site["start"], freq), freq),
            (period_label(align(site["transition_start"], freq), freq),
             period_label(align(site["transition_end"], freq), freq)))


@memo
def _site_detail(checksum: str, site_id: str, indicator_id: str, geography: str = "la") -> dict[str, pd.DataFrame]:
    return estimates_site_detail(_dataset(geography), site_id, indicator_id,
                                 comparator_set(checksum, geography=geography), k=K_DEFAULT, method=DEFAULT_METHOD)


def site_detail(site_id: str, indicator_id: str, geography: str = "la") -> dict[str, pd.DataFrame]:
    return _site_detail(active_dataset().checksum, site_id, indicator_id, geography)


@memo
def _pooled(checksum: str, indicator_id: str, geography: str = "la") -> dict[str, pd.DataFrame]:
    return pooled_detail(_dataset(geography), indicator_id)


def pooled(indicator_id: str, geography: str = "la") -> dict[str, pd.DataFrame]:
    return _pooled(active_dataset().checksum, indicator_id, geography)


def site_spc(site_id: str, indicator_id: str, geography: str = "la") -> pd.DataFrame:
    """XmR chart of the site's series, baseline = its pre-intervention periods (indicators.trend.trend_spc)."""
    return _site_spc(active_dataset().checksum, site_id, indicator_id, geography).copy()


@memo
def _site_spc(checksum: str, site_id: str, indicator_id: str, geography: str = "la") -> pd.DataFrame:
    frame = _trend_frames(checksum, geography)[(site_id, indicator_id)]
    chart = trend_spc(frame, _context(checksum, geography).catalogue.at[indicator_id, "polarity"])
    chart.insert(0, "period_label", frame["period_label"].to_numpy())
    chart.insert(1, "phase", frame["phase"].to_numpy())
    return chart.reset_index(drop=True)


# --- the overview grid --------------------------------------------------------------------------

OUTCOME_WORDS = {
    "did": {Outcome.BETTER: "better than comparators", Outcome.SIMILAR: "no clear difference",
            Outcome.WORSE: "worse than comparators", Outcome.LOWER: "lower than comparators",
            Outcome.HIGHER: "higher than comparators", Outcome.NOT_COMPARED: "not estimated"},
    "its": {Outcome.BETTER: "trend improved", Outcome.SIMILAR: "no clear change in trend",
            Outcome.WORSE: "trend worsened", Outcome.LOWER: "trend fell", Outcome.HIGHER: "trend rose",
            Outcome.NOT_COMPARED: "not estimated"},
    "england": {o: o.label.lower() for o in Outcome},
    "spc": {Outcome.BETTER: "improvement (special cause)", Outcome.SIMILAR: "common cause variation",
            Outcome.WORSE: "concern (special cause)", Outcome.HIGHER: "special cause (no preferred direction)",
            Outcome.NOT_COMPARED: "not charted"},
}
NOT_ON_CCG_CELL = "not available on CCGs"
_SPC_OUTCOME = {"improvement": Outcome.BETTER, "concern": Outcome.WORSE, "neutral": Outcome.HIGHER,
                "common cause": Outcome.SIMILAR}


def effect_outcomes(ci_low, ci_high, polarity) -> pd.Series:
    """An effect's outcome: its interval entirely below zero is "lower" (better when lower is good), etc.

    The Fingertips rule (indicators.benchmark) with zero, "no effect", as the reference value.
    """
    return benchmark_many(pd.Series(ci_low, dtype=float), pd.Series(ci_high, dtype=float),
                          pd.Series(0.0, index=pd.RangeIndex(len(ci_low))), pd.Series(polarity).to_numpy())


def with_outcome_words(frame: pd.DataFrame, basis: str) -> pd.DataFrame:
    words = OUTCOME_WORDS[basis]
    return frame.assign(outcome_label=[words[Outcome(o)] for o in frame["outcome"]],
                        colour=[Outcome(o).colour for o in frame["outcome"]])


@memo
def _overview(checksum: str, basis: str, geography: str = "la") -> pd.DataFrame:
    ctx = _context(checksum, geography)
    polarity = ctx.catalogue["polarity"]
    if basis in ("did", "its"):
        est = _estimates(checksum, geography)
        rows = est[est["method"] == basis].reset_index(drop=True)
        outcome = effect_outcomes(rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy(),
                                  rows["indicator_id"].map(polarity).to_numpy())
        frame = rows[["site_id", "indicator_id", "effect", "effect_pct", "ci_low", "ci_high", "p_value"]].assign(
            outcome=[str(o) for o in outcome])
    elif basis == "england":
        table = _trend_table(checksum, geography)
        latest = table[table["site_value"].notna()].groupby(["site_id", "indicator_id"], sort=False).tail(1)
        frame = pd.DataFrame({
            "site_id": latest["site_id"], "indicator_id": latest["indicator_id"],
            "effect_pct": (latest["site_value"] / latest["england_value"] - 1) * 100,
            "value": latest["site_value"], "ci_low": latest["site_ci_low"], "ci_high": latest["site_ci_high"],
            "england": latest["england_value"], "period": latest["period_label"], "outcome": latest["benchmark"],
        }).reset_index(drop=True)
    elif basis == "spc":
        rows = []
        for (site_id, ind), f in _trend_frames(checksum, geography).items():
            if f["site_value"].notna().sum() < 3:
                continue
            chart = _site_spc(checksum, site_id, ind, geography)
            latest = chart[chart["value"].notna()].tail(1).iloc[0]
            mean = chart.attrs["mean"]
            rows.append({"site_id": site_id, "indicator_id": ind,
                         "effect_pct": (latest["value"] / mean - 1) * 100 if mean else np.nan,
                         "variation": latest["variation"],
                         "outcome": str(_SPC_OUTCOME.get(latest["variation"], Outcome.NOT_COMPARED))})
        frame = pd.DataFrame(rows, columns=["site_id", "indicator_id", "effect_pct", "variation", "outcome"])
    else:
        raise ValueError(f"unknown basis {basis!r}")
    frame = with_outcome_words(frame, basis)
    if geography == "ccg" and len(frame):
        # An indicator with no CCG data is not "not estimated" but not available on this geography.
        absent = ~frame["indicator_id"].isin(list(indicator_panels(ctx.dataset)))
        frame.loc[absent, "outcome_label"] = NOT_ON_CCG_CELL
    return frame


def overview(basis: str, geography: str = "la") -> pd.DataFrame:
    """One row per site and indicator for the overview grid on ``basis``.

    Columns: site_id, indicator_id, effect_pct (did/its: effect as % of the counterfactual;
    england: % above England in the latest period; spc: latest value vs the baseline mean),
    outcome (indicators.benchmark.Outcome value), outcome_label, colour, and basis-specific numbers.
    """
    return _overview(active_dataset().checksum, basis, geography)


def warm() -> None:
    """Compute everything the pages share (comparators, estimates, trends, every grid basis, on both
    geographies) ahead of the first visit."""
    for geography in GEOGRAPHIES:
        if geography != "la" and not len(active_dataset().units(geography)):
            continue  # a dataset without CCG units: its CCG pages say so, nothing to compute
        for basis in ("did", "its", "england", "spc"):
            overview(basis, geography)
