"""One definition, two engines: Spark (local mode) counts exactly what DuckDB counts.

Small inputs keep this quick: the hand-worked fixture and a 20,000-episode synthetic extract.
The same comparison on 1 million episodes is in benchmarks/bench_hes.py (it takes minutes on
Spark local mode here). Needs Java (scripts/test.sh installs default-jre-headless when absent).
"""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from data.hes import synth
from data.hes.build import count_extract
from data.hes.engines import spark_engine
from tests.test_hes_fixtures import EXPECTED, as_expected, write_fixture

pytestmark = pytest.mark.spark

if shutil.which("java") is None:  # scripts/test.sh installs it; say so rather than skip silently
    raise RuntimeError("Spark tests need Java: run `bash scripts/test.sh` (installs default-jre-headless)")


@pytest.fixture(scope="module")
def spark():
    engine = spark_engine()
    yield engine
    engine.spark.stop()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["indicator_id", "month", "resla", "ccg"], na_position="last").reset_index(drop=True)


def test_fixture_identical_on_spark(spark, tmp_path):
    apc, ae = write_fixture(tmp_path / "fixture")
    duck, duck_summary = count_extract(apc, ae, "duckdb")
    on_spark, spark_summary = count_extract(apc, ae, spark)
    pd.testing.assert_frame_equal(_sorted(duck), _sorted(on_spark), check_dtype=False)
    assert as_expected(on_spark) == EXPECTED
    assert {k: spark_summary[k] for k in ("duplicate_episodes", "invalid_admission_date", "cips")} == \
        {k: duck_summary[k] for k in ("duplicate_episodes", "invalid_admission_date", "cips")}


def test_synthetic_extract_identical_on_spark(spark, tmp_path):
    synth.write(tmp_path / "extract", episodes=20_000, seed=7)
    apc, ae = [tmp_path / "extract" / "apc_*.parquet"], [tmp_path / "extract" / "ae.parquet"]
    duck, _ = count_extract(apc, ae, "duckdb")
    on_spark, _ = count_extract(apc, ae, spark)
    assert len(duck) > 1000
    pd.testing.assert_frame_equal(_sorted(duck), _sorted(on_spark), check_dtype=False)
