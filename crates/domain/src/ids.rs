//! Typed identifiers. All are UUIDv7 (time-ordered), so ids sort by creation time and index
//! well in a B-tree.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies one conversation.
    ConversationId
);
id_type!(
    /// Identifies one message within a conversation.
    MessageId
);
id_type!(
    /// Identifies one customer, whatever channel they use.
    CustomerId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings_and_sort_by_creation() {
        let a = ConversationId::new();
        let b = ConversationId::new();
        assert!(a < b, "uuid v7 ids are time-ordered");
        assert_eq!(a, a.to_string().parse().unwrap());
        assert!("not-a-uuid".parse::<ConversationId>().is_err());
    }
}
id_type!(
    /// Identifies one handoff of a conversation to people.
    HandoffId
);
id_type!(
    /// Identifies one agent or supervisor.
    AgentId
);
id_type!(
    /// Identifies one ticket: a callback request or a message left for people.
    TicketId
);
