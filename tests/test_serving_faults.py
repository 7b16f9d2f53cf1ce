"""Faults under a running app: dataset files deleted or altered show a banner (never a stack
trace) and clear when restored; an ingest killed with SIGKILL leaves the previous dataset whole."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data.errors import DataError
from tests import cli_process

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def own_demo(demo_dir, tmp_path) -> Path:
    """A private copy of the demo dataset that a test may damage."""
    target = tmp_path / "dataset"
    shutil.copytree(demo_dir, target)
    return target


@pytest.fixture()
def served(own_demo):
    from data.active import set_active_dataset
    from tests.serving_support import shared_app

    app = shared_app()
    old = os.environ.get("PIONEERS_DATA")
    set_active_dataset(own_demo)
    yield app, app.server.test_client(), own_demo
    if old:
        set_active_dataset(old)


def _router(client, path: str):
    from tests.dash_walk import router_body

    deps = json.loads(client.get("/_dash-dependencies").get_data())
    return client.post("/_dash-update-component", json=router_body(deps, path))


def _banner(layout_json: bytes) -> dict | None:
    from tests.dash_walk import components_by_id as components
    from serving.web import BANNER_ID

    comp = components(json.loads(layout_json)).get(BANNER_ID)
    return None if comp is None or comp["props"].get("hidden") else comp


def _text(node) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " ".join(_text(n) for n in node)
    if isinstance(node, dict):
        return _text(node.get("props", {}).get("children", "")) if "props" in node else ""
    return ""


@pytest.mark.parametrize("damage", ["delete", "corrupt", "truncate"])
def test_damaged_file_gives_banner_then_recovers(served, damage):
    app, client, data = served
    assert _banner(client.get("/_dash-layout").get_data()) is None
    assert _router(client, "/site/barnsley").status_code == 200  # renders (and caches) while healthy

    target = data / "observations.parquet"
    backup = target.read_bytes()
    if damage == "delete":
        target.unlink()
    elif damage == "corrupt":
        target.write_bytes(backup[:1000] + bytes(255 - b for b in backup[1000:2000]) + backup[2000:])
    else:
        target.write_bytes(backup[: len(backup) // 2])

    shell = client.get("/_dash-layout")
    assert shell.status_code == 200
    banner = _banner(shell.get_data())
    assert banner is not None, "no banner while observations.parquet is damaged"
    message = _text(banner)
    assert "observations.parquet" in message and str(data) not in message  # names the file, not the server path
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["verified"] is False and health.json["status"] == "degraded"

    # A page asked for while damaged (even one rendered before) answers with the banner, not a 500.
    for path in ("/site/barnsley", "/indicator/ea_all", "/data"):
        r = _router(client, path)
        assert r.status_code == 200, (path, r.status_code, r.get_data()[:200])
        body = r.get_data()
        assert b"Traceback" not in body and b"Data unavailable" in body

    target.write_bytes(backup)  # restored: new mtime, same bytes
    assert _banner(client.get("/_dash-layout").get_data()) is None
    assert client.get("/healthz").json["verified"] is True
    r = _router(client, "/site/barnsley")
    assert r.status_code == 200 and b"Data unavailable" not in r.get_data()


def test_damaged_file_during_callback_sets_banner(served):
    """A callback that reads the dataset while it is damaged answers 200 with the banner set."""
    app, client, data = served
    from tests.dash_walk import FlaskTransport, Session

    session = Session(FlaskTransport(client))
    session.open("/site/barnsley")
    bodies = session.walker.initial_bodies() + session.walker.interaction_bodies(1)
    assert bodies, "no callbacks found on the site page"
    (data / "sites.parquet").unlink()
    saw_banner = False
    for body in bodies:
        r = client.post("/_dash-update-component", json=body)
        assert r.status_code in (200, 204), (body["output"], r.status_code, r.get_data()[:200])
        saw_banner |= b"data-fault" in r.get_data()
    assert saw_banner, "no callback on the site page reported the damaged dataset"


def test_active_dataset_notices_changes_without_hashing_every_call(own_demo, monkeypatch, memo_restored):
    from data import active

    active.set_active_dataset(own_demo)
    calls = []
    real_verify = active.verify
    monkeypatch.setattr(active, "verify", lambda p: calls.append(p) or real_verify(p))
    active.clear_caches()
    for _ in range(5):
        active.active_dataset()
    assert len(calls) == 1  # stat check only after the first full verification
    (own_demo / "areas.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="areas.parquet"):
        active.active_dataset()


def test_one_request_reads_one_version_of_the_dataset(served, monkeypatch):
    """A page request checks the dataset's files once, whatever number of statistics it gathers, and a
    file damaged during the request is noticed by the next request, not half-way through this one."""
    from data import active

    _, client, data = served
    reads = []
    real_read = active.read_manifest
    monkeypatch.setattr(active, "read_manifest", lambda path: reads.append(path) or real_read(path))
    assert _router(client, "/site/barnsley").status_code == 200
    assert len(reads) == 1

    with active.one_version():
        first = active.active_dataset()
        (data / "areas.parquet").write_bytes(b"not parquet")
        assert active.active_dataset() is first  # the version this block started with
    with pytest.raises(DataError, match="areas.parquet"):
        active.active_dataset()
    r = _router(client, "/site/barnsley")
    assert r.status_code == 200 and b"areas.parquet" in r.get_data()  # the next request shows the banner


def _tidy_csv(demo, path: Path) -> Path:
    """The demo's observations as the project's tidy CSV (what `pioneers ingest tidy` reads)."""
    from data.periods import period_label

    obs = demo.observations
    frame = obs[["indicator_id", "area_code", "numerator", "denominator"]].copy()
    frame["period"] = [period_label(p, f) for p, f in zip(obs["period_start"], obs["frequency"])]
    frame[["numerator", "denominator"]] = frame[["numerator", "denominator"]] * 2  # same rates, new counts
    frame = frame[(frame["denominator"] > 0) & frame["numerator"].notna()]
    frame.to_csv(path, index=False)
    return path


HOLD_AT_SWAP = """
import os, sys, time
target, marker = os.path.abspath(sys.argv[1]), sys.argv[2]
def held(real):
    def rename(src, dst, *args, **kwargs):
        if target in (os.path.abspath(src), os.path.abspath(dst)):
            open(marker, "w").close()
            time.sleep(600)  # the test kills the process here, with the new copy written
        return real(src, dst, *args, **kwargs)
    return rename
