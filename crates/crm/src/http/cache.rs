//! A small cache of successful CRM reads: a customer who writes five messages in a minute is
//! looked up once. Entries live `ttl`; past `capacity` the oldest go first.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A response body, or `None` for "no such record" (404): both are worth remembering.
pub(crate) type Cached = Option<Arc<Value>>;

#[derive(Debug)]
pub(crate) struct TtlCache {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, (Instant, Cached)>,
    /// Keys by insertion time, oldest first; a key put again appears twice, and only the entry
    /// whose time matches is evicted.
    order: VecDeque<(Instant, String)>,
}

impl TtlCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            inner: Mutex::default(),
        }
    }

    fn enabled(&self) -> bool {
        self.capacity > 0 && !self.ttl.is_zero()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, key: &str) -> Option<Cached> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &str, now: Instant) -> Option<Cached> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.lock();
        match inner.entries.get(key) {
            Some((at, value)) if now.duration_since(*at) < self.ttl => Some(value.clone()),
            Some(_) => {
                inner.entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn put(&self, key: String, value: Cached) {
        self.put_at(key, value, Instant::now());
    }

    fn put_at(&self, key: String, value: Cached, now: Instant) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        while inner.entries.len() >= self.capacity {
            let Some((at, oldest)) = inner.order.pop_front() else {
                break;
            };
            if inner.entries.get(&oldest).is_some_and(|(t, _)| *t == at) {
                inner.entries.remove(&oldest);
            }
        }
        // Re-puts of a key leave stale queue entries: compact before they pile up.
        if inner.order.len() > 2 * self.capacity {
            let Inner { entries, order } = &mut *inner;
            order.retain(|(at, k)| entries.get(k).is_some_and(|(t, _)| t == at));
        }
        inner.order.push_back((now, key.clone()));
        inner.entries.insert(key, (now, value));
    }

    /// Forgets everything (after a write, so nobody reads the old order back).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(n: i64) -> Cached {
        Some(Arc::new(json!(n)))
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = TtlCache::new(Duration::from_secs(30), 10);
        let t0 = Instant::now();
        cache.put_at("a".into(), value(1), t0);
        cache.put_at("missing".into(), None, t0);
        assert_eq!(
            cache.get_at("a", t0 + Duration::from_secs(29)),
            Some(value(1))
        );
        assert_eq!(
            cache.get_at("missing", t0),
            Some(None),
            "a 404 is remembered"
        );
        assert_eq!(cache.get_at("a", t0 + Duration::from_secs(30)), None);
        assert_eq!(cache.get_at("b", t0), None);
    }

    #[test]
    fn the_oldest_entries_go_first_when_full() {
        let cache = TtlCache::new(Duration::from_secs(30), 2);
        let t0 = Instant::now();
        let later = |s| t0 + Duration::from_millis(s);
        cache.put_at("a".into(), value(1), later(0));
        cache.put_at("b".into(), value(2), later(1));
        cache.put_at("a".into(), value(3), later(2));
        cache.put_at("c".into(), value(4), later(3));
        assert_eq!(
            cache.get_at("b", later(4)),
            None,
            "b was the oldest live entry"
        );
        assert_eq!(cache.get_at("a", later(4)), Some(value(3)));
        assert_eq!(cache.get_at("c", later(4)), Some(value(4)));
        for i in 0..100 {
            cache.put_at(format!("k{}", i % 3), value(i), later(5 + i as u64));
        }
        assert!(cache.lock().order.len() <= 5, "the queue stays bounded");
        cache.clear();
        assert_eq!(cache.get_at("c", later(4)), None);
    }

    #[test]
    fn zero_capacity_or_ttl_turns_it_off() {
        for cache in [
            TtlCache::new(Duration::ZERO, 10),
            TtlCache::new(Duration::from_secs(1), 0),
        ] {
            cache.put("a".into(), value(1));
            assert_eq!(cache.get("a"), None);
        }
    }
}
