//! The in-process event bus (tokio broadcast) and a conversation store that publishes every
//! message it stores, so whoever watches a conversation sees it as it happens.

use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::broadcast;
use warmline_domain::{
    Conversation, ConversationId, ConversationStore, Customer, CustomerId, CustomerIdentity,
    DomainError, Event, EventBus, Message, NewConversation, Ownership, Received, Subscription,
};

/// Events kept for slow subscribers before they start missing some.
pub const BUS_CAPACITY: usize = 4096;

/// Publish/subscribe within one process. Cheap to clone.
#[derive(Clone)]
pub struct InProcessBus {
    tx: broadcast::Sender<Event>,
}

impl InProcessBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(BUS_CAPACITY)
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, event: Event) {
        // No subscriber is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    fn subscribe(&self) -> Box<dyn Subscription> {
        Box::new(BroadcastSubscription(self.tx.subscribe()))
    }
}

struct BroadcastSubscription(broadcast::Receiver<Event>);

#[async_trait]
impl Subscription for BroadcastSubscription {
    async fn recv(&mut self) -> Received {
        match self.0.recv().await {
            Ok(event) => Received::Event(Box::new(event)),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                metrics::counter!("warmline_events_missed_total").increment(n);
                Received::Missed(n)
            }
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }
}

/// A [`ConversationStore`] that publishes each stored message as [`Event::Message`].
pub struct Publishing {
    inner: Arc<dyn ConversationStore>,
    bus: Arc<dyn EventBus>,
}

impl Publishing {
    pub fn new(inner: Arc<dyn ConversationStore>, bus: Arc<dyn EventBus>) -> Self {
        Self { inner, bus }
    }
}

#[async_trait]
impl ConversationStore for Publishing {
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, DomainError> {
        self.inner.create_conversation(new).await
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, DomainError> {
        self.inner.conversation(id).await
    }

    async fn set_ownership(
        &self,
        id: ConversationId,
        ownership: Ownership,
    ) -> Result<(), DomainError> {
        self.inner.set_ownership(id, ownership).await
    }

    async fn append_message(&self, message: &Message) -> Result<(), DomainError> {
        self.inner.append_message(message).await?;
        // Published once stored: a watcher never sees a message the store lost.
        self.bus.publish(Event::Message {
            message: message.clone(),
        });
        Ok(())
    }

    async fn messages(
        &self,
        id: ConversationId,
        limit: usize,
    ) -> Result<Vec<Message>, DomainError> {
        self.inner.messages(id, limit).await
    }

    async fn customer_for_identity(
        &self,
        identity: &CustomerIdentity,
        display_name: Option<&str>,
    ) -> Result<Customer, DomainError> {
        self.inner
            .customer_for_identity(identity, display_name)
            .await
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, DomainError> {
        self.inner.customer(id).await
    }

    async fn identities(&self, id: CustomerId) -> Result<Vec<CustomerIdentity>, DomainError> {
        self.inner.identities(id).await
    }

    async fn link_identity(
        &self,
        id: CustomerId,
        identity: &CustomerIdentity,
    ) -> Result<(), DomainError> {
        self.inner.link_identity(id, identity).await
    }

    async fn ping(&self) -> Result<(), DomainError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warmline_domain::testing::MemoryStore;
    use warmline_domain::{Channel, Role};

    #[tokio::test]
    async fn stored_messages_reach_every_subscriber_and_laggards_learn_what_they_missed() {
        let bus = Arc::new(InProcessBus::new(2));
        let store = Publishing::new(Arc::new(MemoryStore::default()), bus.clone());
        let conversation = store
            .create_conversation(NewConversation {
                channel: Channel::Api,
                locale: "en".into(),
                customer_id: None,
            })
            .await
            .unwrap();
        let mut first = bus.subscribe();
        let mut slow = bus.subscribe();
        let hello = Message::new(conversation.id, Role::Customer, "hello");
        store.append_message(&hello).await.unwrap();
        assert_eq!(
            first.recv().await,
            Received::Event(Box::new(Event::Message {
                message: hello.clone()
            }))
        );
        for n in 0..3 {
            let m = Message::new(conversation.id, Role::Customer, format!("more {n}"));
            store.append_message(&m).await.unwrap();
        }
        // Capacity 2: the slow subscriber lost the oldest two of four and is told so.
        assert_eq!(slow.recv().await, Received::Missed(2));
        let Received::Event(next) = slow.recv().await else {
            panic!("the slow subscriber goes on with the newest events");
        };
        assert!(matches!(*next, Event::Message { .. }));
    }
}
