//! A generated handoff summary, when a chat model is loaded: two or three sentences on what
//! the customer wants, what happened and what is still open. The extractive summary of
//! [`crate::handoff::packet`] is there first and stays whenever generation fails, is busy,
//! or says nothing useful.

use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use warmline_domain::{
    DomainError, GenerateEvent, GenerateRequest, Generator, Message, PromptRole, Role,
};

/// The instructions of the summary prompt.
pub const SUMMARY_PROMPT: &str = "You summarise a customer service chat for the person from \
the team who takes it over. Write two or three short sentences: what the customer wants, what \
has happened so far, and what is still open. Use only facts from the chat. No greeting, no \
advice, no list.";

/// Messages of the transcript the model sees (the latest).
const MESSAGES: usize = 16;
/// Longest message text given to the model, in characters.
const MESSAGE_CHARS: usize = 400;
/// Longest summary kept, in characters.
const SUMMARY_CHARS: usize = 600;

/// Summaries by a chat model, a few at a time.
pub struct Summarizer {
    generator: Arc<dyn Generator>,
    timeout: Duration,
    /// Summaries in progress at once; more are skipped (the extractive one stays).
    slots: Arc<tokio::sync::Semaphore>,
}

impl Summarizer {
    pub fn new(generator: Arc<dyn Generator>, timeout: Duration, concurrent: usize) -> Self {
        Self {
            generator,
            timeout,
            slots: Arc::new(tokio::sync::Semaphore::new(concurrent.max(1))),
        }
    }

    pub fn model_id(&self) -> &str {
        self.generator.model_id()
    }

    /// The prompt for `transcript` (oldest first).
    pub fn request(transcript: &[Message]) -> GenerateRequest {
        let recent = &transcript[transcript.len().saturating_sub(MESSAGES)..];
        let mut chat = String::from("The chat:\n");
        for m in recent {
            let who = match m.role {
                Role::Customer => "Customer",
                Role::Bot => "Assistant",
                Role::Agent => "Agent",
                Role::System => continue,
            };
            let text: String = m.text.chars().take(MESSAGE_CHARS).collect();
            chat.push_str(&format!("{who}: {}\n", text.replace('\n', " ")));
        }
        chat.push_str("\nSummary for the agent:");
        GenerateRequest {
            system: SUMMARY_PROMPT.into(),
            turns: vec![(PromptRole::User, chat)],
            max_tokens: 120,
            stop: vec!["<|im_end|>".into(), "\n\n".into(), "\nCustomer:".into()],
        }
    }

    /// A summary of `transcript`, or why there is none (`RateLimited` when busy).
    pub async fn summarize(&self, transcript: &[Message]) -> Result<String, DomainError> {
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            return Err(DomainError::new(
                warmline_domain::ErrorCode::RateLimited,
                "summaries are busy",
            ));
        };
        let request = Self::request(transcript);
        let run = async {
            let mut stream = self.generator.generate(request).await?;
            let mut text = String::new();
            while let Some(event) = stream.next().await {
                if let GenerateEvent::Text(piece) = event? {
                    text.push_str(&piece);
                }
            }
            Ok::<_, DomainError>(text)
        };
        let text = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| DomainError::unavailable("summary timed out"))??;
        clean(&text).ok_or_else(|| DomainError::unavailable("the model gave no usable summary"))
    }
}

/// The summary as shown: one paragraph, trimmed, cut at a sentence end when too long; `None`
/// when too short to say anything.
pub fn clean(text: &str) -> Option<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.trim_start_matches("Summary:").trim();
    if text.chars().count() < 20 {
        return None;
    }
    if text.chars().count() <= SUMMARY_CHARS {
        return Some(text.to_owned());
    }
    let cut: String = text.chars().take(SUMMARY_CHARS).collect();
    Some(match cut.rfind(". ") {
        Some(end) => cut[..=end].to_owned(),
        None => cut + "…",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warmline_domain::ConversationId;

    #[test]
    fn the_prompt_quotes_the_chat_without_system_notices() {
        let c = ConversationId::new();
        let transcript = vec![
            Message::new(c, Role::Customer, "my card was charged twice"),
            Message::new(
                c,
                Role::Bot,
                "Duplicate charges usually drop off in 3 days.",
            ),
            Message::new(
                c,
                Role::System,
                "Ana from our team has joined the conversation.",
            ),
        ];
        let request = Summarizer::request(&transcript);
        let chat = &request.turns[0].1;
        assert!(
            chat.contains("Customer: my card was charged twice"),
            "{chat}"
        );
        assert!(chat.contains("Assistant: Duplicate charges"), "{chat}");
        assert!(!chat.contains("has joined"), "{chat}");
    }

    #[test]
    fn summaries_are_one_short_paragraph_or_nothing() {
        assert_eq!(clean("  ok  "), None);
        assert_eq!(
            clean("Summary: The customer was charged\ntwice and wants a refund.").as_deref(),
            Some("The customer was charged twice and wants a refund.")
        );
        let long = "The customer wants a refund. ".repeat(40);
        let cut = clean(&long).unwrap();
        assert!(cut.len() <= SUMMARY_CHARS && cut.ends_with('.'), "{cut}");
    }
}
