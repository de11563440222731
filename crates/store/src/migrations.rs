//! Migrations are embedded in the binary, so a deployed server needs no migrations folder and
//! the build needs no database (we avoid sqlx's compile-time macros on purpose).

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

/// (version, description, SQL) of each SQLite migration, oldest first. Never edit a shipped
/// one: add a new file instead (sqlx refuses to start on a changed checksum).
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (2, "crm", include_str!("../migrations/sqlite/0002_crm.sql")),
    (
        3,
        "handoffs",
        include_str!("../migrations/sqlite/0003_handoffs.sql"),
    ),
    (
        4,
        "memory",
        include_str!("../migrations/sqlite/0004_memory.sql"),
    ),
    (
        5,
        "routing",
        include_str!("../migrations/sqlite/0005_routing.sql"),
    ),
    (
        6,
        "channels",
        include_str!("../migrations/sqlite/0006_channels.sql"),
    ),
    (
        7,
        "articles",
        include_str!("../migrations/sqlite/0007_articles.sql"),
    ),
    (
        8,
        "insights",
        include_str!("../migrations/sqlite/0008_insights.sql"),
    ),
];

/// Migrations that run their own transaction (they must change pragmas outside one): the
/// first line of their SQL says `-- no-transaction`.
fn no_transaction(sql: &str) -> bool {
    sql.lines()
        .next()
        .is_some_and(|l| l.trim() == "-- no-transaction")
}

pub(crate) fn sqlite() -> Migrator {
    let migrations = SQLITE
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                no_transaction(sql),
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}
