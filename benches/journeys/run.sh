#!/usr/bin/env bash
# 1,000 concurrent customers through the order-status journey over HTTP (benches/journeys/load.mjs)
# against a release build on a fresh data dir with the sample CRM imported, alternating with the
# same load shape answering knowledge questions (the peer run). Prints one JSON line per run:
# p50/p99 turn latency, lost / duplicated / out-of-order messages (must be 0), and the server's
# CPU time per turn (including its share of opening the conversation and reading it back).
#
#   benches/journeys/run.sh            # CUSTOMERS=1000 RUNS=3
#
# Needs node (20+). Builds `target/release/warmline` if WARMLINE_BIN is not set.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
customers="${CUSTOMERS:-1000}"
runs="${RUNS:-3}"
bin="${WARMLINE_BIN:-}"
if [[ -z "$bin" ]]; then
    (cd "$repo" && cargo build --release --locked --quiet)
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/warmline"
fi
data="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
"$bin" crm import "$repo/knowledge/crm" --data-dir "$data" >/dev/null
port=$((20000 + RANDOM % 20000))
WARMLINE_NO_EMBEDDINGS=1 RUST_LOG=warn "$bin" serve --addr "127.0.0.1:$port" --data-dir "$data" \
    --knowledge "$repo/knowledge" --rate-limit-rps 0 --max-in-flight 4096 --no-watch &
pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
cpu() { awk '{print ($14 + $15) * 10}' "/proc/$pid/stat"; }   # server CPU ms (USER_HZ 100)
# Warm-up, then the measured runs: the journey, and the same load shape answering questions.
node "$here/load.mjs" "http://127.0.0.1:$port" 100 >/dev/null
for _ in $(seq "$runs"); do
    for mode in journey answers; do
        before=$(cpu)
        line=$(node "$here/load.mjs" "http://127.0.0.1:$port" "$customers" "$mode")
        echo "${line%\}},\"server_cpu_ms_per_turn\":$(awk -v a="$before" -v b="$(cpu)" -v n="$customers" 'BEGIN {printf "%.2f", (b - a) / (n * 3)}')}"
    done
done
echo "server RSS: $(awk '/VmRSS/ {print $2/1024 " MiB"}' "/proc/$pid/status")"
