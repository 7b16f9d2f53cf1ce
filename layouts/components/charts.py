"""Charts named by a spec: the same spec builds the figure on the page and the CSV download.

A `ChartSpec` travels in the download button's id, so the download callback rebuilds exactly
the table of the chart on screen (same site, indicator, mode) rather than re-reading the page.
A builder gathers the numbers and returns the table; the figure is drawn from the same numbers
when first asked for (`Chart.figure`), so a CSV download never draws one.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis import results
from data.store import GEOGRAPHIES
from indicators.benchmark import Outcome
from indicators.ci import ci_for
from indicators.funnel import adjusted_limits, null_se, overdispersion
from indicators.glance import spine_position
from layouts.components import figures
from layouts.components.anonymise import BANDING_RULE, anonymised_only, denominator_band
from layouts.components.readings import count_reading, did_reading, its_reading, scm_reading
from layouts.components.urlstate import CALIPER_MAX, ForgedRequest
from matching.balance import THRESHOLDS
from matching.select import K_DEFAULT, K_RANGE, METHODS


@dataclass(frozen=True)
class ChartSpec:
    kind: str
    site: str = ""  # the site's URL path id: its anonymous slug in anonymised mode, so ids in the DOM name nothing
    indicator_id: str = ""
    anon: bool = False
    compact: bool = False
    k: int = K_DEFAULT
    method: str = "mahalanobis"
    covariates: str = ""  # comma-joined, "" = the package default
    geo: str = "la"  # the geography: local authorities or CCG units (data.store.GEOGRAPHIES)
    kauto: bool = False  # k chosen per site by balance (matching.select.k_by_balance)
    caliper: float = 0.0  # the matching caliper; 0 = none

    def __post_init__(self) -> None:
        if self.geo not in GEOGRAPHIES:  # a forged download key: refused like any other bad key
            raise ValueError(f"unknown geography {self.geo!r}")
        if anonymised_only() and not self.anon:  # a forged download key cannot turn names back on
            object.__setattr__(self, "anon", True)

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_key(cls, key: str) -> "ChartSpec":
        """The spec a download button carries; anything a page of this app could not have made is refused."""
        try:
            fields = json.loads(key) if isinstance(key, str) and len(key) < 2000 else None
            spec = cls(**fields) if isinstance(fields, dict) else None
        except (TypeError, ValueError, RecursionError):
            spec = None
        types = {"kind": str, "site": str, "indicator_id": str, "anon": bool, "compact": bool, "k": int,
                 "method": str, "covariates": str, "geo": str, "kauto": bool, "caliper": float}
        if (spec is None or any(type(getattr(spec, f)) is not t for f, t in types.items())
                or spec.kind not in BUILDERS or spec.method not in METHODS or not K_RANGE[0] <= spec.k <= K_RANGE[1]
                or not 0 <= spec.caliper <= CALIPER_MAX):
            raise ForgedRequest("the chart's download key is not one this dashboard made")
        return spec


@dataclass
class Chart:
    draw: Callable[[], go.Figure]
    table: pd.DataFrame
    title: str
    filename: str
    colour_note: str
    unavailable: str = ""

    @cached_property
    def figure(self) -> go.Figure:
        """The figure, drawn on first use (the page needs it; a CSV download needs only ``table``)."""
        return self.draw()


class ChartUnavailable(Exception):
    """The statistic behind this chart is not part of this build (or not computable for this site)."""


def site_id_of(spec: ChartSpec) -> str:
    site_id = results.context(spec.geo).names.resolve(spec.site)
    if site_id is None:
        raise ChartUnavailable(f"no site {spec.site!r}")
    return site_id


def _site_word(spec: ChartSpec) -> str:
    return results.context(spec.geo).names.display(site_id_of(spec), spec.anon)


def _where(spec: ChartSpec) -> str:
    """Titles say where: on CCGs, that the units are CCGs (LA titles are unchanged)."""
    return " (CCG units)" if spec.geo == "ccg" else ""


def _file_stem(*parts: str) -> str:
    return "_".join(p.lower().replace(" ", "-") for p in parts if p)


def trend_chart(spec: ChartSpec) -> Chart:
    ctx = results.context(spec.geo)
    cat = ctx.catalogue.loc[spec.indicator_id]
    site = _site_word(spec)
    site_id = site_id_of(spec)
    frame = results.site_trend(site_id, spec.indicator_id, spec.geo)
    start, transition = results.intervention_labels(site_id, spec.indicator_id)
    title = f"{cat['short_name'] if spec.compact else cat['name']}: {site}" + _where(spec)
    opts = figures.TrendOptions(title=title, site_label=site, indicator_name=cat["name"], unit=cat["unit"],
                                source=ctx.source_line(spec.indicator_id), start_label=start, transition=transition,
                                compact=spec.compact,
                                period_title=figures.period_axis_title(cat["frequency"], frame["period_label"].tolist()),
                                show_counts=not spec.anon)
    note = (f"Blue solid line: {site}, with 95% confidence whiskers; orange dots and shaded band: its matched "
            "comparators' mean and range; black long dashes: England. Grey band: transition period; red dashed line: "
            "Pioneer start.")
    return Chart(draw=lambda: figures.trend_figure(frame, opts), table=figures.trend_chart_table(frame, opts), title=title,
                 filename=_file_stem("trend", spec.indicator_id, site), colour_note=note)


def site_multiples_chart(spec: ChartSpec) -> Chart:
    """The site's 12 indicators as small multiples."""
    ctx = results.context(spec.geo)
    site_id = site_id_of(spec)
    site = _site_word(spec)
    panels = []
    for ind in ctx.indicator_ids():
        start, transition = results.intervention_labels(site_id, ind)
        panels.append(figures.SmallMultiple(title=ctx.catalogue.at[ind, "short_name"], frame=results.site_trend(site_id, ind, spec.geo),
                                    site_label=site, unit=ctx.catalogue.at[ind, "unit"], start_label=start,
                                    transition=transition))
    title = f"Trends in 12 indicators: {site}" + _where(spec)
    draw = lambda: figures.small_multiples_figure(panels, title=title, source=ctx.source_line(), ncols=3,
                                                  empty_note="Not available on CCGs" if spec.geo == "ccg" else
                                                  "No data in this dataset")
    return Chart(draw=draw, table=figures.small_multiples_table(panels), title=title,
                 filename=_file_stem("trends", site), colour_note=_SITE_MULTIPLES_NOTE)


