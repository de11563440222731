//! The detector: runs every signal on a conversation and weighs them against the policy.

use super::Context;
use super::decision::{Decision, Reason, Route, Signal};
use super::policy::Policy;
use super::signals::failure::experience_critical;
use super::signals::topics::Hit;
use super::text::{drop_quoted, fold, tokens};
use std::sync::Arc;
use tokio::sync::OnceCell;
use warmline_domain::Embedder;

/// Decides, turn by turn, whether a customer should be handed to a person. Deterministic:
/// the same conversation and policy (and embedder) always give the same decision.
/// Cheap to share behind an `Arc`.
pub struct Detector {
    policy: Arc<Policy>,
    embedder: Option<Arc<dyn Embedder>>,
    /// The topics' example vectors, per topic, embedded once on first use.
    examples: OnceCell<Vec<Vec<Vec<f32>>>>,
}

impl Detector {
    /// A detector for `policy`. With an `embedder`, topics are also recognised by closeness
    /// in meaning to their example sentences; without one, by phrases only.
    pub fn new(policy: Policy, embedder: Option<Arc<dyn Embedder>>) -> Self {
        Self {
            policy: Arc::new(policy),
            embedder,
            examples: OnceCell::new(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Assesses the customer's latest message in its context. Uses the embedder when there
    /// is one; if embedding fails, falls back to phrases (and logs why, without the text).
    pub async fn assess(&self, ctx: &Context) -> Decision {
        let meaning = match self.meaning_hits(ctx).await {
            Ok(hits) => hits,
            Err(error) => {
                tracing::warn!(%error, "moment topic embedding failed; phrases only");
                Vec::new()
            }
        };
        self.decide(ctx, &meaning)
    }

    /// Assesses with phrases only, never the embedder: for callers without an async runtime.
    pub fn assess_phrases(&self, ctx: &Context) -> Decision {
        self.decide(ctx, &[])
    }

    /// Topics recognised by meaning: `(topic index, similarity)`.
    async fn meaning_hits(
        &self,
        ctx: &Context,
    ) -> Result<Vec<(usize, f32)>, warmline_domain::DomainError> {
        let Some(embedder) = &self.embedder else {
            return Ok(Vec::new());
        };
        let rules = &self.policy.topics;
        if rules.topics.iter().all(|t| t.exemplars.is_empty()) {
            return Ok(Vec::new());
        }
        let examples = self
            .examples
            .get_or_try_init(|| async {
                let all: Vec<String> = rules
                    .topics
                    .iter()
                    .flat_map(|t| t.exemplars.clone())
                    .collect();
                let mut vectors = embedder.embed(all).await?.into_iter();
                Ok::<_, warmline_domain::DomainError>(
                    rules
                        .topics
                        .iter()
                        .map(|t| vectors.by_ref().take(t.exemplars.len()).collect())
                        .collect(),
                )
            })
            .await?;
        let text = drop_quoted(&fold(&ctx.message));
        if rules.hypothetical(&tokens(&text)) {
            return Ok(Vec::new());
        }
        let message = embedder.embed(vec![text]).await?;
        Ok(message
            .first()
            .map(|m| rules.meaning_hits(m, examples))
            .unwrap_or_default())
    }

    fn decide(&self, ctx: &Context, meaning: &[(usize, f32)]) -> Decision {
        let policy = &*self.policy;
        let weights = &policy.weights;
        let toks = tokens(&ctx.message);
        let mut signals: Vec<Signal> = Vec::new();
        if policy.explicit.asks_for_person(&toks) {
            signals.push(Signal::new(
                Reason::ExplicitRequest,
                weights.explicit_request,
                "",
            ));
        }
        let turns: Vec<&str> = ctx
            .history
            .iter()
            .map(|t| t.customer.as_str())
            .chain([ctx.message.as_str()])
            .collect();
        let after_failure = ctx
            .history
            .last()
            .is_some_and(|t| t.bot == super::BotOutcome::NoAnswer);
        signals.extend(policy.frustration.assess(&turns, after_failure, weights));
        signals.extend(policy.repeat.repeated_failure(ctx, weights));
        signals.extend(policy.repeat.rephrased(ctx, weights));
        signals.extend(experience_critical(ctx, weights));
        let topics = self.topics(&toks, meaning);
        for (i, hit) in &topics {
            let topic = &policy.topics.topics[*i];
            if topic.weight > 0.0 {
                let detail = match hit {
                    Hit::Phrase => "phrase".to_owned(),
                    Hit::Meaning(sim) => format!("similar to an example ({sim:.2})"),
                };
                signals.push(Signal::new(
                    Reason::HighStakes(topic.name.clone()),
                    topic.weight,
                    detail,
                ));
            }
        }
        let mut route = Route::Agent;
        let mut forced_by = None;
        for rule in policy
            .channel_rules
            .iter()
            .filter(|r| r.channels.contains(&ctx.channel))
        {
            let Some(topic) = topics
                .iter()
                .map(|(i, _)| &policy.topics.topics[*i].name)
                .find(|n| rule.topics.contains(n))
            else {
                continue;
            };
            let detail = format!("{topic} on {} goes to {}", ctx.channel, rule.route.as_str());
            signals.push(Signal::new(
                Reason::ChannelRule,
                weights.channel_rule,
                detail,
            ));
            route = if rule.route == Route::Voice {
                Route::Voice
            } else {
                route
            };
            forced_by.get_or_insert(Reason::ChannelRule);
        }
        signals.sort_by(|a, b| b.score.total_cmp(&a.score));
        if let Some(always) = signals
            .iter()
            .find(|s| policy.always.contains(&s.reason.code()))
        {
            forced_by = Some(always.reason.clone());
        }
        let threshold = policy.threshold_for(ctx.tier.as_deref());
        if let Some(tier) = ctx.tier.as_deref().map(|t| t.trim().to_lowercase())
            && policy.tiers.contains_key(&tier)
        {
            signals.push(Signal::new(
                Reason::Tier(tier),
                0.0,
                format!("threshold {threshold:.2}"),
            ));
        }
        let score = signals.iter().fold(0.0, |sum, s| sum + s.score);
        let decision = Decision {
            escalate: forced_by.is_some() || score >= threshold,
            score,
            threshold,
            route,
            signals,
            forced_by,
        };
        tracing::debug!(
            escalate = decision.escalate,
            score = decision.score,
            threshold = decision.threshold,
            route = decision.route.as_str(),
            reasons = %decision.reasons().join(","),
            "moment of truth assessed"
        );
        decision
    }

    /// Topics recognised by phrase, then by meaning (a topic counted once).
    fn topics(&self, toks: &[super::text::Token], meaning: &[(usize, f32)]) -> Vec<(usize, Hit)> {
        let mut hits: Vec<(usize, Hit)> = self
            .policy
            .topics
            .phrase_hits(toks)
            .into_iter()
            .map(|i| (i, Hit::Phrase))
            .collect();
        for (i, sim) in meaning {
            if !hits.iter().any(|(j, _)| j == i) {
                hits.push((*i, Hit::Meaning(*sim)));
            }
        }
        hits
    }
}
