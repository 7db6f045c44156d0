#!/usr/bin/env bash
# Vendor the console's JavaScript graph library into api/static/vendor/, so the console never loads code from a CDN
# at run time. Source: the npm registry package `cytoscape` (MIT), fetched with the ordinary npm client
# (`npm pack`), unpacked, and only its minified browser build and LICENSE kept. Re-run to upgrade: change VERSION,
# run, commit api/static/vendor/. The checksums land in api/static/vendor/cytoscape/VENDORED.txt.
set -euo pipefail

VERSION="${CYTOSCAPE_VERSION:-3.34.4}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/api/static/vendor/cytoscape"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "cytoscape@${VERSION}" >/dev/null
tar -xzf "cytoscape-${VERSION}.tgz"
mkdir -p "$DEST"
cp package/dist/cytoscape.min.js "$DEST/cytoscape.min.js"
cp package/LICENSE "$DEST/LICENSE"
{
  echo "cytoscape ${VERSION} (MIT) from the npm registry: npm pack cytoscape@${VERSION}"
  echo "tarball sha256: $(sha256sum "cytoscape-${VERSION}.tgz" | cut -d' ' -f1)"
  echo "files kept: dist/cytoscape.min.js -> cytoscape.min.js, LICENSE"
  (cd "$DEST" && sha256sum cytoscape.min.js LICENSE)
  echo "made by scripts/vendor_js.sh"
} > "$DEST/VENDORED.txt"
echo "vendored cytoscape ${VERSION} into ${DEST#$ROOT/}"
