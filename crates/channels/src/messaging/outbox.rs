//! The outbox worker: sends queued provider requests, each chat's in order, under each
//! provider's rate limit; failed sends are retried with exponential backoff (honouring the
//! provider's `Retry-After`) until they go through or are refused for good.
//!
//! Delivery is at least once: a crash between a provider's success and the record of it
//! sends that request again on restart.

use super::{Inner, SendError};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use warmline_domain::{Channel, OutboxItem};

/// How the outbox retries.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Delay before the first retry; doubled on each further one (with jitter).
    pub retry_base: Duration,
    /// Longest delay between two attempts.
    pub retry_max: Duration,
    /// Attempts after which a request is given up on (recorded as `failed`).
    pub max_attempts: u32,
    /// Longest time one provider request may take.
    pub send_timeout: Duration,
    /// Requests sent at once (across chats).
    pub concurrency: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            // With the defaults above: about 4 hours of retrying.
            max_attempts: 30,
            send_timeout: Duration::from_secs(15),
            concurrency: 32,
        }
    }
}

impl OutboxConfig {
    /// The delay before attempt `attempts + 1`: exponential, capped, with jitter in
    /// [50 %, 100 %] so that many chats failing together don't retry together.
    pub fn backoff(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .retry_base
            .saturating_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX))
            .min(self.retry_max);
        let jittered = exp.mul_f64(0.5 + fastrand::f64() / 2.0);
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// How often the store is looked at without being woken (a safety net).
const IDLE_POLL: Duration = Duration::from_secs(5);

pub(super) async fn run(inner: Arc<Inner>) {
    let limiters: HashMap<Channel, Arc<DefaultDirectRateLimiter>> = inner
        .providers
        .iter()
        .map(|(channel, p)| {
            let rate = NonZeroU32::new(p.rate_per_second()).unwrap_or(NonZeroU32::MIN);
            (
                *channel,
                Arc::new(RateLimiter::direct(Quota::per_second(rate))),
            )
        })
        .collect();
    loop {
        if inner.cancel.is_cancelled() {
            return;
        }
        let now = warmline_domain::conversation::now();
        let due = match inner
            .store
            .due_outbox(now, inner.outbox.concurrency.max(1))
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox; retrying");
                Vec::new()
            }
        };
        if due.is_empty() {
            let wait = match inner.store.next_outbox_due().await {
                Ok(Some(at)) => (at - warmline_domain::conversation::now())
                    .try_into()
                    .unwrap_or(Duration::ZERO)
                    .clamp(Duration::from_millis(10), IDLE_POLL),
                _ => IDLE_POLL,
            };
            tokio::select! {
                () = inner.cancel.cancelled() => return,
                () = inner.outbox_wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for item in due {
            let inner = inner.clone();
            let limiter = limiters.get(&item.channel).cloned();
            tasks.spawn(async move { deliver(&inner, item, limiter).await });
        }
        while tasks.join_next().await.is_some() {}
    }
}

#[tracing::instrument(skip_all, fields(channel = %item.channel, seq = item.seq, attempt = item.attempts + 1))]
async fn deliver(inner: &Inner, item: OutboxItem, limiter: Option<Arc<DefaultDirectRateLimiter>>) {
    let Some(provider) = inner.providers.get(&item.channel) else {
        // The channel was configured when this was queued but is not now: keep it for later.
        let next = warmline_domain::conversation::now() + inner.outbox.retry_max;
        let _ = inner
            .store
            .outbox_retry(item.seq, next, "channel not configured")
            .await;
        return;
    };
    if let Some(limiter) = limiter {
        tokio::select! {
            () = inner.cancel.cancelled() => return,
            () = limiter.until_ready() => {}
        }
    }
    let started = std::time::Instant::now();
    let result = provider.send(&item.payload).await;
    metrics::histogram!("warmline_channel_send_seconds", "channel" => item.channel.as_str())
        .record(started.elapsed().as_secs_f64());
    let channel = item.channel.as_str();
    let recorded = match result {
        Ok(provider_id) => {
            metrics::counter!("warmline_channel_outbox_total", "channel" => channel, "result" => "sent").increment(1);
            tracing::debug!("sent");
            inner
                .store
                .outbox_sent(item.seq, provider_id.as_deref())
                .await
        }
        Err(SendError::Retry { reason, after })
            if item.attempts + 1 < inner.outbox.max_attempts =>
        {
            metrics::counter!("warmline_channel_outbox_total", "channel" => channel, "result" => "retry").increment(1);
            let delay = inner.outbox.backoff(item.attempts, after);
            tracing::warn!(
                error = loggable(&reason),
                retry_in_seconds = delay.as_secs_f64(),
                "send failed; will retry"
            );
            let next = warmline_domain::conversation::now() + delay;
            inner.store.outbox_retry(item.seq, next, &reason).await
        }
        Err(SendError::Retry { reason, .. } | SendError::Permanent(reason)) => {
            metrics::counter!("warmline_channel_outbox_total", "channel" => channel, "result" => "failed").increment(1);
            tracing::error!(error = loggable(&reason), "send failed for good");
            inner.store.outbox_failed(item.seq, &reason).await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "cannot record the outcome of a send");
    }
}

/// What of a send error may be logged: provider error bodies can quote phone numbers or
/// addresses, so logs get the status only (the whole text is kept on the outbox row).
fn loggable(reason: &str) -> &str {
    match reason.split_once(": ") {
        Some((status, _)) if status.starts_with("status ") => status,
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_caps_and_honours_retry_after() {
        let c = OutboxConfig {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            ..OutboxConfig::default()
        };
        for attempts in 0..10 {
            let full = Duration::from_secs(1 << attempts).min(Duration::from_secs(60));
            let d = c.backoff(attempts, None);
            assert!(d >= full / 2 && d <= full, "attempt {attempts}: {d:?}");
        }
        assert!(c.backoff(1000, None) <= Duration::from_secs(60));
        assert_eq!(
            c.backoff(0, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
    }
}
