# Process helpers shared by kafka.sh and postgres.sh (sourced; each script defines its own `say`).
# shellcheck shell=bash

# The services' state folder (Kafka's and Postgres's data, logs, pids): $JIESU_STATE_DIR, else <repo>/.data.
# JIESU_DATA_DIR is refused rather than ignored: it also named the training data, and a stale setting ignored
# here would start a second stack on top of the shared one in <repo>/.data.
state_dir() {
    if [[ -n "${JIESU_DATA_DIR:-}" && -z "${JIESU_STATE_DIR:-}" ]]; then
        echo "JIESU_DATA_DIR is not read: set JIESU_STATE_DIR for the services' state folder" \
            "(JIESU_TRAINING_DATA_DIR names the training data)" >&2
        return 2
    fi
    printf '%s\n' "${JIESU_STATE_DIR:-$ROOT/.data}"
}

# True when something accepts TCP connections on host $1, port $2.
tcp_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# True when pid $1 exists and is not a zombie.
pid_alive() {
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/stat" ]]; then
        state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null || true)"
        [[ "$state" != "Z" && "$state" != "X" ]] || return 1
    fi
    return 0
}

# Waits up to $2 seconds until pid $1 is gone entirely (reaped, not even a zombie): only then are its sockets
# and its data directory's lock surely released. This sandbox's pid 1 reaps orphans about once a second.
wait_gone() {
    local pid="$1" deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            say "WARNING: pid $pid has exited but is not reaped yet"
            return 1
        fi
        sleep 0.2
    done
}
