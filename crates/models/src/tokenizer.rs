//! Tokenizers read from GGUF metadata.
//!
//! candle builds most of them; SmolLM2 declares the pre-tokenizer `smollm`, which candle does
//! not know and would treat as GPT-2 (byte-level *with* a prefix space: wrong ids). Its
//! reference tokenizer splits digits one by one, then applies byte-level BPE without a prefix
//! space; that pipeline is built here.

use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

fn strings(content: &gguf_file::Content, key: &str) -> Result<Vec<String>, String> {
    match content.metadata.get(key) {
        Some(gguf_file::Value::Array(values)) => values
            .iter()
            .map(|v| {
                v.to_string()
                    .map(|s| s.to_owned())
                    .map_err(|e| e.to_string())
            })
            .collect(),
        _ => Err(format!("missing {key}")),
    }
}

/// The pre-tokenizer name the file declares (`tokenizer.ggml.pre`), if any.
pub fn pre_tokenizer(content: &gguf_file::Content) -> Option<String> {
    content
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .cloned()
}

/// Builds the tokenizer a GGUF file describes.
pub fn from_gguf(content: &gguf_file::Content) -> Result<Tokenizer, String> {
    if pre_tokenizer(content).as_deref() != Some("smollm") {
        return Tokenizer::from_gguf(content).map_err(|e| e.to_string());
    }
    let tokens = strings(content, "tokenizer.ggml.tokens")?;
    let merges: Vec<(String, String)> = strings(content, "tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| format!("bad merge {m:?}"))
        })
        .collect::<Result<_, _>>()?;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(bpe);
    let pre: Vec<PreTokenizerWrapper> = vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ];
    tokenizer.with_pre_tokenizer(Some(Sequence::new(pre)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    // Control tokens (<|im_start|>, <|im_end|>, <|endoftext|>...) match as whole tokens.
    if let Some(gguf_file::Value::Array(types)) = content.metadata.get("tokenizer.ggml.token_type")
    {
        let special: Vec<AddedToken> = types
            .iter()
            .zip(&tokens)
            .filter(|(t, _)| {
                t.to_i32()
                    .ok()
                    .or_else(|| t.to_u32().ok().map(|v| v as i32))
                    == Some(3)
            })
            .map(|(_, token)| AddedToken::from(token.clone(), true))
            .collect();
        tokenizer
            .add_special_tokens(special)
            .map_err(|e| e.to_string())?;
    }
    Ok(tokenizer)
}
