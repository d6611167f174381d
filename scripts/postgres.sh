#!/usr/bin/env bash
# Local PostgreSQL 16 from the `pgserver` wheel's bundled binaries, no Docker.
#
#   scripts/postgres.sh start     initdb once, start, wait until it accepts connections, create db `jiesu`
#   scripts/postgres.sh stop      pg_ctl stop -m fast
#   scripts/postgres.sh restart   stop + start (fault tests)
#   scripts/postgres.sh kill      SIGKILL the postmaster (fault tests; the next start runs crash recovery)
#   scripts/postgres.sh status    exit 0 when running, 3 when not
#   scripts/postgres.sh url       print the DATABASE_URL
#
# Environment: PYTHON (<repo>/.venv/bin/python; used only to locate the pgserver wheel), PG_BIN (a directory
# with initdb/pg_ctl/postgres, overrides the wheel, e.g. /usr/lib/postgresql/16/bin), PG_PORT (15432),
# PG_MAX_CONNECTIONS (200), PG_SHARED_BUFFERS (256MB), PG_START_TIMEOUT (60 s),
# PG_RUN_AS (only when run as root: the unprivileged system user that owns the cluster, default `pgserver`,
# the same user the pgserver wheel itself uses under root; created with useradd if missing),
# JIESU_STATE_DIR (<repo>/.data; another one runs a second, private server, e.g. for fault tests).
# Everything runtime lives under <data dir>/postgres: data/, logs/postgres.log, run/ (unix socket).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"

PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PG_HOST=127.0.0.1
PG_PORT="${PG_PORT:-15432}"
PG_USER=jiesu
PG_DB=jiesu
PG_MAX_CONNECTIONS="${PG_MAX_CONNECTIONS:-200}"
PG_SHARED_BUFFERS="${PG_SHARED_BUFFERS:-256MB}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"

PG_HOME="$(state_dir)/postgres"
PGDATA_DIR="$PG_HOME/data"
LOGS="$PG_HOME/logs"
PG_LOG="$LOGS/postgres.log"
LOCKFILE="$PG_HOME/.lock"

say() { printf 'postgres: %s\n' "$*"; }
die() { printf 'postgres: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    echo "usage: $0 {start|stop|restart|kill|status|url}" >&2
    exit 2
}

for v in PG_PORT PG_MAX_CONNECTIONS PG_START_TIMEOUT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done

database_url() { echo "postgresql+asyncpg://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"; }

take_lock() {
    mkdir -p "$PG_HOME"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCKFILE"
        flock -w 180 9 || die "another postgres.sh is still running (lock $LOCKFILE)"
    fi
}

# --- where the binaries are -------------------------------------------------------------------------------
find_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        [[ -x "$PG_BIN/pg_ctl" ]] || die "PG_BIN=$PG_BIN has no pg_ctl"
        return 0
    fi
    [[ -x "$PYTHON" ]] || command -v "$PYTHON" >/dev/null 2>&1 \
        || die "python not found at $PYTHON (create the venv first, or set PYTHON=... or PG_BIN=...)"
    local pkg
    # find_spec, not import: importing pgserver has side effects (runtime dirs, locks) we do not want here
    pkg="$("$PYTHON" -c 'import importlib.util as u, sys
s = u.find_spec("pgserver")
sys.exit(1) if s is None else print(list(s.submodule_search_locations)[0])' 2>/dev/null)" \
        || die "the pgserver package is not installed for $PYTHON (pip install pgserver, or set PG_BIN=...)"
    PG_BIN="$pkg/pginstall/bin"
    [[ -x "$PG_BIN/pg_ctl" ]] || die "no pg_ctl in $PG_BIN (unexpected pgserver wheel layout)"
}

# --- root: run the server as an unprivileged user ---------------------------------------------------------
RUN_AS=""
# setup_user create: make the user if missing (start); setup_user: only look it up (stop/status/kill).
setup_user() {
    if [[ "$(id -u)" != 0 ]]; then
        return 0
    fi
    RUN_AS="${PG_RUN_AS:-pgserver}"
    if ! id -u "$RUN_AS" >/dev/null 2>&1; then
        [[ "${1:-}" == create ]] || return 0 # no such user: nothing of ours can be running

        say "running as root: creating system user '$RUN_AS' to own the cluster (postgres refuses to run as root)"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$RUN_AS" \
            || die "could not create user $RUN_AS (set PG_RUN_AS to an existing unprivileged user)"
    fi
}

