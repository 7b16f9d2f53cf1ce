"""The Databricks notebook cell in docs/hes.md runs as written: the test takes the cell from the doc,
swaps only its /dbfs paths for a small generated extract's, and runs it on a local Spark session
(standing in for the notebook's ``spark``). Its counts must equal DuckDB's on the same files.

Kept cheap: a few thousand synthetic episodes, the cell pointed at two years' files of the extract (each
file is read and parsed on its own, so ten years made this the suite's longest test); the Spark session is
the run's one (tests/conftest.py).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from data.hes import synth
from data.hes.build import count_extract
from tests.test_hes_spark import _sorted

pytestmark = pytest.mark.spark

DOC = Path(__file__).resolve().parents[1] / "docs" / "hes.md"


def notebook_cell() -> str:
    """The python block under '### In a Databricks notebook', without its %pip line (a notebook magic)."""
    text = DOC.read_text()
    section = text[text.index("### In a Databricks notebook"):]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "docs/hes.md: the Databricks section has no python block"
    return "\n".join(line for line in block.group(1).splitlines() if not line.startswith("%"))


def test_the_documented_notebook_cell_runs_on_spark(spark, tmp_path):
    extract = tmp_path / "extract"
    synth.write(extract, episodes=3_000, seed=7)
    out = tmp_path / "pioneers" / "hes.parquet"
    cell = notebook_cell()
    apc = f"{extract}/apc_201[89].parquet"  # two of the ten years
    assert len(list(extract.glob("apc_201[89].parquet"))) == 2
    paths = {"/dbfs/mnt/hes/apc_201*.parquet": apc,
             "/dbfs/mnt/hes/ae_201*.parquet": f"{extract}/ae*.parquet",
             "/dbfs/tmp/pioneers/hes.parquet": str(out),
             "/dbfs/mnt/reference/population.csv": str(extract / "population.csv")}
    for doc_path, local in paths.items():
        assert doc_path in cell, f"docs/hes.md no longer shows {doc_path}: update this test with the doc"
        cell = cell.replace(doc_path, local)
    shown = []
    namespace = {"spark": spark.spark, "display": shown.append}  # what a Databricks notebook provides
    exec(compile(cell, str(DOC), "exec"), namespace)  # noqa: S102 - the doc's own code, on test paths

    result = namespace["result"]
    assert result.engine == "spark" and out.exists()
    assert len(shown) == 1 and shown[0] is result.counts
    duck, _ = count_extract([apc], [f"{extract}/ae*.parquet"], "duckdb")
    pd.testing.assert_frame_equal(_sorted(result.counts), _sorted(duck), check_dtype=False)
    written = pd.read_parquet(out)
    assert set(written["indicator_id"]) == {"ea_all", "ea_65", "acsc_chronic", "acute_no_admit", "readmit_30",
                                            "ae_attend"}
    assert spark.spark.sparkContext._jsc is not None  # the notebook's session is left running
