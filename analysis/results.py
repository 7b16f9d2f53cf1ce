"""What the pages show, computed from the active dataset by the indicators and matching packages,
memoised per code version and dataset checksum (analysis.cache.memo; ``clear_all`` empties it).

This is the one place pages get numbers from; it returns frames, never components. The analysis
settings ([C] choices: k, matching method, per-indicator sets) are parameters with the packages'
defaults, and the matching page can vary them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.estimates import estimates_table, pooled_detail
from analysis.estimates import site_detail as estimates_site_detail
from analysis.names import SiteNames
from analysis.cache import memo
from data.active import active_dataset
from data.hes.disclosure import NOTICE as DISCLOSURE_NOTICE
from data.periods import align, period_label
from data.store import DEMO_NOTICE, Dataset
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
        return f"{src}{notice}Integrated Care Pioneers indicators; dataset {self.dataset.checksum}."


def context() -> Context:
    return _context(active_dataset().checksum)


@memo
def _context(checksum: str) -> Context:
    ds = active_dataset()
    return Context(dataset=ds, names=SiteNames.from_sites(ds.sites),
                   catalogue=ds.catalogue.set_index("indicator_id"),
                   area_names=dict(zip(ds.areas["area_code"], ds.areas["name"])))


# --- comparators and estimates --------------------------------------------------------------------

@memo
def comparator_set(checksum: str, k: int = K_DEFAULT, method: str = DEFAULT_METHOD,
                   covariates: tuple[str, ...] | None = None, per_indicator: bool = PER_INDICATOR) -> ComparatorSet:
    return match(active_dataset(), k=k, method=method, per_indicator=per_indicator,
                 covariates=list(covariates) if covariates else None)


def comparators() -> ComparatorSet:
    """The comparator set every page uses (default settings)."""
    return comparator_set(context().dataset.checksum)


@memo
def _estimates(checksum: str) -> pd.DataFrame:
    return estimates_table(active_dataset(), comparator_set(checksum), k=K_DEFAULT, method=DEFAULT_METHOD)


def estimates() -> pd.DataFrame:
    return _estimates(context().dataset.checksum)


@memo
def _trend_table(checksum: str) -> pd.DataFrame:
    """Every site x indicator trend (site, comparator mean and range, England), built once per dataset."""
    return trend_table(active_dataset(), comparator_set(checksum).table)


@memo
def _trend_frames(checksum: str) -> dict[tuple[str, str], pd.DataFrame]:
    table = _trend_table(checksum)
    return {key: part.drop(columns=["site_id", "indicator_id"]).reset_index(drop=True)
            for key, part in table.groupby(["site_id", "indicator_id"], sort=False)}


def missing_estimate_reason(site_id: str, indicator_id: str) -> str | None:
    """Why the DiD for this site and indicator could not be estimated (the estimates' note), or None."""
    table = estimates()
    row = table[(table["site_id"] == site_id) & (table["indicator_id"] == indicator_id) & (table["method"] == "did")]
    if row.empty:
        return "no estimate for this site and indicator"
    if pd.notna(row["effect"].iloc[0]):
        return None
    note = row["note"].iloc[0] if "note" in row.columns else ""
    return note if isinstance(note, str) and note else "the estimate could not be made from this dataset"


def site_trend(site_id: str, indicator_id: str) -> pd.DataFrame:
    """indicators.trend.TREND_COLUMNS for one site and indicator (a copy: callers may add columns)."""
    frame = _trend_frames(context().dataset.checksum).get((site_id, indicator_id))
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
def _site_detail(checksum: str, site_id: str, indicator_id: str) -> dict[str, pd.DataFrame]:
    return estimates_site_detail(active_dataset(), site_id, indicator_id, comparator_set(checksum), k=K_DEFAULT,
                       method=DEFAULT_METHOD)


def site_detail(site_id: str, indicator_id: str) -> dict[str, pd.DataFrame]:
    return _site_detail(context().dataset.checksum, site_id, indicator_id)


@memo
def _pooled(checksum: str, indicator_id: str) -> dict[str, pd.DataFrame]:
    return pooled_detail(active_dataset(), indicator_id)


def pooled(indicator_id: str) -> dict[str, pd.DataFrame]:
    return _pooled(context().dataset.checksum, indicator_id)


def site_spc(site_id: str, indicator_id: str) -> pd.DataFrame:
    """XmR chart of the site's series, baseline = its pre-intervention periods (indicators.trend.trend_spc)."""
    return _site_spc(context().dataset.checksum, site_id, indicator_id).copy()


@memo
def _site_spc(checksum: str, site_id: str, indicator_id: str) -> pd.DataFrame:
    frame = _trend_frames(checksum)[(site_id, indicator_id)]
    chart = trend_spc(frame, _context(checksum).catalogue.at[indicator_id, "polarity"])
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
def _overview(checksum: str, basis: str) -> pd.DataFrame:
    ctx = _context(checksum)
    polarity = ctx.catalogue["polarity"]
    if basis in ("did", "its"):
        est = _estimates(checksum)
        rows = est[est["method"] == basis].reset_index(drop=True)
        outcome = effect_outcomes(rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy(),
                                  rows["indicator_id"].map(polarity).to_numpy())
        frame = rows[["site_id", "indicator_id", "effect", "effect_pct", "ci_low", "ci_high", "p_value"]].assign(
            outcome=[str(o) for o in outcome])
    elif basis == "england":
        table = _trend_table(checksum)
        latest = table[table["site_value"].notna()].groupby(["site_id", "indicator_id"], sort=False).tail(1)
        frame = pd.DataFrame({
            "site_id": latest["site_id"], "indicator_id": latest["indicator_id"],
            "effect_pct": (latest["site_value"] / latest["england_value"] - 1) * 100,
            "value": latest["site_value"], "ci_low": latest["site_ci_low"], "ci_high": latest["site_ci_high"],
            "england": latest["england_value"], "period": latest["period_label"], "outcome": latest["benchmark"],
        }).reset_index(drop=True)
    elif basis == "spc":
        rows = []
        for (site_id, ind), f in _trend_frames(checksum).items():
            if f["site_value"].notna().sum() < 3:
                continue
            chart = _site_spc(checksum, site_id, ind)
            latest = chart[chart["value"].notna()].tail(1).iloc[0]
            mean = chart.attrs["mean"]
            rows.append({"site_id": site_id, "indicator_id": ind,
                         "effect_pct": (latest["value"] / mean - 1) * 100 if mean else np.nan,
                         "variation": latest["variation"],
                         "outcome": str(_SPC_OUTCOME.get(latest["variation"], Outcome.NOT_COMPARED))})
        frame = pd.DataFrame(rows)
    else:
        raise ValueError(f"unknown basis {basis!r}")
    return with_outcome_words(frame, basis)


def overview(basis: str) -> pd.DataFrame:
    """One row per site and indicator for the overview grid on ``basis``.

    Columns: site_id, indicator_id, effect_pct (did/its: effect as % of the counterfactual;
    england: % above England in the latest period; spc: latest value vs the baseline mean),
    outcome (indicators.benchmark.Outcome value), outcome_label, colour, and basis-specific numbers.
    """
    return _overview(context().dataset.checksum, basis)


def warm() -> None:
    """Compute everything the pages share (comparators, estimates, trends, every grid basis) ahead of the first visit."""
    for basis in ("did", "its", "england", "spc"):
        overview(basis)
