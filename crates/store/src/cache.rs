//! Conversations read on every turn are kept in memory. Safe because one Warmline process
//! owns a SQLite file (the data dir is locked by the search index), so every change to a
//! conversation goes through this store and updates the cached copy too.

use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;
use warmline_domain::{Conversation, ConversationId, Ownership};

/// Most conversations kept; past this the cache starts over (reads then refill it).
const CAPACITY: usize = 50_000;

#[derive(Debug, Default)]
pub(crate) struct ConversationCache {
    inner: Mutex<HashMap<ConversationId, Conversation>>,
}

impl ConversationCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationId, Conversation>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, id: ConversationId) -> Option<Conversation> {
        self.lock().get(&id).cloned()
    }

    pub(crate) fn put(&self, conversation: &Conversation) {
        let mut map = self.lock();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(conversation.id, conversation.clone());
    }

    pub(crate) fn touch(&self, id: ConversationId, at: OffsetDateTime) {
        if let Some(c) = self.lock().get_mut(&id) {
            c.updated_at = c.updated_at.max(at);
        }
    }

    pub(crate) fn set_ownership(
        &self,
        id: ConversationId,
        ownership: Ownership,
        at: OffsetDateTime,
    ) {
        if let Some(c) = self.lock().get_mut(&id) {
            c.ownership = ownership;
            c.updated_at = at;
        }
    }
}
