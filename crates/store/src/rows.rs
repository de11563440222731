//! Mapping between SQLite rows and domain types. Kept apart so a PostgreSQL store can share
//! the conversions that don't depend on the database.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;
use warmline_domain::{
    Agent, AgentId, AgentRole, Channel, Conversation, ConversationId, Customer, CustomerId,
    CustomerIdentity, DomainError, Handoff, HandoffId, HandoffStatus, Message, MessageId,
};

pub(crate) fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_millis(ms: i64) -> Result<OffsetDateTime, DomainError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| corrupt(format!("timestamp {ms}: {e}")))
}

/// A stored value that doesn't parse: the database was edited by hand or by a newer version.
pub(crate) fn corrupt(detail: String) -> DomainError {
    DomainError::internal(format!("stored data is not readable: {detail}"))
}

fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid, DomainError> {
    let text: String = get(row, column)?;
    Uuid::parse_str(&text).map_err(|e| corrupt(format!("{column} {text:?}: {e}")))
}

pub(crate) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, DomainError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column)
        .map_err(|e| corrupt(format!("column {column}: {e}")))
}

fn parsed<T: std::str::FromStr<Err = String>>(
    row: &SqliteRow,
    column: &str,
) -> Result<T, DomainError> {
    let text: String = get(row, column)?;
    text.parse().map_err(corrupt)
}

fn json<T: serde::de::DeserializeOwned>(row: &SqliteRow, column: &str) -> Result<T, DomainError> {
    let text: String = get(row, column)?;
    serde_json::from_str(&text).map_err(|e| corrupt(format!("column {column}: {e}")))
}

pub(crate) fn conversation(row: &SqliteRow) -> Result<Conversation, DomainError> {
    let customer_id: Option<String> = get(row, "customer_id")?;
    let customer_id = customer_id
        .map(|s| s.parse().map(CustomerId))
        .transpose()
        .map_err(|e| corrupt(format!("customer_id: {e}")))?;
    Ok(Conversation {
        id: ConversationId(uuid(row, "id")?),
        channel: parsed::<Channel>(row, "channel")?,
        locale: get(row, "locale")?,
        customer_id,
        ownership: parsed(row, "ownership")?,
        created_at: from_millis(get(row, "created_at")?)?,
        updated_at: from_millis(get(row, "updated_at")?)?,
    })
}

pub(crate) fn message(row: &SqliteRow) -> Result<Message, DomainError> {
    let reply_kind: Option<String> = get(row, "reply_kind")?;
    let reply_kind = reply_kind
        .map(|k| serde_json::from_value(serde_json::Value::String(k)))
        .transpose()
        .map_err(|e| corrupt(format!("reply_kind: {e}")))?;
    Ok(Message {
        id: MessageId(uuid(row, "id")?),
        conversation_id: ConversationId(uuid(row, "conversation_id")?),
        role: parsed(row, "role")?,
        text: get(row, "text")?,
        citations: json(row, "citations")?,
        reply_kind,
        suggestions: json(row, "suggestions")?,
        created_at: from_millis(get(row, "created_at")?)?,
    })
}

pub(crate) fn customer(row: &SqliteRow) -> Result<Customer, DomainError> {
    Ok(Customer {
        id: CustomerId(uuid(row, "id")?),
        display_name: get(row, "display_name")?,
        created_at: from_millis(get(row, "created_at")?)?,
    })
}

pub(crate) fn identity(row: &SqliteRow) -> Result<CustomerIdentity, DomainError> {
    Ok(CustomerIdentity {
        channel: parsed(row, "channel")?,
        external_id: get(row, "external_id")?,
    })
}

pub(crate) fn handoff(row: &SqliteRow) -> Result<Handoff, DomainError> {
    let status: String = get(row, "status")?;
    let agent_id: Option<String> = get(row, "agent_id")?;
    let accepted_at: Option<i64> = get(row, "accepted_at")?;
    Ok(Handoff {
        id: HandoffId(uuid(row, "id")?),
        conversation_id: ConversationId(uuid(row, "conversation_id")?),
        status: HandoffStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("handoff status {status:?}")))?,
        priority: get(row, "priority")?,
        packet: json(row, "packet")?,
        agent_id: agent_id
            .map(|a| a.parse().map(AgentId))
            .transpose()
            .map_err(|e| corrupt(format!("agent_id: {e}")))?,
        note: get(row, "note")?,
        created_at: from_millis(get(row, "created_at")?)?,
        accepted_at: accepted_at.map(from_millis).transpose()?,
    })
}

pub(crate) fn agent(row: &SqliteRow) -> Result<Agent, DomainError> {
    let role: String = get(row, "role")?;
    Ok(Agent {
        id: AgentId(uuid(row, "id")?),
        username: get(row, "username")?,
        display_name: get(row, "display_name")?,
        role: AgentRole::parse(&role).ok_or_else(|| corrupt(format!("agent role {role:?}")))?,
    })
}

/// The conversation a statement's `RETURNING conversation_id` gave back.
pub(crate) fn conversation_id(row: &SqliteRow) -> Result<ConversationId, DomainError> {
    Ok(ConversationId(uuid(row, "conversation_id")?))
}
