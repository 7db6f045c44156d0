#!/usr/bin/env bash
# Chart checks (tests/deploy/test_helm_chart.py): helm and kubeconform, both built from the Go module proxy and cached
# under ~/.cache/faultline/bin (versioned names), so a second run only checks that they are there.
set -euo pipefail

HELM_VERSION="${FAULTLINE_HELM_VERSION:-v3.22.0}"
KUBECONFORM_VERSION="${FAULTLINE_KUBECONFORM_VERSION:-v0.8.0}"
CACHE="${FAULTLINE_CACHE:-$HOME/.cache/faultline}"
mkdir -p "$CACHE/bin"

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
    echo "helm.sh: Go toolchain not found (needed to build helm and kubeconform)" >&2; exit 1; fi
fi

build() {  # $1 name, $2 package@version, $3 version, $4 version check args
  local target="$CACHE/bin/$1-$3"
  if [ -x "$target" ] && "$target" $4 >/dev/null 2>&1; then
    echo "$1 $3 cached at $target"
    return 0
  fi
  local start tmp
  start=$(date +%s)
  tmp="$(mktemp -d)"
  GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" "$2"
  mv "$tmp/$1" "$target.tmp" && mv "$target.tmp" "$target"
  rm -rf "$tmp"
  "$target" $4
  echo "$1 $3 built in $(( $(date +%s) - start ))s"
}

build helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$HELM_VERSION" "version --short"
build kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" "$KUBECONFORM_VERSION" "-v"
