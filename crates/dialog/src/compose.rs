//! The extractive answer composer: picks the sentences of the retrieved passages that best
//! answer the question and cites their articles. Nothing is invented: every sentence of an
//! answer is copied from a cited passage. When the knowledge base does not cover the question
//! well enough, the reply says so and offers a person.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use unicode_segmentation::UnicodeSegmentation;
use warmline_domain::{Citation, Reply, ReplyKind, SearchHit, SearchResult};

/// The suggestion that asks for a person (the handoff issue turns it into a queue).
pub const TALK_TO_A_PERSON: &str = "Talk to a person";

/// Tuning of the composer.
#[derive(Debug, Clone)]
pub struct ComposerConfig {
    /// Minimum share of the question's weighted terms that the best passage must contain.
    pub min_support: f32,
    /// At most this many sentences in an answer.
    pub max_sentences: usize,
    /// Stop adding sentences past this many characters.
    pub max_chars: usize,
    /// Passages considered (from the top of the search result).
    pub passages: usize,
    /// A passage at least this similar in meaning to the question (when embeddings are on)
    /// counts as supporting it even if it shares few of its words ("my parcel never showed
    /// up" / "lost or hasn't arrived").
    pub min_similarity: f32,
}

impl Default for ComposerConfig {
    fn default() -> Self {
        Self {
            min_support: 0.5,
            max_sentences: 3,
            max_chars: 480,
            passages: 3,
            min_similarity: SIMILARITY,
        }
    }
}

/// See [`ComposerConfig::min_similarity`]. Off by default (no cosine reaches 1.1): on the
/// evaluation set every threshold tried (0.55 to 0.7) let the bot answer at least one more
/// question the knowledge base does not answer (benches/RESULTS.md), and honesty comes first.
const SIMILARITY: f32 = 1.1;

/// Passages whose coverage is within this of the best are ranked by search score instead.
const COVERAGE_TOLERANCE: f32 = 0.15;

/// Text of the honest "I don't know".
pub const NO_ANSWER: &str = "I'm sorry, I couldn't find that in our help articles, and I'd \
rather not guess. Would you like me to connect you with a person?";

/// Text for a message with nothing to search for ("hi", "ok").
pub const NEED_MORE: &str = "Happy to help! What would you like to know? You can ask me about \
orders, delivery, returns and refunds, payments, your account, or our stores.";

/// One candidate sentence (or list block) of a passage.
struct Unit {
    text: String,
    terms: HashSet<String>,
    line: usize,
}

/// The index's analyzer (see `KnowledgeSearch::analyze`): the composer compares sentences
/// with the question's terms in the same stemmed vocabulary.
pub type Analyze<'a> = &'a dyn Fn(&str) -> Vec<String>;

/// A passage as the composer sees it: its terms (with title and heading) and its sentences.
struct Analyzed {
    terms: HashSet<String>,
    units: Vec<Unit>,
}

/// Title, heading and text: what a passage's analysis depends on.
type PassageKey = (String, String, String);

/// Most passages analysed at once in the cache; past this the cache starts over.
const CACHE_CAPACITY: usize = 4096;

/// The composer with a cache of analysed passages: the same popular passages answer most
/// questions, and stemming them again on every turn is most of a turn's CPU time.
#[derive(Default)]
pub struct Composer {
    pub config: ComposerConfig,
    /// Keyed by a hash of the passage; the entry keeps the passage to rule out collisions.
    cache: Mutex<HashMap<u64, (PassageKey, Arc<Analyzed>)>>,
}

impl Composer {
    pub fn new(config: ComposerConfig) -> Self {
        Self {
            config,
            cache: Mutex::default(),
        }
    }

    /// Builds the reply for `result`.
    pub fn compose(&self, result: &SearchResult, analyzer: Analyze<'_>) -> Reply {
        compose_with(result, &self.config, &|hit| self.analyzed(hit, analyzer))
    }

