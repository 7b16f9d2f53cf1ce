"""Pure figure builders: frames and options in, go.Figure out.

Each builder has a paired table builder (`*_table`) returning exactly the numbers the chart
draws, with the headers a reader sees; CSV exports and the table alternative under each chart
come from that table, so a download never disagrees with the picture.
"""
from __future__ import annotations

import math
import textwrap

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from indicators.spc import VARIATION_COLOURS

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999",
}
SITE_COLOUR = OKABE_ITO["blue"]
COMPARATOR_COLOUR = OKABE_ITO["orange"]
ENGLAND_COLOUR = OKABE_ITO["black"]
VALIDATE = False
"""Plotly validation of every property is slow per figure; the builders' output is validated once per
builder by the unit tests (tests/test_dashboard_figures.py), so pages skip it."""
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"


@dataclass(frozen=True)
class TrendOptions:
    """What a trend chart needs besides its numbers."""

    title: str
    site_label: str
    indicator_name: str
    unit: str
    source: str
    start_label: str | None = None
    transition: tuple[str, str] | None = None
    comparator_label: str = "Matched comparators"
    compact: bool = False
    period_title: str = "Period (financial year)"
    show_counts: bool = True  # numerator and denominator in the table (not in anonymised mode: size identifies)


PERIOD_TITLES = {"month": "Month", "quarter": "Quarter (financial year)", "year": "Financial year"}


def period_axis_title(frequency: str, labels=None) -> str:
    """The x-axis title for an indicator's periods: a monthly axis is not "financial year", and
    yearly periods labelled "2014" (deaths, by calendar year; data.periods) are calendar years."""
    if frequency == "year" and labels is not None and len(labels) and all(
            isinstance(x, str) and x.isdigit() for x in labels):
        return "Calendar year"
    return PERIOD_TITLES.get(frequency, "Period")


def _category_index(labels: list[str], label: str | None) -> float | None:
    if label is None or label not in labels:
        return None
    return float(labels.index(label))


