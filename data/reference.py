"""Reference data read from the editable CSV files in data/reference/.

Public facts (LA codes, names, types, regions) and the project's choices (site footprints,
start dates, exclusions, the indicator catalogue) live in files an analyst can edit. Every
read is validated and a bad edit is reported with file, row and column.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from data.errors import DataError

REFERENCE_DIR = Path(__file__).with_name("reference")
ENGLAND_CODE = "E92000001"
POLARITIES = ("lower", "higher", "none")
VALUE_TYPES = ("rate", "proportion", "dsr")
CI_METHODS = ("byar", "wilson", "dobson")


def _read(name: str, required: list[str], directory: Path | None = None) -> pd.DataFrame:
    path = (directory or REFERENCE_DIR) / name
    if not path.exists():
        raise DataError("reference file is missing", file=str(path))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; expected {required}", file=str(path))
    for col in required:
        blank = frame.index[frame[col].str.strip() == ""]
        if len(blank) and col not in _OPTIONAL.get(name, ()):
            raise DataError("value is blank", file=str(path), row=int(blank[0]) + 2, column=col)
    return frame


_OPTIONAL = {
    "sites.csv": ("start", "transition_start", "transition_end"),
    "site_areas.csv": ("note",),
    "site_ccgs.csv": ("note",),
    "indicators.csv": ("fingertips_id", "ascof_code", "caveats", "denominator_population"),
}


def _check_in(frame: pd.DataFrame, column: str, allowed, file: str) -> None:
    bad = frame.index[~frame[column].isin(allowed)]
    if len(bad):
        raise DataError(f"{frame.at[bad[0], column]!r} is not one of {sorted(allowed)}",
                        file=file, row=int(bad[0]) + 2, column=column)


def _dates(frame: pd.DataFrame, columns: list[str], file: str) -> pd.DataFrame:
    for col in columns:
        parsed = pd.to_datetime(frame[col].replace("", None), format="%Y-%m-%d", errors="coerce")
        bad = frame.index[(frame[col] != "") & parsed.isna()]
        if len(bad):
            raise DataError(f"{frame.at[bad[0], col]!r} is not a date (expected YYYY-MM-DD)",
                            file=file, row=int(bad[0]) + 2, column=col)
        frame[col] = parsed
    return frame


@dataclass(frozen=True)
class Reference:
    """All reference tables, validated against each other."""

    areas: pd.DataFrame
    sites: pd.DataFrame
    site_areas: pd.DataFrame
    exclusions: pd.DataFrame
    catalogue: pd.DataFrame
    waves: pd.DataFrame
    site_ccgs: pd.DataFrame | None = None
    """site_id, ccg_code (2013/14 CCG), coverage, basis, note: the sites on the CCG geography."""

    def site_ids(self) -> list[str]:
        return self.sites["site_id"].tolist()

    def indicator_ids(self) -> list[str]:
        return self.catalogue["indicator_id"].tolist()

    def pioneer_area_codes(self) -> set[str]:
        return set(self.site_areas["area_code"])

    def comparator_pool(self) -> list[str]:
        """LAs in no Pioneer (whole or part), minus the configured exclusions."""
        excluded = self.pioneer_area_codes() | set(self.exclusions["area_code"])
        return sorted(set(self.areas["area_code"]) - excluded)


def load_reference(directory: Path | None = None) -> Reference:
    d = directory or REFERENCE_DIR
    areas = _read("areas.csv", ["area_code", "name", "type", "region", "nhs_la_code", "area_km2"], d)
    areas["area_km2"] = pd.to_numeric(areas["area_km2"], errors="raise")
    if areas["area_code"].duplicated().any():
        dup = areas.index[areas["area_code"].duplicated()][0]
        raise DataError("duplicate area code", file=str(d / "areas.csv"), row=int(dup) + 2, column="area_code")

    waves = _dates(_read("waves.csv", ["wave", "announced", "start", "transition_start", "transition_end"], d),
                   ["announced", "start", "transition_start", "transition_end"], str(d / "waves.csv"))
    waves["wave"] = waves["wave"].astype(int)

    sites = _read("sites.csv", ["site_id", "name", "wave", "start", "transition_start", "transition_end"], d)
    _check_in(sites, "wave", {str(w) for w in waves["wave"]}, str(d / "sites.csv"))
    sites["wave"] = sites["wave"].astype(int)
    sites = _dates(sites, ["start", "transition_start", "transition_end"], str(d / "sites.csv"))
    # A blank start or transition means the wave's default; a value is a per-site override.
    by_wave = waves.set_index("wave")
    for col in ("start", "transition_start", "transition_end"):
        sites[col] = sites[col].fillna(sites["wave"].map(by_wave[col]))
    labels = _read("anonymous_labels.csv", ["site_id", "label"], d)
    sites = sites.merge(labels, on="site_id", how="left", validate="one_to_one").rename(columns={"label": "anon_label"})
    if sites["anon_label"].isna().any() or labels["label"].duplicated().any():
        raise DataError("every site needs exactly one unique anonymous label",
                        file=str(d / "anonymous_labels.csv"), column="label")

    site_areas = _read("site_areas.csv", ["site_id", "area_code", "coverage", "population_share", "basis", "note"], d)
    f = str(d / "site_areas.csv")
    _check_in(site_areas, "site_id", set(sites["site_id"]), f)
    _check_in(site_areas, "area_code", set(areas["area_code"]), f)
    _check_in(site_areas, "coverage", {"whole", "part"}, f)
    site_areas["population_share"] = pd.to_numeric(site_areas["population_share"])

    exclusions = _read("comparator_exclusions.csv", ["area_code", "reason"], d)
    _check_in(exclusions, "area_code", set(areas["area_code"]), str(d / "comparator_exclusions.csv"))

    cat = _read("indicators.csv", ["indicator_id", "name", "short_name", "definition", "numerator", "denominator",
                                   "denominator_population", "multiplier", "unit", "polarity", "frequency",
                                   "value_type", "ci_method", "source", "fingertips_id", "ascof_code", "caveats"], d)
    f = str(d / "indicators.csv")
    _check_in(cat, "polarity", set(POLARITIES), f)
    _check_in(cat, "frequency", {"month", "quarter", "year"}, f)
    _check_in(cat, "value_type", set(VALUE_TYPES), f)
    _check_in(cat, "ci_method", set(CI_METHODS), f)
    cat["multiplier"] = pd.to_numeric(cat["multiplier"])
    site_ccgs = _site_ccgs(d, set(sites["site_id"])) if (d / "site_ccgs.csv").exists() else None
    return Reference(areas=areas, sites=sites, site_areas=site_areas, exclusions=exclusions,
                     catalogue=cat, waves=waves, site_ccgs=site_ccgs)


def _site_ccgs(d: Path, site_ids: set[str]) -> pd.DataFrame:
    """site_ccgs.csv checked against the sites and the 2013/14 CCGs of ccgs.csv."""
    from data.ccg import read_ccgs  # here, not at the top: data.ccg imports this module

    f = str(d / "site_ccgs.csv")
    frame = _read("site_ccgs.csv", ["site_id", "ccg_code", "coverage", "basis", "note"], d)
    _check_in(frame, "site_id", site_ids, f)
    ccgs = read_ccgs(d / "ccgs.csv")
    _check_in(frame, "ccg_code", set(ccgs.loc[ccgs["vintage"] == "2013/14", "ccg_code"]), f)
    _check_in(frame, "coverage", {"whole", "part"}, f)
    _check_in(frame, "basis", {"S", "C"}, f)
    dup = frame.index[frame.duplicated(["site_id", "ccg_code"])]
    if len(dup):
        raise DataError("the same site and CCG twice", file=f, row=int(dup[0]) + 2, column="ccg_code")
    missing = sorted(site_ids - set(frame["site_id"]))
    if missing:
        raise DataError(f"site(s) {missing} have no CCG", file=f, column="site_id")
    return frame


# A module-level constant loaded once per process: the project's own reference files (package data),
# which change only with the code; no dataset or published file feeds it, so no cache policy applies.
# Every builder and ingest uses it unless given another directory's Reference; an edit to the files
# takes effect in the next command (each CLI command is a process of its own).
@lru_cache(maxsize=1)
def default_reference() -> Reference:
    return load_reference()
