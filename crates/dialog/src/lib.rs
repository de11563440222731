//! Warmline's dialog manager.
//!
//! - [`Dialog`]: handles one customer turn: validate, store the message *before* anything
//!   else, check who owns the conversation, retrieve, compose, store the reply.
//! - [`compose`]: the extractive, grounded answer composer (every sentence quoted from a
//!   cited passage, or an honest "I don't know" with the offer of a person).
//!
//! - [`grounded`]: generated answers checked sentence by sentence against the passages;
//!   [`drafts`]: their verified sentences sent while the answer is written (the widget).
//! - [`moments`]: the moment-of-truth detector (when to hand a customer to a person), its
//!   policy file and its evaluation.
//!
//! - [`journey`]: guided flows from YAML files, and the engine that runs them.
//! - [`route`]: small talk, journey commands and questions, recognised without a model.
//! - [`script`]: conversation tests as code (`warmline test`).
//! - `people`: a turn's moment-of-truth assessment, queueing for a person, availability,
//!   and the survey after.
//! - [`handoff`], [`switchboard`], [`routing`], [`tickets`], [`assist`], [`events`]: handing
//!   customers to people: the packet, routing by skill and priority, auto-assignment, the
//!   callback offer and tickets, suggested replies for agents, the live event bus, and
//!   [`summary`]: the handoff summary by a chat model when one is loaded.
//! - [`insights`]: content gaps (unanswered questions, redacted and grouped), support scores,
//!   the analytics summary and draft articles from gaps.
//!
//! Each turn the bot owns is routed (in `guide`): the journey in progress (a side question
//! is answered and the journey resumes), small talk, a journey trigger, or a knowledge
//! question.

pub mod assist;
pub mod compose;
pub mod drafts;
pub mod events;
pub mod grounded;
mod guide;
pub mod handoff;
pub mod insights;
pub mod journey;
pub mod moments;
mod people;
pub mod route;
pub mod routing;
pub mod script;
pub mod summary;
pub mod switchboard;
pub mod tickets;

use std::sync::Arc;
use std::time::Instant;
use warmline_domain::crm::{CrmConnector, CrmCustomer};
use warmline_domain::{
    Channel, Conversation, ConversationId, ConversationStore, CustomerIdentity, DomainError,
    ErrorCode, HandoffStore, KnowledgeSearch, Memories, Message, MessageId, NewConversation,
    Ownership, Reply, ReplyKind, SearchQuery,
};

pub use compose::{Composer, ComposerConfig, NO_ANSWER, TALK_TO_A_PERSON};
pub use grounded::{Grounded, GroundedConfig};

/// Longest survey comment, in characters.
pub const SURVEY_COMMENT_CHARS: usize = 2000;

/// Agents whose session was used this recently count as online.
pub const ONLINE_WINDOW: time::Duration = time::Duration::minutes(5);

/// Messages of the transcript the moment-of-truth detector looks at.
const MOMENT_HISTORY: usize = 20;

/// Limits and tuning of the dialog manager.
#[derive(Debug, Clone)]
pub struct DialogConfig {
    /// Longest accepted customer message, in characters.
    pub max_message_chars: usize,
    /// Passages retrieved per question.
    pub passages: usize,
    /// Most messages returned in a transcript.
    pub transcript_limit: usize,
    pub composer: ComposerConfig,
}

impl Default for DialogConfig {
    fn default() -> Self {
        Self {
            max_message_chars: 4000,
            passages: 5,
            transcript_limit: 500,
            composer: ComposerConfig::default(),
        }
    }
}

/// How to open a conversation.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub channel: Channel,
    pub locale: Option<String>,
    /// How the channel knows this customer, if it does; links the conversation to them.
    pub identity: Option<CustomerIdentity>,
    pub display_name: Option<String>,
}

/// The outcome of one customer message.
#[derive(Debug, Clone)]
pub struct Turn {
    /// The customer's message, as stored.
    pub message: Message,
    /// The bot's reply, as stored; `None` while a person owns the conversation.
    pub reply: Option<(Reply, Message)>,
    /// The moment-of-truth decision when the detector says this customer needs a person.
    pub moment: Option<moments::Decision>,
    /// When this turn handed the customer over: their place in the queue and whether people
    /// are there.
    pub queued: Option<Queued>,
}

/// A conversation queued for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub position: usize,
    pub availability: handoff::Availability,
}

