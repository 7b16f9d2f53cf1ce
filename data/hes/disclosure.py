"""Disclosure control for figures from record-level HES: what the dashboard shows and exports.

Rule (NHS Digital, Hospital Episode Statistics Analysis Guide, "small numbers"): counts of 1 to 7
are suppressed; every other count is rounded to the nearest 5 (0 stays 0). Rates and
percentages are recomputed from the controlled counts; population denominators are not counts of
patients and are left as they are, but a proportion's denominator (discharges) is controlled too.

The dataset keeps the exact counts (the builder's internal, unsuppressed table). The one choke
point is ``controlled``: data.active applies it to the dataset the dashboard serves, so every
page, chart, table, CSV download, workbook and the anonymised mode sees controlled figures only,
and ``Dataset.notice`` (repeated on every page and export) says so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from data.store import Dataset

SOURCE = "record-level HES extract"
RULE = "counts of 1 to 7 suppressed, other counts rounded to the nearest 5 (HES Analysis Guide)"
NOTICE = f"Figures from record-level HES are disclosure-controlled: {RULE}"


def control_counts(counts: pd.Series) -> pd.Series:
    """1-7 -> missing; others to the nearest 5 (halves up); 0 and missing unchanged."""
    x = pd.to_numeric(counts, errors="coerce").astype(float)
    rounded = np.floor(x / 5 + 0.5) * 5
    return rounded.where(~x.between(1, 7), np.nan).where(x.notna(), np.nan).where(x != 0, 0.0)


def is_record_level(observations: pd.DataFrame) -> pd.Series:
    return observations["source"].astype(str).str.contains(SOURCE, regex=False)  # "generated:" prefix too


def controlled_observations(observations: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    """The observations with every record-level row disclosure-controlled and flagged where suppressed."""
    rows = is_record_level(observations)
    if not rows.any():
        return observations
    obs = observations.copy()
    cat = catalogue.set_index("indicator_id")
    sub = obs.loc[rows]
    proportion = sub["indicator_id"].map(cat["value_type"]).eq("proportion")
    numerator = control_counts(sub["numerator"])
    denominator = sub["denominator"].astype(float).where(~proportion, control_counts(sub["denominator"]))
    suppressed = (numerator.isna() & sub["numerator"].notna()) | (denominator.isna() & sub["denominator"].notna())
    numerator = numerator.where(~suppressed, np.nan)
    mult = sub["indicator_id"].map(cat["multiplier"]).astype(float)
    value = numerator / denominator.where(denominator > 0) * mult
    flag = sub["flag"].fillna("").astype(str)
    flag = flag.where(~suppressed, np.where(flag == "", "suppressed", flag + ";suppressed"))
    obs.loc[rows, "numerator"] = numerator.to_numpy()
    obs.loc[rows, "denominator"] = denominator.to_numpy()
    obs.loc[rows, "value"] = value.to_numpy()
    obs.loc[rows, "ci_low"] = np.nan
    obs.loc[rows, "ci_high"] = np.nan
    obs.loc[rows, "flag"] = flag.to_numpy()
    return obs


class ControlledDataset(Dataset):
    """A dataset whose record-level figures are disclosure-controlled, and whose notice says so."""

    disclosure_controlled = True

    @property
    def notice(self) -> str:
        return f"{super().notice}. {NOTICE}"


def controlled(dataset: Dataset) -> Dataset:
    """The dataset as it may be shown: unchanged unless it holds record-level HES rows."""
    obs = dataset.tables.get("observations")
    if obs is None or not is_record_level(obs).any():
        return dataset
    tables = dict(dataset.tables)
    tables["observations"] = controlled_observations(obs, dataset.tables["catalogue"])
    # Its own identity in the results caches: nothing computed on the exact counts is served.
    manifest = {**dataset.manifest, "dataset_checksum": f"{dataset.manifest['dataset_checksum']}-sdc"}
    return ControlledDataset(path=dataset.path, manifest=manifest, tables=tables)
