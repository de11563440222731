//! The detector: runs every signal on a conversation and weighs them against the policy.

use super::Context;
use super::decision::{Decision, Reason, Route, Signal};
use super::example_cache::ExampleCache;
use super::policy::Policy;
use super::signals::failure::experience_critical;
use super::signals::meaning::{Kind, Recognised, Vectors, for_meaning};
use super::signals::topics::Hit;
use super::text::tokens;
use std::sync::Arc;
use tokio::sync::OnceCell;
use warmline_domain::Embedder;

/// Example sentences embedded per request while warming up.
const WARM_UP_BATCH: usize = 64;

/// Decides, turn by turn, whether a customer should be handed to a person. Deterministic:
/// the same conversation and policy (and embedder) always give the same decision.
/// Cheap to share behind an `Arc`.
pub struct Detector {
    policy: Arc<Policy>,
    embedder: Option<Arc<dyn Embedder>>,
    /// The policy's example sentences and near misses, embedded once (first use or warm-up).
    examples: OnceCell<Vectors>,
    /// Where their vectors are kept between starts, if anywhere.
    cache: Option<ExampleCache>,
}

impl Detector {
    /// A detector for `policy`. With an `embedder`, topics are also recognised by closeness
    /// in meaning to their example sentences; without one, by phrases only.
    pub fn new(policy: Policy, embedder: Option<Arc<dyn Embedder>>) -> Self {
        Self {
            policy: Arc::new(policy),
            embedder,
            examples: OnceCell::new(),
            cache: None,
        }
    }