def indicator_multiples_chart(spec: ChartSpec) -> Chart:
    """One indicator in every site as small multiples, in display order (by wave)."""
    ctx = results.context(spec.geo)
    cat = ctx.catalogue.loc[spec.indicator_id]
    panels = []
    for site_id in ctx.names.ordered(spec.anon):
        start, transition = results.intervention_labels(site_id, spec.indicator_id)
        label = ctx.names.display(site_id, spec.anon)
        panels.append(figures.SmallMultiple(title=f"{label} (wave {ctx.names.waves[site_id]})",
                                    frame=results.site_trend(site_id, spec.indicator_id, spec.geo), site_label=label,
                                    start_label=start, transition=transition))
    title = f"{cat['name']} in every Pioneer site ({cat['unit']})" + _where(spec)
    # 25 panels: the comparators' range is left to each site's own page to keep the payload small.
    draw = lambda: figures.small_multiples_figure(panels, title=title, source=ctx.source_line(spec.indicator_id),
                                                  ncols=5, show_range=False)
    return Chart(draw=draw, table=figures.small_multiples_table(panels, show_range=False), title=title,
                 filename=_file_stem("trends", spec.indicator_id, "all-sites"), colour_note=_MULTIPLES_NOTE)


_MULTIPLES_NOTE = ("Blue solid line: the Pioneer site; black long dashes: England; orange dots: matched comparators' "
                   "mean. Grey band: transition period; red dashed line: Pioneer start.")
_SITE_MULTIPLES_NOTE = ("Blue solid line: the Pioneer site; black long dashes: England; orange dots and pale orange "
                        "shading: matched comparators' mean and range. Grey band: transition period; red dashed "
                        "line: Pioneer start.")


def _detail_context(spec: ChartSpec):
    ctx = results.context(spec.geo)
    if spec.indicator_id not in ctx.indicator_ids():
        raise ChartUnavailable(f"no indicator {spec.indicator_id!r}")
    return ctx, ctx.catalogue.loc[spec.indicator_id]


