"""The dataset's tables and their columns: the contract every loader and reader shares.

A dataset is a directory of parquet files plus manifest.json; docs/data-format.md describes it
for other tools. Bump SCHEMA_VERSION when a column changes meaning.
"""
from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

FLAGS = ("", "missing", "suppressed", "provisional", "estimated", "rate_only", "approximate_denominator",
         "fractional", "apportioned_from_ccgs", "bridged_from_pcts")
"""Observation flags. Several may apply, joined by ';' (e.g. "estimated;approximate_denominator").

``fractional``: a count published with a fraction (kept as published). ``apportioned_from_ccgs``:
an LA count made by spreading CCG counts by population shares. ``bridged_from_pcts``: a 2012/13
count spread from PCTs to CCGs by postcode shares."""

OBSERVATIONS = pa.schema([
    ("indicator_id", pa.string()),
    ("area_code", pa.string()),
    ("period_start", pa.date32()),
    ("frequency", pa.string()),
    ("numerator", pa.float64()),
    ("denominator", pa.float64()),
    ("value", pa.float64()),
    ("ci_low", pa.float64()),
    ("ci_high", pa.float64()),
    ("flag", pa.string()),
    ("source", pa.string()),
])

AREAS = pa.schema([
    ("area_code", pa.string()),
    ("name", pa.string()),
    ("type", pa.string()),
    ("region", pa.string()),
    ("nhs_la_code", pa.string()),
    ("area_km2", pa.float64()),
    ("population", pa.float64()),      # baseline (mid-2012) all ages
    ("share_65", pa.float64()),        # baseline share aged 65+
    ("deprivation", pa.float64()),     # IMD average score (higher = more deprived)
    ("density", pa.float64()),         # persons per km2 at baseline
])

POPULATION = pa.schema([
    ("area_code", pa.string()),
    ("year", pa.int32()),              # mid-year estimate, calendar year
    ("age_group", pa.string()),        # "all", "18+", "65+"
    ("population", pa.float64()),
    ("flag", pa.string()),
])

SITES = pa.schema([
    ("site_id", pa.string()),
    ("name", pa.string()),
    ("wave", pa.int32()),
    ("start", pa.date32()),
    ("transition_start", pa.date32()),
    ("transition_end", pa.date32()),
    ("anon_label", pa.string()),
])

SITE_AREAS = pa.schema([
    ("site_id", pa.string()),
    ("area_code", pa.string()),
    ("coverage", pa.string()),
    ("population_share", pa.float64()),
    ("basis", pa.string()),
    ("note", pa.string()),
])

CATALOGUE = pa.schema([
    ("indicator_id", pa.string()), ("name", pa.string()), ("short_name", pa.string()),
    ("definition", pa.string()), ("numerator", pa.string()), ("denominator", pa.string()),
    ("denominator_population", pa.string()), ("multiplier", pa.float64()), ("unit", pa.string()),
    ("polarity", pa.string()), ("frequency", pa.string()), ("value_type", pa.string()),
    ("ci_method", pa.string()), ("source", pa.string()), ("fingertips_id", pa.string()),
    ("ascof_code", pa.string()), ("caveats", pa.string()),
])

EXCLUSIONS = pa.schema([("area_code", pa.string()), ("reason", pa.string())])

TRUTH = pa.schema([
    ("site_id", pa.string()),
    ("indicator_id", pa.string()),
    ("effect_pct", pa.float64()),           # planted change to the site population's expected rate
    ("effect_pct_la_basis", pa.float64()),  # the same change as LA-level data can show it (diluted by part LAs)
    ("effect_pct_ccg_basis", pa.float64()),  # as CCG units show it (ea_all only; diluted by part units)
])

TABLES: dict[str, pa.Schema] = {
    "observations": OBSERVATIONS,
    "areas": AREAS,
    "population": POPULATION,
    "sites": SITES,
    "site_areas": SITE_AREAS,
    "catalogue": CATALOGUE,
    "exclusions": EXCLUSIONS,
}
OPTIONAL_TABLES: dict[str, pa.Schema] = {"truth": TRUTH}
"""`truth` exists only in demo datasets: the planted effects estimators are tested against."""
