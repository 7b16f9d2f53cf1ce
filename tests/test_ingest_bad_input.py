"""A corpus of bad input, made from the real files and by hand.

Each case must fail with one clear first line naming the file (and the row and column where
there is one), give a non-zero exit code from the CLI, and leave the dataset byte-identical.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import cli
from data.errors import DataError
from data.ingest import ingest
from tests import cli_process

GOOD_TIDY = ("indicator_id,area_code,period,numerator,denominator,value,flag\n"
             "ea_all,E06000001,2014/15 Q1,500,92000,,\n"
             "ea_all,E06000002,2014/15 Q1,700,139000,,\n"
             "readmit_30,E06000001,2014/15 Q1,120,1000,,provisional\n"
             "dtoc,E08000035,Apr 2014,900,620000,,\n")


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A small dataset made by ingesting a good tidy file."""
    base = tmp_path_factory.mktemp("bad_input")
    good = base / "good.csv"
    good.write_text(GOOD_TIDY)
    into = base / "dataset"
    ingest("tidy", [good], into, progress=False)
    return into


def _head(real_dir: Path, rel: str, n: int) -> str:
    with open(real_dir / rel, encoding="utf-8", newline="") as f:
        return "".join(f.readline() for _ in range(n))


DTOC = "nhse_dtoc_la_monthly_2011_2019/dtoc_delayed_days_by_la_responsible_org_2011-04_2019-12.csv"
ASCOF = "nhsd_ascof_csv_2017_2024/trend_data.csv"
FALLS = "trafford_gm_fingertips_ascof_dtoc/admissions_falls.csv"
EXPORT = "fingertips_countyua_export_campylobacter_2015/indicators-CountyUA.data.csv"


def _ascof(real_dir: Path) -> str:
    """Header plus the first rows of the catalogue's measures (2A2, 2B1)."""
    lines = _head(real_dir, ASCOF, 4000).splitlines(keepends=True)
    return lines[0] + "".join([l for l in lines if ",2A2," in l or ",2B1," in l][:40])


def _replace_line(text: str, index: int, old: str, new: str) -> str:
    lines = text.splitlines(keepends=True)
    assert old in lines[index], (old, lines[index])
    lines[index] = lines[index].replace(old, new, 1)
    return "".join(lines)


def _stray_field(text: str, index: int) -> str:
    """One more, non-empty field at the end of line ``index`` (whatever its line ending)."""
    lines = text.splitlines(keepends=True)
    body = lines[index].rstrip("\r\n")
    lines[index] = body + ",stray" + lines[index][len(body):]
    return "".join(lines)


