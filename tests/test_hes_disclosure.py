"""Disclosure control of record-level HES figures in every export (HES Analysis Guide: 1-7 suppressed,
other counts rounded to the nearest 5).

A dataset built from a HES builder output whose counts are known: every ``ea_all`` count of
Barnsley (a one-council site) and of three other councils is 1 to 7, every quarter, so none of
them may be shown anywhere; every other count is 8 to 30 with a denominator equal to the
multiplier, so each shown value of a one-council site or England is the controlled count itself:
a multiple of 5. (With every council's counts suppressed the estimates have nothing to work on:
analysis/estimates.py then fails, which a real extract does not meet.)
Checked through the chart CSV downloads (every chart kind for the indicator), the overview grid
CSV and the package workbook, named and anonymised, and the notice on each.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from data.hes.build import write_observations
from data.hes.disclosure import NOTICE, control_counts
from data.ingest import ingest
from data.periods import period_range
from data.reference import ENGLAND_CODE
from tests.workbooks import read_sheets

SMALL = ["E08000016", "E06000001", "E06000002", "E09000002"]  # Barnsley and three non-Pioneer councils
CHART_KINDS = ["trend", "site_multiples", "indicator_multiples", "spc", "event", "its", "caterpillar", "funnel",
               "pooled"]


def test_control_counts_rule():
    raw = pd.Series([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 17.5, 1003, np.nan])
    got = control_counts(raw)
    assert got.iloc[0] == 0
    assert got.iloc[1:8].isna().all()
    assert got.iloc[8:13].tolist() == [10.0, 10.0, 15.0, 20.0, 1005.0]
    assert math.isnan(got.iloc[13])


@pytest.fixture(scope="module")
def small_counts_dataset(tmp_path_factory, reference):
    root = tmp_path_factory.mktemp("hes-sdc")
    areas = [*sorted(reference.areas["area_code"]), ENGLAND_CODE]
    quarters = period_range("2010-04-01", "2019-01-01", "quarter")
    rng = np.random.default_rng(5)
    frames = []
    for ind in ("ea_all", "ea_65"):
        grid = pd.MultiIndex.from_product([[ind], areas, quarters], names=["indicator_id", "area_code", "period_start"])
        f = grid.to_frame(index=False)
        f["numerator"] = rng.integers(8, 31, len(f)).astype(float)
        small = (f["indicator_id"] == "ea_all") & f["area_code"].isin(SMALL)
        f.loc[small, "numerator"] = rng.integers(1, 8, int(small.sum())).astype(float)
        f["denominator"] = 100_000.0
        frames.append(f)
    obs = pd.concat(frames, ignore_index=True)
    obs["frequency"] = "quarter"
    obs["value"] = obs["numerator"] / obs["denominator"] * 100_000
    obs["ci_low"] = obs["ci_high"] = np.nan
    obs["flag"] = ""
    obs["source"] = "record-level HES extract"
    out = write_observations(obs, root / "hes.parquet")
    ingest("hes", [out], root / "data", progress=False)
    return root / "data", obs


@pytest.fixture(scope="module")
def ctx(small_counts_dataset):
    from data.active import set_active_dataset
    from analysis import results

    set_active_dataset(small_counts_dataset[0])
    yield results.context()
    set_active_dataset(small_counts_dataset[0])  # clears the caches for the next module


def _multiples_of_5(values) -> bool:
    values = np.asarray(values, dtype=float)
    return bool(np.allclose(values / 5, np.round(values / 5)))


def _numbers(frame: pd.DataFrame) -> np.ndarray:
    values = frame.select_dtypes("number").to_numpy(dtype=float).ravel()
    return values[np.isfinite(values)]


def test_dataset_on_disk_keeps_exact_counts(small_counts_dataset):
    from data.store import load_dataset

    data, obs = small_counts_dataset
    stored = load_dataset(data).observations
    small = stored[(stored["indicator_id"] == "ea_all") & stored["area_code"].isin(SMALL)]
    assert len(small) == 4 * 36 and small["numerator"].between(1, 7).all()


def test_served_dataset_is_controlled_and_says_so(ctx):
    obs = ctx.dataset.observations
    small = obs[(obs["indicator_id"] == "ea_all") & obs["area_code"].isin(SMALL)]
    assert small["numerator"].isna().all() and small["value"].isna().all()
    assert small["flag"].str.contains("suppressed").all()
    larger = obs[~((obs["indicator_id"] == "ea_all") & obs["area_code"].isin(SMALL))]
    assert (larger["numerator"] % 5 == 0).all() and (larger["numerator"] >= 10).all()
    assert NOTICE in ctx.dataset.notice


def test_every_geography_view_of_the_served_dataset_is_controlled(ctx):
    from analysis import results

    for geography in ("la", "ccg"):
        view = results.context(geography).dataset
        assert view.geography == geography and getattr(view, "disclosure_controlled", False)
        assert NOTICE in view.notice and view.tables is ctx.dataset.tables  # the controlled tables


@pytest.mark.parametrize("kind", CHART_KINDS)
def test_chart_csv_downloads(ctx, kind):
    from layouts.components import charts, tables

    for anon in (False, True):
        site = ctx.names.path_id("barnsley", anon)
        for ind in ("ea_all", "ea_65"):
            try:
                chart = charts.build(charts.ChartSpec(kind, site=site, indicator_id=ind, anon=anon))
            except charts.ChartUnavailable:
                continue
            text = tables.csv_text(chart.table, ctx.dataset.notice, chart.title)
            assert NOTICE in text.splitlines()[0]
            body = pd.read_csv(io.StringIO(text), comment="#")
            if ind == "ea_all" and kind in ("trend", "site_multiples", "indicator_multiples", "spc"):
                numbers = _numbers(body.drop(columns=[c for c in body.columns if "year" in c.lower()
                                                      or c.lower() in ("k", "n", "rank")], errors="ignore"))
                assert not np.isin(numbers, np.arange(1, 8)).any(), f"{kind}: a count of 1-7 is shown"


def test_trend_values_are_controlled_counts(ctx):
    """Barnsley is one council and the denominators equal the multiplier: its shown values are counts."""
    from analysis import results

    trend = results.site_trend("barnsley", "ea_65")
    for column in ("site_value", "england_value"):
        values = trend[column].dropna().to_numpy()
        assert len(values) > 20
        assert np.allclose(values / 5, np.round(values / 5)), column
    small = results.site_trend("barnsley", "ea_all")
    assert small["site_value"].isna().all() and _multiples_of_5(small["england_value"].dropna())


@pytest.mark.parametrize("anon", [False, True])
def test_workbook(ctx, anon):
    from layouts.components.exports import package_workbook

    sheets = read_sheets(package_workbook(ctx, anon=anon, basis="england"))
    assert any(NOTICE in str(cell) for row in sheets["Notes"] for cell in row)
    short = ctx.catalogue["short_name"]
    rows = sheets["Trends"]  # one sheet: every site's series for every indicator
    header = rows[0]
    i_site_name, i_ind = header.index("Site"), header.index("Indicator")
    i_site, i_eng = header.index("Site value"), header.index("England")
    i_num = header.index("Site numerator") if "Site numerator" in header else None
    assert (i_num is None) == anon  # counts only in the named workbook
    barnsley = ctx.names.display("barnsley", anon)
    hes = (short["ea_all"], short["ea_65"])
    seen = [row for row in rows[1:] if row[i_ind] in hes]
    assert len({row[i_site_name] for row in seen}) == 25
    for row in seen:
        if row[i_ind] == short["ea_all"] and row[i_site_name] == barnsley:
            assert row[i_site] is None, row
        if row[i_eng] is not None:
            assert _multiples_of_5([row[i_eng]]), row
        if row[i_site] is not None:
            assert not (1 <= row[i_site] <= 7 and float(row[i_site]).is_integer()), row
        if i_num is not None and row[i_num] is not None:
            assert _multiples_of_5([row[i_num]]) and not 1 <= row[i_num] <= 7, row


def test_overview_grid_csv_carries_the_notice(ctx):
    from analysis import results
    from layouts.components import grid, tables
    from layouts.components.urlstate import ViewState

    shown = grid.grid_export(ctx, grid.grid_cells(ctx, results.overview("england"), ViewState()))
    text = tables.csv_text(shown, ctx.dataset.notice, "Overview")
    assert NOTICE in text.splitlines()[0]
