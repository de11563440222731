-- no-transaction
-- The knowledge editor: editor and admin accounts, articles with every saved version, API
-- tokens, and when each article was last retrieved.
--
-- SQLite cannot change a CHECK constraint, so `agents` is rebuilt (SQLite's documented
-- procedure: foreign keys off, copy, drop, rename, check, foreign keys on). That needs
-- foreign keys off, which only works outside a transaction: this migration runs its own.

PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE agents_new (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'editor', 'admin')),
    password_hash TEXT NOT NULL,   -- PHC string (argon2id)
    created_at    INTEGER NOT NULL,
    skills        TEXT NOT NULL DEFAULT '[]',   -- JSON array of names
    presence      TEXT NOT NULL DEFAULT 'offline'
        CHECK (presence IN ('online', 'away', 'offline'))
);
INSERT INTO agents_new (id, username, display_name, role, password_hash, created_at, skills,
                        presence)
    SELECT id, username, display_name, role, password_hash, created_at, skills, presence
    FROM agents;
DROP TABLE agents;
ALTER TABLE agents_new RENAME TO agents;

CREATE TABLE articles (
    id                TEXT PRIMARY KEY NOT NULL,
    title             TEXT NOT NULL,
    locale            TEXT NOT NULL,
    tags              TEXT NOT NULL DEFAULT '[]',   -- JSON array
    status            TEXT NOT NULL
        CHECK (status IN ('draft', 'in_review', 'published', 'archived')),
    version           INTEGER NOT NULL,             -- the latest version
    published_version INTEGER,                      -- the version customers are answered from
    updated_by        TEXT NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE article_versions (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    content    TEXT NOT NULL,    -- the whole Markdown file, front matter included
    author     TEXT NOT NULL,
    note       TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (article_id, version)
);

-- Tokens for automation, by the SHA-256 of the token (the token itself is shown once).
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'editor', 'admin')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);

-- One row per article: how often and when it was last among a customer answer's passages.
CREATE TABLE article_retrievals (
    article_id     TEXT PRIMARY KEY NOT NULL,
    retrievals     INTEGER NOT NULL DEFAULT 0,
    last_retrieved INTEGER NOT NULL
);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
