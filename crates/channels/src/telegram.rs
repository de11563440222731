//! Telegram Bot API: a webhook (`POST /webhooks/telegram`, authenticated by the
//! `X-Telegram-Bot-Api-Secret-Token` header that `setWebhook secret_token=` makes Telegram
//! send) and `sendMessage` in HTML markup, with quick replies (and, under answers, the rating
//! buttons) as an inline keyboard whose buttons come back as callback queries.

use crate::error::ApiError;
use crate::messaging::format::{Flavour, Outgoing, format_parts};
use crate::messaging::rating;
use crate::messaging::sign::same;
use crate::messaging::{Inbox, Provider, SendError, json_answer};
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use warmline_domain::{Channel, ErrorCode, InboundMessage};

/// Telegram's limit on a message's text, in characters.
const MAX_CHARS: usize = 4096;

#[derive(Clone)]
pub struct TelegramConfig {
    /// The bot token from @BotFather.
    pub token: String,
    /// The secret given to `setWebhook` (1-256 characters `A-Za-z0-9_-`).
    pub secret: String,
    /// `https://api.telegram.org`, or a test fake.
    pub api_base: String,
    /// Messages per second (Telegram allows about 30 across chats).
    pub rate_per_second: u32,
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

pub struct Telegram {
    config: TelegramConfig,
    http: reqwest::Client,
}

impl Telegram {
    pub fn new(config: TelegramConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    fn method_url(&self, method: &str) -> String {
        format!(
            "{}/bot{}/{method}",
            self.config.api_base.trim_end_matches('/'),
            self.config.token
        )
    }

    /// Points the bot's webhook at `url` with the configured secret (`setWebhook`).
    pub async fn set_webhook(&self, url: &str) -> Result<Value, SendError> {
        let body = json!({
            "url": url,
            "secret_token": self.config.secret,
            "allowed_updates": ["message", "callback_query"],
        });
        json_answer(
            self.http
                .post(self.method_url("setWebhook"))
                .json(&body)
                .send()
                .await,
        )
        .await
    }
}

#[async_trait]
impl Provider for Telegram {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    fn rate_per_second(&self) -> u32 {
        self.config.rate_per_second
    }

    fn render(&self, address: &Value, out: &Outgoing) -> Vec<Value> {
        let chat_id = address.get("chat_id").cloned().unwrap_or(Value::Null);
        let parts = format_parts(out, Flavour::TelegramHtml, false, MAX_CHARS);
        let last = parts.len().saturating_sub(1);
        parts
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let mut body = json!({
                    "chat_id": chat_id,
                    "text": text,
                    "parse_mode": "HTML",
                    "link_preview_options": {"is_disabled": true},
                });
                if i == last && (!out.options.is_empty() || out.rate.is_some()) {
                    let mut rows: Vec<Value> = out
                        .options
                        .iter()
                        .enumerate()
                        .map(|(n, o)| json!([{"text": o, "callback_data": (n + 1).to_string()}]))
                        .collect();
                    // The rating buttons side by side under the options.
                    if let Some(target) = out.rate {
                        let pair: Vec<Value> = rating::buttons(target)
                            .into_iter()
                            .map(|(label, token)| json!({"text": label, "callback_data": token}))
                            .collect();
                        rows.push(Value::Array(pair));
                    }
                    body["reply_markup"] = json!({ "inline_keyboard": rows });
                }
                json!({"method": "sendMessage", "body": body})
            })
            .collect()
    }

    fn acknowledges_ratings(&self) -> bool {
        true
    }

    async fn send(&self, payload: &Value) -> Result<Option<String>, SendError> {
        let method = payload["method"].as_str().unwrap_or("sendMessage");
        let answer = json_answer(
            self.http
                .post(self.method_url(method))
                .json(&payload["body"])
                .send()
                .await,
        )
        .await;
        match answer {
            Ok(body) => Ok(body["result"]["message_id"]
                .as_i64()
                .map(|id| id.to_string())),
            // Telegram says how long to wait in the body as well as the header.
            Err(SendError::Retry { reason, after }) => {
                let in_body =
                    serde_json::from_str::<Value>(reason.split_once(": ").map_or("", |r| r.1))
                        .ok()
                        .and_then(|b| b["parameters"]["retry_after"].as_u64())
                        .map(Duration::from_secs);
                Err(SendError::Retry {
                    reason,
                    after: after.or(in_body),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// The webhook route.
pub fn router(telegram: Arc<Telegram>, inbox: Inbox) -> Router {
    Router::new()
        .route("/webhooks/telegram", post(webhook))
        .with_state((telegram, inbox))
}

#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<TgMessage>,
    #[serde(default)]
    callback_query: Option<CallbackQuery>,
}

#[derive(Debug, Deserialize)]
struct TgMessage {
    chat: Chat,
    #[serde(default)]
    from: Option<User>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    language_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    #[serde(default)]
    message: Option<TgMessage>,
    #[serde(default)]
    data: Option<String>,
}

fn inbound(update_id: i64, chat: &Chat, from: &User, text: String) -> InboundMessage {
    let name = [from.first_name.as_deref(), from.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    InboundMessage {
        channel: Channel::Telegram,
        provider_id: update_id.to_string(),
        thread_key: chat.id.to_string(),
        sender: from.id.to_string(),
        display_name: Some(name).filter(|n| !n.is_empty()),
        text,
        address: json!({ "chat_id": chat.id }),
        locale: from.language_code.clone(),
        rating: None,
    }
}

async fn webhook(
    State((telegram, inbox)): State<(Arc<Telegram>, Inbox)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same(given, telegram.config.secret.as_bytes()) {
        tracing::info!("telegram webhook refused: wrong secret token");
        return Err(ApiError::new(ErrorCode::Unauthorized, "wrong secret token"));
    }
    let update: Update = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("not an update: {e}")))?;
    let mut messages = Vec::new();
    let mut answer = Value::Null;
    if let Some(m) = &update.message
        && let (Some(from), Some(text)) = (&m.from, &m.text)
        && !from.is_bot
    {
        messages.push(inbound(update.update_id, &m.chat, from, text.clone()));
    }
    if let Some(q) = &update.callback_query {
        // Stops the button's spinner: Telegram runs a method returned as the webhook answer.
        answer = json!({"method": "answerCallbackQuery", "callback_query_id": q.id});
        if let (Some(m), Some(data)) = (&q.message, &q.data) {
            let mut message = inbound(update.update_id, &m.chat, &q.from, data.clone());
            if let Some(r) = rating::parse(data) {
                // A rating: no dialog turn; the toast says it was received.
                message.text.clear();
                message.rating = Some(r);
                answer["text"] = json!(rating::THANKS);
            }
            messages.push(message);
        }
    }
    inbox.accept(&messages).await?;
    if answer.is_null() {
        return Ok(axum::http::StatusCode::OK.into_response());
    }
    Ok(axum::Json(answer).into_response())
}
