"""Ingest semantics: create, idempotent re-ingest, newer vintages, and the real dataset."""
from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from data.ingest import ingest
from data.store import load_dataset

TIDY = ("indicator_id,area_code,period,numerator,denominator\n"
        + "".join(f"ea_all,E0600000{i},2014/15 Q{q},{100 * i + q},{90000 + i}\n" for i in range(1, 6) for q in range(1, 5)))


def _hashes(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_create_reingest_and_newer_vintage(tmp_path):
    first = tmp_path / "v1.csv"
    first.write_text(TIDY)
    into = tmp_path / "ds"
    s1 = ingest("tidy", [first], into, progress=False)
    assert s1.created and s1.kept == 20 and s1.added == 20
    ds = load_dataset(into)
    assert ds.label == "real" and len(ds.areas) == 152 and len(ds.sites) == 25
    o = ds.observations
    row = o[(o["area_code"] == "E06000002") & (o["period_start"] == pd.Timestamp("2014-07-01"))].iloc[0]
    assert (row["numerator"], row["denominator"]) == (202, 90002)
    assert row["value"] == pytest.approx(202 / 90002 * 1e5)

    before = _hashes(into)
    s2 = ingest("tidy", [first], into, progress=False)
    assert not s2.written and s2.unchanged == 20 and s2.changed == 0 and s2.added == 0
    assert _hashes(into) == before

    newer = tmp_path / "v2.csv"
    newer.write_text(TIDY.replace(",101,", ",111,").replace(",203,", ",213,").replace(",304,", ",314,")
                     + "ea_all,E06000009,2014/15 Q1,5,1000\n")
    s3 = ingest("tidy", [newer], into, progress=False)
    assert (s3.changed, s3.added, s3.unchanged) == (3, 1, 17)
    obs = load_dataset(into).observations
    assert len(obs) == 21
    hit = obs[(obs["area_code"] == "E06000001") & (obs["period_start"] == pd.Timestamp("2014-04-01"))]
    assert hit["numerator"].iloc[0] == 111
    manifest = json.loads((into / "manifest.json").read_text())
    assert [s["file"] for s in manifest["sources"]] == ["v1.csv", "v2.csv"]
    assert "3 changed" in s3.text()


def test_summary_per_indicator_period_range(real_dir, tmp_path):
    path = real_dir / "nhsd_ascof_csv_2017_2024" / "trend_data.csv"
    summary = ingest("ascof", [path], tmp_path / "ds", progress=False)
    per = summary.per_indicator.set_index("indicator_id")
    assert per.loc["care_home_65", "first_period"] == "2017/18"
    assert per.loc["care_home_65", "last_period"] == "2023/24"
    assert summary.rows_read == 26_498
    assert summary.kept + summary.rejected == summary.rows_read
    assert summary.flagged == summary.kept  # every ASCOF row is rate_only


@pytest.fixture(scope="module")
def real_dataset(real_built):
    """The run's one build of the real dataset (tests/conftest.py), read here, never written."""
    return real_built


def test_the_real_files_are_found_where_build_real_looks_by_default(real_dir):
    """The run's build names ../shared/data/real; `pioneers build-real` without --shared finds the same files."""
    from data.real import source_paths

    assert {k: p.resolve() for k, p in source_paths().items()} == \
        {k: p.resolve() for k, p in source_paths(real_dir).items()}


def test_real_dataset_coverage(real_dataset):
    from data.real import real_coverage

    assert real_dataset.label == "real"
    cov = real_coverage(real_dataset).set_index("indicator_id")
    assert cov.loc["dtoc", "first_period"] == "Apr 2011" and cov.loc["dtoc", "last_period"] == "Dec 2019"
    assert cov.loc["dtoc", "n_areas"] == 151  # Isles of Scilly is not in the DTOC returns
    assert cov.loc["care_home_65", "first_period"] == "2017/18"
    assert cov.loc["falls_65", "first_period"] == "2010/11" and cov.loc["falls_65", "last_period"] == "2017/18"
    assert cov.loc["diupr_65", "has_real_data"] and not cov.loc["ea_65", "has_real_data"]
    # ea_all from the MAR: LAs apportioned from CCGs, at the catalogue's quarters
    assert cov.loc["ea_all", "first_period"] == "2012/13 Q1" and cov.loc["ea_all", "last_period"] == "2019/20 Q3"
    assert cov.loc["ea_all", "n_areas"] == 152
    kinds = {s["kind"] for s in real_dataset.manifest["sources"]}
    assert {"dtoc", "ascof", "fingertips", "reference", "mar"} <= kinds
    assert all(len(s["sha256"]) == 64 for s in real_dataset.manifest["sources"])


def test_real_dataset_covariates(real_dataset):
    areas = real_dataset.areas.set_index("area_code")
    assert areas["population"].notna().all() and areas["deprivation"].notna().all()
    assert areas.at["E08000035", "population"] == pytest.approx(761_481, rel=0.02)  # Leeds mid-2012
    # IMD 2019: Blackpool is the most deprived district, Hart (in Hampshire) the least.
    assert areas["deprivation"].idxmax() in ("E06000009",)
    assert areas.at["E10000014", "deprivation"] < areas["deprivation"].median()
    assert (areas["density"] == areas["population"] / areas["area_km2"]).all()


def test_real_dataset_loads_in_the_app_contract(real_dataset):
    from data.summary import dataset_summary

    summary = dataset_summary(real_dataset.path)
    assert summary["n_areas"] == 152 and summary["n_indicators"] == 12
    obs = real_dataset.observations
    assert set(obs["frequency"]) == {"month", "quarter", "year"}
    assert pd.api.types.is_datetime64_any_dtype(obs["period_start"])
