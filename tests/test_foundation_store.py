"""The parquet store: manifest checks, atomic writes, determinism of the demo build."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from data import store
from data.demo import build_demo, generate
from data.errors import DataError
from data.store import load_dataset, verify, write_dataset
from tests import cli_process

ROOT = Path(__file__).resolve().parents[1]


def _digests(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def test_manifest_lists_every_table_with_checksums_and_counts(demo_dir):
    manifest = json.loads((demo_dir / "manifest.json").read_text())
    assert manifest["label"] == "demo"
    assert manifest["notice"] == "Generated demonstration data, not real"
    assert manifest["schema_version"] == 1
    for name in ("observations", "areas", "population", "sites", "site_areas", "catalogue", "exclusions", "truth"):
        fname = f"{name}.parquet"
        assert manifest["files"][fname] == hashlib.sha256((demo_dir / fname).read_bytes()).hexdigest()
        assert manifest["row_counts"][name] == len(pd.read_parquet(demo_dir / fname))


def test_a_changed_byte_is_caught(demo_dir, tmp_path):
    copy = tmp_path / "ds"
    copy.mkdir()
    for f in demo_dir.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    verify(copy)  # intact copy passes
    target = copy / "areas.parquet"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    target.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"areas\.parquet.*altered"):
        load_dataset(copy)


def test_a_missing_file_is_refused_by_name(demo_dir, tmp_path):
    copy = tmp_path / "ds"
    copy.mkdir()
    for f in demo_dir.iterdir():
        if f.name != "sites.parquet":
            (copy / f.name).write_bytes(f.read_bytes())
    with pytest.raises(DataError, match=r"sites\.parquet.*missing"):
        load_dataset(copy)


def test_not_a_dataset_gives_a_clear_message(tmp_path):
    with pytest.raises(DataError, match="manifest.json is missing"):
        load_dataset(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_dataset(tmp_path)


def test_interrupted_write_leaves_previous_dataset_intact(demo_dir, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    tables = generate(seed=7)
    write_dataset(out, tables, label="demo")
    before = _digests(out)

    calls = {"n": 0}
    real_write = store.pq.write_table

    def failing_write(table, where, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # fail midway through the tables
            raise OSError("disk full (simulated)")
        return real_write(table, where, **kwargs)

    monkeypatch.setattr(store.pq, "write_table", failing_write)
    changed = dict(tables, observations=tables["observations"].assign(numerator=tables["observations"]["numerator"] + 1))
    with pytest.raises(OSError, match="simulated"):
        write_dataset(out, changed, label="demo")
    assert calls["n"] == 3
    assert _digests(out) == before
    load_dataset(out)  # still loadable
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".ds.")]
    assert not [n for n in left if ".writing-" in n or ".link-" in n], f"temporary files left behind: {left}"
    assert sorted(left) == [".ds.lock", ".ds.v1"], left  # the lock file and the one version the link points to


def test_a_table_that_does_not_fit_the_schema_is_refused(tmp_path):
    tables = generate(seed=7)
    tables["areas"] = tables["areas"].drop(columns=["region"])
    with pytest.raises(DataError, match=r"areas.*region"):
        write_dataset(tmp_path / "ds", tables, label="demo")
    assert not (tmp_path / "ds").exists()


def test_same_seed_gives_byte_identical_parquet_and_another_seed_differs(tmp_path, demo_dir):
    """The run's demo (built in another folder, perhaps by another worker) against a new build with its
    seed and one with another seed."""
    demo_seed = json.loads((demo_dir / "manifest.json").read_text())["seed"]
    for name, seed in (("b", demo_seed), ("c", demo_seed + 1)):
        build_demo(tmp_path / name, seed=seed)
    pq_a = {k: v for k, v in _digests(demo_dir).items() if k.endswith(".parquet")}
    pq_b = {k: v for k, v in _digests(tmp_path / "b").items() if k.endswith(".parquet")}
    pq_c = {k: v for k, v in _digests(tmp_path / "c").items() if k.endswith(".parquet")}
    assert pq_a == pq_b
    assert pq_a["observations.parquet"] != pq_c["observations.parquet"]
    a = load_dataset(demo_dir).observations
    c = load_dataset(tmp_path / "c").observations
    assert not a["numerator"].equals(c["numerator"])


def test_cli_info_json_reports_areas_sites_indicators_and_periods(demo_dir):
    out = cli_process.run(["info", "--data", str(demo_dir), "--json"])
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["n_areas"], info["n_sites"], info["n_indicators"]) == (152, 25, 12)
    by_id = {i["indicator_id"]: i for i in info["indicators"]}
    assert by_id["ea_all"]["first_period"] == "2010/11 Q1" and by_id["ea_all"]["last_period"] == "2018/19 Q4"
    assert by_id["dtoc"]["first_period"] == "Apr 2010" and by_id["dtoc"]["last_period"] == "Mar 2019"
    assert by_id["care_home_65"]["first_period"] == "2010/11" and by_id["care_home_65"]["last_period"] == "2018/19"


def test_cli_build_demo_then_info(tmp_path):
    out = tmp_path / "d"
    subprocess.run([sys.executable, "-m", "cli", "build-demo", "--out", str(out), "--seed", "3"], cwd=ROOT,
                   check=True, capture_output=True)
    verify(out)


def test_cli_reports_a_bad_dataset_in_one_line_without_traceback(tmp_path):
    res = cli_process.run(["info", "--data", str(tmp_path)])
    assert res.returncode == 2
    assert "manifest.json is missing" in res.stderr
    assert "Traceback" not in res.stderr
