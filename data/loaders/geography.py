"""Which area a row belongs to: ONS codes, NHS 3-digit council codes, publishers' names.

The dataset keeps the 152 councils of 2013-2019. Councils created later (BCP and Dorset UA in
Apr 2019, and the later unitaries) are handled by the policy in
data/reference/reorganisations.csv: "cutoff" drops their rows (counted in the summary), so the
predecessors' series end where the old councils ended.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from data.errors import DataError
from data.loaders.reading import Problems
from data.reference import ENGLAND_CODE, REFERENCE_DIR, Reference

REORGANISATIONS = REFERENCE_DIR / "reorganisations.csv"
POLICIES = ("cutoff",)


def reorganisations() -> pd.DataFrame:
    frame = pd.read_csv(REORGANISATIONS, dtype=str, keep_default_na=False)
    bad = frame.index[~frame["policy"].isin(POLICIES)]
    if len(bad):
        raise DataError(f"policy {frame.at[bad[0], 'policy']!r} is not one of {POLICIES}",
                        file=str(REORGANISATIONS), row=int(bad[0]) + 2, column="policy")
    return frame


def name_key(name: str) -> str:
    """A publisher-independent key for a council name ("Stockton On Tees UA" = "Stockton-on-Tees")."""
    text = str(name).lower().replace("&", " and ")
    text = re.sub(r"\b(ua|council|county|city of|towns|the|metropolitan borough|borough)\b", " ", text)
    return re.sub(r"[^a-z]", "", text)


_NAME_ALIASES = {
    "durham": "E06000047", "countydurham": "E06000047", "bristol": "E06000023", "herefordshire": "E06000019",
    "telfordandwrekin": "E06000020", "kingstonuponhull": "E06000010", "hull": "E06000010",
    "london": "E09000001", "medway": "E06000035", "southend": "E06000033", "nottingham": "E06000018",
}


def name_lookup(reference: Reference) -> dict[str, str]:
    lookup = {name_key(n): c for n, c in zip(reference.areas["name"], reference.areas["area_code"])}
    for key, code in _NAME_ALIASES.items():
        lookup.setdefault(key, code)
    return lookup


def resolve(codes: pd.Series, rows: np.ndarray, file: str, column: str, reference: Reference,
            problems: Problems, skipped: Counter, *, keep_regions: bool = False,
            skip_prefixes: tuple[str, ...] = ()) -> pd.Series:
    """Area codes to keep (NaN for rows to drop); unknown codes are problems, successors are skipped."""
    known = set(reference.areas["area_code"]) | {ENGLAND_CODE}
    successors = reorganisations().set_index("area_code")
    codes = codes.fillna("").str.strip()
    out = codes.where(codes.isin(known))
    if keep_regions:
        regions = codes.str.match(r"^E12\d{6}$")
        out = out.where(~regions, codes)
    succ = codes.isin(successors.index)
    for code, n in codes[succ].value_counts().items():
        skipped[f"{code} {successors.at[code, 'name']}: council created {successors.at[code, 'from']}, "
                f"outside the 2013-2019 set (policy {successors.at[code, 'policy']})"] += int(n)
    other = codes.str.startswith(skip_prefixes) if skip_prefixes else pd.Series(False, index=codes.index)
    for prefix in skip_prefixes:
        n = int(codes.str.startswith(prefix).sum())
        if n:
            skipped[f"area codes {prefix}*: not an upper-tier council"] += n
    unknown = out.isna() & ~succ & ~other
    if unknown.any():
        problems.add_rows(file, rows[unknown.to_numpy()], column,
                          "unknown area code (expected an ONS code of one of the 152 upper-tier councils of "
                          "2013-2019 in data/reference/areas.csv, or E92000001 for England)", codes[unknown])
    return out
