"""Bad HES input: one line naming the file, row and field, and nothing written (CLI, exit code 2)."""
from __future__ import annotations

import pytest

from cli import main
from tests.test_hes_fixtures import APC_2014

GOOD = APC_2014.strip().splitlines()


def _write(tmp_path, lines, name="apc.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(tmp_path, capsys, apc, extra=()):
    out = tmp_path / "out" / "hes.parquet"
    into = tmp_path / "dataset"
    code = main(["hes", "build", "--apc", str(apc), "--out", str(out), "--into", str(into), "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    return code, err, out, into


def _replace(line: str, column: str, value: str) -> str:
    header = GOOD[0].split(",")
    cells = line.split(",")
    cells[header.index(column)] = value
    return ",".join(cells)


@pytest.mark.parametrize("column,value,row,expected", [
    ("ADMIDATE", "31/13/2014", 4, "expected a date as YYYY-MM-DD or DD/MM/YYYY (got '31/13/2014')"),
    ("DISDATE", "next week", 4, "expected a date as YYYY-MM-DD or DD/MM/YYYY, or blank (got 'next week')"),
    ("ADMIMETH", "2Z", 4, "expected an admission method code"),
    ("SEX", "M", 4, "expected a sex code 0, 1, 2 or 9 (got 'M')"),
    ("DIAG_4_01", "diabetes", 4, "expected an ICD-10 code"),
    ("RESLADST_ONS", "Barnsley", 4, "expected an ONS area code"),
    ("STARTAGE", "-3", 4, "expected an age 0-120"),
])
def test_bad_value_names_file_row_and_field(tmp_path, capsys, column, value, row, expected):
    lines = list(GOOD)
    lines[row - 1] = _replace(lines[row - 1], column, value)
    apc = _write(tmp_path, lines)
    code, err, out, into = _run(tmp_path, capsys, apc)
    assert code == 2
    assert len(err.splitlines()) == 1
    assert f"file {apc}, row {row}, column '{column}': {expected}" in err
    assert not out.exists() and not into.exists()


def test_missing_required_field(tmp_path, capsys):
    header = GOOD[0].split(",")
    drop = header.index("ADMIMETH")
    lines = [",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in GOOD]
    apc = _write(tmp_path, lines)
    code, err, out, into = _run(tmp_path, capsys, apc)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"file {apc}, row 1, column 'ADMIMETH': missing required field (accepted names: ADMIMETH" in err
    assert not out.exists() and not into.exists()


def test_not_hes_at_all(tmp_path, capsys):
    apc = _write(tmp_path, ["indicator_id,area_code,period,numerator,denominator", "ea_all,E08000016,2014/15 Q1,1,2"])
    code, err, out, into = _run(tmp_path, capsys, apc)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"file {apc}, row 1: not a HES admitted patient care (APC) extract" in err
    assert not out.exists() and not into.exists()


def test_bad_file_leaves_existing_dataset_untouched(tmp_path, capsys, reference):
    """A good build first; then a bad one into the same dataset changes no byte of it."""
    good = _write(tmp_path, GOOD, "good.csv")
    population = tmp_path / "population.csv"
    rows = ["area_code,year,age_group,population"] + [f"{a},{y},{g},1000" for a in reference.areas["area_code"]
                                                        for y in (2013, 2014) for g in ("all", "65+")]
    population.write_text("\n".join(rows) + "\n")
    code, err, out, into = _run(tmp_path, capsys, good, ["--population", str(population)])
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in into.iterdir()}
    out_before = out.read_bytes()
    lines = list(GOOD)
    lines[5] = _replace(lines[5], "EPIORDER", "first")
    bad = _write(tmp_path, lines, "bad.csv")
    code, err, _, _ = _run(tmp_path, capsys, bad, ["--population", str(population)])
    assert code == 2 and "row 6, column 'EPIORDER': expected an episode order 1-99 (got 'first')" in err
    assert {p.name: p.read_bytes() for p in into.iterdir()} == before
    assert out.read_bytes() == out_before
