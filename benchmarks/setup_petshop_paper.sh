#!/usr/bin/env bash
# Get the PetShop paper's own RCA code and a venv to run it in, for benchmarks/peers/petshop_paper.py.
#
# The paper's code (amazon-science/petshop-root-cause-analysis, folder code/, Apache-2.0) is NOT part of faultline
# and is never committed here. This script puts a copy under benchmarks/out/src/petshop-rca (gitignored) from, in
# this order:
#   1. a checkout you name:   benchmarks/setup_petshop_paper.sh /path/to/petshop-root-cause-analysis
#                             (or PETSHOP_RCA_SRC=/path/to/checkout)
#   2. a bare mirror of the repository, when one is present (PETSHOP_RCA_MIRROR, default
#      /work/.mirror/amazon-science+petshop-root-cause-analysis/repo): `git archive HEAD code`
#   3. otherwise it stops and says how to get it:
#      git clone https://github.com/amazon-science/petshop-root-cause-analysis
#
# Why a venv of its own (.venv-petshop, gitignored by .venv*/): the paper pins dowhy==0.9.1, networkx==2.8.8,
# numpy==1.23.2, pandas==1.5.3, pingouin==0.5.3 (code/requirements.txt). .venv-peers has pandas 2.2 / networkx 3.2
# for RCAEval, and dowhy 0.9.1 is not there; installing it into .venv-peers could move its pins. We install the
# paper's pins exactly, from PyPI only. Its requirements take PyRCA from GitHub (git+...); we use the PyPI release
# sfr-pyrca==1.0.1 instead (--no-deps: its `javabridge` requirement serves pycausal graph builders the paper's code
# does not call), needed only for the paper's CIRCA / epsilon-Diagnosis / random-walk / RCD baselines.
#
# Idempotent: a quick import check when the venv and the source already work.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=.venv-petshop
DEST=benchmarks/out/src/petshop-rca
SRC="${1:-${PETSHOP_RCA_SRC:-}}"
MIRROR="${PETSHOP_RCA_MIRROR:-/work/.mirror/amazon-science+petshop-root-cause-analysis/repo}"

get_source() {
  if [ -n "$SRC" ]; then
    [ -f "$SRC/code/rca_task.py" ] || { echo "error: $SRC/code/rca_task.py not found: give the root of a petshop-root-cause-analysis checkout" >&2; exit 2; }
    rm -rf "$DEST"; mkdir -p "$DEST"
    cp -r "$SRC/code" "$DEST/code"
    for f in LICENSE NOTICE README.md; do [ -f "$SRC/$f" ] && cp "$SRC/$f" "$DEST/"; done
    (cd "$SRC" && git rev-parse HEAD 2>/dev/null || echo unknown) > "$DEST/COMMIT"
    echo "paper code copied from $SRC into $DEST"
  elif [ -d "$MIRROR" ] && git --git-dir="$MIRROR" cat-file -e HEAD:code/rca_task.py 2>/dev/null; then
    rm -rf "$DEST"; mkdir -p "$DEST"
    # archive the code/ subtree only: a partial mirror may lack the dataset's large blobs
    git --git-dir="$MIRROR" archive --prefix=code/ HEAD:code | tar -x -C "$DEST"
    for f in LICENSE NOTICE README.md; do git --git-dir="$MIRROR" show "HEAD:$f" > "$DEST/$f"; done
    git --git-dir="$MIRROR" rev-parse HEAD > "$DEST/COMMIT"
    echo "paper code extracted from $MIRROR ($(cat "$DEST/COMMIT")) into $DEST"
  elif [ -f "$DEST/code/rca_task.py" ]; then
    echo "paper code already in $DEST"
  else
    cat >&2 <<EOF
error: the PetShop paper's code is not here. Get it with
    git clone https://github.com/amazon-science/petshop-root-cause-analysis
and run
    benchmarks/setup_petshop_paper.sh /path/to/petshop-root-cause-analysis
EOF
    exit 2
  fi
}

pick_python() {
  # numpy 1.23.2 / pandas 1.5.3 have wheels for Python 3.8-3.11 only.
  for cand in "${PETSHOP_PYTHON:-}" "$HOME/.pyenv/versions/3.10.13/bin/python" python3.10 \
              "$HOME/.pyenv/versions/3.11.7/bin/python" python3.11; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 || [ -x "$cand" ]; then echo "$cand"; return; fi
  done
  echo "error: needs Python 3.10 or 3.11 (the paper pins numpy 1.23.2 / pandas 1.5.3); set PETSHOP_PYTHON" >&2
  exit 2
}

check() {
  (cd "$DEST/code" && "$ROOT/$VENV/bin/python" - <<'PY'
import rca_task, data_preprocessing, ranked_correlation, baseline_anomaly_traversal  # noqa: F401
import circa, epsilon_diagnosis, random_walk  # noqa: F401
print("petshop paper code ok")
PY
  )
}

if [ -n "$SRC" ] || [ ! -f "$DEST/code/rca_task.py" ]; then get_source; fi

if [ -x "$VENV/bin/python" ] && check >/dev/null 2>&1; then
  echo "petshop paper venv already installed: $VENV"; exit 0
fi

PY=$(pick_python)
echo "creating $VENV with $PY ($("$PY" --version 2>&1))"
"$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip wheel "setuptools<70"
# The paper's pins (code/requirements.txt), plus what dowhy 0.9.1 / PyRCA need; scikit-learn<1.2 for PyRCA 1.0.1.
$PIP install -q "dowhy==0.9.1" "networkx==2.8.8" "numpy==1.23.2" "pandas==1.5.3" "pingouin==0.5.3" \
  "scikit-learn>=1.1,<1.2" "scipy>=1.9,<1.12" "statsmodels>=0.13,<0.15"
$PIP install -q pyyaml schema dill tqdm "causal-learn==0.1.3.8"
$PIP install -q --no-deps "sfr-pyrca==1.0.1"
check
