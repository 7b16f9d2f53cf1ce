"""HES on the CCG geography end to end: synth -> build --geography ccg -> ingest -> the dataset's CCG
view holds the six HES indicators on CCG units, with exactly the counts the builder made.

The synthetic extract records one CCG unit per council (arbitrary pairing, generated data), so
every record carries a valid unit code; the populations are the councils' by that pairing.
"""
from __future__ import annotations

import pandas as pd
import pytest

from cli import main
from data.hes.build import ccg_units
from data.reference import ENGLAND_CODE
from data.store import load_dataset

HES = {"ea_all", "ea_65", "acsc_chronic", "acute_no_admit", "readmit_30", "ae_attend"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hes-ccg")
    extract, data = root / "extract", root / "data"
    assert main(["hes", "synth", "--episodes", "20000", "--out", str(extract), "--seed", "11"]) == 0
    assert main(["hes", "build", "--apc", str(extract / "apc_*.parquet"), "--ae", str(extract / "ae.parquet"),
                 "--out", str(root / "hes.parquet"), "--into", str(data), "--geography", "ccg",
                 "--population", str(extract / "population_ccg.csv"), "--quiet"]) == 0
    return extract, data, pd.read_parquet(root / "hes.parquet")


def test_the_ccg_view_shows_the_hes_indicators(built):
    _, data, written = built
    view = load_dataset(data).on("ccg")
    obs = view.observations
    units = set(view.units("ccg")["area_code"])
    assert HES <= set(obs["indicator_id"])
    on_units = obs[obs["area_code"] != ENGLAND_CODE]
    assert set(on_units["area_code"]) <= units and len(set(on_units["area_code"])) > 100
    for ind in HES:
        rows = on_units[on_units["indicator_id"] == ind]
        assert rows["numerator"].sum() > 0, ind
        assert rows["value"].notna().any(), ind
    # What the view shows is what the builder wrote (the dataset keeps exact counts).
    key = ["indicator_id", "area_code", "period_start"]
    got = obs.assign(period_start=pd.to_datetime(obs["period_start"])).set_index(key)["numerator"]
    want = written.assign(period_start=pd.to_datetime(written["period_start"])).set_index(key)["numerator"]
    assert got.reindex(want.index).equals(want)


def test_unit_counts_add_up_to_england(built):
    """England = the units + the records with no recorded CCG (the generator's unknown-area records)."""
    extract, _, written = built
    ea = written[written["indicator_id"] == "ea_all"]
    ea = ea.assign(period_start=pd.to_datetime(ea["period_start"]))  # parquet dates arrive as datetime.date
    by_quarter = ea[ea["area_code"] != ENGLAND_CODE].groupby("period_start")["numerator"].sum()
    england = ea[ea["area_code"] == ENGLAND_CODE].set_index("period_start")["numerator"]
    truth = pd.read_csv(extract / "truth_counts.csv", dtype={"resla": str})
    unknown = truth[(truth["indicator_id"] == "ea_all") & truth["resla"].isna()]
    month = pd.to_datetime(unknown["month"].astype(str), format="%Y%m")
    quarter = month.dt.to_period("Q-MAR").dt.start_time
    unknown = unknown.groupby(quarter.to_numpy())["numerator"].sum().reindex(england.index, fill_value=0)
    assert (england - by_quarter).sum() > 0
    pd.testing.assert_series_equal(england - by_quarter, unknown.astype(float), check_names=False)


def test_ccg_codes_of_any_year_map_to_their_unit():
    """An ODS code and its E38 code give the same unit; a merged CCG gives its successor's unit."""
    codes = pd.Series(["15F", "E38000225", "02V", "E38000999", "XYZ", None])  # Leeds (15F), Leeds North (02V)
    units = ccg_units(codes)
    assert units[0] == units[1] == units[2]  # 02V Leeds North merged into 15F Leeds in Apr 2018
    assert units[3] == "E38000999" and pd.isna(units[4]) and pd.isna(units[5])
