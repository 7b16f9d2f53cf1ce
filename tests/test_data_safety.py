"""Nothing a user runs may lose or mislabel data (issue 13, items 1-4).

- build-demo / ingest never delete a file the project did not write, refuse a non-empty folder
  that is not a dataset, and keep the folder's mode;
- eight ingests into one dataset at once lose no update (an exclusive lock);
- a write killed at every step leaves the old or the new dataset in place, and the next write
  cleans up after it;
- each indicator keeps its provenance: generated figures are named as generated whatever else
  the dataset holds, and mixing needs --allow-mixed.
"""
from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import cli
from data.errors import DataError
from tests import cli_process
from data.ingest import ingest
from data.store import load_dataset, verify

KILL_ENV = "PIONEERS_KILL_AT"  # data.store.KILL_ENV: the write step at which the process kills itself

ROOT = Path(__file__).resolve().parents[1]
TIDY = ("indicator_id,area_code,period,numerator,denominator\n"
        "ea_all,E06000001,2014/15 Q1,500,92000\n"
        "ea_all,E06000002,2014/15 Q1,700,139000\n")


def _cli(*args: str, cwd: Path = ROOT, env: dict | None = None) -> cli_process.Run:
    """``pioneers <args>`` in a process of its own (tests/cli_process.py), ``env`` added to the environment."""
    return cli_process.run(list(args), env=env, cwd=cwd)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A small real-labelled dataset made by one tidy ingest (a plain folder after copying)."""
    base = tmp_path_factory.mktemp("small")
    (base / "t.csv").write_text(TIDY)
    ingest("tidy", [base / "t.csv"], base / "ds", progress=False)
    return base / "ds"


def _plain_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)  # follows the link: a plain folder, the layout before versions
    return dst


# ---- 1. never delete what the project did not write -----------------------------------------

def test_build_demo_refuses_a_folder_with_other_files(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "thesis.docx").write_text("x")
    run = _cli("build-demo", "--out", str(out))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "not empty" in run.stderr.splitlines()[0]
    assert (out / "thesis.docx").read_text() == "x" and sorted(p.name for p in out.iterdir()) == ["thesis.docx"]


def test_build_demo_into_the_working_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    run = _cli("build-demo", "--out", ".", cwd=tmp_path)
    assert run.returncode == 2 and "not empty" in run.stderr
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_ingest_keeps_user_files_subfolders_and_the_folder_mode(small, tmp_path):
    ds = _plain_copy(small, tmp_path / "ds")
    (ds / "NOTES.txt").write_text("my notes")
    (ds / "drafts").mkdir()
    (ds / "drafts" / "a.txt").write_text("draft")
    os.chmod(ds, 0o751)
    more = tmp_path / "more.csv"
    more.write_text(TIDY.replace("E06000002", "E06000003"))
    for _ in range(3):  # the first write moves to the versioned layout; later ones swap versions
        ingest("tidy", [more], ds, progress=False)
        more.write_text(more.read_text().replace("500", "501", 1) if "500" in more.read_text()
                        else more.read_text().replace("501", "502", 1))
    assert (ds / "NOTES.txt").read_text() == "my notes"
    assert (ds / "drafts" / "a.txt").read_text() == "draft"
    assert stat.S_IMODE(ds.resolve().stat().st_mode) == 0o751
    assert len(load_dataset(ds).observations) == 3


def test_a_fresh_dataset_folder_gets_the_usual_mode(small, tmp_path):
    """Not 0700 (the mode of a temporary folder): what a plain mkdir gives under the umask."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (tmp_path / "t.csv").write_text(TIDY)
    ingest("tidy", [tmp_path / "t.csv"], tmp_path / "fresh", progress=False)
    assert stat.S_IMODE((tmp_path / "fresh").resolve().stat().st_mode) == stat.S_IMODE(probe.stat().st_mode)


# ---- 2. concurrent ingests ----------------------------------------------------------------------

