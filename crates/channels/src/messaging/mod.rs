//! The machinery every messaging app shares: webhooks store what they receive durably and
//! answer at once; workers turn it into dialog turns and deliver replies through a persistent
//! outbox.
//!
//! ```text
//! webhook ─verify─► Inbox ─► channel_inbound (once per provider id) ─► inbound worker
//!                                                  thread → conversation ─► Dialog::handle
//! agent API ─► Outbound::deliver ─┐                          reply ─► format ─┤
//!                                 └──────────► channel_outbox ◄───────────────┘
//!                                 outbox worker ─(rate limit, retries with backoff)─► provider
//! ```
//!
//! - [`asked`]: replies to the wait offer and the closing survey, which an app has no
//!   controls for.
//! - [`format`]: Markdown to each app's markup, citations as short links, length limits.
//! - [`sign`]: HMAC helpers for the webhook signatures.
//! - [`Messaging`]: builds the configured providers, mounts their webhooks, runs the workers
//!   and implements [`Outbound`] for messages written by agents.
//! - [`Provider`]: what a channel module implements to send.

pub mod asked;
pub mod format;
mod inbound;
mod outbox;
pub mod rating;
pub mod sign;

use crate::{email, slack, telegram, twilio, whatsapp};
use async_trait::async_trait;
use axum::Router;
use format::Outgoing;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warmline_dialog::Dialog;
use warmline_domain::{
    Channel, ChannelStore, ChannelThread, ConversationStore, DomainError, ErrorCode,
    InboundMessage, Message, NewOutboxItem, Outbound,
};

pub use outbox::OutboxConfig;

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Try again later (the provider is down, slow, or asks us to slow down), not before
    /// `after` when it says.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The provider refused the request for good (bad recipient, bad credentials).
    Permanent(String),
}

/// A messaging app's sending side.
#[async_trait]
pub trait Provider: Send + Sync {
    fn channel(&self) -> Channel;
    /// Sends per second the provider allows us; the outbox keeps under it.
    fn rate_per_second(&self) -> u32;
    /// The provider requests that deliver `out` to the chat at `address`, in order.
    fn render(&self, address: &Value, out: &Outgoing) -> Vec<Value>;
    /// Sends one rendered request; the provider's id of the sent message on success.
    async fn send(&self, payload: &Value) -> Result<Option<String>, SendError>;
    /// Another key under which the chat of a rendered request is known from then on (email:
    /// our `Message-ID`, which the customer's reply refers to).
    fn alias(&self, _payload: &Value) -> Option<String> {
        None
    }
    /// Whether the app itself tells a customer their rating was received (Telegram's toast);
    /// otherwise a short thank-you is sent.
    fn acknowledges_ratings(&self) -> bool {
        false
    }
}

/// Which messaging apps to run, and how. A channel that is `None` is not mounted.
#[derive(Debug, Clone, Default)]
pub struct MessagingConfig {
    pub telegram: Option<telegram::TelegramConfig>,
    pub whatsapp: Option<whatsapp::WhatsAppConfig>,
    pub twilio: Option<twilio::TwilioConfig>,
    pub slack: Option<slack::SlackConfig>,
    pub email: Option<email::EmailConfig>,
    pub outbox: OutboxConfig,
    /// Received messages waiting to be handled beyond which webhooks answer 503 (providers
    /// retry later).
    pub max_backlog: u64,
}

impl MessagingConfig {
    pub fn any(&self) -> bool {
        self.telegram.is_some()
            || self.whatsapp.is_some()
            || self.twilio.is_some()
            || self.slack.is_some()
            || self.email.is_some()
    }
}

/// Where webhooks put what they receive.
#[derive(Clone)]
pub struct Inbox {
    store: Arc<dyn ChannelStore>,
    wake: Arc<Notify>,
    max_backlog: u64,
}

impl Inbox {
    /// The store behind the inbox (for provider status callbacks).
    pub fn store(&self) -> &Arc<dyn ChannelStore> {
        &self.store
    }