def event_chart(spec: ChartSpec) -> Chart:
    ctx, cat = _detail_context(spec)
    site_id, site = site_id_of(spec), _site_word(spec)
    frame = results.site_detail(site_id, spec.indicator_id, spec.geo)["event_study"].copy()
    trend = results.site_trend(site_id, spec.indicator_id, spec.geo)
    labels = dict(zip(trend["period_start"], trend["period_label"]))
    frame["period_label"] = frame["period_start"].map(labels)
    frame["period_label"] = frame["period_label"].fillna(frame["period_start"].dt.strftime("%b %Y"))
    start, transition = results.intervention_labels(site_id, spec.indicator_id)
    title = f"{cat['short_name']}, {site}: difference from matched comparators, period by period" + _where(spec)
    x_title = figures.period_axis_title(cat["frequency"], frame["period_label"].tolist())
    draw = lambda: figures.event_study_figure(frame, title=title, unit=cat["unit"], x_title=x_title,
                                              source=ctx.source_line(spec.indicator_id), start_label=start,
                                              transition=transition)
    note = event_study_note(frame)
    return Chart(draw, figures.event_study_table(frame, cat["unit"]), title,
                 _file_stem("event-study", spec.indicator_id, site), note)


def event_study_note(frame: pd.DataFrame) -> str:
    """What the event study's points are measured against, naming the reference period as it is labelled."""
    ref = frame.loc[frame["reference"].astype(bool), "period_label"] if "reference" in frame else pd.Series([], dtype=object)
    against = f"{ref.iloc[0]}, the last period before the transition" if len(ref) else "the last period before the transition"
    return (f"Each point: how far the site was from its comparators that period, relative to {against} (white diamond, "
            "set to 0); bars are 95% intervals. Grey points: before the transition (they should sit near 0 if the "
            "trends were parallel); open orange: the transition (grey band); blue: after it. Red dashed line: Pioneer start.")


def its_chart(spec: ChartSpec) -> Chart:
    ctx, cat = _detail_context(spec)
    site_id, site = site_id_of(spec), _site_word(spec)
    frame = results.site_detail(site_id, spec.indicator_id, spec.geo)["its"].copy()
    labels = dict(zip(results.site_trend(site_id, spec.indicator_id, spec.geo)["period_start"],
                      results.site_trend(site_id, spec.indicator_id, spec.geo)["period_label"]))
    frame["period_label"] = frame["period_start"].map(labels)
    start, transition = results.intervention_labels(site_id, spec.indicator_id)
    title = f"{cat['short_name']}, {site}: change in trend after the Pioneer start" + _where(spec)
    x_title = figures.period_axis_title(cat["frequency"], frame["period_label"].tolist())
    draw = lambda: figures.its_figure(frame, title=title, unit=cat["unit"], site_label=site, x_title=x_title,
                                      source=ctx.source_line(spec.indicator_id), start_label=start,
                                      transition=transition)
    note = ("Blue points: the site's values; blue line: the fitted segmented regression; orange dots: the "
            "pre-Pioneer trend carried forward (what the fit expects without a change). Grey band: transition.")
    return Chart(draw, figures.its_table(frame, site), title, _file_stem("change-in-trend", spec.indicator_id, site), note)


def scm_chart(spec: ChartSpec) -> Chart:
    ctx, cat = _detail_context(spec)
    site_id, site = site_id_of(spec), _site_word(spec)
    if not results.indicator_has_data(spec.indicator_id, spec.geo):
        raise ChartUnavailable(results.no_data_message(spec.indicator_id, spec.geo))
    frame = results.scm_detail(site_id, spec.indicator_id, spec.geo)["series"].copy()
    trend = results.site_trend(site_id, spec.indicator_id, spec.geo)
    frame["period_label"] = frame["period_start"].map(dict(zip(trend["period_start"], trend["period_label"])))
    frame["period_label"] = frame["period_label"].fillna(frame["period_start"].dt.strftime("%b %Y"))
    start, transition = results.intervention_labels(site_id, spec.indicator_id)
    title = f"{cat['short_name']}, {site}: against its synthetic control" + _where(spec)
    draw = lambda: figures.scm_figure(frame, title=title, unit=cat["unit"], site_label=site,
                                      source=ctx.source_line(spec.indicator_id), start_label=start,
                                      transition=transition, x_title=figures.period_axis_title(cat["frequency"]))
    note = ("Blue solid line with points: the site; orange dashed line: its synthetic control, a weighted blend of "
            "non-Pioneer areas fitted to the site's series before the start and shifted to its level. Before the "
            "start the gap between them shows the fit; after it, the estimated effect. Grey band: transition; red "
            "dashed line: Pioneer start.")
    return Chart(draw, figures.scm_table(frame, site), title, _file_stem("synthetic-control", spec.indicator_id, site),
                 note)


