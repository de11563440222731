//! Bot Framework activities: Warmline's stored messages as Direct Line activities, and the
//! activities clients post.
//!
//! A conversation's activities are its transcript: activity `n` is message `n` (oldest
//! first), so a watermark is the number of messages a client has seen, and the store is the
//! record (a restart loses nothing). Customers' messages come back as `from.role: "user"` with
//! the client's `channelData.clientActivityID` (Web Chat marks a message sent only when it
//! sees that echo); everything else (the bot, agents, notices) is `from.role: "bot"`, with
//! markdown text, the citations as numbered links, the quick replies as `imBack`
//! suggested actions, and on grounded answers the entity that makes Web Chat show its
//! feedback thumbs.

use serde::Deserialize;
use serde_json::{Value, json};
use warmline_domain::{AnswerRating, ConversationId, Message, MessageId, Role};

/// The bot's account on activities.
pub const BOT_ID: &str = "warmline";
const BOT_NAME: &str = "Warmline";
/// Agents and team notices: still `role: "bot"` for Web Chat (the other side of the chat).
const TEAM_ID: &str = "warmline-team";
const TEAM_NAME: &str = "Support team";

/// Renders `messages[from..]` as activities for `user` (whose messages they echo);
/// `client_id(message)` is the client's own id of a customer message, when known.
pub fn activities(
    conversation: ConversationId,
    user: &str,
    messages: &[Message],
    from: usize,
    client_id: &dyn Fn(&Message) -> Option<String>,
) -> Vec<Value> {
    // Replies point at the customer message they answer (Web Chat groups them).
    let mut last_customer = messages[..from.min(messages.len())]
        .iter()
        .rev()
        .find(|m| m.role == Role::Customer)
        .map(|m| m.id.to_string());
    let mut out = Vec::with_capacity(messages.len().saturating_sub(from));
    for message in messages.iter().skip(from) {
        let mut activity = message_activity(conversation, user, message);
        match message.role {
            Role::Customer => {
                if let Some(id) = client_id(message) {
                    activity["channelData"] = json!({ "clientActivityID": id });
                }
                last_customer = Some(message.id.to_string());
            }
            _ => {
                if let Some(id) = &last_customer {
                    activity["replyToId"] = Value::from(id.as_str());
                }
            }
        }
        out.push(activity);
    }
    out
}

fn message_activity(conversation: ConversationId, user: &str, message: &Message) -> Value {
    let from = match message.role {
        Role::Customer => json!({ "id": user, "role": "user" }),
        Role::Bot => json!({ "id": BOT_ID, "name": BOT_NAME, "role": "bot" }),
        Role::Agent | Role::System => json!({ "id": TEAM_ID, "name": TEAM_NAME, "role": "bot" }),
    };
    let timestamp = message
        .created_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut activity = json!({
        "type": "message",
        "id": message.id.to_string(),
        "timestamp": timestamp,
        "channelId": "directline",
        "conversation": { "id": conversation.to_string() },
        "from": from,
        "text": text_of(message),
        "textFormat": if message.role == Role::Customer { "plain" } else { "markdown" },
    });
    if message.role != Role::Customer && !message.suggestions.is_empty() {
        let actions: Vec<Value> = message
            .suggestions
            .iter()
            .map(|s| json!({ "type": "imBack", "title": s, "value": s }))
            .collect();
        activity["suggestedActions"] = json!({ "to": [user], "actions": actions });
    }
    if let Some(target) = crate::messaging::rating::target(message) {
        activity["entities"] = rating_entity(target);
    }
    activity
}

/// Web Chat (4.18) shows thumbs up and down under a message whose schema.org `Message` entity
/// offers `LikeAction` and `DislikeAction`; a press posts the chosen action back as an event
/// named [`FEEDBACK_EVENT`]. Each action's `@id` is the rating token of this answer.
fn rating_entity(target: (ConversationId, MessageId)) -> Value {
    let [(_, like), (_, dislike)] = crate::messaging::rating::buttons(target);
    json!([{
        "@context": "https://schema.org",
        "@id": "",
        "@type": "Message",
        "type": "https://schema.org/Message",
        "potentialAction": [
            { "@type": "LikeAction", "@id": like },
            { "@type": "DislikeAction", "@id": dislike },
        ],
    }])
}

/// The event Web Chat posts when a customer presses a thumb.
pub const FEEDBACK_EVENT: &str = "webchat:activity-status/feedback";

/// The text with its sources: each citation as a numbered markdown link, so `[1]` in the
/// answer leads to the article.
fn text_of(message: &Message) -> String {
    if message.citations.is_empty() {
        return message.text.clone();
    }
    let mut text = message.text.clone();
    text.push_str("\n\nSources:");
    for (n, c) in message.citations.iter().enumerate() {
        let title = c.title.replace(['[', ']'], "");
        let url = c.url.replace(' ', "%20").replace(')', "%29");
        text.push_str(&format!("\n\n[{}] [{title}]({url})", n + 1));
    }
    text
}

/// A typing activity from the bot.
pub fn typing(conversation: ConversationId) -> Value {
    json!({
        "type": "typing",
        "id": warmline_domain::MessageId::new().to_string(),
        "channelId": "directline",
        "conversation": { "id": conversation.to_string() },
        "from": { "id": BOT_ID, "name": BOT_NAME, "role": "bot" },
    })
}

