-- Warmline store, SQLite schema v2: the built-in CRM (warmline_crm::BuiltinCrm).
-- Times are unix milliseconds (UTC); money is in cents with an ISO 4217 currency code.
-- Rows come from `warmline_crm::import`, keyed by the business's own keys (crm_key, order
-- number, case id) so a re-import updates them in place.

-- What the CRM knows about a customer of `customers`. A customer without a profile was only
-- met in conversations: the CRM doesn't know them.
CREATE TABLE customer_profiles (
    customer_id          TEXT PRIMARY KEY NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    crm_key              TEXT NOT NULL UNIQUE,
    name                 TEXT,
    tier                 TEXT,
    language             TEXT,
    membership           TEXT,
    marketing_email      INTEGER NOT NULL DEFAULT 0 CHECK (marketing_email IN (0, 1)),
    marketing_sms        INTEGER NOT NULL DEFAULT 0 CHECK (marketing_sms IN (0, 1)),
    lifetime_value_cents INTEGER,
    currency             TEXT,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE orders (
    number            TEXT PRIMARY KEY NOT NULL,
    -- NULL for guest orders: they are found by number + the email they were placed with.
    customer_id       TEXT REFERENCES customers (id) ON DELETE SET NULL,
    email             TEXT,
    status            TEXT NOT NULL CHECK (status IN ('received', 'processing', 'shipped',
                          'out_for_delivery', 'delivered', 'ready_for_pickup', 'picked_up',
                          'cancelled', 'returned')),
    placed_at         INTEGER NOT NULL,
    delivered_at      INTEGER,
    total_cents       INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    ship_name         TEXT,
    ship_line1        TEXT,
    ship_line2        TEXT,
    ship_city         TEXT,
    ship_region       TEXT,
    ship_postal_code  TEXT,
    ship_country      TEXT,
    tracking_carrier  TEXT,
    tracking_number   TEXT,
    tracking_url      TEXT,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX orders_by_customer ON orders (customer_id, placed_at);

CREATE TABLE order_items (
    order_number TEXT NOT NULL REFERENCES orders (number) ON DELETE CASCADE,
    line         INTEGER NOT NULL,
    sku          TEXT NOT NULL,
    name         TEXT NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    price_cents  INTEGER NOT NULL,
    category     TEXT,
    final_sale   INTEGER NOT NULL DEFAULT 0 CHECK (final_sale IN (0, 1)),
    PRIMARY KEY (order_number, line),
    UNIQUE (order_number, sku)
);

CREATE TABLE cases (
    id          TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    status      TEXT NOT NULL,
    opened_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX cases_by_customer ON cases (customer_id, opened_at);
