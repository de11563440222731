//! Insights: content gaps, answer ratings and the analytics summary.
//!
//! - [`Insights`]: records every knowledge reply's support score and every unanswered
//!   question off the hot path (a bounded queue and one background writer; when the queue is
//!   full the record is dropped and counted), redacted ([`redact`]) and grouped
//!   ([`grouping`]); serves the summary ([`summary`]) and draft articles from gap groups.
//! - `Dialog::recheck_gaps`: after a knowledge re-index, runs each open group's questions
//!   through retrieval and the answer check again and closes the groups now answered.

pub mod export;
pub mod grouping;
pub mod redact;
pub mod summary;

use crate::Dialog;
use grouping::{Grouper, MEMBERS_KEPT, Thresholds};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use warmline_domain::insights::ReplyScore;
use warmline_domain::{
    Channel, Conversation, ConversationId, DomainError, Embedder, GapReason, GapStatus,
    InsightsStore, MessageId, NewGap, Ownership, ReplyKind,
};

/// Records waiting for the background writer; beyond that they are dropped (and counted).
const QUEUE: usize = 1024;
/// Questions of a group asked again after a re-index.
const RECHECK_SAMPLES: usize = 20;
/// Content gaps listed in the summary.
const TOP_GAPS: usize = 10;
/// Groups rechecked after a re-index (the largest first).
const RECHECK_GROUPS: usize = 200;

/// What a turn tells the insights.
#[derive(Debug, Clone)]
pub(crate) struct Note {
    pub conversation_id: ConversationId,
    pub question_id: MessageId,
    pub question: String,
    pub reply_id: MessageId,
    pub kind: ReplyKind,
    pub support: f32,
    /// Handed to a person because the bot kept failing or the customer asked again.
    pub handed_off: bool,
    pub at: OffsetDateTime,
}

enum Job {
    Note(Note),
    /// Reload the open groups from the store (some were closed).
    Reload,
    /// Answer once everything queued before is written.
    Flush(oneshot::Sender<()>),
}

/// Content gaps, ratings and the summary. Cheap to clone.
#[derive(Clone)]
pub struct Insights {
    store: Arc<dyn InsightsStore>,
    tx: mpsc::Sender<Job>,
}

/// A draft article prefilled from a content-gap group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Draft {
    pub group_id: i64,
    pub title: String,
    /// The questions customers asked, newest first.
    pub questions: Vec<String>,
    /// A Markdown article with front matter (`status: draft`), ready for the editor.
    pub markdown: String,
    pub status: GapStatus,
}

impl Insights {
    /// Starts the background writer (on the current tokio runtime). With an embedder,
    /// questions are grouped by meaning.
    pub fn start(store: Arc<dyn InsightsStore>, embedder: Option<Arc<dyn Embedder>>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store.clone(), embedder, rx));
        Self { store, tx }
    }

    pub fn store(&self) -> &Arc<dyn InsightsStore> {
        &self.store
    }

    /// A customer's rating of a bot reply of `conversation`, from any channel; rating again
    /// replaces it. `NotFound`: no such conversation or message; `Invalid`: not a bot reply.
    pub async fn rate(
        &self,
        conversation: warmline_domain::ConversationId,
        message: warmline_domain::MessageId,
        helpful: bool,
    ) -> Result<(), warmline_domain::DomainError> {
        self.store
            .rate_reply(conversation, message, helpful)
            .await?;
        metrics::counter!("warmline_answer_ratings_total", "helpful" => helpful.to_string())
            .increment(1);
        Ok(())
    }

    pub(crate) fn note(&self, note: Note) {
        if self.tx.try_send(Job::Note(note)).is_err() {
            metrics::counter!("warmline_insights_dropped_total").increment(1);
        }
    }

    /// Waits until every record queued so far is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The summary of `window` as of `now`, with per-article helpfulness and the top
    /// content gaps (open and drafting).
    pub async fn summary(
        &self,
        window: summary::Window,
        now: OffsetDateTime,
    ) -> Result<summary::Summary, DomainError> {
        let facts = self
            .store
            .insights_facts(window.since, window.until)
            .await?;
        let mut out = summary::compute(&facts, window, now);
        out.articles = self
            .store
            .article_helpfulness(window.since, window.until)
            .await?;
        let open = self
            .store
            .gap_groups(Some(GapStatus::Open), 10_000, 0)
            .await?;
        out.gap_groups_open = open.len() as u64;
        let mut top = self.store.gap_groups(None, 40, 5).await?;
        top.retain(|g| g.status != GapStatus::Closed);
        top.truncate(TOP_GAPS);
        out.top_gaps = top;
        Ok(out)
    }

    /// A draft article for group `id`, which becomes `drafting`.
    pub async fn draft(&self, id: i64) -> Result<Draft, DomainError> {
        let group = self
            .store
            .gap_group(id, 50)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("no content gap with id {id}")))?;
        if group.status == GapStatus::Closed {
            return Err(DomainError::new(
                warmline_domain::ErrorCode::Conflict,
                "this content gap is closed: an article answers it now",
            ));
        }
        self.store
            .set_gap_status(id, GapStatus::Drafting, None)
            .await?;
        let questions: Vec<String> = group.samples.into_iter().map(|s| s.question).collect();
        let title = title_of(&questions);
        Ok(Draft {
            group_id: id,
            markdown: draft_markdown(id, &title, &questions),
            title,
            questions,
            status: GapStatus::Drafting,
        })
    }
}

