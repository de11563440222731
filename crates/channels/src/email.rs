//! Email: an inbound webhook (`POST /webhooks/email`) taking a parsed email as JSON, in the
//! shape inbound-parse services post it (Postmark's field names: `MessageID`, `From` /
//! `FromFull`, `Subject`, `TextBody`, `StrippedTextReply`, `Headers`), authenticated by HTTP
//! Basic auth with a shared secret as the password (the service's webhook URL carries it:
//! `https://inbound:SECRET@host/webhooks/email`); replies go out over SMTP (lettre) as plain
//! text, threaded with `In-Reply-To` / `References`.
//!
//! Threading: an email continues the conversation of the first of its `References` (then its
//! `In-Reply-To`) that we know, so a reply to any message of the thread, ours included, lands
//! in the same conversation; an email that refers to nothing known starts one, keyed by its
//! root (first `References` entry, else `In-Reply-To`, else its own `Message-ID`).

use crate::error::ApiError;
use crate::messaging::format::{Flavour, Outgoing, format_parts};
use crate::messaging::sign::same;
use crate::messaging::{Inbox, Provider, SendError};
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use warmline_domain::{Channel, ErrorCode, InboundMessage};

#[derive(Clone)]
pub struct EmailConfig {
    /// The password of the inbound webhook's Basic auth.
    pub webhook_secret: String,
    /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required`, `smtps://user:pass@host`.
    pub smtp_url: String,
    /// The sender of replies, e.g. `Support <help@example.com>`.
    pub from: String,
    /// The domain of our `Message-ID`s.
    pub message_id_domain: String,
    pub rate_per_second: u32,
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

pub struct Email {
    config: EmailConfig,
    from: lettre::message::Mailbox,
    smtp: AsyncSmtpTransport<Tokio1Executor>,
}

impl Email {
    pub fn new(
        config: EmailConfig,
        timeout: std::time::Duration,
    ) -> Result<Self, crate::ChannelsError> {
        let bad =
            |what: &str, e: String| crate::ChannelsError::Config(format!("email {what}: {e}"));
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(|e| bad("SMTP URL", e.to_string()))?
            .timeout(Some(timeout))
            .build();
        let from = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| bad("sender", e.to_string()))?;
        Ok(Self { config, from, smtp })
    }
}

/// `<id>` with its angle brackets, as headers carry it.
fn bracketed(id: &str) -> String {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    format!("<{id}>")
}

fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    if s.to_ascii_lowercase().starts_with("re:") {
        s.to_owned()
    } else if s.is_empty() {
        "Re: your message".to_owned()
    } else {
        format!("Re: {s}")
    }
}

#[async_trait]
impl Provider for Email {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn rate_per_second(&self) -> u32 {
        self.config.rate_per_second
    }

    fn render(&self, address: &Value, out: &Outgoing) -> Vec<Value> {
        let text = format_parts(out, Flavour::Plain, true, usize::MAX).join("\n\n");
        let message_id = format!("<{}@{}>", uuid_like(), self.config.message_id_domain.trim());
        vec![json!({
            "to": address["to"],
            "subject": address["subject"],
            "in_reply_to": address["in_reply_to"],
            "references": address["references"],
            "message_id": message_id,
            "text": text,
        })]
    }

    fn alias(&self, payload: &Value) -> Option<String> {
        payload["message_id"].as_str().map(str::to_owned)
    }

    async fn send(&self, payload: &Value) -> Result<Option<String>, SendError> {
        let field = |k: &str| payload[k].as_str().unwrap_or_default().to_owned();
        let to = field("to")
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad recipient: {e}")))?;
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(field("subject"))
            .message_id(Some(field("message_id")));
        if !field("in_reply_to").is_empty() {
            builder = builder.in_reply_to(field("in_reply_to"));
        }
        if !field("references").is_empty() {
            builder = builder.references(field("references"));
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(field("text"))
            .map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))?;
        match self.smtp.send(message).await {
            Ok(_) => Ok(Some(field("message_id"))),
            // SMTP answers can quote the address: "status smtp" is what the logs show.
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("status smtp: {e}"))),
            Err(e) => Err(SendError::Retry {
                reason: format!("status smtp: {e}"),
                after: None,
            }),
        }
    }
}

