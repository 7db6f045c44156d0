#!/usr/bin/env bash
# Vendor the browser code the server ships into api/static/vendor/, so neither the console nor /docs loads anything
# from a CDN at run time. Sources: npm registry packages fetched with the ordinary npm client (`npm pack`), unpacked,
# only the files named below kept, with their licence:
#   cytoscape        (MIT)        dist/cytoscape.min.js                      the console's graph drawing
#   swagger-ui-dist  (Apache-2.0) swagger-ui-bundle.js, swagger-ui.css      the self-hosted /docs page
# Re-run to upgrade: change the versions, run, commit api/static/vendor/. Checksums land in each VENDORED.txt.
set -euo pipefail

CYTOSCAPE_VERSION="${CYTOSCAPE_VERSION:-3.34.4}"
SWAGGER_UI_VERSION="${SWAGGER_UI_VERSION:-5.35.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# vendor NAME VERSION LICENSE_NAME FILE... : npm pack NAME@VERSION, keep FILEs (paths inside the package) + licence
vendor() {
  local name=$1 version=$2 licence=$3; shift 3
  local dest="$ROOT/api/static/vendor/$name"
  (cd "$WORK" && rm -rf package && npm pack --silent "${name}@${version}" >/dev/null && tar -xzf "${name}-${version}.tgz")
  mkdir -p "$dest"
  local kept=()
  for file in "$@"; do
    cp "$WORK/package/$file" "$dest/$(basename "$file")"
    kept+=("$(basename "$file")")
  done
  cp "$WORK/package/LICENSE" "$dest/LICENSE"
  {
    echo "${name} ${version} (${licence}) from the npm registry: npm pack ${name}@${version}"
    echo "tarball sha256: $(sha256sum "$WORK/${name}-${version}.tgz" | cut -d' ' -f1)"
    echo "files kept: $* LICENSE"
    (cd "$dest" && sha256sum "${kept[@]}" LICENSE)
    echo "made by scripts/vendor_js.sh"
  } > "$dest/VENDORED.txt"
  echo "vendored ${name} ${version} into ${dest#$ROOT/}"
}

vendor cytoscape "$CYTOSCAPE_VERSION" MIT dist/cytoscape.min.js
vendor swagger-ui-dist "$SWAGGER_UI_VERSION" Apache-2.0 swagger-ui-bundle.js swagger-ui.css
