//! Customers who stop waiting for a person: a callback request or a message for the team,
//! stored as a ticket with the conversation (the customer's words are never lost).

use crate::Dialog;
use crate::switchboard::{CALL_ME_BACK, KEEP_WAITING, LEAVE_A_MESSAGE};
use warmline_domain::{ConversationId, DomainError, Message, NewTicket, Role, Ticket, TicketKind};

/// Longest contact (phone number or email), in characters.
pub const CONTACT_CHARS: usize = 200;
/// Customer messages quoted in a ticket the customer left without words of their own.
const QUOTED: usize = 10;

/// What the customer asked for by picking a quick reply of the offer, if they did.
pub fn offer_choice(text: &str) -> Option<Option<TicketKind>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case(CALL_ME_BACK) {
        Some(Some(TicketKind::Callback))
    } else if text.eq_ignore_ascii_case(LEAVE_A_MESSAGE) {
        Some(Some(TicketKind::Message))
    } else if text.eq_ignore_ascii_case(KEEP_WAITING) {
        Some(None)
    } else {
        None
    }
}

impl Dialog {
    /// Opens a ticket for conversation `id`: a callback at `contact`, or a message for the
    /// team. `text` is stored as the customer's message first; without it, the ticket quotes
    /// what they wrote last. A handoff still waiting ends in favour of the ticket and the bot
    /// answers again meanwhile. Returns the ticket and the thank-you stored for the customer.
    #[tracing::instrument(skip_all, fields(conversation_id = %id, kind = kind.as_str()))]
    pub async fn leave_ticket(
        &self,
        id: ConversationId,
        kind: TicketKind,
        contact: Option<&str>,
        text: Option<&str>,
    ) -> Result<(Ticket, Message), DomainError> {
        let handoffs = self
            .handoffs
            .as_ref()
            .ok_or_else(|| DomainError::unavailable("tickets are not stored by this server"))?;
        let contact = contact.map(str::trim).filter(|c| !c.is_empty());
        if contact.is_some_and(|c| c.chars().count() > CONTACT_CHARS) {
            return Err(DomainError::invalid(format!(
                "the contact is longer than {CONTACT_CHARS} characters"
            )));
        }
        if kind == TicketKind::Callback && contact.is_none() {
            return Err(DomainError::invalid(
                "a callback needs a phone number or an email in `contact`",
            ));
        }
        // No words of their own is fine (the ticket quotes them); bad words are refused.
        let text = text
            .filter(|t| !t.trim().is_empty())
            .map(|t| self.validate(t))
            .transpose()?;
        // Checks it exists and is open.
        self.open_conversation(id).await?;
        let words = match text {
            Some(text) => {
                self.store
                    .append_message(&Message::from_customer(id, text))
                    .await?;
                text.to_owned()
            }
            None => self.quoted(id).await?,
        };
        let ticket = handoffs
            .open_ticket(&NewTicket {
                conversation_id: id,
                kind,
                contact: contact.map(str::to_owned),
                text: words,
            })
            .await?;
        let thanks = match kind {
            TicketKind::Callback => format!(
                "Thank you. Our team will call you back at {} as soon as they can, with \
                 everything you told me. Meanwhile I'm here if you have other questions.",
                contact.unwrap_or_default()
            ),
            TicketKind::Message => "Thank you: your message is with our team, together with our \
                conversation, and they'll get back to you. Meanwhile I'm here if you have other \
                questions."
                .to_owned(),
        };
        let thanks = Message::new(id, Role::System, thanks);
        self.store.append_message(&thanks).await?;
        metrics::counter!("warmline_tickets_total", "kind" => kind.as_str()).increment(1);
        tracing::info!(ticket_id = %ticket.id, "ticket opened");
        Ok((ticket, thanks))
    }

    /// The customer's latest messages (not their picks of quick replies), oldest first.
    async fn quoted(&self, id: ConversationId) -> Result<String, DomainError> {
        let messages = self
            .store
            .messages(id, self.config.transcript_limit)
            .await?;
        let mine: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == Role::Customer && offer_choice(&m.text).is_none())
            .map(|m| m.text.as_str())
            .collect();
        Ok(mine[mine.len().saturating_sub(QUOTED)..].join("\n"))
    }
}
