#!/usr/bin/env bash
# Cold start: time from exec to the first 200 from the readiness URL, median of N runs.
#
#   benches/coldstart.sh            # Warmline (release build) and, if set up, the FastAPI peer
#   RUNS=9 benches/coldstart.sh
#
# Warmline is measured twice: "first start" with an empty data dir (builds the index and the
# database) and "restart" with the data dir of the previous run (index reused).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
BIN="${WARMLINE_BIN:-target/release/warmline}"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# time_to_ready URL CMD...: prints milliseconds from start to the first 200 on URL.
time_to_ready() {
    local url=$1; shift
    local start end pid
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 &
    pid=$!
    until curl -fs -o /dev/null "$url"; do
        if ! kill -0 "$pid" 2>/dev/null; then echo "server exited" >&2; return 1; fi
        if (( ($(date +%s%N) - start) > 30000000000 )); then echo "not ready in 30 s" >&2; kill "$pid"; return 1; fi
        sleep 0.005
    done
    end=$(date +%s%N)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo $(( (end - start) / 1000000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # name, then the command (with PORT substituted), then the ready path
    local name=$1 path=$2; shift 2
    local times=()
    for _ in $(seq "$RUNS"); do
        local port; port=$(free_port)
        local cmd=("${@//PORT/$port}")
        times+=("$(time_to_ready "http://127.0.0.1:$port$path" "${cmd[@]}")")
    done
    printf '| %s | %s | %s |\n' "$name" "$(printf '%s\n' "${times[@]}" | median)" "${times[*]}"
}

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
echo "| server | median ms to ready | runs (ms) |"
echo "|---|---:|---|"
first=()
for _ in $(seq "$RUNS"); do
    rm -rf "$data/d"
    port=$(free_port)
    first+=("$(time_to_ready "http://127.0.0.1:$port/readyz" "$BIN" serve --addr "127.0.0.1:$port" --data-dir "$data/d" --no-watch)")
done
printf '| warmline, first start (empty data dir) | %s | %s |\n' "$(printf '%s\n' "${first[@]}" | median)" "${first[*]}"
measure "warmline, restart (index reused)" /readyz "$BIN" serve --addr 127.0.0.1:PORT --data-dir "$data/d" --no-watch
if [ -x benches/peers/.venv/bin/uvicorn ]; then
    measure "fastapi + tantivy-py peer" /healthz env KNOWLEDGE_DIR="$PWD/knowledge/articles" \
        benches/peers/.venv/bin/uvicorn --app-dir benches/peers/fastapi app:app --host 127.0.0.1 --port PORT --workers 1 --log-level warning --no-access-log
fi
