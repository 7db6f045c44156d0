"""``StoreSettings`` / ``open_store``: which store the environment selects."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from topology import MemoryStore, StoreSettings, StoreUnavailableError, open_store
from tests.servers.common import free_port

_VARS = ("STORE", "GRAPH_FILE", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "NEO4J_RETRY_S")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARS:
        monkeypatch.delenv(f"FAULTLINE_{name}", raising=False)


def test_default_is_an_in_memory_store() -> None:
    settings = StoreSettings()
    assert settings.backend == "memory"
    store = open_store(settings)
    assert isinstance(store, MemoryStore) and store.path is None


def test_graph_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAULTLINE_GRAPH_FILE", str(tmp_path / "g.json"))
    store = open_store(StoreSettings(), graph_file=tmp_path / "fallback.json")
    assert isinstance(store, MemoryStore) and store.path == tmp_path / "g.json"
    assert open_store(StoreSettings(graph_file=None), graph_file=tmp_path / "fallback.json").path == tmp_path / "fallback.json"


def test_neo4j_uri_selects_neo4j_unless_store_says_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTLINE_NEO4J_URI", "bolt://127.0.0.1:7687")
    monkeypatch.setenv("FAULTLINE_NEO4J_PASSWORD", "s3cret-value")
    settings = StoreSettings()
    assert settings.backend == "neo4j"
    assert "s3cret-value" not in repr(settings)
    monkeypatch.setenv("FAULTLINE_STORE", "memory")
    assert StoreSettings().backend == "memory"


def test_store_neo4j_without_uri_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTLINE_STORE", "neo4j")
    with pytest.raises(ValidationError, match="FAULTLINE_NEO4J_URI"):
        StoreSettings()
    monkeypatch.setenv("FAULTLINE_STORE", "postgres")
    with pytest.raises(ValidationError):
        StoreSettings()


def test_opening_an_unreachable_neo4j_names_the_uri() -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailableError, match=uri.replace(".", r"\.")):
        open_store(StoreSettings(store="neo4j", neo4j_uri=uri, neo4j_retry_s=1))
