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
use warmline_models::{
    ChatModel, ChatRole, Finish, GenerateOptions, GeneratorHandle, Manifest, chatml, locate,
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

    // One generating, one queued: more are refused with RateLimited (429).
    let mut kept = Vec::new();
    let mut refused = None;
    for _ in 0..6 {
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
