#!/usr/bin/env bash
# Real Kubernetes API for the collector tests: etcd (Debian package) + kube-apiserver built from the pinned
# k8s.io/kubernetes Go module through the Go module proxy. The binary is cached under ~/.cache/faultline, so a
# second run only checks that it is there. Cold build: see the timing this script prints.
set -euo pipefail

K8S_VERSION="${FAULTLINE_K8S_VERSION:-v1.36.3}"
CACHE="${FAULTLINE_CACHE:-$HOME/.cache/faultline}"
BIN="$CACHE/bin/kube-apiserver-$K8S_VERSION"

if ! command -v etcd >/dev/null 2>&1; then
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends etcd-server
fi
# The Debian package starts no daemon in a container; tests start their own etcd on free ports.

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "kube-apiserver $K8S_VERSION cached at $BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
    echo "kubernetes.sh: Go toolchain not found (needed to build kube-apiserver)" >&2; exit 1; fi
fi

start=$(date +%s)
WORK="$CACHE/build-kube-apiserver-$K8S_VERSION"
mkdir -p "$WORK" "$CACHE/bin"
cd "$WORK"
export GOFLAGS=-mod=mod
# k8s.io/kubernetes points its staging modules (k8s.io/api, client-go, ...) at ./staging with replace directives,
# which `go install pkg@version` refuses; a wrapper module pins each staging module to its published v0.X.Y instead.
GOMOD=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
{
  echo "module faultline.local/kubeapiserver"
  echo
  echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/' "$GOMOD" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
} > go.mod
go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION"
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
go build -trimpath -ldflags="$ldflags" -o "$BIN.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$BIN.tmp" "$BIN"
"$BIN" --version
echo "kube-apiserver $K8S_VERSION built in $(( $(date +%s) - start ))s"
