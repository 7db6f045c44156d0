#!/usr/bin/env bash
# Install the published RCA methods faultline is compared with into their own venv, .venv-peers (gitignored).
#
# Why a separate venv: RCAEval and PyRCA pin old numpy / scikit-learn / networkx that clash with faultline's own
# dependencies. The benchmark runs them as subprocesses with .venv-peers/bin/python (benchmarks/peers/runner.py).
#
# Why --no-deps plus an explicit list: RCAEval's "default" extra pulls ~150 pinned packages including torch and
# dvc; the CPU baselines we run (BARO, N-Sigma, epsilon-Diagnosis, CIRCA, RCD, MicroCause) need only the list
# below. PyRCA's `javabridge` requirement is only used by its pycausal graph builders, which we do not run.
#
# Python: RCAEval 1.8 imports its method modules only on Python 3.10/3.12/3.14 (on 3.11 its e2e/__init__ takes a
# different branch). We therefore prefer a 3.10 interpreter when the machine has one (pyenv), else 3.12, else
# python3 (the adapter then imports the modules it needs directly).
#
# Idempotent: does nothing but a quick import check when the venv already works. Needs PyPI only.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-peers

pick_python() {
  for cand in "${PEERS_PYTHON:-}" "$HOME/.pyenv/versions/3.10.13/bin/python" python3.10 \
              "$HOME/.pyenv/versions/3.12.1/bin/python" python3.12 python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 || [ -x "$cand" ]; then echo "$cand"; return; fi
  done
}

check() {
  "$VENV/bin/python" - <<'PY'
import RCAEval, pyrca, causallearn, pingouin, tigramite, sknetwork  # noqa: F401
from RCAEval.e2e import baro, nsigma, circa, rcd, microcause  # noqa: F401
from pyrca.analyzers.random_walk import RandomWalk  # noqa: F401
from pyrca.analyzers.epsilon_diagnosis import EpsilonDiagnosis  # noqa: F401
from pyrca.analyzers.ht import HT  # noqa: F401
print("peers ok")
PY
}

if [ -x "$VENV/bin/python" ] && check >/dev/null 2>&1; then
  echo "peers venv already installed: $VENV"; exit 0
fi

PY=$(pick_python)
echo "creating $VENV with $PY ($("$PY" --version 2>&1))"
"$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip wheel "setuptools<70"
# setuptools<70: pyrca/__init__ imports pkg_resources.
$PIP install -q \
  "numpy>=1.23,<2" "pandas>=2.0,<2.3" "scipy>=1.10,<1.14" "scikit-learn>=1.1,<1.2" "statsmodels>=0.14,<0.15" \
  "networkx>=2.8,<3.3" "causal-learn==0.1.3.8" "pingouin>=0.5.3,<0.6" "tigramite>=5.2,<5.3" \
  "scikit-network>=0.31,<0.33" "matplotlib<3.9" tqdm pyyaml schema dill pyparsing packaging requests
$PIP install -q --no-deps "RCAEval==1.8.1" "sfr-pyrca==1.0.1"
check
