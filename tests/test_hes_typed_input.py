"""HES extracts stored as typed parquet (dates as dates, keys and ages as integers, codes
dictionary-encoded) are read with their types, not cast to text and parsed back: the hand-worked
fixture written that way, alone or beside a CSV file, gives exactly the hand-worked counts, and
a typed value out of range is still refused with its file, row and field. DuckDB here; the last
test runs Spark on the same files."""
from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.errors import DataError
from data.hes.build import count_extract
from tests.test_hes_fixtures import AE, APC_2014, APC_2015, EXPECTED, as_expected

DATES = {"ADMIDATE", "EPISTART", "EPIEND", "DISDATE", "ARRIVALDATE"}
INTEGERS = {"EPIKEY", "EPIORDER", "STARTAGE"}


def _typed_parquet(text: str, path, keys_as_integers: bool = True) -> None:
    """The CSV text as a parquet file with HES-like stored types; blank dates and ages are nulls."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if name in DATES:
            columns[name] = pa.array([None if v == "" else pd.Timestamp(v).date() for v in values], pa.date32())
        elif name in INTEGERS and keys_as_integers:
            columns[name] = pa.array([None if v == "" else int(v) for v in values], pa.int64() if name == "EPIKEY"
                                     else pa.int32())
        else:
            columns[name] = pa.array(list(values), pa.string()).dictionary_encode()
    pq.write_table(pa.table(columns), path)


@pytest.fixture(scope="module")
def typed_counts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hes-typed")
    _typed_parquet(APC_2014, folder / "apc_2014.parquet")
    _typed_parquet(APC_2015, folder / "apc_2015.parquet")
    _typed_parquet(AE, folder / "ae.parquet", keys_as_integers=False)
    return count_extract([folder / "apc_2014.parquet", folder / "apc_2015.parquet"], [folder / "ae.parquet"],
                         "duckdb")


def test_typed_parquet_gives_the_hand_worked_counts(typed_counts):
    counts, summary = typed_counts
    assert as_expected(counts) == EXPECTED
    assert summary["apc_rows"] == 35 and summary["duplicate_episodes"] == 1
    assert summary["invalid_admission_date"] == 1 and summary["cips"] == 31


def test_typed_parquet_beside_a_csv_file(tmp_path):
    """One year as typed parquet, the other as CSV text: parsed per file, stacked, the same counts."""
    _typed_parquet(APC_2014, tmp_path / "apc_2014.parquet")
    (tmp_path / "apc_2015.csv").write_text(APC_2015)
    (tmp_path / "ae.csv").write_text(AE)
    counts, _ = count_extract([tmp_path / "apc_2014.parquet", tmp_path / "apc_2015.csv"], [tmp_path / "ae.csv"],
                              "duckdb")
    assert as_expected(counts) == EXPECTED


@pytest.mark.parametrize("column,value,expected", [
    ("EPIORDER", "100", "expected an episode order 1-99 (got '100')"),
    ("STARTAGE", "150", "expected an age 0-120"),
])
def test_typed_value_out_of_range_is_refused(tmp_path, column, value, expected):
    lines = APC_2014.strip().splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index(column)] = value
    lines[3] = ",".join(cells)
    _typed_parquet("\n".join(lines) + "\n", tmp_path / "apc.parquet")
    with pytest.raises(DataError) as err:
        count_extract([tmp_path / "apc.parquet"], [], "duckdb")
    message = str(err.value)
    assert expected in message and "apc.parquet" in message and column in message and "row 4" in message


@pytest.mark.spark
def test_typed_parquet_beside_a_csv_file_on_spark(spark, tmp_path):
    """Spark reads the same stored types (one definition, two engines): the hand-worked counts."""
    _typed_parquet(APC_2014, tmp_path / "apc_2014.parquet")
    (tmp_path / "apc_2015.csv").write_text(APC_2015)
    _typed_parquet(AE, tmp_path / "ae.parquet", keys_as_integers=False)
    counts, summary = count_extract([tmp_path / "apc_2014.parquet", tmp_path / "apc_2015.csv"],
                                    [tmp_path / "ae.parquet"], spark)
    assert as_expected(counts) == EXPECTED
    assert summary["duplicate_episodes"] == 1 and summary["invalid_admission_date"] == 1 and summary["cips"] == 31
