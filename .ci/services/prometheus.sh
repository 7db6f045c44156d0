#!/usr/bin/env bash
# Real Prometheus for the metric-source tests: Debian's `prometheus` package (server + promtool for backfill).
# Idempotent: exits at once when both binaries are there. The package starts no daemon in a container; the
# tests start their own server on a free 127.0.0.1 port with a temporary data directory.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  prometheus --version 2>&1 | head -1
  exit 0
fi
apt-get update -qq
# --no-install-recommends: the recommended node exporter and its collectors are not needed.
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends prometheus
prometheus --version 2>&1 | head -1