/// The dialog manager. Cheap to clone.
#[derive(Clone)]
pub struct Dialog {
    store: Arc<dyn ConversationStore>,
    knowledge: Arc<dyn KnowledgeSearch>,
    config: Arc<DialogConfig>,
    composer: Arc<Composer>,
    grounded: Option<Arc<Grounded>>,
    moments: Option<Arc<moments::Detector>>,
    handoffs: Option<Arc<dyn HandoffStore>>,
    crm: Option<Arc<dyn CrmConnector>>,
    journeys: Option<journey::Journeys>,
    memories: Option<Arc<dyn Memories>>,
    /// Journey examples' embeddings, for starting a journey by meaning.
    examples: Option<Arc<journey::similar::Examples>>,
    /// Content gaps and support scores, recorded off the hot path.
    insights: Option<insights::Insights>,
}

impl Dialog {
    pub fn new(
        store: Arc<dyn ConversationStore>,
        knowledge: Arc<dyn KnowledgeSearch>,
        config: DialogConfig,
    ) -> Self {
        Self {
            store,
            knowledge,
            composer: Arc::new(Composer::new(config.composer.clone())),
            grounded: None,
            moments: None,
            handoffs: None,
            crm: None,
            journeys: None,
            memories: None,
            examples: None,
            insights: None,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &DialogConfig {
        &self.config
    }

    /// Opens a conversation, linked to the customer behind `identity` when given.
    #[tracing::instrument(skip_all, fields(channel = %start.channel))]
    pub async fn start(&self, start: Start) -> Result<Conversation, DomainError> {
        let locale = match start.locale {
            Some(l) => l.trim().to_lowercase(),
            None => self
                .customer_language(start.identity.as_ref())
                .await
                .unwrap_or_else(|| "en".into()),
        };
        if locale.is_empty()
            || locale.len() > 16
            || !locale
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(DomainError::invalid(
                "locale must be a language tag such as \"en\" or \"en-us\"",
            ));
        }
        let customer_id = match &start.identity {
            Some(identity) => {
                validate_identity(identity)?;
                let customer = self
                    .store
                    .customer_for_identity(identity, start.display_name.as_deref())
                    .await?;
                Some(customer.id)
            }
            None => None,
        };
        let conversation = self
            .store
            .create_conversation(NewConversation {
                channel: start.channel,
                locale,
                customer_id,
            })
            .await?;
        metrics::counter!("warmline_conversations_started_total", "channel" => start.channel.as_str())
            .increment(1);
        Ok(conversation)
    }

    /// Handles one customer message. The message is durably stored before the reply is
    /// produced, so nothing the customer said is lost if anything after fails.
    pub async fn handle(&self, id: ConversationId, text: &str) -> Result<Turn, DomainError> {
        self.handle_as(id, text, MessageId::new()).await
    }

    /// [`Dialog::handle`], storing the customer's message under `message_id`: a channel that
    /// must recognise the stored message later (Direct Line echoes it with the client's own
    /// id) chooses the id before the turn.
    #[tracing::instrument(skip_all, fields(conversation_id = %id))]
    pub async fn handle_as(
        &self,
        id: ConversationId,
        text: &str,
        message_id: MessageId,
    ) -> Result<Turn, DomainError> {
        let started = Instant::now();
        let text = self.validate(text)?;
        let conversation = self.open_conversation(id).await?;
        let message = Message {
            id: message_id,
            ..Message::from_customer(id, text)
        };
        self.store.append_message(&message).await?;
        if conversation.ownership != Ownership::Bot {
            // A person owns the conversation (or will shortly): the bot stays quiet.
            tracing::debug!(ownership = conversation.ownership.as_str(), "bot quiet");
            return Ok(Turn {
                message,
                reply: None,
                moment: None,
                queued: None,
            });
        }
        let customer = if self.crm.is_some() {
            self.crm_customer(&conversation).await
        } else {
            None
        };
        let mut mind = self.recall(&conversation, customer.as_ref()).await;
        let step = mind.as_ref().and_then(|m| m.step_state(&message.text));
        let moment = self.assess(&conversation, customer.as_ref(), step).await;
        let to_person = moment
            .as_ref()
            .is_some_and(|d| d.route == moments::Route::Agent && self.handoffs.is_some());
        let in_journey = mind.as_ref().is_some_and(guide::Mind::in_journey);
        let routed = if to_person && in_journey {
            // A person takes over; the journey waits where it is for when they hand back.
            None
        } else {
            Some(
                self.route(
                    &conversation,
                    &message.text,
                    customer.as_ref(),
                    mind.as_mut(),
                )
                .await?,
            )
        };
        let journey = mind.as_ref().and_then(|m| m.snapshot(None, None));
        if let Some(m) = mind.as_mut() {
            self.remember(m).await;
        }
        let (mut reply, handoff) = match routed {
            Some(r) => (r.reply, r.handoff),
            None => (waiting_reply(), None),
        };
        let (moment, journey) = match (moment, handoff) {
            (Some(decision), _) => (Some(decision), journey),
            // The journey itself sends the customer to a person.
            (None, Some(snapshot)) => (
                Some(moments::Decision::journey_handoff(&snapshot.id)),
                Some(snapshot),
            ),
            (None, None) => (None, None),
        };
        let queued = match &moment {
            Some(decision) => {
                self.hand_over(&conversation, decision, customer.as_ref(), journey)
                    .await?
            }
            None => None,
        };
        if let Some(q) = &queued {
            // What the bot knows still helps while they wait; then the person takes over.
            let waiting = handoff::queued_text(q.position, q.availability);
            if matches!(reply.kind, ReplyKind::Answer | ReplyKind::Journey)
                && !reply.text.is_empty()
            {
                reply.text = format!("{}\n\n{waiting}", reply.text);
            } else {
                reply.text = waiting;
            }
            reply.suggestions.clear();
        } else if moment.is_some() {
            // A person first: the offer leads the quick replies.
            reply.suggestions.retain(|s| s != TALK_TO_A_PERSON);
            reply.suggestions.insert(0, TALK_TO_A_PERSON.to_owned());
        }
        let stored = Message::from_reply(id, &reply);
        self.store.append_message(&stored).await?;
        self.note_turn(&message, &reply, &stored, moment.as_ref());
        let outcome = reply.kind.as_str();
        metrics::counter!("warmline_turns_total", "outcome" => outcome).increment(1);
        metrics::histogram!("warmline_turn_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        tracing::debug!(
            outcome,
            support = reply.support,
            citations = reply.citations.len(),
            "turn answered"
        );
        Ok(Turn {
            message,
            reply: Some((reply, stored)),
            moment,
            queued,
        })
    }

    /// The conversation `id`, unless it is closed (`Conflict`) or unknown (`NotFound`).
    pub(crate) async fn open_conversation(
        &self,
        id: ConversationId,
    ) -> Result<Conversation, DomainError> {
        let conversation = self
            .store
            .conversation(id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("no conversation with id {id}")))?;
        if conversation.ownership == Ownership::Closed {
            return Err(DomainError::new(
                ErrorCode::Conflict,
                "this conversation is closed; start a new one",
            ));
        }
        Ok(conversation)
    }

