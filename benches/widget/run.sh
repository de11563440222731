#!/usr/bin/env bash
# The widget's websocket under load, against a release build on a fresh data dir, loopback only:
#  1. 10,000 idle widget sockets held at once (one conversation each), with the server's RSS
#     before, while held and after they close (from /proc/PID/status);
#  2. 1,000 active sessions asking knowledge questions (retrieval-only answers, words-only
#     search) over the websocket, alternating with the same load over the REST API (the peer
#     run, same server, same moment): p50/p99 turn latency.
# Prints one JSON line per run.
#
#   benches/widget/run.sh            # SOCKETS=10000 SESSIONS=1000 RUNS=3 TURNS=3
#
# Needs node (20+) and `npm ci --prefix benches/widget` (the `ws` client). Builds
# `target/release/warmline` if WARMLINE_BIN is not set. File descriptors: the server and the
# client each hold one per socket, so the soft `ulimit -n` is raised to the hard limit (it must
# be above SOCKETS + a few hundred); each client socket also takes an ephemeral port
# (`/proc/sys/net/ipv4/ip_local_port_range`, ~28,000 by default).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
sockets="${SOCKETS:-10000}"
sessions="${SESSIONS:-1000}"
runs="${RUNS:-3}"
turns="${TURNS:-3}"
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < sockets + 512 )); then
    echo "ulimit -n is $(ulimit -n): too low for $sockets sockets" >&2
    exit 1
fi
[[ -d "$here/node_modules/ws" ]] || npm ci --prefix "$here" --no-audit --no-fund >/dev/null
bin="${WARMLINE_BIN:-}"
if [[ -z "$bin" ]]; then
    (cd "$repo" && cargo build --release --locked --quiet)
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/warmline"
fi
data="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
port=$((20000 + RANDOM % 10000))
WARMLINE_NO_EMBEDDINGS=1 RUST_LOG=warn "$bin" serve --addr "127.0.0.1:$port" --data-dir "$data" \
    --knowledge "$repo/knowledge" --rate-limit-rps 0 --max-in-flight 4096 --no-watch \
    --widget-max-sockets $((sockets + 1000)) &
pid=$!
for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
base="http://127.0.0.1:$port"
echo "fd limit $(ulimit -n), ephemeral ports $(tr '\t' - < /proc/sys/net/ipv4/ip_local_port_range), $(nproc) cores"
SERVER_PID=$pid timeout 600 node "$here/load.mjs" "$base" idle "$sockets" 10
timeout 300 node "$here/load.mjs" "$base" active 100 ws 1 >/dev/null   # warm-up
for _ in $(seq "$runs"); do
    for transport in ws rest; do
        timeout 600 node "$here/load.mjs" "$base" active "$sessions" "$transport" "$turns"
    done
done
echo "server RSS at the end: $(awk '/VmRSS/ {print $2/1024 " MiB"}' "/proc/$pid/status")"
