"""The project's one caching policy. Every key names the code version and the dataset checksum.

Two places hold results, each for what a load test showed it saves:

- ``@memo``: statistics in this process (comparator sets, the estimates table, trends, the
  overview grid, detail frames), keyed by (code version, dataset checksum, function, arguments).
  The gunicorn master fills it for the first page before forking (serving.gunicorn_app.
  render_first_page), so every worker starts with that; each worker warms the rest
  (``analysis.results.warm``). Nothing else in the project keeps computed results in memory.
- ``@shared_result("kind")``: what the server sends that costs a second or more to rebuild and
  is identical for every worker: a page's layout JSON and the package workbook. Kept in a
  flask-caching backend every worker process sees (files under PIONEERS_CACHE_DIR, or Redis).
  Until ``init_results_cache`` has run (tests, the CLI) it calls straight through; a backend
  that cannot be reached is logged and skipped, never an error in front of an audience.

``clear_all()`` empties both and the active dataset's own caches (data.active).
"""
from __future__ import annotations

import hashlib
import inspect
import logging
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

from flask_caching import Cache

from data.active import active_dataset, clear_caches, register_cache
from data.errors import DataError
from data.store import Dataset

log = logging.getLogger("pioneers.cache")

KEY_SCHEMA = "v1"  # bump when the pickled shape of cached results changes
DEFAULT_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pioneers" / "results"
BACKENDS = ("filesystem", "redis", "none")


@dataclass(frozen=True)
class CacheSettings:
    """Which backend holds shared results. Read from the environment so every worker agrees.

    PIONEERS_CACHE       filesystem (default) | redis | none
    PIONEERS_CACHE_DIR   directory for the filesystem backend (default ~/.cache/pioneers/results)
    PIONEERS_REDIS_URL   redis://host:port/db for the redis backend (PIONEERS_CACHE=redis)
    PIONEERS_CACHE_TIMEOUT  seconds a result lives (default 0: until the dataset changes)
    """

    backend: str = "filesystem"
    directory: Path = DEFAULT_DIR
    redis_url: str | None = None
    timeout: int = 0
    threshold: int = 5000  # filesystem entries before the oldest are pruned

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> CacheSettings:
        env = os.environ if env is None else env
        backend = env.get("PIONEERS_CACHE", "redis" if env.get("PIONEERS_REDIS_URL") else "filesystem")
        try:
            timeout = int(env.get("PIONEERS_CACHE_TIMEOUT", "0"))
        except ValueError:
            raise DataError(f"PIONEERS_CACHE_TIMEOUT must be whole seconds; got {env['PIONEERS_CACHE_TIMEOUT']!r}")
        settings = cls(backend=backend, directory=Path(env.get("PIONEERS_CACHE_DIR", DEFAULT_DIR)),
                       redis_url=env.get("PIONEERS_REDIS_URL"), timeout=timeout)
        settings.check()
        return settings

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise DataError(f"PIONEERS_CACHE must be one of {BACKENDS}; got {self.backend!r}")
        if self.backend == "redis" and not self.redis_url:
            raise DataError("PIONEERS_CACHE=redis needs PIONEERS_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")

    def flask_config(self) -> dict[str, Any]:
        """The flask-caching configuration for these settings."""
        if self.backend == "filesystem":
            return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(self.directory),
                    "CACHE_DEFAULT_TIMEOUT": self.timeout, "CACHE_THRESHOLD": self.threshold}
        if self.backend == "redis":
            return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": self.redis_url,
                    "CACHE_DEFAULT_TIMEOUT": self.timeout, "CACHE_KEY_PREFIX": "pioneers:"}
        return {"CACHE_TYPE": "NullCache", "CACHE_NO_NULL_WARNING": True}  # chosen, so no warning at every start


results = Cache()
_state = {"ready": False, "settings": None}


def init_results_cache(server, settings: CacheSettings | None = None) -> CacheSettings:
    """Attach the shared cache to the Flask server; call once per process, before serving."""
    settings = settings or CacheSettings.from_env()
    if settings.backend == "filesystem":
        settings.directory.mkdir(parents=True, exist_ok=True)
    if settings.backend == "redis":
        try:
            import redis  # noqa: F401  (an optional dependency: probed only when Redis is asked for)
        except ImportError:
            raise DataError("PIONEERS_CACHE=redis needs the redis client: pip install 'redis>=5'") from None
    results.init_app(server, config=settings.flask_config())
    results.app = server  # so warming threads and scripts outside a request can use it
    _state.update(ready=True, settings=settings)
    return settings


def cache_settings() -> CacheSettings | None:
    return _state["settings"]


_code: dict[str, str] = {}


