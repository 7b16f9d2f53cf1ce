"""Pure figure builders: frames and options in, go.Figure out.

Each builder has a paired table builder (`*_table`) returning exactly the numbers the chart
draws, with the headers a reader sees; CSV exports and the table alternative under each chart
come from that table, so a download never disagrees with the picture.
"""
from __future__ import annotations

import textwrap

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

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
    traces.append({"type": "scatter", "x": labels, "y": _values(frame["site_value"]), "mode": "lines+markers",
                   "name": opts.site_label, "line": {"color": SITE_COLOUR, "width": 2.5},
                   "marker": {"size": 4 if opts.compact else 6}})
    layout = base_layout(opts.title, opts.unit, "Period (financial year)", opts.compact)
    shapes, notes = _intervention_marks(labels, opts)
    if not opts.compact:
        notes.append(source_annotation(opts.source))
    layout.update(shapes=shapes, annotations=notes)
    return _figure(traces, layout)


TREND_HEADERS = {
    "period_label": "Period", "site_value": "{site}", "comparator_mean": "{comparators} (mean)",
    "comparator_min": "{comparators} (lowest)", "comparator_max": "{comparators} (highest)",
    "england_value": "England", "phase": "Phase",
}


def trend_chart_table(frame: pd.DataFrame, opts: TrendOptions) -> pd.DataFrame:
    """Exactly the numbers `trend_figure` draws, one row per period, headers as a reader sees them."""
    cols = [c for c in TREND_HEADERS if c in frame.columns and (c in ("period_label", "phase", "site_value")
                                                                  or frame[c].notna().any())]
    out = frame[cols].copy()
    out.columns = [TREND_HEADERS[c].format(site=opts.site_label, comparators=opts.comparator_label) for c in cols]
    return out


def presentation(fig: go.Figure) -> go.Figure:
    """Slide-ready: large type, white background, room for the title and source line."""
    fig = go.Figure(fig)
    # The title on its own line at the top, the legend on the next: on one line a long title ran into it.
    fig.update_layout(font={"size": 20}, title={"font": {"size": 28}, "yref": "container", "y": 0.97, "yanchor": "top"},
                      paper_bgcolor="white", plot_bgcolor="white",
                      margin={"l": 110, "r": 40, "t": 150, "b": 160}, showlegend=True, legend={"font": {"size": 18}})
    fig.update_annotations(font_size=16)
    fig.layout.height = None  # fill the 16:9 frame (a page's tall caterpillar would leave a blank strip)
    # At slide size the source line is wider than the chart: wrap it rather than let it run off the edge.
    fig.for_each_annotation(lambda a: a.update(text=wrap_lines(a.text, PRESENT_SOURCE_WIDTH), yshift=-152),
                            selector={"name": "source"})
    y = fig.layout.yaxis
    if y.type == "category" and y.categoryarray is not None and len(y.categoryarray) > PRESENT_MAX_LARGE_LABELS:
        # 25 site names at 20 px do not fit a 16:9 slide and plotly would drop every other one: name them all.
        labels = list(y.categoryarray)
        fig.update_yaxes(tickmode="array", tickvals=labels, ticktext=labels, tickfont={"size": 14})
    return fig


