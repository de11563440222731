//! Content gaps, answer ratings, reply scores and the analytics facts in SQLite.

use super::{SqliteStore, db_error};
use crate::rows::{corrupt, from_millis, get, to_millis, uuid};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::HashMap;
use time::OffsetDateTime;
use warmline_domain::insights::{
    ConversationFacts, GapSample, GroupSeed, HandoffFacts, ReplyScore, SurveyFacts,
};
use warmline_domain::{
    ArticleHelpfulness, ConversationId, CustomerId, DomainError, GapGroup, GapStatus,
    InsightsFacts, InsightsStore, MessageId, NewGap, ReplyKind,
};

fn embedding_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn embedding_from(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn reply_kind(s: &str) -> Result<ReplyKind, DomainError> {
    match s {
        "answer" => Ok(ReplyKind::Answer),
        "no_answer" => Ok(ReplyKind::NoAnswer),
        "journey" => Ok(ReplyKind::Journey),
        "small_talk" => Ok(ReplyKind::SmallTalk),
        other => Err(corrupt(format!("reply kind {other:?}"))),
    }
}

impl SqliteStore {
    async fn samples(&self, group: i64, limit: usize) -> Result<Vec<GapSample>, DomainError> {
        let rows = sqlx::query(
            "SELECT question, created_at FROM gap_questions WHERE group_id = ?
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(group)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(GapSample {
                    question: get(r, "question")?,
                    at: from_millis(get(r, "created_at")?)?,
                })
            })
            .collect()
    }

    async fn group_from(&self, row: &SqliteRow, samples: usize) -> Result<GapGroup, DomainError> {
        let id: i64 = get(row, "id")?;
        let status: String = get(row, "status")?;
        Ok(GapGroup {
            id,
            status: status.parse().map_err(corrupt)?,
            count: get::<i64>(row, "n")? as u64,
            handed_off: get::<i64>(row, "handed_off")? as u64,
            samples: self.samples(id, samples).await?,
            article_id: get(row, "article_id")?,
            first_seen: from_millis(get(row, "first_seen")?)?,
            last_seen: from_millis(get(row, "last_seen")?)?,
        })
    }
}

/// The groups query up to its WHERE clause (a macro, so each full query stays a literal).
macro_rules! groups_sql {
    () => {
        "SELECT g.id, g.status, g.article_id, COUNT(q.seq) AS n,
        SUM(q.reason = 'handoff') AS handed_off,
        MIN(q.created_at) AS first_seen, MAX(q.created_at) AS last_seen
    FROM gap_groups g JOIN gap_questions q ON q.group_id = g.id"
    };
}

