"""Record-level Hospital Episode Statistics: from episode extracts to the dashboard's observations.

One definition of each indicator, written as Ibis expressions, runs on DuckDB (in-process,
out-of-core: the default) or on Spark (local mode in the tests; a cluster or Databricks when
given a session). docs/hes.md is the reference for analysts.

- ``codes``: the field names accepted (and their renamings) and the ICD-10 code lists, read from
  data/reference/hes_*.csv;
- ``engines``: the two back ends and how each reads CSV or parquet files;
- ``fields``: header mapping, checking and parsing of episodes (bad input -> one DataError);
- ``spells``: episodes -> provider spells -> continuous inpatient spells (CIPS);
- ``indicators``: the counts by month and area of residence;
- ``build``: orchestration, denominators, the observation rows, ingest;
- ``synth``: a generated HES-like extract whose true counts are known;
- ``disclosure``: the HES small-number rules applied wherever figures are shown.
"""