PRESENT_MAX_LARGE_LABELS = 12
"""More category labels than this on a slide's y axis are set at 14 px, so every one is shown."""


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

    ``frame``: label, effect, ci_low, ci_high, outcome_label, colour.
    """
    data = frame.sort_values("effect").reset_index(drop=True)
    fig = go.Figure()
    for (outcome, colour), part in data.groupby(["outcome_label", "colour"], sort=False):
        fig.add_trace(go.Scatter(
            x=part["effect"], y=part["label"], mode="markers", name=outcome, marker={"color": colour, "size": 9},
            error_x={"type": "data", "symmetric": False, "array": part["ci_high"] - part["effect"],
                     "arrayminus": part["effect"] - part["ci_low"], "color": colour},
            hovertemplate="%{y}: %{x:.1f}<extra>" + outcome + "</extra>"))
    fig.add_vline(x=0, line_color="#444", line_width=1)
    _base_layout(fig, title, "", x_title, False)
    fig.update_layout(xaxis={"type": "linear", "title": x_title, "tickangle": 0},
                      yaxis={"type": "category", "categoryorder": "array", "categoryarray": data["label"].tolist(),
                             "title": None, "automargin": True},
                      hovermode="closest", height=max(420, 22 * len(data) + 180))
    add_source_line(fig, source)
    return fig


def caterpillar_table(frame: pd.DataFrame, x_title: str) -> pd.DataFrame:
    data = frame.sort_values("effect")
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
    for n, panel in enumerate(panels, start=1):
        row, col = divmod(n - 1, ncols)
        x0 = col * (width + gap_x)
        y1 = 1 - row * (height + gap_y)
        suffix = "" if n == 1 else str(n)
        layout[f"xaxis{suffix}"] = {"domain": [x0, x0 + width], "anchor": f"y{suffix}", "type": "category",
                                    "nticks": 4, "tickangle": 0, "showgrid": False, "linecolor": "#888",
                                    "tickfont": {"size": 9}}
        layout[f"yaxis{suffix}"] = {"domain": [y1 - height, y1], "anchor": f"x{suffix}", "gridcolor": "#e5e5e5",
                                    "zeroline": False, "linecolor": "#888", "tickfont": {"size": 9},
                                    "rangemode": "tozero"}
        f = panel.frame
        labels = f["period_label"].tolist()
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
            traces.append({"type": "scatter", "x": labels, "y": _values(f[col_name]), "mode": "lines",
                           "name": panel.site_label if col_name == "site_value" else name, "line": line,
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "legendgroup": legend_name,
                           "showlegend": legend_name not in seen, "legendgrouptitle": None})
            seen.add(legend_name)
        if f.empty or not f["site_value"].notna().any():
            notes.append({"text": empty_note, "x": x0 + width / 2, "y": y1 - height / 2,
                          "xref": "paper", "yref": "paper", "showarrow": False, "font": {"size": 11, "color": "#555"}})
            layout[f"xaxis{suffix}"].update(showticklabels=False)
            layout[f"yaxis{suffix}"].update(showticklabels=False)
        marks, _ = _intervention_marks(labels, TrendOptions(title="", site_label="", indicator_name="", unit="",
                                                            source="", start_label=panel.start_label,
                                                            transition=panel.transition, compact=True))
        for m in marks:
            m.update(xref=f"x{suffix}", yref=f"y{suffix} domain")
        shapes += marks
        notes.append({"text": f"<b>{panel.title}</b>" + (f"<br><span style='font-size:9px'>{panel.unit}</span>"
                                                         if panel.unit else ""),
                      "x": x0, "y": y1, "xref": "paper", "yref": "paper", "xanchor": "left", "yanchor": "bottom",
                      "showarrow": False, "align": "left", "font": {"size": 11}})
    notes.append(source_annotation(source, 80))
    fig_height = 140 + 230 * nrows
    layout.update(shapes=shapes, annotations=notes, height=fig_height, showlegend=True, hovermode="x",
                  margin={"l": 50, "r": 20, "t": 120, "b": 80})
    # Pixel-placed title then legend, above the first row's panel titles.
    layout["title"].update(y=1 - 12 / fig_height, yanchor="top", yref="container", font={"size": 16})
    layout["legend"] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1 - 48 / fig_height, "yanchor": "top",
                        "yref": "container", "font": {"size": 12}}
    return _figure(traces, layout)


def small_multiples_table(panels: list[SmallMultiple], comparator_label: str = "Matched comparators",
                          show_range: bool = True) -> pd.DataFrame:
    """Long table of every panel's plotted numbers: panel, period, site, comparators, England, phase."""
    rows = []
    for panel in panels:
        f = panel.frame
        out = pd.DataFrame({"Panel": panel.title, "Site": panel.site_label, "Unit": panel.unit,
                            "Period": f["period_label"], "Site value": f["site_value"]})
        if "comparator_mean" in f.columns and f["comparator_mean"].notna().any():
            out[f"{comparator_label} (mean)"] = f["comparator_mean"].to_numpy()
        if show_range and {"comparator_min", "comparator_max"} <= set(f.columns) and f["comparator_max"].notna().any():
            out[f"{comparator_label} (lowest)"] = f["comparator_min"].to_numpy()
            out[f"{comparator_label} (highest)"] = f["comparator_max"].to_numpy()
        if "england_value" in f.columns:
            out["England"] = f["england_value"].to_numpy()
        out["Phase"] = f["phase"].to_numpy()
        rows.append(out)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


# --- detail charts: event study, change in trend, SPC, funnel, love plot ---------------------------

def _layout(title: str, x_title: str, y_title: str, source: str, *, category_x: bool = True) -> dict:
    layout = base_layout(title, y_title, x_title, False)
    if not category_x:
        layout["xaxis"].update(type="linear")
    layout["annotations"] = [source_annotation(source)]
    return layout


def _period_layout_with_intervention(title: str, unit: str, source: str, labels: list[str],
                                     start_label: str | None, transition: tuple[str, str] | None) -> dict:
    """A detail chart's layout over financial-year periods, with the start and transition marked."""
    layout = _layout(title, "Period (financial year)", unit, source)
    shapes, notes = _intervention_marks(labels, TrendOptions(title="", site_label="", indicator_name="", unit="",
                                                             source="", start_label=start_label,
                                                             transition=transition))
    layout["shapes"] = shapes
    layout["annotations"] += notes
    return layout


