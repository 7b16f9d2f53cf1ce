"""The programme page's figure and table builders: pure functions (frames in, figure or frame out)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from data.periods import period_label
from layouts.components.figures import OKABE_ITO, base_layout, source_annotation

GEOGRAPHIES = {"ccg": "CCG units", "la": "local authorities"}
FIRST, LAST = "2013/14", "2017/18"
SOURCE = "NHS England Monthly Activity Return (non-elective G&A FFCEs by commissioner)"
GROUP_LABELS = {"pioneer": "Pioneer units", "non_participant": "Non-participant units", "difference": "Difference"}
GROUP_STYLE = {"pioneer": (OKABE_ITO["blue"], "solid"), "non_participant": (OKABE_ITO["orange"], "dash")}
COLUMN_LABELS = {"group": "Group", "n_units": "Units", "rate_from_per_1000": f"Rate {FIRST} per 1,000",
                 "rate_to_per_1000": f"Rate {LAST} per 1,000", "growth_pct": "Growth %", "ci_low": "95% CI low",
                 "ci_high": "95% CI high", "p_value": "p"}


def series_figure(monthly: pd.DataFrame, *, title: str, source: str) -> go.Figure:
    """Both groups' monthly emergency admission rates per 1,000 (a pure builder: frame in, figure out)."""
    labels = [period_label(p, "month") for p in sorted(monthly["period_start"].unique())]
    traces = []
    for group in ("pioneer", "non_participant"):
        own = monthly[monthly["group"] == group].sort_values("period_start")
        colour, dash_style = GROUP_STYLE[group]
        traces.append({"type": "scatter", "mode": "lines", "name": GROUP_LABELS[group],
                       "x": [period_label(p, "month") for p in own["period_start"]],
                       "y": own["rate_per_1000"].round(3).tolist(),
                       "line": {"color": colour, "dash": dash_style, "width": 2},
                       "hovertemplate": "%{y:.2f} per 1,000<extra>" + GROUP_LABELS[group] + "</extra>"})
    layout = base_layout(title, "Emergency admissions per 1,000 population a month", "Month", False)
    layout["xaxis"]["categoryorder"] = "array"
    layout["xaxis"]["categoryarray"] = labels
    layout["annotations"] = [source_annotation(source)]
    return go.Figure({"data": traces, "layout": layout})


def series_table(monthly: pd.DataFrame) -> pd.DataFrame:
    """Exactly what the chart shows, one row per month."""
    wide = monthly.pivot_table(index="period_start", columns="group", values="rate_per_1000").sort_index()
    return pd.DataFrame({"Month": [period_label(p, "month") for p in wide.index],
                         **{f"{GROUP_LABELS[g]}, per 1,000": wide[g].round(3).to_numpy()
                            for g in ("pioneer", "non_participant") if g in wide}})


def comparison_table(table: pd.DataFrame) -> pd.DataFrame:
    out = table.assign(group=table["group"].map(GROUP_LABELS),
                       p_value=table["p_value"].map(lambda p: "" if pd.isna(p) else f"{p:.3f}"))
    return out.rename(columns=COLUMN_LABELS).round(2)
