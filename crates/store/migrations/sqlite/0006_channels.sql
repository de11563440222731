-- Messaging channels (WhatsApp, Telegram, SMS, Slack, email). Times are unix milliseconds.

-- Every message a provider delivered, once per provider message id: retries of the same id
-- are recognised here and dropped. Rows with status 'pending' are the durable inbound queue.
CREATE TABLE channel_inbound (
    seq          INTEGER PRIMARY KEY,
    channel      TEXT NOT NULL,
    provider_id  TEXT NOT NULL,
    message      TEXT NOT NULL,               -- JSON of the normalised inbound message
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    error        TEXT,
    received_at  INTEGER NOT NULL,
    handled_at   INTEGER,
    UNIQUE (channel, provider_id)
);
CREATE INDEX channel_inbound_pending ON channel_inbound (seq) WHERE status = 'pending';

-- A provider chat (Telegram chat, phone number, Slack thread, email thread) and the
-- conversation it continues.
CREATE TABLE channel_threads (
    channel         TEXT NOT NULL,
    thread_key      TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    address         TEXT NOT NULL DEFAULT '{}',   -- JSON: what the channel needs to reply
    options         TEXT NOT NULL DEFAULT '[]',   -- JSON array: quick replies last offered
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (channel, thread_key)
);
CREATE INDEX channel_threads_by_conversation ON channel_threads (conversation_id, updated_at);

-- Provider requests waiting to be sent (and a record of those sent).
CREATE TABLE channel_outbox (
    seq                 INTEGER PRIMARY KEY,
    channel             TEXT NOT NULL,
    thread_key          TEXT NOT NULL,
    conversation_id     TEXT,
    message_id          TEXT,
    payload             TEXT NOT NULL,           -- JSON of the rendered provider request
    status              TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    last_error          TEXT,
    provider_message_id TEXT,
    delivery_status     TEXT,                    -- from the provider's status callbacks
    created_at          INTEGER NOT NULL,
    sent_at             INTEGER
);
CREATE INDEX channel_outbox_pending ON channel_outbox (channel, thread_key, seq) WHERE status = 'pending';
CREATE INDEX channel_outbox_due ON channel_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX channel_outbox_by_provider_id ON channel_outbox (channel, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
