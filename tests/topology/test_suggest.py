"""'Did you mean': closest ids, and the error that searches for them only when read."""

from __future__ import annotations

from topology.exceptions import UnknownEntityError
from topology.suggest import closest_ids

DEMO_IDS = ["user:deepseek-chat-users", "app:chat-frontend", "app:rag-service", "app:embedder", "llm:deepseek-r1@vllm",
            "pod:prod/chat-frontend-0", "pod:prod/vllm-0", "pod:prod/vllm-1", "vectordb:milvus"]


def test_the_readmes_old_example_finds_the_demos_entity() -> None:
    assert closest_ids("app:chat", DEMO_IDS)[0] == "app:chat-frontend"
    assert closest_ids("llm:deepseek-r1", DEMO_IDS)[0] == "llm:deepseek-r1@vllm"
    assert closest_ids("user:deepseek-chat", DEMO_IDS)[0] == "user:deepseek-chat-users"


def test_at_most_n_and_nothing_for_nonsense() -> None:
    many = [f"pod:prod/vllm-{i}" for i in range(50)]
    assert len(closest_ids("pod:prod/vllm-x", many)) == 5
    assert closest_ids("gpu:zzz-9", DEMO_IDS) == ()
    assert "app:chat-frontend" not in closest_ids("app:chat-frontend", DEMO_IDS)  # never the id itself


def test_the_error_searches_only_when_read() -> None:
    calls: list[int] = []

    def search() -> tuple[str, ...]:
        calls.append(1)
        return ("app:chat-frontend",)

    error = UnknownEntityError("app:chat", search)
    assert calls == []  # "does it exist?" callers never pay for the search
    assert str(error) == "unknown entity: 'app:chat'; did you mean app:chat-frontend?"
    assert error.suggestions == ("app:chat-frontend",) and calls == [1]
    assert str(UnknownEntityError("app:x")) == "unknown entity: 'app:x'"
