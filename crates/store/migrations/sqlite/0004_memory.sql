-- What the dialog manager remembers between turns (journey progress and slots), per customer
-- (`crm:<reference>` or `customer:<uuid>`) or per anonymous conversation (`conversation:<uuid>`),
-- as JSON.

CREATE TABLE memories (
    key        TEXT PRIMARY KEY NOT NULL,
    state      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
