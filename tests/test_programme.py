"""The programme comparison: a hand-worked case, a planted difference on a synthetic panel, and
the result on the real dataset (Pioneers growing less than non-participants, as published)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cli
from data.errors import DataError
from indicators.programme import COLUMNS, programme_comparison, read_exclusions


def _panel(units: dict[str, tuple[float, float, float]], years=(2013, 2017), noise=None) -> pd.DataFrame:
    """unit -> (population, monthly rate per 1,000 in the first year, growth % by the last year).

    Rates grow linearly in time between the two years' midpoints; counts are expected values
    unless ``noise`` (a numpy Generator) draws them from a Poisson.
    """
    months = pd.date_range(f"{years[0]}-04-01", f"{years[1] + 1}-03-01", freq="MS")
    span = (years[1] - years[0]) * 12
    rows = []
    for unit, (pop, rate, growth) in units.items():
        for i, m in enumerate(months):
            r = rate * (1 + growth / 100 * (i - 5.5) / span)
            mean = pop * r / 1000
            count = noise.poisson(mean) if noise is not None else mean
            rows.append({"unit": unit, "period_start": m, "count": float(count), "population": pop})
    return pd.DataFrame(rows)


def test_hand_worked_case():
    # Pioneers: A (1,000 people, 10 a month then 11), B (3,000, 30 then 36). Pooled: 480/4,000 ->
    # 564/4,000 a year = 120 -> 141 per 1,000, +17.5%. Non-participant C: 20 -> 22 a month, +10%.
    panel = []
    for unit, pop, first, last in (("A", 1000, 10, 11), ("B", 3000, 30, 36), ("C", 2000, 20, 22)):
        for y, per_month in ((2013, first), (2014, last)):
            for m in pd.date_range(f"{y}-04-01", periods=12, freq="MS"):
                panel.append({"unit": unit, "period_start": m, "count": per_month, "population": pop})
    result = programme_comparison(pd.DataFrame(panel), {"A", "B"}, first_year="2013/14", last_year="2014/15",
                                  n_boot=200, n_perm=200)
    t = result.table.set_index("group")
    assert list(result.table.columns) == COLUMNS
    assert list(result.table["group"]) == ["pioneer", "non_participant", "difference"]
    assert t.at["pioneer", "rate_from_per_1000"] == pytest.approx(120.0)
    assert t.at["pioneer", "rate_to_per_1000"] == pytest.approx(141.0)
    assert t.at["pioneer", "growth_pct"] == pytest.approx(17.5)
    assert t.at["non_participant", "growth_pct"] == pytest.approx(10.0)
    assert t.at["difference", "growth_pct"] == pytest.approx(7.5)
    assert t.at["difference", "n_units"] == 3 and t.at["pioneer", "n_units"] == 2
    monthly = result.monthly
    assert monthly.loc[(monthly["group"] == "pioneer") & (monthly["period_start"] == "2013-04-01"),
                       "rate_per_1000"].iloc[0] == pytest.approx(10.0)


def test_recovers_a_planted_difference_with_an_interval_that_covers_it():
    rng = np.random.default_rng(7)
    units = {}
    for i in range(150):
        pioneer = i < 45
        units[f"U{i:03d}"] = (rng.uniform(150_000, 500_000), rng.uniform(6.5, 10.0),
                              (4.0 if pioneer else 10.0) + rng.normal(0, 3.0))
    panel = _panel(units, noise=rng)
    pioneers = {u for u in units if int(u[1:]) < 45}
    result = programme_comparison(panel, pioneers, n_boot=1000, n_perm=1000, seed=11)
    t = result.table.set_index("group")
    diff = t.loc["difference"]
    assert diff["ci_low"] < -6.0 < diff["ci_high"]
    assert diff["growth_pct"] == pytest.approx(-6.0, abs=1.5)
    assert diff["p_value"] < 0.01
    for group, planted in (("pioneer", 4.0), ("non_participant", 10.0)):
        assert t.at[group, "ci_low"] < t.at[group, "growth_pct"] < t.at[group, "ci_high"]
        assert t.at[group, "growth_pct"] == pytest.approx(planted, abs=1.5)
    # Same seed, same answer; no planted difference, no small p.
    again = programme_comparison(panel, pioneers, n_boot=1000, n_perm=1000, seed=11)
    pd.testing.assert_frame_equal(result.table, again.table)
    null_units = {u: (p, r, 7.0 + rng.normal(0, 3.0)) for u, (p, r, _) in units.items()}
    null = programme_comparison(_panel(null_units, noise=rng), pioneers, n_boot=500, n_perm=1000, seed=11)
    assert null.table.set_index("group").at["difference", "p_value"] > 0.05


def test_units_without_a_full_year_and_excluded_units_are_left_out():
    units = {"A": (1000, 10, 5), "B": (1000, 10, 5), "C": (1000, 10, 5), "D": (1000, 10, 5)}
    panel = _panel(units)
    panel = panel[~((panel["unit"] == "D") & (panel["period_start"] == "2017-06-01"))]
    result = programme_comparison(panel, {"A"}, exclude={"C"}, n_boot=50, n_perm=50)
    assert result.dropped["without 12 months in both years"] == ["D"]
    assert result.dropped["excluded by the exclusion list"] == ["C"]
    assert result.table.set_index("group").at["non_participant", "n_units"] == 1
    with pytest.raises(DataError, match="not a financial year"):
        programme_comparison(panel, {"A"}, first_year="2013")


def test_exclusion_file_is_shipped_empty_and_checked(tmp_path):
    from data.reference import REFERENCE_DIR

    units = pd.DataFrame({"area_code": ["E38000001", "E38000002"], "nhs_la_code": ["02N", "09C"]})
    assert read_exclusions(REFERENCE_DIR / "programme_exclusions.csv", units) == set()
    f = tmp_path / "vanguards.csv"
    f.write_text("unit_code,reason\n09C,test\nE38000001,test\nXXX,typo\n")
    with pytest.raises(DataError, match=r"row 4, column 'unit_code'"):
        read_exclusions(f, units)


@pytest.mark.realdata
def test_on_real_data_pioneers_grow_less_than_non_participants(real_built_dir, tmp_path, capsys):
    out = tmp_path / "programme.csv"
    assert cli.main(["programme", "--data", str(real_built_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns) == COLUMNS
    t = table.set_index("group")
    assert t.at["pioneer", "growth_pct"] < t.at["non_participant", "growth_pct"]
    assert t.at["difference", "ci_high"] < 0
    assert (tmp_path / "programme_monthly.csv").exists()
    print(f"\nreal data, CCG units 2013/14-2017/18: Pioneers {t.at['pioneer', 'growth_pct']:+.1f}%, "
          f"non-participants {t.at['non_participant', 'growth_pct']:+.1f}%, difference "
          f"{t.at['difference', 'growth_pct']:+.1f} pp (published, Morciano 2021: +6.4% vs +12%)\n{printed}")
