#!/usr/bin/env bash
# Debian's Chromium for the console's browser tests (driven by Playwright through executable_path;
# `playwright install` downloads browsers from outside the package registries and is never used).
# Idempotent: does nothing when /usr/bin/chromium already runs.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && chromium --headless --no-sandbox --version >/dev/null 2>&1; then
  echo "chromium present: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  chromium chromium-driver fonts-dejavu-core >/dev/null
chromium --version
