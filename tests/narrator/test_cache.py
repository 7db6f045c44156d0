"""The narrative cache: LRU in memory, JSON files on disk shared between processes, unreadable files ignored."""

from __future__ import annotations

from pathlib import Path

from narrator.cache import NarrativeCache, cache_key
from narrator.models import Narrative


def narrative(summary: str) -> Narrative:
    return Narrative(summary=summary, root_cause="pod:a/b", event_chain=(), fix_suggestions=(), confidence=0.5, narrator="llm")


def test_key_depends_on_every_part() -> None:
    assert cache_key("a", "b") == cache_key("a", "b")
    assert cache_key("a", "b") != cache_key("ab", "")  # parts are delimited
    assert cache_key("a", "b") != cache_key("a", "c")


def test_lru_evicts_the_least_recently_used() -> None:
    cache = NarrativeCache(max_entries=2)
    cache.put("k1", narrative("one"))
    cache.put("k2", narrative("two"))
    assert cache.get("k1") is not None  # k1 now most recent
    cache.put("k3", narrative("three"))
    assert cache.get("k2") is None and cache.get("k1") is not None and cache.get("k3") is not None
    assert len(cache) == 2


def test_disk_cache_survives_a_new_process_and_ignores_garbage(tmp_path: Path) -> None:
    NarrativeCache(directory=tmp_path).put("k1", narrative("one"))
    fresh = NarrativeCache(directory=tmp_path)
    assert fresh.get("k1") == narrative("one")
    (tmp_path / "k2.json").write_text("{not json", encoding="utf-8")
    assert fresh.get("k2") is None
    assert not list(tmp_path.glob("*.tmp"))


def test_zero_size_memory_cache_still_uses_disk(tmp_path: Path) -> None:
    cache = NarrativeCache(max_entries=0, directory=tmp_path)
    cache.put("k", narrative("x"))
    assert len(cache) == 0 and cache.get("k") == narrative("x")
