#!/usr/bin/env bash
# Local single-node Apache Kafka 4.x (KRaft: one process is broker and controller), no Docker, no root needed.
#
#   scripts/kafka.sh start     fetch the jars once (mvn), format storage once, start, wait until ready
#   scripts/kafka.sh stop      SIGTERM the broker this script started, SIGKILL after 30 s
#   scripts/kafka.sh kill      SIGKILL it at once (fault tests); data is kept
#   scripts/kafka.sh status    exit 0 when running, 3 when not
#   scripts/kafka.sh fetch     only resolve the jars into .data/kafka/libs
#
# Environment: KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093), KAFKA_HEAP_OPTS ("-Xms1g -Xmx1g"),
# KAFKA_JVM_OPTS (extra JVM flags), KAFKA_START_TIMEOUT (90 s), KAFKA_STOP_TIMEOUT (30 s), JAVA (java),
# KAFKA_MVN_ARGS (extra mvn arguments, e.g. "-o" or "-Dmaven.repo.local=/path"),
# JIESU_STATE_DIR (<repo>/.data; another one runs a second, private broker, e.g. for fault tests),
# KAFKA_LIBS (<data dir>/kafka/libs; point it at an existing jar directory to skip the mvn fetch).
# Everything runtime lives under <data dir>/kafka: libs/, data/, logs/, server.properties, kafka.pid.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_MVN_ARGS="${KAFKA_MVN_ARGS:-}"
JAVA="${JAVA:-java}"

POM="$SCRIPT_DIR/kafka/pom.xml"
LOG4J_CONFIG="$SCRIPT_DIR/kafka/log4j2.properties"
KAFKA_HOME="$(state_dir)/kafka"
LIBS="${KAFKA_LIBS:-$KAFKA_HOME/libs}"
LIBS_MARKER="$LIBS/.pom.sha256"
DATA="$KAFKA_HOME/data"
LOGS="$KAFKA_HOME/logs"
PROPS="$KAFKA_HOME/server.properties"
PIDFILE="$KAFKA_HOME/kafka.pid"
CLUSTER_ID_FILE="$KAFKA_HOME/cluster.id"
SERVER_LOG="$LOGS/server.log"
STDOUT_LOG="$LOGS/kafka.stdout.log"
LOCKFILE="$KAFKA_HOME/.lock"

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    echo "usage: $0 {start|stop|kill|status|fetch}" >&2
    exit 2
}

for v in KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_START_TIMEOUT KAFKA_STOP_TIMEOUT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done

