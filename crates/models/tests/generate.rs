//! Generation with the real SmolLM2-135M (Q8_0, as fetched): the prefix cache gives exactly
//! the output of a full computation, stop strings and token limits hold, a listener that
//! leaves cancels, and the threaded handle streams, queues and refuses when full.
//!
//! Needs the default models: `cargo run -- models fetch` (scripts/test does it), or
//! WARMLINE_MODELS_DIR pointing at fetched models.

use futures_util::StreamExt;
use std::path::PathBuf;
use warmline_domain::{
    ErrorCode, FinishReason, GenerateEvent, GenerateRequest, Generator, PromptRole,
};
use warmline_models::llama::LoadOptions;
use warmline_models::{
    ChatModel, ChatRole, Finish, GenerateOptions, Generation, GeneratorHandle, MAX_BATCH, Manifest,
    Sequence, chatml, locate,
};

fn model_path() -> PathBuf {
    let dir = std::env::var_os("WARMLINE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let manifest = Manifest::builtin();
    let spec = manifest.model("smollm2-135m-instruct").unwrap();
    let located = locate(&dir, spec).unwrap_or_else(|e| {
        panic!("{e}\nThese tests need the default models: run `cargo run -- models fetch`")
    });
    located.file(spec.load.as_deref().unwrap())
}

const SYSTEM: &str = "You are Juniper Market's support assistant. Answer in one short sentence.";

fn prompt(question: &str) -> String {
    chatml(&[(ChatRole::System, SYSTEM), (ChatRole::User, question)])
}

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_tokens,
        ..GenerateOptions::default()
    }
}

/// Token ids from llama.cpp (the reference implementation of GGUF tokenizers) for strings
/// that exercise SmolLM2's `smollm` pre-tokenizer: digits one by one, no prefix space,
/// control tokens, bytes of multi-byte characters. Made by `benches/llm/llama_cpp.py tokenize`.
#[test]
fn smollm2_token_ids_match_llama_cpp() {
    let model = ChatModel::load(&model_path()).unwrap();
    let reference = include_str!("../../../benches/llm/smollm2-reference-ids.jsonl");
    let mut checked = 0;
    for line in reference.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(model.encode(text).unwrap(), want, "{text:?}");
        checked += 1;
    }
    assert!(checked >= 8);
}

#[test]
fn the_prefix_cache_changes_nothing_but_the_work() {
    let mut model = ChatModel::load(&model_path()).unwrap();
    let question = prompt("What are your store opening hours?");
    let cold = model
        .generate(&question, &greedy(24), &mut |_| true)
        .unwrap();
    assert_eq!(cold.cached_tokens, 0);
    assert!(cold.generated_tokens > 0 && !cold.text.trim().is_empty());

    let prefix = warmline_models::generate::system_prefix(SYSTEM);
    let cached_len = model.warm_prefix(&prefix).unwrap();
    assert!(cached_len > 10);
    let warm = model
        .generate(&question, &greedy(24), &mut |_| true)
        .unwrap();
    assert_eq!(warm.cached_tokens, cached_len);
    assert_eq!(warm.text, cold.text, "the cached prefix changed the answer");

    // Another question with the same system message reuses it too.
    let other = model
        .generate(&prompt("Do you sell gift cards?"), &greedy(8), &mut |_| {
            true
        })
        .unwrap();
    assert_eq!(other.cached_tokens, cached_len);
}

