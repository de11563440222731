//! Answer quality on an evaluation set (`knowledge/eval/questions.yaml`): answerable
//! questions must get an answer citing the right article, unanswerable ones an honest
//! "I don't know". Used by `warmline eval --answers` and the tests.

use serde::Deserialize;
use std::time::Instant;
use warmline_dialog::{Dialog, Start};
use warmline_domain::{Channel, DomainError, ReplyKind};

/// The answer-quality question set.
#[derive(Debug, Clone, Deserialize)]
pub struct AnswerSet {
    pub answerable: Vec<AnswerCase>,
    pub unanswerable: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AnswerCase {
    pub q: String,
    pub article: String,
}

/// How the answers did.
#[derive(Debug, Clone, Default)]
pub struct AnswerScores {
    pub answerable: usize,
    /// Answered, citing the right article first.
    pub right: usize,
    /// Answered from another article: `question → cited`.
    pub wrong_article: Vec<String>,
    /// Answerable, but the bot said it didn't know.
    pub refused: Vec<String>,
    pub unanswerable: usize,
    /// Unanswerable, but the bot answered anyway: `question → cited`.
    pub invented: Vec<String>,
    pub mean_support: f64,
    pub mean_seconds: f64,
    /// Every answer text, for reading (`question → answer`).
    pub answers: Vec<(String, String)>,
}

impl AnswerScores {
    pub fn accuracy(&self) -> f64 {
        self.right as f64 / self.answerable.max(1) as f64
    }
    pub fn refusal_rate(&self) -> f64 {
        self.refused.len() as f64 / self.answerable.max(1) as f64
    }
    pub fn honesty(&self) -> f64 {
        1.0 - self.invented.len() as f64 / self.unanswerable.max(1) as f64
    }
}

/// Asks every question of `set` (at most `limit` of each kind) in one web conversation.
pub async fn evaluate_answers(
    dialog: &Dialog,
    set: &AnswerSet,
    limit: Option<usize>,
) -> Result<AnswerScores, DomainError> {
    let conversation = dialog
        .start(Start {
            channel: Channel::Web,
            ..Start::default()
        })
        .await?;
    let limit = limit.unwrap_or(usize::MAX);
    let mut scores = AnswerScores::default();
    let (mut support, mut seconds, mut asked) = (0.0f64, 0.0f64, 0usize);
    for case in set.answerable.iter().take(limit) {
        let started = Instant::now();
        let reply = dialog.answer(&conversation, &case.q).await?;
        seconds += started.elapsed().as_secs_f64();
        asked += 1;
        support += f64::from(reply.support);
        scores.answerable += 1;
        match reply.kind {
            ReplyKind::Answer if reply.citations[0].article_id == case.article => scores.right += 1,
            ReplyKind::Answer => scores.wrong_article.push(format!(
                "{:?} cited {}, wanted {}",
                case.q, reply.citations[0].article_id, case.article
            )),
            ReplyKind::NoAnswer | ReplyKind::Journey | ReplyKind::SmallTalk => scores
                .refused
                .push(format!("{:?} (support {:.2})", case.q, reply.support)),
        }
        scores.answers.push((case.q.clone(), reply.text));
    }
    for q in set.unanswerable.iter().take(limit) {
        let started = Instant::now();
        let reply = dialog.answer(&conversation, q).await?;
        seconds += started.elapsed().as_secs_f64();
        asked += 1;
        scores.unanswerable += 1;
        if reply.kind == ReplyKind::Answer {
            scores
                .invented
                .push(format!("{q:?} → {}", reply.citations[0].article_id));
        }
        scores.answers.push((q.clone(), reply.text));
    }
    scores.mean_support = support / scores.answerable.max(1) as f64;
    scores.mean_seconds = seconds / asked.max(1) as f64;
    Ok(scores)
}