/// A unique local part for our `Message-ID`s.
fn uuid_like() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// The inbound webhook route.
pub fn router(email: Arc<Email>, inbox: Inbox) -> Router {
    Router::new()
        .route("/webhooks/email", post(inbound))
        .with_state((email, inbox))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ParsedEmail {
    #[serde(rename = "MessageID", default)]
    message_id: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    from_name: Option<String>,
    #[serde(default)]
    from_full: Option<Value>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    text_body: Option<String>,
    #[serde(default)]
    stripped_text_reply: Option<String>,
    #[serde(default)]
    headers: Vec<Header>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Header {
    name: String,
    value: String,
}

impl ParsedEmail {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The sender's address: `FromFull.Email`, else the address in `From`.
    fn sender(&self) -> Option<String> {
        let full = self.from_full.as_ref().and_then(|f| f["Email"].as_str());
        let raw = full.or(self.from.as_deref())?;
        let address = match (raw.rfind('<'), raw.rfind('>')) {
            (Some(a), Some(b)) if a < b => &raw[a + 1..b],
            _ => raw,
        };
        Some(address.trim().to_ascii_lowercase()).filter(|a| a.contains('@'))
    }
}

fn ids(header: Option<&str>) -> Vec<String> {
    header
        .unwrap_or_default()
        .split_whitespace()
        .filter(|s| s.starts_with('<'))
        .map(bracketed)
        .collect()
}

fn authorized(headers: &HeaderMap, secret: &str) -> bool {
    let Some(encoded) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap_or_default();
    let password = decoded
        .iter()
        .position(|&b| b == b':')
        .map_or(&[][..], |i| &decoded[i + 1..]);
    same(password, secret.as_bytes())
}

async fn inbound(
    State((email, inbox)): State<(Arc<Email>, Inbox)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::http::StatusCode, ApiError> {
    if !authorized(&headers, &email.config.webhook_secret) {
        tracing::info!("email webhook refused: wrong credentials");
        return Err(ApiError::new(ErrorCode::Unauthorized, "wrong credentials"));
    }
    let parsed: ParsedEmail = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedRequest,
            format!("not a parsed email: {e}"),
        )
    })?;
    let message_id = parsed
        .message_id
        .as_deref()
        .or(parsed.header("Message-ID"))
        .map(bracketed)
        .ok_or_else(|| ApiError::new(ErrorCode::MalformedRequest, "no Message-ID"))?;
    let sender = parsed
        .sender()
        .ok_or_else(|| ApiError::new(ErrorCode::MalformedRequest, "no sender address"))?;
    let text = parsed
        .stripped_text_reply
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .or(parsed.text_body.as_deref())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let references = ids(parsed.header("References"));
    let in_reply_to = ids(parsed.header("In-Reply-To"));
    // The first id of the thread we already know, else the thread's root.
    let mut candidates: Vec<String> = references.iter().chain(&in_reply_to).cloned().collect();
    candidates.push(message_id.clone());
    let mut key = candidates[0].clone();
    for id in &candidates {
        if inbox.store().thread(Channel::Email, id).await?.is_some() {
            key = id.clone();
            break;
        }
    }
    let mut chain = references;
    chain.push(message_id.clone());
    let subject = reply_subject(parsed.subject.as_deref().unwrap_or_default());
    if !text.is_empty() {
        inbox
            .accept(&[InboundMessage {
                channel: Channel::Email,
                provider_id: message_id.clone(),
                thread_key: key,
                sender: sender.clone(),
                display_name: parsed.from_name.clone().filter(|n| !n.is_empty()),
                text,
                address: json!({
                    "to": sender,
                    "subject": subject,
                    "in_reply_to": message_id,
                    "references": chain.join(" "),
                }),
                locale: None,
                rating: None,
            }])
            .await?;
    }
    Ok(axum::http::StatusCode::OK)
}
