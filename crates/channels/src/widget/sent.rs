//! What makes the widget's sending safe to repeat and bounded: the client message ids seen
//! recently (a frame sent again after a reconnect is not stored twice) and a per-socket
//! token bucket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use warmline_domain::{ConversationId, MessageId};

/// How long a client message id is remembered: far longer than a reconnect takes.
const REMEMBER: Duration = Duration::from_secs(15 * 60);
/// Most ids remembered at once (about 100 bytes each).
const MOST: usize = 200_000;

/// What became of a client message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: handle it.
    New,
    /// Already being handled (the stored id is not known yet).
    Pending,
    /// Already stored under this id.
    Stored(MessageId),
    /// Too many ids remembered right now: refuse rather than risk a duplicate.
    Full,
}

/// A client message id in its conversation.
type Key = (ConversationId, String);
/// The stored message (once known) and when the id was last seen.
type Entry = (Option<MessageId>, Instant);

/// Client message ids per conversation, shared by all sockets.
#[derive(Default)]
pub struct ClientIds {
    ids: Mutex<HashMap<Key, Entry>>,
}

impl ClientIds {
    /// Records `client_id` as being handled, unless it was seen before.
    pub fn claim(&self, conversation: ConversationId, client_id: &str) -> Seen {
        let now = Instant::now();
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((stored, _)) = ids.get(&(conversation, client_id.to_owned())) {
            return stored.map_or(Seen::Pending, Seen::Stored);
        }
        if ids.len() >= MOST {
            ids.retain(|_, (_, at)| now.duration_since(*at) < REMEMBER);
            if ids.len() >= MOST {
                return Seen::Full;
            }
        }
        ids.insert((conversation, client_id.to_owned()), (None, now));
        Seen::New
    }

    /// The message of `client_id` was stored as `id`.
    pub fn stored(&self, conversation: ConversationId, client_id: &str, id: MessageId) {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.insert(
            (conversation, client_id.to_owned()),
            (Some(id), Instant::now()),
        );
    }

    /// The message of `client_id` was refused before it was stored: it may be sent again.
    pub fn forget(&self, conversation: ConversationId, client_id: &str) {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.remove(&(conversation, client_id.to_owned()));
    }
}

/// A token bucket: `rate` per second, at most `burst` at once.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            tokens: burst.max(1.0),
            at: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_handled_once() {
        let ids = ClientIds::default();
        let c = ConversationId::new();
        assert_eq!(ids.claim(c, "a"), Seen::New);
        assert_eq!(ids.claim(c, "a"), Seen::Pending);
        let m = MessageId::new();
        ids.stored(c, "a", m);
        assert_eq!(ids.claim(c, "a"), Seen::Stored(m));
        assert_eq!(
            ids.claim(ConversationId::new(), "a"),
            Seen::New,
            "per conversation"
        );
        ids.forget(c, "a");
        assert_eq!(ids.claim(c, "a"), Seen::New);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(2.0, 3.0);
        bucket.at = start;
        assert!((0..3).all(|_| bucket.take_at(start)));
        assert!(!bucket.take_at(start));
        assert!(bucket.take_at(start + Duration::from_millis(500)));
        assert!(!bucket.take_at(start + Duration::from_millis(600)));
    }
}