/// Warmline's forward pass against candle's own quantized Llama on the same file: on the same
/// kernels, the same first token and close scores at every step of the reference's answer
/// (the same next token unless the reference was at a near tie); the dense f32 prompt path
/// and the fast VNNI path close to them.
#[test]
fn the_forward_pass_matches_candles_reference_llama() {
    use candle_core::quantized::gguf_file;
    use candle_core::{Device, Tensor};
    use candle_transformers::models::quantized_llama::ModelWeights;

    let path = model_path();
    let question = prompt("How long does a refund take to reach my card?");
    let tokens = 16;
    let exact = LoadOptions {
        dense: Some(false),
        pad_for_vnni: false,
    };
    let mut quantized = ChatModel::load_with(&path, exact).unwrap();
    assert!(!quantized.llama().has_dense_weights());
    let ids = quantized.encode(&question).unwrap();

    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut reference = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    let logits = |m: &mut ModelWeights, ids: &[u32], pos: usize| {
        let input = Tensor::new(ids, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        m.forward(&input, pos).unwrap().squeeze(0).unwrap()
    };
    let argmax = |t: &Tensor| -> u32 { t.argmax(0).unwrap().to_scalar::<u32>().unwrap() };
    let first = logits(&mut reference, &ids, 0);
    let mut want = vec![argmax(&first)];
    let mut reference_steps = vec![first.clone()];
    while want.len() < tokens {
        let pos = ids.len() + want.len() - 1;
        let next = logits(&mut reference, &want[want.len() - 1..], pos);
        want.push(argmax(&next));
        reference_steps.push(next);
    }
    let mut cache = quantized.llama().new_cache();
    let mut segment = [warmline_models::llama::Segment {
        cache: &mut cache,
        rows: ids.len(),
    }];
    let scores = quantized
        .llama()
        .forward(&ids, &mut segment)
        .unwrap()
        .squeeze(0)
        .unwrap();
    let difference = |a: &Tensor, b: &Tensor| -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let spread = (first.max(0).unwrap() - first.min(0).unwrap())
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    // The same matrix kernels; attention is Warmline's own loops (another order of sums,
    // which the kernels' 8-bit rounding of activations can amplify): close, not bit for bit.
    // Fed the reference's own tokens, every step's scores stay within 5% of the spread, and
    // the next token is the reference's unless the reference itself was that close to a tie.
    let top_two = |t: &Tensor| -> (f32, f32) {
        let mut v = t.to_vec1::<f32>().unwrap();
        v.sort_by(|a, b| b.total_cmp(a));
        (v[0], v[1])
    };
    let mut ours = scores;
    for (step, wanted) in reference_steps.iter().enumerate() {
        let worst = difference(&ours, wanted);
        assert!(
            worst < 0.05 * spread,
            "step {step}: {worst} (spread {spread})"
        );
        let (best, second) = top_two(wanted);
        assert!(
            argmax(&ours) == want[step] || best - second < 0.05 * spread,
            "step {step}: another token than the reference's, which was no near tie"
        );
        let mut segment = [warmline_models::llama::Segment {
            cache: &mut cache,
            rows: 1,
        }];
        ours = quantized
            .llama()
            .forward(&want[step..step + 1], &mut segment)
            .unwrap()
            .squeeze(0)
            .unwrap();
    }
    let options = GenerateOptions {
        ignore_eos: true,
        repeat_penalty: 1.0,
        ..greedy(tokens)
    };
    let generated = quantized
        .generate(&question, &options, &mut |_| true)
        .unwrap();
    assert_eq!(generated.generated_tokens, tokens);

    // The dense prompt path (f32 weights: no rounding of activations) is the truth the 8-bit
    // paths approximate: the same first token as the reference, and every score within 5% of
    // the scores' spread (the reference itself moves by ~2.5% between its one-token and
    // many-token kernels).
    let prompt_scores = |options: LoadOptions| {
        let model = ChatModel::load_with(&path, options).unwrap();
        assert_eq!(
            model.llama().has_dense_weights(),
            options.dense == Some(true)
        );
        let mut cache = model.llama().new_cache();
        let mut segment = [warmline_models::llama::Segment {
            cache: &mut cache,
            rows: ids.len(),
        }];
        model
            .llama()
            .forward(&ids, &mut segment)
            .unwrap()
            .squeeze(0)
            .unwrap()
    };
    let truth = prompt_scores(LoadOptions {
        dense: Some(true),
        pad_for_vnni: false,
    });
    assert_eq!(argmax(&truth), want[0]);
    let worst = difference(&truth, &first);
    assert!(worst < 0.05 * spread, "dense: {worst} (spread {spread})");

    // The fast path (VNNI kernels on padded matrices, activations rounded in blocks of 256):
    // the same first token; scores within 3% of the spread on average, 10% at worst.
    let fast = prompt_scores(LoadOptions {
        dense: Some(false),
        pad_for_vnni: true,
    });
    assert_eq!(argmax(&fast), want[0]);
    let rms = (&fast - &truth)
        .unwrap()
        .sqr()
        .unwrap()
        .mean(0)
        .unwrap()
        .sqrt()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let worst = difference(&fast, &truth);
    assert!(
        rms < 0.03 * spread && worst < 0.10 * spread,
        "fast: rms {rms}, worst {worst} (spread {spread})"
    );
}

/// Sequences decoded together in one batch get exactly the answers they get alone.
#[test]
fn batched_decoding_gives_each_sequence_its_own_answer() {
    let mut model = ChatModel::load(&model_path()).unwrap();
    model
        .warm_prefix(&warmline_models::generate::system_prefix(SYSTEM))
        .unwrap();
    let questions = [
        "What are your store opening hours?",
        "Do you sell gift cards?",
        "How do I return an item I bought online last week, and who pays for shipping?",
    ];
    let options = GenerateOptions {
        ignore_eos: true,
        ..greedy(12)
    };
    let alone: Vec<String> = questions
        .iter()
        .map(|q| {
            model
                .generate(&prompt(q), &options, &mut |_| true)
                .unwrap()
                .text
        })
        .collect();
    // Prompts of different lengths; one stops early.
    let mut sequences: Vec<Sequence> = vec![
        model.start(&prompt(questions[0]), &options).unwrap(),
        model.start(&prompt(questions[1]), &greedy(3)).unwrap(),
        model.start(&prompt(questions[2]), &options).unwrap(),
    ];
    assert!(sequences[2].generation().cached_tokens > 0);
    while sequences.iter().any(|s| s.finished().is_none()) {
        let mut batch: Vec<&mut Sequence> = sequences.iter_mut().collect();
        model.decode(&mut batch).unwrap();
    }
    let together: Vec<Generation> = sequences.iter().map(Sequence::generation).collect();
    assert_eq!(together[0].text, alone[0]);
    assert_eq!(together[2].text, alone[2]);
    assert_eq!(together[1].generated_tokens, 3);
    assert!(alone[1].starts_with(together[1].text.as_str()));
}

#[test]
fn limits_stop_strings_and_cancellation_hold() {
    let mut model = ChatModel::load(&model_path()).unwrap();
    let question = prompt("Count from one to twenty, in words, separated by commas.");
    let limited = model
        .generate(
            &question,
            &GenerateOptions {
                ignore_eos: true,
                ..greedy(5)
            },
            &mut |_| true,
        )
        .unwrap();
    assert_eq!(limited.generated_tokens, 5);
    assert_eq!(limited.finish, Finish::Length);

    let full = model
        .generate(&question, &greedy(40), &mut |_| true)
        .unwrap();
    // Stop at the answer's third word: the text ends just before it.
    let word = full
        .text
        .split_whitespace()
        .nth(2)
        .expect("an answer of three words or more")
        .to_owned();
    let at = full.text.find(word.as_str()).unwrap();
    let stopped = model
        .generate(
            &question,
            &GenerateOptions {
                stop: vec![word],
                ..greedy(40)
            },
            &mut |_| true,
        )
        .unwrap();
    assert_eq!(stopped.finish, Finish::Stop);
    assert_eq!(stopped.text, full.text[..at]);

    let mut pieces = 0;
    let cancelled = model
        .generate(&question, &greedy(40), &mut |_| {
            pieces += 1;
            pieces < 3
        })
        .unwrap();
    assert_eq!(cancelled.finish, Finish::Cancelled);
    assert!(cancelled.generated_tokens < 10);
}

fn request(question: &str, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        system: SYSTEM.into(),
        turns: vec![(PromptRole::User, question.into())],
        max_tokens,
        stop: Vec::new(),
    }
}

