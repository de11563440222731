//! WhatsApp Cloud API: the verification handshake (`GET /webhooks/whatsapp`), signed
//! notifications (`POST`, `X-Hub-Signature-256` = HMAC-SHA256 of the raw body under the app
//! secret) with messages and delivery statuses, and replies as text or interactive messages
//! (up to 3 reply buttons, else a list of up to 10 rows), with the rating buttons under answers
//! where they fit.

use crate::error::ApiError;
use crate::messaging::format::{Flavour, Outgoing, format_parts, split};
use crate::messaging::rating;
use crate::messaging::sign::{hmac_sha256, same};
use crate::messaging::{Inbox, Provider, SendError, json_answer};
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use warmline_domain::{Channel, ErrorCode, InboundMessage};

/// WhatsApp's limit on a text body, in characters.
const MAX_CHARS: usize = 4096;
/// Limits of interactive messages: body 1024, button title 20, list row title 24.
const MAX_INTERACTIVE_BODY: usize = 1024;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_ROW_TITLE: usize = 24;

#[derive(Clone)]
pub struct WhatsAppConfig {
    /// The app secret (signs the webhooks).
    pub app_secret: String,
    /// The verify token typed into the app's webhook settings.
    pub verify_token: String,
    /// A system-user access token for the Graph API.
    pub access_token: String,
    /// `https://graph.facebook.com/v21.0`, or a test fake.
    pub api_base: String,
    pub rate_per_second: u32,
}

impl std::fmt::Debug for WhatsAppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppConfig")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

pub struct WhatsApp {
    config: WhatsAppConfig,
    http: reqwest::Client,
}

impl WhatsApp {
    pub fn new(config: WhatsAppConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut t: String = text.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[async_trait]
impl Provider for WhatsApp {
    fn channel(&self) -> Channel {
        Channel::WhatsApp
    }

    fn rate_per_second(&self) -> u32 {
        self.config.rate_per_second
    }

    fn render(&self, address: &Value, out: &Outgoing) -> Vec<Value> {
        let to = address["to"].clone();
        let phone_number_id = address["phone_number_id"].clone();
        let options_fit_buttons = out.options.len() <= 3
            && out
                .options
                .iter()
                .all(|o| o.chars().count() <= MAX_BUTTON_TITLE);
        // Every choice as (id, title): the options by number, then the rating buttons of an
        // answer where they fit beside them (3 buttons, or 10 list rows) without turning
        // buttons into a list.
        let mut choices: Vec<(String, &str)> = out
            .options
            .iter()
            .enumerate()
            .map(|(n, o)| ((n + 1).to_string(), o.as_str()))
            .collect();
        let room = if options_fit_buttons { 3 } else { 10 };
        if let Some(target) = out.rate
            && out.options.len() + 2 <= room
        {
            for (label, token) in rating::buttons(target) {
                choices.push((token, label));
            }
        }
        let fits_buttons = options_fit_buttons && choices.len() <= 3;
        let interactive = !choices.is_empty() && choices.len() <= 10;
        let mut parts = format_parts(out, Flavour::WhatsApp, !interactive, MAX_CHARS);
        // The last part carries the buttons; its body must fit the interactive limit (cut
        // as it is: it already has WhatsApp's markup, which interactive bodies show too).
        if interactive && let Some(last) = parts.pop() {
            let mut pieces = split(&last, MAX_INTERACTIVE_BODY);
            let body = pieces.pop().unwrap_or_default();
            parts.extend(pieces);
            parts.push(body);
        }
        let last = parts.len().saturating_sub(1);
        parts
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let message = if i == last && interactive {
                    let action = if fits_buttons {
                        let buttons: Vec<Value> = choices.iter()
                            .map(|(id, title)| json!({"type": "reply", "reply": {"id": id, "title": title}}))
                            .collect();
                        json!({"type": "button", "body": {"text": text}, "action": {"buttons": buttons}})
                    } else {
                        let rows: Vec<Value> = choices.iter()
                            .map(|(id, title)| json!({"id": id, "title": truncate(title, MAX_ROW_TITLE)}))
                            .collect();
                        json!({"type": "list", "body": {"text": text},
                               "action": {"button": "Choose", "sections": [{"title": "Options", "rows": rows}]}})
                    };
                    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                           "type": "interactive", "interactive": action})
                } else {
                    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                           "type": "text", "text": {"body": text, "preview_url": false}})
                };
                json!({"phone_number_id": phone_number_id, "message": message})
            })
            .collect()
    }

    async fn send(&self, payload: &Value) -> Result<Option<String>, SendError> {
        let phone_number_id = payload["phone_number_id"].as_str().unwrap_or_default();
        let url = format!(
            "{}/{phone_number_id}/messages",
            self.config.api_base.trim_end_matches('/')
        );
        let body = json_answer(
            self.http
                .post(url)
                .bearer_auth(&self.config.access_token)
                .json(&payload["message"])
                .send()
                .await,
        )
        .await?;
        Ok(body["messages"][0]["id"].as_str().map(str::to_owned))
    }
}