def test_eight_ingests_at_once_lose_no_update(small, tmp_path):
    ds = _plain_copy(small, tmp_path / "ds")
    before = len(load_dataset(ds).observations)
    areas = ["E06000003", "E06000004", "E06000005", "E06000006", "E06000007", "E06000008", "E06000009",
             "E06000010"]
    procs = []
    for i, area in enumerate(areas):
        f = tmp_path / f"add{i}.csv"
        f.write_text(f"indicator_id,area_code,period,numerator,denominator\nea_all,{area},2014/15 Q1,{100 + i},90000\n")
        procs.append(cli_process.Started(["ingest", "tidy", str(f), "--into", str(ds), "--quiet"]))
    runs = [p.wait() for p in procs]
    assert [r.returncode for r in runs] == [0] * 8, [r.stderr[-300:] for r in runs]
    obs = load_dataset(ds).observations
    assert len(obs) == before + 8, "an ingest's rows were lost"
    assert set(areas) <= set(obs["area_code"])
    waited = sum("waiting: another write" in r.stderr for r in runs)
    assert waited >= 1, "no ingest had to wait: the test did not run them at the same time"
    assert not list(tmp_path.glob(".ds.writing-*"))


def test_lock_is_exclusive_and_a_writer_can_refuse_to_wait(tmp_path):
    from data.store import dataset_lock

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from data.store import dataset_lock\n"
                               f"with dataset_lock({str(tmp_path / 'ds')!r}):\n"
                               "    print('held', flush=True); time.sleep(30)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BlockingIOError):
            with dataset_lock(tmp_path / "ds", wait=False):
                pass
    finally:
        holder.kill()
        holder.wait()
    with dataset_lock(tmp_path / "ds", wait=False):  # released when its holder died
        with dataset_lock(tmp_path / "ds", wait=False):  # re-entrant in one process
            pass


# ---- 3. a write killed at every step ------------------------------------------------------------

STEPS = ["migrated", "writing", "written", "versioned", "linked", "swapped"]


@pytest.fixture(scope="module")
def expected_after(small, tmp_path_factory) -> tuple[str, str, Path]:
    """(checksum before, checksum after) of the ingest the kill test interrupts, run uninterrupted."""
    base = tmp_path_factory.mktemp("kill-control")
    csv = base / "change.csv"
    csv.write_text(TIDY.replace("500", "555").replace("E06000002", "E06000004"))
    ds = _plain_copy(small, base / "ds")
    before = verify(ds)["dataset_checksum"]
    done = _cli("ingest", "tidy", str(csv), "--into", str(ds), "--quiet")
    assert done.returncode == 0, done.stderr
    after = verify(ds)["dataset_checksum"]
    assert after != before
    return before, after, csv


@pytest.mark.parametrize("step", STEPS)
def test_a_write_killed_at_each_step_leaves_the_old_or_the_new_dataset(step, small, expected_after, tmp_path):
    before, after, csv = expected_after
    ds = _plain_copy(small, tmp_path / "ds")
    run = _cli("ingest", "tidy", str(csv), "--into", str(ds), "--quiet", env={KILL_ENV: step})
    assert run.returncode == -signal.SIGKILL, f"not killed at {step!r}: {run.returncode} {run.stderr[-300:]}"
    # Readers see a whole dataset straight away: the old one or the new one, never neither.
    info = _cli("info", "--data", str(ds))
    assert info.returncode == 0, f"killed at {step!r}: info fails: {info.stderr}"
    assert verify(ds)["dataset_checksum"] in (before, after)
    # The next ingest finishes the job (no fresh one-observation dataset) and tidies up.
    again = _cli("ingest", "tidy", str(csv), "--into", str(ds), "--quiet")
    assert again.returncode == 0, again.stderr
    assert verify(ds)["dataset_checksum"] == after
    assert len(load_dataset(ds).observations) == 3
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ds."))
    assert not [n for n in left if ".writing-" in n or ".link-" in n], left


def _ingest_killed_before_rename(n: int, csv: Path, ds: Path) -> cli_process.Run:
    return cli_process.run(["ingest", "tidy", str(csv), "--into", str(ds), "--quiet"], kill_before_rename=n)


def test_a_write_killed_before_every_rename_leaves_a_dataset(small, expected_after, tmp_path):
    """Fault injection that needs no hook in the code under test: a Python audit hook SIGKILLs the
    ingest just before its n-th rename, for every n the write makes (the old two-rename swap left
    no dataset at the path when killed before its second rename)."""
    before, after, csv = expected_after
    count = _ingest_killed_before_rename(0, csv, _plain_copy(small, tmp_path / "count"))
    assert count.returncode == 0, count.stderr[-500:]
    renames = int(count.stderr.rsplit("renames=", 1)[1].split()[0])
    assert renames >= 2
    for n in range(1, renames + 1):
        ds = _plain_copy(small, tmp_path / f"ds{n}")
        run = _ingest_killed_before_rename(n, csv, ds)
        assert run.returncode == -signal.SIGKILL, (n, run.returncode, run.stderr[-300:])
        info = _cli("info", "--data", str(ds))
        assert info.returncode == 0, f"killed before rename {n} of {renames}: {info.stderr.strip()}"
        assert verify(ds)["dataset_checksum"] in (before, after)