/// The most common question (by its words), as a title.
fn title_of(questions: &[String]) -> String {
    let mut counts: HashMap<Vec<String>, (usize, &str)> = HashMap::new();
    for q in questions {
        let e = counts.entry(grouping::terms(q)).or_insert((0, q));
        e.0 += 1;
    }
    let best = counts
        .values()
        // Most asked; on a tie the newest (questions come newest first).
        .max_by_key(|(n, q)| (*n, std::cmp::Reverse(questions.iter().position(|x| x == q))))
        .map(|(_, q)| q.trim())
        .unwrap_or("Untitled");
    let mut title: String = best.chars().take(120).collect();
    if let Some(first) = title.chars().next() {
        title.replace_range(..first.len_utf8(), &first.to_uppercase().to_string());
    }
    if !title.ends_with(['?', '.', '!']) {
        title.push('?');
    }
    title
}

fn draft_markdown(id: i64, title: &str, questions: &[String]) -> String {
    let mut md = format!(
        "---\nid: gap-{id}\ntitle: {}\nstatus: draft\n---\n\n<!-- Customers asked:\n",
        serde_json::to_string(title).unwrap_or_default()
    );
    for q in questions {
        md.push_str(&format!("  - {}\n", q.replace("-->", "->")));
    }
    md.push_str("-->\n\n## Answer\n\nWrite the answer here.\n");
    md
}