# Serialise concurrent invocations (two `start`s at once would both format / launch). fd 9 is closed for
# every long-lived child so the broker never holds the lock.
take_lock() {
    mkdir -p "$KAFKA_HOME"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCKFILE"
        flock -w 180 9 || die "another kafka.sh is still running (lock $LOCKFILE)"
    fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { tcp_open "$KAFKA_HOST" "$1"; }

# Prints the pid of the broker this script started, if it is alive and really is that broker.
running_pid() {
    local pid
    [[ -f "$PIDFILE" ]] || return 1
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    [[ -n "$pid" ]] || return 1
    pid_alive "$pid" || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        # guard against pid reuse: the process must be kafka.Kafka on our properties file
        grep -qxF "$PROPS" <<<"$(tr '\0' '\n' <"/proc/$pid/cmdline")" || return 1
    fi
    echo "$pid"
}

log_tail() {
    local f
    for f in "$SERVER_LOG" "$STDOUT_LOG"; do
        if [[ -s "$f" ]]; then
            echo "----- last 40 lines of $f -----" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

file_size() { if [[ -f "$1" ]]; then stat -c %s "$1"; else echo 0; fi; }

# Resolve kafka_2.13 and its runtime dependencies into $LIBS, unless the jars for this exact pom are there.
fetch_jars() {
    local pom_hash tmp
    pom_hash="$(sha256sum "$POM" | cut -d' ' -f1)"
    if [[ -f "$LIBS_MARKER" && "$(cat "$LIBS_MARKER")" == "$pom_hash" ]] \
        && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found; it is needed once to fetch the Kafka jars"
    mkdir -p "$LOGS"
    tmp="$KAFKA_HOME/libs.tmp.$$"
    rm -rf "$tmp"
    say "fetching Kafka jars with mvn (once; log: $LOGS/mvn.log) ..."
    local -a extra=()
    read -r -a extra <<<"$KAFKA_MVN_ARGS"
    if ! mvn -B -q -f "$POM" "${extra[@]}" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$LOGS/mvn.log" 2>&1 9>&-; then
        tail -n 40 "$LOGS/mvn.log" >&2 || true
        rm -rf "$tmp"
        die "mvn could not resolve the Kafka jars (see $LOGS/mvn.log)"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "mvn finished but no kafka_2.13 jar in $tmp"
    echo "$pom_hash" >"$tmp/.pom.sha256"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    say "jars ready: $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

check_java() {
    command -v "$JAVA" >/dev/null 2>&1 || die "java not found (set JAVA=/path/to/java); Kafka 4 needs Java 17+"
    local ver
    ver="$("$JAVA" -version 2>&1 | sed -nE 's/.*version "([0-9]+)(\.[0-9]+)*.*/\1/p' | head -n1)"
    if [[ -n "$ver" && "$ver" -lt 17 ]]; then
        die "Kafka 4 needs Java 17+, $JAVA is Java $ver"
    fi
}

write_props() {
    mkdir -p "$DATA" "$LOGS"
    cat >"$PROPS.tmp" <<EOF
# Generated by scripts/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# a restart after SIGKILL waits until the dead incarnation's broker session expires (default 9 s)
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
auto.create.topics.enable=false
num.network.threads=3
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=268435456
EOF
    mv "$PROPS.tmp" "$PROPS"
}

java_cmd() {
    local -a heap=() extra=()
    read -r -a heap <<<"$KAFKA_HEAP_OPTS"
    read -r -a extra <<<"$KAFKA_JVM_OPTS"
    JAVA_CMD=("$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true -Dkafka.logs.dir="$LOGS" -Dlog4j2.configurationFile="$LOG4J_CONFIG"
        "${extra[@]}" -cp "$LIBS/*")
}

format_storage() {
    if [[ -f "$DATA/meta.properties" ]]; then
        return 0
    fi
    local cid
    if [[ -s "$CLUSTER_ID_FILE" ]]; then
        cid="$(tr -d '[:space:]' <"$CLUSTER_ID_FILE")"
    else
        cid="$("$JAVA" -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$LOGS" \
            kafka.tools.StorageTool random-uuid 2>>"$LOGS/format.log" | tail -n1 | tr -d '[:space:]')"
        [[ -n "$cid" ]] || die "StorageTool random-uuid printed nothing (see $LOGS/format.log)"
        echo "$cid" >"$CLUSTER_ID_FILE"
    fi
    say "formatting KRaft storage in $DATA (cluster id $cid) ..."
    # A static quorum (controller.quorum.voters) is formatted without --standalone/--initial-controllers;
    # those flags are for the dynamic quorum (controller.quorum.bootstrap.servers) and are refused here.
    if ! "$JAVA" -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$LOGS" \
        kafka.tools.StorageTool format -t "$cid" -c "$PROPS" >>"$LOGS/format.log" 2>&1; then
        tail -n 20 "$LOGS/format.log" >&2 || true
        die "formatting the storage failed (see $LOGS/format.log)"
    fi
}

# Waits until the broker pid $1 listens on the client port and has logged that it started
# (in the part of server.log written after byte offset $2).
wait_ready() {
    local pid="$1" offset="$2" deadline=$((SECONDS + KAFKA_START_TIMEOUT)) size
    while :; do
        if ! pid_alive "$pid"; then
            log_tail
            rm -f "$PIDFILE"
            die "the broker (pid $pid) exited during startup"
        fi
        if port_open "$KAFKA_PORT"; then
            size="$(file_size "$SERVER_LOG")"
            ((size >= offset)) || offset=0 # the log rolled over meanwhile
            # (a process substitution, not a pipe: with pipefail, `tail | grep -q` fails on SIGPIPE once the
            # log is large, and the broker would never count as ready)
            if grep -q -e 'Kafka Server started' -e 'started (kafka.server.KafkaRaftServer)' \
                < <(tail -c +"$((offset + 1))" "$SERVER_LOG" 2>/dev/null); then
                return 0
            fi
        fi
        if ((SECONDS >= deadline)); then
            log_tail
            say "stopping the broker that did not become ready (pid $pid)"
            terminate "$pid" 10
            rm -f "$PIDFILE"
            die "the broker was not ready within ${KAFKA_START_TIMEOUT}s on $KAFKA_HOST:$KAFKA_PORT"
        fi
        sleep 0.5
    done
}

# SIGTERM pid $1, SIGKILL after $2 seconds; returns when it is gone.
terminate() {
    local pid="$1" grace="$2" deadline
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.5; done
    if pid_alive "$pid"; then
        say "pid $pid still alive after ${grace}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    fi
    ! pid_alive "$pid" || die "could not stop pid $pid"
    wait_gone "$pid" 15 || true
}

cmd_start() {
    take_lock
    local pid offset port t0=$SECONDS
    if pid="$(running_pid)"; then
        local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
        until port_open "$KAFKA_PORT"; do
            ((SECONDS < deadline)) || die "pid $pid is running but $KAFKA_HOST:$KAFKA_PORT does not answer"
            sleep 0.5
        done
        say "already running (pid $pid) on $KAFKA_HOST:$KAFKA_PORT"
        return 0
    fi
    if [[ -f "$PIDFILE" ]]; then
        # killed from outside (e.g. kill -9 by a fault test) and not reaped yet: let it finish exiting
        pid="$(tr -dc '0-9' <"$PIDFILE")"
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            say "waiting for the previous broker (pid $pid) to finish exiting"
            wait_gone "$pid" 15 || true
        fi
        rm -f "$PIDFILE"
    fi
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        if port_open "$port"; then
            die "port $KAFKA_HOST:$port is taken by a process this script did not start (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
        fi
    done
    check_java
    fetch_jars
    write_props
    format_storage
    java_cmd
    offset="$(file_size "$SERVER_LOG")"
    say "starting broker on $KAFKA_HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT; logs in $LOGS) ..."
    {
        echo "=== $(date -u '+%Y-%m-%dT%H:%M:%SZ') start: ${JAVA_CMD[*]} kafka.Kafka $PROPS"
    } >>"$STDOUT_LOG"
    # setsid: own session, so the broker outlives the calling shell/terminal; the background job is not a
    # process-group leader, so setsid and nohup both exec in place and $! is the JVM's pid.
    (cd "$KAFKA_HOME" && exec setsid nohup "${JAVA_CMD[@]}" kafka.Kafka "$PROPS" \
        >>"$STDOUT_LOG" 2>&1 </dev/null 9>&-) &
    pid=$!
    echo "$pid" >"$PIDFILE"
    wait_ready "$pid" "$offset"
    say "ready (pid $pid) on $KAFKA_HOST:$KAFKA_PORT after $((SECONDS - t0))s"
}

cmd_stop() {
    take_lock
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PIDFILE"
        say "not running"
        return 0
    fi
    say "stopping broker (pid $pid) ..."
    terminate "$pid" "$KAFKA_STOP_TIMEOUT"
    rm -f "$PIDFILE"
    say "stopped"
}

cmd_kill() {
    take_lock
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PIDFILE"
        say "not running"
        return 0
    fi
    say "SIGKILL broker (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    ! pid_alive "$pid" || die "pid $pid survived SIGKILL"
    wait_gone "$pid" 15 || true
    rm -f "$PIDFILE"
    say "killed"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        if port_open "$KAFKA_PORT"; then
            say "running (pid $pid) on $KAFKA_HOST:$KAFKA_PORT"
        else
            say "running (pid $pid) but $KAFKA_HOST:$KAFKA_PORT does not answer yet"
        fi
        return 0
    fi
    say "stopped"
    return 3
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    kill) cmd_kill ;;
    status) cmd_status ;;
    fetch)
        take_lock
        fetch_jars
        ;;
    *) usage ;;
esac
