#!/usr/bin/env bash
# candle (warmline generate) vs llama.cpp (llama-cpp-python) on the same GGUF files, the same
# ChatML prompt and the same thread count, one engine after the other. Prints one line per
# engine and file with the medians of RUNS runs.
#
#   benches/llm/setup.sh && cargo build --release
#   benches/llm/compare.sh [MODELS_DIR]        # default: $WARMLINE_MODELS_DIR or ./models
#
# THREADS (default 2), RUNS (3), TOKENS (64), CONCURRENT (8), PROMPT (benches/llm/prompt-400.txt)
# override.
# Run it on an otherwise idle machine: llama.cpp's threads spin-wait on each other and
# collapse when a core is taken.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS="${1:-${WARMLINE_MODELS_DIR:-models}}/smollm2-135m-instruct"
THREADS="${THREADS:-2}" RUNS="${RUNS:-3}" TOKENS="${TOKENS:-64}"
PROMPT="${PROMPT:-benches/llm/prompt-400.txt}"
BIN="${WARMLINE_BIN:-target/release/warmline}"
PY=benches/llm/.venv/bin/python
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
[ -x "$PY" ] || { echo "set up the peer first: benches/llm/setup.sh" >&2; exit 2; }

median() { python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{") and "summary" not in l]
keys = ["prompt_tokens_per_s", "time_to_first_token_s", "generated_tokens_per_s"]
m = {k: statistics.median(r[k] for r in rows) for k in keys}
print(f"{sys.argv[1]:<9} {sys.argv[2]:<6} prompt {m[keys[0]]:7.1f} tok/s  first token {m[keys[1]]*1e3:6.0f} ms  generated {m[keys[2]]:6.1f} tok/s")
' "$1" "$2"; }

for quant in Q8_0 Q4_1; do
    file="$MODELS/SmolLM2-135M-Instruct.$quant.gguf"
    "$PY" benches/llm/llama_cpp.py bench --model "$file" --threads "$THREADS" \
        --prompt-file "$PROMPT" --max-tokens "$TOKENS" --runs "$RUNS" 2>/dev/null \
        | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    if "summary" in d: continue
    print(json.dumps({"prompt_tokens_per_s": d["prompt_tok_s"], "time_to_first_token_s": d["ttft_ms"] / 1e3, "generated_tokens_per_s": d["gen_tok_s"]}))
' | median llama.cpp "$quant"
    RAYON_NUM_THREADS="$THREADS" "$BIN" generate --gguf "$file" --prompt-file "$PROMPT" \
        --max-tokens "$TOKENS" --ignore-eos --runs "$RUNS" --json | median candle "$quant"
done

# Several conversations at once: K sequences of the same prompt, generated together (llama.cpp:
# one context, K sequences per llama_batch; Warmline: one batched forward pass per token).
K="${CONCURRENT:-8}"
file="$MODELS/SmolLM2-135M-Instruct.Q8_0.gguf"
"$PY" benches/llm/llama_cpp.py bench --model "$file" --threads "$THREADS" \
    --prompt-file "$PROMPT" --max-tokens "$TOKENS" --runs "$RUNS" --concurrent "$K" 2>/dev/null \
    | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if "summary" not in l]
print("llama.cpp Q8_0   %d at once: total generated %6.1f tok/s" % (rows[0]["concurrent"], statistics.median(r["total_gen_tok_s"] for r in rows)))'
RAYON_NUM_THREADS="$THREADS" "$BIN" generate --gguf "$file" --prompt-file "$PROMPT" \
    --max-tokens "$TOKENS" --ignore-eos --runs "$RUNS" --json --concurrent "$K" \
    | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin]
print("candle    Q8_0   %d at once: total generated %6.1f tok/s" % (rows[0]["concurrent"], statistics.median(r["total_generated_tokens_per_s"] for r in rows)))'