def _ascof_edit(real_dir: Path, column: str, new: str) -> bytes:
    """The ASCOF sample with one cell of its first data row changed."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(_ascof(real_dir))))
    rows[1][rows[0].index(column)] = new
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


# (id, kind, suffix, builder(real_dir) -> bytes, expected substrings of the first line)
CASES = [
    ("empty", "tidy", ".csv", lambda r: b"", ["empty"]),
    ("blank lines only", "tidy", ".csv", lambda r: b"\n\n  \n", ["empty"]),
    ("binary garbage", "tidy", ".csv", lambda r: bytes(range(256)) * 40, ["NUL bytes", "row"]),
    ("utf-16 text", "tidy", ".csv", lambda r: GOOD_TIDY.encode("utf-16"), ["UTF-16"]),
    ("undecodable bytes", "tidy", ".csv", lambda r: GOOD_TIDY.encode() + b"ea_all,E06000003,\x81\x8d\xc3,1,2,,\n",
     ["not UTF-8 or Windows-1252", "row 6"]),
    ("header only", "tidy", ".csv", lambda r: b"indicator_id,area_code,period,numerator,denominator\n",
     ["no rows"]),
    ("truncated inside a quote", "tidy", ".csv", lambda r: (GOOD_TIDY + 'ea_all,"E0600').encode(),
     ["quoted field"]),
    ("truncated row", "tidy", ".csv", lambda r: (GOOD_TIDY + "ea_all,E06000004,2014/15 Q1\n").encode(),
     ["row 6", "fewer fields"]),
    ("too many fields", "tidy", ".csv", lambda r: (GOOD_TIDY + "ea_all,E06000004,2014/15 Q1,1,2,,,extra,x\n").encode(),
     ["row 6"]),
    ("missing column", "tidy", ".csv", lambda r: b"indicator_id,area_code,period,numerator\nea_all,E06000001,2014/15 Q1,5\n",
     ["row 1", "'denominator'"]),
    ("renamed column", "tidy", ".csv", lambda r: GOOD_TIDY.replace("numerator", "num", 1).encode(),
     ["row 1", "'numerator'"]),
    ("wrong type", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 2, "700", "seven hundred").encode(),
     ["row 3", "'numerator'", "seven hundred"]),
    ("negative count", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 1, "500", "-5").encode(),
     ["row 2", "'numerator'", ">= 0"]),
    ("zero denominator", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 2, "139000", "0").encode(),
     ["row 3", "'denominator'", "zero denominator"]),
    ("duplicate key", "tidy", ".csv", lambda r: (GOOD_TIDY + "ea_all,E06000001,2014/15 Q1,9,92000,,\n").encode(),
     ["row 2", "duplicate"]),
    ("unknown area code", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 1, "E06000001", "E06099999").encode(),
     ["row 2", "'area_code'", "E06099999"]),
    ("unparseable period", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 1, "2014/15 Q1", "2014/16").encode(),
     ["row 2", "'period'", "unparseable"]),
    ("period at the wrong frequency", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 4, "Apr 2014", "2014/15").encode(),
     ["row 5", "'period'", "frequency"]),
    ("unknown indicator", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 1, "ea_all", "ea_al").encode(),
     ["row 2", "'indicator_id'", "ea_al"]),
    ("unknown flag", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 3, "provisional", "guessed").encode(),
     ["row 4", "'flag'"]),
    ("proportion over 100%", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 3, "120,1000", "1200,1000").encode(),
     ["row 4", "'numerator'", "exceeds"]),
    ("10 MB single field", "tidy", ".csv",
     lambda r: (GOOD_TIDY + 'ea_all,E06000004,"2014/15 Q1' + "x" * 10_000_000 + '",1,2,,\n').encode(),
     ["row 6", "'period'", "longer than"]),
    ("not a workbook", "dtoc", ".xls", lambda r: b"PK\x03\x04 this is not an xls" * 100, ["not a readable .xls"]),
    # From the real files.
    ("dtoc: renamed total column", "dtoc", ".csv",
     lambda r: _head(r, DTOC, 40).replace("delayed_days_total", "days_total", 1).encode(), ["row 1", "delayed_days_total"]),
    ("dtoc: unparseable month", "dtoc", ".csv",
     lambda r: _replace_line(_head(r, DTOC, 40), 5, "2019-04", "2019-13").encode(), ["row 6", "'period'"]),
    ("dtoc: total is not the sum", "dtoc", ".csv",
     lambda r: _replace_line(_head(r, DTOC, 40), 2, ",380", ",381").encode(), ["row 3", "'delayed_days_total'"]),
    ("dtoc: unknown council", "dtoc", ".csv",
     lambda r: _replace_line(_head(r, DTOC, 40), 2, "E06000015,507,Derby UA", ",999,Nowhere UA").encode(),
     ["row 3", "'nhs_la_code'", "Nowhere"]),
    ("dtoc: duplicate row", "dtoc", ".csv",
     lambda r: (_head(r, DTOC, 40) + _head(r, DTOC, 3).splitlines(keepends=True)[2]).encode(), ["duplicate"]),
    ("dtoc: negative days", "dtoc", ".csv",
     lambda r: _replace_line(_head(r, DTOC, 40), 2, ",306,", ",-306,").encode(), ["row 3", "'delayed_days_nhs'"]),
    ("ascof: unknown council code", "ascof", ".csv",
     lambda r: _ascof_edit(r, "ONS Code", "E09999999"), ["row 2", "'ONS Code'", "E09999999"]),
    ("ascof: value not a number", "ascof", ".csv",
     lambda r: _ascof_edit(r, "Measure_Value", "n/a"), ["row 2", "'Measure_Value'", "n/a"]),
    ("ascof: bad year", "ascof", ".csv",
     lambda r: _ascof_edit(r, "Year", "2017-19"), ["row 2", "'Year'"]),
    ("ascof: missing measure column", "ascof", ".csv",
     lambda r: _ascof(r).replace("Measure Group,", "Group,", 1).encode(), ["row 1", "Measure Group"]),
    ("fingertips: indicator not in the catalogue", "fingertips", ".csv",
     lambda r: (r / EXPORT).read_bytes(), ["row 2", "'Indicator ID'", "93356"]),
    ("fingertips: unparseable time period", "fingertips", ".csv",
     lambda r: _replace_line(_head(r, FALLS, 30), 3, "2012/13", "2012/14").encode(), ["row 4", "'period'"]),
    ("fingertips: negative rate", "fingertips", ".csv",
     lambda r: _replace_line(_head(r, FALLS, 30), 1, ",2565,", ",-2565,").encode(), ["row 2", "'value'"]),
    # Issue 13: periods out of range were stored at wrapped-around dates, impossible values accepted,
    # extra trailing fields gave a traceback.
    ("quarter in year 9999", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 1, "2014/15 Q1", "9999/00 Q1").encode(),
     ["row 2", "'period'", "plausible range 1990/91 to 2040/41", "9999/00 Q1"]),
    ("quarter in year 1000", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 1, "2014/15 Q1", "1000/01 Q1").encode(),
     ["row 2", "'period'", "plausible range"]),
    ("month in 2262", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 4, "Apr 2014", "Dec 2262").encode(),
     ["row 5", "'period'", "plausible range"]),
    ("financial year 2099/00", "tidy", ".csv", lambda r: (GOOD_TIDY + "care_home_65,E06000001,2099/00,5,1000,,\n").encode(),
     ["row 6", "'period'", "plausible range"]),
    ("ISO month in 1815", "tidy", ".csv", lambda r: _replace_line(GOOD_TIDY, 4, "Apr 2014", "1815-06").encode(),
     ["row 5", "'period'", "plausible range"]),
    ("rate count far above its population", "tidy", ".csv",
     lambda r: _replace_line(GOOD_TIDY, 1, "500,92000", "9200000,92000").encode(), ["row 2", "'numerator'", "exceeds"]),
    ("infinite rate from 1e308/1e-300", "tidy", ".csv",
     lambda r: (GOOD_TIDY + "ea_all,E06000004,2014/15 Q1,1e308,1e-300,,\n").encode(), ["row 6"]),
    ("trailing field with content", "tidy", ".csv",
     lambda r: GOOD_TIDY.replace(",,\n", ",,\n", 1).replace("92000,,", "92000,,,oops", 1).encode(),
     ["row 2", "more fields than the header"]),
    ("dtoc: trailing field with content", "dtoc", ".csv",
     lambda r: _stray_field(_head(r, DTOC, 40), 3).encode(), ["row 4", "more fields than the header"]),
    ("ascof: trailing field with content", "ascof", ".csv",
     lambda r: _stray_field(_ascof(r), 2).encode(), ["row 3", "more fields than the header"]),
    ("fingertips: unknown district", "fingertips", ".csv",
     lambda r: (_head(r, FALLS, 30) + "E07999999,Nowhere,2010/11,2000,Emergency hospital admissions due to falls "
                "in people aged 65 and over,x,Persons,Worse\n").encode(), ["row 31", "'area_code'", "E07999999"]),
]


@pytest.mark.parametrize("name,kind,suffix,build,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_dataset_unchanged(name, kind, suffix, build, expected, dataset, real_dir,
                                                     tmp_path, capsys):
    bad = tmp_path / f"bad_{kind}{suffix}"
    bad.write_bytes(build(real_dir))
    before = _hashes(dataset)
    with pytest.raises(DataError) as err:
        ingest(kind, [bad], dataset, progress=False)
    first = str(err.value).splitlines()[0]
    assert str(bad) in first or bad.name in first, first
    for text in expected:
        assert text in first, f"{text!r} not in {first!r}"
    assert len(first) < 2_000  # one line, even for the 10 MB field
    assert _hashes(dataset) == before
    code = cli.main(["ingest", kind, str(bad), "--into", str(dataset), "--quiet"])
    assert code != 0
    stderr = capsys.readouterr().err
    assert stderr.startswith("pioneers ingest: error: ") and bad.name in stderr.splitlines()[0]
    assert _hashes(dataset) == before


def test_corpus_is_large_enough():
    assert len(CASES) >= 25


def test_one_bad_file_among_good_ones_writes_nothing(dataset, tmp_path):
    good = tmp_path / "more.csv"
    good.write_text(GOOD_TIDY.replace("500", "501"))
    bad = tmp_path / "bad.csv"
    bad.write_text(_replace_line(GOOD_TIDY, 1, "500", "-1"))
    before = _hashes(dataset)
    with pytest.raises(DataError, match="1 of 2 file"):
        ingest("tidy", [good, bad], dataset, progress=False)
    assert _hashes(dataset) == before


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    bad = tmp_path / "many.csv"
    bad.write_text(GOOD_TIDY + "ea_all,E06099999,2014/16,-1,0,,\n")
    with pytest.raises(DataError) as err:
        ingest("tidy", [bad], tmp_path / "new", progress=False)
    problems = err.value.problems
    assert {p.split("column ")[1].split(":")[0] for p in problems} >= {"'area_code'", "'period'", "'numerator'",
                                                                      "'denominator'"}
    assert all("row 6" in p for p in problems)
    assert not (tmp_path / "new").exists()


def test_cli_subprocess_exit_code(tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    run = cli_process.run(["ingest", "tidy", str(bad), "--into", str(tmp_path / "d")])
    assert run.returncode != 0
    assert "empty" in run.stderr.splitlines()[0] and "Traceback" not in run.stderr


def test_an_infinite_rate_is_named_as_not_finite(tmp_path):
    bad = tmp_path / "inf.csv"
    bad.write_text(GOOD_TIDY + "ea_all,E06000004,2014/15 Q1,1e308,1e-300,,\n")
    with pytest.raises(DataError) as err:
        ingest("tidy", [bad], tmp_path / "new", progress=False)
    assert any("row 6" in p and "not a finite number" in p for p in err.value.problems), err.value.problems


def _trailing_commas(text: str) -> str:
    """Every data row (not the header) ends with one more, empty field."""
    header, *rows = text.replace("\r\n", "\n").splitlines(keepends=True)
    return header + "".join(r.rstrip("\n") + ",\n" for r in rows)


@pytest.mark.parametrize("kind,build", [
    ("tidy", lambda r: GOOD_TIDY),
    ("dtoc", lambda r: _head(r, DTOC, 40)),
    ("ascof", lambda r: _ascof(r)),
], ids=["tidy", "dtoc", "ascof"])
def test_data_rows_ending_in_a_comma_are_read_not_a_traceback(kind, build, real_dir, tmp_path):
    """Spreadsheets often end each data row with a comma: the empty last field is ignored (pandas
    took the first column as the row index, and the loader died with a TypeError)."""
    plain, trailing = tmp_path / "plain.csv", tmp_path / "trailing.csv"
    text = build(real_dir).replace("\r\n", "\n")
    trailing.write_text(_trailing_commas(text))
    plain.write_text(text)
    a = ingest(kind, [plain], tmp_path / "a", progress=False)
    b = ingest(kind, [trailing], tmp_path / "b", progress=False)
    assert b.kept == a.kept > 0
    from data.store import load_dataset

    cols = ["indicator_id", "area_code", "period_start", "numerator", "denominator", "value"]
    pd_a, pd_b = load_dataset(tmp_path / "a").observations[cols], load_dataset(tmp_path / "b").observations[cols]
    assert pd_a.equals(pd_b)


def test_xlrd_warnings_stay_off_stdout(real_dir, tmp_path, capfd):
    """An .xls whose size is not a whole number of sectors made xlrd print a WARNING to stdout."""
    xls = tmp_path / "April_16.xls"
    xls.write_bytes((real_dir / "nhse_dtoc_la_monthly_2011_2019/original_samples/April_16.xls").read_bytes() + b"xyz")
    ingest("dtoc", [xls], tmp_path / "ds", progress=False)
    out = capfd.readouterr().out
    assert "WARNING" not in out and out == ""