def _intervention_marks(labels: list[str], opts: TrendOptions) -> tuple[list[dict], list[dict]]:
    """Shapes and annotations: the transition shaded, the start as a dashed line, both labelled in words."""
    shapes, notes = [], []
    if opts.transition:
        i0, i1 = _category_index(labels, opts.transition[0]), _category_index(labels, opts.transition[1])
        if i0 is not None and i1 is not None:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": i0 - 0.5, "x1": i1 + 0.5, "y0": 0,
                           "y1": 1, "fillcolor": OKABE_ITO["grey"], "opacity": 0.18, "line": {"width": 0},
                           "layer": "below"})
            if not opts.compact:
                notes.append({"x": i0 - 0.5, "y": 1, "xref": "x", "yref": "paper", "text": "transition",
                              "showarrow": False, "xanchor": "left", "yanchor": "top", "font": {"size": 11}})
    i = _category_index(labels, opts.start_label)
    if i is not None:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": i - 0.5, "x1": i - 0.5, "y0": 0, "y1": 1,
                       "line": {"dash": "dash", "color": OKABE_ITO["vermillion"], "width": 1.5}})
        if not opts.compact:
            notes.append({"x": i - 0.5, "y": 1.0, "xref": "x", "yref": "paper", "text": "Pioneer start",
                          "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                          "font": {"size": 11, "color": OKABE_ITO["vermillion"]}})
    return shapes, notes


def source_annotation(source: str, bottom_margin: int = 100) -> dict:
    """The source line, pinned near the foot of the figure (below the axis title)."""
    return {"text": source, "x": 0, "xref": "paper", "y": 0, "yref": "paper", "yshift": -(bottom_margin - 8),
            "showarrow": False, "xanchor": "left", "yanchor": "bottom", "align": "left",
            "font": {"size": 11, "color": "#444"}, "name": "source"}


def add_source_line(fig: go.Figure, source: str) -> go.Figure:
    fig.add_annotation(**source_annotation(source))
    return fig


def base_layout(title: str, y_title: str, x_title: str, compact: bool) -> dict:
    """Shared layout as a plain dict: one validation pass per figure keeps pages fast."""
    return {
        "title": {"text": title, "x": 0, "xref": "paper", "xanchor": "left", "font": {"size": 13 if compact else 17}},
        "font": {"family": FONT, "size": 10 if compact else 13},
        "template": "none",  # copying "plotly_white" into every figure is slow; colours are set here instead
        "paper_bgcolor": "white", "plot_bgcolor": "white",
        "margin": {"l": 50 if compact else 70, "r": 15, "t": 45 if compact else 90, "b": 40 if compact else 100},
        "legend": {"orientation": "h", "y": 1.06, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        "showlegend": not compact, "hovermode": "x unified",
        "xaxis": {"title": {"text": None if compact else x_title}, "type": "category", "tickangle": 0,
                  "nticks": 8, "showgrid": False, "linecolor": "#888", "ticks": "outside"},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero" if compact else "normal",
                  "gridcolor": "#e5e5e5", "zeroline": False, "linecolor": "#888"},
    }


def _base_layout(fig: go.Figure, title: str, y_title: str, x_title: str, compact: bool) -> None:
    fig.update_layout(base_layout(title, y_title, x_title, compact))


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    return go.Figure({"data": traces, "layout": layout}, _validate=VALIDATE)


def _values(series: pd.Series) -> list:
    return [None if pd.isna(v) else round(float(v), 4) for v in series]


def trend_figure(frame: pd.DataFrame, opts: TrendOptions) -> go.Figure:
    """The site's series against its comparators (mean and range, when given) and England.

    ``frame``: period_label, site_value, and optionally comparator_mean/min/max, england_value.
    """
    labels = frame["period_label"].tolist()
    traces = []
    if {"comparator_min", "comparator_max"} <= set(frame.columns) and frame["comparator_max"].notna().any():
        traces.append({"type": "scatter", "x": labels, "y": _values(frame["comparator_max"]), "mode": "lines",
                       "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip",
                       "name": f"{opts.comparator_label} (highest)"})
        traces.append({"type": "scatter", "x": labels, "y": _values(frame["comparator_min"]), "mode": "lines",
                       "line": {"width": 0}, "fill": "tonexty", "fillcolor": "rgba(230,159,0,0.20)",
                       "hoverinfo": "skip", "name": f"{opts.comparator_label} (range)"})
    if "comparator_mean" in frame.columns and frame["comparator_mean"].notna().any():
        traces.append({"type": "scatter", "x": labels, "y": _values(frame["comparator_mean"]), "mode": "lines",
                       "name": f"{opts.comparator_label} (mean)",
                       "line": {"color": COMPARATOR_COLOUR, "width": 2, "dash": "dot"}})
    if "england_value" in frame.columns and frame["england_value"].notna().any():
        traces.append({"type": "scatter", "x": labels, "y": _values(frame["england_value"]), "mode": "lines",
                       "name": "England", "line": {"color": ENGLAND_COLOUR, "width": 1.5, "dash": "longdash"}})
    site = {"type": "scatter", "x": labels, "y": _values(frame["site_value"]), "mode": "lines+markers",
            "name": opts.site_label, "line": {"color": SITE_COLOUR, "width": 2.5},
            "marker": {"size": 4 if opts.compact else 6}}
    if not opts.compact and {"site_ci_low", "site_ci_high"} <= set(frame.columns) and frame["site_ci_high"].notna().any():
        # 95% confidence whiskers on the site's values, by the catalogue's method (Wilson, Byar, Dobson).
        site["error_y"] = {"type": "data", "symmetric": False, "array": _values(frame["site_ci_high"] - frame["site_value"]),
                           "arrayminus": _values(frame["site_value"] - frame["site_ci_low"]), "color": SITE_COLOUR,
                           "thickness": 1, "width": 2}
    traces.append(site)
    layout = base_layout(opts.title, opts.unit, opts.period_title, opts.compact)
    shapes, notes = _intervention_marks(labels, opts)
    if not opts.compact:
        notes.append(source_annotation(opts.source))
    layout.update(shapes=shapes, annotations=notes)
    return _figure(traces, layout)


TREND_HEADERS = {
    "period_label": "Period", "site_numerator": "{site} numerator", "site_denominator": "{site} denominator",
    "site_value": "{site}", "site_ci_low": "{site} lower 95%", "site_ci_high": "{site} upper 95%",
    "comparator_mean": "{comparators} (mean)",
    "comparator_min": "{comparators} (lowest)", "comparator_max": "{comparators} (highest)",
    "england_value": "England", "phase": "Phase",
}


def trend_chart_table(frame: pd.DataFrame, opts: TrendOptions) -> pd.DataFrame:
    """Exactly the numbers `trend_figure` draws, one row per period, headers as a reader sees them."""
    cols = [c for c in TREND_HEADERS if c in frame.columns and (c in ("period_label", "phase", "site_value")
                                                                  or frame[c].notna().any())
            and (opts.show_counts or c not in ("site_numerator", "site_denominator"))]
    out = frame[cols].copy()
    out.columns = [TREND_HEADERS[c].format(site=opts.site_label, comparators=opts.comparator_label) for c in cols]
    return out


def presentation(fig: go.Figure, takeaway: str = "") -> go.Figure:
    """Slide-ready: large type, white background, room for the title, the takeaway line and the source line.

    From the top: the title (wrapped, so a long one is not clipped on a 1400 px screen), the
    takeaway, the legend just above the plot, the plot, the source line."""
    fig = go.Figure(fig)
    # A long title is set smaller rather than wrapped: plotly anchors a wrapped title by its first line,
    # which pushed that line off the top of the slide.
    raw = fig.layout.title.text or ""
    title_size = 28 if len(raw) <= PRESENT_TITLE_WIDTH else 22
    title = raw if len(raw) <= PRESENT_TITLE_WIDTH * 28 // 22 else wrap_lines(raw, PRESENT_TITLE_WIDTH * 28 // 22)
    title_lines = title.count("<br>") + 1 if title else 0
    # Charts with category labels on the y axis (caterpillar, spine, balance) have a narrower plot: wrap sooner.
    width = PRESENT_TAKEAWAY_WIDTH * 7 // 10 if fig.layout.yaxis.type == "category" else PRESENT_TAKEAWAY_WIDTH
    text = wrap_lines(takeaway, width) if takeaway else ""
    takeaway_lines = text.count("<br>") + 1 if text else 0
    own_legend = fig.layout.legend.yref == "container"  # small multiples place their legend themselves
    top = 30 + 36 * title_lines + 26 * takeaway_lines + (14 if text else 0) + (0 if own_legend else 48)
    legend_top = top  # small multiples: the legend under the takeaway, then the first row's panel titles
    if own_legend:
        top += 36 + 44
    narrow = fig.layout.yaxis.type == "category"
    # A legend that wraps needs the room (narrower beside category labels).
    extra_legend = 0 if own_legend else 30 * (legend_lines(fig, 780 if narrow else 1100) - 1)
    top += extra_legend
    fig.update_layout(font={"size": 20}, title={"text": title, "font": {"size": title_size}, "yref": "container",
                                                "y": 1, "yanchor": "top", "pad": {"t": 16 + 30 * (title_lines - 1)}},
                      paper_bgcolor="white", plot_bgcolor="white",
                      margin={"l": 110, "r": 40, "t": max(top, 150), "b": 160}, showlegend=True,
                      legend={"font": {"size": 18}})
    if not own_legend:
        fig.update_layout(legend={"y": 1, "yanchor": "bottom", "yref": "paper"})
        # The legend now sits on the plot's top edge: the start and transition labels move inside the plot.
        for label in ("Pioneer start", "end of transition"):
            fig.for_each_annotation(lambda a: a.update(y=1, yanchor="top"), selector={"text": label})
        fig.for_each_annotation(lambda a: a.update(y=0, yanchor="bottom"), selector={"text": "transition"})
    fig.update_annotations(font_size=16)
    if own_legend:
        # Small multiples: every panel's ticks and title readable on the slide, without crowding the panels:
        # 12 panels become 4 x 3 (wider than tall, like the slide), with room between rows for titles.
        n_panels = sum(1 for key in fig.layout.to_plotly_json() if key.startswith("xaxis"))
        regrid(fig, 4 if n_panels <= 12 else 5, gap_x=0.05, gap_y=0.2 if n_panels <= 12 else 0.16)
        fig.update_xaxes(tickfont_size=14)
        fig.update_yaxes(tickfont_size=14)
        fig.for_each_annotation(lambda a: a.update(font_size=15), selector={"name": "panel-title"})
        fig.for_each_annotation(lambda a: a.update(font_size=14), selector={"name": "no-data"})
        fig.update_layout(margin={"b": 110, "l": 70, "r": 110},
                          legend={"yref": "container", "y": 1 - legend_top / PRESENT_HEIGHT_PX, "yanchor": "top",
                                  "font": {"size": 16}})
        fig.for_each_annotation(lambda a: a.update(text=wrap_lines(a.text, PRESENT_SOURCE_WIDTH), yshift=-102),
                                selector={"name": "source"})
    fig.layout.height = None  # fill the 16:9 frame (a page's tall caterpillar would leave a blank strip)
    # At slide size the source line is wider than the chart: wrap it rather than let it run off the edge.
    if not own_legend:
        fig.for_each_annotation(lambda a: a.update(text=wrap_lines(a.text, PRESENT_SOURCE_WIDTH), yshift=-152),
                                selector={"name": "source"})
    if text:
        # Plain words under the title, above the legend; pixel-placed from the top of the plot.
        fig.add_annotation(text=text, xref="paper", x=0, xanchor="left", yref="paper", y=1, yanchor="bottom",
                           yshift=86 if own_legend else 48 + extra_legend, showarrow=False, align="left",
                           font={"size": 19, "color": "#222"}, name="takeaway")
    y = fig.layout.yaxis
    if y.type == "category" and y.categoryarray is not None and len(y.categoryarray) > PRESENT_MAX_LARGE_LABELS:
        # 25 site names at 20 px do not fit a 16:9 slide and plotly would drop every other one: name them all.
        labels = list(y.categoryarray)
        fig.update_yaxes(tickmode="array", tickvals=labels, ticktext=labels, tickfont={"size": 14})
    return fig


def legend_lines(fig: go.Figure, width_px: float = 1100, px_per_char: float = 10.5) -> int:
    """About how many lines a horizontal legend at 18 px takes on a slide: its entries' text plus their symbols."""
    names = {t.legendgroup or t.name: t.name for t in fig.data if t.name and t.showlegend is not False}
    total = sum(len(name) * px_per_char + 45 for name in names.values())
    return max(1, math.ceil(total / width_px))


PRESENT_MAX_LARGE_LABELS = 12
"""More category labels than this on a slide's y axis are set at 14 px, so every one is shown."""


PRESENT_HEIGHT_PX = 820
"""About the height of a slide on screen (770 px) and exported (900 px): places the small multiples' legend."""


PRESENT_TITLE_WIDTH = 64
"""Characters per line of a slide's title (28 px type; fits the plot width on a 1400 px screen)."""


PRESENT_TAKEAWAY_WIDTH = 100
"""Characters per line of a slide's takeaway (19 px type)."""


PRESENT_SOURCE_WIDTH = 110
"""Characters per line of the source line in presentation mode (16 px type on a 1600 px slide)."""


def wrap_lines(text: str, width: int) -> str:
    """Break ``text`` at spaces into lines of at most ``width`` characters, joined by <br> for plotly."""
    return "<br>".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) if text else text


def graph_config(filename: str, present: bool = False) -> dict:
    """Plotly modebar: PNG export at scale 3 with a file name that says what the chart is (presentation view
    adds PNG and SVG buttons that use the same name and size: page.image_buttons)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in filename).strip("-")[:80] or "chart"
    return {
        "displaylogo": False,
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
        "toImageButtonOptions": {"format": "png", "filename": safe, "scale": 3,
                                 "width": 1600 if present else None, "height": 900 if present else None},
        "responsive": True,
    }


def caterpillar_figure(frame: pd.DataFrame, *, title: str, x_title: str, source: str) -> go.Figure:
    """Each site's effect with its interval, sorted; colour shows the outcome (legend in words).

    ``frame``: label, effect, ci_low, ci_high, outcome_label, colour, and optionally kind ("site" or
    "pooled"): pooled rows are drawn as diamonds below the sites, in their own legend entry.
    """
    data = _caterpillar_order(frame)
    sites = data[data["kind"] == "site"]
    pooled = data[data["kind"] == "pooled"]
    fig = go.Figure()
    for (outcome, colour), part in sites.groupby(["outcome_label", "colour"], sort=False):
        fig.add_trace(go.Scatter(
            x=part["effect"], y=part["label"], mode="markers", name=outcome,
            marker={"color": colour, "size": 9, "line": {"color": "#333", "width": 1}},
            error_x={"type": "data", "symmetric": False, "array": part["ci_high"] - part["effect"],
                     "arrayminus": part["effect"] - part["ci_low"], "color": "#555", "thickness": 1.5},
            hovertemplate="%{y}: %{x:.1f}<extra>" + outcome + "</extra>"))
    if len(pooled):
        fig.add_trace(go.Scatter(
            x=pooled["effect"], y=pooled["label"], mode="markers", name="Pooled across Pioneers (diamonds)",
            marker={"color": pooled["colour"].tolist(), "size": 13, "symbol": "diamond",
                    "line": {"color": "#000", "width": 1.5}},
            error_x={"type": "data", "symmetric": False, "array": pooled["ci_high"] - pooled["effect"],
                     "arrayminus": pooled["effect"] - pooled["ci_low"], "color": "#000", "thickness": 2},
            customdata=pooled["outcome_label"].tolist(),
            hovertemplate="%{y}: %{x:.1f} (%{customdata})<extra></extra>"))
    fig.add_vline(x=0, line_color="#444", line_width=1)
    _base_layout(fig, title, "", x_title, False)
    fig.update_layout(xaxis={"type": "linear", "title": x_title, "tickangle": 0},
                      yaxis={"type": "category", "categoryorder": "array", "categoryarray": data["label"].tolist(),
                             "title": None, "automargin": True},
                      # The legend on its own line under the title: beside a long title they overlapped.
                      legend={"x": 0, "xanchor": "left", "y": 1, "yanchor": "bottom"},
                      hovermode="closest", height=max(420, 22 * len(data) + 180))
    add_source_line(fig, source)
    return fig


def _caterpillar_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Pooled rows first (the foot of the chart), then the sites by effect."""
    data = frame.assign(kind=frame["kind"] if "kind" in frame else "site")
    pooled = data[data["kind"] == "pooled"].iloc[::-1]
    return pd.concat([pooled, data[data["kind"] != "pooled"].sort_values("effect")], ignore_index=True)


def caterpillar_table(frame: pd.DataFrame, x_title: str) -> pd.DataFrame:
    data = _caterpillar_order(frame)
    return pd.DataFrame({"Site": data["label"], x_title: data["effect"].round(2),
                         "Lower 95% limit": data["ci_low"].round(2), "Upper 95% limit": data["ci_high"].round(2),
                         "Outcome": data["outcome_label"]})


@dataclass(frozen=True)
class SmallMultiple:
    """One small multiple: a trend frame with its own title, unit and intervention periods."""

    title: str
    frame: pd.DataFrame
    site_label: str
    unit: str = ""
    start_label: str | None = None
    transition: tuple[str, str] | None = None


def small_multiples_figure(panels: list[SmallMultiple], *, title: str, source: str, ncols: int = 3,
                           comparator_label: str = "Matched comparators", show_range: bool = True,
                           empty_note: str = "No data in this dataset") -> go.Figure:
    """Many trend panels in one figure (one plot for the browser to draw, not one per panel).

    Each panel has its own axes (indicators differ in unit and frequency); the legend names the
    series once; the start and transition are marked in every panel.
    """
    nrows = max(1, -(-len(panels) // ncols))
    gap_x, gap_y = 0.06, 0.5 / nrows
    width, height = (1 - gap_x * (ncols - 1)) / ncols, (1 - gap_y * (nrows - 1)) / nrows
    traces, shapes, notes = [], [], []
    layout = base_layout(title, "", "", True)
    layout.pop("xaxis"), layout.pop("yaxis")
    seen: set[str] = set()
    # One site in every panel: the legend names it. Many sites: the legend says "Pioneer site" and
    # each panel's title names its own (a legend naming the first site for all 25 panels misled).
    one_site = len({p.site_label for p in panels}) <= 1
    title_chars = max(16, int(MULTIPLES_WIDTH_PX * width / MULTIPLES_TITLE_PX_PER_CHAR))
    for n, panel in enumerate(panels, start=1):
        row, col = divmod(n - 1, ncols)
        x0 = col * (width + gap_x)
        y1 = 1 - row * (height + gap_y)
        suffix = "" if n == 1 else str(n)
        f = panel.frame
        labels = f["period_label"].tolist()
        tickvals = panel_ticks(labels)
        layout[f"xaxis{suffix}"] = {"domain": [x0, x0 + width], "anchor": f"y{suffix}", "type": "category",
                                    "tickmode": "array", "tickvals": tickvals, "ticktext": [_short_period(t) for t in tickvals],
                                    "tickangle": 0, "showgrid": False, "linecolor": "#888",
                                    "tickfont": {"size": MULTIPLES_TICK_PX}}
        layout[f"yaxis{suffix}"] = {"domain": [y1 - height, y1], "anchor": f"x{suffix}", "gridcolor": "#e5e5e5",
                                    "zeroline": False, "linecolor": "#888", "tickfont": {"size": MULTIPLES_TICK_PX},
                                    "rangemode": "tozero", "nticks": 4}
        if show_range and {"comparator_min", "comparator_max"} <= set(f.columns) and f["comparator_max"].notna().any():
            band = f"{comparator_label} (range)"
            for bound, fill in (("comparator_min", "none"), ("comparator_max", "tonexty")):
                traces.append({"type": "scatter", "x": labels, "y": _values(f[bound]), "mode": "lines",
                               "name": band, "line": {"width": 0, "color": COMPARATOR_COLOUR}, "fill": fill,
                               "fillcolor": "rgba(230,159,0,0.18)", "hoverinfo": "skip",
                               "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "legendgroup": band,
                               "showlegend": bound == "comparator_max" and band not in seen})
            seen.add(band)
        series = [("comparator_mean", f"{comparator_label} (mean)", {"color": COMPARATOR_COLOUR, "width": 1.5, "dash": "dot"}),
                  ("england_value", "England", {"color": ENGLAND_COLOUR, "width": 1.2, "dash": "longdash"}),
                  ("site_value", "Site", {"color": SITE_COLOUR, "width": 2})]
        for col_name, name, line in series:
            if col_name not in f.columns or not f[col_name].notna().any():
                continue
            legend_name = name if col_name != "site_value" else "Pioneer site"
            shown = (panel.site_label if one_site else "Pioneer site") if col_name == "site_value" else name
            traces.append({"type": "scatter", "x": labels, "y": _values(f[col_name]), "mode": "lines",
                           "name": shown, "line": line,
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "legendgroup": legend_name,
                           "showlegend": legend_name not in seen, "legendgrouptitle": None,
                           "hovertemplate": f"{_e_text(panel.site_label if col_name == 'site_value' else name)}: "
                                            "%{y}<extra></extra>"})
            seen.add(legend_name)
        if f.empty or not f["site_value"].notna().any():
            notes.append({"text": empty_note, "x": x0 + width / 2, "y": y1 - height / 2,
                          "xanchor": "center", "yanchor": "middle", "name": "no-data",
                          "xref": "paper", "yref": "paper", "showarrow": False, "font": {"size": 11, "color": "#555"}})
            layout[f"xaxis{suffix}"].update(showticklabels=False)
            layout[f"yaxis{suffix}"].update(showticklabels=False)
        marks, _ = _intervention_marks(labels, TrendOptions(title="", site_label="", indicator_name="", unit="",
                                                            source="", start_label=panel.start_label,
                                                            transition=panel.transition, compact=True))
        for m in marks:
            m.update(xref=f"x{suffix}", yref=f"y{suffix} domain")
        shapes += marks
        notes.append({"text": "<b>" + wrap_lines(panel.title, title_chars) + "</b>"
                      + (f"<br><span style='font-size:{MULTIPLES_TICK_PX}px'>{panel.unit}</span>" if panel.unit else ""),
                      "x": x0, "y": y1, "xref": "paper", "yref": "paper", "xanchor": "left", "yanchor": "bottom",
                      "showarrow": False, "align": "left", "font": {"size": 12}, "name": "panel-title"})
    notes.append(source_annotation(source, 80))
    fig_height = 140 + 230 * nrows
    layout.update(shapes=shapes, annotations=notes, height=fig_height, showlegend=True, hovermode="x",
                  margin={"l": 50, "r": 20, "t": 120, "b": 80})
    # Pixel-placed title then legend, above the first row's panel titles.
    layout["title"].update(y=1 - 12 / fig_height, yanchor="top", yref="container", font={"size": 16})
    layout["legend"] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1 - 48 / fig_height, "yanchor": "top",
                        "yref": "container", "font": {"size": 12}}
    return _figure(traces, layout)


MULTIPLES_WIDTH_PX = 1250
"""The width small multiples are drawn at on a 1400 px screen, for fitting panel titles to their panel."""
MULTIPLES_TITLE_PX_PER_CHAR = 7.5
"""Average width of a bold 12 px character: panel titles wrap at the panel's width instead of running on."""
MULTIPLES_TICK_PX = 11


def regrid(fig: go.Figure, ncols: int, gap_x: float, gap_y: float) -> None:
    """Lay small multiples out again in ``ncols`` columns: axis domains, panel titles and "no data" notes move
    together (the start and transition marks are drawn in each panel's own axes, so they follow)."""
    keys = sorted((k for k in fig.layout.to_plotly_json() if k.startswith("xaxis")),
                  key=lambda k: int(k[5:] or 1))
    n = len(keys)
    nrows = max(1, -(-n // ncols))
    width, height = (1 - gap_x * (ncols - 1)) / ncols, (1 - gap_y * (nrows - 1)) / nrows
    moves = []
    for i, key in enumerate(keys):
        xa, ya = fig.layout[key], fig.layout["yaxis" + key[5:]]
        old = (xa.domain[0], xa.domain[1], ya.domain[0], ya.domain[1])
        row, col = divmod(i, ncols)
        x0, y1 = col * (width + gap_x), 1 - row * (height + gap_y)
        xa.domain = [max(0.0, x0), min(1.0, x0 + width)]
        ya.domain = [max(0.0, y1 - height), min(1.0, y1)]
        moves.append((old, (x0, x0 + width, y1 - height, y1)))
    for a in fig.layout.annotations:
        if a.xref != "paper" or a.yref != "paper" or a.name == "source":
            continue
        for (ox0, ox1, oy0, oy1), (nx0, nx1, ny0, ny1) in moves:
            if ox0 - 1e-9 <= a.x <= ox1 + 1e-9 and oy0 - 1e-9 <= a.y <= oy1 + 1e-9:
                a.x = nx0 + (a.x - ox0) / (ox1 - ox0) * (nx1 - nx0)
                a.y = ny0 + (a.y - oy0) / (oy1 - oy0) * (ny1 - ny0)
                break


def panel_ticks(labels: list[str], n: int = 3) -> list[str]:
    """At most ``n`` evenly spaced period labels for a small panel's axis, first and last included,
    so labels never run together ("2010/11 Q12012/13 Q2")."""
    if len(labels) <= n:
        return list(labels)
    # Inset from the ends, so the last label of one panel never meets the first of the next.
    span = len(labels) - 1
    return [labels[round(span * (0.1 + 0.8 * i / (n - 1)))] for i in range(n)]


def _short_period(label: str) -> str:
    """A quarter's financial year alone ("2014/15 Q3" -> "2014/15"): short enough for a small panel."""
    return label.split(" Q")[0] if isinstance(label, str) and " Q" in label else label


def _e_text(text: str) -> str:
    """A name safe inside a plotly hovertemplate (no "%{" sequences)."""
    return str(text).replace("{", "(").replace("}", ")")


def small_multiples_table(panels: list[SmallMultiple], comparator_label: str = "Matched comparators",
                          show_range: bool = True) -> pd.DataFrame:
    """Long table of every panel's plotted numbers: panel, period, site, comparators, England, phase.
    A column only some panels have (a panel without comparators) is missing on the others' rows."""
    parts = []
    for panel in panels:
        f = panel.frame
        n = len(f)
        part = {"Panel": np.full(n, panel.title, dtype=object), "Site": np.full(n, panel.site_label, dtype=object),
                "Unit": np.full(n, panel.unit, dtype=object), "Period": f["period_label"].to_numpy(dtype=object),
                "Site value": f["site_value"].to_numpy(dtype=float)}
        if "comparator_mean" in f.columns and f["comparator_mean"].notna().any():
            part[f"{comparator_label} (mean)"] = f["comparator_mean"].to_numpy(dtype=float)
        if show_range and {"comparator_min", "comparator_max"} <= set(f.columns) and f["comparator_max"].notna().any():
            part[f"{comparator_label} (lowest)"] = f["comparator_min"].to_numpy(dtype=float)
            part[f"{comparator_label} (highest)"] = f["comparator_max"].to_numpy(dtype=float)
        if "england_value" in f.columns:
            part["England"] = f["england_value"].to_numpy(dtype=float)
        part["Phase"] = f["phase"].to_numpy(dtype=object)
        parts.append((n, part))
    if not parts:
        return pd.DataFrame()
    # One frame built from whole columns: a frame per panel, then concat, took about six times as long.
    names = list(dict.fromkeys(name for _, part in parts for name in part))
    return pd.DataFrame({name: np.concatenate([part[name] if name in part else np.full(n, np.nan)
                                               for n, part in parts]) for name in names})


# --- detail charts: event study, change in trend, SPC, funnel, love plot ---------------------------

def _layout(title: str, x_title: str, y_title: str, source: str, *, category_x: bool = True) -> dict:
    layout = base_layout(title, y_title, x_title, False)
    if not category_x:
        layout["xaxis"].update(type="linear")
    layout["annotations"] = [source_annotation(source)]
    return layout


def _period_layout_with_intervention(title: str, unit: str, source: str, labels: list[str],
                                     start_label: str | None, transition: tuple[str, str] | None,
                                     x_title: str = "Period (financial year)") -> dict:
    """A detail chart's layout over financial-year periods, with the start and transition marked."""
    layout = _layout(title, x_title, unit, source)
    shapes, notes = _intervention_marks(labels, TrendOptions(title="", site_label="", indicator_name="", unit="",
                                                             source="", start_label=start_label,
                                                             transition=transition))
    layout["shapes"] = shapes
    layout["annotations"] += notes
    return layout


EVENT_PHASES = {"pre": ("Before the transition (should sit near 0)", OKABE_ITO["grey"], "circle"),
                "transition": ("Transition", OKABE_ITO["orange"], "circle-open"),
                "post": ("After the transition", OKABE_ITO["blue"], "circle")}


def event_study_figure(frame: pd.DataFrame, *, title: str, unit: str, source: str,
                       x_title: str | None = None, start_label: str | None = None,
                       transition: tuple[str, str] | None = None) -> go.Figure:
    """Difference from comparators period by period, with 95% intervals; 0 = no difference.

    ``frame``: event_time, coef, ci_low, ci_high, phase (pre/transition/post), optionally
    period_label and reference (True for the period everything is measured against). With
    period labels the x axis is the calendar (financial-year periods) and the start and
    transition are marked as on the trend chart; without them (the pooled estimate, whose
    cohorts start on different dates) it counts periods from the end of the transition.
    """
    f = frame.dropna(subset=["coef"]).reset_index(drop=True)
    calendar = "period_label" in f.columns
    xs = f["period_label"].tolist() if calendar else f["event_time"].tolist()
    traces = []
    for phase, (name, colour, symbol) in EVENT_PHASES.items():
        part = f[f["phase"] == phase]
        if part.empty:
            continue
        traces.append({"type": "scatter", "x": [xs[i] for i in part.index], "y": _values(part["coef"]),
                       "mode": "markers", "name": name, "legendgroup": phase,
                       "marker": {"color": colour, "size": 8, "symbol": symbol, "line": {"width": 2, "color": colour}},
                       "error_y": {"type": "data", "symmetric": False, "array": _values(part["ci_high"] - part["coef"]),
                                   "arrayminus": _values(part["coef"] - part["ci_low"]), "color": colour,
                                   "thickness": 1.2}})
    if "reference" in f.columns and f["reference"].any():
        ref = f[f["reference"].astype(bool)]
        traces.append({"type": "scatter", "x": [xs[i] for i in ref.index], "y": [0.0] * len(ref), "mode": "markers",
                       "name": "Reference period (set to 0)",
                       "marker": {"color": "white", "size": 12, "symbol": "diamond",
                                  "line": {"width": 2, "color": OKABE_ITO["black"]}}})
    if calendar:
        every = frame["period_label"].tolist()  # the whole calendar, so marks land on the right periods
        layout = _period_layout_with_intervention(title, unit, source, every, start_label, transition)
        layout["xaxis"].update(title={"text": x_title or "Period (financial year)"}, categoryorder="array",
                               categoryarray=every)
        layout["yaxis"]["title"] = {"text": f"Difference ({unit})"}
    else:
        layout = _layout(title, x_title or "Periods after the transition (0 = first period after it)",
                         f"Difference ({unit})", source, category_x=False)
        layout["shapes"] = [{"type": "line", "xref": "x", "x0": -0.5, "x1": -0.5, "yref": "paper", "y0": 0, "y1": 1,
                             "line": {"dash": "dash", "color": OKABE_ITO["vermillion"], "width": 1.5}}]
        layout["annotations"].append({"x": -0.5, "y": 1.0, "xref": "x", "yref": "paper", "text": "end of transition",
                                      "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                                      "font": {"size": 11, "color": OKABE_ITO["vermillion"]}})
    layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0, "y1": 0, "yref": "y",
                         "line": {"color": "#444", "width": 1}}] + layout.get("shapes", [])
    layout["hovermode"] = "closest"
    return _figure(traces, layout)


def event_study_table(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    f = frame.dropna(subset=["coef"])
    first = ({"Period": f["period_label"]} if "period_label" in f.columns
             else {"Periods after the transition": f["event_time"]})
    out = pd.DataFrame({**first, "Phase": f["phase"],
                        f"Difference from comparators ({unit})": f["coef"].round(3),
                        "Lower 95% limit": f["ci_low"].round(3), "Upper 95% limit": f["ci_high"].round(3)})
    if "reference" in f.columns:
        out["Reference period"] = np.where(f["reference"].astype(bool), "yes", "")
    return out


def its_figure(frame: pd.DataFrame, *, title: str, unit: str, site_label: str, source: str,
               start_label: str | None, transition: tuple[str, str] | None,
               x_title: str = "Period (financial year)") -> go.Figure:
    """Observed series, the segmented-regression fit and the pre-period trend carried forward.

    ``frame``: period_label, observed, fitted, counterfactual, phase.
    """
    labels = frame["period_label"].tolist()
    traces = [
        {"type": "scatter", "x": labels, "y": _values(frame["observed"]), "mode": "markers", "name": f"{site_label} (observed)",
         "marker": {"color": SITE_COLOUR, "size": 6}},
        {"type": "scatter", "x": labels, "y": _values(frame["fitted"]), "mode": "lines", "name": "Fitted trend",
         "line": {"color": OKABE_ITO["blue"], "width": 2}},
        {"type": "scatter", "x": labels, "y": _values(frame["counterfactual"]), "mode": "lines",
         "name": "Pre-Pioneer trend continued", "line": {"color": OKABE_ITO["orange"], "width": 2, "dash": "dot"}},
    ]
    return _figure(traces, _period_layout_with_intervention(title, unit, source, labels, start_label, transition,
                                                            x_title))


def its_table(frame: pd.DataFrame, site_label: str) -> pd.DataFrame:
    return pd.DataFrame({"Period": frame["period_label"], "Phase": frame["phase"],
                         f"{site_label} (observed)": frame["observed"].round(3), "Fitted trend": frame["fitted"].round(3),
                         "Pre-Pioneer trend continued": frame["counterfactual"].round(3)})


def scm_figure(frame: pd.DataFrame, *, title: str, unit: str, site_label: str, source: str,
               start_label: str | None, transition: tuple[str, str] | None,
               x_title: str = "Period (financial year)") -> go.Figure:
    """The site against its synthetic control: before the start the fit, after it the counterfactual.

    ``frame``: period_label, site, synthetic (NaN in periods the fit does not use)."""
    labels = frame["period_label"].tolist()
    traces = [
        {"type": "scatter", "x": labels, "y": _values(frame["synthetic"]), "mode": "lines",
         "name": "Synthetic control (weighted non-Pioneer areas)",
         "line": {"color": COMPARATOR_COLOUR, "width": 2.5, "dash": "dash"}},
        {"type": "scatter", "x": labels, "y": _values(frame["site"]), "mode": "lines+markers", "name": site_label,
         "line": {"color": SITE_COLOUR, "width": 2.5}, "marker": {"size": 6}},
    ]
    return _figure(traces, _period_layout_with_intervention(title, unit, source, labels, start_label, transition,
                                                            x_title))


def scm_table(frame: pd.DataFrame, site_label: str) -> pd.DataFrame:
    """Exactly the numbers ``scm_figure`` draws."""
    return pd.DataFrame({"Period": frame["period_label"], "Phase": frame["phase"],
                         site_label: frame["site"].round(3), "Synthetic control": frame["synthetic"].round(3),
                         "Gap (site minus synthetic)": (frame["site"] - frame["synthetic"]).round(3)})


SPC_COLOURS = VARIATION_COLOURS


def spc_figure(chart: pd.DataFrame, *, title: str, unit: str, source: str, start_label: str | None,
               transition: tuple[str, str] | None, x_title: str = "Period (financial year)") -> go.Figure:
    """XmR chart: points coloured by variation type (legend in words), mean and process limits."""
    labels = chart["period_label"].tolist()
    traces = [{"type": "scatter", "x": labels, "y": _values(chart["value"]), "mode": "lines",
               "line": {"color": "#bbb", "width": 1}, "showlegend": False, "hoverinfo": "skip"}]
    for variation, colour in SPC_COLOURS.items():
        part = chart[chart["variation"] == variation]
        if part.empty:
            continue
        traces.append({"type": "scatter", "x": part["period_label"].tolist(), "y": _values(part["value"]),
                       "mode": "markers", "name": variation.capitalize(), "marker": {"color": colour, "size": 8}})
    for col, name, dash in (("mean", "Mean (baseline)", "solid"), ("upper_limit", "Process limits", "dash"),
                            ("lower_limit", "Process limits", "dash")):
        traces.append({"type": "scatter", "x": labels, "y": _values(chart[col]), "mode": "lines", "name": name,
                       "line": {"color": "#444", "width": 1, "dash": dash}, "showlegend": col != "lower_limit",
                       "legendgroup": name})
    return _figure(traces, _period_layout_with_intervention(title, unit, source, labels, start_label, transition,
                                                            x_title))


def spc_table(chart: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Period": chart["period_label"], "Phase": chart["phase"], "Value": chart["value"].round(3),
                         "Mean": chart["mean"].round(3), "Lower process limit": chart["lower_limit"].round(3),
                         "Upper process limit": chart["upper_limit"].round(3), "Variation": chart["variation"]})


def funnel_figure(sites: pd.DataFrame, limits: pd.DataFrame, *, title: str, unit: str, x_title: str,
                  source: str, others: pd.DataFrame | None = None) -> go.Figure:
    """Latest values against England: sites as points coloured by outcome, 95% and 99.8% limits around England.

    ``sites``: label, denominator, value, outcome_label, colour; ``limits``: denominator, england,
    low95, high95, low998, high998; ``others``: label, denominator, value (grey, optional).
    """
    traces = []
    if others is not None and len(others):
        traces.append({"type": "scatter", "x": _values(others["denominator"]), "y": _values(others["value"]),
                       "mode": "markers", "name": "Other local authorities", "text": others["label"].tolist(),
                       "marker": {"color": "#ccc", "size": 5}, "hovertemplate": "%{text}: %{y:.1f}<extra></extra>"})
    x = _values(limits["denominator"])
    adjusted = "adj_low95" in limits.columns
    plain = "Plain limits (chance alone)"
    for col, name, dash in (("high998", "99.8% limits", "dot"), ("low998", "99.8% limits", "dot"),
                            ("high95", "95% limits", "dash"), ("low95", "95% limits", "dash")):
        line = ({"color": "#aaa", "width": 1, "dash": dash} if adjusted else
                {"color": ENGLAND_COLOUR, "width": 1, "dash": dash})
        label = plain if adjusted else name
        traces.append({"type": "scatter", "x": x, "y": _values(limits[col]), "mode": "lines", "name": label,
                       "legendgroup": label, "showlegend": col == "high998" if adjusted else not col.startswith("low"),
                       "line": line, "hoverinfo": "skip"})
    if adjusted:
        for col, name, dash in (("adj_high998", "99.8% limits (overdispersion-adjusted)", "dot"),
                                ("adj_low998", "99.8% limits (overdispersion-adjusted)", "dot"),
                                ("adj_high95", "95% limits (overdispersion-adjusted)", "dash"),
                                ("adj_low95", "95% limits (overdispersion-adjusted)", "dash")):
            traces.append({"type": "scatter", "x": x, "y": _values(limits[col]), "mode": "lines", "name": name,
                           "legendgroup": name, "showlegend": "high" in col,
                           "line": {"color": ENGLAND_COLOUR, "width": 1.5, "dash": dash}, "hoverinfo": "skip"})
    traces.append({"type": "scatter", "x": x, "y": _values(limits["england"]), "mode": "lines", "name": "England",
                   "line": {"color": ENGLAND_COLOUR, "width": 1, "dash": "solid"}, "hoverinfo": "skip"})
    for (label, colour), part in sites.groupby(["outcome_label", "colour"], sort=False):
        traces.append({"type": "scatter", "x": _values(part["denominator"]), "y": _values(part["value"]),
                       "mode": "markers", "name": label, "text": part["label"].tolist(),
                       "marker": {"color": colour, "size": 10, "line": {"color": "#333", "width": 1}},
                       "hovertemplate": "%{text}: %{y:.1f}<extra></extra>"})
    layout = _layout(title, x_title, unit, source, category_x=False)
    layout["xaxis"].update(type="log", tickangle=0)
    layout["hovermode"] = "closest"
    return _figure(traces, layout)


def funnel_table(sites: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The funnel's points; with a ``band`` column (anonymised) the denominator is its band only."""
    size = ({"Denominator band": sites["band"]} if "band" in sites else
            {"Denominator": sites["denominator"].round(0)})
    return pd.DataFrame({"Site": sites["label"], **size,
                         f"Value ({unit})": sites["value"].round(3), "England": sites["england"].round(3),
                         "Outcome": sites["outcome_label"]})


COVARIATE_LABELS = {"log_population": "Population (log)", "share_65": "Share aged 65+",
                    "deprivation": "Deprivation (IMD score)", "density": "Population density (log)",
                    "baseline_level": "Indicator baseline level", "baseline_slope": "Indicator baseline trend"}


def covariate_label(name: str) -> str:
    """A matching covariate in words, as the controls name it."""
    return COVARIATE_LABELS.get(name, name.replace("_", " "))


def love_figure(balance: pd.DataFrame, *, title: str, source: str, thresholds: tuple[float, float] = (0.1, 0.25),
                x_title: str = "Mean absolute standardised mean difference (pool SD units)") -> go.Figure:
    """Love plot: |SMD| of each covariate before and after matching (averaged over sites, or one site's).

    ``balance``: covariate, abs_before, abs_after (one row per covariate). Before and after differ in
    shape (open circle, filled diamond) as well as colour.
    """
    f = balance.sort_values("abs_before")
    labels = [covariate_label(c) for c in f["covariate"]]
    traces = [
        {"type": "scatter", "x": _values(f["abs_before"]), "y": labels, "mode": "markers",
         "name": "Before matching (site vs whole pool)", "marker": {"color": OKABE_ITO["vermillion"], "size": 10,
                                                                     "symbol": "circle-open"}},
        {"type": "scatter", "x": _values(f["abs_after"]), "y": labels, "mode": "markers",
         "name": "After matching (site vs its comparators)", "marker": {"color": OKABE_ITO["blue"], "size": 11,
                                                                          "symbol": "diamond"}},
    ]
    layout = _layout(title, x_title, "", source, category_x=False)
    layout["yaxis"].update(type="category", title={"text": None}, automargin=True)
    layout["xaxis"].update(rangemode="tozero")
    layout["shapes"] = [{"type": "line", "xref": "x", "x0": t, "x1": t, "yref": "paper", "y0": 0, "y1": 1,
                         "line": {"color": "#444", "width": 1, "dash": "dash" if i else "solid"}}
                        for i, t in enumerate(thresholds)]
    layout["hovermode"] = "closest"
    return _figure(traces, layout)


def love_table(balance: pd.DataFrame) -> pd.DataFrame:
    f = balance.sort_values("abs_before")
    return pd.DataFrame({"Covariate": [covariate_label(c) for c in f["covariate"]], "Mean |SMD| before": f["abs_before"].round(3),
                         "Mean |SMD| after": f["abs_after"].round(3), "Sites rated good after": f["n_good"]})


def site_love_table(balance: pd.DataFrame) -> pd.DataFrame:
    """One site's love plot as a table: |SMD| before and after, and the rating after."""
    f = balance.sort_values("abs_before")
    return pd.DataFrame({"Covariate": [covariate_label(c) for c in f["covariate"]],
                         "|SMD| before (site vs pool)": f["abs_before"].round(3),
                         "|SMD| after (site vs comparators)": f["abs_after"].round(3),
                         "Balance after": f["rating_after"].to_numpy()})


def sensitivity_figure(table: pd.DataFrame, *, title: str, source: str) -> go.Figure:
    """Forest plot: the effect (% of expected) and its 95% interval under each variant, the main estimate
    as a square, the others as circles (shape as well as colour), with a line at no effect.

    ``table``: analysis.sensitivity COLUMNS, one row per variant, in display order (top first)."""
    f = table.iloc[::-1].reset_index(drop=True)
    traces = []
    for main, name, colour, symbol in ((True, "Main estimate", OKABE_ITO["blue"], "square"),
                                       (False, "Other choices", OKABE_ITO["orange"], "circle")):
        part = f[f["is_main"] == main]
        if part.empty:
            continue
        eff = part["effect_pct"].astype(float)
        traces.append({"type": "scatter", "x": _values(eff), "y": part["variant"].tolist(), "mode": "markers",
                       "name": name, "marker": {"color": colour, "size": 11, "symbol": symbol},
                       "error_x": {"type": "data", "symmetric": False, "color": colour, "thickness": 2,
                                   "array": _values(part["ci_high_pct"].astype(float) - eff),
                                   "arrayminus": _values(eff - part["ci_low_pct"].astype(float))},
                       "hovertemplate": "%{y}: %{x:+.1f}%<extra></extra>"})
    layout = _layout(title, "Effect, % of the expected value (95% placebo interval)", "", source, category_x=False)
    layout["yaxis"].update(type="category", title={"text": None}, automargin=True,
                           categoryorder="array", categoryarray=f["variant"].tolist())
    # The variants' names take the left of the figure: the title starts at the figure's edge, not the plot's.
    layout["title"].update(xref="container", x=0.01)
    layout["shapes"] = [{"type": "line", "xref": "x", "x0": 0, "x1": 0, "yref": "paper", "y0": 0, "y1": 1,
                         "line": {"color": "#444", "width": 1, "dash": "dash"}}]
    layout["hovermode"] = "closest"
    return _figure(traces, layout)


def sensitivity_view_table(table: pd.DataFrame) -> pd.DataFrame:
    """The forest plot as a table: each variant's choices, estimate, interval and p."""
    def pct(v: float) -> str:
        return f"{v:+.1f}%" if np.isfinite(v) else "not estimated"

    return pd.DataFrame({
        "Variant": table["variant"], "Estimator": table["estimator"].str.upper(),
        "k": [int(k) if k else "whole pool, weighted" for k in table["k"]],
        "Distance": [m.title() if m else "none (weights fitted)" for m in table["method"]],
        "Part-covered LAs": ["by population share" if w == "population_share" else "whole" for w in table["weighting"]], "Transition period": table["transition"],
        "Effect (% of expected)": [pct(float(v)) for v in table["effect_pct"]],
        "95% interval": [f"{a:+.1f}% to {b:+.1f}%" if np.isfinite(a) and np.isfinite(b) else ""
                         for a, b in zip(table["ci_low_pct"].astype(float), table["ci_high_pct"].astype(float))],
        "p": [f"{p:.3f}" if np.isfinite(p) else "" for p in table["p_value"].astype(float)],
        "Comparators": table["n_comparators"], "Note": table["note"]})


# --- spine chart (Fingertips): each indicator's site value against England's range -----------------

def spine_figure(frame: pd.DataFrame, *, title: str, source: str, site_label: str) -> go.Figure:
    """One row per indicator: England's spread of local authorities (lightest: lowest to highest; darker: middle
    half) on a common scale with England at the centre and the worse (or lower) end on the left; the site's
    latest value as a point coloured by its benchmark outcome (legend in words).

    ``frame``: indicator, lo_pos, q25_pos, q75_pos, hi_pos, position, outcome_label, colour, hover."""
    f = frame.reset_index(drop=True)
    labels = f["indicator"].tolist()
    shapes = [{"type": "line", "xref": "x", "x0": 0, "x1": 0, "yref": "paper", "y0": 0, "y1": 1,
               "line": {"color": ENGLAND_COLOUR, "width": 2}}]
    for i, r in f.iterrows():
        if not np.isfinite(r["lo_pos"]):
            continue
        for a, b, colour, half in ((r["lo_pos"], r["hi_pos"], "#d9d9d9", 0.32), (r["q25_pos"], r["q75_pos"], "#a6a6a6", 0.32)):
            shapes.append({"type": "rect", "xref": "x", "yref": "y", "x0": min(a, b), "x1": max(a, b),
                           "y0": i - half, "y1": i + half, "fillcolor": colour, "line": {"width": 0}, "layer": "below"})
    traces = []
    for (label, colour), part in f[np.isfinite(f["position"].astype(float))].groupby(["outcome_label", "colour"], sort=False):
        traces.append({"type": "scatter", "x": _values(part["position"]), "y": part["indicator"].tolist(),
                       "mode": "markers", "name": f"{site_label}: {label}", "text": part["hover"].tolist(),
                       "hovertemplate": "%{text}<extra></extra>",
                       "marker": {"color": colour, "size": 13, "line": {"color": "#222", "width": 1.2}}})
    layout = _layout(title, "", "", source, category_x=False)
    layout["xaxis"].update(range=[-1.15, 1.15], tickmode="array", tickvals=[-1, 0, 1],
                           ticktext=["Worse (or lowest)", "England", "Better (or highest)"], zeroline=False)
    layout["yaxis"].update(type="category", categoryorder="array", categoryarray=labels[::-1], automargin=True,
                           title={"text": None}, gridcolor="white")
    layout.update(shapes=shapes, hovermode="closest", height=max(360, 34 * len(f) + 190),
                  legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1, "yanchor": "bottom"})
    return _figure(traces, layout)


SPINE_HEADERS = {"indicator": "Indicator", "period": "Period", "value": "Site value", "ci_low": "Lower 95%",
                 "ci_high": "Upper 95%", "numerator": "Count (numerator)", "denominator": "Denominator",
                 "england": "England", "lowest": "England's lowest area", "q25": "25th percentile",
                 "q75": "75th percentile", "highest": "England's highest area", "outcome_label": "Against England",
                 "recent": "Recent trend (last 5 points)", "variation": "SPC variation (latest point)",
                 "assurance": "SPC assurance (limits against England)"}


def spine_table(frame: pd.DataFrame, show_counts: bool = True) -> pd.DataFrame:
    """The spine chart's numbers, with counts and denominators (not when anonymised), recent trend and MDC icons."""
    cols = [c for c in SPINE_HEADERS if c in frame.columns and (show_counts or c not in ("numerator", "denominator"))]
    out = frame[cols].copy()
    for c in ("value", "ci_low", "ci_high", "england", "lowest", "q25", "q75", "highest"):
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").round(2)
    for c in ("numerator", "denominator"):  # counts are whole numbers
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").round(0).astype("Int64")
    return out.rename(columns=SPINE_HEADERS)
