//! Twilio Programmable Messaging (SMS, and WhatsApp through Twilio): form-encoded webhooks
//! signed with `X-Twilio-Signature` (base64 HMAC-SHA1 under the auth token of the exact public
//! URL followed by every POST parameter's name and value, sorted by name), answered with an
//! empty TwiML document; replies go out through the REST API as plain text, split into parts
//! of at most 1600 characters, with quick replies as numbered options.

use crate::error::ApiError;
use crate::messaging::format::{Flavour, Outgoing, format_parts};
use crate::messaging::sign::{hmac_sha1, same};
use crate::messaging::{Inbox, Provider, SendError, json_answer};
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;
use warmline_domain::{Channel, ErrorCode, InboundMessage};

/// Twilio's limit on a message body, in characters.
const MAX_CHARS: usize = 1600;
/// Room kept for the "(2/3) " part counter.
const COUNTER_CHARS: usize = 8;
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

#[derive(Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// The public base URL Twilio calls (scheme, host, port exactly as configured in the
    /// Twilio console): the signature covers it.
    pub public_url: String,
    /// `https://api.twilio.com`, or a test fake.
    pub api_base: String,
    /// Messages per second (a US long code sends 1 per second).
    pub rate_per_second: u32,
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("public_url", &self.public_url)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

pub struct Twilio {
    config: TwilioConfig,
    http: reqwest::Client,
}

impl Twilio {
    pub fn new(config: TwilioConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }
}

/// Twilio's request signature: base64(HMAC-SHA1(token, url + name1 + value1 + ...)) with the
/// parameters sorted by name (then value).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha1(auth_token.as_bytes(), &[data.as_bytes()]))
}

#[async_trait]
impl Provider for Twilio {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn rate_per_second(&self) -> u32 {
        self.config.rate_per_second
    }

    fn render(&self, address: &Value, out: &Outgoing) -> Vec<Value> {
        let parts = format_parts(out, Flavour::Plain, true, MAX_CHARS - COUNTER_CHARS);
        let n = parts.len();
        parts
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let body = if n > 1 {
                    format!("({}/{n}) {text}", i + 1)
                } else {
                    text
                };
                json!({"To": address["to"], "From": address["from"], "Body": body})
            })
            .collect()
    }

    async fn send(&self, payload: &Value) -> Result<Option<String>, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        );
        let field = |k: &str| payload[k].as_str().unwrap_or_default().to_owned();
        let mut form = vec![
            ("To", field("To")),
            ("From", field("From")),
            ("Body", field("Body")),
        ];
        if !self.config.public_url.is_empty() {
            let callback = format!(
                "{}/webhooks/twilio/status",
                self.config.public_url.trim_end_matches('/')
            );
            form.push(("StatusCallback", callback));
        }
        let body = json_answer(
            self.http
                .post(url)
                .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(serde_urlencoded::to_string(&form).unwrap_or_default())
                .send()
                .await,
        )
        .await?;
        Ok(body["sid"].as_str().map(str::to_owned))
    }
}

/// The webhook routes: incoming messages and delivery statuses.
pub fn router(twilio: Arc<Twilio>, inbox: Inbox) -> Router {
    Router::new()
        .route("/webhooks/twilio", post(incoming))
        .route("/webhooks/twilio/status", post(status))
        .with_state((twilio, inbox))
}

/// The form parameters of a request whose signature is valid for the URL Twilio called.
fn verified(
    twilio: &Twilio,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("not a form: {e}")))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", twilio.config.public_url.trim_end_matches('/'));
    let expected = signature(&twilio.config.auth_token, &url, &params);
    let given = headers
        .get("x-twilio-signature")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same(given, expected.as_bytes()) {
        tracing::info!("twilio webhook refused: bad signature");
        return Err(ApiError::new(ErrorCode::Forbidden, "bad signature"));
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn incoming(
    State((twilio, inbox)): State<(Arc<Twilio>, Inbox)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = verified(&twilio, &uri, &headers, &body)?;
    let sid = param(&params, "MessageSid").or_else(|| param(&params, "SmsSid"));
    let (Some(sid), Some(from), Some(to)) = (sid, param(&params, "From"), param(&params, "To"))
    else {
        return Err(ApiError::new(
            ErrorCode::MalformedRequest,
            "MessageSid, From and To are required",
        ));
    };
    let text = param(&params, "Body").unwrap_or_default().trim().to_owned();
    if !text.is_empty() {
        inbox
            .accept(&[InboundMessage {
                channel: Channel::Sms,
                provider_id: sid.to_owned(),
                thread_key: format!("{to}|{from}"),
                sender: from.to_owned(),
                display_name: param(&params, "ProfileName").map(str::to_owned),
                text,
                address: json!({"to": from, "from": to}),
                locale: None,
                rating: None,
            }])
            .await?;
    }
    Ok(([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response())
}

async fn status(
    State((twilio, inbox)): State<(Arc<Twilio>, Inbox)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::http::StatusCode, ApiError> {
    let params = verified(&twilio, &uri, &headers, &body)?;
    if let (Some(sid), Some(state)) = (
        param(&params, "MessageSid"),
        param(&params, "MessageStatus"),
    ) {
        inbox
            .store()
            .outbox_delivery(Channel::Sms, sid, state)
            .await?;
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}
