//! Generated answers that are checked before they are sent.
//!
//! The chat model gets the numbered passages and the question and is asked to answer only
//! from them, citing `[n]`. Small models still invent ("yes, we ship to Canada"), so nothing
//! it writes is trusted: each sentence must be supported by the passages it cites (or, if it
//! cites none, by any of them):
//!
//! - every number in the sentence (prices, days, percentages) appears in those passages, and
//! - the sentence is close in meaning to one of their sentences (embedding similarity), or
//!   most of its words are theirs.
//!
//! Unsupported sentences are dropped. If less than half of the answer survives, the reply
//! falls back to the extractive answer (quoted sentences), or to an honest "I don't know".

use crate::drafts;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use unicode_segmentation::UnicodeSegmentation;
use warmline_domain::{
    Citation, DomainError, Embedder, GenerateEvent, GenerateRequest, Generator, PromptRole, Reply,
    ReplyKind, SearchHit, SearchResult,
};

/// The index's analyzer, shareable across an await.
pub type Analyze<'a> = &'a (dyn Fn(&str) -> Vec<String> + Sync);

/// The system message: fixed, so the model's prefix cache serves every question.
pub const SYSTEM_PROMPT: &str = "You are a friendly customer support assistant. Answer the \
customer's question using only the numbered passages. After each sentence, cite the passage \
it comes from in brackets, like [1]. If the passages do not answer the question, say that you \
don't know. Answer in at most three short sentences.";

/// Tuning of grounded generation.
#[derive(Debug, Clone)]
pub struct GroundedConfig {
    /// Passages given to the model (from the top of the search result).
    pub passages: usize,
    /// A passage is given to the model only if the question is at least this similar to it
    /// (or the extractive composer found it answers the question).
    pub min_retrieval_similarity: f32,
    /// When the extractive composer found no answer, the model is tried only if the best
    /// passage is at least this similar to the question (questions the knowledge base does
    /// not answer still find a passage about as similar as 0.45).
    pub min_similarity_without_extract: f32,
    pub max_tokens: usize,
    /// A sentence is supported if it is this similar to a sentence of its passages...
    pub min_similarity: f32,
    /// ...or this share of its words (stemmed, stop words removed) are in its passages.
    pub min_lexical: f32,
    /// Below this share of supported sentences, the generated answer is not used.
    pub min_kept: f32,
    /// The longest a generation may take before the extractive answer is used instead.
    pub timeout: Duration,
}

impl Default for GroundedConfig {
    fn default() -> Self {
        Self {
            passages: 3,
            min_retrieval_similarity: 0.45,
            min_similarity_without_extract: 0.6,
            max_tokens: 160,
            min_similarity: 0.7,
            min_lexical: 0.6,
            min_kept: 0.5,
            timeout: Duration::from_secs(20),
        }
    }
}

/// The generator and embedder behind grounded answers.
pub struct Grounded {
    generator: Arc<dyn Generator>,
    embedder: Arc<dyn Embedder>,
    pub config: GroundedConfig,
}

/// One sentence of a generated answer, and how it fared.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceCheck {
    pub text: String,
    /// Passage numbers (1-based, as given to the model) it cites.
    pub cites: Vec<usize>,
    pub numbers_ok: bool,
    pub lexical: f32,
    pub similarity: f32,
    pub supported: bool,
}

impl Grounded {
    pub fn new(generator: Arc<dyn Generator>, embedder: Arc<dyn Embedder>) -> Self {
        Self {
            generator,
            embedder,
            config: GroundedConfig::default(),
        }
    }