#[derive(Clone)]
struct Hook {
    whatsapp: Arc<WhatsApp>,
    inbox: Inbox,
}

/// The webhook routes (verification and notifications).
pub fn router(whatsapp: Arc<WhatsApp>, inbox: Inbox) -> Router {
    Router::new()
        .route("/webhooks/whatsapp", get(verify).post(notify))
        .with_state(Hook { whatsapp, inbox })
}

/// The subscription handshake: echo `hub.challenge` when `hub.verify_token` matches.
async fn verify(
    State(hook): State<Hook>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, ApiError> {
    let token = query.get("hub.verify_token").map(String::as_bytes);
    if query.get("hub.mode").map(String::as_str) != Some("subscribe")
        || !token.is_some_and(|t| same(t, hook.whatsapp.config.verify_token.as_bytes()))
    {
        return Err(ApiError::new(ErrorCode::Forbidden, "wrong verify token"));
    }
    Ok(query.get("hub.challenge").cloned().unwrap_or_default())
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`.
pub fn signature_ok(secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(given) = header
        .and_then(|h| h.strip_prefix("sha256="))
        .and_then(|h| hex::decode(h.trim()).ok())
    else {
        return false;
    };
    same(&given, &hmac_sha256(secret.as_bytes(), &[body]))
}

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    value: ChangeValue,
}

#[derive(Debug, Default, Deserialize)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<WaMessage>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Debug, Deserialize)]
struct Contact {
    wa_id: String,
    #[serde(default)]
    profile: Value,
}

#[derive(Debug, Deserialize)]
struct WaMessage {
    from: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Value,
    #[serde(default)]
    interactive: Value,
    #[serde(default)]
    button: Value,
}

#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    status: String,
}

impl WaMessage {
    /// What the customer said: the text, or the id of the button or list row they picked
    /// (our ids are the option numbers), or a template button's text.
    fn text(&self) -> Option<String> {
        let s = |v: &Value| v.as_str().map(str::to_owned);
        match self.kind.as_str() {
            "text" => s(&self.text["body"]),
            "interactive" => {
                let i = &self.interactive;
                s(&i["button_reply"]["id"]).or_else(|| s(&i["list_reply"]["id"]))
            }
            "button" => s(&self.button["text"]),
            _ => None,
        }
    }
}

async fn notify(
    State(hook): State<Hook>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::http::StatusCode, ApiError> {
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !signature_ok(&hook.whatsapp.config.app_secret, header, &body) {
        tracing::info!("whatsapp webhook refused: bad signature");
        return Err(ApiError::new(ErrorCode::Unauthorized, "bad signature"));
    }
    let notification: Notification = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedRequest,
            format!("not a notification: {e}"),
        )
    })?;
    let mut messages = Vec::new();
    for value in notification
        .entry
        .iter()
        .flat_map(|e| &e.changes)
        .map(|c| &c.value)
    {
        let phone_number_id = value.metadata.as_ref().map(|m| m.phone_number_id.clone());
        for m in &value.messages {
            let Some(text) = m.text() else { continue };
            // A rating button's id is a rating token, not something said.
            let rated = (m.kind == "interactive")
                .then(|| rating::parse(&text))
                .flatten();
            let text = if rated.is_some() { String::new() } else { text };
            let name = value
                .contacts
                .iter()
                .find(|c| c.wa_id == m.from)
                .and_then(|c| c.profile["name"].as_str())
                .map(str::to_owned);
            messages.push(InboundMessage {
                channel: Channel::WhatsApp,
                provider_id: m.id.clone(),
                thread_key: m.from.clone(),
                sender: m.from.clone(),
                display_name: name,
                text,
                address: json!({"to": m.from, "phone_number_id": phone_number_id}),
                locale: None,
                rating: rated,
            });
        }
        for s in &value.statuses {
            hook.inbox
                .store()
                .outbox_delivery(Channel::WhatsApp, &s.id, &s.status)
                .await?;
        }
    }
    hook.inbox.accept(&messages).await?;
    Ok(axum::http::StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider that is never asked to send (for rendering).
    fn provider() -> WhatsApp {
        WhatsApp::new(
            WhatsAppConfig {
                app_secret: "s".into(),
                verify_token: "v".into(),
                access_token: "t".into(),
                api_base: "http://x".into(),
                rate_per_second: 1,
            },
            reqwest::Client::new(),
        )
    }

    fn render(options: &[&str]) -> Vec<Value> {
        render_rated(options, None)
    }

    fn render_rated(
        options: &[&str],
        rate: Option<(warmline_domain::ConversationId, warmline_domain::MessageId)>,
    ) -> Vec<Value> {
        let wa = provider();
        let out = Outgoing {
            text: "Pick one.".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            rate,
            ..Outgoing::default()
        };
        wa.render(&json!({"to": "1650", "phone_number_id": "99"}), &out)
    }

    #[test]
    fn options_become_buttons_then_a_list_then_numbered_text() {
        let buttons = &render(&["Yes", "No"])[0];
        assert_eq!(buttons["phone_number_id"], "99");
        let m = &buttons["message"];
        assert_eq!(m["interactive"]["type"], "button");
        assert_eq!(m["interactive"]["action"]["buttons"][1]["reply"]["id"], "2");

        let long = "A much longer option title than twenty";
        let list = &render(&["Yes", long])[0]["message"]["interactive"];
        assert_eq!(list["type"], "list");
        let row = &list["action"]["sections"][0]["rows"][1];
        assert_eq!(row["id"], "2");
        assert_eq!(
            row["title"].as_str().unwrap().chars().count(),
            MAX_ROW_TITLE
        );

        let many: Vec<String> = (1..=11).map(|n| format!("Option {n}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let text = &render(&many)[0]["message"];
        assert_eq!(text["type"], "text");
        assert!(
            text["text"]["body"]
                .as_str()
                .unwrap()
                .contains("11. Option 11")
        );
    }

    #[test]
    fn answers_get_rating_buttons_where_they_fit() {
        let target = (
            warmline_domain::ConversationId::new(),
            warmline_domain::MessageId::new(),
        );
        let ids = |m: &Value| -> Vec<String> {
            let i = &m["message"]["interactive"];
            let choices = if i["type"] == "button" {
                i["action"]["buttons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["reply"]["id"].clone())
                    .collect::<Vec<_>>()
            } else {
                i["action"]["sections"][0]["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["id"].clone())
                    .collect()
            };
            choices
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let helpful = rating::token(target.0, target.1, true);
        let unhelpful = rating::token(target.0, target.1, false);
        // Alone, or beside one option: reply buttons.
        let alone = &render_rated(&[], Some(target))[0];
        assert_eq!(alone["message"]["interactive"]["type"], "button");
        assert_eq!(ids(alone), [helpful.clone(), unhelpful.clone()]);
        let one = &render_rated(&["Talk to a person"], Some(target))[0];
        assert_eq!(
            ids(one),
            ["1".to_owned(), helpful.clone(), unhelpful.clone()]
        );
        // Two options fill the buttons better than a list would: no rating.
        let two = &render_rated(&["Yes", "No"], Some(target))[0];
        assert_eq!(ids(two), ["1", "2"]);
        // A list has room.
        let four = &render_rated(&["A", "B", "C", "D"], Some(target))[0];
        assert_eq!(four["message"]["interactive"]["type"], "list");
        assert_eq!(ids(four).len(), 6);
        // An answer's markup survives in the interactive body, and a long one is cut to fit.
        let marked = Outgoing {
            text: format!(
                "Refunds take **3–5 days**. {}",
                "More words here. ".repeat(80)
            ),
            rate: Some(target),
            ..Outgoing::default()
        };
        let wa = provider();
        let sent = wa.render(&json!({"to": "1650", "phone_number_id": "99"}), &marked);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(
            sent[0]["message"]["text"]["body"]
                .as_str()
                .unwrap()
                .starts_with("Refunds take *3–5 days*.")
        );
        let body = sent[1]["message"]["interactive"]["body"]["text"]
            .as_str()
            .unwrap();
        assert!(body.chars().count() <= MAX_INTERACTIVE_BODY);
        // Pressed, the id comes back as the rating.
        let parsed = rating::parse(&helpful).unwrap();
        assert!(parsed.helpful && parsed.message_id == target.1);
    }

    #[test]
    fn signatures_cover_the_exact_body() {
        let body = br#"{"entry":[]}"#;
        let good = format!("sha256={}", hex::encode(hmac_sha256(b"secret", &[body])));
        assert!(signature_ok("secret", Some(&good), body));
        assert!(!signature_ok("secret", Some(&good), br#"{"entry": []}"#));
        assert!(!signature_ok("other", Some(&good), body));
        assert!(!signature_ok(
            "secret",
            Some(good.trim_start_matches("sha256=")),
            body
        ));
        assert!(!signature_ok("secret", None, body));
    }
}
