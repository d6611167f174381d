#!/usr/bin/env bash
# Gateway and two workers on the services of .data/services.env, in the foreground; Ctrl-C stops them all.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
set -a
# shellcheck disable=SC1091
. .data/services.env
set +a
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
.venv/bin/python -m app & pids+=($!)
for _ in 1 2; do .venv/bin/python -m workers & pids+=($!); done
echo "gateway on http://${HOST:-127.0.0.1}:${PORT:-8000}, two workers; Ctrl-C stops them"
wait -n