def test_server_health_survives_a_kill_between_the_steps(small, expected_after, tmp_path):
    """healthz reads the dataset as a killed write left it (before the next write repairs it)."""
    from data.active import dataset_health, set_active_dataset

    before, after, csv = expected_after
    ds = _plain_copy(small, tmp_path / "ds")
    old = os.environ.get("PIONEERS_DATA")
    try:
        set_active_dataset(ds)
        for step in STEPS:
            _cli("ingest", "tidy", str(csv), "--into", str(ds), "--quiet", env={KILL_ENV: step})
            health = dataset_health()
            assert health["verified"], (step, health)
            assert health["checksum"] in (before, after)
    finally:
        if old:
            set_active_dataset(old)


# ---- 4. provenance per indicator ---------------------------------------------------------------

@pytest.fixture()
def mixed(demo_dir, tmp_path) -> Path:
    ds = _plain_copy(demo_dir, tmp_path / "demo")
    real = tmp_path / "real.csv"
    real.write_text("indicator_id,area_code,period,numerator,denominator\nea_all,E08000016,2014/15 Q1,6120,232000\n")
    with pytest.raises(DataError, match="generated demonstration figures.*--allow-mixed"):
        ingest("tidy", [real], ds, progress=False)
    assert load_dataset(ds).label == "demo"  # refused: nothing written
    ingest("tidy", [real], ds, progress=False, allow_mixed=True)
    return ds


def test_mixing_is_refused_without_the_flag_and_each_indicator_keeps_its_origin(mixed):
    ds = load_dataset(mixed)
    assert ds.label == "mixed"
    assert ds.provenance["ea_all"] == "mixed" and ds.provenance["dtoc"] == "generated"
    assert set(ds.generated_indicators) == set(ds.catalogue["indicator_id"])  # every one has generated figures
    assert "Generated demonstration data, not real" in ds.notice
    assert "ea_all" in ds.notice and "dtoc" in ds.notice


def test_pages_and_exports_name_generated_figures_as_generated(mixed):
    from app import coverage_sentence
    from data.active import set_active_dataset
    from analysis import results
    from layouts.components import charts, tables

    ds = load_dataset(mixed)
    sentence = coverage_sentence(ds, ds.catalogue.set_index("indicator_id"))
    assert sentence.startswith("Generated demonstration data, not real, for:")
    assert "Real data in this dataset: none" in sentence  # no indicator is wholly real
    old = os.environ.get("PIONEERS_DATA")
    try:
        set_active_dataset(mixed)
        ctx = results.context()
        assert "Generated demonstration data, not real" in ctx.source_line("dtoc")
        chart = charts.build(charts.ChartSpec("trend", site="barnsley", indicator_id="dtoc"))
        assert "Generated demonstration data, not real" in tables.csv_text(chart.table, ctx.dataset.notice, chart.title)
        from tests.serving_support import shared_app

        shared_app()  # pages register with the app
        from layouts import data_page

        page = str(data_page.layout())
        assert "partly generated, not real" in page and "published files" not in page
    finally:
        if old:
            set_active_dataset(old)


def test_a_wholly_real_dataset_is_not_called_generated(small):
    ds = load_dataset(small)
    assert ds.provenance == {"ea_all": "real"} and ds.generated_indicators == []
    assert "Generated" not in ds.notice


def test_cli_ingest_into_demo_without_the_flag_is_one_line(demo_dir, tmp_path):
    ds = _plain_copy(demo_dir, tmp_path / "demo")
    real = tmp_path / "real.csv"
    real.write_text("indicator_id,area_code,period,numerator,denominator\nea_all,E08000016,2014/15 Q1,6120,232000\n")
    code = cli.main(["ingest", "tidy", str(real), "--into", str(ds), "--quiet"])
    assert code == 2
    ok = cli.main(["ingest", "tidy", str(real), "--into", str(ds), "--quiet", "--allow-mixed"])
    assert ok == 0 and load_dataset(ds).label == "mixed"