#[tokio::test]
async fn the_handle_streams_queues_and_refuses_when_full() {
    let model = ChatModel::load(&model_path()).unwrap();
    let handle = GeneratorHandle::spawn(model, "smollm2-135m-instruct", 1).unwrap();

    let mut stream = handle
        .generate(request("Hi! Who are you?", 16))
        .await
        .unwrap();
    let mut text = String::new();
    let mut summary = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            GenerateEvent::Text(piece) => text.push_str(&piece),
            GenerateEvent::Done(s) => summary = Some(s),
        }
    }
    let summary = summary.expect("a summary at the end");
    assert!(!text.is_empty());
    assert!(summary.generated_tokens > 0 && summary.generated_tokens <= 16);
    assert!(
        summary.cached_tokens > 0,
        "the system prompt was not cached"
    );

    // MAX_BATCH generating, one queued: more are refused with RateLimited (429).
    let mut kept = Vec::new();
    let mut refused = None;
    for _ in 0..MAX_BATCH + 8 {
        match handle.generate(request("Tell me a long story.", 64)).await {
            Ok(stream) => kept.push(stream),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        refused.expect("a full queue refuses").code,
        ErrorCode::RateLimited
    );

    // Dropping the streams cancels them; the model is free again.
    drop(kept);
    let mut next = loop {
        match handle.generate(request("Hello", 4)).await {
            Ok(stream) => break stream,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    let mut finished = false;
    while let Some(event) = next.next().await {
        if let GenerateEvent::Done(s) = event.unwrap() {
            assert_ne!(s.finish, FinishReason::Cancelled);
            finished = true;
        }
    }
    assert!(finished);
}
