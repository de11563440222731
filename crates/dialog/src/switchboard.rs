//! The switchboard: the handoff store as the rest of Warmline uses it. It routes new handoffs
//! (the skill they need, from the routing policy), publishes every change on the event bus,
//! assigns waiting customers to the least busy online agent with the skill (when the policy
//! says so), and offers a callback or a message to customers who wait too long or arrive
//! when nobody is there.

use crate::routing::Routing;
use crate::summary::Summarizer;
use crate::{ONLINE_WINDOW, moments::BusinessHours};
use async_trait::async_trait;
use std::sync::Arc;
use time::OffsetDateTime;
use warmline_domain::{
    Agent, AgentId, AgentLoad, AgentRole, ConversationId, ConversationStore, Disposition,
    DomainError, ErrorCode, Event, EventBus, Handoff, HandoffId, HandoffPacket, HandoffStatus,
    HandoffStore, Message, NewTicket, Outbound, Presence, Role, Route, Ticket, TicketId,
};

/// Quick replies of the offer made to a customer who waits too long.
pub const CALL_ME_BACK: &str = "Call me back";
pub const LEAVE_A_MESSAGE: &str = "Leave a message";
pub const KEEP_WAITING: &str = "Keep waiting";

/// What the customer hears when an agent takes their conversation.
pub fn joined_text(agent: &Agent) -> String {
    format!(
        "{} from our team has joined the conversation.",
        agent.display_name
    )
}

/// Routing, events and offers around a [`HandoffStore`].
pub struct Switchboard {
    store: Arc<dyn HandoffStore>,
    /// Where the customer-facing notices go (a publishing store, so watchers see them).
    conversations: Arc<dyn ConversationStore>,
    bus: Arc<dyn EventBus>,
    routing: std::sync::RwLock<Routing>,
    hours: Option<BusinessHours>,
    /// Writes the packet's summary with a chat model, when one is loaded.
    summarizer: Option<Arc<Summarizer>>,
    /// One auto-assignment pass at a time, so two passes don't both pick the same agent's
    /// last free slot (accepting stays safe regardless: it is conditional in the store).
    assigning: tokio::sync::Mutex<()>,
    /// Where the notices also go for customers on messaging apps (set once the apps are up:
    /// they are started after the dialog, which needs the switchboard).
    outbound: std::sync::OnceLock<Arc<dyn Outbound>>,
}

impl Switchboard {
    pub fn new(
        store: Arc<dyn HandoffStore>,
        conversations: Arc<dyn ConversationStore>,
        bus: Arc<dyn EventBus>,
        routing: Routing,
        hours: Option<BusinessHours>,
    ) -> Self {
        Self {
            store,
            conversations,
            bus,
            routing: std::sync::RwLock::new(routing),
            hours,
            summarizer: None,
            assigning: tokio::sync::Mutex::new(()),
            outbound: std::sync::OnceLock::new(),
        }
    }

    /// Sends the switchboard's notices (an agent joined, the offer to a waiting customer) to
    /// the customer's messaging app too. Only the first call counts.
    pub fn deliver_through(&self, outbound: Arc<dyn Outbound>) {
        if self.outbound.set(outbound).is_err() {
            tracing::warn!("the switchboard's outbound was already set; the new one is ignored");
        }
    }

    /// Stores a notice for the customer and hands it to their app, if they came from one.
    async fn notify(&self, notice: &Message) -> Result<(), DomainError> {
        self.conversations.append_message(notice).await?;
        if let Some(outbound) = self.outbound.get() {
            outbound.deliver(notice).await?;
        }
        Ok(())
    }

    /// Replaces each new handoff's quoted summary with one by `summarizer`, in the
    /// background (the agent sees the quoted one at once, then the generated one live).
    pub fn with_summarizer(mut self, summarizer: Summarizer) -> Self {
        self.summarizer = Some(Arc::new(summarizer));
        self
    }

