"""One way from settings to the topology store: the server, ``faultline collect`` and ``faultline topology`` read the
same ``FAULTLINE_STORE`` / Neo4j / graph-file variables, retry budget included."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.services.backend import backend_from_settings, store_from_settings, store_settings
from api.settings import Settings
from topology.config import StoreSettings
from topology.memory_store import MemoryStore


def test_store_memory_wins_over_a_configured_neo4j_uri(tmp_path: Path) -> None:
    settings = Settings(store="memory", graph_file=tmp_path / "g.json", neo4j_uri="bolt://127.0.0.1:1")
    assert isinstance(store_from_settings(settings), MemoryStore)
    backend = backend_from_settings(settings)
    assert backend.name == "live:graph-file"


def test_server_settings_are_the_topology_settings() -> None:
    settings = Settings(neo4j_uri="bolt://db:7687", neo4j_retry_s=42.0, neo4j_database="graph")
    chosen = store_settings(settings)
    assert isinstance(chosen, StoreSettings)
    assert (chosen.backend, chosen.neo4j_retry_s, chosen.neo4j_database) == ("neo4j", 42.0, "graph")


def test_no_live_store_means_a_case() -> None:
    assert store_from_settings(Settings()) is None


def test_live_read_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match="shorter than insight_timeout_s"):
        Settings(prometheus_deadline_s=200, insight_timeout_s=120)
    with pytest.raises(ValidationError, match="baseline"):
        Settings(baseline="a day")
    assert Settings(baseline="48h").baseline_delta.total_seconds() == 48 * 3600
