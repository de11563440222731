//! Mapping between SQLite rows and domain types. Kept apart so a PostgreSQL store can share
//! the conversions that don't depend on the database.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;
use warmline_domain::{
    Agent, AgentId, AgentRole, Channel, Conversation, ConversationId, Customer, CustomerId,
    CustomerIdentity, Disposition, DomainError, Handoff, HandoffId, HandoffStatus, Message,
    MessageId, Presence, Ticket, TicketId, TicketKind,
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

pub(crate) fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid, DomainError> {
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

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    column: &str,
) -> Result<T, DomainError> {
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
    let offered_at: Option<i64> = get(row, "offered_at")?;
    let disposition: Option<String> = get(row, "disposition")?;
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
        skill: get(row, "skill")?,
        disposition: disposition
            .map(|d| Disposition::parse(&d).ok_or_else(|| corrupt(format!("disposition {d:?}"))))
            .transpose()?,
        offered_at: offered_at.map(from_millis).transpose()?,
        created_at: from_millis(get(row, "created_at")?)?,
        accepted_at: accepted_at.map(from_millis).transpose()?,
    })
}

pub(crate) fn agent(row: &SqliteRow) -> Result<Agent, DomainError> {
    let role: String = get(row, "role")?;
    let presence: String = get(row, "presence")?;
    Ok(Agent {
        id: AgentId(uuid(row, "id")?),
        username: get(row, "username")?,
        display_name: get(row, "display_name")?,
        role: AgentRole::parse(&role).ok_or_else(|| corrupt(format!("agent role {role:?}")))?,
        skills: json(row, "skills")?,
        presence: Presence::parse(&presence)
            .ok_or_else(|| corrupt(format!("agent presence {presence:?}")))?,
    })
}

pub(crate) fn ticket(row: &SqliteRow) -> Result<Ticket, DomainError> {
    let kind: String = get(row, "kind")?;
    let handoff_id: Option<String> = get(row, "handoff_id")?;
    let closed_by: Option<String> = get(row, "closed_by")?;
    let packet: Option<String> = get(row, "packet")?;
    let closed: i64 = get(row, "closed")?;
    Ok(Ticket {
        id: TicketId(uuid(row, "id")?),
        conversation_id: ConversationId(uuid(row, "conversation_id")?),
        handoff_id: handoff_id
            .map(|h| h.parse().map(HandoffId))
            .transpose()
            .map_err(|e| corrupt(format!("handoff_id: {e}")))?,
        kind: TicketKind::parse(&kind).ok_or_else(|| corrupt(format!("ticket kind {kind:?}")))?,
        contact: get(row, "contact")?,
        text: get(row, "text")?,
        packet: packet
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(|e| corrupt(format!("ticket packet: {e}")))?,
        closed: closed != 0,
        note: get(row, "note")?,
        closed_by: closed_by
            .map(|a| a.parse().map(AgentId))
            .transpose()
            .map_err(|e| corrupt(format!("closed_by: {e}")))?,
        created_at: from_millis(get(row, "created_at")?)?,
    })
}

/// The conversation a statement's `RETURNING conversation_id` gave back.
pub(crate) fn conversation_id(row: &SqliteRow) -> Result<ConversationId, DomainError> {
    Ok(ConversationId(uuid(row, "conversation_id")?))
}
