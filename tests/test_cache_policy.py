"""One caching policy: every key names the code version and the dataset checksum; one call clears all."""
from __future__ import annotations

import pytest

from analysis import cache

pytestmark = pytest.mark.usefixtures("memo_restored")  # the tests empty every cache on purpose


def test_memo_keys_on_code_version_checksum_and_arguments(monkeypatch):
    calls = []

    @cache.memo
    def stat(checksum: str, k: int = 5) -> tuple:
        calls.append((checksum, k))
        return checksum, k

    cache.clear_all()
    assert stat("a") == ("a", 5) and stat("a", 5) == ("a", 5) and stat("a", k=5) == ("a", 5)
    assert calls == [("a", 5)]  # defaults filled in: one entry
    stat("b")
    stat("a", 4)
    assert calls == [("a", 5), ("b", 5), ("a", 4)]
    monkeypatch.setattr(cache, "code_version", lambda: "changed-code")
    stat("a")
    assert calls[-1] == ("a", 5) and len(calls) == 4  # new code never reads old results
    monkeypatch.undo()
    cache.clear_all()
    stat("a")
    assert len(calls) == 5  # clear_all emptied it


def test_an_entry_asked_for_by_several_threads_at_once_is_computed_once():
    """A cold worker's threads (or a request during the warm-up) asking for the same statistic wait for
    the one computation; a failed computation is not kept, so the next asker computes it again."""
    import threading
    import time

    calls, started, release = [], threading.Event(), threading.Event()

    @cache.memo
    def stat(checksum: str) -> str:
        calls.append(checksum)
        started.set()
        assert release.wait(10)
        if checksum == "fails" and len(calls) == 1:
            raise RuntimeError("first computation fails")
        return checksum * 2

    for checksum, first_fails in (("a", False), ("fails", True)):
        calls.clear(), started.clear(), release.clear()
        answers, errors = [], []

        def ask():
            try:
                answers.append(stat(checksum))
            except RuntimeError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        threads[0].start()
        assert started.wait(10)  # the first is computing; the other three ask meanwhile
        for t in threads[1:]:
            t.start()
        # Time for the three to ask. Without the waiting they would each start a computation of their own
        # within a few milliseconds (calls would have four entries); a slower start can only hide that, never
        # fail the test.
        time.sleep(0.3)
        release.set()
        for t in threads:
            t.join(10)
        if first_fails:
            assert errors == ["first computation fails"] and answers == ["failsfails"] * 3
            assert len(calls) == 2  # one waiting thread computed it again, the other two waited for that one
        else:
            assert answers == ["aa"] * 4 and calls == ["a"]


def test_new_active_dataset_clears_the_memo(monkeypatch):
    from data import active

    calls = []

    @cache.memo
    def stat(checksum: str) -> str:
        calls.append(checksum)
        return checksum

    stat("a")
    active.clear_caches()  # what set_active_dataset calls
    stat("a")
    assert calls == ["a", "a"]


def test_shared_results_key_names_code_version_and_checksum():
    key = cache.result_key("page/home", "checksum123", "none", (), {"basis": "did"})
    assert cache.code_version() in key and "checksum123" in key
    assert key != cache.result_key("page/home", "checksum124", "none", (), {"basis": "did"})


def test_code_version_covers_the_service_layer():
    # The estimates now live in analysis/: a change there must change the version.
    import hashlib
    from pathlib import Path

    root = Path(cache.__file__).resolve().parents[1]
    assert (root / "analysis" / "estimates.py").exists()
    cache._code.clear()
    before = cache.code_version()
    assert len(before) == 12 and before == cache.code_version()
    h = hashlib.sha256()
    for folder in ("analysis", "data", "indicators", "matching", "layouts", "callbacks", "serving"):
        for path in sorted((root / folder).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    h.update((root / "app.py").read_bytes())
    assert h.hexdigest()[:12] == before


def test_one_cache_directory_meaning(tmp_path):
    settings = cache.CacheSettings.from_env({"PIONEERS_CACHE_DIR": str(tmp_path / "results")})
    assert settings.directory == tmp_path / "results"  # the directory itself, not its parent
    import analysis.estimates as estimates

    assert not hasattr(estimates, "cache_dir")  # the estimates keep no cache of their own


# Loaded once from the project's own reference files (package data): constants, not caches of a
# dataset or of published files, so clear_all() need not empty them (each says so in a comment).
CONSTANTS = {"data.reference.default_reference", "data.hes.codes.fields", "data.hes.codes.field_specs",
             "data.hes.codes.code_list", "data.hes.codes.readmission_exclusions",
             "analysis.names.ccg_reference_names", "data.hes.synth._ccg_of_area", "indicators.scm._blas",
             "data.hes.fields._located_sql"}


def _lru_caches() -> dict[str, object]:
    """Every function decorated with functools.lru_cache in the project's sources, by module.function
    (found in the source, so no page module has to be imported)."""
    import ast
    import importlib
    from pathlib import Path

    root = Path(cache.__file__).resolve().parents[1]
    found = {}
    files = [p for folder in ("analysis", "data", "indicators", "matching", "layouts", "callbacks", "serving")
             for p in (root / folder).rglob("*.py")] + [root / "app.py", root / "cli.py"]
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(
                    ast.unparse(d).split("(")[0].split(".")[-1] in ("lru_cache", "cache") for d in node.decorator_list):
                name = ".".join(path.relative_to(root).with_suffix("").parts)
                found[f"{name}.{node.name}"] = getattr(importlib.import_module(name), node.name)
    return found


def test_clear_all_empties_every_lru_cache_but_the_reference_constants(real_dir):
    from data import active, ccg

    caches = _lru_caches()
    assert CONSTANTS <= set(caches), CONSTANTS - set(caches)
    registered = {getattr(c, "cache_clear") for c in caches.values()} & set(active._clearers)
    unregistered = {n for n, c in caches.items() if c.cache_clear not in registered} - CONSTANTS
    assert not unregistered, f"lru_caches clear_all() does not empty: {sorted(unregistered)}"
    ccg.lsoa_population(str(real_dir))  # fill one (it fills ccg._lookup too)
    assert ccg.lsoa_population.cache_info().currsize == 1 and ccg._lookup.cache_info().currsize >= 1
    cache.clear_all()
    assert all(c.cache_info().currsize == 0 for n, c in caches.items() if n not in CONSTANTS)
