"""Synth -> build -> ingest -> estimates: the builder counts exactly what the generator made, and the
planted effects are recovered with the demo's criteria (tests/test_estimates.py): the 95% placebo
interval holds the LA-basis truth in at least 90% of planted cells, and at most 10% of zero-effect
cells have p < 0.05. The extract is a sample (200,000 episodes, about 0.13% of the demo world's
population), so single estimates are noisy; the intervals say so.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from cli import main
from data.hes.build import build
from data.store import load_dataset
from analysis.estimates import estimates_table
from tests.test_estimates import truth_vs_estimate

EPISODES = 200_000
HES = ["ea_all", "ea_65", "acsc_chronic", "acute_no_admit", "readmit_30", "ae_attend"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hes-e2e")
    extract, data = root / "extract", root / "data"
    assert main(["hes", "synth", "--episodes", str(EPISODES), "--out", str(extract), "--seed", "2013"]) == 0
    result = build([extract / "apc_*.parquet"], root / "hes.parquet", ae=[extract / "ae.parquet"], into=data,
                   population=extract / "population.csv")
    return extract, data, result


def test_builder_counts_equal_the_generated_truth(built):
    extract, _, result = built
    counts, summary = result.counts, result.summary
    truth = pd.read_csv(extract / "truth_counts.csv", dtype={"resla": str})
    got = counts.groupby(["indicator_id", "resla", "month"], dropna=False)[["numerator", "denominator"]].sum(
        min_count=1).reset_index()
    both = truth.merge(got, on=["indicator_id", "resla", "month"], how="outer", suffixes=("_true", "_built"))
    assert set(both["indicator_id"]) == set(HES)
    assert (both["numerator_true"].fillna(0) == both["numerator_built"].fillna(0)).all()
    assert (both["denominator_true"].fillna(0) == both["denominator_built"].astype(float).fillna(0)).all()
    assert summary["duplicate_episodes"] > 0 and summary["invalid_admission_date"] > 0


def test_dataset_is_labelled_generated_with_hes_provenance(built):
    _, data, _ = built
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["label"] == "demo"
    (source,) = manifest["sources"]
    assert source["provenance"] == "record-level HES extract" and source["generated"] is True
    assert "not real" in source["name"]
    ds = load_dataset(data)
    assert set(ds.observations["indicator_id"]) == set(HES)
    assert set(ds.observations["source"]) == {"generated:record-level HES extract"}
    assert set(ds.generated_indicators) == set(HES)  # provenance per indicator: generated, never real
    assert "Generated demonstration data, not real" in ds.notice


def test_planted_effects_recovered(built):
    extract, data, _ = built
    ds = load_dataset(data)
    table = estimates_table(ds)
    truth = pd.read_csv(extract / "truth_effects.csv")
    est = truth_vs_estimate(table, truth)
    est = est[est["indicator_id"].isin(HES)]
    planted = est[est["effect_pct_la_basis"] != 0]
    zero = est[est["effect_pct_la_basis"] == 0]
    coverage = planted["truth_in_ci"].mean()
    false_positive = (zero["p_value"] < 0.05).mean()
    print(f"\nHES synth: planted {len(planted)}: coverage {coverage:.3f}, MAE "
          f"{planted['error_pct'].abs().mean():.2f} pp; zero-effect {len(zero)}: share p<0.05 {false_positive:.3f}")
    assert len(planted) >= 40 and len(zero) >= 80
    assert est["effect_pct"].notna().all()
    assert coverage >= 0.90
    assert false_positive <= 0.10
