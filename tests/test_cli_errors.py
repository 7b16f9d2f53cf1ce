"""Errors users see from the command line: one line, exit code 2, never a traceback (issue 13, item 10
and the CLI half of items 11 and 13)."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cli
from data import store

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TIDY = "indicator_id,area_code,period,numerator,denominator\nea_all,E06000001,2014/15 Q1,500,92000\n"


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.strip()]
    assert lines and lines[0].startswith(f"pioneers {command}: error: "), err
    return lines[0]


@pytest.fixture()
def tidy(tmp_path) -> Path:
    f = tmp_path / "t.csv"
    f.write_text(TIDY)
    return f


def test_permission_denied_is_one_line(tidy, tmp_path, capsys, monkeypatch):
    """Run as root in CI, so a chmod cannot refuse: the system's PermissionError is raised where a
    write would meet it."""
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ds"))

    monkeypatch.setattr(store.Path, "mkdir", refuse)
    assert cli.main(["ingest", "tidy", str(tidy), "--into", str(tmp_path / "ds"), "--quiet"]) == 2
    line = _one_line_error(capsys, "ingest")
    assert "Permission denied" in line and "ds" in line


def test_a_full_disk_is_one_line_and_the_dataset_is_unchanged(tidy, tmp_path, capsys, monkeypatch):
    ds = tmp_path / "ds"
    assert cli.main(["ingest", "tidy", str(tidy), "--into", str(ds), "--quiet"]) == 0
    before = store.verify(ds)["dataset_checksum"]
    capsys.readouterr()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.pq, "write_table", full)
    more = tmp_path / "more.csv"
    more.write_text(TIDY.replace("500", "501"))
    assert cli.main(["ingest", "tidy", str(more), "--into", str(ds), "--quiet"]) == 2
    assert "No space left on device" in _one_line_error(capsys, "ingest")
    assert store.verify(ds)["dataset_checksum"] == before
    assert not list(tmp_path.glob(".ds.writing-*"))


def test_into_a_file_or_a_symlink_loop(tidy, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    assert cli.main(["ingest", "tidy", str(tidy), "--into", str(a_file), "--quiet"]) == 2
    _one_line_error(capsys, "ingest")
    assert a_file.read_text() == "mine"
    loop = tmp_path / "loop"
    os.symlink(loop.name, loop)
    assert cli.main(["ingest", "tidy", str(tidy), "--into", str(loop), "--quiet"]) == 2
    _one_line_error(capsys, "ingest")
    assert os.readlink(loop) == loop.name  # the user's link is left alone


@pytest.mark.parametrize("args,expected", [
    (["--cache-dir", "{file}"], "--cache-dir names a file"),
    (["--port", "99999"], "--port must be between 1 and 65535"),
    (["--workers", "0"], "--workers and --threads must be 1 or more"),
])
def test_serve_refuses_bad_options_before_listening(args, expected, demo_dir, tmp_path):
    a_file = tmp_path / "cache.txt"
    a_file.write_text("x")
    run = subprocess.run([sys.executable, "-m", "cli", "serve", "--data", str(demo_dir), "--no-warm",
                          *[a.format(file=a_file) for a in args]], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert expected in run.stderr.splitlines()[0] and "listening" not in run.stdout


@pytest.mark.parametrize("manifest", ["123", "[]", '"text"', '{"schema_version": 1, "label": "demo", "files": 5, '
                                      '"row_counts": {}, "dataset_checksum": "x"}', "{" * 100_000])
def test_info_on_a_malformed_manifest(manifest, demo_dir, tmp_path, capsys):
    ds = tmp_path / "ds"
    shutil.copytree(demo_dir, ds)
    (ds / "manifest.json").write_text(manifest)
    assert cli.main(["info", "--data", str(ds)]) == 2
    assert "manifest" in _one_line_error(capsys, "info")


def test_verify_command_finds_what_the_fast_check_cannot(demo_dir, tmp_path, capsys):
    """Corruption that keeps size and mtime: the stat-based check passes, `pioneers verify` does not."""
    from data.active import _file_stamps

    ds = tmp_path / "ds"
    shutil.copytree(demo_dir, ds)
    assert cli.main(["verify", "--data", str(ds)]) == 0
    assert "verified" in capsys.readouterr().out
    target = ds / "areas.parquet"
    st = target.stat()
    manifest = json.loads((ds / "manifest.json").read_text())
    stamps = _file_stamps(ds, manifest)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with open(target, "r+b") as f:  # in place: same inode, same size
        f.write(data)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _file_stamps(ds, manifest) == stamps  # the fast check sees nothing
    assert cli.main(["verify", "--data", str(ds)]) == 2
    line = _one_line_error(capsys, "verify")
    assert "areas.parquet" in line and "altered" in line
