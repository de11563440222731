//! Searching the knowledge base.

use crate::conversation::Channel;
use crate::error::DomainError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Who an article is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    #[default]
    Customer,
    /// Internal guidance for human agents; never shown to customers.
    Agent,
    All,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Agent => "agent",
            Self::All => "all",
        }
    }
}

/// A search for passages that may answer `text`.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub text: String,
    pub locale: String,
    pub audience: Audience,
    pub channel: Channel,
    /// Include draft articles (editor previews); customers never see drafts.
    pub include_drafts: bool,
    pub limit: usize,
    /// Compute highlighted snippets (for people reading results; answers don't need them).
    pub snippets: bool,
}

impl SearchQuery {
    /// A customer-facing search on `channel` in English for the top `limit` passages.
    pub fn customer(text: impl Into<String>, channel: Channel, limit: usize) -> Self {
        Self {
            text: text.into(),
            locale: "en".into(),
            audience: Audience::Customer,
            channel,
            include_drafts: false,
            limit,
            snippets: false,
        }
    }
}

/// One analysed term of the query, after stop words, stemming and spelling correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryTerm {
    /// The word as the customer typed it (lowercased).
    pub original: String,
    /// The index term it was matched to (stemmed; corrected if it was misspelled).
    pub term: String,
    /// Inverse document frequency over passages; terms unknown to the knowledge base get the
    /// highest weight, since a question about something we never mention is not answered.
    pub idf: f32,
    /// Whether the knowledge base contains the term at all (after correction).
    pub known: bool,
}

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub article_id: String,
    pub title: String,
    /// The section heading, empty for the article's intro.
    pub heading: String,
    pub url: String,
    /// The passage's plain text (Markdown removed; one block per line).
    pub text: String,
    /// A short highlighted extract (`<b>` around matched terms); empty unless the query
    /// asked for snippets.
    pub snippet: String,
    /// Ranking score (BM25, or the fused score in hybrid search); comparable only within
    /// one result list.
    pub score: f32,
    /// The passage's place in its article (0 = the intro).
    #[serde(default)]
    pub position: u32,
    /// Cosine similarity between the question and the passage, when embeddings are on.
    #[serde(default)]
    pub similarity: Option<f32>,
}

/// Passages in descending score, plus the analysed query.
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    pub terms: Vec<QueryTerm>,
    /// The question's embedding, when embeddings are on (for checking answers against
    /// passages without embedding the question again).
    pub embedding: Option<Vec<f32>>,
}

/// Full-text (and later hybrid) search over the published knowledge base.
#[async_trait]
pub trait KnowledgeSearch: Send + Sync {
    /// The top passages for a query, filtered by locale, audience, channel and status.
    async fn search(&self, query: &SearchQuery) -> Result<SearchResult, DomainError>;

    /// The index's analysed terms for `text` (lowercased, stop words removed, stemmed), so a
    /// caller can compare sentences with [`QueryTerm::term`]. Cheap and synchronous.
    fn analyze(&self, text: &str) -> Vec<String>;

    /// Whether published articles exist in `locale` (a lowercase tag such as `fr`), so a
    /// conversation can be held in the customer's language. Cheap and synchronous.
    fn has_locale(&self, locale: &str) -> bool;
}
