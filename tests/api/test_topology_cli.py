"""``faultline topology load`` / ``show`` through the real CLI entry point, on a MemoryStore file and on Neo4j."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from tests.helpers import write_case
from tests.servers.neo4j import Neo4jServer

TOPOLOGY = {
    "entities": [
        {"id": "app:chat", "kind": "app", "attrs": {"namespace": "prod"}},
        {"id": "llm:r1", "kind": "llm"},
        {"id": "pod:prod/vllm-0", "kind": "pod"},
        {"id": "image:sha256:aaa", "kind": "image"},
        {"id": "image:sha256:bbb", "kind": "image"},
    ],
    "relations": [
        {"src": "app:chat", "kind": "CALLS", "dst": "llm:r1", "valid_from": "2026-11-20T10:00:00Z", "valid_to": None},
        {"src": "llm:r1", "kind": "RUNS_ON", "dst": "pod:prod/vllm-0", "valid_from": "2026-11-20T10:00:00Z",
         "valid_to": None},
        {"src": "pod:prod/vllm-0", "kind": "RUNS", "dst": "image:sha256:aaa", "valid_from": "2026-11-20T10:00:00Z",
         "valid_to": "2026-11-20T10:58:00Z"},
        {"src": "pod:prod/vllm-0", "kind": "RUNS", "dst": "image:sha256:bbb", "valid_from": "2026-11-20T10:58:00Z",
         "valid_to": None},
    ],
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("STORE", "GRAPH_FILE", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "NEO4J_RETRY_S"):
        monkeypatch.delenv(f"FAULTLINE_{name}", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _show_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main(["topology", "show", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _check_load_and_show(capsys: pytest.CaptureFixture[str], case_dir: Path, *extra: str) -> None:
    assert main(["topology", "load", str(case_dir), *extra]) == 0
    assert main(["topology", "load", str(case_dir), *extra]) == 0  # idempotent
    assert "now holds 5 entities, 4 relation versions" in capsys.readouterr().out
    before = _show_json(capsys, "app:chat", "--hops", "3", "--at", "2026-11-20T10:30:00Z", *extra)
    assert {e["id"] for e in before["entities"]} == {"app:chat", "llm:r1", "pod:prod/vllm-0", "image:sha256:aaa"}
    after = _show_json(capsys, "app:chat", "--hops", "3", "--at", "2026-11-20T11:00:00Z", *extra)
    assert "image:sha256:bbb" in {e["id"] for e in after["entities"]}
    assert "image:sha256:aaa" not in {e["id"] for e in after["entities"]}
    window = _show_json(capsys, "app:chat", "--hops", "3", "--since", "2026-11-20T10:30:00Z",
                        "--at", "2026-11-20T11:00:00Z", *extra)
    runs = sorted((r["dst"], r["valid_from"], r["valid_to"]) for r in window["relations"] if r["kind"] == "RUNS")
    assert runs == [("image:sha256:aaa", "2026-11-20T10:00:00Z", "2026-11-20T10:58:00Z"),
                    ("image:sha256:bbb", "2026-11-20T10:58:00Z", None)]
    up = _show_json(capsys, "pod:prod/vllm-0", "--hops", "1", "--direction", "up", "--at", "2026-11-20T11:00:00Z", *extra)
    assert {e["id"] for e in up["entities"]} == {"pod:prod/vllm-0", "llm:r1"}
    assert main(["topology", "show", "app:chat", "--hops", "2", "--at", "2026-11-20T10:30:00Z", *extra]) == 0
    text = capsys.readouterr().out
    assert "[1] llm:r1" in text and "app:chat -CALLS-> llm:r1" in text


def test_load_and_show_with_a_graph_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_dir = write_case(tmp_path / "case", topology=TOPOLOGY)
    graph = tmp_path / "graph.json"
    _check_load_and_show(capsys, case_dir, "--graph-file", str(graph))
    assert graph.exists()


def test_default_graph_file_joins_load_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_dir = write_case(tmp_path / "case", topology=TOPOLOGY)
    _check_load_and_show(capsys, case_dir)
    assert (tmp_path / "xdg" / "faultline" / "graph.json").exists()


def test_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    graph = str(tmp_path / "g.json")
    assert main(["topology", "load", str(write_case(tmp_path / "c", topology=TOPOLOGY)), "--graph-file", graph]) == 0
    assert main(["topology", "show", "app:nope", "--graph-file", graph]) == 2
    assert "unknown entity: 'app:nope'" in capsys.readouterr().err
    assert main(["topology", "show", "app:chat", "--at", "yesterday", "--graph-file", graph]) == 2
    assert "not an ISO-8601" in capsys.readouterr().err
    assert main(["topology", "load", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setenv("FAULTLINE_STORE", "neo4j")
    assert main(["topology", "show", "app:chat"]) == 2
    assert "FAULTLINE_NEO4J_URI" in capsys.readouterr().err


@pytest.mark.integration
def test_load_and_show_with_neo4j(neo4j_empty: Neo4jServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTLINE_STORE", "neo4j")
    monkeypatch.setenv("FAULTLINE_NEO4J_URI", neo4j_empty.uri)
    monkeypatch.setenv("FAULTLINE_NEO4J_PASSWORD", neo4j_empty.password)
    case_dir = write_case(tmp_path / "case", topology=TOPOLOGY)
    _check_load_and_show(capsys, case_dir)
    assert not (tmp_path / "xdg" / "faultline" / "graph.json").exists()  # nothing went to the file store


def test_neo4j_down_is_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.servers.common import free_port

    uri = f"bolt://127.0.0.1:{free_port()}"
    monkeypatch.setenv("FAULTLINE_NEO4J_URI", uri)
    monkeypatch.setenv("FAULTLINE_NEO4J_RETRY_S", "1")
    assert main(["topology", "show", "app:chat"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"faultline: error: Neo4j at {uri}") and "\n" not in err


def test_unknown_id_suggests_the_demos_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's flow: ``faultline demo --keep DIR``, load its case, then a shortened id gets 'did you mean'."""
    graph = str(tmp_path / "g.json")
    assert main(["demo", "--keep", str(tmp_path / "demo")]) == 0
    capsys.readouterr()
    assert main(["topology", "load", str(tmp_path / "demo" / "case"), "--graph-file", graph]) == 0
    assert main(["topology", "show", "app:chat", "--graph-file", graph, "--at", "2026-11-20T10:55:00Z"]) == 2
    err = capsys.readouterr().err
    assert "unknown entity: 'app:chat'; did you mean app:chat-frontend" in err and err.count("\n") == 1
    assert main(["topology", "show", "app:chat-frontend", "--hops", "3", "--at", "2026-11-20T10:55:00Z",
                 "--graph-file", graph]) == 0
    assert "llm:deepseek-r1@vllm" in capsys.readouterr().out
