#!/usr/bin/env bash
# Rebuild the vendored viewer bundle of `pifuhd serve` from the npm registry's three.js:
#   bash tools/viewer/build.sh
# Writes src/pifuhd/web/static/vendor/three.bundle.js (minified ES module, comments stripped,
# three.js's MIT licence kept beside it). The versions are pinned in package.json.
set -euo pipefail
cd "$(dirname "$0")"
npm install --no-save --silent
out=../../src/pifuhd/web/static/vendor
mkdir -p "$out"
npx esbuild entry.js --bundle --minify --format=esm --legal-comments=none \
    --target=es2020 --outfile="$out/three.bundle.js"
cp node_modules/three/LICENSE "$out/three.LICENSE.txt"
ls -l "$out"
