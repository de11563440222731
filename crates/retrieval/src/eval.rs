//! Retrieval evaluation: how often the article that answers a question comes first (recall@1),
//! is among the first five articles (recall@5), and the mean reciprocal rank of the right
//! article (MRR, over the first ten articles). Passages are ranked, then folded into articles
//! in order of first appearance.

use crate::{KnowledgeBase, Retrieval};
use serde::Deserialize;
use warmline_domain::{Channel, DomainError, SearchQuery};

/// Passages fetched per question before folding into articles.
const PASSAGES: usize = 40;
const MRR_DEPTH: usize = 10;

/// A question set file (`knowledge/eval/retrieval.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSet {
    /// Questions with the article that answers each (`retrieval.yaml`).
    #[serde(default)]
    pub questions: Vec<EvalQuestion>,
    /// The answer-quality set's answerable questions (`questions.yaml`) count too.
    #[serde(default)]
    pub answerable: Vec<EvalQuestion>,
    /// Questions the knowledge base does not answer: not used for retrieval scores.
    #[serde(default)]
    pub unanswerable: Vec<String>,
}

/// A customer question and the article that answers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalQuestion {
    pub q: String,
    pub article: String,
    #[serde(default)]
    pub section: Option<String>,
}

impl EvalSet {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut set: Self = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        set.questions.append(&mut set.answerable);
        if set.questions.is_empty() {
            return Err("no questions (expected a `questions:` or `answerable:` list)".into());
        }
        Ok(set)
    }
}

/// How one ranking did on a question set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scores {
    pub mode: String,
    pub questions: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub mrr: f64,
    /// Questions whose article was not first: `question → what came first`.
    pub misses: Vec<(String, String)>,
}

/// Runs every question through `kb` ranked by `mode`, as a customer on the web.
pub async fn evaluate(
    kb: &KnowledgeBase,
    questions: &[EvalQuestion],
    mode: Retrieval,
) -> Result<Scores, DomainError> {
    let (mut at1, mut at5, mut rr) = (0usize, 0usize, 0.0f64);
    let mut misses = Vec::new();
    for question in questions {
        let query = SearchQuery::customer(&question.q, Channel::Web, PASSAGES);
        let result = kb.search_with(&query, mode).await?;
        let mut articles: Vec<&str> = Vec::new();
        for hit in &result.hits {
            if !articles.contains(&hit.article_id.as_str()) {
                articles.push(&hit.article_id);
            }
        }
        let rank = articles.iter().position(|a| *a == question.article);
        match rank {
            Some(0) => at1 += 1,
            _ => misses.push((
                question.q.clone(),
                articles.first().copied().unwrap_or("(nothing)").to_owned(),
            )),
        }
        if rank.is_some_and(|r| r < 5) {
            at5 += 1;
        }
        if let Some(r) = rank.filter(|r| *r < MRR_DEPTH) {
            rr += 1.0 / (r as f64 + 1.0);
        }
    }
    let n = questions.len().max(1) as f64;
    Ok(Scores {
        mode: mode.name(),
        questions: questions.len(),
        recall_at_1: at1 as f64 / n,
        recall_at_5: at5 as f64 / n,
        mrr: rr / n,
        misses,
    })
}