    /// Keeps the embedded example sentences in `dir` (`moments-<model id>.bin`), so a restart
    /// embeds only what the policy added since. Without an embedder, does nothing.
    pub fn with_example_cache(mut self, dir: &std::path::Path) -> Self {
        self.cache = self
            .embedder
            .as_ref()
            .map(|e| ExampleCache::new(dir, e.model_id()));
        self
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
                Recognised::default()
            }
        };
        self.decide(ctx, &meaning)
    }

    /// Assesses with phrases only, never the embedder: for callers without an async runtime.
    pub fn assess_phrases(&self, ctx: &Context) -> Decision {
        self.decide(ctx, &Recognised::default())
    }

    /// Embeds the policy's example sentences now rather than on the first turn that needs
    /// them (hundreds of sentences take seconds). Without an embedder, does nothing.
    pub async fn warm_up(&self) -> Result<(), warmline_domain::DomainError> {
        if let Some(embedder) = &self.embedder {
            self.vectors(embedder).await?;
        }
        Ok(())
    }

    async fn vectors(
        &self,
        embedder: &Arc<dyn Embedder>,
    ) -> Result<&Vectors, warmline_domain::DomainError> {
        let rules = &self.policy.meaning;
        self.examples
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                let sentences = rules.sentences();
                let mut all = match &self.cache {
                    Some(cache) => {
                        let (cache, texts) = (cache.clone(), sentences.clone());
                        let dims = embedder.dimensions();
                        tokio::task::spawn_blocking(move || cache.load(&texts, dims))
                            .await
                            .unwrap_or_else(|_| vec![None; sentences.len()])
                    }
                    None => vec![None; sentences.len()],
                };
                let missing: Vec<usize> = (0..all.len()).filter(|&i| all[i].is_none()).collect();
                // In small batches, so customers' questions embedded meanwhile (the server is
                // already answering) wait for one batch at most, not for all of them.
                for batch in missing.chunks(WARM_UP_BATCH) {
                    let texts = batch.iter().map(|&i| sentences[i].clone()).collect();
                    for (&i, v) in batch.iter().zip(embedder.embed(texts).await?) {
                        all[i] = Some(v);
                    }
                }
                let all: Vec<Vec<f32>> = all.into_iter().map(Option::unwrap_or_default).collect();
                let embedded_ms = started.elapsed().as_millis() as u64;
                let (count, embedded) = (sentences.len(), missing.len());
                let store = self.cache.clone().filter(|_| embedded > 0);
                // Writing the cache and training the classifier take a moment: not on an async
                // worker.
                let policy = self.policy.clone();
                let vectors = tokio::task::spawn_blocking(move || {
                    if let Some(cache) = store {
                        cache.store(&sentences, &all);
                    }
                    policy.meaning.vectors(&sentences, all)
                })
                .await
                .map_err(|e| warmline_domain::DomainError::internal(e.to_string()))?
                .map_err(|e| {
                    warmline_domain::DomainError::internal(format!(
                        "training the moment-of-truth classifier: {e}"
                    ))
                })?;
                tracing::info!(
                    sentences = count,
                    embedded,
                    embedded_ms,
                    trained_ms = started.elapsed().as_millis() as u64 - embedded_ms,
                    "moment-of-truth examples embedded"
                );
                Ok(vectors)
            })
            .await
    }

    /// What the message is recognised as by meaning (see `MeaningRules::hits`).
    async fn meaning_hits(
        &self,
        ctx: &Context,
    ) -> Result<Recognised, warmline_domain::DomainError> {
        let Some(embedder) = &self.embedder else {
            return Ok(Recognised::default());
        };
        let rules = &self.policy.meaning;
        if rules.is_empty() {
            return Ok(Recognised::default());
        }
        let vectors = self.vectors(embedder).await?;
        let text = for_meaning(&ctx.message);
        let message = embedder.embed(vec![text.clone()]).await?;
        let Some(message) = message.first() else {
            return Ok(Recognised::default());
        };
        let mut hits = rules.hits(&text, message, vectors);
        // A topic inside a hypothetical ("if I close my account...") is a question about it;
        // meaning can't tell where the topic sits, so only an ask for a person survives one.
        if self.policy.topics.hypothetical(&tokens(&text)) {
            hits.kinds.retain(|(kind, _)| *kind == Kind::Explicit);
        }
        Ok(hits)
    }

    fn decide(&self, ctx: &Context, meaning: &Recognised) -> Decision {
        let policy = &*self.policy;
        let weights = &policy.weights;
        let toks = tokens(&ctx.message);
        let mut signals: Vec<Signal> = Vec::new();
        if policy.explicit.asks_for_person(&toks) {
            signals.push(Signal::new(
                Reason::ExplicitRequest,
                weights.explicit_request,
                "phrase",
            ));
        } else if let Some((_, sim)) = meaning.kinds.iter().find(|(k, _)| *k == Kind::Explicit) {
            signals.push(Signal::new(
                Reason::ExplicitRequest,
                weights.explicit_request,
                policy.meaning.describe(*sim),
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
                    Hit::Meaning(score) => policy.meaning.describe(*score),
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

    /// Topics recognised by phrase, then by meaning (a topic counted once). A phrase of a
    /// topic the classifier knows (one with examples) doesn't count when the classifier is
    /// sure the message is routine (`matching.veto`): "I didn't recognise a charge, but it
    /// turned out to be my daughter's" says the words of fraud and is not fraud. Meaning
    /// doesn't report a topic the phrases tell as settled ("...but the reset link worked") or
    /// an exception reads in another sense ("my coworker's dad died").
    fn topics(&self, toks: &[super::text::Token], meaning: &Recognised) -> Vec<(usize, Hit)> {
        let known = |i: usize| {
            self.policy
                .meaning
                .kinds
                .iter()
                .any(|k| k.kind == Kind::Topic(i))
        };
        let told = self.policy.topics.told(toks);
        let mut hits: Vec<(usize, Hit)> = told
            .reported
            .into_iter()
            .filter(|&i| {
                let overruled = meaning.routine && known(i);
                if overruled {
                    tracing::debug!(
                        topic = %self.policy.topics.topics[i].name,
                        "topic phrase overruled: the classifier is sure the message is routine"
                    );
                }
                !overruled
            })
            .map(|i| (i, Hit::Phrase))
            .collect();
        for (kind, sim) in &meaning.kinds {
            if let Kind::Topic(i) = *kind
                && !told.quiet.contains(&i)
                && !hits.iter().any(|(j, _)| *j == i)
            {
                hits.push((i, Hit::Meaning(*sim)));
            }
        }
        hits
    }
}
