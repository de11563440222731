#!/usr/bin/env bash
# Load-tests one running chat server with wrk and prints a Markdown table.
#
#   benches/load/run.sh <name> <base_url> <pid>
#
#   name      label for the table and the log file benches/out/<name>.log
#   base_url  where the server listens, e.g. http://127.0.0.1:8080 (loopback only)
#   pid       the server's process id, to read its CPU time and memory from /proc
#
# Environment (defaults): CONCURRENCY="1 16 64"  RUNS=3  DURATION=15s  CONVERSATIONS=256
#   WRK_CPUS    if set, wrk runs under `taskset -c $WRK_CPUS`
#   SUMMARY     if set, a file to which one line per concurrency is written for compare.sh
#
# For each concurrency c, RUNS times: create CONVERSATIONS fresh conversations, then
# `wrk -t min(c,2) -c c -d DURATION` with chat.lua (every request posts one question to one of
# those conversations). The row printed for c is the median run by requests/s, with that run's
# p50/p99; CPU ms per turn is the server's CPU time (user+system, all threads) during that run
# divided by its requests; RSS is read from /proc/<pid>/status after the runs at c.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [[ $# -ne 3 ]]; then
    echo "usage: $0 <name> <base_url> <pid>" >&2
    exit 2
fi
name="$1"
base_url="${2%/}"
pid="$3"

concurrency="${CONCURRENCY:-1 16 64}"
runs="${RUNS:-3}"
duration="${DURATION:-15s}"
n_conversations="${CONVERSATIONS:-256}"

# Traffic goes to this machine only.
if [[ ! "$base_url" =~ ^http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?$ ]]; then
    echo "run.sh: refusing $base_url: only http://127.x.x.x, localhost or [::1] are load targets" >&2
    exit 2
fi
if [[ ! -r "/proc/$pid/stat" ]]; then
    echo "run.sh: no process $pid" >&2
    exit 2
fi

command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

out_dir="$repo/benches/out"
mkdir -p "$out_dir"
log="$out_dir/$name.log"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ids_file="$work/conversations.txt"

wrk_cmd=(wrk)
if [[ -n "${WRK_CPUS:-}" ]]; then
    wrk_cmd=(taskset -c "$WRK_CPUS" wrk)
fi
clk_tck="$(getconf CLK_TCK)"

# utime + stime of the process, in clock ticks. /proc/<pid>/stat already sums all threads.
# Field 2 (comm) is in parentheses and may hold spaces, so count fields after the last ")":
# there field 3 (state) is $1, so utime (14) is $12 and stime (15) is $13.
cpu_ticks() {
    sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'
}

# A /proc/<pid>/status field (VmRSS, VmHWM) in MiB.
mem_mib() {
    awk -v key="$1:" '$1 == key { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"
}

# Creates $n_conversations conversations and writes their ids, one per line, to $ids_file.
create_conversations() {
    local i responses="$work/created.txt"
    : > "$responses"
    for ((i = 0; i < n_conversations; i++)); do
        # One line per response: the body, a tab, the HTTP status.
        curl -sS -X POST -H 'Content-Type: application/json' -d '{}' \
            -w '\t%{http_code}\n' "$base_url/v1/conversations" >> "$responses"
    done
    python3 - "$responses" "$ids_file" <<'PY'
import json, sys
ids = []
for line in open(sys.argv[1], encoding="utf-8"):
    body, _, status = line.rstrip("\n").rpartition("\t")
    if status != "201":
        sys.exit(f"run.sh: POST /v1/conversations answered {status}: {body[:200]}")
    ids.append(json.loads(body)["id"])
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write("\n".join(ids) + "\n")
PY
}

# Runs wrk once; prints its RESULT line's fields followed by the server's CPU ms.
measure() {
    local c="$1" dur="$2" threads before after output result
    threads=$(( c < 2 ? c : 2 ))
    before="$(cpu_ticks)"
    output="$(WRK_CONVERSATIONS="$ids_file" "${wrk_cmd[@]}" -t "$threads" -c "$c" -d "$dur" \
        --latency -s "$here/chat.lua" "$base_url")"
    after="$(cpu_ticks)"
    result="$(grep '^RESULT ' <<<"$output" || true)"
    if [[ -z "$result" ]]; then
        echo "run.sh: wrk printed no RESULT line:" >&2
        echo "$output" >&2
        return 1
    fi
    echo "${result#RESULT } cpu_ms=$(( (after - before) * 1000 / clk_tck ))"
}

# The value of key=value in a line of such pairs.
field() {
    sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

echo "run.sh: $name at $base_url (pid $pid): concurrency $concurrency, $runs x $duration," \
    "$n_conversations conversations per run" >&2

# Warm-up: not measured.
create_conversations
measure 16 2s >/dev/null

rows=()
for c in $concurrency; do
    results=()
    for ((run = 1; run <= runs; run++)); do
        kill -0 "$pid" 2>/dev/null || { echo "run.sh: server $pid is gone" >&2; exit 1; }
        create_conversations
        line="$(measure "$c" "$duration")"
        requests="$(field requests "$line")"
        cpu_ms="$(field cpu_ms "$line")"
        per_req="$(awk -v ms="$cpu_ms" -v n="$requests" 'BEGIN { printf "%.4f", (n > 0 ? ms / n : 0) }')"
        line="$line cpu_ms_per_req=$per_req"
        echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) name=$name c=$c run=$run duration=$duration $line" >> "$log"
        echo "  c=$c run $run/$runs: $line" >&2
        results+=("$line")
    done

    # The median run by requests/s (for an even count, the lower middle one).
    median="$(for r in "${results[@]}"; do echo "$(field rps "$r") $r"; done \
        | sort -n -k1,1 | sed -n "$(( (runs + 1) / 2 ))p" | cut -d' ' -f2-)"
    rss="$(mem_mib VmRSS)"
    hwm="$(mem_mib VmHWM)"
    failures=$(( $(field non2xx "$median") + $(field errors "$median") ))
    rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |' \
        "$name" "$c" "$(field rps "$median")" "$(field p50_ms "$median")" \
        "$(field p99_ms "$median")" "$(field cpu_ms_per_req "$median")" "$rss" "$hwm" "$failures")")
    if [[ -n "${SUMMARY:-}" ]]; then
        echo "c=$c $median rss_mib=$rss hwm_mib=$hwm" >> "$SUMMARY"
    fi
done

echo
echo "| server | clients | req/s | p50 ms | p99 ms | CPU ms/turn | RSS MiB | peak RSS MiB | non-2xx + errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
