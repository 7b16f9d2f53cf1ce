"""What the pages show, computed from the active dataset by the indicators and matching packages,
memoised per code version, dataset checksum, geography and arguments (analysis.cache.memo;
``clear_all`` empties it). Every function takes the geography (``la`` | ``ccg``; data.store.Dataset.on).

This is the one place pages get numbers from; it returns frames, never components. The analysis
settings ([C] choices: k, matching method, per-indicator sets) are parameters with the packages'
defaults, and the matching page can vary them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.cache import memo
from analysis.estimates import NO_DATA, NOT_ON_CCG, estimates_table, in_table_order, pooled_detail
from analysis.estimates import site_detail as estimates_site_detail
from analysis.names import SiteNames
from analysis.sensitivity import sensitivity_table, stability_verdict
from analysis.synthetic import scm_site
from data.active import active_dataset
from data.hes.disclosure import NOTICE as DISCLOSURE_NOTICE
from data.panels import indicator_panels, left_out_periods
from data.periods import containing_period, period_label
from data.store import DEMO_NOTICE, GENERATED_SOURCES, GEOGRAPHIES, Dataset
from indicators.benchmark import Outcome, benchmark_many
from indicators.glance import ASSURANCE_WORDS, assurance, recent_trend, spine_position, spine_summary, trend_words, variation_icon
from indicators.spc import VARIATION_COLOURS
from indicators.trend import TREND_COLUMNS, area_values, trend_spc, trend_table
from matching.balance import THRESHOLDS
from matching.select import K_DEFAULT, ComparatorSet, match, match_k_by_balance

DEFAULT_METHOD = "mahalanobis"
PER_INDICATOR = True  # [C] as analysis.estimates: match on each indicator's baseline level and slope too


@dataclass(frozen=True)
class Context:
    dataset: Dataset
    names: SiteNames
    catalogue: pd.DataFrame  # indexed by indicator_id
    area_names: dict[str, str]
    published: dict[str, str] = field(default_factory=dict)
    """indicator_id -> the publishers its real figures come from (published_sources)."""

    def indicator_ids(self) -> list[str]:
        return self.catalogue.index.tolist()

    def source_line(self, indicator_id: str | None = None) -> str:
        # Where the figures shown came from (the MAR for real emergency admissions), not only where the
        # catalogue defines the indicator (HES APC); generated figures keep the catalogue's source.
        src = (f"Source: {self.published.get(indicator_id) or self.catalogue.at[indicator_id, 'source']}. "
               if indicator_id else "")
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
                   area_names=dict(zip(ds.areas["area_code"], ds.areas["name"])),
                   published=published_sources(ds.observations))


def published_sources(observations: pd.DataFrame) -> dict[str, str]:
    """indicator_id -> its real rows' publishers ("NHS England MAR"), from the loaders' ``source``
    ("publisher: file"); generated rows ("demo", "generated:...") name no publisher."""
    if observations is None or observations.empty:
        return {}
    pairs = observations[["indicator_id", "source"]].drop_duplicates()
    publisher = pairs["source"].astype(str).str.split(":").str[0].str.strip()
    real = ~publisher.isin(GENERATED_SOURCES) & (publisher != "")
    return {ind: "; ".join(sorted(set(part))) for ind, part in publisher[real].groupby(pairs.loc[real, "indicator_id"])}


# --- comparators and estimates --------------------------------------------------------------------

@memo
def comparator_set(checksum: str, k: int = K_DEFAULT, method: str = DEFAULT_METHOD,
                   covariates: tuple[str, ...] | None = None, per_indicator: bool = PER_INDICATOR,
                   geography: str = "la") -> ComparatorSet:
    return match(_dataset(geography), k=k, method=method, per_indicator=per_indicator,
                 covariates=list(covariates) if covariates else None)


@memo
def comparator_set_by_balance(checksum: str, method: str = DEFAULT_METHOD, covariates: tuple[str, ...] | None = None,
                              per_indicator: bool = PER_INDICATOR, caliper: float | None = None,
                              geography: str = "la") -> ComparatorSet:
    """Comparator sets with k chosen per site (and indicator) by balance (matching.select.k_by_balance)."""
    return match_k_by_balance(_dataset(geography), method=method, per_indicator=per_indicator, caliper=caliper,
                              covariates=list(covariates) if covariates else None)


@memo
def comparator_set_within(checksum: str, k: int = K_DEFAULT, method: str = DEFAULT_METHOD,
                          covariates: tuple[str, ...] | None = None, per_indicator: bool = PER_INDICATOR,
                          caliper: float | None = None, geography: str = "la") -> ComparatorSet:
    """Comparator sets with a caliper (the matching page's choice): a site gets only candidates within it."""
    return match(_dataset(geography), k=k, method=method, per_indicator=per_indicator, caliper=caliper,
                 covariates=list(covariates) if covariates else None)


def comparators(geography: str = "la") -> ComparatorSet:
    """The comparator set every page uses (default settings)."""
    return comparator_set(active_dataset().checksum, geography=geography)


ESTIMATE_PARTS = (("did", "its"), ("scm",), ("pooled",))
"""The estimates table is computed in these parts, so a page waits only for the methods it shows
(the overview's default DiD grid needs no synthetic control). DiD and ITS share their site groups."""


@memo
def _estimate_rows(checksum: str, methods: tuple[str, ...], geography: str = "la") -> pd.DataFrame:
    """The estimates table's rows for ``methods`` (one of ``ESTIMATE_PARTS``)."""
    return estimates_table(_dataset(geography), comparator_set(checksum, geography=geography), k=K_DEFAULT,
                           method=DEFAULT_METHOD, methods=methods)


def _part_of(method: str) -> tuple[str, ...]:
    return next(part for part in ESTIMATE_PARTS if method in part)


@memo
def _estimates(checksum: str, geography: str = "la") -> pd.DataFrame:
    return in_table_order([_estimate_rows(checksum, part, geography) for part in ESTIMATE_PARTS])


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


def indicator_has_data(indicator_id: str, geography: str = "la") -> bool:
    """Whether the dataset holds any value for this indicator on ``geography`` (a real dataset may hold none)."""
    return no_data_reason(indicator_id, geography) is None


def no_data_message(indicator_id: str, geography: str = "la") -> str:
    """Why an indicator shows nothing: no data of this kind in this dataset (or not on CCGs), and the
    source that would supply it."""
    ctx = context(geography)
    cat = ctx.catalogue.loc[indicator_id]
    if geography == "ccg":
        return f"{cat['short_name']} is {NOT_ON_CCG}; its definition is below."
    kind = "generated" if ctx.dataset.is_demo else "real"
    return (f"There is no {kind} data for {cat['short_name']} in this dataset. It would come from "
            f"{cat['source']}; its definition is below.")


def require_data(indicator_id: str, error: type[Exception], geography: str = "la") -> None:
    """Raise ``error`` naming the missing source when the dataset holds nothing for this indicator."""
    if not indicator_has_data(indicator_id, geography):
        raise error(no_data_message(indicator_id, geography).split(";")[0])


def pooled_reason(indicator_id: str, geography: str = "la") -> str:
    """Why the pooled estimate is missing (the estimates' note), in words."""
    table = estimates(geography)
    row = table[(table["indicator_id"] == indicator_id) & (table["method"] == "pooled") & (table["site_id"] == "all")]
    note = row["note"].iloc[0] if len(row) and "note" in row.columns else ""
    return note if isinstance(note, str) and note else "too few periods before and after the start"


@memo
def _did_notes(checksum: str, geography: str = "la") -> dict[tuple[str, str], str | None]:
    """(site, indicator) -> why its DiD is missing, or None when it has an estimate."""
    table = _estimate_rows(checksum, _part_of("did"), geography)
    rows = table[table["method"] == "did"]
    notes = rows["note"].tolist() if "note" in rows.columns else [""] * len(rows)
    out = {}
    for s, i, e, n in zip(rows["site_id"].tolist(), rows["indicator_id"].tolist(), rows["effect"].tolist(), notes):
        out[(s, i)] = None if pd.notna(e) else (n if isinstance(n, str) and n else
                                                "the estimate could not be made from this dataset")
    return out


BALANCE_WORDS = {"good": "well matched", "acceptable": "acceptably matched", "poor": "poorly matched"}


def balance_quality(abs_smd) -> str:
    """A comparator set's balance in one word, from its covariates' |SMD| (matching.balance thresholds):
    "good" when every one is below 0.1, "acceptable" when every one is below 0.25, else "poor"."""
    a = np.abs(np.asarray(abs_smd, dtype=float))
    a = a[np.isfinite(a)]
    if not len(a):
        return ""
    return "good" if (a < THRESHOLDS[0]).all() else "acceptable" if (a < THRESHOLDS[1]).all() else "poor"


@dataclass(frozen=True)
class Balance:
    """How like its site a comparator set is: the numbers a reader needs beside an estimate."""

    quality: str  # good / acceptable / poor / "" (no comparators)
    n_good: int
    n_covariates: int
    worst_smd: float
    distances: tuple[float, ...]

    def sentence(self, site: str) -> str:
        if not self.quality:
            return ""
        far = (f"; the comparators are at distances {min(self.distances):.2f} to {max(self.distances):.2f} "
               "(0 = identical on the baseline characteristics)" if self.distances else "")
        return (f"The comparators are {BALANCE_WORDS[self.quality]} to {site}: {self.n_good} of {self.n_covariates} "
                f"baseline characteristics are well balanced (|standardised difference| < 0.1) and the largest "
                f"difference is {self.worst_smd:.2f} pool standard deviations{far}.")


@memo
def _balance(checksum: str, geography: str = "la") -> dict[tuple[str, str], Balance]:
    cs = comparator_set(checksum, geography=geography)
    b = cs.balance()
    dist = {key: tuple(part.sort_values("rank")["distance"].round(4).tolist())
            for key, part in cs.table.groupby(["site_id", "indicator_id"], sort=False)}
    out = {}
    for (site_id, ind), part in b.groupby(["site_id", "indicator_id"], sort=False):
        a = part["smd_after"].abs().to_numpy(dtype=float)
        finite = a[np.isfinite(a)]
        out[(site_id, ind)] = Balance(quality=balance_quality(a), n_good=int((part["balance_after"] == "good").sum()),
                                      n_covariates=len(part), worst_smd=float(finite.max()) if len(finite) else np.nan,
                                      distances=dist.get((site_id, ind), ()))
    return out


def site_balance(site_id: str, indicator_id: str, geography: str = "la") -> Balance:
    """Balance of the comparator set behind this site's estimate for this indicator."""
    return _balance(active_dataset().checksum, geography).get((site_id, indicator_id), Balance("", 0, 0, np.nan, ()))


@memo
def _balance_rows(checksum: str, geography: str = "la") -> pd.DataFrame:
    return comparator_set(checksum, geography=geography).balance()


def balance_rows(geography: str = "la") -> pd.DataFrame:
    """Balance of the default comparator sets (`comparators`), one row per site, indicator and covariate
    (ComparatorSet.balance), computed once per dataset; callers filter, never modify, it."""
    return _balance_rows(active_dataset().checksum, geography)


def site_love(site_id: str, indicator_id: str, geography: str = "la") -> pd.DataFrame:
    """Balance of the comparators behind this site's estimate, per covariate: covariate, abs_before (site vs
    the whole pool), abs_after (site vs its comparators), rating_after, n_comparators. Empty without a set."""
    b = balance_rows(geography)
    part = b[(b["site_id"] == site_id) & (b["indicator_id"] == indicator_id)]
    return pd.DataFrame({"covariate": part["covariate"].to_numpy(), "abs_before": part["smd_before"].abs().to_numpy(),
                         "abs_after": part["smd_after"].abs().to_numpy(),
                         "rating_after": part["balance_after"].to_numpy(),
                         "n_comparators": part["n_comparators"].to_numpy()})


@memo
def _sensitivity(checksum: str, site_id: str, indicator_id: str, geography: str = "la") -> pd.DataFrame:
    # The variants' comparator sets are the memoised ones, so the main variant uses the estimates' own set.
    return sensitivity_table(_dataset(geography), site_id, indicator_id, comparator_sets=lambda k, method:
                             comparator_set(checksum, k, method, geography=geography))


def sensitivity(site_id: str, indicator_id: str, geography: str = "la") -> tuple[pd.DataFrame, str]:
    """The estimate under each analysis.sensitivity variant, and a one-line verdict on its stability."""
    table = _sensitivity(active_dataset().checksum, site_id, indicator_id, geography)
    return table.copy(), stability_verdict(table)


def all_site_trends(geography: str = "la") -> pd.DataFrame:
    """Every site x indicator trend of the active dataset (indicators.trend.trend_table), as the pages draw them."""
    return _trend_table(active_dataset().checksum, geography)


def missing_estimate_reason(site_id: str, indicator_id: str, geography: str = "la") -> str | None:
    """Why the DiD for this site and indicator could not be estimated (the estimates' note), or None."""
    return _did_notes(active_dataset().checksum, geography).get((site_id, indicator_id),
                                                                "no estimate for this site and indicator")


def site_trend(site_id: str, indicator_id: str, geography: str = "la") -> pd.DataFrame:
    """indicators.trend.TREND_COLUMNS for one site and indicator (a copy: callers may add columns)."""
    frame = _trend_frames(active_dataset().checksum, geography).get((site_id, indicator_id))
    if frame is None:  # no data for this site and indicator in this dataset (e.g. a real dataset's gaps)
        return pd.DataFrame(columns=TREND_COLUMNS)
    return frame.copy()


def left_out_note(site_id: str, indicator_id: str, geography: str = "la", anon: bool = False) -> str:
    """Which of the site's periods are left out because a member did not report, in words ("" if none).

    E.g. "Sep 2014 left out: 1 of 2 member LAs reported." (data.aggregate.MISSING_MEMBER_SHARE).
    Anonymised, the counts are not given: a site's number of LAs can identify it.
    """
    ds = _dataset(geography)
    panel = indicator_panels(ds).get(indicator_id)
    gaps = left_out_periods(panel, site_id) if panel is not None else []
    if not gaps:
        return ""
    units = "CCGs" if geography == "ccg" else "LAs"
    shown = [f"{period_label(start, panel.frequency)} left out: "
             + (f"a member {units[:-1]} did not report" if anon else f"{n} of {expected} member {units} reported")
             for start, n, expected in gaps[:6]]
    more = f"; and {len(gaps) - 6} more periods" if len(gaps) > 6 else ""
    return ("; ".join(shown) + more + ". A site period is left out when members holding 5% or more of the "
            "site's population are missing from it, so that part of the site does not stand in for the whole.")


def intervention_labels(site_id: str, indicator_id: str) -> tuple[str, tuple[str, str]]:
    """The start period and the transition period as the indicator's own period labels."""
    return _intervention_labels(active_dataset().checksum, site_id, indicator_id)


@memo
def _intervention_labels(checksum: str, site_id: str, indicator_id: str) -> tuple[str, tuple[str, str]]:
    # Every chart of a site asks (a page of small multiples asks for each indicator).
    ctx = _context(checksum)
    freq = ctx.catalogue.at[indicator_id, "frequency"]
    site = ctx.dataset.sites.set_index("site_id").loc[site_id]
    # The indicator's own periods: its years may be calendar years (deaths) or financial years.
    panel = indicator_panels(ctx.dataset).get(indicator_id)
    periods = panel.periods if panel is not None else pd.DatetimeIndex([])

    def label(d) -> str:
        return period_label(containing_period(periods, d, freq), freq)

    return label(site["start"]), (label(site["transition_start"]), label(site["transition_end"]))


@memo
def _site_detail(checksum: str, site_id: str, indicator_id: str, geography: str = "la") -> dict[str, pd.DataFrame]:
    return estimates_site_detail(_dataset(geography), site_id, indicator_id,
                                 comparator_set(checksum, geography=geography), k=K_DEFAULT, method=DEFAULT_METHOD)


def site_detail(site_id: str, indicator_id: str, geography: str = "la") -> dict[str, pd.DataFrame]:
    return _site_detail(active_dataset().checksum, site_id, indicator_id, geography)


@memo
def _scm_detail(checksum: str, site_id: str, indicator_id: str, geography: str = "la") -> dict[str, pd.DataFrame]:
    return scm_site(_dataset(geography), site_id, indicator_id)


def scm_detail(site_id: str, indicator_id: str, geography: str = "la") -> dict[str, pd.DataFrame]:
    """A site's synthetic control for one indicator (analysis.synthetic.scm_site): summary, series, weights."""
    return _scm_detail(active_dataset().checksum, site_id, indicator_id, geography)


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


def latest_area_values(indicator_id: str, geography: str = "la") -> pd.DataFrame:
    """Every area's latest value with its interval and England's (indicators.trend.area_values)."""
    return _latest_area_values(active_dataset().checksum, indicator_id, geography)


@memo
def _latest_area_values(checksum: str, indicator_id: str, geography: str = "la") -> pd.DataFrame:
    return area_values(_dataset(geography), indicator_id)


def site_glance(site_id: str, geography: str = "la") -> pd.DataFrame:
    """One row per indicator: the site's latest value against England's spread (the spine), its recent trend,
    and its SPC chart's Making Data Count variation and assurance (against England's latest value)."""
    return _site_glance(active_dataset().checksum, site_id, geography).copy()


@memo
def _site_glance(checksum: str, site_id: str, geography: str = "la") -> pd.DataFrame:
    ctx = _context(checksum, geography)
    rows = []
    for ind in ctx.indicator_ids():
        frame = _trend_frames(checksum, geography).get((site_id, ind))
        polarity = ctx.catalogue.at[ind, "polarity"]
        row = {"indicator_id": ind, "indicator": ctx.catalogue.at[ind, "short_name"],
               "unit": ctx.catalogue.at[ind, "unit"], "polarity": polarity}
        seen = frame[frame["site_value"].notna()] if frame is not None else None
        if seen is None or seen.empty:
            rows.append(row)
            continue
        latest = seen.iloc[-1]
        areas = _latest_area_values(checksum, ind, geography)
        at_latest = areas[areas["period_label"] == latest["period_label"]]["value"] if len(areas) else areas
        england = float(latest["england_value"]) if pd.notna(latest["england_value"]) else np.nan
        spine = spine_summary(at_latest, england, polarity)
        chart = _site_spc(checksum, site_id, ind, geography)
        last = chart[chart["value"].notna()].tail(1) if len(chart) else chart
        row.update(period=latest["period_label"], value=float(latest["site_value"]),
                   ci_low=latest["site_ci_low"], ci_high=latest["site_ci_high"],
                   numerator=latest["site_numerator"], denominator=latest["site_denominator"],
                   england=england, benchmark=latest["benchmark"], n_areas=len(at_latest), **spine,
                   position=spine_position(float(latest["site_value"]), england, spine),
                   recent=trend_words(recent_trend(seen["site_value"], seen["site_ci_low"], seen["site_ci_high"]),
                                      polarity),
                   variation=variation_icon(last["variation"].iloc[0] if len(last) else None,
                                            float(last["value"].iloc[0]) if len(last) else np.nan,
                                            chart.attrs.get("mean", np.nan)),
                   assurance=ASSURANCE_WORDS.get(assurance(chart["value"] if len(chart) else [], polarity, england))
                   if polarity != "none" else ASSURANCE_WORDS[None])
        rows.append(row)
    return pd.DataFrame(rows)


# --- the overview grid --------------------------------------------------------------------------

OUTCOME_WORDS = {
    "did": {Outcome.BETTER: "better than comparators", Outcome.SIMILAR: "no clear difference",
            Outcome.WORSE: "worse than comparators", Outcome.LOWER: "lower than comparators",
            Outcome.HIGHER: "higher than comparators", Outcome.NOT_COMPARED: "not estimated"},
    "its": {Outcome.BETTER: "trend improved", Outcome.SIMILAR: "no clear change in trend",
            Outcome.WORSE: "trend worsened", Outcome.LOWER: "trend fell", Outcome.HIGHER: "trend rose",
            Outcome.NOT_COMPARED: "not estimated"},
    "scm": {Outcome.BETTER: "better than its synthetic control", Outcome.SIMILAR: "no clear difference",
            Outcome.WORSE: "worse than its synthetic control", Outcome.LOWER: "lower than its synthetic control",
            Outcome.HIGHER: "higher than its synthetic control", Outcome.NOT_COMPARED: "not estimated"},
    "england": {o: o.label for o in Outcome},
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
    if basis in ("did", "its", "scm"):
        est = _estimate_rows(checksum, _part_of(basis), geography)
        rows = est[est["method"] == basis].reset_index(drop=True)
        outcome = effect_outcomes(rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy(),
                                  rows["indicator_id"].map(polarity).to_numpy())
        frame = rows[["site_id", "indicator_id", "effect", "effect_pct", "ci_low", "ci_high", "p_value"]].assign(
            outcome=[str(o) for o in outcome], note=rows["note"].fillna("").to_numpy() if "note" in rows else "")
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
        if len(frame):
            # The grid uses the SPC chart's own Making Data Count colours, so the two never disagree.
            out = with_outcome_words(frame, basis)
            return out.assign(colour=[VARIATION_COLOURS.get(v, c) for v, c in zip(out["variation"], out["colour"])])
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


POOLED_LABELS = {"all": "All Pioneers (pooled)", "wave1": "Wave 1 Pioneers (pooled)",
                 "wave2": "Wave 2 Pioneers (pooled)"}


@memo
def _pooled_overview(checksum: str, geography: str = "la") -> pd.DataFrame:
    ctx = _context(checksum, geography)
    est = _estimate_rows(checksum, _part_of("pooled"), geography)
    rows = est[est["method"] == "pooled"].reset_index(drop=True)
    outcome = effect_outcomes(rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy(),
                              rows["indicator_id"].map(ctx.catalogue["polarity"]).to_numpy())
    frame = rows[["site_id", "indicator_id", "effect", "effect_pct", "ci_low", "ci_high", "p_value", "n_comparators",
                  "n_pre", "n_post"]].rename(columns={"site_id": "aggregate"}).assign(
        label=rows["site_id"].map(lambda a: POOLED_LABELS.get(a, f"{a} (pooled)")).to_numpy(),
        outcome=[str(o) for o in outcome], note=rows["note"].fillna("").to_numpy())
    return with_outcome_words(frame, "did")


def pooled_overview(geography: str = "la") -> pd.DataFrame:
    """The pooled effect across Pioneers (all, wave 1, wave 2) per indicator, with outcome words and colours:
    aggregate, label, indicator_id, effect, effect_pct, ci_low, ci_high, p_value, outcome, outcome_label, colour, note."""
    return _pooled_overview(active_dataset().checksum, geography)


def overview_row(basis: str, site_id: str, indicator_id: str, geography: str = "la") -> dict:
    """One cell of the overview on ``basis`` as a dict (outcome "not compared" when there is none)."""
    frame = overview(basis, geography)
    rows = frame[(frame["site_id"] == site_id) & (frame["indicator_id"] == indicator_id)]
    if rows.empty:
        return {"outcome": str(Outcome.NOT_COMPARED), "outcome_label": OUTCOME_WORDS[basis][Outcome.NOT_COMPARED]}
    return rows.iloc[0].to_dict()


def warm() -> None:
    """Compute everything the pages share (comparators, estimates, trends, every grid basis, pooled rows,
    on both geographies) ahead of the first visit."""
    for geography in GEOGRAPHIES:
        if geography != "la" and not len(active_dataset().units(geography)):
            continue  # a dataset without CCG units: its CCG pages say so, nothing to compute
        for basis in ("did", "its", "scm", "england", "spc"):
            overview(basis, geography)
        pooled_overview(geography)
