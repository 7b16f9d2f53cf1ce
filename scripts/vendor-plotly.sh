#!/usr/bin/env bash
# Fetch plotly.js's basic bundle, of the version the installed plotly package carries, into
# assets/vendor/ (app.PLOTLY_BUNDLE says why). Run after upgrading plotly; needs npm.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(.venv/bin/python -c "from plotly.offline import get_plotlyjs_version as v; print(v())")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "plotly.js-basic-dist-min@$VERSION" >/dev/null && tar xzf ./*.tgz)
cp "$TMP/package/plotly-basic.min.js" assets/vendor/plotly-basic.min.js
cp "$TMP/package/LICENSE" assets/vendor/plotly-LICENSE.txt
echo "assets/vendor/plotly-basic.min.js: plotly.js basic $VERSION"