async fn writer(
    store: Arc<dyn InsightsStore>,
    embedder: Option<Arc<dyn Embedder>>,
    mut rx: mpsc::Receiver<Job>,
) {
    let mut grouper = load(&*store).await;
    while let Some(job) = rx.recv().await {
        match job {
            Job::Note(note) => {
                if let Err(e) = write(&*store, embedder.as_deref(), &mut grouper, note).await {
                    tracing::warn!(error = %e, "insights record failed");
                }
            }
            Job::Reload => grouper = load(&*store).await,
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

async fn load(store: &dyn InsightsStore) -> Grouper {
    match store.gap_seeds(MEMBERS_KEPT).await {
        Ok(seeds) => Grouper::with_seeds(Thresholds::default(), seeds),
        Err(e) => {
            tracing::warn!(error = %e, "content gaps unavailable: grouping starts afresh");
            Grouper::new(Thresholds::default())
        }
    }
}

async fn write(
    store: &dyn InsightsStore,
    embedder: Option<&dyn Embedder>,
    grouper: &mut Grouper,
    note: Note,
) -> Result<(), DomainError> {
    if matches!(note.kind, ReplyKind::Answer | ReplyKind::NoAnswer) {
        store
            .add_reply_score(&ReplyScore {
                message_id: note.reply_id,
                conversation_id: note.conversation_id,
                kind: note.kind,
                support: note.support,
                at: note.at,
            })
            .await?;
    }
    if note.kind != ReplyKind::NoAnswer {
        return Ok(());
    }
    let question = redact::redact(&note.question);
    let terms = grouping::terms(&question);
    let embedding = match embedder {
        Some(e) => match e.embed(vec![question.clone()]).await {
            Ok(mut v) => v.pop(),
            Err(e) => {
                tracing::warn!(error = %e, "gap question not embedded: grouped by terms");
                None
            }
        },
        None => None,
    };
    let group = grouper.assign(&terms, embedding.as_deref());
    let id = store
        .add_gap(&NewGap {
            group,
            conversation_id: note.conversation_id,
            message_id: note.question_id,
            question,
            terms: terms.clone(),
            embedding: embedding.clone(),
            reason: if note.handed_off {
                GapReason::Handoff
            } else {
                GapReason::NoAnswer
            },
            at: note.at,
        })
        .await?;
    grouper.add(id, terms, embedding.as_deref());
    metrics::counter!("warmline_content_gaps_total").increment(1);
    Ok(())
}

impl Dialog {
    /// Records content gaps and support scores with `insights`.
    pub fn with_insights(mut self, insights: Insights) -> Self {
        self.insights = Some(insights);
        self
    }

    pub fn insights(&self) -> Option<&Insights> {
        self.insights.as_ref()
    }

    /// Tells the insights about a finished turn (never waits).
    pub(crate) fn note_turn(
        &self,
        question: &warmline_domain::Message,
        reply: &warmline_domain::Reply,
        stored: &warmline_domain::Message,
        moment: Option<&crate::moments::Decision>,
    ) {
        let Some(insights) = &self.insights else {
            return;
        };
        let handed_off = moment.is_some_and(|d| {
            d.route == crate::moments::Route::Agent
                && (d.fired("repeated_failure") || d.fired("rephrased_question"))
        });
        insights.note(Note {
            conversation_id: question.conversation_id,
            question_id: question.id,
            question: question.text.clone(),
            reply_id: stored.id,
            kind: reply.kind,
            support: reply.support,
            handed_off,
            at: stored.created_at,
        });
    }

    /// Runs the questions of every open or drafting content gap through retrieval and the
    /// answer check again (after a knowledge re-index), and closes the groups where more than
    /// half of their recent questions now get a supported answer. Returns the groups closed.
    pub async fn recheck_gaps(&self) -> Result<Vec<i64>, DomainError> {
        let Some(insights) = &self.insights else {
            return Ok(Vec::new());
        };
        let probe = Conversation {
            id: ConversationId::new(),
            channel: Channel::Web,
            locale: "en".into(),
            customer_id: None,
            ownership: Ownership::Bot,
            created_at: warmline_domain::conversation::now(),
            updated_at: warmline_domain::conversation::now(),
        };
        let mut closed = Vec::new();
        let groups = insights
            .store
            .gap_groups(None, RECHECK_GROUPS, RECHECK_SAMPLES)
            .await?;
        for group in groups.iter().filter(|g| g.status != GapStatus::Closed) {
            let mut answered = 0;
            let mut cited: HashMap<String, usize> = HashMap::new();
            for sample in &group.samples {
                let reply = self.answer(&probe, &sample.question).await?;
                if reply.kind == ReplyKind::Answer {
                    answered += 1;
                    if let Some(c) = reply.citations.first() {
                        *cited.entry(c.article_id.clone()).or_default() += 1;
                    }
                }
            }
            if answered * 2 > group.samples.len() {
                let article = cited.into_iter().max_by_key(|(_, n)| *n).map(|(a, _)| a);
                insights
                    .store
                    .set_gap_status(group.id, GapStatus::Closed, article.as_deref())
                    .await?;
                closed.push(group.id);
            }
        }
        if !closed.is_empty() {
            tracing::info!(
                closed = closed.len(),
                "content gaps answered after re-index"
            );
            let _ = insights.tx.send(Job::Reload).await;
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_the_most_asked_question() {
        let qs = vec![
            "can you gift wrap it".to_owned(),
            "do you offer gift wrapping".to_owned(),
            "Do you offer gift wrapping?".to_owned(),
        ];
        assert_eq!(title_of(&qs), "Do you offer gift wrapping?");
        let md = draft_markdown(3, "Do you offer gift wrapping?", &qs);
        assert!(md.starts_with(
            "---\nid: gap-3\ntitle: \"Do you offer gift wrapping?\"\nstatus: draft\n---"
        ));
        assert!(md.contains("  - can you gift wrap it\n"));
    }
}
