"""Charts named by a spec: the same spec builds the figure on the page and the CSV download.

A `ChartSpec` travels in the download button's id, so the download callback rebuilds exactly
the table of the chart on screen (same site, indicator, mode) rather than re-reading the page.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pandas as pd
import plotly.graph_objects as go

from layouts.components import figures, results


@dataclass(frozen=True)
class ChartSpec:
    kind: str
    site: str = ""  # the site's URL path id: its anonymous slug in anonymised mode, so ids in the DOM name nothing
    indicator_id: str = ""
    anon: bool = False
    compact: bool = False

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_key(cls, key: str) -> "ChartSpec":
        return cls(**json.loads(key))


@dataclass
class Chart:
    figure: go.Figure | None
    table: pd.DataFrame
    title: str
    filename: str
    colour_note: str
    unavailable: str = ""


class ChartUnavailable(Exception):
    """The statistic behind this chart is not part of this build (or not computable for this site)."""


def site_id_of(spec: ChartSpec) -> str:
    site_id = results.context().names.resolve(spec.site)
    if site_id is None:
        raise ChartUnavailable(f"no site {spec.site!r}")
    return site_id


def _site_word(spec: ChartSpec) -> str:
    return results.context().names.display(site_id_of(spec), spec.anon)


def _file_stem(*parts: str) -> str:
    return "_".join(p.lower().replace(" ", "-") for p in parts if p)


def trend_chart(spec: ChartSpec) -> Chart:
    ctx = results.context()
    cat = ctx.catalogue.loc[spec.indicator_id]
    site = _site_word(spec)
    site_id = site_id_of(spec)
    frame = results.site_trend(site_id, spec.indicator_id)
    start, transition = results.intervention_labels(site_id, spec.indicator_id)
    title = f"{cat['short_name'] if spec.compact else cat['name']}: {site}"
    opts = figures.TrendOptions(title=title, site_label=site, indicator_name=cat["name"], unit=cat["unit"],
                                source=ctx.source_line(spec.indicator_id), start_label=start, transition=transition,
                                compact=spec.compact)
    has_comparators = "comparator_mean" in frame.columns
    note = (f"Blue solid line: {site}; black long dashes: England"
            + ("; orange dots and band: matched comparators' mean and range" if has_comparators else
               "; matched comparators are not available in this build")
            + ". Grey band: transition period; red dashed line: Pioneer start.")
    return Chart(figure=figures.trend_figure(frame, opts), table=figures.trend_table(frame, opts), title=title,
                 filename=_file_stem("trend", spec.indicator_id, site), colour_note=note)


def site_multiples_chart(spec: ChartSpec) -> Chart:
    """The site's 12 indicators as small multiples."""
    ctx = results.context()
    site_id = site_id_of(spec)
    site = _site_word(spec)
    panels = []
    for ind in ctx.indicator_ids():
        start, transition = results.intervention_labels(site_id, ind)
        panels.append(figures.Panel(title=ctx.catalogue.at[ind, "short_name"], frame=results.site_trend(site_id, ind),
                                    site_label=site, unit=ctx.catalogue.at[ind, "unit"], start_label=start,
                                    transition=transition))
    title = f"Trends in 12 indicators: {site}"
    fig = figures.small_multiples_figure(panels, title=title, source=ctx.source_line(), ncols=3)
    return Chart(figure=fig, table=figures.small_multiples_table(panels), title=title,
                 filename=_file_stem("trends", site), colour_note=_MULTIPLES_NOTE)


def indicator_multiples_chart(spec: ChartSpec) -> Chart:
    """One indicator in every site as small multiples, in display order (by wave)."""
    ctx = results.context()
    cat = ctx.catalogue.loc[spec.indicator_id]
    panels = []
    for site_id in ctx.names.ordered(spec.anon):
        start, transition = results.intervention_labels(site_id, spec.indicator_id)
        label = ctx.names.display(site_id, spec.anon)
        panels.append(figures.Panel(title=f"{label} (wave {ctx.names.waves[site_id]})",
                                    frame=results.site_trend(site_id, spec.indicator_id), site_label=label,
                                    start_label=start, transition=transition))
    title = f"{cat['name']} in every Pioneer site ({cat['unit']})"
    fig = figures.small_multiples_figure(panels, title=title, source=ctx.source_line(spec.indicator_id), ncols=5)
    return Chart(figure=fig, table=figures.small_multiples_table(panels), title=title,
                 filename=_file_stem("trends", spec.indicator_id, "all-sites"), colour_note=_MULTIPLES_NOTE)


_MULTIPLES_NOTE = ("Blue solid line: the Pioneer site; black long dashes: England; orange dots: matched comparators' "
                   "mean (when available). Grey band: transition period; red dashed line: Pioneer start.")

BUILDERS = {"trend": trend_chart, "site_multiples": site_multiples_chart,
            "indicator_multiples": indicator_multiples_chart}


def build(spec: ChartSpec) -> Chart:
    if spec.kind not in BUILDERS:
        raise ChartUnavailable(f"chart {spec.kind!r} is not available in this build")
    return BUILDERS[spec.kind](spec)