    /// The answer the bot would give to `text` in `conversation`'s context, without storing
    /// anything (also used by `warmline ask`).
    pub async fn answer(
        &self,
        conversation: &Conversation,
        text: &str,
    ) -> Result<Reply, DomainError> {
        Ok(self.answer_embedded(conversation, text).await?.0)
    }

    /// [`Dialog::answer`], with the question's embedding when retrieval computed one.
    pub(crate) async fn answer_embedded(
        &self,
        conversation: &Conversation,
        text: &str,
    ) -> Result<(Reply, Option<Vec<f32>>), DomainError> {
        let mut query = SearchQuery::customer(text, conversation.channel, self.config.passages);
        query.locale.clone_from(&conversation.locale);
        let started = Instant::now();
        let result = self.knowledge.search(&query).await?;
        metrics::histogram!("warmline_retrieval_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let analyze = |t: &str| self.knowledge.analyze(t);
        let extractive = self.composer.compose(&result, &analyze);
        let reply = match &self.grounded {
            Some(grounded) => grounded.answer(text, &result, extractive, &analyze).await,
            None => extractive,
        };
        Ok((reply, result.embedding))
    }

    /// The same dialog answering from `knowledge` (the editor's draft preview).
    pub fn answering_from(&self, knowledge: Arc<dyn KnowledgeSearch>) -> Self {
        let mut dialog = self.clone();
        dialog.knowledge = knowledge;
        dialog
    }

    /// Answers with generated, verified text from now on (see [`grounded`]).
    pub fn with_grounding(mut self, grounded: Grounded) -> Self {
        self.grounded = Some(Arc::new(grounded));
        self
    }

    /// Assesses every customer turn with `detector` (see [`Turn::moment`]).
    pub fn with_moments(mut self, detector: moments::Detector) -> Self {
        self.moments = Some(Arc::new(detector));
        self
    }

    /// Embeds the moment-of-truth examples in the background (when a detector with an
    /// embedder is set), so the first customer doesn't wait for it. A failure is logged; the
    /// first turn then tries again.
    pub fn warm_up_moments(&self) {
        let Some(detector) = self.moments.clone() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(error) = detector.warm_up().await {
                tracing::warn!(%error, "moment-of-truth examples not embedded yet; the first turn will retry");
            }
        });
    }

    /// Looks identified customers up in `crm`: their tier sets the moment-of-truth threshold,
    /// and the handoff packet carries their profile, recent orders and open cases. A CRM that
    /// fails or is slow leaves the conversation anonymous, never broken.
    pub fn with_crm(mut self, crm: Arc<dyn CrmConnector>) -> Self {
        self.crm = Some(crm);
        self
    }

    /// The language the CRM has for the customer behind `identity`, when articles exist in
    /// it (so a French-speaking customer gets French articles, and others English).
    async fn customer_language(&self, identity: Option<&CustomerIdentity>) -> Option<String> {
        let (crm, identity) = (self.crm.as_ref()?, identity?);
        let language = match crm.find_customer(identity).await {
            Ok(found) => found?.profile.language?,
            Err(e) => {
                tracing::warn!(error = %e, "CRM unavailable: conversation in the default language");
                return None;
            }
        };
        self.knowledge.has_locale(&language).then_some(language)
    }

    /// The CRM's record of the conversation's customer, if identified and found.
    async fn crm_customer(&self, conversation: &Conversation) -> Option<CrmCustomer> {
        let crm = self.crm.as_ref()?;
        let customer = conversation.customer_id?;
        let identities = match self.store.identities(customer).await {
            Ok(identities) => identities,
            Err(e) => {
                tracing::warn!(error = %e, "customer identities unavailable");
                return None;
            }
        };
        for identity in &identities {
            match crm.find_customer(identity).await {
                Ok(Some(found)) => return Some(found),
                Ok(None) => {}
                Err(e) => {
                    metrics::counter!("warmline_crm_failures_total").increment(1);
                    tracing::warn!(error = %e, "CRM unavailable: answering without the customer's record");
                    return None;
                }
            }
        }
        None
    }

    /// Guides customers through `journeys`, remembering their progress in `memories`.
    pub fn with_journeys(
        mut self,
        journeys: journey::Journeys,
        memories: Arc<dyn Memories>,
    ) -> Self {
        self.journeys = Some(journeys);
        self.memories = Some(memories);
        self
    }

    /// Starts journeys by meaning too: a message close enough to one of a journey's
    /// `examples` starts it, even when no trigger phrase matches. Uses the question embedding
    /// hybrid retrieval already computed, so it costs nothing when retrieval has no embedder.
    pub fn with_journey_embedder(mut self, embedder: Arc<dyn warmline_domain::Embedder>) -> Self {
        self.examples = Some(Arc::new(journey::similar::Examples::new(embedder)));
        self
    }

    /// Queues conversations for people at moments of truth (needs [`Dialog::with_moments`]).
    pub fn with_handoffs(mut self, handoffs: Arc<dyn HandoffStore>) -> Self {
        self.handoffs = Some(handoffs);
        self
    }

    /// The conversation and its transcript (oldest first).
    pub async fn transcript(
        &self,
        id: ConversationId,
    ) -> Result<(Conversation, Vec<Message>), DomainError> {
        let conversation = self
            .store
            .conversation(id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("no conversation with id {id}")))?;
        let messages = self
            .store
            .messages(id, self.config.transcript_limit)
            .await?;
        Ok((conversation, messages))
    }

    fn validate<'t>(&self, text: &'t str) -> Result<&'t str, DomainError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DomainError::invalid("text must not be empty"));
        }
        let chars = text.chars().count();
        if chars > self.config.max_message_chars {
            return Err(DomainError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "text is {chars} characters; the limit is {}",
                    self.config.max_message_chars
                ),
            ));
        }
        if text.chars().any(|c| c == '\0') {
            return Err(DomainError::invalid("text must not contain NUL characters"));
        }
        Ok(text)
    }
}

/// The reply of a turn that goes straight to a person (the queue text is added to it).
fn waiting_reply() -> Reply {
    Reply {
        text: String::new(),
        citations: Vec::new(),
        kind: ReplyKind::Journey,
        support: 1.0,
        suggestions: Vec::new(),
    }
}

fn validate_identity(identity: &CustomerIdentity) -> Result<(), DomainError> {
    let id = identity.external_id.trim();
    if id.is_empty() || id.len() > 256 {
        return Err(DomainError::invalid(
            "customer external_id must be 1 to 256 characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