    fn summarize_later(&self, handoff: &Handoff) {
        let Some(summarizer) = self.summarizer.clone() else {
            return;
        };
        let (store, conversations, bus) = (
            self.store.clone(),
            self.conversations.clone(),
            self.bus.clone(),
        );
        let (id, conversation) = (handoff.id, handoff.conversation_id);
        tokio::spawn(async move {
            let written = async {
                let transcript = conversations.messages(conversation, 50).await?;
                let summary = summarizer.summarize(&transcript).await?;
                store.set_summary(id, &summary, summarizer.model_id()).await
            };
            match written.await {
                Ok(handoff) => {
                    metrics::counter!("warmline_handoff_summaries_total", "result" => "generated")
                        .increment(1);
                    bus.publish(Event::Handoff { handoff });
                }
                Err(e) => {
                    metrics::counter!("warmline_handoff_summaries_total", "result" => "quoted")
                        .increment(1);
                    tracing::info!(handoff_id = %id, error = %e, "handoff summary not generated; the quoted one stays");
                }
            }
        });
    }

    /// The routing policy in force.
    pub fn routing(&self) -> Routing {
        self.routing
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the routing policy (a reload, or a test).
    pub fn set_routing(&self, routing: Routing) {
        *self
            .routing
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = routing;
    }

    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.bus
    }

    fn changed(&self, handoff: &Handoff) {
        self.bus.publish(Event::Handoff {
            handoff: handoff.clone(),
        });
    }

    /// Assignment and offers after a change; their failures are logged, never the caller's.
    async fn after_change(&self) {
        if let Err(e) = self.assign_waiting().await {
            tracing::warn!(error = %e, "auto-assignment failed");
        }
    }

    /// Gives waiting handoffs (highest priority, then oldest first) to the least busy online
    /// agent who has the skill and fewer than `max_chats` conversations. Returns how many it
    /// assigned; nothing when auto-assignment is off.
    pub async fn assign_waiting(&self) -> Result<usize, DomainError> {
        let routing = self.routing();
        if !routing.auto_assign {
            return Ok(0);
        }
        let _pass = self.assigning.lock().await;
        let queue = self.store.queue().await?;
        if queue.is_empty() {
            return Ok(0);
        }
        let now = warmline_domain::conversation::now();
        let mut loads: Vec<AgentLoad> = self
            .store
            .agent_loads(now - ONLINE_WINDOW)
            .await?
            .into_iter()
            .filter(|l| l.presence == Presence::Online && l.agent.role == AgentRole::Agent)
            .collect();
        let mut assigned = 0;
        for handoff in queue {
            let Some(pick) = loads
                .iter_mut()
                .filter(|l| {
                    l.chats < routing.max_chats && l.agent.can_take(handoff.skill.as_deref())
                })
                .min_by_key(|l| l.chats)
            else {
                continue;
            };
            match self.store.accept(handoff.id, pick.agent.id).await {
                Ok(accepted) => {
                    pick.chats += 1;
                    assigned += 1;
                    self.changed(&accepted);
                    let hello = Message::new(
                        accepted.conversation_id,
                        Role::System,
                        joined_text(&pick.agent),
                    );
                    self.notify(&hello).await?;
                    tracing::info!(handoff_id = %accepted.id, agent_id = %pick.agent.id, "handoff auto-assigned");
                    metrics::counter!("warmline_handoffs_assigned_total", "by" => "auto")
                        .increment(1);
                }
                // Someone accepted it by hand meanwhile.
                Err(e) if e.code == ErrorCode::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        Ok(assigned)
    }

    /// Offers a callback or a message to each waiting customer not offered one yet, who has
    /// waited longer than the policy allows, or at once when no agent is online or it is
    /// outside business hours. Returns how many were offered.
    pub async fn offer_waiting(&self) -> Result<usize, DomainError> {
        let queue = self.store.queue().await?;
        if queue.is_empty() {
            return Ok(0);
        }
        let now = warmline_domain::conversation::now();
        let closed = self.hours.as_ref().is_some_and(|h| !h.is_open(now));
        let nobody = closed || self.store.agents_online(now - ONLINE_WINDOW).await? == 0;
        let offer_after = self.routing().offer_after;
        let mut offered = 0;
        for handoff in queue.iter().filter(|h| h.offered_at.is_none()) {
            let waited = now - handoff.created_at;
            if !nobody && waited < offer_after {
                continue;
            }
            if !self.store.mark_offered(handoff.id).await? {
                continue;
            }
            let text = if nobody {
                "No one from our team can take the chat right now. Would you like a call back, \
                 or to leave a message? They'll pick it up as soon as they can; nothing you \
                 wrote is lost. Or keep waiting here."
            } else {
                "Sorry for the wait: our team is still busy. Would you like a call back, or to \
                 leave a message instead? You can also keep waiting; you won't lose your place."
            };
            let mut offer = Message::new(handoff.conversation_id, Role::System, text);
            offer.suggestions = vec![
                CALL_ME_BACK.to_owned(),
                LEAVE_A_MESSAGE.to_owned(),
                KEEP_WAITING.to_owned(),
            ];
            self.notify(&offer).await?;
            offered += 1;
            tracing::info!(handoff_id = %handoff.id, waited_seconds = waited.whole_seconds(), nobody, "callback offered");
            metrics::counter!("warmline_handoff_offers_total").increment(1);
        }
        Ok(offered)
    }

    /// Runs [`Switchboard::offer_waiting`] and [`Switchboard::assign_waiting`] every `every`
    /// until the returned guard is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>, every: std::time::Duration) -> Sweeper {
        let board = Arc::clone(self);
        Sweeper(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = board.offer_waiting().await {
                    tracing::warn!(error = %e, "offering callbacks failed");
                }
                board.after_change().await;
            }
        }))
    }
}

