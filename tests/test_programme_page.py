"""The programme page's pure builders: the chart's table is exactly what the chart shows."""
from __future__ import annotations

import pandas as pd

from layouts.components.programme import comparison_table, series_figure, series_table


def _monthly() -> pd.DataFrame:
    months = pd.date_range("2013-04-01", periods=3, freq="MS")
    return pd.DataFrame({"group": ["pioneer"] * 3 + ["non_participant"] * 3,
                         "period_start": list(months) * 2, "n_units": 2, "count": 1.0, "population": 1.0,
                         "rate_per_1000": [8.0, 8.5, 9.0, 7.0, 7.25, 7.5]})


def test_series_table_is_what_the_chart_shows():
    monthly = _monthly()
    fig = series_figure(monthly, title="t", source="s")
    table = series_table(monthly)
    assert list(table["Month"]) == list(fig.data[0].x) == ["Apr 2013", "May 2013", "Jun 2013"]
    assert list(table["Pioneer units, per 1,000"]) == list(fig.data[0].y)
    assert list(table["Non-participant units, per 1,000"]) == list(fig.data[1].y)
    assert fig.data[0].line.dash != fig.data[1].line.dash  # not told apart by colour alone


def test_comparison_table_labels_groups_and_p():
    table = pd.DataFrame({"group": ["pioneer", "non_participant", "difference"], "n_units": [2, 3, 5],
                          "rate_from_per_1000": [1.0, 2.0, None], "rate_to_per_1000": [1.1, 2.4, None],
                          "growth_pct": [10.0, 20.0, -10.0], "ci_low": [5.0, 15.0, -18.0],
                          "ci_high": [15.0, 25.0, -2.0], "p_value": [None, None, 0.0123]})
    out = comparison_table(table)
    assert list(out["Group"]) == ["Pioneer units", "Non-participant units", "Difference"]
    assert list(out["p"]) == ["", "", "0.012"]
