"""``faultline collect``: one failing source is reported and the others still collect; ``--watch`` repeats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import git

from tests.servers.common import free_port
from tests.servers.otlp import Services, chat_request
from topology import MemoryStore


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")}
    return subprocess.run([sys.executable, "-m", "api.cli", "collect", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def _traces(receiver, path) -> None:
    services = Services(receiver.traces_endpoint, ["chat", "rag"])
    start = time.time() - 300
    for i in range(10):
        chat_request(services, start_s=start + 10 * i, user=f"u{i % 2}")
    services.flush()
    services.shutdown()
    receiver.write_jsonl(path)


def test_a_failing_source_does_not_stop_the_others(tmp_path, otlp_receiver):
    traces = tmp_path / "traces.jsonl"
    _traces(otlp_receiver, traces)
    repo = git.Repo.init(tmp_path / "repo")
    dead = f"http://127.0.0.1:{free_port()}"
    done = _run("--prometheus", dead, "--traces", str(traces), "--git-repo", str(repo.working_dir),
                "--kubeconfig", str(tmp_path / "missing-kubeconfig"),
                "--graph", str(tmp_path / "graph.json"), "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    sources = {s["source"]: s for s in summary["sources"]}
    assert not sources["prometheus"]["ok"] and "ConnectError" in sources["prometheus"]["error"]
    assert not sources["kubernetes"]["ok"] and "missing-kubeconfig" in sources["kubernetes"]["error"]
    assert sources["traces"]["ok"] and sources["traces"]["counts"]["calls"] == 40
    assert sources["git"]["ok"]  # nothing to link, but nothing wrong either
    assert "prometheus failed" in done.stderr and "kubernetes failed" in done.stderr
    store = MemoryStore(tmp_path / "graph.json")
    assert ("app:rag", "CALLS", "llm:deepseek-r1") in {r.key for r in store.open_relations()}
    assert "llm:deepseek-r1,ttft_p95_s" in (tmp_path / "out" / "metrics.csv").read_text()


def test_watch_repeats_and_re_collecting_is_idempotent(tmp_path, otlp_receiver):
    traces = tmp_path / "traces.jsonl"
    _traces(otlp_receiver, traces)
    done = _run("--traces", str(traces), "--graph", str(tmp_path / "graph.json"), "--out", str(tmp_path / "out"),
                "--json", "--watch", "--interval", "0.2", "--rounds", "3")
    assert done.returncode == 0, done.stderr
    rounds = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [r["round"] for r in rounds] == [1, 2, 3]
    assert rounds[0]["graph"] == rounds[2]["graph"]
    assert rounds[0]["saved"]["samples"] == rounds[2]["saved"]["samples"]  # same samples merged, not appended


def test_logs_and_traces_files_go_to_the_telemetry_store(tmp_path, otlp_receiver):
    from detectors.sources.telemetry_store import TelemetryStore

    traces = tmp_path / "traces.jsonl"
    _traces(otlp_receiver, traces)
    logs = tmp_path / "logs.jsonl"
    record = {"timeUnixNano": str(time.time_ns()), "severityNumber": 17, "body": {"stringValue": "boom"}}
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "rag"}}]}
    logs.write_text(json.dumps({"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record] * 3}]}]})
                    + "\n{broken\n", encoding="utf-8")
    out = tmp_path / "out"
    done = _run("--traces", str(traces), "--logs", str(logs), "--graph", str(tmp_path / "graph.json"),
                "--out", str(out), "--json", "--watch", "--interval", "0.1", "--rounds", "2")
    assert done.returncode == 0, done.stderr
    rounds = [json.loads(line) for line in done.stdout.strip().splitlines()]
    first = {s["source"]: s for s in rounds[0]["sources"]}
    assert first["logs"]["counts"] == {"records": 3, "entities": 1, "stored": 3}
    assert "logs.jsonl:2" in first["logs"]["skipped"][0]
    assert first["traces"]["counts"]["stored"] == 10 * 8
    assert {s["source"]: s for s in rounds[1]["sources"]}["logs"]["counts"]["stored"] == 0  # not stored twice
    with TelemetryStore(out / "telemetry.sqlite3") as store:
        counts = store.counts()
        assert (counts.spans, counts.logs) == (80, 3)
        assert {r.body for r in store.logs(0, 2**63 - 1, entities=["app:rag"])} == {"boom"}
