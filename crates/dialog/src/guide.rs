//! Routing a turn the bot owns: the journey in progress (with side questions, "cancel" and
//! "start over"), small talk, a journey trigger, or a knowledge question. The customer's
//! [`Memory`] is read before and written after, so a journey goes on across turns,
//! processes, restarts and (for a customer the CRM knows) channels.

use crate::journey::run::{self, Ctx, Status};
use crate::journey::{Journey, Library, StepKind};
use crate::moments::StepState;
use crate::route::{self, Command, SmallTalk};
use crate::{Dialog, TALK_TO_A_PERSON};
use std::sync::Arc;
use warmline_domain::crm::CrmCustomer;
use warmline_domain::{
    Channel, Citation, Conversation, ConversationId, DomainError, JourneySnapshot, Memory,
    MemoryKey, Message, Reply, ReplyKind, SearchQuery,
};

/// What the dialog remembers of this customer during one turn.
pub(crate) struct Mind {
    key: MemoryKey,
    pub(crate) memory: Memory,
    changed: bool,
    library: Arc<Library>,
}

/// How the bot replies to a turn it owns.
pub(crate) struct Routed {
    pub reply: Reply,
    /// A journey step handed the customer to a person, with its note.
    pub handoff: Option<JourneySnapshot>,
}

impl Mind {
    fn journey(&self) -> Option<(Arc<Journey>, &str)> {
        let p = self.memory.journey.as_ref()?;
        Some((self.library.get(&p.journey)?.clone(), p.step.as_str()))
    }

    /// The journey step the customer is at, as the moment-of-truth detector sees it when
    /// they say `text`: a step's earlier failures no longer count once `text` answers it.
    pub(crate) fn step_state(&self, text: &str) -> Option<StepState> {
        let (journey, step) = self.journey()?;
        let (_, step) = journey.step(step)?;
        let today = warmline_domain::conversation::now().date();
        let failures = match run::accepts(&journey, &self.memory, text, today) {
            true => 0,
            false => self.memory.journey.as_ref().map_or(0, |p| p.failures),
        };
        Some(StepState {
            failures,
            experience_critical: step.experience_critical,
        })
    }

    /// The journey and its slots, for the person taking over.
    pub(crate) fn snapshot(
        &self,
        note: Option<String>,
        journey: Option<&Journey>,
    ) -> Option<JourneySnapshot> {
        let current = self.journey();
        let journey = journey.or(current.as_ref().map(|(j, _)| j.as_ref()))?;
        let step = current
            .as_ref()
            .map(|(_, s)| (*s).to_owned())
            .unwrap_or_default();
        Some(JourneySnapshot {
            id: journey.id.clone(),
            title: journey.title.clone(),
            step,
            slots: self
                .memory
                .slots
                .iter()
                .filter(|(k, _)| !k.starts_with("customer."))
                .map(|(k, v)| (k.clone(), crate::journey::template::show(Some(v))))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            note,
        })
    }

    pub(crate) fn in_journey(&self) -> bool {
        self.memory.journey.is_some()
    }
}

impl Dialog {
    /// The customer's memory: kept under their CRM record when the CRM knows them (the same
    /// person on the web and by SMS), else under the store's customer, else the conversation.
    pub(crate) async fn recall(
        &self,
        conversation: &Conversation,
        customer: Option<&CrmCustomer>,
    ) -> Option<Mind> {
        let (journeys, memories) = (self.journeys.as_ref()?, self.memories.as_ref()?);
        let key = match (customer, conversation.customer_id) {
            (Some(c), _) => MemoryKey::Crm(c.reference.0.clone()),
            (None, Some(id)) => MemoryKey::Customer(id),
            (None, None) => MemoryKey::Conversation(conversation.id),
        };
        let now = warmline_domain::conversation::now();
        let memory = match memories.recall(key.clone()).await {
            Ok(found) => found.unwrap_or_else(|| Memory::new(now)),
            Err(e) => {
                tracing::warn!(error = %e, "memory unavailable: journeys paused this turn");
                return None;
            }
        };
        let mut mind = Mind {
            key,
            memory,
            changed: false,
            library: journeys.get(),
        };
        if let Some((journey, _)) = mind.journey()
            && now - mind.memory.updated_at > journey.expires_after
        {
            metrics::counter!("warmline_journeys_expired_total", "journey" => journey.id.clone())
                .increment(1);
            mind.memory.journey = None;
            mind.changed = true;
        } else if mind.memory.journey.is_some() && mind.journey().is_none() {
            // The journey was removed or renamed by a reload.
            mind.memory.journey = None;
            mind.changed = true;
        }
        if !matches!(mind.key, MemoryKey::Conversation(_))
            && mind.memory.note_conversation(conversation.id)
        {
            mind.changed = true;
        }
        if let Some(name) = customer.and_then(|c| c.profile.name.clone()) {
            mind.memory
                .slots
                .insert("customer.name".into(), serde_json::Value::from(name));
        }
        Some(mind)
    }

