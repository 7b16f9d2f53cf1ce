"""The dataset the running dashboard serves, loaded once and cached.

The app sets the dataset directory at start-up (`set_active_dataset`); pages and callbacks ask
`active_dataset()`. Cached functions register here so one call (`clear_caches`) empties them all
after a data refresh. The directory also travels in the PIONEERS_DATA environment variable so
that every worker process of a production server serves the same dataset.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from data.errors import DataError
from data.store import Dataset, load_dataset, read_manifest

ENV_VAR = "PIONEERS_DATA"
_clearers: list[Callable[[], None]] = []


def register_cache(func):
    """Register an ``lru_cache``-wrapped function so ``clear_caches`` empties it."""
    _clearers.append(func.cache_clear)
    return func


def clear_caches() -> None:
    for clear in _clearers:
        clear()


def set_active_dataset(path: Path | str) -> None:
    os.environ[ENV_VAR] = str(Path(path).resolve())
    clear_caches()


def active_path() -> Path:
    value = os.environ.get(ENV_VAR)
    if not value:
        raise DataError(f"no dataset configured: start the app with `pioneers serve` or set {ENV_VAR}")
    return Path(value)


@register_cache
@lru_cache(maxsize=2)
def _load(path: str, checksum: str) -> Dataset:
    return load_dataset(path)


def active_dataset() -> Dataset:
    """The configured dataset, verified; reloaded when its manifest changes on disk."""
    path = active_path()
    manifest = read_manifest(path)
    return _load(str(path), manifest["dataset_checksum"])
