//! The metric definitions on a hand-built store (rows with controlled timestamps), read by
//! `warmline report` and by the summary API.

mod common;

use common::{run_command, warmline_command};
use std::path::Path;
use warmline_domain::InsightsStore;

const DAY: i64 = 86_400_000;

/// Six conversations over the last 20 days (times in ms before now):
/// - A: ana on web, 20 days ago, answered (support 1.0); ana comes back by SMS (B) 4 days
///   later, within 7 days: not durable;
/// - B: ana on SMS, 16 days ago, "I don't know" (support 0.2), nobody came back: durable;
/// - C: ben on web, 20 days ago, answered (0.8), never back: durable;
/// - D: anonymous API, 19 days ago, answered: not followed;
/// - E: web, 18 days ago, handed off (frustration), accepted after 90 s, survey 4 "quick and kind";
/// - F: web, 17 days ago, handed off (repeated_failure, frustration), accepted after 30 s,
///   survey 2 with a comment that looks like a formula.
async fn hand_built(data: &Path) {
    std::fs::create_dir_all(data).unwrap();
    let store = warmline_store::SqliteStore::open(&data.join("warmline.db"), Default::default())
        .await
        .unwrap();
    let db = store.writer_pool();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ago = |days: i64| now - days * DAY;
    let ids = |n: u8| format!("0190d4c8-0000-7000-8000-0000000000{n:02}");
    for (customer, name) in [(1, "ana"), (2, "ben")] {
        sqlx::query("INSERT INTO customers (id, display_name, created_at) VALUES (?, ?, ?)")
            .bind(ids(customer))
            .bind(name)
            .bind(ago(30))
            .execute(db)
            .await
            .unwrap();
    }
    // (conversation, channel, customer, days ago, reply kind, support)
    let conversations = [
        (10, "web", Some(1), 20, "answer", 1.0),
        (11, "sms", Some(1), 16, "no_answer", 0.2),
        (12, "web", Some(2), 20, "answer", 0.8),
        (13, "api", None, 19, "answer", 1.0),
        (14, "web", None, 18, "no_answer", 0.1),
        (15, "web", None, 17, "no_answer", 0.1),
    ];
    for (i, (c, channel, customer, days, kind, support)) in conversations.into_iter().enumerate() {
        let at = ago(days);
        sqlx::query(
            "INSERT INTO conversations (id, channel, locale, customer_id, ownership, created_at,
                 updated_at) VALUES (?, ?, 'en', ?, 'bot', ?, ?)",
        )
        .bind(ids(c))
        .bind(channel)
        .bind(customer.map(ids))
        .bind(at)
        .bind(at)
        .execute(db)
        .await
        .unwrap();
        for (m, role, reply_kind) in [
            (20 + 2 * i, "customer", None),
            (21 + 2 * i, "bot", Some(kind)),
        ] {
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, role, text, reply_kind, created_at)
                 VALUES (?, ?, ?, 'text', ?, ?)",
            )
            .bind(ids(m as u8))
            .bind(ids(c))
            .bind(role)
            .bind(reply_kind)
            .bind(at + 1000)
            .execute(db)
            .await
            .unwrap();
        }
        {
            sqlx::query(
                "INSERT INTO reply_scores (message_id, conversation_id, kind, support, created_at)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(ids((21 + 2 * i) as u8))
            .bind(ids(c))
            .bind(kind)
            .bind(support)
            .bind(at + 1000)
            .execute(db)
            .await
            .unwrap();
        }
    }
    // (handoff, conversation, reasons, days ago, wait s, survey)
    let handoffs = [
        (40, 14, r#"["frustration"]"#, 18, 90, 4, "quick and kind"),
        (
            41,
            15,
            r#"["repeated_failure","frustration"]"#,
            17,
            30,
            2,
            "=too slow, really",
        ),
    ];
    for (h, c, reasons, days, wait, score, comment) in handoffs {
        let at = ago(days) + 2000;
        sqlx::query(
            "INSERT INTO handoffs (id, conversation_id, status, packet, created_at, accepted_at,
                 finished_at) VALUES (?, ?, 'closed', ?, ?, ?, ?)",
        )
        .bind(ids(h))
        .bind(ids(c))
        .bind(format!(
            r#"{{"reasons":{reasons},"explanation":"","summary":"","cited":[],"unanswered":[]}}"#
        ))
        .bind(at)
        .bind(at + wait * 1000)
        .bind(at + 600_000)
        .execute(db)
        .await
        .unwrap();
        sqlx::query("UPDATE conversations SET ownership = 'closed' WHERE id = ?")
            .bind(ids(c))
            .execute(db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO surveys (conversation_id, score, comment, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(ids(c))
        .bind(score)
        .bind(comment)
        .bind(at + 700_000)
        .execute(db)
        .await
        .unwrap();
    }
    store.close().await;
}

fn line<'a>(out: &'a str, starts: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no line starting {starts:?} in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn report_prints_the_metrics_of_a_hand_built_store() {
    let data = tempfile::tempdir().unwrap();
    hand_built(data.path()).await;
    let (ok, out, err) = run_command(
        warmline_command()
            .args(["report", "--since", "30d", "--data-dir"])
            .arg(data.path()),
    );
    assert!(ok, "{err}");
    assert!(line(&out, "conversations").ends_with(" 6"), "{out}");
    assert!(line(&out, "  web").ends_with("4 of 6"), "{out}");
    assert!(
        line(&out, "bot resolved").ends_with("66.7% (4 of 6)"),
        "{out}"
    );
    assert!(
        line(&out, "handed off").ends_with("33.3% (2 of 6)"),
        "{out}"
    );
    assert!(
        line(&out, "durable (7 days)").ends_with("66.7% (2 of 3); 0 pending, 1 anonymous"),
        "{out}"
    );
    assert!(
        line(&out, "median wait for an agent").ends_with("60.00 s (of 2 accepted; 0 not accepted)"),
        "{out}"
    );
    assert!(
        line(&out, "CSAT").ends_with("3.00 average; 4-5: 50.0% (1 of 2)"),
        "{out}"
    );
    assert!(
        line(&out, "support score")
            .contains("mean 0.53, median 0.50 (of 6 knowledge replies); answered 50.0% (3 of 6)"),
        "{out}"
    );
    assert!(line(&out, "  frustration").ends_with(" 2"), "{out}");
    assert!(line(&out, "  repeated_failure").ends_with(" 1"), "{out}");
    // Comments verbatim, newest first.
    let comments = out.split("survey comments:").nth(1).unwrap();
    let first = comments.find("2/5  =too slow, really").unwrap();
    let second = comments.find("4/5  quick and kind").unwrap();
    assert!(first < second, "{out}");

    // A 30-day window: every followable resolution is still inside its days.
    let (ok, out, _) = run_command(
        warmline_command()
            .args([
                "report",
                "--since",
                "30d",
                "--durable-days",
                "30",
                "--data-dir",
            ])
            .arg(data.path()),
    );
    assert!(ok);
    assert!(
        line(&out, "durable (30 days)").ends_with("- (0 of 0); 3 pending, 1 anonymous"),
        "{out}"
    );
    // A week back sees none of it.
    let (ok, out, _) = run_command(
        warmline_command()
            .args(["report", "--since", "7d", "--data-dir"])
            .arg(data.path()),
    );
    assert!(ok);
    assert!(line(&out, "conversations").ends_with(" 0"), "{out}");
}

#[test]
fn report_explains_a_bad_window_and_a_missing_store() {
    let data = tempfile::tempdir().unwrap();
    let (ok, _, err) = run_command(
        warmline_command()
            .args(["report", "--since", "a while", "--data-dir"])
            .arg(data.path()),
    );
    assert!(!ok);
    assert!(
        err.contains("since must be a number of days or hours"),
        "{err}"
    );
    let (ok, _, err) = run_command(
        warmline_command()
            .args(["report", "--data-dir"])
            .arg(data.path().join("nothing")),
    );
    assert!(!ok);
    assert!(err.contains("no Warmline store"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_csv_export_escapes_comments_and_states_denominators() {
    let data = tempfile::tempdir().unwrap();
    hand_built(data.path()).await;
    let store = std::sync::Arc::new(
        warmline_store::SqliteStore::open(&data.path().join("warmline.db"), Default::default())
            .await
            .unwrap(),
    );
    let insights = warmline_dialog::insights::Insights::start(store.clone(), None);
    let query = warmline_channels::insights::WindowQuery {
        since: Some("30d".into()),
        durable_days: None,
    };
    let window = warmline_channels::insights::window(&query, 7).unwrap();
    let summary = insights
        .summary(window, warmline_domain::conversation::now())
        .await
        .unwrap();
    let csv = warmline_dialog::insights::export::csv(&summary);
    assert!(csv.contains("\nbot_resolved,,4,6\n"), "{csv}");
    assert!(csv.contains("\nhandoff_reasons,frustration,2,2\n"), "{csv}");
    assert!(csv.contains("\nmedian_wait_seconds,,60.0000,2\n"), "{csv}");
    assert!(csv.contains(",\"'=too slow, really\","), "{csv}");
    assert_eq!(store.gap_groups(None, 10, 1).await.unwrap().len(), 0);
    store.close().await;
}
