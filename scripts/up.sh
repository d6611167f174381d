#!/usr/bin/env bash
# Gateway, WORKERS workers (default 2) and one reports worker on the services of .data/services.env, in the foreground; Ctrl-C
# stops them all. Each worker serves its metrics on its own port: JIESU_WORKER_METRICS_PORT (default 9101) for
# the first, the next ports for the others (two workers on one port: the second could not start).
# JIESU_UP_PYTHON (.venv/bin/python) and JIESU_SERVICES_ENV (.data/services.env) are for tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
env_file="${JIESU_SERVICES_ENV:-.data/services.env}"
python="${JIESU_UP_PYTHON:-.venv/bin/python}"
if [[ ! -f "$env_file" ]]; then
    echo "up: $env_file is missing: start Kafka and Postgres first (make services)" >&2
    exit 2
fi
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
workers="${WORKERS:-2}"
metrics_base="${JIESU_WORKER_METRICS_PORT:-9101}"
if ! [[ "$workers" =~ ^[1-9][0-9]*$ ]]; then
    echo "up: WORKERS=$workers: want a number of workers, 1 or more" >&2
    exit 2
fi
if ! [[ "$metrics_base" =~ ^[1-9][0-9]*$ ]] || ((metrics_base + workers > 65535)); then
    echo "up: JIESU_WORKER_METRICS_PORT=$metrics_base: want the first of $((workers + 1)) free ports (1-65535)" >&2
    exit 2
fi
host="${HOST:-${JIESU_HOST:-127.0.0.1}}"
gateway_port="${PORT:-${JIESU_PORT:-8000}}"
reach="$host"  # where a client on this machine reaches what listens on $host
if [[ "$host" == "0.0.0.0" || "$host" == "::" ]]; then reach=127.0.0.1; fi
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; JIESU_SERVICES_ENV="$env_file" scripts/gateway_env.sh unset' INT TERM EXIT
"$python" -m app & pids+=($!)
echo "up: gateway  http://$host:$gateway_port (metrics http://$host:$gateway_port/metrics)"
metrics_urls=()
for ((i = 0; i < workers; i++)); do
    port=$((metrics_base + i))
    JIESU_WORKER_METRICS_PORT="$port" "$python" -m workers & pids+=($!)
    metrics_urls+=("http://$reach:$port/metrics")
    echo "up: worker $((i + 1)) pid $! metrics http://$host:$port/metrics"
done
# The gateway's address and the workers' metrics, for the simulator and the docs' commands.
JIESU_SERVICES_ENV="$env_file" scripts/gateway_env.sh set "$host" "$gateway_port" "$(IFS=,; echo "${metrics_urls[*]}")"
# One reports worker: the rollups, the alerts and the hourly brief (docs/reports.md).
reports_port=$((metrics_base + workers))
JIESU_WORKER_METRICS_PORT="$reports_port" "$python" -m workers.rollups & pids+=($!)
echo "up: reports worker pid $! metrics http://$host:$reports_port/metrics (rollups, alerts, hourly briefs)"
echo "up: $workers worker(s); each logs a \"lane started\" line with its partitions once assigned; Ctrl-C stops them"
wait -n