def spc_chart(spec: ChartSpec) -> Chart:
    ctx, cat = _detail_context(spec)
    site_id, site = site_id_of(spec), _site_word(spec)
    chart = results.site_spc(site_id, spec.indicator_id, spec.geo)
    start, transition = results.intervention_labels(site_id, spec.indicator_id)
    title = f"{cat['short_name']}, {site}: statistical process control (XmR)" + _where(spec)
    x_title = figures.period_axis_title(cat["frequency"], chart["period_label"].tolist())
    draw = lambda: figures.spc_figure(chart, title=title, unit=cat["unit"], source=ctx.source_line(spec.indicator_id),
                                      start_label=start, transition=transition, x_title=x_title)
    note = ("Mean and process limits from the pre-Pioneer periods. Point colour shows the variation type: "
            "light blue improvement, orange concern, purple a special cause where no direction is better, "
            "grey common cause.")
    return Chart(draw, figures.spc_table(chart), title, _file_stem("spc", spec.indicator_id, site), note)


def caterpillar_chart(spec: ChartSpec) -> Chart:
    ctx, cat = _detail_context(spec)
    over = results.overview("did", spec.geo)
    results.require_data(spec.indicator_id, ChartUnavailable, spec.geo)
    every = over[over["indicator_id"] == spec.indicator_id]
    rows = every.dropna(subset=["effect"])
    if rows.empty:
        notes = every["note"].replace("", np.nan).dropna() if "note" in every else pd.Series([], dtype=object)
        raise ChartUnavailable(notes.mode().iloc[0] if len(notes) else "no site effects for this indicator")
    frame = pd.DataFrame({"label": [ctx.names.display(s, spec.anon) for s in rows["site_id"]],
                          "effect": rows["effect"].to_numpy(), "ci_low": rows["ci_low"].to_numpy(),
                          "ci_high": rows["ci_high"].to_numpy(), "outcome_label": rows["outcome_label"].to_numpy(),
                          "colour": rows["colour"].to_numpy(), "kind": "site"})
    pooled = results.pooled_overview(spec.geo)
    pooled = pooled[(pooled["indicator_id"] == spec.indicator_id)].dropna(subset=["effect"])
    if len(pooled):
        frame = pd.concat([frame, pd.DataFrame({
            "label": pooled["label"].to_numpy(), "effect": pooled["effect"].to_numpy(),
            "ci_low": pooled["ci_low"].to_numpy(), "ci_high": pooled["ci_high"].to_numpy(),
            "outcome_label": pooled["outcome_label"].to_numpy(), "colour": pooled["colour"].to_numpy(),
            "kind": "pooled"})], ignore_index=True)
    x_title = f"Difference-in-differences effect ({cat['unit']})"
    title = f"{cat['short_name']}: estimated effect of Pioneer status in each site" + _where(spec)
    draw = lambda: figures.caterpillar_figure(frame, title=title, x_title=x_title,
                                              source=ctx.source_line(spec.indicator_id))
    note = ("Each site's effect against its matched comparators with its 95% placebo interval (exploratory); "
            "diamonds at the foot: the pooled effect over all Pioneers and each wave against never-Pioneer areas, "
            "with 95% intervals. Colour shows the outcome: green better, yellow no clear difference, vermillion worse.")
    return Chart(draw, figures.caterpillar_table(frame, x_title), title,
                 _file_stem("site-effects", spec.indicator_id, "anonymised" if spec.anon else ""), note)


def pooled_chart(spec: ChartSpec) -> Chart:
    ctx, cat = _detail_context(spec)
    results.require_data(spec.indicator_id, ChartUnavailable, spec.geo)
    detail = results.pooled(spec.indicator_id, spec.geo)
    et = detail["event_time"].dropna(subset=["att"])
    if et.empty:
        raise ChartUnavailable(results.pooled_reason(spec.indicator_id, spec.geo))
    gt = detail["group_time"]
    in_transition = set(gt.loc[gt["phase"] == "transition", "event_time"].tolist())
    phase = ["transition" if e in in_transition else "pre" if e < 0 else "post" for e in et["event_time"]]
    frame = pd.DataFrame({"event_time": et["event_time"].to_numpy(), "coef": et["att"].to_numpy(),
                          "ci_low": et["ci_low"].to_numpy(), "ci_high": et["ci_high"].to_numpy(), "phase": phase})
    title = f"{cat['short_name']}: pooled effect across Pioneers by time since the transition" + _where(spec)
    draw = lambda: figures.event_study_figure(frame, title=title, unit=cat["unit"],
                                              source=ctx.source_line(spec.indicator_id))
    note = ("Average effect over the Pioneer sites (both waves, each against never-Pioneer areas) by periods after "
            "each wave's transition (wave 1: 2013/14; wave 2: Jan-Mar 2015), each measured against the wave's last "
            "period before its transition, with 95% intervals. Grey: before the transition; open orange: during it; "
            "blue: after it.")
    return Chart(draw, figures.event_study_table(frame, cat["unit"]), title,
                 _file_stem("pooled-event-study", spec.indicator_id), note)


