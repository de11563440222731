//! Insights: content gaps (questions the bot could not answer, grouped), customers' ratings of
//! answers, and the facts the analytics summary is computed from, behind [`InsightsStore`].

use crate::error::DomainError;
use crate::ids::{ConversationId, CustomerId, MessageId};
use crate::{Channel, ReplyKind};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use time::OffsetDateTime;

/// Why a question was recorded as a content gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// Nothing in the knowledge base supported an answer.
    NoAnswer,
    /// Unanswered, and the customer was handed to a person for it (the bot kept failing, or
    /// they asked again).
    Handoff,
}

impl GapReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoAnswer => "no_answer",
            Self::Handoff => "handoff",
        }
    }
}

/// Where a group of unanswered questions stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GapStatus {
    Open,
    /// An editor opened a draft article from it.
    Drafting,
    /// After a re-index, its questions got supported answers.
    Closed,
}

impl GapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Drafting => "drafting",
            Self::Closed => "closed",
        }
    }
}

impl FromStr for GapStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "drafting" => Ok(Self::Drafting),
            "closed" => Ok(Self::Closed),
            other => Err(format!(
                "unknown gap status {other:?}; expected open, drafting or closed"
            )),
        }
    }
}

/// A redacted unanswered question to store, in `group` (`None`: a new group).
#[derive(Debug, Clone)]
pub struct NewGap {
    pub group: Option<i64>,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub question: String,
    /// Stemmed content words (for grouping by terms).
    pub terms: Vec<String>,
    /// Unit-length embedding, when an embedder is loaded.
    pub embedding: Option<Vec<f32>>,
    pub reason: GapReason,
    pub at: OffsetDateTime,
}

/// An unfinished group as the grouping needs it: its recent members' terms and embeddings.
#[derive(Debug, Clone, Default)]
pub struct GroupSeed {
    pub id: i64,
    pub members: Vec<(Vec<String>, Option<Vec<f32>>)>,
}

/// One question of a group, as shown to editors.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GapSample {
    pub question: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// A group of similar unanswered questions.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GapGroup {
    pub id: i64,
    pub status: GapStatus,
    /// Questions recorded in the group (all time).
    pub count: u64,
    /// Of them, how many led to a handoff.
    pub handed_off: u64,
    /// The most recent questions, newest first.
    pub samples: Vec<GapSample>,
    /// The article that answered it, once closed.
    pub article_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: OffsetDateTime,
}

/// A knowledge reply's support score, recorded for the dashboard.
#[derive(Debug, Clone)]
pub struct ReplyScore {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub kind: ReplyKind,
    pub support: f32,
    pub at: OffsetDateTime,
}

/// How many ratings of answers citing one article were "helpful".
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ArticleHelpfulness {
    pub article_id: String,
    pub title: String,
    pub helpful: u64,
    /// Denominator: rated answers citing the article.
    pub rated: u64,
}

/// A conversation, as the summary sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFacts {
    pub id: ConversationId,
    pub channel: Channel,
    pub customer_id: Option<CustomerId>,
    pub created_at: OffsetDateTime,
    /// Its newest message (or its start, without messages).
    pub last_activity: OffsetDateTime,
    /// Whether the customer wrote anything.
    pub customer_messages: u64,
    /// Whether a handoff was created for it.
    pub handed_off: bool,
}

/// A handoff, as the summary sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffFacts {
    pub reasons: Vec<String>,
    pub created_at: OffsetDateTime,
    pub accepted_at: Option<OffsetDateTime>,
}

/// A survey answer, shown verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SurveyFacts {
    pub conversation_id: ConversationId,
    pub score: u8,
    pub comment: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// What the summary of a time window is computed from.
#[derive(Debug, Clone, Default)]
pub struct InsightsFacts {
    /// Conversations started in the window.
    pub conversations: Vec<ConversationFacts>,
    /// Conversations of the same customers started after the window's start (to see who came
    /// back): includes the window's own and later ones.
    pub later_contacts: Vec<(CustomerId, OffsetDateTime, ConversationId)>,
    /// Handoffs created in the window.
    pub handoffs: Vec<HandoffFacts>,
    /// Surveys answered in the window, oldest first.
    pub surveys: Vec<SurveyFacts>,
    /// Support scores of knowledge replies (answer or no_answer) in the window.
    pub replies: Vec<(ReplyKind, f32)>,
    /// Ratings given in the window: (helpful, rated).
    pub ratings: (u64, u64),
}

/// Storage of content gaps, ratings and the summary's facts.
#[async_trait]
pub trait InsightsStore: Send + Sync {
    /// Stores an unanswered question; returns its group (created when `gap.group` is `None`).
    async fn add_gap(&self, gap: &NewGap) -> Result<i64, DomainError>;
    /// Stores a knowledge reply's support score.
    async fn add_reply_score(&self, score: &ReplyScore) -> Result<(), DomainError>;
    /// Open and drafting groups with up to `per_group` of their newest members.
    async fn gap_seeds(&self, per_group: usize) -> Result<Vec<GroupSeed>, DomainError>;
    /// Groups with `status` (any when `None`), most questions first, each with up to
    /// `samples` of its newest questions.
    async fn gap_groups(
        &self,
        status: Option<GapStatus>,
        limit: usize,
        samples: usize,
    ) -> Result<Vec<GapGroup>, DomainError>;
    /// One group with up to `samples` questions; `None` if unknown.
    async fn gap_group(&self, id: i64, samples: usize) -> Result<Option<GapGroup>, DomainError>;
    /// Moves a group to `status` (closing records the answering article).
    async fn set_gap_status(
        &self,
        id: i64,
        status: GapStatus,
        article_id: Option<&str>,
    ) -> Result<(), DomainError>;
    /// A customer's rating of a bot reply of `conversation`; a second one replaces the first.
    /// `NotFound`: no such conversation, or no such message in it; `Invalid`: not a bot reply.
    async fn rate_reply(
        &self,
        conversation: ConversationId,
        message: MessageId,
        helpful: bool,
    ) -> Result<(), DomainError>;
    /// Ratings of answers per cited article, for ratings given in `[since, until)`.
    async fn article_helpfulness(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<ArticleHelpfulness>, DomainError>;
    /// The facts of `[since, until)`.
    async fn insights_facts(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<InsightsFacts, DomainError>;
}