/// What a client posts (Web Chat sends many more fields; only these matter here).
#[derive(Debug, Deserialize)]
pub struct Incoming {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    /// `messageBack` actions carry their value here (text may be empty).
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub from: Option<From>,
    #[serde(default, rename = "channelData")]
    pub channel_data: Option<ChannelData>,
    #[serde(default)]
    pub attachments: Option<Vec<Value>>,
    /// An event's name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub entities: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
pub struct From {
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ChannelData {
    #[serde(default, rename = "clientActivityID")]
    pub client_activity_id: Option<String>,
}

impl Incoming {
    /// What the customer said: the text, else a string `value` (a `messageBack` button).
    pub fn said(&self) -> Option<&str> {
        let text = self
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        text.or_else(|| self.value.as_ref()?.as_str().map(str::trim))
            .filter(|t| !t.is_empty())
    }

    /// The rating of a thumb pressed in Web Chat ([`FEEDBACK_EVENT`]); `None` for any other
    /// activity.
    pub fn rating(&self) -> Option<AnswerRating> {
        if self.kind != "event" || self.name.as_deref() != Some(FEEDBACK_EVENT) {
            return None;
        }
        let action = self.entities.as_ref()?.first()?;
        let r = crate::messaging::rating::parse(action["@id"].as_str()?)?;
        // The thumb's own type must agree with its token.
        let expected = if r.helpful {
            "LikeAction"
        } else {
            "DislikeAction"
        };
        (action["@type"].as_str() == Some(expected)).then_some(r)
    }

    /// The client's id for this activity (at most 200 characters, else none).
    pub fn client_activity_id(&self) -> Option<String> {
        self.channel_data
            .as_ref()?
            .client_activity_id
            .as_deref()
            .filter(|id| !id.is_empty() && id.len() <= 200)
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warmline_domain::Citation;

    fn conversation_of(roles: &[(Role, &str)]) -> (ConversationId, Vec<Message>) {
        let c = ConversationId::new();
        let messages = roles
            .iter()
            .map(|(role, text)| Message::new(c, *role, *text))
            .collect();
        (c, messages)
    }

    #[test]
    fn customers_are_users_and_everyone_else_is_the_bot_side() {
        let (c, mut messages) = conversation_of(&[
            (Role::Customer, "hi"),
            (Role::Bot, "Hello!"),
            (Role::System, "Ana joined"),
            (Role::Agent, "Hi, Ana here"),
        ]);
        messages[1].suggestions = vec!["Track an order".into()];
        let first = messages[0].id;
        let client = move |m: &Message| (m.id == first).then(|| "client-1".to_owned());
        let out = activities(c, "dl_u", &messages, 0, &client);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0]["from"], json!({"id": "dl_u", "role": "user"}));
        assert_eq!(out[0]["channelData"]["clientActivityID"], "client-1");
        assert_eq!(out[0]["id"], first.to_string());
        assert_eq!(out[1]["from"]["role"], "bot");
        assert_eq!(out[1]["replyToId"], first.to_string());
        assert_eq!(
            out[1]["suggestedActions"]["actions"][0],
            json!({"type": "imBack", "title": "Track an order", "value": "Track an order"})
        );
        assert_eq!(out[2]["from"]["role"], "bot");
        assert_eq!(out[3]["from"]["name"], TEAM_NAME);
        assert!(out[0].get("suggestedActions").is_none());
        // From a watermark: only what follows, still pointing at the question before it.
        let later = activities(c, "dl_u", &messages, 2, &client);
        assert_eq!(later.len(), 2);
        assert_eq!(later[0]["replyToId"], first.to_string());
    }

    #[test]
    fn citations_become_numbered_markdown_links() {
        let (c, mut messages) = conversation_of(&[(Role::Bot, "Refunds take 3–5 days. [1]")]);
        messages[0].citations = vec![Citation {
            article_id: "refund-timing".into(),
            title: "When will I get my [refund]?".into(),
            url: "http://localhost/kb/refund-timing".into(),
            passage: "…".into(),
            score: 1.0,
        }];
        let out = activities(c, "u", &messages, 0, &|_| None);
        let text = out[0]["text"].as_str().unwrap();
        assert!(text.starts_with("Refunds take 3–5 days. [1]"), "{text}");
        assert!(
            text.ends_with("[1] [When will I get my refund?](http://localhost/kb/refund-timing)"),
            "{text}"
        );
        assert_eq!(out[0]["textFormat"], "markdown");
    }

    #[test]
    fn incoming_text_falls_back_to_a_string_value() {
        let posted: Incoming = serde_json::from_value(json!({
            "type": "message", "text": "  ", "value": "Talk to a person",
            "channelData": {"clientActivityID": "abc"}, "locale": "en-US"
        }))
        .unwrap();
        assert_eq!(posted.said(), Some("Talk to a person"));
        assert_eq!(posted.client_activity_id().as_deref(), Some("abc"));
        let empty: Incoming = serde_json::from_value(json!({"type": "message"})).unwrap();
        assert_eq!(empty.said(), None);
    }
}