def funnel_chart(spec: ChartSpec) -> Chart:
    ctx, cat = _detail_context(spec)
    results.require_data(spec.indicator_id, ChartUnavailable, spec.geo)
    rows = []
    for site_id in ctx.names.ordered(spec.anon):
        f = results.site_trend(site_id, spec.indicator_id, spec.geo)
        latest = f[f["site_value"].notna() & f["site_denominator"].notna()].tail(1)
        if latest.empty:
            continue
        r = latest.iloc[0]
        outcome = Outcome(r["benchmark"])
        rows.append({"label": ctx.names.display(site_id, spec.anon), "denominator": r["site_denominator"],
                     "value": r["site_value"], "england": r["england_value"], "period": r["period_label"],
                     "outcome_label": outcome.label, "colour": outcome.colour})
    sites = pd.DataFrame(rows)
    if sites.empty or sites["england"].isna().all():
        raise ChartUnavailable("the source gives rates only, without counts and denominators, so no funnel limits can be drawn")
    england = float(sites["england"].dropna().iloc[-1])
    if spec.anon:  # exact denominators identify sites by their size: bands only (anonymise.DENOMINATOR_BANDS)
        banded = [denominator_band(d) for d in sites["denominator"]]
        sites = sites.assign(band=[b[0] for b in banded], denominator=[b[1] for b in banded])
    lo, hi = sites["denominator"].min() / 2, sites["denominator"].max() * 2
    n = pd.Series(np.geomspace(lo, hi, 60))
    mult = float(cat["multiplier"])
    num = england * n / mult
    l95, h95 = ci_for(cat, num, n, mult, value=pd.Series(england, index=n.index), level=0.95)
    l998, h998 = ci_for(cat, num, n, mult, value=pd.Series(england, index=n.index), level=0.998)
    limits = pd.DataFrame({"denominator": n, "england": england, "low95": l95, "high95": h95, "low998": l998,
                           "high998": h998})
    # Overdispersion (Spiegelhalter): the between-area variance of every LA's latest value widens the limits,
    # so a large area is flagged for a real difference, not for the narrowness of chance alone.
    areas = results.latest_area_values(spec.indicator_id, spec.geo)
    areas = areas[areas["value"].notna() & areas["denominator"].notna() & (areas["denominator"] > 0)]
    if len(areas) >= 10:
        an = areas["denominator"].astype(float).reset_index(drop=True)
        a_lo, a_hi = ci_for(cat, england * an / mult, an, mult, value=pd.Series(england, index=an.index), level=0.95)
        od = overdispersion(areas["value"].to_numpy(float), null_se(a_lo, a_hi, 1.96), england)
        se_n = null_se(l95, h95, 1.96)
        for z, tag in ((1.96, "95"), (3.09, "998")):
            limits[f"adj_low{tag}"], limits[f"adj_high{tag}"] = adjusted_limits(england, se_n, od.tau2, z)
        limits.attrs["phi"] = od.phi
    period = sites["period"].iloc[-1]
    title = f"{cat['short_name']}: Pioneer sites against England, {period}" + _where(spec)
    x_title = f"Denominator ({cat['denominator']}, log scale{'; in bands' if spec.anon else ''})"
    draw = lambda: figures.funnel_figure(sites, limits, title=title, unit=cat["unit"], x_title=x_title,
                                         source=ctx.source_line(spec.indicator_id))
    note = ("Each point is a Pioneer site's value in the latest period; its colour shows whether its 95% interval "
            "is entirely better or worse than England (green better, yellow similar, vermillion worse). Black dashed "
            "and dotted lines: 95% and 99.8% limits adjusted for overdispersion (the real spread between all local "
            "authorities, Spiegelhalter's method); thin grey lines: the plain limits of chance alone, which nearly "
            "every large area falls outside.")
    if "adj_low95" not in limits:
        note += " (Too few areas to estimate overdispersion: plain limits only.)"
    if spec.anon:
        note += " " + BANDING_RULE
    return Chart(draw, figures.funnel_table(sites, cat["unit"]), title,
                 _file_stem("funnel", spec.indicator_id, "anonymised" if spec.anon else ""), note)


