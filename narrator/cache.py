"""Narratives cached by a hash of what produced them, so re-opening an incident does not pay for the model twice.

The key hashes the evidence pack (exactly what the model is shown), the model, the endpoint, the response format and
the prompt templates' version: any of them changing is a different question. Only grounded LLM narratives are
stored — a fallback caused by a passing timeout must not stick. Memory: an LRU of ``max_entries``; disk (optional):
one JSON file per key, written atomically, so several processes (CLI runs, API workers) share it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from pydantic import ValidationError

from .models import Narrative

log = logging.getLogger(__name__)

__all__ = ["NarrativeCache", "cache_key"]


def cache_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


class NarrativeCache:
    """In-memory LRU plus an optional directory of ``<key>.json`` files; thread-safe."""

    def __init__(self, max_entries: int = 128, directory: Path | None = None) -> None:
        self.max_entries = max_entries
        self.directory = directory
        self._memory: OrderedDict[str, Narrative] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Narrative | None:
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit
        narrative = self._read(key)
        if narrative is not None:
            self._remember(key, narrative)
        return narrative

    def put(self, key: str, narrative: Narrative) -> None:
        self._remember(key, narrative)
        self._write(key, narrative)

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory)

    def _remember(self, key: str, narrative: Narrative) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._memory[key] = narrative
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_entries:
                self._memory.popitem(last=False)

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.json"

    def _read(self, key: str) -> Narrative | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            return Narrative.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError) as exc:
            log.warning("ignoring unreadable cached narrative %s: %s", path, exc)
            return None

    def _write(self, key: str, narrative: Narrative) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(narrative.model_dump(mode="json"), handle)
            os.replace(tmp, path)
        except OSError as exc:  # a cache that cannot write must not cost the insight
            log.warning("cannot write narrative cache %s: %s", path, exc)
