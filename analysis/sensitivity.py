"""Sensitivity of one site's estimate to the analysis choices: does the answer depend on them?

Good evidence is stable across reasonable choices. Each ``Variant`` is one set of choices: the
number of comparators (k), the matching distance, the transition period (left out, today's rule;
or counted as post, i.e. the effect is measured from the start of the transition), how a
part-covered LA counts (whole, or by the share of its population inside the site: data.panels),
and the estimator (matched DiD or synthetic control). The list ``VARIANTS`` is data: a new
estimator is one more entry with its own ``estimator`` name and a function in ``ESTIMATORS``. The k = 5, Mahalanobis, transition-left-out
variant is the main estimate: it runs the estimates' own DiD route (analysis.estimates' placebo
set and site fit), so it equals the table's number exactly.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.estimates import ALPHA, _dates, _placebo, _site_fit, comparators_from
from analysis.synthetic import scm_site
from data.errors import DataError
from data.panels import indicator_panels
from data.store import Dataset
from indicators.did import placebo_arrays, placebo_estimates, treatment_phase
from matching.select import K_DEFAULT, ComparatorSet, match

TRANSITION_WORDS = {"left out": "transition period left out (the main rule)",
                    "post": "transition period counted as after the start"}


@dataclass(frozen=True)
class Variant:
    """One set of analysis choices; ``name`` is what the table and chart show."""

    name: str
    k: int = K_DEFAULT
    method: str = "mahalanobis"
    transition: str = "left out"  # or "post"
    estimator: str = "did"
    weighting: str = "whole"  # or "population_share" (data.panels.SITE_WEIGHTINGS)

    @property
    def is_main(self) -> bool:
        return ((self.k, self.method, self.transition, self.estimator, self.weighting)
                == (K_DEFAULT, "mahalanobis", "left out", "did", "whole"))


VARIANTS: tuple[Variant, ...] = (
    Variant("Main: DiD, k = 5, Mahalanobis, transition left out"),
    Variant("k = 3", k=3),
    Variant("k = 10", k=10),
    Variant("Euclidean distance", method="euclidean"),
    Variant("Transition counted as after the start", transition="post"),
    Variant("Part-covered LAs weighted by population share", weighting="population_share"),
    Variant("Synthetic control (the whole pool, weighted)", k=0, method="", estimator="scm"),
)
"""[C] The variants shown. The synthetic control weighs the whole comparator pool, so it has no k
or distance (``k=0``, ``method=""``)."""

COLUMNS = ["variant", "estimator", "k", "method", "transition", "weighting", "effect", "effect_pct", "ci_low", "ci_high",
           "ci_low_pct", "ci_high_pct", "p_value", "n_comparators", "is_main", "note"]


def _phase(dataset: Dataset, site_id: str, periods: pd.DatetimeIndex, frequency: str, transition: str) -> np.ndarray:
    sites = dataset.sites
    dates = _dates(sites.iloc[int(np.flatnonzero(sites["site_id"].to_numpy() == site_id)[0])])
    if transition == "left out":
        return treatment_phase(periods, frequency, *dates)
    if transition == "post":  # the effect measured from the transition's start: no period is left out for it
        return treatment_phase(periods, frequency, dates[1])
    raise DataError(f"transition rule {transition!r} is not one of {list(TRANSITION_WORDS)}")


ComparatorSource = Callable[[int, str], ComparatorSet]
"""(k, method) -> per-indicator comparator sets; the dashboard passes its memoised ones."""


def _match_one(dataset: Dataset, indicator_id: str) -> ComparatorSource:
    return lambda k, method: match(dataset, k=k, method=method, per_indicator=True, indicators=[indicator_id])


def did_variant(dataset: Dataset, site_id: str, indicator_id: str, variant: Variant,
                comparator_sets: ComparatorSource | None = None, alpha: float = ALPHA) -> dict:
    """The matched DiD under one variant's k, distance and transition rule, by the estimates' route."""
    d = indicator_panels(dataset, variant.weighting)[indicator_id]
    cs = (comparator_sets or _match_one(dataset, indicator_id))(variant.k, variant.method)
    # Only this indicator's rows (with the set's version): the same comparators, validated in a twelfth of the time.
    rows = cs.table[cs.table["indicator_id"] == indicator_id].assign(version=cs.version)
    comps = comparators_from(rows, dataset, k=variant.k, method=variant.method, per_indicator=True)
    phase = _phase(dataset, site_id, d.area_frame.columns, d.frequency, variant.transition)
    placebo = _placebo(dataset, comps, site_id, indicator_id, variant.method)
    codes, p_site, p_comp = placebo_arrays(d.area_frame, placebo.codes, placebo.order)
    fit = _site_fit(site_id, indicator_id, d, phase, comps, placebo_estimates(p_site, p_comp, phase), codes, alpha)
    return {"effect": fit.effect, "effect_pct": fit.effect_pct, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
            "p_value": fit.p_value, "n_comparators": int(fit.n_comparators), "counterfactual": fit.counterfactual_mean}


def scm_variant(dataset: Dataset, site_id: str, indicator_id: str, variant: Variant,
                comparator_sets: ComparatorSource | None = None, alpha: float = ALPHA) -> dict:
    """The synthetic control by the estimates' route (analysis.synthetic); transition periods left out."""
    if variant.transition != "left out" or variant.weighting != "whole":
        raise DataError("the synthetic control variant leaves the transition period out and counts whole LAs; "
                        "the other choices are DiD variants")
    r = scm_site(dataset, site_id, indicator_id, alpha=alpha)["summary"].iloc[0]
    return {"effect": r["effect"], "effect_pct": r["effect_pct"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "p_value": r["p_value"], "n_comparators": int(r["n_donors"]), "counterfactual": r["counterfactual_mean"]}


ESTIMATORS: dict[str, Callable[..., dict]] = {"did": did_variant, "scm": scm_variant}
"""estimator name -> function(dataset, site_id, indicator_id, variant, comparator_sets) returning effect, effect_pct,
ci_low, ci_high, p_value, n_comparators and counterfactual (the mean the effect is a percentage of)."""


def sensitivity_table(dataset: Dataset, site_id: str, indicator_id: str, variants: Sequence[Variant] = VARIANTS,
                      comparator_sets: ComparatorSource | None = None) -> pd.DataFrame:
    """One row per variant (``COLUMNS``): the estimate, its 95% interval (also as % of the expected
    value) and p. A variant that cannot be estimated keeps its row, its numbers missing, ``note`` why.
    ``comparator_sets`` gives the sets for a (k, method); by default they are matched here."""
    if site_id not in set(dataset.sites["site_id"]):
        raise DataError(f"unknown site {site_id!r}", column="site_id")
    if indicator_id not in indicator_panels(dataset):
        raise DataError(f"no observations for indicator {indicator_id!r}", column="indicator_id")
    rows = []
    for v in variants:
        if v.estimator not in ESTIMATORS:
            raise DataError(f"sensitivity variant {v.name!r} names estimator {v.estimator!r}, which is not one of "
                            f"{sorted(ESTIMATORS)}")
        row = {"variant": v.name, "estimator": v.estimator, "k": v.k, "method": v.method,
               "transition": v.transition, "weighting": v.weighting, "is_main": v.is_main, "note": ""}
        try:
            r = ESTIMATORS[v.estimator](dataset, site_id, indicator_id, v, comparator_sets)
        except DataError as exc:
            r = {"effect": np.nan, "effect_pct": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
                 "n_comparators": 0, "counterfactual": np.nan}
            row["note"] = str(exc)
        base = r.pop("counterfactual")
        with np.errstate(invalid="ignore", divide="ignore"):
            r["ci_low_pct"] = 100 * r["ci_low"] / base if base else np.nan
            r["ci_high_pct"] = 100 * r["ci_high"] / base if base else np.nan
        if not np.isfinite(r["effect"]) and not row["note"]:
            row["note"] = "not estimable under this variant"
        rows.append({**row, **r})
    return pd.DataFrame(rows, columns=COLUMNS)


def stability_verdict(table: pd.DataFrame) -> str:
    """One line: do the variants agree in sign and lie within each other's intervals?"""
    ok = table[np.isfinite(table["effect"].astype(float)) & np.isfinite(table["ci_low"].astype(float))]
    if len(ok) < 2:
        return "Too few variants could be estimated to judge stability."
    missing = len(table) - len(ok)
    tail = f" ({missing} variant(s) could not be estimated.)" if missing else ""
    effect, low, high = (ok[c].to_numpy(dtype=float) for c in ("effect", "ci_low", "ci_high"))
    signs = set(np.sign(effect[effect != 0]))
    within = ((effect[:, None] >= low[None, :]) & (effect[:, None] <= high[None, :])).all()
    if len(signs) <= 1 and within:
        return ("Stable: all variants agree in sign and each estimate lies within every other variant's 95% "
                "interval." + tail)
    if len(signs) <= 1:
        return ("Partly stable: all variants agree in sign, but some estimates lie outside other variants' 95% "
                "intervals, so the size depends on the choices." + tail)
    if within:
        return ("Unclear direction: the variants disagree in sign, though each lies within every other's 95% "
                "interval; no choice gives a clear effect." + tail)
    return "Not stable: the variants disagree in sign, so the estimate depends on the analysis choices." + tail