def code_version() -> str:
    """A hash of the project's Python sources: results computed by older code are never reused."""
    if "v" not in _code:
        root = Path(__file__).resolve().parents[1]
        h = hashlib.sha256()
        for folder in ("analysis", "data", "indicators", "matching", "layouts", "callbacks", "serving"):
            for path in sorted((root / folder).rglob("*.py")):
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
        h.update((root / "app.py").read_bytes())
        _code["v"] = h.hexdigest()[:12]
    return _code["v"]


def result_key(kind: str, dataset_checksum: str, comparator_version: str, args: tuple, kwargs: dict) -> str:
    """A key naming what the result depends on: code, kind, dataset, comparator version, arguments."""
    try:
        blob = pickle.dumps((args, sorted(kwargs.items())), protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError):
        blob = repr((args, sorted(kwargs.items()))).encode()
    params = hashlib.sha256(blob).hexdigest()[:20]
    return f"{KEY_SCHEMA}/{code_version()}/{kind}/{dataset_checksum}/{comparator_version}/{params}"


def _checksum_of(args: tuple) -> tuple[str, tuple]:
    """The dataset checksum: from a Dataset first argument if given, else the active dataset."""
    if args and isinstance(args[0], Dataset):
        return args[0].cache_key, args[1:]  # checksum and geography
    return active_dataset().checksum, args


def shared_result(kind: str, *, comparator_version: Callable[..., str] | None = None):
    """Decorator: compute ``func(*args, **kwargs)`` once per dataset, comparator version and arguments.

    The first argument may be the Dataset (its checksum keys the entry; it is not pickled) or the
    function may read the active dataset itself. ``comparator_version(*args, **kwargs)`` gives the
    version of the comparator set the result used; without it the key says "none".
    """
    def decorate(func: Callable) -> Callable:
        @wraps(func)
        def cached(*args, **kwargs):
            if not _state["ready"]:
                return func(*args, **kwargs)
            checksum, rest = _checksum_of(args)
            version = comparator_version(*args, **kwargs) if comparator_version else "none"
            key = result_key(kind, checksum, version, rest, kwargs)
            try:
                hit = results.get(key)
            except Exception:  # noqa: BLE001 - an unreachable cache must not take the page down
                log.warning("results cache unreachable on get; computing %s directly", kind, exc_info=True)
                return func(*args, **kwargs)
            if hit is not None:
                return hit
            value = func(*args, **kwargs)
            try:
                results.set(key, value)
            except Exception:  # noqa: BLE001
                log.warning("results cache unreachable on set; %s not shared", kind, exc_info=True)
            return value

        cached.uncached = func
        return cached

    return decorate


# --- statistics in this process -----------------------------------------------------------------------

MEMO_SIZE = 4096  # entries; a dataset needs about 700 (300 trends and SPC charts, details visited, grids)
_memo: OrderedDict[tuple, Any] = OrderedDict()
_memo_lock = threading.Lock()
_computing: dict[tuple, threading.Event] = {}
"""Entries being computed, each with the event its computation sets when done (see `memo`)."""


def memo(func: Callable) -> Callable:
    """Memoise ``func(checksum, ...)``: one entry per code version, dataset checksum and arguments
    (defaults filled in, so ``f(c)`` and ``f(c, 5)`` share one entry); least recently used go first.

    An entry is computed once even when several threads ask for it at once (a worker's threads on a
    cold start, or a request during the warm-up): the first computes it, the others wait for it.
    Statistics need each other in one direction only (none needs, even indirectly, an entry that
    needs it), so no two threads ever wait for each other. If the computation fails, nothing is kept
    and a waiting thread computes it itself (and meets the same error)."""
    name = f"{func.__module__}.{func.__qualname__}"
    signature = inspect.signature(func)

    @wraps(func)
    def cached(checksum: str, *args, **kwargs):
        bound = signature.bind(checksum, *args, **kwargs)
        bound.apply_defaults()
        key = (code_version(), checksum, name, tuple(bound.arguments.items())[1:])
        while True:
            with _memo_lock:
                if key in _memo:
                    _memo.move_to_end(key)
                    return _memo[key]
                done = _computing.get(key)
                if done is None:
                    done = _computing[key] = threading.Event()
                    break
            done.wait()
        try:
            value = func(checksum, *args, **kwargs)
            with _memo_lock:
                _memo[key] = value
                while len(_memo) > MEMO_SIZE:
                    _memo.popitem(last=False)
        finally:
            with _memo_lock:
                del _computing[key]
            done.set()
        return value

    return cached


@register_cache  # so data.active.clear_caches empties it too
def _clear_memo() -> None:
    with _memo_lock:
        _memo.clear()


def clear_all() -> None:
    """Empty every cache the project keeps: statistics in this process, the active dataset's
    caches and the shared results store (after a data refresh keys change anyway; this reclaims space)."""
    clear_caches()
    if _state["ready"]:
        results.clear()
