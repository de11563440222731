//! Slack Events API: `POST /webhooks/slack/events`, signed with the app's signing secret
//! (`X-Slack-Signature` = `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}`; requests
//! older than 5 minutes are refused as replays), the `url_verification` handshake, and
//! replies through `chat.postMessage` in mrkdwn: in the thread of a channel message, or
//! straight in a direct message.

use crate::error::ApiError;
use crate::messaging::format::{Flavour, Outgoing, format_parts};
use crate::messaging::sign::{hmac_sha256, same};
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
use warmline_domain::{Channel, ErrorCode, InboundMessage};

/// Slack truncates messages beyond 40,000 characters and advises at most 4,000.
const MAX_CHARS: usize = 3900;
/// Signed requests older (or newer) than this are refused.
pub const REPLAY_WINDOW_SECS: i64 = 300;

#[derive(Clone)]
pub struct SlackConfig {
    pub signing_secret: String,
    /// The bot token (`xoxb-...`).
    pub bot_token: String,
    /// `https://slack.com/api`, or a test fake.
    pub api_base: String,
    /// Messages per second (`chat.postMessage` allows about 1 per second per channel).
    pub rate_per_second: u32,
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

pub struct Slack {
    config: SlackConfig,
    http: reqwest::Client,
}

impl Slack {
    pub fn new(config: SlackConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }
}

/// Whether a request is signed by `secret` and recent (at `now`, unix seconds).
pub fn signature_ok(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> bool {
    let Some(ts) = timestamp.and_then(|t| t.trim().parse::<i64>().ok()) else {
        return false;
    };
    if (now - ts).abs() > REPLAY_WINDOW_SECS {
        return false;
    }
    let Some(given) = signature
        .and_then(|s| s.strip_prefix("v0="))
        .and_then(|s| hex::decode(s.trim()).ok())
    else {
        return false;
    };
    let base = format!("v0:{ts}:");
    same(
        &given,
        &hmac_sha256(secret.as_bytes(), &[base.as_bytes(), body]),
    )
}

#[async_trait]
impl Provider for Slack {
    fn channel(&self) -> Channel {
        Channel::Slack
    }

    fn rate_per_second(&self) -> u32 {
        self.config.rate_per_second
    }

    fn render(&self, address: &Value, out: &Outgoing) -> Vec<Value> {
        format_parts(out, Flavour::Slack, true, MAX_CHARS)
            .into_iter()
            .map(|text| {
                let mut body = json!({
                    "channel": address["channel"],
                    "text": text,
                    "mrkdwn": true,
                    "unfurl_links": false,
                });
                if let Some(ts) = address["thread_ts"].as_str() {
                    body["thread_ts"] = json!(ts);
                }
                body
            })
            .collect()
    }

    async fn send(&self, payload: &Value) -> Result<Option<String>, SendError> {
        let url = format!(
            "{}/chat.postMessage",
            self.config.api_base.trim_end_matches('/')
        );
        let body = json_answer(
            self.http
                .post(url)
                .bearer_auth(&self.config.bot_token)
                .json(payload)
                .send()
                .await,
        )
        .await?;
        if body["ok"].as_bool() == Some(true) {
            return Ok(body["ts"].as_str().map(str::to_owned));
        }
        let error = body["error"].as_str().unwrap_or("unknown error").to_owned();
        match error.as_str() {
            "ratelimited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout" => Err(SendError::Retry {
                reason: error,
                after: None,
            }),
            _ => Err(SendError::Permanent(error)),
        }
    }
}

/// The Events API route.
pub fn router(slack: Arc<Slack>, inbox: Inbox) -> Router {
    Router::new()
        .route("/webhooks/slack/events", post(events))
        .with_state((slack, inbox))
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event: Option<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    channel_type: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

/// Removes `<@U123>` mentions (how app mentions address the bot).
fn without_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_owned()
}

fn inbound(event_id: &str, e: &Event) -> Option<InboundMessage> {
    if !matches!(e.kind.as_str(), "message" | "app_mention")
        || e.bot_id.is_some()
        || e.subtype.is_some()
    {
        // Our own replies, edits and joins come back as events too: never answer those.
        return None;
    }
    let (user, channel, ts) = (e.user.as_ref()?, e.channel.as_ref()?, e.ts.as_ref()?);
    let text = without_mentions(e.text.as_deref()?);
    if text.is_empty() {
        return None;
    }
    let direct = e.channel_type.as_deref() == Some("im");
    let (key, address) = if direct {
        (channel.clone(), json!({"channel": channel}))
    } else {
        let thread = e.thread_ts.as_ref().unwrap_or(ts);
        (
            format!("{channel}:{thread}"),
            json!({"channel": channel, "thread_ts": thread}),
        )
    };
    Some(InboundMessage {
        channel: Channel::Slack,
        provider_id: event_id.to_owned(),
        thread_key: key,
        sender: user.clone(),
        display_name: None,
        text,
        address,
        locale: None,
    })
}

async fn events(
    State((slack, inbox)): State<(Arc<Slack>, Inbox)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if !signature_ok(
        &slack.config.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    ) {
        tracing::info!("slack event refused: bad signature or stale timestamp");
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "bad signature or stale timestamp",
        ));
    }
    let envelope: Envelope = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("not an event: {e}")))?;
    if envelope.kind == "url_verification" {
        return Ok(axum::Json(json!({"challenge": envelope.challenge})).into_response());
    }
    if let (Some(id), Some(event)) = (&envelope.event_id, &envelope.event)
        && let Some(message) = inbound(id, event)
    {
        inbox.accept(&[message]).await?;
    }
    Ok(axum::http::StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_removed() {
        assert_eq!(
            without_mentions("<@U0LAN0Z89> where is my order?"),
            "where is my order?"
        );
        assert_eq!(without_mentions("hi <@U1> and <@U2|bob>!"), "hi  and !");
    }

    #[test]
    fn signatures_expire_after_five_minutes() {
        let body = b"token=x";
        let sig = format!(
            "v0={}",
            hex::encode(hmac_sha256(b"s", &[b"v0:1000:", body]))
        );
        assert!(signature_ok(
            "s",
            Some("1000"),
            Some(&sig),
            body,
            1000 + 300
        ));
        assert!(!signature_ok(
            "s",
            Some("1000"),
            Some(&sig),
            body,
            1000 + 301
        ));
        assert!(!signature_ok(
            "s",
            Some("1000"),
            Some(&sig),
            b"token=y",
            1000
        ));
        assert!(!signature_ok("t", Some("1000"), Some(&sig), body, 1000));
    }
}