def balance_summary_by_covariate(b: pd.DataFrame) -> pd.DataFrame:
    """Per covariate (sorted): mean |SMD| before and after over the sites, and how many are rated good.

    Plain numpy over the few covariates: a pandas group-by on text keys cost most of a live recompute."""
    covariate = b["covariate"].to_numpy(dtype=object)
    before, after = np.abs(b["smd_before"].to_numpy(dtype=float)), np.abs(b["smd_after"].to_numpy(dtype=float))
    good = (b["balance_after"].to_numpy(dtype=object) == "good")
    names = sorted(set(covariate))
    with np.errstate(invalid="ignore"):
        rows = [(c, np.nanmean(before[m]) if np.isfinite(before[m]).any() else np.nan,
                 np.nanmean(after[m]) if np.isfinite(after[m]).any() else np.nan, int(good[m].sum()))
                for c in names for m in [covariate == c]]
    return pd.DataFrame(rows, columns=["covariate", "abs_before", "abs_after", "n_good"])


def matching_set(spec: ChartSpec):
    """The matching page's per-site comparator sets for a spec's method, k (or k by balance) and caliper."""
    ctx = results.context(spec.geo)
    covs = tuple(spec.covariates.split(",")) if spec.covariates else None
    caliper = spec.caliper or None
    if spec.kauto:
        return results.comparator_set_by_balance(ctx.dataset.checksum, spec.method, covs, False, caliper,
                                                 geography=spec.geo)
    if caliper:
        return results.comparator_set_within(ctx.dataset.checksum, spec.k, spec.method, covs, False, caliper,
                                             geography=spec.geo)
    return results.comparator_set(ctx.dataset.checksum, spec.k, spec.method, covs, False, geography=spec.geo)


def matching_words(spec: ChartSpec) -> str:
    """The matching choices in words, for titles: "mahalanobis, k = 5" / "k auto by balance", with the caliper."""
    k = "k auto by balance" if spec.kauto else f"k = {spec.k}"
    return f"{spec.method}, {k}" + (f", caliper {spec.caliper:g}" if spec.caliper else "")


def love_chart(spec: ChartSpec) -> Chart:
    ctx = results.context(spec.geo)
    cs = matching_set(spec)
    summary = balance_summary_by_covariate(cs.balance())
    title = f"Balance of the comparator sets: {matching_words(spec)} (version {cs.version})" + _where(spec)
    draw = lambda: figures.love_figure(summary, title=title, source=ctx.source_line())
    note = ("Open vermillion circles: how far the sites are from the whole pool before matching; blue diamonds: how "
            "far they are from their comparators after. Left of the solid line (0.1) is good balance; left of the "
            "dashed line (0.25) acceptable.")
    return Chart(draw, figures.love_table(summary), title, _file_stem("balance", spec.method, "kauto" if spec.kauto else f"k{spec.k}",
                                                               f"caliper{spec.caliper:g}" if spec.caliper else ""), note)


def site_love_chart(spec: ChartSpec) -> Chart:
    """One site's balance for one indicator: the comparators behind its estimate, before and after matching."""
    ctx = results.context(spec.geo)
    site_id, site = site_id_of(spec), _site_word(spec)
    balance = results.site_love(site_id, spec.indicator_id, spec.geo)
    if balance.empty:
        raise ChartUnavailable("no comparator set for this site and indicator")
    cat = ctx.catalogue.loc[spec.indicator_id]
    title = f"Balance of {site}'s comparators for {cat['short_name']}" + _where(spec)
    draw = lambda: figures.love_figure(balance, title=title, source=ctx.source_line(spec.indicator_id),
                                       x_title="Absolute standardised mean difference (pool SD units)")
    note = ("Open vermillion circles: how far the site is from the whole pool of candidate areas before matching; "
            "blue diamonds: how far it is from the mean of its comparators after. Left of the solid line (0.1) is "
            "good balance; left of the dashed line (0.25) acceptable; beyond it the comparators are unlike the site "
            "on that characteristic.")
    return Chart(draw, figures.site_love_table(balance), title,
                 _file_stem("balance", spec.indicator_id, "anonymised" if spec.anon else site), note)


