//! Slack Events API: `POST /webhooks/slack/events`, signed with the app's signing secret
//! (`X-Slack-Signature` = `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}`; requests
//! older than 5 minutes are refused as replays), the `url_verification` handshake, and
//! replies through `chat.postMessage` in mrkdwn: in the thread of a channel message, or
//! straight in a direct message. Answers carry "helpful / not helpful" buttons (Block Kit);
//! their presses arrive at `POST /webhooks/slack/interactions`, signed the same way.

use crate::error::ApiError;
use crate::messaging::format::{Flavour, Outgoing, format_parts};
use crate::messaging::rating;
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
/// Slack's limit on a section block's text.
const MAX_SECTION_CHARS: usize = 3000;
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
        // The last part carries the quick replies and an answer's rating as Block Kit
        // buttons, its text in a section block (which holds fewer characters than a message).
        let buttons = out.rate.is_some() || !out.options.is_empty();
        let max = if buttons {
            MAX_SECTION_CHARS
        } else {
            MAX_CHARS
        };
        let parts = format_parts(out, Flavour::Slack, false, max);
        let last = parts.len().saturating_sub(1);
        parts
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let mut body = json!({
                    "channel": address["channel"],
                    "text": text,
                    "mrkdwn": true,
                    "unfurl_links": false,
                });
                if let Some(ts) = address["thread_ts"].as_str() {
                    body["thread_ts"] = json!(ts);
                }
                if i == last && buttons {
                    let mut blocks =
                        vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})];
                    if let Some(target) = out.rate {
                        let rate: Vec<Value> = rating::buttons(target)
                            .into_iter()
                            .zip(["warmline_helpful", "warmline_not_helpful"])
                            .map(|((label, token), action_id)| button(action_id, label, &token))
                            .collect();
                        blocks.push(json!({"type": "actions", "block_id": "warmline_rating", "elements": rate}));
                    }
                    if !out.options.is_empty() {
                        let options: Vec<Value> = out
                            .options
                            .iter()
                            .take(MAX_BUTTONS)
                            .enumerate()
                            .map(|(n, option)| {
                                button(
                                    &format!("warmline_option_{n}"),
                                    option,
                                    &format!("{OPTION}{option}"),
                                )
                            })
                            .collect();
                        blocks.push(json!({"type": "actions", "block_id": "warmline_options", "elements": options}));
                    }
                    body["blocks"] = Value::Array(blocks);
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

/// The Events API route, and the interactivity route (button presses).
pub fn router(slack: Arc<Slack>, inbox: Inbox) -> Router {
    Router::new()
        .route("/webhooks/slack/events", post(events))
        .route("/webhooks/slack/interactions", post(interactions))
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

/// A chat's thread key and reply address: a channel's thread (`channel:thread_ts`), or the
/// channel itself when there is no thread (a direct message).
fn chat(channel: &str, thread_ts: Option<&str>) -> (String, Value) {
    match thread_ts {
        Some(ts) => (
            format!("{channel}:{ts}"),
            json!({"channel": channel, "thread_ts": ts}),
        ),
        None => (channel.to_owned(), json!({"channel": channel})),
    }
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
    // Direct messages are answered outside threads; channel messages in their thread.
    let direct = e.channel_type.as_deref() == Some("im");
    let thread = (!direct).then(|| e.thread_ts.as_ref().unwrap_or(ts).as_str());
    let (key, address) = chat(channel, thread);
    Some(InboundMessage {
        channel: Channel::Slack,
        provider_id: event_id.to_owned(),
        thread_key: key,
        sender: user.clone(),
        display_name: None,
        text,
        address,
        locale: None,
        rating: None,
    })
}

/// Refuses a request that is not signed with the signing secret or is older than the replay
/// window.
fn verify(slack: &Slack, headers: &HeaderMap, body: &[u8], what: &str) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if signature_ok(
        &slack.config.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        now,
    ) {
        return Ok(());
    }
    tracing::info!("slack {what} refused: bad signature or stale timestamp");
    Err(ApiError::new(
        ErrorCode::Unauthorized,
        "bad signature or stale timestamp",
    ))
}

