-- Handoffs to people, agent accounts and their sessions.

CREATE TABLE agents (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('agent', 'supervisor')),
    password_hash TEXT NOT NULL,   -- PHC string (argon2id)
    created_at    INTEGER NOT NULL
);

-- Sessions by the SHA-256 of their bearer token: a leaked database holds no usable token.
-- last_seen: the session's latest request; agents seen recently count as online.
CREATE TABLE agent_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);

CREATE TABLE handoffs (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'assigned', 'returned', 'closed')),
    priority        INTEGER NOT NULL DEFAULT 0,
    packet          TEXT NOT NULL,   -- JSON HandoffPacket
    agent_id        TEXT REFERENCES agents (id),
    note            TEXT,
    created_at      INTEGER NOT NULL,
    accepted_at     INTEGER,
    finished_at     INTEGER
);
-- At most one open handoff per conversation.
CREATE UNIQUE INDEX handoffs_open_per_conversation ON handoffs (conversation_id)
    WHERE status IN ('queued', 'assigned');
CREATE INDEX handoffs_queue ON handoffs (status, priority DESC, created_at);
CREATE INDEX handoffs_accepted ON handoffs (accepted_at) WHERE accepted_at IS NOT NULL;

-- The satisfaction survey after a conversation with people ends: one per conversation.
CREATE TABLE surveys (
    conversation_id TEXT PRIMARY KEY NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    score           INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment         TEXT,
    created_at      INTEGER NOT NULL
);