    fn analyzed(&self, hit: &SearchHit, analyzer: Analyze<'_>) -> Arc<Analyzed> {
        let mut hasher = std::hash::DefaultHasher::new();
        (&hit.title, &hit.heading, &hit.text).hash(&mut hasher);
        let key = hasher.finish();
        let same = |k: &PassageKey| k.0 == hit.title && k.1 == hit.heading && k.2 == hit.text;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((passage, found)) = cache.get(&key)
            && same(passage)
        {
            return found.clone();
        }
        drop(cache);
        let fresh = Arc::new(analyze_hit(hit, analyzer));
        cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        let passage = (hit.title.clone(), hit.heading.clone(), hit.text.clone());
        cache.insert(key, (passage, fresh.clone()));
        fresh
    }
}

fn analyze_hit(hit: &SearchHit, analyzer: Analyze<'_>) -> Analyzed {
    let all = format!("{}\n{}\n{}", hit.title, hit.heading, hit.text);
    Analyzed {
        terms: analyzer(&all).into_iter().collect(),
        units: units(&hit.text, analyzer),
    }
}

/// Builds the reply for `result` without a cache.
pub fn compose(result: &SearchResult, analyzer: Analyze<'_>, config: &ComposerConfig) -> Reply {
    compose_with(result, config, &|hit| Arc::new(analyze_hit(hit, analyzer)))
}

fn compose_with(
    result: &SearchResult,
    config: &ComposerConfig,
    analyzed: &dyn Fn(&SearchHit) -> Arc<Analyzed>,
) -> Reply {
    let total: f32 = result.terms.iter().map(|t| t.idf).sum();
    if result.terms.is_empty() || total <= 0.0 {
        return no_answer(NEED_MORE, 0.0);
    }
    let weight = |terms: &HashSet<String>| -> f32 {
        result
            .terms
            .iter()
            .filter(|t| terms.contains(&t.term))
            .map(|t| t.idf)
            .sum::<f32>()
            / total
    };

    // The passage that covers most of the question decides whether we can answer at all.
    let candidates: Vec<(&SearchHit, Arc<Analyzed>, f32)> = result
        .hits
        .iter()
        .take(config.passages)
        .map(|hit| {
            let a = analyzed(hit);
            let mut coverage = weight(&a.terms);
            if hit.similarity.is_some_and(|s| s >= config.min_similarity) {
                coverage = coverage.max(config.min_support);
            }
            (hit, a, coverage)
        })
        .collect();
    let Some(support) = candidates.iter().map(|c| c.2).reduce(f32::max) else {
        return no_answer(NO_ANSWER, 0.0);
    };
    // Among passages that cover the question about as well as the best one, trust the
    // search ranking (it weighs titles, headings and phrases).
    let Some((best, analysis, _)) = candidates
        .iter()
        .find(|c| c.2 >= support - COVERAGE_TOLERANCE)
    else {
        return no_answer(NO_ANSWER, 0.0);
    };
    if support < config.min_support {
        return no_answer(NO_ANSWER, support);
    }

    let question: HashSet<&str> = result.terms.iter().map(|t| t.term.as_str()).collect();
    let picked = pick(&analysis.units, &|terms| weight(terms), &question, config);
    let text = picked.join(" ");
    let passage = text.clone();
    Reply {
        text: format!("{text} [1]"),
        citations: vec![Citation {
            article_id: best.article_id.clone(),
            title: best.title.clone(),
            url: best.url.clone(),
            passage,
            score: best.score,
        }],
        kind: ReplyKind::Answer,
        support,
        suggestions: Vec::new(),
    }
}

fn no_answer(text: &str, support: f32) -> Reply {
    Reply {
        text: text.to_owned(),
        citations: Vec::new(),
        kind: ReplyKind::NoAnswer,
        support,
        suggestions: vec![TALK_TO_A_PERSON.to_owned()],
    }
}