def sensitivity_chart(spec: ChartSpec) -> Chart:
    """The estimate under each analysis choice (analysis.sensitivity), as a forest plot."""
    ctx = results.context(spec.geo)
    site_id, site = site_id_of(spec), _site_word(spec)
    table, verdict = results.sensitivity(site_id, spec.indicator_id, spec.geo)
    cat = ctx.catalogue.loc[spec.indicator_id]
    title = f"{cat['short_name']}: {site}'s estimate under different analysis choices" + _where(spec)
    draw = lambda: figures.sensitivity_figure(table, title=title, source=ctx.source_line(spec.indicator_id))
    note = ("Blue square: the main estimate (matched DiD, k = 5, Mahalanobis, transition period left out); orange "
            "circles: the same estimate with one choice changed; whiskers: 95% placebo intervals; dashed line: no "
            f"effect. {verdict}")
    return Chart(draw, figures.sensitivity_view_table(table), title,
                 _file_stem("sensitivity", spec.indicator_id, "anonymised" if spec.anon else site), note)


def spine_chart(spec: ChartSpec) -> Chart:
    """The site's latest value in each indicator against England's spread of the view's units (LAs or CCG units)."""
    ctx = results.context(spec.geo)
    site_id, site = site_id_of(spec), _site_word(spec)
    g = results.site_glance(site_id, spec.geo)
    have = g[g["value"].notna()].copy() if "value" in g else g.iloc[0:0]
    if have.empty:
        raise ChartUnavailable("no indicator has a value for this site")
    outcomes = [Outcome(b) if isinstance(b, str) and b else Outcome.NOT_COMPARED for b in have["benchmark"]]
    have["outcome_label"] = [o.label for o in outcomes]
    have["colour"] = [o.colour for o in outcomes]
    for col in ("lowest", "q25", "q75", "highest"):
        have[f"{ {'lowest': 'lo', 'highest': 'hi'}.get(col, col)}_pos"] = [
            spine_position(v, e, r) for v, e, r in zip(have[col], have["england"], have.to_dict("records"))]
    have["hover"] = [f"{r.indicator} ({r.period}): {r.value:,.1f}; England {r.england:,.1f}" for r in
                     have.itertuples()]
    title = f"{site} against England: latest value in each indicator"
    draw = lambda: figures.spine_figure(have, title=title, source=ctx.source_line(), site_label=site)
    units = "CCG units" if spec.geo == "ccg" else "local authorities"
    note = (f"Each row: the bar is England's spread of {units} in that period (light grey: lowest to "
            "highest; dark grey: the middle half), with England at the centre line and the worse end (or, with no "
            "direction, the lower end) on the left. The point is the site's latest value, coloured by whether its 95% "
            "interval is better (green), similar (yellow) or worse (vermillion) than England.")
    return Chart(draw, figures.spine_table(have, show_counts=not spec.anon), title, _file_stem("spine", site), note)


BUILDERS = {"spine": spine_chart, "trend": trend_chart, "site_multiples": site_multiples_chart,
            "indicator_multiples": indicator_multiples_chart, "event": event_chart, "its": its_chart,
            "spc": spc_chart, "caterpillar": caterpillar_chart, "pooled": pooled_chart, "funnel": funnel_chart,
            "love": love_chart, "site_love": site_love_chart, "sensitivity": sensitivity_chart, "scm": scm_chart}


# --- slide takeaways: one plain-words line from the estimates, naming no site ------------------------

def _did_takeaway(spec: ChartSpec) -> str:
    ctx, cat = _detail_context(spec)
    site_id = site_id_of(spec)
    r = results.overview_row("did", site_id, spec.indicator_id, spec.geo)
    return did_reading(cat["short_name"], r.get("effect_pct", np.nan), r.get("ci_low", np.nan),
                       r.get("ci_high", np.nan), r.get("p_value", np.nan), cat["polarity"],
                       results.missing_estimate_reason(site_id, spec.indicator_id) or "",
                       balance=results.site_balance(site_id, spec.indicator_id, spec.geo).quality)


def _its_takeaway(spec: ChartSpec) -> str:
    ctx, cat = _detail_context(spec)
    r = results.overview_row("its", site_id_of(spec), spec.indicator_id, spec.geo)
    return its_reading(cat["short_name"], r.get("effect_pct", np.nan), r.get("ci_low", np.nan),
                       r.get("ci_high", np.nan), r.get("p_value", np.nan), cat["polarity"])