# Runs "$@" as the cluster owner (as-is when not root). fd 9 (the lock) is never passed on.
as_pg() {
    if [[ -z "$RUN_AS" ]]; then
        (cd "$PG_HOME" && exec "$@" 9>&-)
    elif command -v setpriv >/dev/null 2>&1; then
        (cd "$PG_HOME" && exec setpriv --reuid="$RUN_AS" --regid="$(id -g "$RUN_AS")" --init-groups -- "$@" 9>&-)
    else
        (cd "$PG_HOME" && exec runuser -u "$RUN_AS" -- "$@" 9>&-)
    fi
}

# chmod a+x on every ancestor directory of $1 that the cluster owner cannot traverse (the pgserver wheel does the
# same under root; e.g. a checkout under /root). Walks from / downwards so each check sees its parents fixed.
open_path_for_owner() {
    local rest part p=""
    rest="$(dirname "$1")"
    local -a parts=()
    IFS=/ read -r -a parts <<<"${rest#/}"
    for part in "${parts[@]}"; do
        [[ -n "$part" ]] || continue
        p="$p/$part"
        if ! as_pg test -x "$p" 2>/dev/null; then
            say "making $p traversable (a+x) for user $RUN_AS"
            chmod a+x "$p"
        fi
    done
}

prepare_dirs() {
    mkdir -p "$PGDATA_DIR" "$LOGS"
    chmod 700 "$PGDATA_DIR"
    SOCK_DIR="$PG_HOME/run"
    # a unix socket path must fit in 107 bytes: fall back to a short directory under /tmp for long checkouts
    if (($(printf '%s' "$SOCK_DIR/.s.PGSQL.$PG_PORT.lock" | wc -c) > 100)); then
        SOCK_DIR="/tmp/jiesu-pg-$(id -u)-$PG_PORT"
    fi
    mkdir -p "$SOCK_DIR"
    chmod 755 "$SOCK_DIR"
    if [[ -n "$RUN_AS" ]]; then
        local d
        for d in "$PGDATA_DIR" "$LOGS" "$SOCK_DIR"; do
            if [[ "$(stat -c %U "$d")" != "$RUN_AS" ]] \
                || [[ -n "$(find "$d" ! -user "$RUN_AS" -print -quit 2>/dev/null)" ]]; then
                chown -R "$RUN_AS:$(id -g "$RUN_AS")" "$d"
            fi
        done
        open_path_for_owner "$PGDATA_DIR/PG_VERSION"
        open_path_for_owner "$PG_BIN/postgres"
        as_pg test -x "$PG_BIN/postgres" || die "user $RUN_AS cannot run $PG_BIN/postgres"
    fi
}

# --- state ------------------------------------------------------------------------------------------------
postmaster_pid() {
    local pid
    [[ -f "$PGDATA_DIR/postmaster.pid" ]] || return 1
    pid="$(head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    echo "$pid"
}

# pg_ctl status alone is fooled by a killed postmaster that nobody has reaped yet (a zombie still answers
# kill -0; this sandbox's pid 1 reaps orphans only now and then), so the pid must also be really alive.
is_running() {
    local pid
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] || return 1
    pid="$(postmaster_pid)" || return 1
    pid_alive "$pid" || return 1
    as_pg "$PG_BIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

# Before starting: a postmaster killed from outside may still be an unreaped zombie; let it go away first.
# (Stale lock files of a pid that is really gone are handled by postgres itself.)
wait_for_dead_postmaster() {
    local pid
    pid="$(postmaster_pid)" || return 0
    if kill -0 "$pid" 2>/dev/null && ! pid_alive "$pid"; then
        say "waiting for the previous postmaster (pid $pid) to finish exiting"
        wait_gone "$pid" 15 || true
    fi
}

port_open() { tcp_open "$PG_HOST" "$PG_PORT"; }

accepting() {
    if [[ -x "$PG_BIN/pg_isready" ]]; then
        "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -t 2 9>&-
    else
        port_open
    fi
}

log_tail() {
    if [[ -s "$PG_LOG" ]]; then
        echo "----- last 40 lines of $PG_LOG -----" >&2
        tail -n 40 "$PG_LOG" >&2
    fi
}

# --- steps ------------------------------------------------------------------------------------------------
init_cluster() {
    if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then
        return 0
    fi
    if [[ -n "$(ls -A "$PGDATA_DIR")" ]]; then
        say "removing a half-initialised data directory $PGDATA_DIR"
        find "$PGDATA_DIR" -mindepth 1 -delete
    fi
    say "initdb into $PGDATA_DIR (superuser $PG_USER, trust auth, UTF8, locale C) ..."
    if ! as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U "$PG_USER" --auth=trust --auth-local=trust \
        --encoding=UTF8 --locale=C --no-instructions >"$LOGS/initdb.log" 2>&1; then
        tail -n 20 "$LOGS/initdb.log" >&2 || true
        die "initdb failed (see $LOGS/initdb.log)"
    fi
}

