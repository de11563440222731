#!/usr/bin/env bash
# Runs the chat load benchmark against the FastAPI peer and, when WARMLINE_BIN is set, against
# Warmline, then prints both tables and Warmline's ratios to the peer.
#
#   benches/peers/setup.sh                      # once: the peer's venv
#   WARMLINE_BIN=target/release/warmline benches/load/compare.sh
#
# Environment: everything run.sh reads (CONCURRENCY, RUNS, DURATION, CONVERSATIONS, WRK_CPUS), and
#   WARMLINE_BIN  path to a built warmline binary; without it only the peer is measured
#   KNOWLEDGE     knowledge folder holding articles/ (default: <repo>/knowledge)
#   SERVER_CPUS   if set, servers run under `taskset -c $SERVER_CPUS`
# Servers listen on free 127.0.0.1 ports and are stopped on exit, failure included.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
knowledge="$(cd "${KNOWLEDGE:-$repo/knowledge}" && pwd)"
venv="$repo/benches/peers/.venv"
out_dir="$repo/benches/out"
mkdir -p "$out_dir"

command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
if [[ ! -x "$venv/bin/uvicorn" ]]; then
    echo "compare.sh: no peer venv; run benches/peers/setup.sh first" >&2
    exit 1
fi
if [[ -n "${WARMLINE_BIN:-}" && ! -x "$WARMLINE_BIN" ]]; then
    echo "compare.sh: WARMLINE_BIN=$WARMLINE_BIN is not an executable" >&2
    exit 1
fi

server_prefix=()
if [[ -n "${SERVER_CPUS:-}" ]]; then
    server_prefix=(taskset -c "$SERVER_CPUS")
fi

work="$(mktemp -d)"
server_pid=""

# Stops the server this script started, if any: TERM, then KILL after 10 s.
stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until $1 answers 200, for at most $2 seconds, while the server is alive.
wait_ready() {
    local url="$1" limit="$2" start=$SECONDS
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" == "200" ]]; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "compare.sh: the server exited before $url answered; see its log" >&2
            return 1
        fi
        if (( SECONDS - start >= limit )); then
            echo "compare.sh: $url did not answer 200 within ${limit}s" >&2
            return 1
        fi
        sleep 0.2
    done
}

# ---- the FastAPI peer ----

port="$(free_port)"
echo "compare.sh: starting the FastAPI peer on 127.0.0.1:$port over $knowledge/articles" >&2
# exec, so that $! is uvicorn itself (with --workers 1 it serves in its own process).
(
    export KNOWLEDGE_DIR="$knowledge/articles"
    exec "${server_prefix[@]}" "$venv/bin/uvicorn" app:app --app-dir "$repo/benches/peers/fastapi" \
        --host 127.0.0.1 --port "$port" --workers 1 --log-level warning --no-access-log
) > "$out_dir/fastapi.server.log" 2>&1 &
server_pid=$!
wait_ready "http://127.0.0.1:$port/healthz" 60
SUMMARY="$work/fastapi.summary" "$here/run.sh" fastapi "http://127.0.0.1:$port" "$server_pid" \
    > "$work/fastapi.table"
stop_server

# ---- Warmline ----

if [[ -n "${WARMLINE_BIN:-}" ]]; then
    port="$(free_port)"
    data_dir="$work/warmline-data"
    mkdir -p "$data_dir"
    echo "compare.sh: starting $WARMLINE_BIN on 127.0.0.1:$port" >&2
    (
        exec "${server_prefix[@]}" "$WARMLINE_BIN" serve --addr "127.0.0.1:$port" \
            --data-dir "$data_dir" --knowledge "$knowledge" --rate-limit-rps 0
    ) > "$out_dir/warmline.server.log" 2>&1 &
    server_pid=$!
    wait_ready "http://127.0.0.1:$port/readyz" 120
    SUMMARY="$work/warmline.summary" "$here/run.sh" warmline "http://127.0.0.1:$port" "$server_pid" \
        > "$work/warmline.table"
    stop_server
fi

# ---- report ----

echo
echo "## Chat load: $(date -u +%Y-%m-%d), $(nproc) cores, RUNS=${RUNS:-3} x DURATION=${DURATION:-15s}"
cat "$work/fastapi.table"
if [[ -f "$work/warmline.table" ]]; then
    tail -n +4 "$work/warmline.table" # its rows only, under the same header
    # Ratios at the highest concurrency both ran (64 by default).
    python3 - "$work/fastapi.summary" "$work/warmline.summary" <<'PY'
import sys

def load(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        pairs = dict(p.split("=", 1) for p in line.split())
        rows[int(pairs["c"])] = pairs
    return rows

peer, warmline = load(sys.argv[1]), load(sys.argv[2])
c = max(set(peer) & set(warmline))
p, w = peer[c], warmline[c]
rps = float(w["rps"]) / float(p["rps"]) if float(p["rps"]) else float("nan")
p99 = float(w["p99_ms"]) / float(p["p99_ms"]) if float(p["p99_ms"]) else float("nan")
print()
print(f"At {c} clients: Warmline req/s / peer req/s = {rps:.2f}x; "
      f"Warmline p99 / peer p99 = {p99:.2f}x")
PY
fi
echo
echo "Raw runs: benches/out/fastapi.log${WARMLINE_BIN:+, benches/out/warmline.log}"
