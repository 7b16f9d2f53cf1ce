"""The HES field names the builder accepts and the code lists its definitions use, as data.

Both live in data/reference (hes_fields.csv, hes_acsc_chronic.csv, hes_acute_no_admit.csv,
hes_readmit_exclusions.csv) with the source and version of every code, so an analyst can check
or change a list without reading code.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from data.reference import REFERENCE_DIR

# The lru_caches below are module-level constants loaded once: the project's own HES definition files
# (package data under data/reference/), which change only with the code; no cache policy applies.

SECONDARY_DIAGNOSES = [f"diag_{i:02d}" for i in range(2, 21)]

# Admission methods (NHS Data Dictionary "admission method"): the domain the checks accept.
ADMISSION_METHODS = ("11", "12", "13", "21", "22", "23", "24", "25", "26", "27", "28", "2A", "2B", "2C", "2D",
                     "31", "32", "81", "82", "83", "84", "89", "98", "99")
EMERGENCY_METHODS = ("21", "22", "23", "24", "25", "26", "27", "28", "2A", "2B", "2C", "2D")
SEXES = ("0", "1", "2", "9")
PATIENT_CLASSES = ("1", "2", "3", "4", "5", "8", "9")
DISCHARGE_METHODS = ("1", "2", "3", "4", "5", "8", "9")

# Continuous inpatient spells (the HES CIPS convention, as this project applies it; docs/hes.md):
# a provider spell continues the patient's previous one when it starts 0-2 days after that one's
# discharge and the move is a transfer on either side.
TRANSFER_DESTINATIONS = ("49", "50", "51", "52", "53", "84", "87")
TRANSFER_SOURCES = ("49", "50", "51", "52", "53", "87")
TRANSFER_METHODS = ("81", "2B")
CIPS_MAX_GAP_DAYS = 2

# HES stores unknown or invalid dates as these placeholders: they are treated as missing.
PLACEHOLDER_DATES = ("1800-01-01", "1801-01-01", "1600-01-01", "1582-10-15")

READMISSION_DAYS = 30  # 0-29 days inclusive after the previous discharge


@dataclass(frozen=True)
class Field:
    name: str
    extract: str
    required: bool
    accepted: tuple[str, ...]
    domain: str


@lru_cache(maxsize=1)
def fields() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "hes_fields.csv", dtype=str, keep_default_na=False)


def _expand(names: str) -> list[str]:
    """'DIAG_4_02..DIAG_4_20' -> the 19 names; other entries as they are."""
    out = []
    for part in names.split(";"):
        if ".." in part:
            first, last = part.split("..")
            stem = first.rstrip("0123456789")
            lo, hi = int(first[len(stem):]), int(last[len(stem):])
            out += [f"{stem}{i:02d}" for i in range(lo, hi + 1)]
        elif part:
            out.append(part)
    return out


@lru_cache(maxsize=2)
def field_specs(extract: str) -> tuple[Field, ...]:
    """The fields of one extract ('apc' or 'ae'), secondary diagnoses expanded one per field."""
    specs = []
    for row in fields()[lambda f: f["extract"] == extract].itertuples(index=False):
        if row.field == "diag_02..diag_20":
            groups = [_expand(n) for n in row.accepted_names.split(";")]
            for i, name in enumerate(SECONDARY_DIAGNOSES):
                specs.append(Field(name, extract, False, tuple(g[i] for g in groups), row.domain))
        else:
            specs.append(Field(row.field, extract, row.required == "yes", tuple(_expand(row.accepted_names)),
                               row.domain))
    return tuple(specs)


@dataclass(frozen=True)
class CodeList:
    """Primary-diagnosis codes of one indicator: 3- and 4-character prefixes, and codes with a rule."""

    indicator_id: str
    codes3: tuple[str, ...]
    codes4: tuple[str, ...]
    with_secondary: tuple[tuple[str, tuple[str, ...]], ...]
    """(code, secondary codes one of which must also be recorded), e.g. J20 only with COPD."""
    conditions_without_codes: tuple[str, ...]


@lru_cache(maxsize=4)
def code_list(indicator_id: str) -> CodeList:
    file = {"acsc_chronic": "hes_acsc_chronic.csv", "acute_no_admit": "hes_acute_no_admit.csv"}[indicator_id]
    table = pd.read_csv(REFERENCE_DIR / file, dtype=str, keep_default_na=False)
    plain = table[(table["code"] != "") & (table["rule"] == "")]["code"]
    ruled = table[(table["code"] != "") & (table["rule"] != "")]
    with_secondary = tuple((r.code, tuple(r.rule.removeprefix("secondary:").split("|")))
                           for r in ruled.itertuples(index=False))
    return CodeList(indicator_id, tuple(sorted({c for c in plain if len(c) == 3})),
                    tuple(sorted({c for c in plain if len(c) == 4})), with_secondary,
                    tuple(sorted(set(table.loc[table["code"] == "", "condition"]))))


@dataclass(frozen=True)
class ReadmissionExclusions:
    diagnosis_prefixes: tuple[str, ...]   # any diagnosis: cancer, neoplasms of uncertain behaviour, chemotherapy
    maternity_prefixes: tuple[str, ...]   # primary diagnosis of the index spell
    specialties: tuple[str, ...]          # main or treatment specialty of any episode: obstetric, mental health
    excluded_classes: tuple[str, ...]     # day cases, regular attenders (index spell)
    death_methods: tuple[str, ...]
    lookback_days: int                    # a cancer spell this many days before the admission excludes it too


@lru_cache(maxsize=1)
def readmission_exclusions() -> ReadmissionExclusions:
    t = pd.read_csv(REFERENCE_DIR / "hes_readmit_exclusions.csv", dtype=str, keep_default_na=False)

    def codes(field: str) -> tuple[str, ...]:
        return tuple(t.loc[t["field"] == field, "code"])

    lookback = codes("lookback_days")
    return ReadmissionExclusions(codes("diagnosis_any"), codes("diag_01"), codes("specialty"), codes("classpat"),
                                 codes("dismeth"), int(lookback[0]) if lookback else 0)
