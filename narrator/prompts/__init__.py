"""The one prompt loader: every prompt is a ``.jinja2`` file in this folder; ``_``-prefixed files are partials.

Why files and not f-strings: prompts are reviewed and versioned like code, partials keep the rules in one place, and
the rendered text can be golden-tested. ``StrictUndefined`` makes a missing variable an error instead of an empty
string silently shipped to a model.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from topology.timeutil import iso

THIS_DIR = Path(__file__).resolve().parent

__all__ = ["prompts_version", "render"]


def _num(value: float) -> str:
    return f"{value:.4g}"


def _iso(value: datetime) -> str:
    return iso(value) or ""


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(THIS_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["num"] = _num
    env.filters["iso"] = _iso
    return env


def render(name: str, **context: Any) -> str:
    """Render ``<name>.jinja2`` with ``context``; surrounding whitespace is stripped."""
    return _env().get_template(f"{name}.jinja2").render(**context).strip()


@lru_cache(maxsize=1)
def prompts_version() -> str:
    """A hash of every template file: part of the narrative cache key, so editing a prompt invalidates the cache."""
    digest = hashlib.sha256()
    for path in sorted(THIS_DIR.glob("*.jinja2")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
