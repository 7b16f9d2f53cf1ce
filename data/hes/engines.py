"""The two engines the indicator definitions run on, and how each reads an extract file.

DuckDB (default) runs in-process and spills to disk beyond its memory limit, so a year of
England fits on a laptop. Spark runs the same Ibis expressions in local mode (tests), on a
cluster (a master URL) or in Databricks (pass the notebook's ``spark`` session).
A CSV file is read with all fields as text; a parquet file keeps the types it stores (dates,
integers; dictionary-encoded text reads as text), so fields.py parses text only where it is text.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import ibis

from data.errors import DataError

DUCKDB_MEMORY_LIMIT = os.environ.get("PIONEERS_HES_DUCKDB_MEMORY", "2.5GB")
"""[C] DuckDB's limit; with Python and DuckDB's own overhead a 20M-episode build peaked at 3,503 MiB under
2.5 GB (4,033 MiB under 3 GB, as fast), inside the 4 GB budget with room to spare."""
_names = count()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@dataclass
class Engine:
    """An Ibis connection plus the few things the two back ends do differently."""

    name: str
    con: object
    spark: object = None
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def read(self, path: Path, mapping: dict[str, str | None], kind: str, delimiter: str = ",",
             number: int = 0) -> ibis.Table:
        """One file as a table of columns named canonically (absent optional fields are null text),
        with ``_file`` = the file's ``number`` in reading order (an integer, not its path on every row).
        CSV columns are text; parquet columns keep their stored types (no cast to text and back)."""
        if self.name == "duckdb":
            source = (f"read_parquet({_quote(str(path))})" if kind == "parquet" else
                      f"read_csv({_quote(str(path))}, all_varchar=true, header=true, delim={_quote(delimiter)})")
            cols = [f"{_ident(src)} AS {_ident(name)}" if src else f"CAST(NULL AS VARCHAR) AS {_ident(name)}"
                    for name, src in mapping.items()]
            cols.append(f"CAST({int(number)} AS INTEGER) AS _file")
            return self.con.sql(f"SELECT {', '.join(cols)} FROM {source}")
        from pyspark.sql import functions as F  # imported here: pyspark is optional (the spark extra)

        reader = self.spark.read
        # Databricks: the local-file view /dbfs/... is dbfs:/... to Spark.
        path = f"dbfs:/{str(path)[6:]}" if str(path).startswith("/dbfs/") else str(path)
        df = (reader.parquet(str(path)) if kind == "parquet" else
              reader.option("header", True).option("sep", delimiter).option("quote", '"').option("escape", '"')
              .csv(str(path)))
        df = df.select(*[(F.col(f"`{src}`") if src else F.lit(None).cast("string")).alias(name)
                         for name, src in mapping.items()], F.lit(int(number)).cast("int").alias("_file"))
        view = f"hes_input_{next(_names)}"
        df.createOrReplaceTempView(view)
        return self.con.table(view)

    def materialise(self, expr: ibis.Table, stem: str) -> ibis.Table:
        """Compute ``expr`` once and keep it (a DuckDB temp table, a cached Spark view)."""
        name = f"hes_{stem}_{next(_names)}"
        if self.name == "duckdb":
            return self.con.create_table(name, expr, temp=True)
        df = self.con._session.sql(ibis.to_sql(expr, dialect="pyspark"))
        df.cache()
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def to_pandas(self, expr: ibis.Table):
        return expr.to_pandas()

    def close(self) -> None:
        if self.name == "duckdb":
            self.con.disconnect()
        if self._tmp is not None:
            self._tmp.cleanup()


def duckdb_engine(memory_limit: str = DUCKDB_MEMORY_LIMIT, threads: int | None = None) -> Engine:
    tmp = tempfile.TemporaryDirectory(prefix="pioneers-hes-")
    con = ibis.duckdb.connect()  # in memory; beyond memory_limit it spills to temp_directory
    con.raw_sql(f"SET memory_limit = {_quote(memory_limit)}")
    con.raw_sql(f"SET temp_directory = {_quote(tmp.name)}")
    con.raw_sql("SET preserve_insertion_order = false")
    con.raw_sql(f"SET threads = {int(threads or os.cpu_count() or 2)}")
    return Engine("duckdb", con, _tmp=tmp)


def spark_engine(spark=None, master: str | None = None) -> Engine:
    """Spark: the session given (Databricks: the notebook's ``spark``), or one started at ``master``."""
    if spark is None:
        from pyspark.sql import SparkSession  # imported here: pyspark is optional (the spark extra)

        spark = (SparkSession.builder.master(master or "local[2]").appName("pioneers-hes")
                 .config("spark.sql.shuffle.partitions", os.environ.get("PIONEERS_SPARK_PARTITIONS", "2"))
                 .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                 .config("spark.default.parallelism", "2").config("spark.sql.adaptive.enabled", "true")
                 .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    return Engine("spark", ibis.pyspark.connect(spark), spark=spark)


def engine_for(name: str, spark=None, master: str | None = None) -> Engine:
    if name == "duckdb":
        return duckdb_engine()
    if name == "spark":
        return spark_engine(spark, master)
    raise DataError(f"unknown engine {name!r}; expected 'duckdb' or 'spark'")