    /// Records received messages durably (a provider's retry of one already recorded is
    /// dropped) and wakes the inbound worker. Fails with `Unavailable` when the backlog is
    /// full, so the provider retries later.
    pub async fn accept(&self, messages: &[InboundMessage]) -> Result<usize, DomainError> {
        if messages.is_empty() {
            return Ok(0);
        }
        if self.store.inbound_backlog().await? >= self.max_backlog {
            metrics::counter!("warmline_channel_inbound_total", "result" => "refused")
                .increment(messages.len() as u64);
            return Err(DomainError::new(
                ErrorCode::Unavailable,
                "too many received messages wait to be handled",
            ));
        }
        let mut new = 0;
        for message in messages {
            let fresh = self.store.record_inbound(message).await?;
            let result = if fresh { "new" } else { "duplicate" };
            metrics::counter!("warmline_channel_inbound_total", "channel" => message.channel.as_str(), "result" => result)
                .increment(1);
            if fresh {
                new += 1;
            } else {
                tracing::debug!(channel = %message.channel, "provider retry dropped");
            }
        }
        if new > 0 {
            self.wake.notify_one();
        }
        Ok(new)
    }
}

pub(crate) struct Inner {
    dialog: Dialog,
    store: Arc<dyn ChannelStore>,
    conversations: Arc<dyn ConversationStore>,
    providers: HashMap<Channel, Arc<dyn Provider>>,
    inbound_wake: Arc<Notify>,
    outbox_wake: Notify,
    outbox: OutboxConfig,
    cancel: CancellationToken,
}

impl Inner {
    /// Queues a message written outside a turn for its conversation's app, if it has one.
    async fn deliver(&self, message: &Message) -> Result<(), DomainError> {
        let Some(thread) = self
            .store
            .thread_of_conversation(message.conversation_id)
            .await?
        else {
            return Ok(());
        };
        self.queue(&thread, &Outgoing::from(message), Some(message))
            .await
    }

    /// Formats `out` for the thread's channel and queues it (with the thread's new quick
    /// replies), then wakes the outbox worker.
    async fn queue(
        &self,
        thread: &ChannelThread,
        out: &Outgoing,
        message: Option<&Message>,
    ) -> Result<(), DomainError> {
        let Some(provider) = self.providers.get(&thread.channel) else {
            tracing::warn!(channel = %thread.channel, "no provider configured for this channel; message not delivered");
            return Ok(());
        };
        let payloads = provider.render(&thread.address, out);
        let aliases: Vec<String> = payloads.iter().filter_map(|p| provider.alias(p)).collect();
        let items: Vec<NewOutboxItem> = payloads
            .into_iter()
            .map(|payload| NewOutboxItem {
                channel: thread.channel,
                thread_key: thread.key.clone(),
                conversation_id: Some(thread.conversation_id),
                message_id: message.map(|m| m.id),
                payload,
            })
            .collect();
        let options = (!out.options.is_empty()).then_some((
            thread.channel,
            thread.key.as_str(),
            out.options.as_slice(),
        ));
        self.store.enqueue(&items, options).await?;
        for key in aliases {
            let alias = ChannelThread {
                key,
                ..thread.clone()
            };
            self.store.save_thread(&alias).await?;
        }
        self.outbox_wake.notify_one();
        Ok(())
    }
}

