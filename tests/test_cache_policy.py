"""One caching policy: every key names the code version and the dataset checksum; one call clears all."""
from __future__ import annotations

from analysis import cache


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
