"""Fixtures of the narrator tests: the real demo analysis and settings pointing at the scripted peers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from narrator.config import NarratorSettings
from rca.models import Analysis
from tests.servers.llm_scripted import ScriptedLLM


@pytest.fixture(scope="session")
def demo_analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """The bundled demo incident run through the real pipeline (topology → detectors → correlators → ranker)."""
    from api.demo import build_demo_case
    from correlators.case_files import load_case
    from rca.pipeline import analyze

    world = build_demo_case(tmp_path_factory.mktemp("demo"))
    return analyze(load_case(world.case_dir))


@pytest.fixture
def scripted_settings(scripted_llm: ScriptedLLM) -> Callable[..., NarratorSettings]:
    """Settings for one scenario of the scripted peer, with short timeouts so failure paths finish fast."""

    def make(scenario: str, **overrides: Any) -> NarratorSettings:
        values: dict[str, Any] = {
            "llm_base_url": scripted_llm.base_url(scenario),
            "llm_model": scripted_llm.model,
            "llm_timeout_s": 2.0,
            "llm_deadline_s": 8.0,
            "llm_max_retries": 2,
            "llm_backoff_s": 0.05,
            "llm_cache_size": 16,
        }
        values.update(overrides)
        return NarratorSettings(**values)

    return make