/// The running messaging channels. Cheap to clone.
#[derive(Clone)]
pub struct Messaging {
    inner: Arc<Inner>,
    router: Router,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Messaging {
    /// Builds the configured providers and their webhook routes, and starts the inbound and
    /// outbox workers (which first pick up whatever a previous run left pending).
    pub fn start(
        config: MessagingConfig,
        dialog: Dialog,
        store: Arc<dyn ChannelStore>,
        conversations: Arc<dyn ConversationStore>,
    ) -> Result<Self, crate::ChannelsError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.outbox.send_timeout)
            .build()
            .map_err(|e| crate::ChannelsError::Http(e.to_string()))?;
        let inbox = Inbox {
            store: store.clone(),
            wake: Arc::new(Notify::new()),
            max_backlog: config.max_backlog.max(1),
        };
        let mut providers: HashMap<Channel, Arc<dyn Provider>> = HashMap::new();
        let mut router = Router::new();
        if let Some(c) = config.telegram {
            let p = Arc::new(telegram::Telegram::new(c, http.clone()));
            router = router.merge(telegram::router(p.clone(), inbox.clone()));
            providers.insert(Channel::Telegram, p);
        }
        if let Some(c) = config.whatsapp {
            let p = Arc::new(whatsapp::WhatsApp::new(c, http.clone()));
            router = router.merge(whatsapp::router(p.clone(), inbox.clone()));
            providers.insert(Channel::WhatsApp, p);
        }
        if let Some(c) = config.twilio {
            let p = Arc::new(twilio::Twilio::new(c, http.clone()));
            router = router.merge(twilio::router(p.clone(), inbox.clone()));
            providers.insert(Channel::Sms, p);
        }
        if let Some(c) = config.slack {
            let p = Arc::new(slack::Slack::new(c, http.clone()));
            router = router.merge(slack::router(p.clone(), inbox.clone()));
            providers.insert(Channel::Slack, p);
        }
        if let Some(c) = config.email {
            let p = Arc::new(email::Email::new(c, config.outbox.send_timeout)?);
            router = router.merge(email::router(p.clone(), inbox.clone()));
            providers.insert(Channel::Email, p);
        }
        let inner = Arc::new(Inner {
            dialog,
            store,
            conversations,
            providers,
            inbound_wake: inbox.wake.clone(),
            outbox_wake: Notify::new(),
            outbox: config.outbox,
            cancel: CancellationToken::new(),
        });
        let tasks = vec![
            tokio::spawn(inbound::run(inner.clone())),
            tokio::spawn(outbox::run(inner.clone())),
        ];
        tracing::info!(channels = ?inner.providers.keys().map(|c| c.as_str()).collect::<Vec<_>>(), "messaging channels started");
        Ok(Self {
            inner,
            router,
            tasks: Arc::new(Mutex::new(tasks)),
        })
    }

    /// The webhook routes of the configured channels (`/webhooks/...`).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Stops the workers: no new work is picked up, sends in flight finish (each is bounded
    /// by the send timeout); what is still pending stays in the store for the next start.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        tracing::info!("messaging channels stopped");
    }
}

#[async_trait]
impl Outbound for Messaging {
    async fn deliver(&self, message: &Message) -> Result<(), DomainError> {
        self.inner.deliver(message).await
    }
}

impl Messaging {
    /// An [`Outbound`] for the dialog's own parts (the switchboard's notices). It holds the
    /// apps weakly: the apps hold the dialog, so a strong handle would keep both alive for
    /// ever (and the index locked after a stop). Once the apps are gone it delivers nothing.
    pub fn notices(&self) -> Arc<dyn Outbound> {
        Arc::new(Notices(Arc::downgrade(&self.inner)))
    }
}

struct Notices(std::sync::Weak<Inner>);

#[async_trait]
impl Outbound for Notices {
    async fn deliver(&self, message: &Message) -> Result<(), DomainError> {
        match self.0.upgrade() {
            Some(inner) => inner.deliver(message).await,
            None => Ok(()),
        }
    }
}

/// Classifies an HTTP answer of a provider's JSON API: 2xx gives the body; 429 and 5xx are
/// worth retrying (after `Retry-After` when given); other statuses are permanent.
pub(crate) async fn json_answer(
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<Value, SendError> {
    let response = result.map_err(|e| SendError::Retry {
        reason: format!("request failed: {}", without_url(&e)),
        after: None,
    })?;
    let status = response.status();
    let after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let reason = format!("status {}: {}", status.as_u16(), body);
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        Err(SendError::Retry { reason, after })
    } else {
        Err(SendError::Permanent(reason))
    }
}

/// A request error's text without its URL (Telegram's URLs carry the bot token).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        text
    }
}
