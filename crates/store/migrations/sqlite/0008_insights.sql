-- Insights: content gaps (questions the bot could not answer, grouped), answer ratings and
-- each bot reply's support score (what `messages` does not record). Times are unix ms.
-- (0007 is the knowledge editor's articles and versions, on another branch.)

-- A group of similar unanswered questions. `drafting`: an editor opened a draft article from
-- it; `closed`: after a re-index most of its questions got a supported answer (article_id).
CREATE TABLE gap_groups (
    id          INTEGER PRIMARY KEY,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'drafting', 'closed')),
    article_id  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    closed_at   INTEGER
);
CREATE INDEX gap_groups_by_status ON gap_groups (status);

-- One unanswered question, redacted (no emails, phone, order or card numbers) before storing.
CREATE TABLE gap_questions (
    seq             INTEGER PRIMARY KEY,
    group_id        INTEGER NOT NULL REFERENCES gap_groups (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      TEXT NOT NULL,            -- the customer's message
    question        TEXT NOT NULL,
    terms           TEXT NOT NULL DEFAULT '[]',  -- JSON array of stemmed content words
    embedding       BLOB,                      -- f32 little-endian, when an embedder is loaded
    reason          TEXT NOT NULL CHECK (reason IN ('no_answer', 'handoff')),
    created_at      INTEGER NOT NULL
);
CREATE INDEX gap_questions_by_group ON gap_questions (group_id, seq);
CREATE INDEX gap_questions_by_time ON gap_questions (created_at);

-- Support score of every knowledge reply (answer or no_answer), for the dashboard.
CREATE TABLE reply_scores (
    message_id      TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    support         REAL NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX reply_scores_by_time ON reply_scores (created_at);

-- A customer's rating of one bot reply: once per message (a second rating replaces it).
CREATE TABLE answer_ratings (
    message_id      TEXT PRIMARY KEY NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    helpful         INTEGER NOT NULL CHECK (helpful IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX answer_ratings_by_time ON answer_ratings (updated_at);
