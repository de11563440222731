//! In-memory fakes of the boundary traits, so the dialog manager and the HTTP layer are
//! tested without databases, indexes or models. Enabled by the `testing` feature.

use crate::conversation::{
    Conversation, Customer, CustomerIdentity, Message, NewConversation, Ownership,
};
use crate::error::{DomainError, ErrorCode};
use crate::ids::{ConversationId, CustomerId};
use crate::knowledge::{KnowledgeSearch, QueryTerm, SearchHit, SearchQuery, SearchResult};
use crate::memory::{Memories, MemoryKey};
use crate::store::ConversationStore;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

mod crm;
pub use crm::MemoryCrm;

/// A [`ConversationStore`] in a mutex. Can be told to fail, to test outage handling.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    conversations: HashMap<ConversationId, Conversation>,
    messages: Vec<Message>,
    customers: HashMap<CustomerId, Customer>,
    identities: HashMap<CustomerIdentity, CustomerId>,
    memories: HashMap<MemoryKey, crate::memory::Memory>,
    failing: bool,
}

impl MemoryStore {
    /// From now on every call fails with `Unavailable` (or works again with `false`).
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// Every stored message, in order.
    pub fn all_messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self) -> Result<std::sync::MutexGuard<'_, Memory>, DomainError> {
        let guard = self.lock();
        if guard.failing {
            return Err(DomainError::unavailable("store is down (test)"));
        }
        Ok(guard)
    }
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, DomainError> {
        let now = crate::conversation::now();
        let conversation = Conversation {
            id: ConversationId::new(),
            channel: new.channel,
            locale: new.locale,
            customer_id: new.customer_id,
            ownership: Ownership::Bot,
            created_at: now,
            updated_at: now,
        };
        self.check()?
            .conversations
            .insert(conversation.id, conversation.clone());
        Ok(conversation)
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, DomainError> {
        Ok(self.check()?.conversations.get(&id).cloned())
    }

    async fn set_ownership(
        &self,
        id: ConversationId,
        ownership: Ownership,
    ) -> Result<(), DomainError> {
        let mut m = self.check()?;
        let c = m
            .conversations
            .get_mut(&id)
            .ok_or_else(|| DomainError::not_found("no such conversation"))?;
        c.ownership = ownership;
        Ok(())
    }

    async fn append_message(&self, message: &Message) -> Result<(), DomainError> {
        let mut m = self.check()?;
        if !m.conversations.contains_key(&message.conversation_id) {
            return Err(DomainError::not_found("no such conversation"));
        }
        m.messages.push(message.clone());
        Ok(())
    }

    async fn messages(
        &self,
        id: ConversationId,
        limit: usize,
    ) -> Result<Vec<Message>, DomainError> {
        let m = self.check()?;
        let all: Vec<Message> = m
            .messages
            .iter()
            .filter(|x| x.conversation_id == id)
            .cloned()
            .collect();
        Ok(all[all.len().saturating_sub(limit)..].to_vec())
    }

    async fn customer_for_identity(
        &self,
        identity: &CustomerIdentity,
        display_name: Option<&str>,
    ) -> Result<Customer, DomainError> {
        let mut m = self.check()?;
        if let Some(id) = m.identities.get(identity) {
            return Ok(m.customers[id].clone());
        }
        let customer = Customer {
            id: CustomerId::new(),
            display_name: display_name.map(str::to_owned),
            created_at: crate::conversation::now(),
        };
        m.identities.insert(identity.clone(), customer.id);
        m.customers.insert(customer.id, customer.clone());
        Ok(customer)
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, DomainError> {
        Ok(self.check()?.customers.get(&id).cloned())
    }

    async fn identities(&self, id: CustomerId) -> Result<Vec<CustomerIdentity>, DomainError> {
        let m = self.check()?;
        Ok(m.identities
            .iter()
            .filter(|(_, c)| **c == id)
            .map(|(i, _)| i.clone())
            .collect())
    }

    async fn link_identity(
        &self,
        id: CustomerId,
        identity: &CustomerIdentity,
    ) -> Result<(), DomainError> {
        let mut m = self.check()?;
        match m.identities.get(identity) {
            Some(owner) if *owner != id => Err(DomainError::new(
                ErrorCode::Conflict,
                "this identity belongs to another customer",
            )),
            _ => {
                m.identities.insert(identity.clone(), id);
                Ok(())
            }
        }
    }

    async fn ping(&self) -> Result<(), DomainError> {
        self.check().map(|_| ())
    }
}

#[async_trait]
impl Memories for MemoryStore {
    async fn recall(&self, key: MemoryKey) -> Result<Option<crate::memory::Memory>, DomainError> {
        Ok(self.check()?.memories.get(&key).cloned())
    }

    async fn remember(
        &self,
        key: MemoryKey,
        memory: &crate::memory::Memory,
    ) -> Result<(), DomainError> {
        self.check()?.memories.insert(key, memory.clone());
        Ok(())
    }
}

/// A [`KnowledgeSearch`] over fixed passages: a passage matches when it shares a word with the
/// question; words are lowercased and split on non-alphanumerics, with no stemming.
pub struct FixedKnowledge {
    pub passages: Vec<SearchHit>,
}

impl FixedKnowledge {
    /// One passage per `(article_id, title, text)`.
    pub fn new(passages: &[(&str, &str, &str)]) -> Self {
        Self {
            passages: passages
                .iter()
                .map(|(id, title, text)| SearchHit {
                    article_id: (*id).into(),
                    title: (*title).into(),
                    heading: String::new(),
                    url: format!("/kb/{id}"),
                    text: (*text).into(),
                    snippet: (*text).into(),
                    score: 0.0,
                    position: 0,
                    similarity: None,
                })
                .collect(),
        }
    }
}

fn words(text: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "the", "and", "you", "your", "can", "how", "what", "when", "where", "does",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2 && !STOP.contains(&w.to_lowercase().as_str()))
        .map(str::to_lowercase)
        .collect()
}

#[async_trait]
impl KnowledgeSearch for FixedKnowledge {
    async fn search(&self, query: &SearchQuery) -> Result<SearchResult, DomainError> {
        let terms: Vec<QueryTerm> = words(&query.text)
            .into_iter()
            .map(|w| {
                let known = self
                    .passages
                    .iter()
                    .any(|p| words(&format!("{} {}", p.title, p.text)).contains(&w));
                QueryTerm {
                    original: w.clone(),
                    term: w,
                    idf: if known { 1.0 } else { 3.0 },
                    known,
                }
            })
            .collect();
        let mut hits: Vec<SearchHit> = self
            .passages
            .iter()
            .filter_map(|p| {
                let have = words(&format!("{} {}", p.title, p.text));
                let shared = terms.iter().filter(|t| have.contains(&t.term)).count();
                (shared > 0).then(|| SearchHit {
                    score: shared as f32,
                    ..p.clone()
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(query.limit);
        Ok(SearchResult {
            hits,
            terms,
            embedding: None,
        })
    }

    fn analyze(&self, text: &str) -> Vec<String> {
        words(text)
    }

    /// Fixed passages are all English.
    fn has_locale(&self, locale: &str) -> bool {
        locale == "en"
    }
}