def event_study_figure(frame: pd.DataFrame, *, title: str, unit: str, source: str,
                       x_title: str = "Periods since the Pioneer start") -> go.Figure:
    """Difference from comparators by period relative to the start, with 95% intervals; 0 = no difference.

    ``frame``: event_time, coef, ci_low, ci_high, phase (reference period has coef 0).
    """
    f = frame.dropna(subset=["coef"])
    colours = [OKABE_ITO["grey"] if p == "pre" else OKABE_ITO["blue"] for p in f["phase"]]
    trace = {"type": "scatter", "x": f["event_time"].tolist(), "y": _values(f["coef"]), "mode": "markers",
             "name": "Difference from comparators", "marker": {"color": colours, "size": 7},
             "error_y": {"type": "data", "symmetric": False, "array": _values(f["ci_high"] - f["coef"]),
                         "arrayminus": _values(f["coef"] - f["ci_low"]), "color": "#888", "thickness": 1}}
    layout = _layout(title, x_title, f"Difference ({unit})", source, category_x=False)
    layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0, "y1": 0, "yref": "y",
                         "line": {"color": "#444", "width": 1}},
                        {"type": "line", "xref": "x", "x0": -0.5, "x1": -0.5, "yref": "paper", "y0": 0, "y1": 1,
                         "line": {"dash": "dash", "color": OKABE_ITO["vermillion"], "width": 1.5}}]
    layout["hovermode"] = "closest"
    return _figure([trace], layout)


def event_study_table(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    f = frame.dropna(subset=["coef"])
    return pd.DataFrame({"Periods since start": f["event_time"], "Phase": f["phase"],
                         f"Difference from comparators ({unit})": f["coef"].round(3),
                         "Lower 95% limit": f["ci_low"].round(3), "Upper 95% limit": f["ci_high"].round(3)})


def its_figure(frame: pd.DataFrame, *, title: str, unit: str, site_label: str, source: str,
               start_label: str | None, transition: tuple[str, str] | None) -> go.Figure:
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
    return _figure(traces, _period_layout_with_intervention(title, unit, source, labels, start_label, transition))


def its_table(frame: pd.DataFrame, site_label: str) -> pd.DataFrame:
    return pd.DataFrame({"Period": frame["period_label"], "Phase": frame["phase"],
                         f"{site_label} (observed)": frame["observed"].round(3), "Fitted trend": frame["fitted"].round(3),
                         "Pre-Pioneer trend continued": frame["counterfactual"].round(3)})


SPC_COLOURS = {"improvement": OKABE_ITO["sky"], "concern": OKABE_ITO["orange"], "neutral": OKABE_ITO["purple"],
               "common cause": OKABE_ITO["grey"]}


def spc_figure(chart: pd.DataFrame, *, title: str, unit: str, source: str, start_label: str | None,
               transition: tuple[str, str] | None) -> go.Figure:
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
    return _figure(traces, _period_layout_with_intervention(title, unit, source, labels, start_label, transition))


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
    for col, name, dash in (("high998", "99.8% limits", "dot"), ("low998", "99.8% limits", "dot"),
                            ("high95", "95% limits", "dash"), ("low95", "95% limits", "dash"),
                            ("england", "England", "solid")):
        traces.append({"type": "scatter", "x": x, "y": _values(limits[col]), "mode": "lines", "name": name,
                       "legendgroup": name, "showlegend": not col.startswith("low"),
                       "line": {"color": ENGLAND_COLOUR, "width": 1, "dash": dash}, "hoverinfo": "skip"})
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


def love_figure(balance: pd.DataFrame, *, title: str, source: str, thresholds: tuple[float, float] = (0.1, 0.25)
                ) -> go.Figure:
    """Love plot: |SMD| of each covariate before and after matching, averaged over sites.

    ``balance``: covariate, abs_before, abs_after (one row per covariate).
    """
    f = balance.sort_values("abs_before")
    labels = [covariate_label(c) for c in f["covariate"]]
    traces = [
        {"type": "scatter", "x": _values(f["abs_before"]), "y": labels, "mode": "markers",
         "name": "Before matching (site vs whole pool)", "marker": {"color": OKABE_ITO["vermillion"], "size": 10,
                                                                     "symbol": "circle-open"}},
        {"type": "scatter", "x": _values(f["abs_after"]), "y": labels, "mode": "markers",
         "name": "After matching (site vs its comparators)", "marker": {"color": OKABE_ITO["blue"], "size": 10}},
    ]
    layout = _layout(title, "Mean absolute standardised mean difference (pool SD units)", "", source,
                     category_x=False)
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
