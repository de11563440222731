//! One subscriber to the event bus for all the widget's sockets, handing each event only to
//! the sockets of its conversation. (A bus subscription per socket would wake and copy every
//! event for every socket: with 1,000 customers talking, a million deliveries for a thousand
//! messages.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::mpsc;
use warmline_domain::{ConversationId, Event, EventBus, Received};

/// Events queued for one socket before it counts as behind (and re-reads the transcript).
const QUEUED: usize = 256;

/// What a socket gets from the hub.
#[derive(Debug)]
pub enum Delivery {
    /// A message stored in, or a handoff change of, the socket's conversation.
    Event(Box<Event>),
    /// Events were lost: re-read the conversation.
    Missed,
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Delivery>,
    missed: Arc<AtomicBool>,
}

/// Routes bus events to sockets by conversation.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<HashMap<ConversationId, Vec<Subscriber>>>,
    next: AtomicU64,
    started: OnceLock<()>,
}

/// A socket's registration; dropping it unregisters.
pub struct Registration {
    hub: Arc<Hub>,
    conversation: ConversationId,
    id: u64,
    pub rx: mpsc::Receiver<Delivery>,
    missed: Arc<AtomicBool>,
}

impl Registration {
    /// Whether events were dropped since the last call (the socket was too slow).
    pub fn take_missed(&self) -> bool {
        self.missed.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut subscribers = self.hub.lock();
        if let Some(list) = subscribers.get_mut(&self.conversation) {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                subscribers.remove(&self.conversation);
            }
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationId, Vec<Subscriber>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Events of `conversation` from now on. Starts the hub's bus subscriber the first time
    /// (it must run inside the tokio runtime).
    pub fn register(
        self: &Arc<Self>,
        bus: &Arc<dyn EventBus>,
        conversation: ConversationId,
    ) -> Registration {
        self.started.get_or_init(|| {
            let hub = Arc::downgrade(self);
            let mut events = bus.subscribe();
            tokio::spawn(async move {
                loop {
                    let received = events.recv().await;
                    let Some(hub) = hub.upgrade() else { break };
                    match received {
                        Received::Event(event) => hub.route(event),
                        Received::Missed(_) => hub.all_missed(),
                        // The sockets see their channel close and end.
                        Received::Closed => {
                            hub.lock().clear();
                            break;
                        }
                    }
                }
            });
        });
        let (tx, rx) = mpsc::channel(QUEUED);
        let missed = Arc::new(AtomicBool::new(false));
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(conversation)
            .or_default()
            .push(Subscriber {
                id,
                tx,
                missed: missed.clone(),
            });
        Registration {
            hub: self.clone(),
            conversation,
            id,
            rx,
            missed,
        }
    }

    fn route(&self, event: Box<Event>) {
        let conversation = match &*event {
            Event::Message { message } => message.conversation_id,
            Event::Handoff { handoff } => handoff.conversation_id,
            Event::Presence { .. } | Event::Ticket { .. } => return,
        };
        let subscribers = self.lock();
        let Some(list) = subscribers.get(&conversation) else {
            return;
        };
        for s in list {
            if s.tx.try_send(Delivery::Event(event.clone())).is_err() {
                s.missed.store(true, Ordering::Release);
            }
        }
    }

    fn all_missed(&self) {
        for s in self.lock().values().flatten() {
            if s.tx.try_send(Delivery::Missed).is_err() {
                s.missed.store(true, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warmline_domain::{Message, Role};

    struct Bus(tokio::sync::broadcast::Sender<Event>);

    struct Sub(tokio::sync::broadcast::Receiver<Event>);

    #[async_trait::async_trait]
    impl warmline_domain::Subscription for Sub {
        async fn recv(&mut self) -> Received {
            match self.0.recv().await {
                Ok(e) => Received::Event(Box::new(e)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => Received::Missed(n),
                Err(_) => Received::Closed,
            }
        }
    }

    impl EventBus for Bus {
        fn publish(&self, event: Event) {
            let _ = self.0.send(event);
        }
        fn subscribe(&self) -> Box<dyn warmline_domain::Subscription> {
            Box::new(Sub(self.0.subscribe()))
        }
    }

    #[tokio::test]
    async fn each_socket_gets_its_own_conversations_events_only() {
        let bus: Arc<dyn EventBus> = Arc::new(Bus(tokio::sync::broadcast::channel(16).0));
        let hub = Arc::new(Hub::default());
        let (a, b) = (ConversationId::new(), ConversationId::new());
        let mut first = hub.register(&bus, a);
        let mut second = hub.register(&bus, b);
        let said = |c| Event::Message {
            message: Message::new(c, Role::Customer, "hi"),
        };
        bus.publish(said(a));
        bus.publish(said(b));
        for (registration, conversation) in [(&mut first, a), (&mut second, b)] {
            match registration.rx.recv().await {
                Some(Delivery::Event(e)) => match *e {
                    Event::Message { message } => assert_eq!(message.conversation_id, conversation),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
            assert!(registration.rx.try_recv().is_err(), "nothing else");
        }
        drop(second);
        assert!(!hub.lock().contains_key(&b), "unregistered");
        assert!(hub.lock().contains_key(&a));
    }
}
