#!/usr/bin/env bash
# The local stack: Kafka (scripts/kafka.sh) and Postgres (scripts/postgres.sh), no Docker.
#
#   scripts/services.sh up     [kafka] [postgres]   start (idempotent), wait until ready, create the topics
#   scripts/services.sh down   [kafka] [postgres]   stop what these scripts started (pid files / pg_ctl)
#   scripts/services.sh status [kafka] [postgres]   exit 0 when all the named components run, 3 otherwise
#
# Components default to "kafka postgres"; `up postgres` starts only Postgres (the embedded `make run` uses it).
# After every command .data/services.env holds one KEY=VALUE line per running component:
#   KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092
#   DATABASE_URL=postgresql+asyncpg://jiesu@127.0.0.1:15432/jiesu
# (ports follow KAFKA_PORT / PG_PORT). Load it with: set -a; . .data/services.env; set +a
# Environment: PYTHON (<repo>/.venv/bin/python), plus whatever kafka.sh and postgres.sh read.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
export PYTHON
KAFKA_PORT="${KAFKA_PORT:-19092}"
PG_PORT="${PG_PORT:-15432}"
export KAFKA_PORT PG_PORT
KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
DATABASE_URL="postgresql+asyncpg://jiesu@127.0.0.1:$PG_PORT/jiesu"
ENV_FILE="$ROOT/.data/services.env"

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    echo "usage: $0 {up|down|status} [kafka] [postgres]" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
action="$1"
shift
components=("$@")
if [[ ${#components[@]} -eq 0 ]]; then
    components=(kafka postgres)
fi
for c in "${components[@]}"; do
    case "$c" in
        kafka | postgres) ;;
        *) die "unknown component '$c' (known: kafka postgres)" ;;
    esac
done

wants() {
    local c
    for c in "${components[@]}"; do [[ "$c" == "$1" ]] && return 0; done
    return 1
}

running() { bash "$SCRIPT_DIR/$1.sh" status >/dev/null 2>&1; }

ensure_topics() {
    if [[ ! -f "$ROOT/ingest/topics.py" ]]; then
        say "WARNING: ingest/topics.py does not exist yet, topics not created"
        return 0
    fi
    say "ensuring topics on $KAFKA_BOOTSTRAP_SERVERS ..."
    (cd "$ROOT" && "$PYTHON" -m ingest.topics ensure --bootstrap-servers "$KAFKA_BOOTSTRAP_SERVERS") \
        || die "'$PYTHON -m ingest.topics ensure' failed"
}

# One line per component that is running now, whatever this invocation touched.
write_env() {
    local -a lines=()
    if running kafka; then lines+=("KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"); fi
    if running postgres; then lines+=("DATABASE_URL=$DATABASE_URL"); fi
    # A gateway started by make run / make up keeps its lines (scripts/gateway_env.sh).
    local name
    for name in JIESU_GATEWAY_URL JIESU_WORKER_METRICS_URLS; do
        if [[ -f "$ENV_FILE" ]] && grep -q "^$name=" "$ENV_FILE"; then
            lines+=("$(grep "^$name=" "$ENV_FILE" | tail -1)")
        fi
    done
    mkdir -p "$(dirname "$ENV_FILE")"
    if [[ ${#lines[@]} -eq 0 ]]; then
        rm -f "$ENV_FILE"
        return 0
    fi
    printf '%s\n' "${lines[@]}" >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    say "wrote $ENV_FILE: ${lines[*]}"
}

case "$action" in
    up)
        t0=$SECONDS
        if wants postgres; then bash "$SCRIPT_DIR/postgres.sh" start; fi
        if wants kafka; then
            bash "$SCRIPT_DIR/kafka.sh" start
            ensure_topics
        fi
        write_env
        say "up: ${components[*]} ready in $((SECONDS - t0))s"
        ;;
    down)
        rc=0
        if wants kafka; then bash "$SCRIPT_DIR/kafka.sh" stop || rc=1; fi
        if wants postgres; then bash "$SCRIPT_DIR/postgres.sh" stop || rc=1; fi
        write_env
        exit "$rc"
        ;;
    status)
        rc=0
        for c in "${components[@]}"; do
            bash "$SCRIPT_DIR/$c.sh" status || rc=3
        done
        exit "$rc"
        ;;
    *) usage ;;
esac
