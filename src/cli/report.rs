//! `warmline report`: the dashboard's summary as a table in the terminal, read from the data
//! dir's store.

use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use warmline_channels::insights::{WindowQuery, window};
use warmline_dialog::insights::Insights;
use warmline_dialog::insights::summary::{Ratio, Summary};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// How far back: `7d`, `24h` (at most 366d).
    #[arg(long, env = "WARMLINE_REPORT_SINCE", default_value = "7d")]
    pub since: String,

    /// Days without a new contact from the same customer, on any channel, for a bot
    /// resolution to count as durable (1 to 90).
    #[arg(long, env = "WARMLINE_DURABLE_DAYS", default_value_t = crate::DURABLE_DAYS)]
    pub durable_days: i64,

    #[arg(long, env = "WARMLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let window = window(
        &WindowQuery {
            since: Some(args.since.clone()),
            durable_days: Some(args.durable_days),
        },
        args.durable_days,
    )
    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let db = args.data_dir.join("warmline.db");
    anyhow::ensure!(
        db.is_file(),
        "no Warmline store in {} (run `warmline serve` first, or pass --data-dir)",
        args.data_dir.display()
    );
    let store = Arc::new(
        warmline_store::SqliteStore::open(&db, warmline_store::Durability::Process).await?,
    );
    let insights = Insights::start(store.clone(), None);
    let summary = insights
        .summary(window, warmline_domain::conversation::now())
        .await;
    store.close().await;
    say!("{}", render(&summary?, &args.since));
    Ok(())
}

fn ratio(r: &Ratio) -> String {
    match r.rate {
        Some(rate) => format!("{:.1}% ({} of {})", rate * 100.0, r.count, r.denominator),
        None => format!("- (0 of {})", r.denominator),
    }
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map(|v| format!("{v:.2}{unit}"))
        .unwrap_or_else(|| "-".into())
}

/// The summary as an aligned two-column table, then the lists.
pub fn render(s: &Summary, since: &str) -> String {
    let mut rows: Vec<(String, String)> = vec![
        (
            "window".into(),
            format!("last {since} ({} to {})", s.since.date(), s.until.date()),
        ),
        ("conversations".into(), s.conversations.to_string()),
    ];
    for (channel, n) in &s.by_channel {
        rows.push((
            format!("  {channel}"),
            format!("{n} of {}", s.conversations),
        ));
    }
    rows.push(("bot resolved".into(), ratio(&s.bot_resolved)));
    rows.push(("handed off".into(), ratio(&s.handed_off)));
    rows.push((
        format!("durable ({} days)", s.durable.days),
        format!(
            "{}; {} pending, {} anonymous",
            ratio(&s.durable.durable),
            s.durable.pending,
            s.durable.anonymous
        ),
    ));
    rows.push((
        "median wait for an agent".into(),
        format!(
            "{} (of {} accepted; {} not accepted)",
            opt(s.wait.median_seconds, " s"),
            s.wait.accepted,
            s.wait.not_accepted
        ),
    ));
    rows.push((
        "CSAT".into(),
        format!(
            "{} average; 4-5: {}",
            opt(s.csat.average, ""),
            ratio(&s.csat.satisfied)
        ),
    ));
    rows.push((
        "support score".into(),
        format!(
            "mean {}, median {} (of {} knowledge replies); answered {}",
            opt(s.support.mean, ""),
            opt(s.support.median, ""),
            s.support.replies,
            ratio(&s.support.answered)
        ),
    ));
    rows.push(("rated helpful".into(), ratio(&s.helpfulness)));
    rows.push(("open content gaps".into(), s.gap_groups_open.to_string()));
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in &rows {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    if !s.handoff_reasons.is_empty() {
        let _ = writeln!(out, "\nhandoff reasons (of {} handoffs):", s.handoffs);
        for r in &s.handoff_reasons {
            let _ = writeln!(out, "  {:<28} {}", r.reason, r.handoffs);
        }
    }
    if !s.top_gaps.is_empty() {
        let _ = writeln!(out, "\ntop content gaps:");
        for g in &s.top_gaps {
            let q = g.samples.first().map(|q| q.question.as_str()).unwrap_or("");
            let _ = writeln!(out, "  #{:<4} {:>4} asked  {q}", g.id, g.count);
        }
    }
    if !s.csat.comments.is_empty() {
        let _ = writeln!(out, "\nsurvey comments:");
        for c in &s.csat.comments {
            let comment = c.comment.as_deref().unwrap_or("").replace('\n', " ");
            let _ = writeln!(out, "  {} {}/5  {comment}", c.at.date(), c.score);
        }
    }
    let _ = writeln!(out, "\ndefinitions:");
    for (name, text) in warmline_dialog::insights::summary::DEFINITIONS {
        let _ = writeln!(out, "  {name}: {text}");
    }
    out.truncate(out.trim_end().len());
    out
}
