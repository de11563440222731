//! The inbound worker: turns recorded messages into dialog turns, in the order each chat
//! sent them (chats are handled side by side), and queues the replies.
//!
//! Delivery is at least once: a crash after the turn but before the record is marked handled
//! handles that message again on restart.

use super::format::{Outgoing, resolve_option};
use super::rating;
use super::{Inner, asked};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use warmline_dialog::Start;
use warmline_domain::{
    AnswerRating, ChannelThread, ConversationId, CustomerIdentity, DomainError, ErrorCode,
    InboundMessage, Ownership,
};

/// Records taken per round.
const BATCH: usize = 64;
/// How often the store is looked at without being woken (a safety net).
const IDLE_POLL: Duration = Duration::from_secs(5);

pub(super) async fn run(inner: Arc<Inner>) {
    loop {
        if inner.cancel.is_cancelled() {
            return;
        }
        let batch = match inner.store.pending_inbound(BATCH).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read received messages; retrying");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = inner.cancel.cancelled() => return,
                () = inner.inbound_wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
            continue;
        }
        // One task per chat, each handling its chat's messages in order.
        let mut chats: HashMap<(String, String), Vec<(i64, InboundMessage)>> = HashMap::new();
        for (seq, message) in batch {
            chats
                .entry((message.channel.to_string(), message.thread_key.clone()))
                .or_default()
                .push((seq, message));
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (_, messages) in chats {
            let inner = inner.clone();
            tasks.spawn(async move {
                for (seq, message) in messages {
                    if !handle_one(&inner, seq, &message).await {
                        // The store is unavailable: leave the rest for the next round.
                        return false;
                    }
                }
                true
            });
        }
        let mut stalled = false;
        while let Some(done) = tasks.join_next().await {
            stalled |= !done.unwrap_or(false);
        }
        if stalled {
            tokio::select! {
                () = inner.cancel.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Handles one record; `false` when it must be retried later (the store is unavailable).
#[tracing::instrument(skip_all, fields(channel = %message.channel))]
async fn handle_one(inner: &Inner, seq: i64, message: &InboundMessage) -> bool {
    let result = turn(inner, message).await;
    let error = match &result {
        Ok(()) => None,
        Err(e) if e.code == ErrorCode::Unavailable => {
            tracing::warn!(error = %e, "received message not handled yet; will retry");
            return false;
        }
        Err(e) => {
            tracing::warn!(code = %e.code, error = %e.message, "received message could not be handled");
            Some(e.to_string())
        }
    };
    match inner.store.finish_inbound(seq, error.as_deref()).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot mark a received message handled");
            false
        }
    }
}

async fn turn(inner: &Inner, message: &InboundMessage) -> Result<(), DomainError> {
    if let Some(r) = message.rating {
        return rate(inner, message, r).await;
    }
    let existing = inner
        .store
        .thread(message.channel, &message.thread_key)
        .await?;
    if let Some(thread) = &existing {
        let text = resolve_option(&message.text, &thread.options);
        if asked::survey(inner, thread, &text).await? {
            return Ok(());
        }
    }
    let mut thread = thread_for(inner, message, existing).await?;
    let mut text = resolve_option(&message.text, &thread.options);
    // Emails and pasted texts can be longer than a turn takes: keep the beginning rather than
    // refusing the whole message.
    let max = inner.dialog.config().max_message_chars;
    if text.chars().count() > max {
        text = text.chars().take(max).collect();
    }
    if asked::offer(inner, &thread, message, &text).await? {
        return Ok(());
    }
    let turn = match inner.dialog.handle(thread.conversation_id, &text).await {
        Err(e) if e.code == ErrorCode::Conflict => {
            // Closed in the meantime: the customer starts over in a new conversation.
            thread.conversation_id = start(inner, message).await?;
            inner.store.save_thread(&thread).await?;
            inner.dialog.handle(thread.conversation_id, &text).await?
        }
        other => other?,
    };
    if let Some((_, reply)) = &turn.reply {
        inner
            .queue(&thread, &Outgoing::from(reply), Some(reply))
            .await?;
    }
    Ok(())
}

/// A rating button pressed under an answer: recorded when the rated conversation is this
/// chat's customer's (a token from elsewhere is ignored), then acknowledged where the app does
/// not do it itself. A rating is never a dialog turn.
async fn rate(inner: &Inner, message: &InboundMessage, r: AnswerRating) -> Result<(), DomainError> {
    let Some(thread) = inner
        .store
        .thread(message.channel, &message.thread_key)
        .await?
    else {
        tracing::info!("rating from a chat without a conversation ignored");
        return Ok(());
    };
    let rated = inner.conversations.conversation(r.conversation_id).await?;
    let current = inner
        .conversations
        .conversation(thread.conversation_id)
        .await?;
    let theirs = match (&rated, &current) {
        (Some(rated), Some(current)) => {
            rated.id == current.id
                || (rated.customer_id.is_some() && rated.customer_id == current.customer_id)
        }
        _ => false,
    };
    if !theirs {
        tracing::info!("rating of a conversation that is not this chat's customer's ignored");
        return Ok(());
    }
    let Some(insights) = inner.dialog.insights() else {
        return Ok(());
    };
    match insights
        .rate(r.conversation_id, r.message_id, r.helpful)
        .await
    {
        Ok(()) => {}
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::InvalidInput) => {
            tracing::info!(error = %e.message, "rating ignored");
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let acknowledged = inner
        .providers
        .get(&message.channel)
        .is_some_and(|p| p.acknowledges_ratings());
    if !acknowledged {
        let thanks = Outgoing {
            text: rating::THANKS.into(),
            ..Outgoing::default()
        };
        inner.queue(&thread, &thanks, None).await?;
    }
    Ok(())
}

/// The chat's thread (`existing`, as the store has it), continuing its open conversation; a
/// new conversation (for the customer behind the sender's identity) when there is none or it
/// is closed.
async fn thread_for(
    inner: &Inner,
    message: &InboundMessage,
    existing: Option<ChannelThread>,
) -> Result<ChannelThread, DomainError> {
    if let Some(mut thread) = existing {
        let open = inner
            .conversations
            .conversation(thread.conversation_id)
            .await?
            .is_some_and(|c| c.ownership != Ownership::Closed);
        let address_changed = !message.address.is_null() && thread.address != message.address;
        if open && !address_changed {
            return Ok(thread);
        }
        if !open {
            thread.conversation_id = start(inner, message).await?;
            thread.options.clear();
        }
        if address_changed {
            thread.address = message.address.clone();
        }
        inner.store.save_thread(&thread).await?;
        return Ok(thread);
    }
    let thread = ChannelThread {
        channel: message.channel,
        key: message.thread_key.clone(),
        conversation_id: start(inner, message).await?,
        address: message.address.clone(),
        options: Vec::new(),
    };
    inner.store.save_thread(&thread).await?;
    Ok(thread)
}

async fn start(inner: &Inner, message: &InboundMessage) -> Result<ConversationId, DomainError> {
    let conversation = inner
        .dialog
        .start(Start {
            channel: message.channel,
            locale: message.locale.clone().filter(|l| valid_locale(l)),
            identity: Some(CustomerIdentity {
                channel: message.channel,
                external_id: message.sender.clone(),
            }),
            display_name: message.display_name.clone(),
        })
        .await?;
    tracing::info!(conversation_id = %conversation.id, "conversation started from a messaging app");
    Ok(conversation.id)
}

/// Providers send tags like `en`, `pt-br` or `en_US`; anything else falls back to the default.
fn valid_locale(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= 16 && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}