async fn events(
    State((slack, inbox)): State<(Arc<Slack>, Inbox)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    verify(&slack, &headers, &body, "event")?;
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

/// What Slack posts to the interactivity URL when a button is pressed (`block_actions`; only
/// these fields matter here).
#[derive(Debug, Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    user: Option<Named>,
    #[serde(default)]
    channel: Option<Named>,
    #[serde(default)]
    message: Option<PostedMessage>,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
struct Named {
    id: String,
}

#[derive(Debug, Deserialize)]
struct PostedMessage {
    #[serde(default)]
    thread_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Action {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    action_ts: Option<String>,
}

/// Value prefix of a quick-reply button: the rest is the option, said as the customer's text.
const OPTION: &str = "option:";
/// Slack's limits: elements in an actions block, characters of a button's text and value.
const MAX_BUTTONS: usize = 25;
const MAX_BUTTON_TEXT: usize = 75;
const MAX_BUTTON_VALUE: usize = 2000;

/// A Block Kit button (its text cut to Slack's 75 characters; the value is what counts).
fn button(action_id: &str, label: &str, value: &str) -> Value {
    let mut text: String = label.chars().take(MAX_BUTTON_TEXT).collect();
    if text.len() < label.len() {
        text.pop();
        text.push('…');
    }
    let value: String = value.chars().take(MAX_BUTTON_VALUE).collect();
    json!({"type": "button", "action_id": action_id, "value": value,
           "text": {"type": "plain_text", "text": text, "emoji": true}})
}

/// A pressed button as a received message: a quick reply becomes what the customer says, a
/// rating button a rating (Warmline sends no other buttons).
fn pressed(i: &Interaction) -> Option<InboundMessage> {
    if i.kind != "block_actions" {
        return None;
    }
    let action = i.actions.first()?;
    let value = action.value.as_deref()?;
    let (text, r) = match value.strip_prefix(OPTION) {
        Some(option) if !option.trim().is_empty() => (option.to_owned(), None),
        Some(_) => return None,
        None => (String::new(), Some(rating::parse(value)?)),
    };
    let (user, channel) = (&i.user.as_ref()?.id, &i.channel.as_ref()?.id);
    // The chat as the Events API names it (the pressed message's thread, if any).
    let thread = i.message.as_ref().and_then(|m| m.thread_ts.as_deref());
    let (key, address) = chat(channel, thread);
    let id = i.trigger_id.clone().or_else(|| action.action_ts.clone())?;
    Some(InboundMessage {
        channel: Channel::Slack,
        provider_id: format!("action:{id}"),
        thread_key: key,
        sender: user.clone(),
        display_name: None,
        text,
        address,
        locale: None,
        rating: r,
    })
}

/// `POST /webhooks/slack/interactions` (the app's Interactivity Request URL): a form with one
/// field, `payload`, the interaction as JSON; signed like events.
async fn interactions(
    State((slack, inbox)): State<(Arc<Slack>, Inbox)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    verify(&slack, &headers, &body, "interaction")?;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("not a form: {e}")))?;
    let payload = form
        .iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| ApiError::new(ErrorCode::MalformedRequest, "no payload field"))?;
    let interaction: Interaction = serde_json::from_str(payload).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedRequest,
            format!("not an interaction: {e}"),
        )
    })?;
    if let Some(message) = pressed(&interaction) {
        inbox.accept(&[message]).await?;
    }
    Ok(axum::http::StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_reply_buttons_keep_the_whole_option_in_their_value() {
        let long = "a".repeat(80);
        let b = button("warmline_option_0", &long, &format!("{OPTION}{long}"));
        assert_eq!(
            b["text"]["text"].as_str().unwrap().chars().count(),
            MAX_BUTTON_TEXT
        );
        assert!(b["text"]["text"].as_str().unwrap().ends_with('…'));
        assert_eq!(b["value"], format!("{OPTION}{long}"));
        let short = button("warmline_option_1", "Order status", "option:Order status");
        assert_eq!(short["text"]["text"], "Order status");
    }

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