os.rename, os.replace = held(os.rename), held(os.replace)
import cli
sys.exit(cli.main(sys.argv[3:]))
"""
"""Runs the CLI with every rename that touches the dataset directory held: the process is
killed at a known point (everything written, nothing swapped) instead of after a guessed sleep."""


def test_ingest_killed_with_sigkill_leaves_previous_dataset(demo, own_demo, tmp_path):
    from data.store import load_dataset, verify

    before = verify(own_demo)["dataset_checksum"]
    csv = _tidy_csv(demo, tmp_path / "counts.csv")
    marker = tmp_path / "at-swap"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_AT_SWAP, str(own_demo), str(marker), "ingest", "tidy",
                             str(csv), "--into", str(own_demo), "--quiet", "--allow-mixed"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.perf_counter() + 120
    while not marker.exists() and proc.poll() is None and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"the ingest never reached the swap (exit {proc.poll()}): {proc.stderr.read()[-500:]!r}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    # Killed before the rename: the old dataset is there, verifies, and loads with its old checksum.
    assert verify(own_demo)["dataset_checksum"] == before
    assert load_dataset(own_demo).checksum == before
    # The half-written copy is a sibling the next write ignores; the dataset directory is clean.
    assert not any(p.name.startswith(".") for p in own_demo.iterdir())


def test_ingest_runs_to_completion_when_not_killed(demo, own_demo, tmp_path):
    """Control for the kill test: the same ingest, left alone, does replace the dataset."""
    from data.store import verify

    before = verify(own_demo)["dataset_checksum"]
    csv = _tidy_csv(demo, tmp_path / "counts.csv")
    done = cli_process.run(["ingest", "tidy", str(csv), "--into", str(own_demo), "--quiet", "--allow-mixed"],
                           timeout=120)
    assert done.returncode == 0, done.stderr[-800:]
    assert verify(own_demo)["dataset_checksum"] != before
