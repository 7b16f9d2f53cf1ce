"""Plain-language readings say the direction, the size, and whether it could be chance."""
from __future__ import annotations

import math

import pandas as pd

from layouts.components.readings import did_reading, effects_table


def test_lower_is_better_and_clear():
    text = did_reading("Emergency admissions", -3.04, -20.0, -1.0, 0.03, "lower")
    assert text == ("Emergency admissions: 3.0% lower than expected from similar areas; a better result that is "
                    "unlikely to be chance alone (p = 0.03).")


def test_interval_spanning_zero_could_be_chance():
    text = did_reading("Falls admissions 65+", 2.5, -10.0, 14.0, 0.45, "lower")
    assert "2.5% higher" in text and "this could be chance" in text


def test_higher_is_better_and_clear_but_worse():
    text = did_reading("Deaths at home 65+", -4.0, -3.0, -0.5, 0.01, "higher")
    assert "worse result" in text


def test_missing_estimate_is_said_plainly():
    assert "no estimate" in did_reading("X", math.nan, math.nan, math.nan, math.nan, "lower")


def test_effects_table_has_one_row_per_estimate():
    catalogue = pd.DataFrame({"short_name": ["A", "B"], "polarity": ["lower", "higher"]}, index=["a", "b"])
    est = pd.DataFrame({"indicator_id": ["a", "b"], "effect": [-5.0, 1.0], "effect_pct": [-2.0, 0.5],
                        "ci_low": [-9.0, -2.0], "ci_high": [-1.0, 4.0], "p_value": [0.02, 0.6],
                        "pre_trend_p": [0.5, 0.7]})
    table = effects_table(est, catalogue)
    assert table["Indicator"].tolist() == ["A", "B"]
    assert table["95% interval (units)"].tolist() == ["-9.00 to -1.00", "-2.00 to 4.00"]
    assert table["What it means"].str.contains("could be chance").tolist() == [False, True]


def test_p_below_one_in_a_hundred_is_not_written_as_zero():
    # Issue 14 item 11: "p 0.00" -> "p < 0.01".
    from layouts.components.readings import format_p

    assert format_p(0.0004) == "p < 0.01" and format_p(0.031) == "p = 0.03" and format_p(math.nan) == ""
    assert "(p < 0.01)" in did_reading("A", -3.0, -5.0, -1.0, 0.0, "lower")


def test_poor_balance_is_said_in_the_same_sentence_as_the_result():
    # Issue 14 item 4: weak matching is not shown with confident words alone.
    text = did_reading("Delayed transfers", -12.0, -30.0, -2.0, 0.02, "lower", balance="poor")
    assert "unlikely to be chance alone" in text and "poorly matched" in text
    assert "from similar areas" not in text
    assert "poorly" not in did_reading("Delayed transfers", -12.0, -30.0, -2.0, 0.02, "lower", balance="good")


def test_missing_estimate_gives_the_true_reason():
    # Issue 14 item 1: the note from the estimates, not a generic "too few periods or comparators".
    text = did_reading("Care home admissions 65+", math.nan, math.nan, math.nan, math.nan, "lower",
                       "no data before the site's start: 2017/18 onwards only")
    assert text == "Care home admissions 65+: no estimate (no data before the site's start: 2017/18 onwards only)."


def test_methods_that_disagree_say_what_each_asks():
    # Issue 14 item 5: Leeds DTOC, ITS clearly worse beside DiD "could be chance".
    from layouts.components.readings import methods_reading

    text = methods_reading("similar", "worse", "no clear difference", "trend worsened")
    assert "Difference-in-differences asks whether" in text and "own trend" in text
    assert "no clear difference" in text and "trend worsened" in text
    assert methods_reading("better", "better", "better than comparators", "trend improved") == ""
    assert methods_reading("not compared", "worse", "not estimated", "trend worsened") == ""


def test_source_line_names_the_publisher_of_real_figures_not_only_the_catalogue():
    """Real emergency admissions come from the MAR: their source line must not say HES APC (the
    catalogue's definition); generated figures keep the catalogue's source and say they are generated."""
    import pandas as pd

    from analysis.names import SiteNames
    from analysis.results import Context, published_sources

    obs = pd.DataFrame({"indicator_id": ["ea_all", "ea_all", "dtoc"],
                        "source": ["NHS England MAR: a.xls", "NHS England MAR: b.csv", "demo"]})
    catalogue = pd.DataFrame({"source": ["HES APC", "NHS England DTOC SitRep"]}, index=["ea_all", "dtoc"])

    class Shown:  # the few Dataset attributes source_line reads
        geography, checksum, notice, generated_indicators = "la", "abc", "", ["dtoc"]

        @staticmethod
        def is_generated(ind):
            return ind == "dtoc"

    ctx = Context(dataset=Shown(), names=SiteNames({}, {}, {}), catalogue=catalogue, area_names={},
                  published=published_sources(obs))
    assert ctx.source_line("ea_all").startswith("Source: NHS England MAR. ")
    assert "HES APC" not in ctx.source_line("ea_all")
    assert ctx.source_line("dtoc").startswith("Source: NHS England DTOC SitRep. Generated demonstration data")


def test_synthetic_control_reading_says_what_it_could_have_detected():
    from layouts.components.readings import scm_reading

    text = scm_reading("Delayed transfers", -2.0, -0.5, -1.5, 0.5, 0.4, "lower", mde_pct=9.0)
    assert "2.0% lower than its synthetic control; this could be chance" in text
    assert text.endswith("could not have detected an effect smaller than 9.0%.")
    assert "detect" not in scm_reading("Delayed transfers", -2.0, -0.5, -1.5, 0.5, 0.4, "lower")
