-- Routing handoffs: agents' skills and presence, the skill a handoff needs, how it ended,
-- and tickets (callbacks and messages left when nobody could take the conversation).

ALTER TABLE agents ADD COLUMN skills TEXT NOT NULL DEFAULT '[]';   -- JSON array of names
ALTER TABLE agents ADD COLUMN presence TEXT NOT NULL DEFAULT 'offline'
    CHECK (presence IN ('online', 'away', 'offline'));

ALTER TABLE handoffs ADD COLUMN skill TEXT;
ALTER TABLE handoffs ADD COLUMN disposition TEXT
    CHECK (disposition IN ('resolved', 'follow_up', 'not_resolved', 'ticket'));
ALTER TABLE handoffs ADD COLUMN offered_at INTEGER;
CREATE INDEX handoffs_agent_open ON handoffs (agent_id) WHERE status = 'assigned';

CREATE TABLE tickets (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    handoff_id      TEXT REFERENCES handoffs (id),
    kind            TEXT NOT NULL CHECK (kind IN ('callback', 'message')),
    contact         TEXT,
    text            TEXT NOT NULL,
    packet          TEXT,            -- JSON HandoffPacket of the handoff, when there was one
    closed          INTEGER NOT NULL DEFAULT 0,
    note            TEXT,
    closed_by       TEXT REFERENCES agents (id),
    created_at      INTEGER NOT NULL,
    closed_at       INTEGER
);
CREATE INDEX tickets_open ON tickets (closed, created_at);