write_config() {
    local conf="$PGDATA_DIR/jiesu.conf"
    # listen address, port and socket directory come from pg_ctl -o on every start
    cat >"$conf.tmp" <<EOF
# Generated by scripts/postgres.sh on every start; edit the script, not this file.
max_connections = $PG_MAX_CONNECTIONS
shared_buffers = '$PG_SHARED_BUFFERS'
work_mem = '8MB'
maintenance_work_mem = '64MB'
max_wal_size = '1GB'
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = off
log_disconnections = off
log_min_messages = warning
log_min_error_statement = error
EOF
    if [[ -n "$RUN_AS" ]]; then chown "$RUN_AS:$(id -g "$RUN_AS")" "$conf.tmp"; fi
    mv "$conf.tmp" "$conf"
    if ! grep -qxF "include_if_exists = 'jiesu.conf'" "$PGDATA_DIR/postgresql.conf"; then
        printf '\n%s\n' "include_if_exists = 'jiesu.conf'" >>"$PGDATA_DIR/postgresql.conf"
    fi
}

ensure_database() {
    local exists
    exists="$("$PG_BIN/psql" -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" 9>&-)" \
        || die "psql could not query the server on $PG_HOST:$PG_PORT"
    if [[ "$exists" != "1" ]]; then
        say "creating database $PG_DB"
        "$PG_BIN/createdb" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -E UTF8 "$PG_DB" 9>&- \
            || die "createdb $PG_DB failed"
    fi
}

wait_ready() {
    local deadline=$((SECONDS + PG_START_TIMEOUT))
    until accepting; do
        if ((SECONDS >= deadline)); then
            log_tail
            die "not accepting connections on $PG_HOST:$PG_PORT within ${PG_START_TIMEOUT}s"
        fi
        sleep 0.2
    done
}

cmd_start() {
    take_lock
    find_pg_bin
    setup_user create
    prepare_dirs
    local t0=$SECONDS
    if is_running; then
        wait_ready
        ensure_database
        say "already running on $PG_HOST:$PG_PORT ($(database_url))"
        return 0
    fi
    if port_open; then
        die "port $PG_HOST:$PG_PORT is taken by a server this script did not start (set PG_PORT)"
    fi
    init_cluster
    wait_for_dead_postmaster
    write_config
    say "starting on $PG_HOST:$PG_PORT (log: $PG_LOG) ..."
    if ! as_pg "$PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$PG_LOG" -w -t "$PG_START_TIMEOUT" \
        -o "-p $PG_PORT -h $PG_HOST -k $SOCK_DIR" >"$LOGS/pg_ctl.log" 2>&1; then
        cat "$LOGS/pg_ctl.log" >&2 || true
        log_tail
        die "pg_ctl start failed"
    fi
    wait_ready
    ensure_database
    say "ready on $PG_HOST:$PG_PORT after $((SECONDS - t0))s ($(database_url))"
}

cmd_stop() {
    take_lock
    find_pg_bin
    setup_user
    if ! is_running; then
        say "not running"
        return 0
    fi
    say "stopping (fast) ..."
    if ! as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 60 >"$LOGS/pg_ctl.log" 2>&1; then
        say "fast shutdown did not finish in 60s, using immediate"
        as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m immediate -w -t 30 >>"$LOGS/pg_ctl.log" 2>&1 \
            || { cat "$LOGS/pg_ctl.log" >&2; die "pg_ctl stop failed"; }
    fi
    say "stopped"
}

cmd_kill() {
    take_lock
    find_pg_bin
    setup_user
    if ! is_running; then
        say "not running"
        return 0
    fi
    local pid
    pid="$(postmaster_pid)" || die "cannot read the postmaster pid from $PGDATA_DIR/postmaster.pid"
    say "SIGKILL postmaster (pid $pid)"
    kill -KILL "$pid"
    local deadline=$((SECONDS + 10))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    wait_gone "$pid" 15 || true
    # the backends notice the dead postmaster and exit on their own; wait for the port to close
    deadline=$((SECONDS + 10))
    while port_open && ((SECONDS < deadline)); do sleep 0.2; done
    say "killed"
}

cmd_status() {
    find_pg_bin
    setup_user
    if is_running; then
        if accepting; then
            say "running on $PG_HOST:$PG_PORT ($(database_url))"
        else
            say "running but not accepting connections on $PG_HOST:$PG_PORT yet"
        fi
        return 0
    fi
    say "stopped"
    return 3
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart)
        cmd_stop
        cmd_start
        ;;
    kill) cmd_kill ;;
    status) cmd_status ;;
    url) database_url ;;
    *) usage ;;
esac
