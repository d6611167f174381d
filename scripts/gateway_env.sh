#!/usr/bin/env bash
# Records the running gateway's address in .data/services.env (JIESU_GATEWAY_URL=…), so that the simulator,
# the example subscriber's docs and the curl examples find it on any port, and, under make up, the workers'
# metrics URLs (JIESU_WORKER_METRICS_URLS=…, comma-separated), so that the simulator charts their CPU;
# `unset` takes both lines out again.
#   scripts/gateway_env.sh set HOST PORT [WORKER_METRICS_URLS]   (0.0.0.0 or :: is reached on 127.0.0.1)
#   scripts/gateway_env.sh unset
# JIESU_SERVICES_ENV (.data/services.env) is for tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
env_file="${JIESU_SERVICES_ENV:-$root/.data/services.env}"
action="${1:-}"
mkdir -p "$(dirname "$env_file")"
others=""
if [[ -f "$env_file" ]]; then
    others="$(grep -v -e '^JIESU_GATEWAY_URL=' -e '^JIESU_WORKER_METRICS_URLS=' "$env_file" || true)"
fi
case "$action" in
    set)
        host="${2:?usage: $0 set HOST PORT}"
        port="${3:?usage: $0 set HOST PORT}"
        if [[ "$host" == "0.0.0.0" || "$host" == "::" || -z "$host" ]]; then host=127.0.0.1; fi
        url="http://$host:$port"
        metrics="${4:-}"
        {
            if [[ -n "$others" ]]; then printf '%s\n' "$others"; fi
            printf 'JIESU_GATEWAY_URL=%s\n' "$url"
            if [[ -n "$metrics" ]]; then printf 'JIESU_WORKER_METRICS_URLS=%s\n' "$metrics"; fi
        } >"$env_file.tmp"
        mv "$env_file.tmp" "$env_file"
        ;;
    unset)
        if [[ -n "$others" ]]; then
            printf '%s\n' "$others" >"$env_file.tmp" && mv "$env_file.tmp" "$env_file"
        else
            rm -f "$env_file"
        fi
        ;;
    *)
        echo "usage: $0 {set HOST PORT [WORKER_METRICS_URLS]|unset}" >&2
        exit 2
        ;;
esac