    /// What the dialog remembers for `conversation`'s customer now (journey, step, slots);
    /// `None` without journeys.
    pub async fn memory(&self, conversation: &Conversation) -> Option<Memory> {
        let customer = if self.crm.is_some() {
            self.crm_customer(conversation).await
        } else {
            None
        };
        self.recall(conversation, customer.as_ref())
            .await
            .map(|m| m.memory)
    }

    /// Every message of the customer behind `id`, on every channel they used (as far as the
    /// CRM links their identities), oldest first, each with its conversation's channel; just
    /// this conversation's for an anonymous customer. At most `limit` messages, the newest.
    pub async fn history(
        &self,
        id: ConversationId,
        limit: usize,
    ) -> Result<Vec<(Channel, Message)>, DomainError> {
        let (conversation, mut messages) = self.transcript(id).await?;
        let mut ids = self
            .memory(&conversation)
            .await
            .map(|m| m.conversations)
            .unwrap_or_default();
        ids.retain(|c| *c != id);
        let mut all: Vec<(Channel, Message)> = messages
            .drain(..)
            .map(|m| (conversation.channel, m))
            .collect();
        for other in ids {
            let Some(c) = self.store.conversation(other).await? else {
                continue;
            };
            let earlier = self.store.messages(other, limit).await?;
            all.extend(earlier.into_iter().map(|m| (c.channel, m)));
        }
        all.sort_by_key(|(_, m)| m.created_at);
        let excess = all.len().saturating_sub(limit);
        all.drain(..excess);
        Ok(all)
    }

    /// Writes the memory back when the turn changed it. A failure costs the journey's
    /// progress, never the turn.
    pub(crate) async fn remember(&self, mind: &mut Mind) {
        let Some(memories) = &self.memories else {
            return;
        };
        if !mind.changed {
            return;
        }
        mind.memory.updated_at = warmline_domain::conversation::now();
        if let Err(e) = memories.remember(mind.key.clone(), &mind.memory).await {
            tracing::warn!(error = %e, "memory not saved: the journey may repeat a step");
        }
    }

    /// The reply to a turn the bot owns.
    pub(crate) async fn route(
        &self,
        conversation: &Conversation,
        text: &str,
        customer: Option<&CrmCustomer>,
        mind: Option<&mut Mind>,
    ) -> Result<Routed, DomainError> {
        let Some(mind) = mind else {
            if let Some(kind) = route::small_talk(text) {
                return Ok(self.plain(small_talk(kind, None, &[])));
            }
            let (_, rest) = route::without_greeting(text);
            return Ok(self.plain(self.answer(conversation, &rest).await?));
        };
        if let Some((journey, _)) = mind.journey() {
            return self
                .in_journey(conversation, text, customer, mind, &journey)
                .await;
        }
        let name = mind
            .memory
            .slots
            .get("customer.name")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if let Some(kind) = route::small_talk(text) {
            let titles: Vec<String> = mind
                .library
                .journeys()
                .iter()
                .map(|j| j.title.clone())
                .collect();
            return Ok(self.plain(small_talk(kind, name.as_deref(), &titles)));
        }
        let (_, rest) = route::without_greeting(text);
        if let Some(journey) = mind.library.triggered_by(&rest).cloned() {
            return Ok(self
                .begin(conversation, customer, mind, &journey, &rest)
                .await);
        }
        let (reply, embedding) = self.answer_embedded(conversation, &rest).await?;
        if let (Some(examples), Some(embedding)) = (&self.examples, embedding)
            && let Some(journey) = examples.closest(&mind.library, &embedding).await
        {
            return Ok(self
                .begin(conversation, customer, mind, &journey, &rest)
                .await);
        }
        Ok(self.plain(reply))
    }

    /// Starts `journey` (dropping any other in progress) with `text` as its first message.
    async fn begin(
        &self,
        conversation: &Conversation,
        customer: Option<&CrmCustomer>,
        mind: &mut Mind,
        journey: &Arc<Journey>,
        text: &str,
    ) -> Routed {
        let ctx = self.ctx(conversation, customer);
        mind.memory.journey = None;
        let out = run::start(journey, &mut mind.memory, text, &ctx).await;
        mind.changed = true;
        self.guided(conversation, mind, journey, out).await
    }

    async fn in_journey(
        &self,
        conversation: &Conversation,
        text: &str,
        customer: Option<&CrmCustomer>,
        mind: &mut Mind,
        journey: &Arc<Journey>,
    ) -> Result<Routed, DomainError> {
        let ctx = self.ctx(conversation, customer);
        mind.changed = true;
        match route::command(text) {
            Some(Command::Cancel) => {
                let out = run::cancel(journey, &mut mind.memory);
                return Ok(self.guided(conversation, mind, journey, out).await);
            }
            Some(Command::Restart) => {
                return Ok(self.begin(conversation, customer, mind, journey, "").await);
            }
            None => {}
        }
        if !run::accepts(journey, &mind.memory, text, ctx.now.date()) {
            // Another journey asked for by name or trigger replaces this one.
            if let Some(other) = mind.library.triggered_by(text).cloned()
                && other.id != journey.id
                && !self.waits_for_text(&mind.memory, journey)
            {
                return Ok(self.begin(conversation, customer, mind, &other, text).await);
            }
            // A side question: answer it, then ask the step's question again.
            if route::is_question(text) {
                let answer = self.answer(conversation, text).await?;
                if answer.kind == ReplyKind::Answer {
                    let again = run::ask_again(journey, &mind.memory);
                    let mut reply = answer;
                    reply.text = format!(
                        "{}\n\nBack to \"{}\": {}",
                        reply.text,
                        journey.title,
                        again.text()
                    );
                    reply.suggestions = again.suggestions;
                    return Ok(self.plain(reply));
                }
            }
        }
        let out = run::resume(journey, &mut mind.memory, text, &ctx).await;
        Ok(self.guided(conversation, mind, journey, out).await)
    }

