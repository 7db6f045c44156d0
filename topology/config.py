"""Which topology store to open, from the environment (``FAULTLINE_*``), and ``open_store`` to open it.

The variables are the same ones the API server reads (``api/settings.py``), so ``faultline topology load`` and the
server see the same graph:

=============================  ==========================================================================
``FAULTLINE_STORE``            ``memory`` or ``neo4j``; unset = ``neo4j`` when a Neo4j URI is set, else memory
``FAULTLINE_GRAPH_FILE``       MemoryStore JSON file; unset = in memory only (the CLI then uses
                               ``default_graph_file()``, so ``load`` and ``show`` meet across runs)
``FAULTLINE_NEO4J_URI``        e.g. ``bolt://127.0.0.1:7687``
``FAULTLINE_NEO4J_USER``       default ``neo4j``
``FAULTLINE_NEO4J_PASSWORD``   secret; never printed
``FAULTLINE_NEO4J_DATABASE``   default ``neo4j``
``FAULTLINE_NEO4J_RETRY_S``    how long a failing transaction is retried before the call fails (default 10)
=============================  ==========================================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .memory_store import MemoryStore
from .store import GraphStore


def default_graph_file() -> Path:
    """``$XDG_DATA_HOME/faultline/graph.json`` (``~/.local/share/faultline/graph.json``): the CLI's MemoryStore file."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "faultline" / "graph.json"


class StoreSettings(BaseSettings):
    """Topology store settings (env prefix ``FAULTLINE_``); see the module docstring for each variable."""

    model_config = SettingsConfigDict(env_prefix="FAULTLINE_", env_ignore_empty=True, extra="ignore", frozen=True)

    store: Literal["memory", "neo4j"] | None = None
    graph_file: Path | None = None
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str = "neo4j"
    neo4j_retry_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _neo4j_needs_uri(self) -> "StoreSettings":
        if self.store == "neo4j" and not self.neo4j_uri:
            raise ValueError("FAULTLINE_STORE=neo4j needs FAULTLINE_NEO4J_URI (e.g. bolt://127.0.0.1:7687)")
        return self

    @property
    def backend(self) -> Literal["memory", "neo4j"]:
        """The store actually used: explicit ``store``, else Neo4j when a URI is configured (as the API server does)."""
        if self.store is not None:
            return self.store
        return "neo4j" if self.neo4j_uri else "memory"


def open_store(settings: StoreSettings | None = None, *, graph_file: Path | None = None) -> GraphStore:
    """Open the configured store.

    ``graph_file`` is used for a memory store when the settings name none (the CLI passes ``default_graph_file()``).
    Opening Neo4j connects and creates the schema, so a server that is down fails here with
    ``StoreUnavailableError`` naming the URI.
    """
    settings = settings if settings is not None else StoreSettings()
    if settings.backend == "neo4j":
        from .neo4j_store import Neo4jStore  # the driver is imported only when Neo4j is used

        assert settings.neo4j_uri is not None
        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
        return Neo4jStore(
            settings.neo4j_uri,
            settings.neo4j_user,
            password,
            database=settings.neo4j_database,
            retry_s=settings.neo4j_retry_s,
        )
    return MemoryStore(settings.graph_file or graph_file)


__all__ = ["StoreSettings", "default_graph_file", "open_store"]
