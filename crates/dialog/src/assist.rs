//! Agent assist: what the knowledge base says about the customer's latest question, as
//! replies an agent can send with one click (each with its citations).

use crate::Dialog;
use warmline_domain::{ConversationId, DomainError, Reply, ReplyKind, Role};

/// Suggested replies for an agent.
#[derive(Debug, Clone)]
pub struct Assist {
    /// The customer message the suggestions answer; `None` before the customer wrote.
    pub question: Option<String>,
    /// Grounded answers with citations; empty when the knowledge base has none.
    pub replies: Vec<Reply>,
}

impl Dialog {
    /// Suggested replies to the latest customer message of conversation `id`, composed the
    /// way the bot answers (retrieval, then the grounded composer), stored nowhere.
    #[tracing::instrument(skip_all, fields(conversation_id = %id))]
    pub async fn assist(&self, id: ConversationId) -> Result<Assist, DomainError> {
        let (conversation, messages) = self.transcript(id).await?;
        let Some(question) = messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Customer && crate::tickets::offer_choice(&m.text).is_none())
            .map(|m| m.text.clone())
        else {
            return Ok(Assist {
                question: None,
                replies: Vec::new(),
            });
        };
        let mut reply = self.answer(&conversation, &question).await?;
        // Quick replies are for customers, not agents.
        reply.suggestions.clear();
        let replies = if reply.kind == ReplyKind::Answer {
            vec![reply]
        } else {
            Vec::new()
        };
        metrics::counter!("warmline_assist_total", "found" => if replies.is_empty() { "no" } else { "yes" })
            .increment(1);
        Ok(Assist {
            question: Some(question),
            replies,
        })
    }
}
