-- Warmline store, SQLite schema v1.
-- Times are unix milliseconds (UTC). Ids are UUIDv7 strings.

CREATE TABLE customers (
    id           TEXT PRIMARY KEY NOT NULL,
    display_name TEXT,
    created_at   INTEGER NOT NULL
);

-- How each channel knows a customer. One identity belongs to exactly one customer.
CREATE TABLE customer_identities (
    channel     TEXT NOT NULL,
    external_id TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX customer_identities_by_customer ON customer_identities (customer_id);

-- updated_at changes with ownership; a conversation's last activity is its newest message,
-- read through messages_by_conversation (not written per message: that would rewrite a
-- random conversations page on every commit).
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY NOT NULL,
    channel     TEXT NOT NULL,
    locale      TEXT NOT NULL,
    customer_id TEXT REFERENCES customers (id),
    ownership   TEXT NOT NULL DEFAULT 'bot'
                CHECK (ownership IN ('bot', 'queued', 'human', 'closed')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX conversations_by_customer ON conversations (customer_id, updated_at);

CREATE TABLE messages (
    -- rowid alias: insertion order (no AUTOINCREMENT: it rewrites sqlite_sequence per commit)
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('customer', 'bot', 'agent', 'system')),
    text            TEXT NOT NULL,
    citations       TEXT NOT NULL DEFAULT '[]',  -- JSON array of citations
    reply_kind      TEXT,                        -- bot replies: answer | no_answer
    suggestions     TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    created_at      INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
