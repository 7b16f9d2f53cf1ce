"""What a dataset holds: label, sources, coverage per indicator. Shared by `pioneers info` and /data."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.periods import period_label
from data.reference import ENGLAND_CODE
from data.store import Dataset, load_dataset


def coverage(dataset: Dataset) -> pd.DataFrame:
    """One row per indicator: frequency, first and last period with data, areas with data."""
    obs = dataset.observations
    areas = obs[(obs["area_code"] != ENGLAND_CODE) & obs["value"].notna()]
    cat = dataset.catalogue.set_index("indicator_id")
    rows = []
    for ind in cat.index:
        own = areas[areas["indicator_id"] == ind]
        freq = cat.at[ind, "frequency"]
        if own.empty:
            rows.append({"indicator_id": ind, "name": cat.at[ind, "name"], "frequency": freq,
                         "first_period": None, "last_period": None, "n_periods": 0, "n_areas": 0})
            continue
        first, last = own["period_start"].min(), own["period_start"].max()
        rows.append({"indicator_id": ind, "name": cat.at[ind, "name"], "frequency": freq,
                     "first_period": period_label(first, freq), "last_period": period_label(last, freq),
                     "first_period_start": first.date().isoformat(), "last_period_start": last.date().isoformat(),
                     "n_periods": int(own["period_start"].nunique()), "n_areas": int(own["area_code"].nunique())})
    return pd.DataFrame(rows)


def dataset_summary(path: Path | str) -> dict:
    ds = load_dataset(path)
    cov = coverage(ds)
    return {
        "path": str(ds.path),
        "label": ds.label,
        "notice": ds.manifest.get("notice", ""),
        "checksum": ds.checksum,
        "created": ds.manifest.get("created"),
        "sources": ds.manifest.get("sources", []),
        "n_areas": int(len(ds.areas)),
        "n_sites": int(len(ds.sites)),
        "n_indicators": int(len(ds.catalogue)),
        "n_observations": int(len(ds.observations)),
        "indicators": cov.where(cov.notna(), None).to_dict(orient="records"),
    }