    /// The reply to `question`: a verified generated answer when one can be made, else
    /// `extractive` (the extractive composer's reply for the same search).
    pub async fn answer(
        &self,
        question: &str,
        result: &SearchResult,
        extractive: Reply,
        analyze: Analyze<'_>,
    ) -> Reply {
        let cited_by_extractive: HashSet<&str> = extractive
            .citations
            .iter()
            .map(|c| c.article_id.as_str())
            .collect();
        let passages: Vec<&SearchHit> = result
            .hits
            .iter()
            .take(self.config.passages)
            .filter(|h| {
                h.similarity
                    .is_some_and(|s| s >= self.config.min_retrieval_similarity)
                    || cited_by_extractive.contains(h.article_id.as_str())
            })
            .collect();
        let best = passages
            .iter()
            .filter_map(|h| h.similarity)
            .fold(0.0f32, f32::max);
        if passages.is_empty()
            || (extractive.kind != ReplyKind::Answer
                && best < self.config.min_similarity_without_extract)
        {
            return extractive;
        }
        let text = match self.generate(question, &passages, analyze).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(error = %e.message, "generation unavailable; using the extractive answer");
                metrics::counter!("warmline_generation_fallbacks_total", "reason" => "unavailable")
                    .increment(1);
                return extractive;
            }
        };
        let checks = match self.check(&text, &passages, analyze).await {
            Ok(checks) => checks,
            Err(e) => {
                tracing::warn!(error = %e.message, "answer check failed; using the extractive answer");
                return extractive;
            }
        };
        let total = checks.len();
        let kept: Vec<&SentenceCheck> = checks.iter().filter(|c| c.supported).collect();
        let support = if total == 0 {
            0.0
        } else {
            kept.len() as f32 / total as f32
        };
        tracing::info!(
            sentences = total,
            supported = kept.len(),
            support,
            "generated answer checked"
        );
        metrics::histogram!("warmline_generated_support").record(f64::from(support));
        if kept.is_empty() || support < self.config.min_kept {
            metrics::counter!("warmline_generation_fallbacks_total", "reason" => "unsupported")
                .increment(1);
            return extractive;
        }
        assemble(&kept, &passages, support)
    }

    async fn generate(
        &self,
        question: &str,
        passages: &[&SearchHit],
        analyze: Analyze<'_>,
    ) -> Result<String, DomainError> {
        let mut user = String::from("Passages:\n");
        for (i, p) in passages.iter().enumerate() {
            let heading = if p.heading.is_empty() {
                String::new()
            } else {
                format!(" - {}", p.heading)
            };
            user.push_str(&format!(
                "[{}] {}{heading}: {}\n",
                i + 1,
                p.title,
                p.text.replace('\n', " ")
            ));
        }
        user.push_str(&format!("\nQuestion: {question}"));
        let request = GenerateRequest {
            system: SYSTEM_PROMPT.into(),
            turns: vec![(PromptRole::User, user)],
            max_tokens: self.config.max_tokens,
            stop: vec!["<|im_end|>".into(), "\nQuestion:".into()],
        };
        let streaming = drafts::wanted();
        let run = async {
            let mut stream = self.generator.generate(request).await?;
            let mut text = String::new();
            // Sentences already checked for drafts.
            let mut drafted = 0;
            while let Some(event) = stream.next().await {
                if let GenerateEvent::Text(piece) = event? {
                    text.push_str(&piece);
                    if streaming {
                        drafted = self.draft(&text, drafted, passages, analyze, false).await;
                    }
                }
            }
            if streaming {
                self.draft(&text, drafted, passages, analyze, true).await;
            }
            Ok::<_, DomainError>(text)
        };
        tokio::time::timeout(self.config.timeout, run)
            .await
            .map_err(|_| DomainError::unavailable("generation timed out"))?
    }

    /// Sends the supported ones of the sentences of `text` completed since the first `done`
    /// (a sentence is complete once the next one has begun, or the generation has
    /// `finished`); returns how many sentences are complete now. The same check as the
    /// final answer's, so a sentence drafted here is one the final answer keeps (unless the
    /// whole answer falls back to the quoted one).
    async fn draft(
        &self,
        text: &str,
        done: usize,
        passages: &[&SearchHit],
        analyze: Analyze<'_>,
        finished: bool,
    ) -> usize {
        let sentences = split_cited(text).len();
        let complete = if finished {
            sentences
        } else {
            sentences.saturating_sub(1)
        };
        if complete <= done {
            return done;
        }
        if let Ok(checks) = self.check(text, passages, analyze).await {
            for check in checks.iter().take(complete).skip(done) {
                if check.supported {
                    drafts::send(&check.text);
                }
            }
        }
        complete
    }

    /// Checks each sentence of `text` against the passages.
    pub async fn check(
        &self,
        text: &str,
        passages: &[&SearchHit],
        analyze: Analyze<'_>,
    ) -> Result<Vec<SentenceCheck>, DomainError> {
        let sentences = split_cited(text);
        if sentences.is_empty() {
            return Ok(Vec::new());
        }
        // Each passage's sentences, embedded with the answer's in one call.
        let passage_sentences: Vec<Vec<String>> = passages
            .iter()
            .map(|p| {
                p.text
                    .lines()
                    .flat_map(|line| line.unicode_sentences())
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .collect();
        let mut inputs: Vec<String> = sentences.iter().map(|(s, _)| s.clone()).collect();
        for list in &passage_sentences {
            inputs.extend(list.iter().cloned());
        }
        let vectors = self.embedder.embed(inputs).await?;
        let (answer_vectors, mut rest) = vectors.split_at(sentences.len());
        let mut passage_vectors: Vec<&[Vec<f32>]> = Vec::new();
        for list in &passage_sentences {
            let (mine, tail) = rest.split_at(list.len());
            passage_vectors.push(mine);
            rest = tail;
        }
        let passage_terms: Vec<HashSet<String>> = passages
            .iter()
            .map(|p| {
                analyze(&format!("{} {} {}", p.title, p.heading, p.text))
                    .into_iter()
                    .collect()
            })
            .collect();
        let passage_numbers: Vec<HashSet<String>> = passages
            .iter()
            .map(|p| numbers(&format!("{} {}", p.heading, p.text)))
            .collect();
        let mut checks = Vec::with_capacity(sentences.len());
        let mut seen = HashSet::new();
        for ((sentence, cites), vector) in sentences.into_iter().zip(answer_vectors) {
            // Cited passages, or all of them when the sentence cites none (or cites wrongly).
            let valid: Vec<usize> = cites
                .iter()
                .copied()
                .filter(|&c| c >= 1 && c <= passages.len())
                .collect();
            let sources: Vec<usize> = if valid.is_empty() {
                (0..passages.len()).collect()
            } else {
                valid.iter().map(|c| c - 1).collect()
            };
            let mine: HashSet<String> = numbers(&sentence);
            let numbers_ok = mine
                .iter()
                .all(|n| sources.iter().any(|&s| passage_numbers[s].contains(n)));
            let terms: HashSet<String> = analyze(&sentence).into_iter().collect();
            let lexical = if terms.is_empty() {
                0.0
            } else {
                terms
                    .iter()
                    .filter(|t| sources.iter().any(|&s| passage_terms[s].contains(*t)))
                    .count() as f32
                    / terms.len() as f32
            };
            let similarity = sources
                .iter()
                .flat_map(|&s| passage_vectors[s].iter())
                .map(|v| warmline_domain::embed::dot(vector, v))
                .fold(0.0f32, f32::max);
            // The passage sentence closest in meaning, to compare negations with.
            let closest = sources
                .iter()
                .flat_map(|&s| passage_sentences[s].iter().zip(passage_vectors[s].iter()))
                .max_by(|a, b| {
                    warmline_domain::embed::dot(vector, a.1)
                        .total_cmp(&warmline_domain::embed::dot(vector, b.1))
                })
                .map(|(text, _)| text.as_str())
                .unwrap_or_default();
            let key = sentence.to_lowercase();
            let repeated = !seen.insert(key);
            let words = sentence.split_whitespace().count();
            let supported = numbers_ok
                && !terms.is_empty()
                && !repeated
                && words >= 3
                && !sentence.trim_end().ends_with('?')
                && negated(&sentence) == negated(closest)
                && (similarity >= self.config.min_similarity || lexical >= self.config.min_lexical);
            checks.push(SentenceCheck {
                text: sentence,
                cites: if valid.is_empty() {
                    vec![best_source(&passage_vectors, vector) + 1]
                } else {
                    valid
                },
                numbers_ok,
                lexical,
                similarity,
                supported,
            });
        }
        Ok(checks)
    }
}

fn best_source(passage_vectors: &[&[Vec<f32>]], vector: &[f32]) -> usize {
    passage_vectors
        .iter()
        .enumerate()
        .map(|(i, vs)| {
            let best = vs
                .iter()
                .map(|v| warmline_domain::embed::dot(vector, v))
                .fold(f32::MIN, f32::max);
            (i, best)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

/// The reply from the kept sentences: citations renumbered in order of first use.
fn assemble(kept: &[&SentenceCheck], passages: &[&SearchHit], support: f32) -> Reply {
    let mut order: Vec<usize> = Vec::new();
    let mut text = String::new();
    for check in kept {
        let mut marks = String::new();
        for &c in &check.cites {
            let n = match order.iter().position(|&o| o == c) {
                Some(i) => i + 1,
                None => {
                    order.push(c);
                    order.len()
                }
            };
            marks.push_str(&format!("[{n}]"));
        }
        if !text.is_empty() {
            text.push(' ');
        }
        let sentence = check.text.trim_end();
        text.push_str(sentence);
        text.push(' ');
        text.push_str(&marks);
    }
    let citations = order
        .iter()
        .map(|&c| {
            let hit = passages[c - 1];
            Citation {
                article_id: hit.article_id.clone(),
                title: hit.title.clone(),
                url: hit.url.clone(),
                passage: hit.text.clone(),
                score: hit.score,
            }
        })
        .collect();
    Reply {
        text,
        citations,
        kind: ReplyKind::Answer,
        support,
        suggestions: Vec::new(),
    }
}

/// Whether a sentence says "not": a generated sentence that negates what its passage affirms
/// (or the reverse) is the cheapest kind of invention to catch.
fn negated(sentence: &str) -> bool {
    sentence
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
        .any(|w| {
            matches!(w, "not" | "no" | "never" | "cannot" | "none" | "nothing")
                || w.ends_with("n't")
                || w.ends_with("n’t")
        })
}

/// Splits generated text into sentences, taking out their `[n]` citation marks.
pub fn split_cited(text: &str) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for raw in text.unicode_sentences() {
        let mut cites = Vec::new();
        let mut leading = Vec::new();
        let mut clean = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(open) = rest.find('[') {
            clean.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find(']') {
                Some(close)
                    if after[..close]
                        .split(',')
                        .all(|p| p.trim().parse::<usize>().is_ok()) =>
                {
                    let found = after[..close]
                        .split(',')
                        .filter_map(|p| p.trim().parse::<usize>().ok());
                    // Marks before any words ("expire. [2] Ask...") close the sentence before.
                    if clean.chars().any(char::is_alphanumeric) || out.is_empty() {
                        cites.extend(found);
                    } else {
                        leading.extend(found);
                    }
                    rest = &after[close + 1..];
                }
                _ => {
                    clean.push('[');
                    rest = after;
                }
            }
        }
        clean.push_str(rest);
        let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
        let clean = clean.replace(" .", ".").replace(" ,", ",");
        if let Some(last) = out.last_mut() {
            last.1.extend(leading);
        }
        if clean.chars().any(char::is_alphanumeric) {
            out.push((clean, cites));
        } else if let Some(last) = out.last_mut() {
            // A citation after the full stop ("... days. [1]") belongs to the sentence before.
            last.1.extend(cites);
        }
    }
    out
}

/// The numbers a text states, normalised (`$1,299.00` → `1299.00`, `3–5` → `3`, `5`).
pub fn numbers(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let joins = (c == ',' || c == '.')
            && !current.is_empty()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c.is_ascii_digit() {
            current.push(c);
        } else if joins {
            if c == '.' {
                current.push('.');
            }
        } else if !current.is_empty() {
            out.insert(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.insert(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_are_taken_out_of_sentences() {
        let s = split_cited(
            "Refunds take 3–5 business days [1]. Gift cards never expire. [2] Ask us [a].",
        );
        assert_eq!(s[0], ("Refunds take 3–5 business days.".into(), vec![1]));
        assert_eq!(s[1], ("Gift cards never expire.".into(), vec![2]));
        assert_eq!(s[2].0, "Ask us [a].");
    }

    #[test]
    fn numbers_are_normalised() {
        let n = numbers("It costs $1,299.50 and takes 3–5 days, or 10%.");
        let want: HashSet<String> = ["1299.50", "3", "5", "10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(n, want);
    }
}

#[cfg(test)]
mod answer_tests {
    use super::*;
    use async_trait::async_trait;
    use warmline_domain::{FinishReason, GenerateStream, GenerateSummary};

    /// Says the same thing whatever it is asked.
    struct Scripted(&'static str);

    #[async_trait]
    impl Generator for Scripted {
        fn model_id(&self) -> &str {
            "scripted"
        }
        async fn generate(&self, _: GenerateRequest) -> Result<GenerateStream, DomainError> {
            let events = vec![
                Ok(GenerateEvent::Text(self.0.to_owned())),
                Ok(GenerateEvent::Done(GenerateSummary {
                    finish: FinishReason::Stop,
                    prompt_tokens: 1,
                    cached_tokens: 0,
                    generated_tokens: 1,
                    time_to_first_token_ms: 0.0,
                    total_ms: 0.0,
                })),
            ];
            Ok(Box::pin(futures_util::stream::iter(events)))
        }
    }

    /// Bag-of-words vectors: sentences sharing words are similar.
    struct Words;

    fn words(text: &str) -> Vec<String> {
        text.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2 && !["the", "and", "you", "our", "for", "also"].contains(w))
            .map(str::to_owned)
            .collect()
    }

    #[async_trait]
    impl Embedder for Words {
        fn model_id(&self) -> &str {
            "words"
        }
        fn dimensions(&self) -> usize {
            64
        }
        async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
            self.embed_blocking(texts)
        }
        fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
            Ok(texts
                .iter()
                .map(|t| {
                    let mut v = vec![0.0f32; 64];
                    for w in words(t) {
                        let h = w
                            .bytes()
                            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                        v[(h % 64) as usize] += 1.0;
                    }
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
                    v.iter().map(|x| x / norm).collect()
                })
                .collect())
        }
    }

    fn shipping() -> SearchResult {
        SearchResult {
            hits: vec![SearchHit {
                article_id: "shipping-options".into(),
                title: "Shipping options".into(),
                heading: "Canada".into(),
                url: "/kb/shipping-options".into(),
                text: "Standard shipping to Canada takes 4–8 business days. It costs CA$7.99."
                    .into(),
                snippet: String::new(),
                score: 1.0,
                position: 2,
                similarity: Some(0.8),
            }],
            terms: Vec::new(),
            embedding: None,
        }
    }

    fn extractive() -> Reply {
        Reply {
            text: "Standard shipping to Canada takes 4–8 business days. [1]".into(),
            citations: Vec::new(),
            kind: ReplyKind::Answer,
            support: 1.0,
            suggestions: Vec::new(),
        }
    }

    async fn answer(script: &'static str) -> Reply {
        let grounded = Grounded::new(Arc::new(Scripted(script)), Arc::new(Words));
        let analyze = |t: &str| words(t);
        grounded
            .answer("do you ship to canada", &shipping(), extractive(), &analyze)
            .await
    }

    #[tokio::test]
    async fn invented_sentences_are_dropped_and_the_rest_is_cited() {
        let reply = answer(
            "Standard shipping to Canada takes 4–8 business days [1]. Shipping to Canada also takes 2 days by drone [1].",
        )
        .await;
        assert_eq!(
            reply.text,
            "Standard shipping to Canada takes 4–8 business days. [1]"
        );
        assert_eq!(reply.citations.len(), 1);
        assert_eq!(reply.citations[0].article_id, "shipping-options");
        assert!(
            (reply.support - 0.5).abs() < 1e-6,
            "support {}",
            reply.support
        );
    }

    #[tokio::test]
    async fn an_answer_mostly_invented_falls_back_to_the_extractive_one() {
        let reply = answer(
            "Yes, we deliver to Mexico for free. Delivery there takes 2 days. Canada takes 4–8 business days [1].",
        )
        .await;
        assert_eq!(reply, extractive());
    }

    #[tokio::test]
    async fn only_verified_sentences_are_drafted_while_the_answer_is_written() {
        let grounded = Grounded::new(
            Arc::new(Scripted(
                "Standard shipping to Canada takes 4–8 business days [1]. Shipping to Canada also takes 2 days by drone [1]. It costs CA$7.99 [1].",
            )),
            Arc::new(Words),
        );
        let analyze = |t: &str| words(t);
        let (sink, mut drafted) = tokio::sync::mpsc::channel(8);
        let reply = drafts::with_drafts(
            sink,
            grounded.answer("do you ship to canada", &shipping(), extractive(), &analyze),
        )
        .await;
        let mut sent = Vec::new();
        while let Ok(s) = drafted.try_recv() {
            sent.push(s);
        }
        assert_eq!(
            sent,
            [
                "Standard shipping to Canada takes 4–8 business days.",
                "It costs CA$7.99."
            ]
        );
        assert!(reply.text.starts_with(&sent[0]), "{}", reply.text);
        assert!(!reply.text.contains("drone"));
    }

    #[tokio::test]
    async fn uncited_supported_sentences_are_cited_to_their_passage() {
        let reply = answer("Shipping to Canada costs CA$7.99.").await;
        assert_eq!(reply.text, "Shipping to Canada costs CA$7.99. [1]");
        assert_eq!(reply.support, 1.0);
    }
}
