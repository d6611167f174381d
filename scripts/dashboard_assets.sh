#!/usr/bin/env bash
# The live dashboard's chart library (Apache ECharts, Apache-2.0) from npm into .data/dashboard, for the
# gateway's GET /dashboard/echarts.min.js (app/routes/dashboard.py).
#
#   scripts/dashboard_assets.sh            npm ci from app/dashboard/package-lock.json (the pinned version and
#                                          its sha512, checked by npm); does nothing when that lock is installed
#   scripts/dashboard_assets.sh --if-npm   the same, but only a warning (exit 0) when npm is not installed:
#                                          `make run` still starts, and the page says what is missing
#
# Why npm ci and not a vendored file: the lock pins the version and the tarball's hash, the repository keeps
# no megabyte of minified code, and updating is `npm install echarts@<version> --package-lock-only` in
# app/dashboard. An offline intranet gets the file in the image (Dockerfile) or with .data/dashboard copied.
# Environment: JIESU_DASHBOARD_DIR (<repo>/.data/dashboard; the gateway reads it too).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
SOURCE="$ROOT/app/dashboard"
TARGET="${JIESU_DASHBOARD_DIR:-$ROOT/.data/dashboard}"
ASSET="$TARGET/node_modules/echarts/dist/echarts.min.js"

if ! command -v npm >/dev/null; then
    if [ "${1:-}" = "--if-npm" ]; then
        echo "dashboard: npm not found, so the chart library is not installed (GET /dashboard says so)" >&2
        exit 0
    fi
    echo "dashboard: npm is needed to install the chart library (apt-get install npm)" >&2
    exit 2
fi

if [ -f "$ASSET" ] && cmp -s "$SOURCE/package-lock.json" "$TARGET/package-lock.json"; then
    exit 0
fi
mkdir -p "$TARGET"
cp "$SOURCE/package.json" "$SOURCE/package-lock.json" "$TARGET/"
(cd "$TARGET" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
test -s "$ASSET" || { echo "dashboard: npm ci left no $ASSET" >&2; exit 1; }
echo "dashboard: $(cd "$TARGET" && node -p "require('echarts/package.json').version") in $TARGET"
