"""The Monthly Activity Return loader and the CCG geography, on the real files read in place.

Every MAR layout (PCTs with SHA parents, CCGs with area teams, CCGs with regions) and the
stacked table must keep England's total in every month; the PCT bridge must keep the national
total; CCG populations must add up to the districts'; apportioned LA counts must add back up to
the CCG counts. Bad files are refused in one line naming file and row, with nothing written.
The 2012/13 workbooks are not in the shared folder: the PCT/SHA layout is rebuilt as a workbook
in tmp from the stacked table's Apr 2012 rows (values unchanged).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli
from data import ccg
from data.errors import DataError
from data.ingest import ingest
from data.reference import ENGLAND_CODE
from data.loaders import LoadContext
from data.loaders import mar
from data.loaders.population import load_district_population
from data.real import population_table, source_paths
from data.reference import ENGLAND_CODE, load_reference

pytestmark = pytest.mark.realdata

MAR_DIR = "nhse_mar_commissioner_monthly_2012_2019"
STACK = f"{MAR_DIR}/mar_commissioner_monthly_2012-04_2019-12.csv"
NON_ELECTIVE = "Total Non-elective G&A Admissions (FFCEs)"


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def stack(real_dir) -> pd.DataFrame:
    return pd.read_csv(real_dir / STACK, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def context(real_dir) -> LoadContext:
    reference = load_reference()
    return LoadContext(reference=reference, population=population_table(reference, real_dir), shared=real_dir)


@pytest.fixture(scope="module")
def geo(real_dir):
    return ccg.geography(str(real_dir))


def _pct_workbook(stack: pd.DataFrame, path: Path, month: str = "2012-04", parent: str = "SHA",
                  period_text: str = "April 2012") -> Path:
    """A 2012/13-layout workbook (SHA parents) holding one month of the stacked table, as .xlsx."""
    import openpyxl

    rows = stack[stack["period"] == month]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Commissioner"
    sheet.append([])
    sheet.append(["", "Title:", "Monthly Hospital Activity"])
    sheet.append(["", "Period:", period_text])
    sheet.append(["", "Basis:", "Commissioner"])
    sheet.append([])
    sheet.append(["", "Year", "Period", f"{parent} Code", f"{parent} Name", "Org Code", "Org Name", NON_ELECTIVE])
    for r in rows.itertuples(index=False):
        value = float(r.non_elective_ga_total)
        sheet.append(["", "2012-13", "APRIL", r.parent_code, r.parent_name, r.org_code, r.org_name,
                      int(value) if value.is_integer() else value])
    sheet.append([])
    sheet.append(["", "Note: built in a test from the stacked table"])
    book.save(path)
    return path


def _published_england(stack: pd.DataFrame) -> pd.Series:
    eng = stack[(stack["org_name"] == "England") & (stack["org_code"] == "")]
    return pd.Series(pd.to_numeric(eng["non_elective_ga_total"]).to_numpy(),
                     index=pd.to_datetime(eng["period"] + "-01"))


def _non_ccg(stack: pd.DataFrame) -> pd.Series:
    rows = stack[stack["org_code"].isin(list(mar.NON_CCG))]
    return pd.to_numeric(rows["non_elective_ga_total"]).groupby(pd.to_datetime(rows["period"] + "-01")).sum()


def _monthly(obs: pd.DataFrame, which: str, units: set[str]) -> pd.Series:
    m = obs[obs["frequency"] == "month"]
    if which == "england":
        m = m[m["area_code"] == ENGLAND_CODE]
    elif which == "units":
        m = m[m["area_code"].isin(units)]
    else:
        m = m[~m["area_code"].isin(units) & (m["area_code"] != ENGLAND_CODE)]
    return m.groupby("period_start")["numerator"].sum()


def _check_totals(obs: pd.DataFrame, stack: pd.DataFrame, geo, gaps: frozenset = frozenset()) -> int:
    """England = published England - NHS England rows, and units and LAs both sum to it, every month
    except the ``gaps``: months with an incomplete submission, whose units and LAs are left out (less)."""
    units = set(geo.units["unit_code"])
    england = _monthly(obs, "england", units)
    expected = (_published_england(stack) - _non_ccg(stack).reindex(_published_england(stack).index).fillna(0))
    expected = expected.reindex(england.index)
    assert len(england) > 0
    np.testing.assert_allclose(england.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6)
    whole = ~england.index.isin(list(gaps))
    for which in ("units", "las"):
        parts = _monthly(obs, which, units).reindex(england.index)
        np.testing.assert_allclose(parts[whole].to_numpy(), england[whole].to_numpy(), rtol=1e-9)
        assert (parts[~whole] < england[~whole] - 100).all(), which
    return len(england)


@pytest.mark.parametrize("sample,layout", [("Apr_14.xls", "area team"), ("Dec_19.xls", "region")])
def test_each_original_workbook_layout_keeps_england(sample, layout, real_dir, stack, context, geo):
    path = real_dir / MAR_DIR / "original_samples" / sample
    frame, _, found = mar._read_workbook(path)
    assert found == layout
    result = mar.load(path, context)
    assert _check_totals(result.observations, stack, geo) == 1
    assert sum(n for reason, n in result.skipped.items() if reason.startswith("X24")) == 1
    assert result.source["layout"] == mar.LAYOUTS[layout]


def test_pct_sha_layout_keeps_england_and_the_bridge_keeps_the_national_total(tmp_path, stack, context, geo):
    path = _pct_workbook(stack, tmp_path / "Apr_12.xlsx")
    assert mar._read_workbook(path)[2] == "sha"
    result = mar.load(path, context)
    assert _check_totals(result.observations, stack, geo) == 1
    obs = result.observations
    assert obs.loc[obs["frequency"] == "month", "flag"].str.contains("bridged_from_pcts").all()
    pcts = stack[(stack["period"] == "2012-04") & ~stack["org_code"].isin(["", *mar.NON_CCG])]
    pct_total = pd.to_numeric(pcts["non_elective_ga_total"]).sum()
    unit_total = _monthly(obs, "units", set(geo.units["unit_code"])).iloc[0]
    assert abs(unit_total / pct_total - 1) < 0.001


def test_stacked_table_keeps_england_every_month_and_places_rows_by_period(real_dir, stack, context, geo):
    result = mar.load(real_dir / STACK, context)
    gaps = frozenset(pd.to_datetime(_incomplete(stack)["period"] + "-01"))
    assert _check_totals(result.observations, stack, geo, gaps) == 93  # Apr 2012 - Dec 2019
    obs = result.observations
    # The Jun 2017 fill-down artefact ("2017-19".."2017-30") must not move rows out of Jun 2017.
    june = obs[(obs["frequency"] == "month") & (obs["period_start"] == "2017-06-01")]
    assert len(june) == len(obs[(obs["frequency"] == "month") & (obs["period_start"] == "2017-05-01")])
    # The one fractional value (5PT Suffolk PCT, Nov 2012) is kept and flagged.
    nov = obs[(obs["frequency"] == "month") & (obs["period_start"] == "2012-11-01")]
    assert nov["flag"].str.contains("fractional").any()
    assert (nov["numerator"] % 1 != 0).any()
    # Quarters: complete ones only (2019/20 Q4 has no months), each the sum of its three months.
    q = obs[(obs["frequency"] == "quarter") & (obs["area_code"] == ENGLAND_CODE)].set_index("period_start")
    assert q.index.max() == pd.Timestamp("2019-10-01") and len(q) == 31
    months = obs[(obs["frequency"] == "month") & (obs["area_code"] == ENGLAND_CODE)].set_index("period_start")
    assert q.at[pd.Timestamp("2014-04-01"), "numerator"] == pytest.approx(
        months.loc["2014-04-01":"2014-06-01", "numerator"].sum())
    assert any(r.startswith("YDD82") for r in result.skipped)


def _incomplete(stack: pd.DataFrame) -> pd.DataFrame:
    rows = stack[~stack["org_code"].isin(["", *mar.NON_CCG])]
    counts = pd.DataFrame({"period_start": pd.to_datetime(rows["period"] + "-01"), "ccg_code": rows["org_code"],
                           "count": pd.to_numeric(rows["non_elective_ga_total"]), "period": rows["period"]})
    return mar.incomplete_submissions(counts)


def test_incomplete_submissions_are_found_by_their_own_history_not_by_a_step():
    """A commissioner reporting a tenth of its usual count for nine months is found; one whose count
    steps up by a third (a merger) or dips to 60% for a month is not."""
    months = pd.date_range("2013-04-01", periods=36, freq="MS")
    gap = np.full(36, 1000.0)
    gap[12:21] = 100.0
    step = np.where(np.arange(36) < 18, 1000.0, 1333.0)
    dip = np.full(36, 1000.0)
    dip[20] = 600.0
    counts = pd.concat([pd.DataFrame({"period_start": months, "ccg_code": code, "count": values})
                        for code, values in (("GAP", gap), ("STEP", step), ("DIP", dip))], ignore_index=True)
    found = mar.incomplete_submissions(counts)
    assert set(found["ccg_code"]) == {"GAP"}
    assert list(found["period_start"]) == list(months[12:21])


def test_real_incomplete_submissions_leave_their_units_and_las_out(stack, real_built):
    """Solihull and Birmingham CrossCity CCGs under-reported Jul 2014 - Mar 2015 (a tenth and two fifths
    of their usual admissions): the Birmingham and Solihull unit and both LAs have no quarters then, and
    keep the quarters either side."""
    found = _incomplete(stack)
    assert {"05P", "13P"} <= set(found["ccg_code"])
    assert set(found.loc[found["ccg_code"] == "05P", "period"]) == {
        f"{m:%Y-%m}" for m in pd.date_range("2014-07-01", "2015-03-01", freq="MS")}
    for geography, code in (("ccg", "E38000220"), ("la", "E08000029"), ("la", "E08000025")):
        obs = real_built.on(geography).observations
        quarters = set(pd.to_datetime(obs.loc[(obs["indicator_id"] == "ea_all") & (obs["area_code"] == code)
                                              & (obs["frequency"] == "quarter"), "period_start"]))
        assert not quarters & {pd.Timestamp(q) for q in ("2014-07-01", "2014-10-01", "2015-01-01")}, code
        assert {pd.Timestamp("2014-04-01"), pd.Timestamp("2015-04-01")} <= quarters, code
    assert any("incomplete submission" in note for note in real_built.manifest["approximations"])


def test_apportioned_la_counts_sum_back_to_ccg_counts(geo, stack):
    """Each CCG's count spread over LAs adds back up to it, in every vintage (and for PCTs)."""
    sums = geo.la_shares.groupby(["vintage", "ccg_code"])["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    for vintage, codes in geo.codes_by_vintage().items():
        assert codes <= set(geo.la_shares.loc[geo.la_shares["vintage"] == vintage, "ccg_code"]), vintage
    counts = pd.DataFrame({"period_start": pd.Timestamp("2015-04-01"), "vintage": "2015/16",
                           "ccg_code": sorted(geo.codes_by_vintage()["2015/16"]), "fractional": False})
    counts["count"] = np.arange(len(counts)) * 7.0 + 1
    las = mar.commissioner_to_las(counts, geo)
    assert las["count"].sum() == pytest.approx(counts["count"].sum(), rel=1e-12)
    assert set(las["area_code"]) <= set(load_reference().areas["area_code"])


def test_ccg_populations_sum_to_district_totals(real_dir, geo):
    districts = load_district_population(source_paths(real_dir)["myeb3"])
    by_year = districts.groupby("year")["population"].sum()
    pop = geo.population[(geo.population["age_group"] == "all") & (geo.population["year"] <= by_year.index.max())]
    units = pop.groupby("year")["population"].sum()
    np.testing.assert_allclose(units.to_numpy(), by_year.reindex(units.index).to_numpy(), rtol=1e-9)
    assert units.at[2017] == 55_619_430  # ONS mid-2017 England, exact: LSOAs sum to the districts
    old = geo.population[(geo.population["age_group"] == "65+") & (geo.population["year"] == 2017)]
    assert old["population"].sum() == pytest.approx(10_030_511)


def test_ccg_reference_table_is_the_one_the_script_builds(real_dir, stack):
    built = ccg.ccg_vintages(real_dir)
    committed = ccg.read_ccgs()
    pd.testing.assert_frame_equal(built.reset_index(drop=True), committed[built.columns].reset_index(drop=True),
                                  check_dtype=False)
    counts = committed.groupby("vintage").size().to_dict()
    assert counts == {"2013/14": 211, "2014/15": 211, "2015/16": 209, "2016/17": 209, "2017/18": 207,
                      "2018/19": 195, "2019/20": 191}
    # Every MAR CCG code in a financial year is a CCG of that year's vintage, and the other way round.
    period = pd.to_datetime(stack["period"] + "-01")
    fy = ccg.financial_year(period)
    ccg_rows = stack[(fy != "2012/13") & ~stack["org_code"].isin(["", *mar.NON_CCG])]
    by_vintage = committed.groupby("vintage")["ccg_code"].agg(set)
    for year, rows in ccg_rows.groupby(fy[ccg_rows.index]):
        assert set(rows["org_code"]) == by_vintage[year], year


def test_site_ccgs_are_validated(tmp_path):
    import shutil

    from data.reference import REFERENCE_DIR

    for f in REFERENCE_DIR.glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    assert len(load_reference(tmp_path).site_ccgs) == len(pd.read_csv(tmp_path / "site_ccgs.csv"))
    text = (tmp_path / "site_ccgs.csv").read_text().replace("barnsley,02P,", "barnsley,ZZZ,")
    (tmp_path / "site_ccgs.csv").write_text(text)
    with pytest.raises(DataError, match=r"site_ccgs.csv, row 2, column 'ccg_code'"):
        load_reference(tmp_path)


def test_real_dataset_keeps_las_by_default_and_ccgs_on_request(real_built):
    assert len(real_built.areas) == 152 and (real_built.areas["type"] != "CCG").all()
    assert len(real_built.units("ccg")) == 190
    assert set(real_built.site_units("ccg")["site_id"]) == set(real_built.sites["site_id"])
    assert not set(real_built.site_areas["area_code"]) & set(real_built.units("ccg")["area_code"])
    ea = real_built.observations[real_built.observations["indicator_id"] == "ea_all"]
    assert set(ea["frequency"]) == {"quarter"} and ea["flag"].str.contains("apportioned_from_ccgs").any()
    assert not set(real_built.observations["area_code"]) & set(real_built.units("ccg")["area_code"])
    monthly = real_built.observations_for("ccg", "month")
    units = monthly[monthly["area_code"] != ENGLAND_CODE]
    assert units["area_code"].nunique() == 190 and set(monthly["frequency"]) == {"month"}
    assert (monthly["area_code"] == ENGLAND_CODE).any()  # England, the benchmark, is on both geographies


# ---------------------------------------------------------------- bad input: one line, nothing written


@pytest.fixture(scope="module")
def small_dataset(real_dir, tmp_path_factory) -> Path:
    into = tmp_path_factory.mktemp("mar_bad") / "dataset"
    ingest("mar", [real_dir / MAR_DIR / "original_samples" / "Dec_19.xls"], into, progress=False, shared=real_dir)
    return into


def _stack_month(real_dir: Path, month: str) -> list[str]:
    lines = (real_dir / STACK).read_text().splitlines(keepends=True)
    return [lines[0]] + [l for l in lines[1:] if l.startswith(month + ",")]


def _bad_sum(real_dir: Path, path: Path) -> tuple[Path, int]:
    lines = _stack_month(real_dir, "2015-05")
    i = next(i for i, l in enumerate(lines) if ",08A," in l)  # Greenwich CCG
    cells = lines[i].split(",")
    col = lines[0].split(",").index("non_elective_ga_total")
    cells[col] = str(int(cells[col]) + 100)
    lines[i] = ",".join(cells)
    path.write_text("".join(lines))
    return path, 2  # the England row, first in the month: row 2 of the file


def _bad_code(real_dir: Path, path: Path) -> tuple[Path, int]:
    lines = _stack_month(real_dir, "2016-01")
    i = next(i for i, l in enumerate(lines) if ",08A," in l)
    lines[i] = lines[i].replace(",08A,", ",ZZQ,")
    path.write_text("".join(lines))
    return path, i + 1


def _bad_layout(real_dir: Path, path: Path, stack) -> tuple[Path, int]:
    _pct_workbook(stack, path, parent="Cluster")
    return path, 6


@pytest.mark.parametrize("case,expected", [
    ("sum", "sum to"), ("code", "CCG code found in no CCG vintage"), ("layout", "unknown MAR layout")])
def test_bad_mar_input_is_refused_in_one_line_and_nothing_is_written(case, expected, small_dataset, real_dir, stack,
                                                                      tmp_path, capsys):
    if case == "sum":
        bad, row = _bad_sum(real_dir, tmp_path / "bad_sum.csv")
    elif case == "code":
        bad, row = _bad_code(real_dir, tmp_path / "bad_code.csv")
    else:
        bad, row = _bad_layout(real_dir, tmp_path / "bad_layout.xlsx", stack)
    before = _hashes(small_dataset)
    with pytest.raises(DataError) as info:
        ingest("mar", [bad], small_dataset, progress=False, shared=real_dir)
    first = str(info.value).splitlines()[0]
    assert f"file {bad}" in first and f"row {row}" in first and expected in first, first
    assert _hashes(small_dataset) == before
    code = cli.main(["ingest", "mar", str(bad), "--into", str(small_dataset), "--quiet", "--shared", str(real_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and expected in err[0] and "Traceback" not in "\n".join(err)
    assert _hashes(small_dataset) == before


def test_reingesting_the_same_workbook_writes_nothing(small_dataset, real_dir):
    before = _hashes(small_dataset)
    summary = ingest("mar", [real_dir / MAR_DIR / "original_samples" / "Dec_19.xls"], small_dataset,
                     progress=False, shared=real_dir)
    assert not summary.written and summary.unchanged == summary.kept > 0
    assert _hashes(small_dataset) == before


def test_a_partial_load_without_areas_still_keeps_ccgs_out(real_built_dir):
    from data.store import load_dataset

    partial = load_dataset(real_built_dir, tables=["observations", "catalogue"])
    assert not partial.observations["area_code"].str.startswith("E38").any()
    codes = partial.observations_for("ccg", "month")["area_code"]
    assert codes[codes != ENGLAND_CODE].str.startswith("E38").all()
