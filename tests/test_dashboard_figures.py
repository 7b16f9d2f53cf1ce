"""Figure builders and their tables: the table holds exactly the numbers the chart draws."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layouts.components import figures


@pytest.fixture
def trend_frame():
    labels = ["2012/13 Q1", "2012/13 Q2", "2012/13 Q3", "2012/13 Q4", "2013/14 Q1", "2013/14 Q2"]
    return pd.DataFrame({"period_label": labels, "site_value": [10.0, 11.0, 12.5, np.nan, 13.0, 12.0],
                         "comparator_mean": [9.0, 9.5, 10.0, 10.5, 11.0, 11.5],
                         "comparator_min": [8.0, 8.5, 9.0, 9.5, 10.0, 10.5],
                         "comparator_max": [10.0, 10.5, 11.0, 11.5, 12.0, 12.5],
                         "england_value": [9.5, 9.6, 9.7, 9.8, 9.9, 10.0],
                         "phase": ["pre", "pre", "pre", "transition", "post", "post"]})


@pytest.fixture
def opts():
    return figures.TrendOptions(title="Emergency admissions: Pioneer C", site_label="Pioneer C",
                                indicator_name="Emergency admissions", unit="per 100,000", source="Source: test",
                                start_label="2013/14 Q1", transition=("2012/13 Q4", "2012/13 Q4"))


def test_trend_figure_draws_what_the_table_holds(trend_frame, opts):
    fig = figures.trend_figure(trend_frame, opts)
    table = figures.trend_chart_table(trend_frame, opts)
    by_name = {t.name: t for t in fig.data}
    np.testing.assert_allclose(np.array(by_name["Pioneer C"].y, dtype=float), table["Pioneer C"], equal_nan=True)
    np.testing.assert_allclose(by_name["England"].y, table["England"])
    np.testing.assert_allclose(by_name["Matched comparators (mean)"].y, table["Matched comparators (mean)"])
    np.testing.assert_allclose(by_name["Matched comparators (range)"].y, table["Matched comparators (lowest)"])
    assert list(fig.data[0].x) == table["Period"].tolist()


def test_trend_figure_marks_start_transition_source_and_axes(trend_frame, opts):
    fig = figures.trend_figure(trend_frame, opts)
    kinds = sorted(s.type for s in fig.layout.shapes)
    assert kinds == ["line", "rect"]
    start = next(s for s in fig.layout.shapes if s.type == "line")
    assert start.x0 == pytest.approx(4 - 0.5)  # before 2013/14 Q1, the fifth period
    texts = [a.text for a in fig.layout.annotations]
    assert "Source: test" in texts and "Pioneer start" in texts and "transition" in texts
    assert fig.layout.yaxis.title.text == "per 100,000"
    assert fig.layout.xaxis.title.text == "Period (financial year)"
    assert fig.layout.title.text == "Emergency admissions: Pioneer C"


def test_trend_without_comparators_draws_no_comparator_trace(trend_frame, opts):
    frame = trend_frame.drop(columns=["comparator_mean", "comparator_min", "comparator_max"])
    fig = figures.trend_figure(frame, opts)
    assert [t.name for t in fig.data] == ["England", "Pioneer C"]
    assert list(figures.trend_chart_table(frame, opts).columns) == ["Period", "Pioneer C", "England", "Phase"]


def test_palette_is_okabe_ito(trend_frame, opts):
    fig = figures.trend_figure(trend_frame, opts)
    colours = {t.line.color for t in fig.data if t.line and t.line.color}
    assert colours <= set(figures.OKABE_ITO.values())


def test_small_multiples_one_axis_pair_per_panel(trend_frame):
    panels = [figures.SmallMultiple(title=f"P{i}", frame=trend_frame, site_label="Pioneer C", unit="u",
                            start_label="2013/14 Q1", transition=("2012/13 Q4", "2012/13 Q4")) for i in range(5)]
    fig = figures.small_multiples_figure(panels, title="T", source="S", ncols=3)
    assert {t.xaxis for t in fig.data} == {"x", "x2", "x3", "x4", "x5"}
    assert len(fig.layout.shapes) == 10
    table = figures.small_multiples_table(panels)
    assert len(table) == 5 * len(trend_frame)
    site_traces = [t for t in fig.data if t.name == "Pioneer C"]
    np.testing.assert_allclose(np.concatenate([np.array(t.y, dtype=float) for t in site_traces]),
                               table["Site value"], equal_nan=True)


def test_caterpillar_sorted_and_table_matches():
    frame = pd.DataFrame({"label": ["A", "B", "C"], "effect": [2.0, -1.0, 0.5], "ci_low": [0, -3, -1],
                          "ci_high": [4, 1, 2], "outcome_label": ["worse", "no clear difference", "no clear difference"],
                          "colour": ["#D55E00", "#F0E442", "#F0E442"]})
    fig = figures.caterpillar_figure(frame, title="t", x_title="Effect (u)", source="s")
    table = figures.caterpillar_table(frame, "Effect (u)")
    assert table["Site"].tolist() == ["B", "C", "A"]
    assert list(fig.layout.yaxis.categoryarray) == ["B", "C", "A"]
    drawn = sorted(x for t in fig.data for x in t.x)
    assert drawn == sorted(table["Effect (u)"].tolist())


def test_spc_and_event_tables_match_figures():
    chart = pd.DataFrame({"period_label": list("abcdef"), "phase": ["pre"] * 3 + ["post"] * 3,
                          "value": [1.0, 2, 1.5, 3, 4, 5], "mean": 1.5, "lower_limit": 0.0, "upper_limit": 3.5,
                          "variation": ["common cause"] * 4 + ["concern"] * 2})
    fig = figures.spc_figure(chart, title="t", unit="u", source="s", start_label="d", transition=None)
    table = figures.spc_table(chart)
    concern = next(t for t in fig.data if t.name == "Concern")
    assert list(concern.y) == table.loc[table["Variation"] == "concern", "Value"].tolist()
    es = pd.DataFrame({"event_time": [-2, -1, 0, 1], "coef": [0.1, 0.0, 1.0, 2.0], "ci_low": [-1, 0, 0, 1],
                       "ci_high": [1, 0, 2, 3], "phase": ["pre", "pre", "post", "post"]})
    fig = figures.event_study_figure(es, title="t", unit="u", source="s")
    drawn = [y for t in fig.data for y in t.y]
    assert drawn == figures.event_study_table(es, "u")["Difference from comparators (u)"].tolist()


def test_event_study_labels_periods_truthfully_and_bands_the_transition():
    """Issue 14 item 3: wave 1 starts 2013/14 Q3, its transition is 2013/14, and the reference is 2012/13 Q4.

    The x axis names the periods (not "periods since the start" with 0 at the first follow-up
    quarter), the start line sits at 2013/14 Q3, the transition is a band with its own colour,
    and the reference point is marked where the caption says."""
    labels = ["2012/13 Q3", "2012/13 Q4", "2013/14 Q1", "2013/14 Q2", "2013/14 Q3", "2013/14 Q4", "2014/15 Q1"]
    es = pd.DataFrame({"period_label": labels, "event_time": range(-6, 1), "coef": [0.2, 0.0, 1, 1, 1, 1, 2.0],
                       "ci_low": [-1, 0, 0, 0, 0, 0, 1], "ci_high": [1, 0, 2, 2, 2, 2, 3],
                       "phase": ["pre", "pre"] + ["transition"] * 4 + ["post"],
                       "reference": [False, True, False, False, False, False, False]})
    fig = figures.event_study_figure(es, title="t", unit="u", source="s", start_label="2013/14 Q3",
                                     transition=("2013/14 Q1", "2013/14 Q4"), x_title="Quarter (financial year)")
    assert fig.layout.xaxis.type == "category" and fig.layout.xaxis.title.text == "Quarter (financial year)"
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["Transition"].x) == labels[2:6]
    assert by_name["Transition"].marker.color != by_name["After the transition"].marker.color
    assert list(by_name["Reference period (set to 0)"].x) == ["2012/13 Q4"]
    start = [s for s in fig.layout.shapes if s.type == "line" and s.line.dash == "dash"]
    assert [s.x0 for s in start] == [labels.index("2013/14 Q3") - 0.5]
    band = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(b.x0, b.x1) for b in band] == [(1.5, 5.5)]
    from layouts.components.charts import event_study_note

    assert "relative to 2012/13 Q4, the last period before the transition" in event_study_note(es)


def test_period_axis_titles_follow_the_frequency():
    assert figures.period_axis_title("month") == "Month"
    assert figures.period_axis_title("quarter") == "Quarter (financial year)"


def test_graph_config_exports_at_scale_3_with_safe_name():
    config = figures.graph_config("trend_ea_all_pioneer c/../x", present=True)
    opts = config["toImageButtonOptions"]
    assert opts["scale"] == 3 and opts["filename"] == "trend_ea_all_pioneer-c----x"
    assert (opts["width"], opts["height"]) == (1600, 900)


def test_presentation_enlarges_type_and_keeps_white(trend_frame, opts):
    fig = figures.presentation(figures.trend_figure(trend_frame, opts))
    assert fig.layout.font.size == 20 and fig.layout.paper_bgcolor == "white"


def test_every_builder_output_passes_plotly_validation(trend_frame, opts):
    """Pages skip plotly's validation for speed (figures.VALIDATE); here each builder's output is validated."""
    import plotly.graph_objects as go

    panels = [figures.SmallMultiple(title="P", frame=trend_frame, site_label="S", unit="u", start_label="2013/14 Q1",
                            transition=("2012/13 Q4", "2012/13 Q4"))]
    chart = pd.DataFrame({"period_label": list("abc"), "phase": ["pre", "post", "post"], "value": [1.0, 2, 3],
                          "mean": 2.0, "lower_limit": 0.0, "upper_limit": 4.0,
                          "variation": ["common cause", "concern", "improvement"]})
    es = pd.DataFrame({"event_time": [-1, 0], "coef": [0.0, 1.0], "ci_low": [0, 0], "ci_high": [0, 2],
                       "phase": ["pre", "post"]})
    its = pd.DataFrame({"period_label": list("abc"), "observed": [1.0, 2, 3], "fitted": [1.0, 2, 3],
                        "counterfactual": [1.0, 1.5, 2], "phase": ["pre", "post", "post"]})
    sites = pd.DataFrame({"label": ["A"], "denominator": [1000.0], "value": [5.0], "england": [4.0],
                          "outcome_label": ["worse"], "colour": ["#D55E00"]})
    limits = pd.DataFrame({"denominator": [100.0, 1000.0], "england": 4.0, "low95": [1.0, 3.0], "high95": [7.0, 5.0],
                           "low998": [0.5, 2.5], "high998": [8.0, 5.5]})
    balance = pd.DataFrame({"covariate": ["a", "b"], "abs_before": [0.5, 1.0], "abs_after": [0.1, 0.2], "n_good": [3, 2]})
    built = [
        figures.trend_figure(trend_frame, opts), figures.small_multiples_figure(panels, title="t", source="s"),
        figures.spc_figure(chart, title="t", unit="u", source="s", start_label="b", transition=("a", "a")),
        figures.event_study_figure(es, title="t", unit="u", source="s"),
        figures.its_figure(its, title="t", unit="u", site_label="S", source="s", start_label="b", transition=None),
        figures.funnel_figure(sites, limits, title="t", unit="u", x_title="x", source="s"),
        figures.love_figure(balance, title="t", source="s"),
    ]
    for fig in built:
        go.Figure(fig.to_dict())  # raises on any invalid property


def test_markdown_table_escapes_and_keeps_every_row():
    from layouts.components.tables import markdown_table

    table = pd.DataFrame({"Period": ["2014/15 Q1", "a|b"], "Value": [1.234, np.nan]})
    text = markdown_table(table)
    assert text.splitlines() == ["| Period | Value |", "|---|---|", "| 2014/15 Q1 | 1.23 |", "| a\\|b |  |"]


def test_table_cells_show_counts_whole_and_rates_to_two_places():
    from layouts.components.tables import cell_texts, html_table

    table = pd.DataFrame({"Site numerator": [4386.0, 12001.0, np.nan], "Site value": [3.4512, 5.0, np.nan],
                          "Comparators": [5, 5, 4], "Denominator": pd.array([789194, None, 12], dtype="Int64"),
                          "Period start": [pd.Timestamp("2014-04-01"), pd.NaT, None]})
    assert cell_texts(table) == [["4,386", "3.45", "5", "789,194", "2014-04-01 00:00:00"],
                                 ["12,001", "5.00", "5", "", ""], ["", "", "4", "12", ""]]
    body = html_table(table, "caption").children[2].children
    assert [td.children for td in body[0].children] == cell_texts(table)[0]


def test_love_summary_equals_the_pandas_group_by():
    from layouts.components.charts import balance_summary_by_covariate

    rng = np.random.default_rng(3)
    b = pd.DataFrame({"covariate": rng.choice(["share_65", "density", "log_population"], 60),
                      "smd_before": rng.normal(size=60), "smd_after": rng.normal(scale=0.3, size=60),
                      "balance_after": rng.choice(["good", "acceptable", "poor"], 60)})
    b.loc[[0, 5], "smd_after"] = np.nan  # a site without comparators
    want = b.assign(abs_before=b["smd_before"].abs(), abs_after=b["smd_after"].abs(),
                    good=b["balance_after"] == "good").groupby("covariate", as_index=False).agg(
        abs_before=("abs_before", "mean"), abs_after=("abs_after", "mean"), n_good=("good", "sum"))
    got = balance_summary_by_covariate(b)
    assert list(got["covariate"]) == list(want["covariate"])
    np.testing.assert_allclose(got[["abs_before", "abs_after"]].to_numpy(), want[["abs_before", "abs_after"]].to_numpy())
    assert list(got["n_good"]) == list(want["n_good"])


def test_presentation_wraps_the_source_line_to_the_slide():
    source = ("Source: NHS England Delayed Transfers of Care SitRep (LA basis). Generated demonstration data, not real. "
              "Integrated Care Pioneers indicators; dataset 9bcf2410e4049e4a.")
    fig = figures.presentation(figures.add_source_line(go_figure(), source))
    [note] = [a for a in fig.layout.annotations if a.name == "source"]
    lines = note.text.split("<br>")
    assert len(lines) == 2 and all(len(line) <= figures.PRESENT_SOURCE_WIDTH for line in lines)
    assert " ".join(lines) == source  # nothing dropped: the dataset checksum is still there
    assert note.yshift < -fig.layout.margin.b + 20  # below the axis title, inside the bottom margin


def go_figure():
    import plotly.graph_objects as go

    return go.Figure(go.Scatter(x=[1, 2], y=[1, 2]))


def test_presentation_names_every_site_on_a_caterpillar():
    frame = pd.DataFrame({"label": [f"Pioneer {chr(65 + i)}" for i in range(25)], "effect": np.linspace(-5, 5, 25),
                          "ci_low": np.linspace(-7, 3, 25), "ci_high": np.linspace(-3, 7, 25),
                          "outcome_label": "no clear difference", "colour": "#F0E442"})
    page = figures.caterpillar_figure(frame, title="t", x_title="Effect", source="s")
    assert page.layout.height is not None and page.layout.yaxis.tickvals is None
    slide = figures.presentation(page)
    assert slide.layout.height is None
    assert list(slide.layout.yaxis.tickvals) == list(page.layout.yaxis.categoryarray)
    assert list(slide.layout.yaxis.ticktext) == list(slide.layout.yaxis.tickvals)


def test_small_multiples_are_legible(trend_frame):
    """Issue 14 item 10: titles wrapped to their panel, at most 3 x labels, ticks >= 11 px, the legend naming no
    single site when the panels are different sites, and larger ticks on the slide."""
    long_names = ["Waltham Forest and East London and City (wave 1)", "Airedale, Wharfedale and Craven (wave 2)"]
    panels = [figures.SmallMultiple(title=long_names[i % 2], frame=trend_frame, site_label=long_names[i % 2].split(" (")[0],
                            start_label="2013/14 Q1", transition=("2012/13 Q4", "2012/13 Q4")) for i in range(25)]
    fig = figures.small_multiples_figure(panels, title="T", source="S", ncols=5, show_range=False)
    titles = [a.text for a in fig.layout.annotations if a.name == "panel-title"]
    width = fig.layout.xaxis.domain[1] - fig.layout.xaxis.domain[0]
    limit = int(figures.MULTIPLES_WIDTH_PX * width / figures.MULTIPLES_TITLE_PX_PER_CHAR)
    assert all(len(line) <= limit for t in titles for line in t.replace("<b>", "").replace("</b>", "").split("<br>"))
    axes = [fig.layout[k] for k in fig.layout.to_plotly_json() if k.startswith("xaxis")]
    assert all(len(a.tickvals) <= 3 and a.tickfont.size >= 11 for a in axes)
    assert {t.name for t in fig.data if t.legendgroup == "Pioneer site"} == {"Pioneer site"}
    slide = figures.presentation(fig, "takeaway")
    assert slide.layout.xaxis.tickfont.size >= 14
    empty = [figures.SmallMultiple(title="P", frame=trend_frame.assign(site_value=np.nan), site_label="S")]
    [note] = [a for a in figures.small_multiples_figure(empty, title="T", source="S").layout.annotations
              if a.text == "No data in this dataset"]
    assert note.xanchor == "center"  # plotly's "auto" anchored it by its left edge in the first column


def test_caterpillar_legend_sits_under_the_title():
    frame = pd.DataFrame({"label": ["A"], "effect": [1.0], "ci_low": [0.0], "ci_high": [2.0],
                          "outcome_label": ["worse"], "colour": ["#D55E00"]})
    fig = figures.caterpillar_figure(frame, title="t", x_title="x", source="s")
    assert fig.layout.legend.x == 0 and fig.layout.legend.yanchor == "bottom"


def test_slide_start_labels_sit_inside_the_plot_under_the_legend():
    es = pd.DataFrame({"event_time": [-1, 0], "coef": [0.0, 1.0], "ci_low": [0, 0], "ci_high": [0, 2],
                       "phase": ["pre", "post"]})
    slide = figures.presentation(figures.event_study_figure(es, title="t", unit="u", source="s"), "takeaway")
    [mark] = [a for a in slide.layout.annotations if a.text == "end of transition"]
    assert mark.yanchor == "top" and slide.layout.legend.yanchor == "bottom"
    assert [a.text for a in slide.layout.annotations if a.name == "takeaway"] == ["takeaway"]
