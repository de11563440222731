#!/usr/bin/env python3
"""llama.cpp peer benchmark and tokenizer reference for Warmline's GGUF generator.

Run with the venv that setup.sh creates:

    benches/llm/.venv/bin/python benches/llm/llama_cpp.py tokenize --model M.gguf "Hello world"
    benches/llm/.venv/bin/python benches/llm/llama_cpp.py bench --model M.gguf --threads 2 \
        --prompt-file benches/llm/prompt-400.txt --max-tokens 64 [--runs 3] [--concurrent K]

Every output line is one JSON object (stdout). llama.cpp's own log goes to stderr.
Only the standard library, llama_cpp (llama-cpp-python) and psutil are used.

Note: this file is named llama_cpp.py, so the script directory is removed from sys.path
before `import llama_cpp`; otherwise Python would import this file instead of the package.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _HERE]

try:
    import llama_cpp  # noqa: E402
    from llama_cpp import Llama  # noqa: E402
    from llama_cpp import _internals as internals  # noqa: E402
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(
        f"error: cannot import llama_cpp ({e}); run benches/llm/setup.sh and use "
        f"benches/llm/.venv/bin/python"
    )

try:
    import psutil
except ImportError:  # psutil is optional: fall back to getrusage only
    psutil = None

N_CTX = 2048
N_BATCH = 512
SEED = 0


def die(msg: str) -> "None":
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def check_model(path: str) -> str:
    if not os.path.exists(path):
        die(f"model file not found: {path}")
    if not os.path.isfile(path):
        die(f"model path is not a file: {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        die(f"not a GGUF file (magic {magic!r}): {path}")
    return path


def emit(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def rss_mib() -> float | None:
    if psutil is None:
        return None
    return round(psutil.Process().memory_info().rss / (1024.0 * 1024.0), 1)


# --------------------------------------------------------------------------- tokenize


def cmd_tokenize(args: argparse.Namespace) -> None:
    check_model(args.model)
    llm = Llama(model_path=args.model, vocab_only=True, verbose=False)
    for text in args.text:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        emit({"text": text, "ids": ids})


# --------------------------------------------------------------------------- bench


def load_model(path: str, threads: int) -> tuple[Llama, float]:
    t0 = time.perf_counter()
    llm = Llama(
        model_path=path,
        n_ctx=N_CTX,
        n_batch=N_BATCH,
        n_threads=threads,
        n_threads_batch=threads,
        seed=SEED,
        verbose=False,
    )
    return llm, time.perf_counter() - t0


def eog_tokens(llm: Llama) -> list[int]:
    """All end-of-generation tokens of the vocabulary (EOS, EOT, <|im_end|>, ...)."""
    vocab = llm._model.vocab
    n = llama_cpp.llama_vocab_n_tokens(vocab)
    return [t for t in range(n) if llama_cpp.llama_vocab_is_eog(vocab, t)]


def greedy_no_eos_sampler(llm: Llama, eog: list[int]) -> "internals.LlamaSampler":
    """Greedy (argmax) sampler with every end-of-generation token banned (-inf bias),
    so exactly --max-tokens tokens are generated. Runs in C: no Python logits processor."""
    s = internals.LlamaSampler()
    s.add_logit_bias(llm.n_vocab(), {t: float("-inf") for t in eog})
    s.add_greedy()
    return s


def read_prompt(llm: Llama, path: str) -> tuple[str, list[int]]:
    if not os.path.isfile(path):
        die(f"prompt file not found: {path}")
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    if not ids:
        die(f"prompt file tokenizes to nothing: {path}")
    return text, ids


def run_single(llm: Llama, sampler, prompt_ids: list[int], max_tokens: int) -> dict:
    """One sequence: prompt eval, then max_tokens greedy tokens through Llama.eval."""
    if len(prompt_ids) + max_tokens > N_CTX:
        die(f"prompt ({len(prompt_ids)}) + max tokens ({max_tokens}) exceeds n_ctx {N_CTX}")
    llm.reset()  # n_tokens = 0; the next eval drops the whole KV cache of sequence 0
    sampler.reset()
    ctx = llm._ctx

    t0 = time.perf_counter()
    llm.eval(prompt_ids)
    t_prompt = time.perf_counter() - t0
    tok = sampler.sample(ctx, -1)
    t_first = time.perf_counter() - t0
    out = [tok]

    t1 = time.perf_counter()
    for _ in range(max_tokens - 1):
        llm.eval([tok])
        tok = sampler.sample(ctx, -1)
        out.append(tok)
    t2 = time.perf_counter()
    t_gen = t2 - t1

    n_rest = max_tokens - 1
    return {
        "_gen_start": t1,  # absolute perf_counter stamps, used (and removed) by run_threads
        "_gen_end": t2,
        "prompt_tokens": len(prompt_ids),
        "prompt_s": round(t_prompt, 4),
        "prompt_tok_s": round(len(prompt_ids) / t_prompt, 1),
        "ttft_ms": round(t_first * 1000.0, 1),
        "generated_tokens": len(out),
        "gen_s_excl_first": round(t_gen, 4),
        "gen_tok_s": round(n_rest / t_gen, 1) if n_rest > 0 and t_gen > 0 else None,
        "total_s": round(t_first + t_gen, 4),
        "output_ids": out,
        "output_text": llm.detokenize(out).decode("utf-8", errors="replace"),
    }


def run_batched(llm: Llama, eog: list[int], prompt_ids: list[int], max_tokens: int,
                k: int, threads: int, ctx_holder: dict) -> dict:
    """K independent sequences decoded together in one llama.cpp batch (seq ids 0..K-1):
    the prompts are evaluated sequence by sequence, then every step decodes one token of
    each of the K sequences in a single llama_decode call. Uses the model already loaded
    in `llm` with a second context that has n_seq_max = K and n_ctx = K * 2048 (each
    sequence gets its own 2048-token KV area)."""
    if "ctx" not in ctx_holder:
        params = llm.context_params  # the same settings as the single-sequence context
        params.n_ctx = N_CTX * k
        params.n_seq_max = k
        params.kv_unified = False
        params.n_threads = threads
        params.n_threads_batch = threads
        ctx_holder["ctx"] = internals.LlamaContext(model=llm._model, params=params, verbose=False)
        ctx_holder["batch"] = internals.LlamaBatch(
            n_tokens=max(N_BATCH, k), embd=0, n_seq_max=k, verbose=False
        )
        ctx_holder["samplers"] = [greedy_no_eos_sampler(llm, eog) for _ in range(k)]
    ctx = ctx_holder["ctx"]
    batch = ctx_holder["batch"]
    samplers = ctx_holder["samplers"]
    ctx.kv_cache_clear()
    for s in samplers:
        s.reset()
    b = batch.batch
    n_p = len(prompt_ids)

    t0 = time.perf_counter()
    # Prompts: one sequence at a time, in chunks of n_batch; logits only for its last token.
    first = []
    for seq in range(k):
        for start in range(0, n_p, N_BATCH):
            chunk = prompt_ids[start:start + N_BATCH]
            b.n_tokens = len(chunk)
            for i, t in enumerate(chunk):
                b.token[i] = t
                b.pos[i] = start + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = seq
                b.logits[i] = False
            b.logits[len(chunk) - 1] = True
            ctx.decode(batch)
        first.append(samplers[seq].sample(ctx, -1))
    t_prompt_all = time.perf_counter() - t0

    outs = [[t] for t in first]
    t1 = time.perf_counter()
    for step in range(max_tokens - 1):
        b.n_tokens = k
        for seq in range(k):
            b.token[seq] = outs[seq][-1]
            b.pos[seq] = n_p + step
            b.n_seq_id[seq] = 1
            b.seq_id[seq][0] = seq
            b.logits[seq] = True
        ctx.decode(batch)
        for seq in range(k):
            outs[seq].append(samplers[seq].sample(ctx, seq))
    t_gen = time.perf_counter() - t1

    n_rest = (max_tokens - 1) * k
    return {
        "mode": "batching (one llama_decode per step for all K sequences)",
        "concurrent": k,
        "prompt_tokens": n_p,
        "prompt_s_all": round(t_prompt_all, 4),
        "prompt_tok_s": round(n_p * k / t_prompt_all, 1),
        "generated_tokens_total": sum(len(o) for o in outs),
        "gen_s_excl_first": round(t_gen, 4),
        "total_gen_tok_s": round(n_rest / t_gen, 1) if t_gen > 0 else None,
        "per_seq_gen_tok_s": round((max_tokens - 1) / t_gen, 1) if t_gen > 0 else None,
        "total_s": round(t_prompt_all + t_gen, 4),
        "sequences_identical": all(o == outs[0] for o in outs),
        "output_ids_seq0": outs[0],
    }


def run_threads(model: str, threads: int, prompt_ids: list[int], max_tokens: int,
                k: int, instances: list) -> dict:
    """K independent sequences, each on its own Llama instance (own model copy, own
    context, nothing shared) in its own Python thread. llama.cpp releases the GIL inside
    decode, so the K decodes overlap; each instance uses --threads threads, so there are
    K * threads compute threads competing for the cores. Threads, not batching."""
    if not instances:
        for _ in range(k):
            llm, _load = load_model(model, threads)
            instances.append((llm, greedy_no_eos_sampler(llm, eog_tokens(llm))))
    results: list = [None] * k
    errors: list = []
    barrier = threading.Barrier(k + 1)

    def worker(i: int) -> None:
        try:
            llm, s = instances[i]
            barrier.wait()
            results[i] = run_single(llm, s, prompt_ids, max_tokens)
        except BaseException as e:  # noqa: BLE001 - report and continue
            errors.append(repr(e))

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
    for t in ths:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ths:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        die(f"thread failed: {errors[0]}")
    total = sum(r["generated_tokens"] for r in results)
    gen_window = max(r.pop("_gen_end") for r in results) - min(r.pop("_gen_start") for r in results)
    return {
        "mode": "threads, not batching (K separate Llama instances in K Python threads)",
        "concurrent": k,
        "prompt_tokens": len(prompt_ids),
        "wall_s": round(wall, 4),
        "generated_tokens_total": total,
        "total_tok_s_incl_prompt": round(total / wall, 1),
        # Tokens 2..M of all sequences over the window from the first sequence's start of
        # generation to the last one's end (the K windows may only partly overlap).
        "total_gen_tok_s": round((total - k) / gen_window, 1) if gen_window > 0 else None,
        "gen_window_s": round(gen_window, 4),
        "ttft_ms_max": max(r["ttft_ms"] for r in results),
        "per_seq_gen_tok_s": [r["gen_tok_s"] for r in results],
        "output_ids_seq0": results[0]["output_ids"],
    }


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def cmd_bench(args: argparse.Namespace) -> None:
    check_model(args.model)
    if args.threads < 1 or args.max_tokens < 1 or args.runs < 1 or args.concurrent < 1:
        die("--threads, --max-tokens, --runs and --concurrent must be >= 1")

    llm, load_s = load_model(args.model, args.threads)
    _, prompt_ids = read_prompt(llm, args.prompt_file)
    eog = eog_tokens(llm)
    common = {
        "model": os.path.basename(args.model),
        "model_bytes": os.path.getsize(args.model),
        "threads": args.threads,
        "max_tokens": args.max_tokens,
        "n_ctx": N_CTX,
        "n_batch": N_BATCH,
        "sampling": "greedy, end-of-generation tokens banned",
        "banned_eog_ids": eog,
    }

    runs = []
    if args.concurrent == 1:
        sampler = greedy_no_eos_sampler(llm, eog)
        for i in range(args.runs):
            r = run_single(llm, sampler, prompt_ids, args.max_tokens)
            r.pop("_gen_start"), r.pop("_gen_end")
            r.update(run=i + 1, load_s=round(load_s, 4), peak_rss_mib=peak_rss_mib(),
                     rss_mib=rss_mib())
            if not args.show_output:
                r.pop("output_ids")
                r.pop("output_text")
            emit(r)
            runs.append(r)
        keys = ["prompt_tok_s", "ttft_ms", "gen_tok_s", "total_s"]
    else:
        holder: dict = {}
        instances: list = []
        if args.concurrent_mode == "threads":
            del llm  # each thread loads its own instance
        for i in range(args.runs):
            if args.concurrent_mode == "batch":
                r = run_batched(llm, eog, prompt_ids, args.max_tokens, args.concurrent,
                                args.threads, holder)
            else:
                r = run_threads(args.model, args.threads, prompt_ids, args.max_tokens,
                                args.concurrent, instances)
            r.update(run=i + 1, load_s=round(load_s, 4), peak_rss_mib=peak_rss_mib(),
                     rss_mib=rss_mib())
            if not args.show_output:
                r.pop("output_ids_seq0")
            emit(r)
            runs.append(r)
        keys = ["total_gen_tok_s", "total_s", "wall_s", "prompt_tok_s", "ttft_ms_max"]

    summary = {"summary": "median", "runs": len(runs), **common,
               "prompt_tokens": len(prompt_ids), "load_s": round(load_s, 4)}
    if args.concurrent > 1:
        summary["concurrent"] = args.concurrent
        summary["mode"] = runs[0]["mode"]
    for key in keys:
        if any(key in r for r in runs):
            summary[key] = median([r.get(key) for r in runs])
    summary["peak_rss_mib"] = peak_rss_mib()
    summary["llama_cpp_python"] = llama_cpp.__version__
    summary["system_info"] = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    emit(summary)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("tokenize", help="print reference token ids, one JSON line per TEXT")
    t.add_argument("--model", required=True, help="GGUF file")
    t.add_argument("text", nargs="+", metavar="TEXT")
    t.set_defaults(func=cmd_tokenize)

    b = sub.add_parser("bench", help="prompt eval + greedy generation timings")
    b.add_argument("--model", required=True, help="GGUF file")
    b.add_argument("--threads", type=int, required=True, help="n_threads and n_threads_batch")
    b.add_argument("--prompt-file", required=True, help="complete ChatML prompt text")
    b.add_argument("--max-tokens", type=int, required=True, help="tokens generated per sequence (EOS ignored)")
    b.add_argument("--runs", type=int, default=3, help="timed runs (default 3)")
    b.add_argument("--concurrent", type=int, default=1, help="K independent sequences at once (default 1)")
    b.add_argument("--concurrent-mode", choices=["batch", "threads"], default="batch",
                   help="batch: one llama_decode for all K sequences (default); "
                        "threads: K separate Llama instances in K threads, not batching")
    b.add_argument("--show-output", action="store_true", help="include generated ids/text in run lines")
    b.set_defaults(func=cmd_bench)

    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