    /// Whether the waiting step takes free text (where any words are a valid answer).
    fn waits_for_text(&self, memory: &Memory, journey: &Journey) -> bool {
        let Some(p) = &memory.journey else {
            return false;
        };
        journey.step(&p.step).is_some_and(|(_, s)| {
            matches!(
                &s.kind,
                StepKind::Ask {
                    slot_type: crate::journey::slots::SlotType::Text,
                    ..
                }
            )
        })
    }

    fn ctx<'a>(
        &'a self,
        conversation: &Conversation,
        customer: Option<&'a CrmCustomer>,
    ) -> Ctx<'a> {
        Ctx {
            crm: self.crm.as_deref(),
            customer: customer.map(|c| &c.reference),
            conversation: conversation.id,
            now: warmline_domain::conversation::now(),
        }
    }

    fn plain(&self, reply: Reply) -> Routed {
        Routed {
            reply,
            handoff: None,
        }
    }

    /// A journey's output as a reply, citing the articles its steps are based on.
    async fn guided(
        &self,
        conversation: &Conversation,
        mind: &Mind,
        journey: &Journey,
        out: run::Output,
    ) -> Routed {
        let text = out.text();
        let citations = self.citations(conversation, &text, &out.cite).await;
        let handoff = match out.status {
            Status::Handoff { note } => mind.snapshot(Some(note), Some(journey)),
            _ => None,
        };
        let mut suggestions = out.suggestions;
        if handoff.is_some() {
            suggestions.clear();
        }
        Routed {
            reply: Reply {
                text,
                citations,
                kind: ReplyKind::Journey,
                support: 1.0,
                suggestions,
            },
            handoff,
        }
    }

    /// Citations for the articles `ids`, found by searching for the text that quotes them;
    /// an article that cannot be found (removed, not for this channel) is not cited.
    async fn citations(
        &self,
        conversation: &Conversation,
        text: &str,
        ids: &[String],
    ) -> Vec<Citation> {
        if ids.is_empty() || text.is_empty() {
            return Vec::new();
        }
        let mut query = SearchQuery::customer(text, conversation.channel, 30);
        query.locale.clone_from(&conversation.locale);
        let hits = match self.knowledge.search(&query).await {
            Ok(result) => result.hits,
            Err(e) => {
                tracing::warn!(error = %e, "journey citations unavailable");
                return Vec::new();
            }
        };
        let mut out: Vec<Citation> = Vec::new();
        for id in ids {
            if out.iter().any(|c| c.article_id == *id) {
                continue;
            }
            if let Some(hit) = hits.iter().find(|h| h.article_id == *id) {
                out.push(Citation {
                    article_id: hit.article_id.clone(),
                    title: hit.title.clone(),
                    url: hit.url.clone(),
                    passage: hit.text.clone(),
                    score: hit.score,
                });
            }
        }
        out
    }
}

/// The reply to small talk; `titles` are the journeys offered as quick replies.
fn small_talk(kind: SmallTalk, name: Option<&str>, titles: &[String]) -> Reply {
    let hello = name.map_or_else(|| "Hi!".to_owned(), |n| format!("Hi {}!", first_name(n)));
    let (text, suggestions) = match kind {
        SmallTalk::Greeting => (
            format!("{hello} How can I help you today? Ask me a question, or pick a task below."),
            titles.to_vec(),
        ),
        SmallTalk::HowAreYou => (
            format!("{hello} I'm doing well, thanks for asking. What can I help you with?"),
            titles.to_vec(),
        ),
        SmallTalk::WhoAreYou => (
            "I'm a virtual assistant. I answer questions from our help articles, can walk you \
             through tasks like the ones below, and can put you through to a person whenever \
             you like."
                .to_owned(),
            titles
                .iter()
                .cloned()
                .chain([TALK_TO_A_PERSON.to_owned()])
                .collect(),
        ),
        SmallTalk::Thanks => (
            "You're welcome! Is there anything else I can help with?".into(),
            Vec::new(),
        ),
        SmallTalk::Goodbye => (
            "Thanks for chatting. Goodbye, and have a good day!".into(),
            Vec::new(),
        ),
        SmallTalk::Acknowledge => ("Great. Anything else I can help with?".into(), Vec::new()),
    };
    Reply {
        text,
        citations: Vec::new(),
        kind: ReplyKind::SmallTalk,
        support: 1.0,
        suggestions,
    }
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}
