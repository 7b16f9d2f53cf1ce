"""The dataset the running dashboard serves, loaded once and cached.

The app sets the dataset directory at start-up (`set_active_dataset`); pages and callbacks ask
`active_dataset()`. Cached functions register here so one call (`clear_caches`) empties them all
after a data refresh. The directory also travels in the PIONEERS_DATA environment variable so
that every worker process of a production server serves the same dataset.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from data.errors import DataError
from data.hes.disclosure import controlled
from data.store import Dataset, dataset_dir, deep_verify, load_dataset, read_manifest, regular_file, verify

ENV_VAR = "PIONEERS_DATA"
_clearers: list[Callable[[], None]] = []


def register_cache(func):
    """Register a cache so ``clear_caches`` empties it: an ``lru_cache``-wrapped function, or a
    function that clears one (analysis.cache's memo)."""
    _clearers.append(getattr(func, "cache_clear", func))
    return func


def clear_caches() -> None:
    for clear in _clearers:
        clear()


def set_active_dataset(path: Path | str) -> None:
    """Serve the dataset at ``path``. Caches are kept: every key names its dataset (checksum or path), so
    another dataset's entries are never served, and switching back finds its results still there."""
    # Absolute, not resolved: the dataset path is a link that each write moves to a new version.
    os.environ[ENV_VAR] = os.path.abspath(path)


def active_path() -> Path:
    value = os.environ.get(ENV_VAR)
    if not value:
        raise DataError(f"no dataset configured: start the app with `pioneers serve` or set {ENV_VAR}")
    return Path(value)


@register_cache
@lru_cache(maxsize=2)
def _load(path: str, checksum: str) -> Dataset:
    # The one choke point for disclosure control: what the dashboard serves has record-level HES
    # figures suppressed and rounded (data/hes/disclosure.py); the dataset on disk keeps them exact.
    return controlled(load_dataset(path))


def _file_stamps(path: Path, manifest: dict) -> tuple:
    """(name, size, mtime, inode) of every file the manifest lists: a few stat calls, no hashing."""
    stamps = []
    for name in sorted(manifest["files"]):
        st = regular_file(path / name)  # a directory or FIFO in a file's place is a fault, not a hang
        stamps.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(stamps)


@register_cache
@lru_cache(maxsize=8)
def _verified(path: str, checksum: str, stamps: tuple) -> bool:
    """Full SHA-256 verification, run again only when a file's size, mtime or inode changes."""
    verify(path)
    return True


_held: ContextVar[list[Dataset] | None] = ContextVar("pioneers_held_dataset", default=None)


@contextmanager
def one_version() -> Iterator[None]:
    """Within this block (a request: serving.web installs it) `active_dataset` checks the dataset on
    its first call and returns that same version to every later call, so one page is built from one
    version of the data even if a write swaps it meanwhile, and the files are stat-ed once a request
    rather than at each of the few dozen calls a page makes."""
    token = _held.set([])
    try:
        yield
    finally:
        _held.reset(token)


def active_dataset() -> Dataset:
    """The configured dataset, verified; reloaded when its manifest changes on disk.

    Every call outside `one_version`, and the first inside it, re-reads the manifest and stats the
    files, so a file deleted or altered under a running server raises DataError (the pages show it
    as a banner) instead of serving data that no longer matches what is on disk; restoring the file
    clears the fault on the next request.
    """
    held = _held.get()
    if held:
        return held[0]
    path = dataset_dir(active_path())  # this call reads one version, whatever a write does meanwhile
    manifest = read_manifest(path)
    checksum = manifest["dataset_checksum"]
    _verified(str(path), checksum, _file_stamps(path, manifest))
    dataset = _load(str(path), checksum)
    if held is not None:
        held.append(dataset)
    return dataset


def dataset_health(deep: bool = False) -> dict:
    """What a health check reports: the configured dataset's label and checksum and whether it verifies.

    The fast check compares each file's size, mtime and inode with the last full verification;
    ``deep`` hashes every file again and reads every table (what an in-place corruption that
    keeps size and mtime needs)."""
    try:
        path = dataset_dir(active_path())
        if deep:
            manifest = deep_verify(path)
        else:
            manifest = read_manifest(path)
            _verified(str(path), manifest["dataset_checksum"], _file_stamps(path, manifest))
    except DataError as exc:
        return {"status": "degraded", "dataset": None, "checksum": None, "verified": False, "problem": str(exc)}
    return {"status": "ok", "dataset": manifest["label"], "checksum": manifest["dataset_checksum"],
            "verified": True, "problem": None}