#[async_trait]
impl InsightsStore for SqliteStore {
    async fn add_gap(&self, gap: &NewGap) -> Result<i64, DomainError> {
        let at = to_millis(gap.at);
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let group = match gap.group {
            Some(id) => {
                sqlx::query("UPDATE gap_groups SET updated_at = ? WHERE id = ?")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                id
            }
            None => sqlx::query_scalar::<_, i64>(
                "INSERT INTO gap_groups (created_at, updated_at) VALUES (?, ?) RETURNING id",
            )
            .bind(at)
            .bind(at)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?,
        };
        let terms = serde_json::to_string(&gap.terms)
            .map_err(|e| DomainError::internal(format!("gap terms: {e}")))?;
        sqlx::query(
            "INSERT INTO gap_questions (group_id, conversation_id, message_id, question, terms,
                 embedding, reason, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(group)
        .bind(gap.conversation_id.to_string())
        .bind(gap.message_id.to_string())
        .bind(&gap.question)
        .bind(terms)
        .bind(gap.embedding.as_deref().map(embedding_bytes))
        .bind(gap.reason.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(group)
    }

    async fn add_reply_score(&self, score: &ReplyScore) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT OR REPLACE INTO reply_scores (message_id, conversation_id, kind, support,
                 created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(score.message_id.to_string())
        .bind(score.conversation_id.to_string())
        .bind(score.kind.as_str())
        .bind(f64::from(score.support))
        .bind(to_millis(score.at))
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn gap_seeds(&self, per_group: usize) -> Result<Vec<GroupSeed>, DomainError> {
        let rows = sqlx::query(
            "SELECT q.group_id, q.terms, q.embedding FROM gap_questions q
             JOIN gap_groups g ON g.id = q.group_id
             WHERE g.status != 'closed'
               AND q.seq IN (SELECT seq FROM gap_questions WHERE group_id = q.group_id
                             ORDER BY seq DESC LIMIT ?)
             ORDER BY q.group_id, q.seq",
        )
        .bind(per_group as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        let mut seeds: Vec<GroupSeed> = Vec::new();
        for row in &rows {
            let id: i64 = get(row, "group_id")?;
            let terms: String = get(row, "terms")?;
            let terms: Vec<String> =
                serde_json::from_str(&terms).map_err(|e| corrupt(format!("gap terms: {e}")))?;
            let embedding: Option<Vec<u8>> = get(row, "embedding")?;
            if seeds.last().is_none_or(|s| s.id != id) {
                seeds.push(GroupSeed {
                    id,
                    members: Vec::new(),
                });
            }
            if let Some(seed) = seeds.last_mut() {
                seed.members
                    .push((terms, embedding.as_deref().map(embedding_from)));
            }
        }
        Ok(seeds)
    }

    async fn gap_groups(
        &self,
        status: Option<GapStatus>,
        limit: usize,
        samples: usize,
    ) -> Result<Vec<GapGroup>, DomainError> {
        let rows = sqlx::query(concat!(
            groups_sql!(),
            " WHERE (?1 IS NULL OR g.status = ?1) GROUP BY g.id
             ORDER BY n DESC, last_seen DESC LIMIT ?2"
        ))
        .bind(status.map(GapStatus::as_str))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            groups.push(self.group_from(row, samples).await?);
        }
        Ok(groups)
    }

    async fn gap_group(&self, id: i64, samples: usize) -> Result<Option<GapGroup>, DomainError> {
        let row = sqlx::query(concat!(groups_sql!(), " WHERE g.id = ? GROUP BY g.id"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => Ok(Some(self.group_from(&row, samples).await?)),
            None => Ok(None),
        }
    }

    async fn set_gap_status(
        &self,
        id: i64,
        status: GapStatus,
        article_id: Option<&str>,
    ) -> Result<(), DomainError> {
        let now = to_millis(warmline_domain::conversation::now());
        let closed_at = (status == GapStatus::Closed).then_some(now);
        let done = sqlx::query(
            "UPDATE gap_groups SET status = ?, article_id = COALESCE(?, article_id),
                 updated_at = ?, closed_at = ? WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(article_id)
        .bind(now)
        .bind(closed_at)
        .bind(id)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(DomainError::not_found(format!(
                "no content gap with id {id}"
            )));
        }
        Ok(())
    }

    async fn rate_reply(
        &self,
        conversation: ConversationId,
        message: MessageId,
        helpful: bool,
    ) -> Result<(), DomainError> {
        let found = sqlx::query(
            "SELECT role, reply_kind FROM messages WHERE id = ? AND conversation_id = ?",
        )
        .bind(message.to_string())
        .bind(conversation.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        let Some(row) = found else {
            let known = sqlx::query("SELECT 1 FROM conversations WHERE id = ?")
                .bind(conversation.to_string())
                .fetch_optional(&self.writer)
                .await
                .map_err(db_error)?;
            return Err(DomainError::not_found(match known {
                None => format!("no conversation with id {conversation}"),
                Some(_) => format!("no message {message} in this conversation"),
            }));
        };
        let role: String = get(&row, "role")?;
        let kind: Option<String> = get(&row, "reply_kind")?;
        if role != "bot" || kind.is_none() {
            return Err(DomainError::invalid(
                "only the bot's replies can be rated; this message is not one",
            ));
        }
        let now = to_millis(warmline_domain::conversation::now());
        sqlx::query(
            "INSERT INTO answer_ratings (message_id, conversation_id, helpful, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (message_id) DO UPDATE SET helpful = excluded.helpful,
                 updated_at = excluded.updated_at",
        )
        .bind(message.to_string())
        .bind(conversation.to_string())
        .bind(i64::from(helpful))
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn article_helpfulness(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<ArticleHelpfulness>, DomainError> {
        // One count per rated reply and article, however often the reply cites it.
        let rows = sqlx::query(
            "SELECT article_id, MAX(title) AS title, SUM(helpful) AS helpful, COUNT(*) AS rated
             FROM (SELECT DISTINCT r.message_id, r.helpful,
                          json_extract(c.value, '$.article_id') AS article_id,
                          json_extract(c.value, '$.title') AS title
                   FROM answer_ratings r JOIN messages m ON m.id = r.message_id,
                        json_each(m.citations) c
                   WHERE r.updated_at >= ? AND r.updated_at < ?)
             GROUP BY article_id ORDER BY rated DESC, article_id",
        )
        .bind(to_millis(since))
        .bind(to_millis(until))
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(ArticleHelpfulness {
                    article_id: get(r, "article_id")?,
                    title: get::<Option<String>>(r, "title")?.unwrap_or_default(),
                    helpful: get::<i64>(r, "helpful")? as u64,
                    rated: get::<i64>(r, "rated")? as u64,
                })
            })
            .collect()
    }

    async fn insights_facts(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<InsightsFacts, DomainError> {
        let (since, until) = (to_millis(since), to_millis(until));
        Ok(InsightsFacts {
            conversations: self.conversation_facts(since, until).await?,
            later_contacts: self.later_contacts(since, until).await?,
            handoffs: self.handoff_facts(since, until).await?,
            surveys: self.survey_facts(since, until).await?,
            replies: self.reply_facts(since, until).await?,
            ratings: self.rating_counts(since, until).await?,
        })
    }
}

impl SqliteStore {
    async fn conversation_facts(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<ConversationFacts>, DomainError> {
        let rows = sqlx::query(
            "SELECT c.id, c.channel, c.customer_id, c.created_at,
                    COALESCE((SELECT MAX(m.created_at) FROM messages m
                              WHERE m.conversation_id = c.id), c.created_at) AS last_activity,
                    (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id
                         AND m.role = 'customer') AS customer_messages,
                    EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id) AS handed_off
             FROM conversations c WHERE c.created_at >= ? AND c.created_at < ?
             ORDER BY c.created_at",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let channel: String = get(r, "channel")?;
                let customer: Option<String> = get(r, "customer_id")?;
                Ok(ConversationFacts {
                    id: ConversationId(uuid(r, "id")?),
                    channel: channel.parse().map_err(corrupt)?,
                    customer_id: match customer {
                        Some(c) => Some(CustomerId(
                            c.parse()
                                .map_err(|e| corrupt(format!("customer_id: {e}")))?,
                        )),
                        None => None,
                    },
                    created_at: from_millis(get(r, "created_at")?)?,
                    last_activity: from_millis(get(r, "last_activity")?)?,
                    customer_messages: get::<i64>(r, "customer_messages")? as u64,
                    handed_off: get::<bool>(r, "handed_off")?,
                })
            })
            .collect()
    }

    /// Every conversation (any time after `since`) of the customers met in the window.
    async fn later_contacts(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<(CustomerId, OffsetDateTime, ConversationId)>, DomainError> {
        let rows = sqlx::query(
            "SELECT id, customer_id, created_at FROM conversations
             WHERE created_at >= ? AND customer_id IN (SELECT DISTINCT customer_id
                 FROM conversations WHERE created_at >= ? AND created_at < ?
                 AND customer_id IS NOT NULL)",
        )
        .bind(since)
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    CustomerId(uuid(r, "customer_id")?),
                    from_millis(get(r, "created_at")?)?,
                    ConversationId(uuid(r, "id")?),
                ))
            })
            .collect()
    }

    async fn handoff_facts(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<HandoffFacts>, DomainError> {
        let rows = sqlx::query(
            "SELECT packet, created_at, accepted_at FROM handoffs
             WHERE created_at >= ? AND created_at < ? ORDER BY created_at",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let packet: String = get(r, "packet")?;
            let packet: HashMap<String, serde_json::Value> =
                serde_json::from_str(&packet).map_err(|e| corrupt(format!("packet: {e}")))?;
            let reasons = packet
                .get("reasons")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let accepted: Option<i64> = get(r, "accepted_at")?;
            out.push(HandoffFacts {
                reasons,
                created_at: from_millis(get(r, "created_at")?)?,
                accepted_at: accepted.map(from_millis).transpose()?,
            });
        }
        Ok(out)
    }

    async fn survey_facts(&self, since: i64, until: i64) -> Result<Vec<SurveyFacts>, DomainError> {
        let rows = sqlx::query(
            "SELECT conversation_id, score, comment, created_at FROM surveys
             WHERE created_at >= ? AND created_at < ? ORDER BY created_at",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(SurveyFacts {
                    conversation_id: ConversationId(uuid(r, "conversation_id")?),
                    score: get::<i64>(r, "score")?.clamp(1, 5) as u8,
                    comment: get(r, "comment")?,
                    at: from_millis(get(r, "created_at")?)?,
                })
            })
            .collect()
    }

    async fn reply_facts(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<(ReplyKind, f32)>, DomainError> {
        let rows = sqlx::query(
            "SELECT kind, support FROM reply_scores WHERE created_at >= ? AND created_at < ?",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let kind: String = get(r, "kind")?;
                Ok((reply_kind(&kind)?, get::<f64>(r, "support")? as f32))
            })
            .collect()
    }

    async fn rating_counts(&self, since: i64, until: i64) -> Result<(u64, u64), DomainError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(helpful), 0) AS helpful, COUNT(*) AS rated FROM answer_ratings
             WHERE updated_at >= ? AND updated_at < ?",
        )
        .bind(since)
        .bind(until)
        .fetch_one(&self.reader)
        .await
        .map_err(db_error)?;
        let helpful: i64 = row.try_get("helpful").map_err(db_error)?;
        let rated: i64 = row.try_get("rated").map_err(db_error)?;
        Ok((helpful as u64, rated as u64))
    }
}

#[cfg(test)]
#[path = "insights_tests.rs"]
mod tests;
