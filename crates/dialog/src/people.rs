//! Handing customers to people: the moment-of-truth assessment of a turn, queueing the
//! conversation with its packet, whether people are there to take it, and the survey after.

use crate::{
    Dialog, MOMENT_HISTORY, ONLINE_WINDOW, Queued, SURVEY_COMMENT_CHARS, handoff, moments,
};
use warmline_domain::crm::CrmCustomer;
use warmline_domain::{
    Conversation, ConversationId, DomainError, ErrorCode, HandoffStore, JourneySnapshot,
};

impl Dialog {
    /// Queues `conversation` for a person with what they need to know; returns the
    /// customer's place in the queue. `None` when there is no handoff store or the
    /// detector routes elsewhere (a phone call).
    pub(crate) async fn hand_over(
        &self,
        conversation: &Conversation,
        decision: &moments::Decision,
        customer: Option<&CrmCustomer>,
        journey: Option<JourneySnapshot>,
    ) -> Result<Option<Queued>, DomainError> {
        let Some(handoffs) = &self.handoffs else {
            return Ok(None);
        };
        if decision.route != moments::Route::Agent {
            return Ok(None);
        }
        let transcript = self
            .store
            .messages(conversation.id, self.config.transcript_limit)
            .await?;
        let mut packet = handoff::packet(decision, &transcript);
        packet.journey = journey;
        if let (Some(crm), Some(customer)) = (&self.crm, customer) {
            packet.customer = Some(handoff::snapshot(crm.as_ref(), customer).await);
        }
        let opened = handoffs
            .open_handoff(conversation.id, handoff::priority(decision), &packet)
            .await?;
        let queue = handoffs.queue().await?;
        let position = queue
            .iter()
            .position(|h| h.id == opened.id)
            .map_or(queue.len(), |i| i + 1);
        let availability = self.availability(handoffs.as_ref()).await?;
        metrics::counter!("warmline_handoffs_total", "availability" => availability.as_str())
            .increment(1);
        tracing::info!(handoff_id = %opened.id, position, availability = availability.as_str(), "conversation queued for a person");
        Ok(Some(Queued {
            position,
            availability,
        }))
    }

    /// Records the customer's satisfaction survey of a closed conversation (1 to 5, and an
    /// optional comment of at most 2000 characters, kept verbatim).
    pub async fn survey(
        &self,
        id: ConversationId,
        score: u8,
        comment: Option<&str>,
    ) -> Result<(), DomainError> {
        let handoffs = self
            .handoffs
            .as_ref()
            .ok_or_else(|| DomainError::unavailable("surveys are not stored by this server"))?;
        if !(1..=5).contains(&score) {
            return Err(DomainError::invalid("score is a whole number from 1 to 5"));
        }
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > SURVEY_COMMENT_CHARS) {
            return Err(DomainError::new(
                ErrorCode::PayloadTooLarge,
                format!("the comment is longer than {SURVEY_COMMENT_CHARS} characters"),
            ));
        }
        handoffs.save_survey(id, score, comment).await?;
        metrics::counter!("warmline_surveys_total", "score" => score.to_string()).increment(1);
        Ok(())
    }

    /// Whether people can take a conversation now: business hours (the policy's), agents
    /// seen in the last [`ONLINE_WINDOW`], and the typical recent wait.
    async fn availability(
        &self,
        handoffs: &dyn HandoffStore,
    ) -> Result<handoff::Availability, DomainError> {
        let now = warmline_domain::conversation::now();
        if let Some(detector) = &self.moments {
            let hours = detector.policy().hours();
            if !hours.is_open(now) {
                return Ok(handoff::Availability::Closed {
                    back: hours.next_open(now),
                });
            }
        }
        if handoffs.agents_online(now - ONLINE_WINDOW).await? == 0 {
            return Ok(handoff::Availability::NoAgents);
        }
        let waits = handoffs.recent_waits(20).await?;
        Ok(handoff::Availability::Open {
            wait: handoff::typical_wait(&waits),
        })
    }

    /// The detector's decision on the latest customer message of `conversation` when it says
    /// the customer needs a person. A failure to read the transcript only costs the
    /// assessment: the customer still gets an answer.
    pub(crate) async fn assess(
        &self,
        conversation: &Conversation,
        customer: Option<&CrmCustomer>,
        step: Option<moments::StepState>,
    ) -> Option<moments::Decision> {
        let detector = self.moments.as_ref()?;
        let messages = match self.store.messages(conversation.id, MOMENT_HISTORY).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "moment of truth not assessed: transcript unavailable");
                return None;
            }
        };
        let mut context = moments::Context::from_transcript(&messages, conversation.channel)?;
        if let Some(tier) = customer.and_then(|c| c.profile.tier.clone()) {
            context = context.with_tier(tier);
        }
        if let Some(step) = step {
            context = context.with_step(step);
        }
        let decision = detector.assess(&context).await;
        if !decision.escalate {
            return None;
        }
        for code in decision.reasons() {
            metrics::counter!("warmline_moments_of_truth_total", "reason" => code).increment(1);
        }
        tracing::info!(decision = %decision, "moment of truth");
        Some(decision)
    }
}