/// The sweeper task; dropping it stops it.
pub struct Sweeper(tokio::task::JoinHandle<()>);

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl HandoffStore for Switchboard {
    async fn open_routed(
        &self,
        conversation: ConversationId,
        route: &Route,
        packet: &HandoffPacket,
    ) -> Result<Handoff, DomainError> {
        let route = Route {
            priority: route.priority,
            skill: route
                .skill
                .clone()
                .or_else(|| self.routing().skill_for(&packet.reasons)),
        };
        let opened = self.store.open_routed(conversation, &route, packet).await?;
        self.changed(&opened);
        self.summarize_later(&opened);
        self.after_change().await;
        Ok(opened)
    }

    async fn handoff(&self, id: HandoffId) -> Result<Option<Handoff>, DomainError> {
        self.store.handoff(id).await
    }

    async fn open_handoff_of(
        &self,
        conversation: ConversationId,
    ) -> Result<Option<Handoff>, DomainError> {
        self.store.open_handoff_of(conversation).await
    }

    async fn queue(&self) -> Result<Vec<Handoff>, DomainError> {
        self.store.queue().await
    }

    async fn assigned_to(&self, agent: AgentId) -> Result<Vec<Handoff>, DomainError> {
        self.store.assigned_to(agent).await
    }

    async fn accept(&self, id: HandoffId, agent: AgentId) -> Result<Handoff, DomainError> {
        let accepted = self.store.accept(id, agent).await?;
        self.changed(&accepted);
        metrics::counter!("warmline_handoffs_assigned_total", "by" => "agent").increment(1);
        Ok(accepted)
    }

    async fn finish(
        &self,
        id: HandoffId,
        status: HandoffStatus,
        note: Option<&str>,
        disposition: Option<Disposition>,
    ) -> Result<Handoff, DomainError> {
        let done = self.store.finish(id, status, note, disposition).await?;
        self.changed(&done);
        // The agent has room for another.
        self.after_change().await;
        Ok(done)
    }

    async fn transfer(
        &self,
        id: HandoffId,
        to: Option<AgentId>,
        note: Option<&str>,
    ) -> Result<Handoff, DomainError> {
        let moved = self.store.transfer(id, to, note).await?;
        self.changed(&moved);
        if to.is_none() {
            self.after_change().await;
        }
        Ok(moved)
    }

    async fn set_summary(
        &self,
        id: HandoffId,
        summary: &str,
        model: &str,
    ) -> Result<Handoff, DomainError> {
        let handoff = self.store.set_summary(id, summary, model).await?;
        self.changed(&handoff);
        Ok(handoff)
    }

    async fn mark_offered(&self, id: HandoffId) -> Result<bool, DomainError> {
        self.store.mark_offered(id).await
    }

    async fn set_skills(&self, agent: AgentId, skills: &[String]) -> Result<Agent, DomainError> {
        self.store.set_skills(agent, skills).await
    }

    async fn set_presence(&self, agent: AgentId, presence: Presence) -> Result<Agent, DomainError> {
        let updated = self.store.set_presence(agent, presence).await?;
        self.bus.publish(Event::Presence { agent_id: agent });
        if presence == Presence::Online {
            self.after_change().await;
        }
        Ok(updated)
    }

    async fn agent_loads(&self, since: OffsetDateTime) -> Result<Vec<AgentLoad>, DomainError> {
        self.store.agent_loads(since).await
    }

    async fn open_ticket(&self, new: &NewTicket) -> Result<Ticket, DomainError> {
        let ticket = self.store.open_ticket(new).await?;
        if let Some(ended) = match ticket.handoff_id {
            Some(id) => self.store.handoff(id).await?,
            None => None,
        } {
            self.changed(&ended);
        }
        self.bus.publish(Event::Ticket {
            ticket: ticket.clone(),
        });
        Ok(ticket)
    }

    async fn tickets(&self, all: bool) -> Result<Vec<Ticket>, DomainError> {
        self.store.tickets(all).await
    }

    async fn close_ticket(
        &self,
        id: TicketId,
        agent: AgentId,
        note: Option<&str>,
    ) -> Result<Ticket, DomainError> {
        let ticket = self.store.close_ticket(id, agent, note).await?;
        self.bus.publish(Event::Ticket {
            ticket: ticket.clone(),
        });
        Ok(ticket)
    }

    async fn create_agent(
        &self,
        username: &str,
        display_name: &str,
        role: AgentRole,
        password_hash: &str,
    ) -> Result<Agent, DomainError> {
        self.store
            .create_agent(username, display_name, role, password_hash)
            .await
    }

    async fn agent_login(&self, username: &str) -> Result<Option<(Agent, String)>, DomainError> {
        self.store.agent_login(username).await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        agent: AgentId,
        expires_at: OffsetDateTime,
    ) -> Result<(), DomainError> {
        self.store
            .create_session(token_hash, agent, expires_at)
            .await?;
        self.bus.publish(Event::Presence { agent_id: agent });
        self.after_change().await;
        Ok(())
    }

    async fn session_agent(&self, token_hash: &str) -> Result<Option<Agent>, DomainError> {
        self.store.session_agent(token_hash).await
    }

    async fn agents_online(&self, since: OffsetDateTime) -> Result<usize, DomainError> {
        self.store.agents_online(since).await
    }

    async fn recent_waits(&self, n: usize) -> Result<Vec<time::Duration>, DomainError> {
        self.store.recent_waits(n).await
    }

    async fn end_session(&self, token_hash: &str) -> Result<(), DomainError> {
        let agent = self.store.session_agent(token_hash).await?;
        self.store.end_session(token_hash).await?;
        if let Some(agent) = agent {
            self.bus.publish(Event::Presence { agent_id: agent.id });
        }
        Ok(())
    }

    async fn save_survey(
        &self,
        conversation: ConversationId,
        score: u8,
        comment: Option<&str>,
    ) -> Result<(), DomainError> {
        self.store.save_survey(conversation, score, comment).await
    }
}