def _scm_takeaway(spec: ChartSpec) -> str:
    ctx, cat = _detail_context(spec)
    r = results.overview_row("scm", site_id_of(spec), spec.indicator_id, spec.geo)
    return scm_reading(cat["short_name"], r.get("effect_pct", np.nan), r.get("effect", np.nan),
                       r.get("ci_low", np.nan), r.get("ci_high", np.nan), r.get("p_value", np.nan), cat["polarity"])


def _spc_takeaway(spec: ChartSpec) -> str:
    ctx, cat = _detail_context(spec)
    r = results.overview_row("spc", site_id_of(spec), spec.indicator_id, spec.geo)
    chart = results.site_spc(site_id_of(spec), spec.indicator_id, spec.geo)
    latest = chart[chart["value"].notna()].tail(1)
    when = f" ({latest['period_label'].iloc[0]})" if len(latest) else ""
    return f"{cat['short_name']}: latest point{when}: {r['outcome_label']} against the pre-Pioneer limits."


def _site_multiples_takeaway(spec: ChartSpec) -> str:
    over = results.overview("did", spec.geo)
    rows = over[over["site_id"] == site_id_of(spec)]
    estimated = [lbl for lbl, e in zip(rows["outcome_label"], rows["effect"]) if pd.notna(e)]
    return count_reading(f"Against matched comparators ({len(estimated)} of {len(rows)} indicators estimated)",
                         estimated)


def _across_sites_takeaway(spec: ChartSpec) -> str:
    over = results.overview("did", spec.geo)
    rows = over[(over["indicator_id"] == spec.indicator_id) & over["effect"].notna()]
    text = count_reading(f"{results.context(spec.geo).catalogue.at[spec.indicator_id, 'short_name']}, "
                         f"{len(rows)} sites against matched comparators", rows["outcome_label"].tolist())
    pooled = results.pooled_overview(spec.geo)
    allp = pooled[(pooled["indicator_id"] == spec.indicator_id) & (pooled["aggregate"] == "all")]
    if len(allp) and pd.notna(allp["effect_pct"].iloc[0]):
        text += f" Pooled over all Pioneers: {allp['effect_pct'].iloc[0]:+.1f}% ({allp['outcome_label'].iloc[0]})."
    return text


def _funnel_takeaway(spec: ChartSpec) -> str:
    chart = build(spec)
    return count_reading(f"Latest period, {len(chart.table)} Pioneer sites against England",
                         [_in_sentence(x) for x in chart.table["Outcome"]])


def _love_takeaway(spec: ChartSpec) -> str:
    table = build(spec).table
    good = int((table["Mean |SMD| after"] < THRESHOLDS[0]).sum())
    poor = int((table["Mean |SMD| after"] >= THRESHOLDS[1]).sum())
    return (f"After matching, {good} of {len(table)} covariates are well balanced on average and {poor} remain "
            "poorly balanced.")


def _spine_takeaway(spec: ChartSpec) -> str:
    table = build(spec).table
    return count_reading(f"Latest values against England, {len(table)} indicators",
                         [_in_sentence(x) for x in table["Against England"]])


def _in_sentence(label) -> str:
    """"Worse than England" -> "worse than England": a label inside a sentence, proper nouns kept."""
    text = str(label)
    return text[:1].lower() + text[1:]


TAKEAWAYS = {"spine": _spine_takeaway, "trend": _did_takeaway, "event": _did_takeaway, "its": _its_takeaway, "spc": _spc_takeaway,
             "site_multiples": _site_multiples_takeaway, "indicator_multiples": _across_sites_takeaway,
             "caterpillar": _across_sites_takeaway, "pooled": _across_sites_takeaway, "funnel": _funnel_takeaway,
             "love": _love_takeaway, "scm": _scm_takeaway}


def takeaway(spec: ChartSpec) -> str:
    """The slide's one-line takeaway, generated from the estimate; it never names a site (anonymised or not)."""
    try:
        return TAKEAWAYS[spec.kind](spec) if spec.kind in TAKEAWAYS else ""
    except (ChartUnavailable, KeyError, IndexError):
        return ""


def build(spec: ChartSpec) -> Chart:
    if spec.kind not in BUILDERS:
        raise ChartUnavailable(f"chart {spec.kind!r} is not available in this build")
    chart = BUILDERS[spec.kind](spec)
    if spec.geo == "ccg":
        chart.filename += "_ccg"
    return chart