/// Splits a passage into sentences; a list (lines starting `- `) stays with its lead-in as
/// one unit, so steps are never quoted out of order or without their introduction.
fn units(text: &str, analyzer: Analyze<'_>) -> Vec<Unit> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Unit> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("- ") {
            let start = i;
            while i < lines.len() && lines[i].starts_with("- ") {
                i += 1;
            }
            let items: Vec<&str> = lines[start..i].to_vec();
            // A list of short items reads as one answer with its lead-in; long items are
            // sentences of their own.
            if items.iter().all(|l| l.len() < 90) {
                let mut block = String::new();
                if let Some(lead) = out
                    .last()
                    .filter(|u| u.line + 1 == start && u.text.ends_with(':'))
                {
                    block.push_str(&lead.text);
                    block.push(' ');
                    out.pop();
                }
                let items: Vec<String> = items.iter().map(|l| clean(l)).collect();
                for (k, item) in items.iter().enumerate() {
                    block.push_str(item);
                    if k + 1 < items.len() {
                        // Items that are sentences keep their own stop; fragments get a `;`.
                        block.push_str(if item.ends_with(['.', '!', '?']) {
                            " "
                        } else {
                            "; "
                        });
                    }
                }
                out.push(unit(&ensure_period(&block), start, analyzer));
            } else {
                for (k, item) in items.iter().enumerate() {
                    out.push(unit(&clean(item), start + k, analyzer));
                }
            }
            continue;
        }
        for sentence in line.unicode_sentences() {
            let s = clean(sentence);
            if !s.is_empty() {
                out.push(unit(&s, i, analyzer));
            }
        }
        i += 1;
    }
    out
}

fn unit(text: &str, line: usize, analyzer: Analyze<'_>) -> Unit {
    Unit {
        text: text.to_owned(),
        terms: analyzer(text).into_iter().collect(),
        line,
    }
}

/// The best unit, then others from the same passage that add to it, in passage order.
fn pick(
    units: &[Unit],
    weight: &dyn Fn(&HashSet<String>) -> f32,
    question: &HashSet<&str>,
    config: &ComposerConfig,
) -> Vec<String> {
    let scores: Vec<f32> = units.iter().map(|u| weight(&u.terms)).collect();
    let Some(best) = (0..units.len()).max_by(|&a, &b| {
        scores[a].total_cmp(&scores[b]).then(b.cmp(&a)) // ties: the earlier sentence
    }) else {
        return Vec::new();
    };
    if scores[best] == 0.0 {
        // The question matched the title or heading only: the passage's opening is the answer.
        return units.iter().take(2).map(|u| u.text.clone()).collect();
    }
    let mut chosen = vec![best];
    let mut covered: HashSet<&String> = units[best].terms.iter().collect();
    let mut length = units[best].text.len();
    let mut order: Vec<usize> = (0..units.len()).filter(|&i| i != best).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    for i in order {
        if chosen.len() >= config.max_sentences || scores[i] == 0.0 {
            break;
        }
        let next = length + 1 + units[i].text.len();
        // A sentence joins the answer when it answers another part of the question, is
        // nearly as good as the best, or continues the best one's paragraph.
        let adds = units[i]
            .terms
            .iter()
            .any(|t| !covered.contains(t) && question.contains(t.as_str()));
        let continues = i == best + 1 && units[i].line == units[best].line;
        let relevant = adds || scores[i] >= scores[best] * 0.8 || continues;
        if relevant && next <= config.max_chars {
            chosen.push(i);
            covered.extend(units[i].terms.iter());
            length = next;
        }
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|i| units[i].text.clone()).collect()
}

/// Removes list markers and stray whitespace; capitalises the first letter.
fn clean(s: &str) -> String {
    let s = s.trim().trim_start_matches("- ").trim();
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn ensure_period(s: &str) -> String {
    if s.ends_with(['.', '!', '?']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

#[cfg(test)]
mod tests;
