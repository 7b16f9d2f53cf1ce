"""One definition, two engines: Spark (local mode) counts exactly what DuckDB counts.

The hand-worked fixture keeps this small: Spark local mode costs about a minute per build here
whatever the input's size (job scheduling, not data), several minutes when the machine is loaded.
The same comparison on 1 million synthetic episodes is `python benchmarks/bench_hes.py --episodes
1000000 --engine duckdb --compare spark`. Needs Java (scripts/test.sh installs
default-jre-headless when absent). The ``spark`` engine is one session for the whole run (tests/conftest.py).
"""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from data.hes.build import count_extract
from tests.test_hes_fixtures import EXPECTED, as_expected, write_fixture

pytestmark = pytest.mark.spark

if shutil.which("java") is None:  # scripts/test.sh installs it; say so rather than skip silently
    raise RuntimeError("Spark tests need Java: run `bash scripts/test.sh` (installs default-jre-headless)")


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
