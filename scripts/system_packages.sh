#!/usr/bin/env bash
# Debian packages the tests use beyond Python, Java and Postgres: npm (the dashboard's chart library) and
# chromium with a CJK font (the dashboard's browser test and its screenshot). Installed with apt-get when
# missing and this runs as root; otherwise it says what is missing and carries on: the dashboard test then
# skips, naming the package, and `make dashboard` names npm.
set -euo pipefail

wanted=()
command -v npm >/dev/null || wanted+=(npm)
command -v chromium >/dev/null || wanted+=(chromium)
fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || wanted+=(fonts-wqy-microhei)
if [ ${#wanted[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "system packages: missing ${wanted[*]} (apt-get install ${wanted[*]}); tests that need them skip" >&2
    exit 0
fi
echo "system packages: installing ${wanted[*]}" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${wanted[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${wanted[@]}" >/dev/null; }
