//! Insights in the server: Prometheus gauges of the last days' figures (refreshed in the
//! background, never per scrape), and closing content gaps after each knowledge re-index.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use warmline_channels::insights::{WindowQuery, window};
use warmline_dialog::Dialog;
use warmline_dialog::insights::Insights;
use warmline_dialog::insights::summary::Summary;

/// How often the gauges are recomputed.
pub const GAUGES_EVERY: Duration = Duration::from_secs(60);
/// The window the gauges describe.
pub const GAUGE_DAYS: i64 = 7;

/// Sets the `warmline_insights_*` gauges from a summary.
pub fn set_gauges(s: &Summary) {
    let set = |name: &'static str, value: Option<f64>| {
        if let Some(v) = value {
            metrics::gauge!(name).set(v);
        }
    };
    set(
        "warmline_insights_gap_groups_open",
        Some(s.gap_groups_open as f64),
    );
    set(
        "warmline_insights_conversations",
        Some(s.conversations as f64),
    );
    set("warmline_insights_bot_resolved_ratio", s.bot_resolved.rate);
    set("warmline_insights_handed_off_ratio", s.handed_off.rate);
    set(
        "warmline_insights_durable_resolution_ratio",
        s.durable.durable.rate,
    );
    set(
        "warmline_insights_agent_wait_median_seconds",
        s.wait.median_seconds,
    );
    set("warmline_insights_csat_average", s.csat.average);
    set(
        "warmline_insights_csat_surveys",
        Some(s.csat.satisfied.denominator as f64),
    );
    set("warmline_insights_support_mean", s.support.mean);
    set(
        "warmline_insights_answers_helpful_ratio",
        s.helpfulness.rate,
    );
}

/// Recomputes the gauges every [`GAUGES_EVERY`] until `closing` turns true.
pub fn spawn_gauges(insights: Insights, durable_days: i64, mut closing: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(GAUGES_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = closing.changed() => return,
            }
            let query = WindowQuery {
                since: Some(format!("{GAUGE_DAYS}d")),
                durable_days: Some(durable_days),
            };
            let window = match window(&query, durable_days) {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "insights gauges not refreshed");
                    return;
                }
            };
            match insights
                .summary(window, warmline_domain::conversation::now())
                .await
            {
                Ok(summary) => set_gauges(&summary),
                Err(e) => tracing::warn!(error = %e, "insights gauges not refreshed"),
            }
        }
    });
}

/// After each re-index that changed something (`resynced` is notified), rechecks the open
/// content gaps; runs one recheck at a time, until `closing` turns true.
pub fn spawn_recheck(dialog: Dialog, resynced: Arc<Notify>, mut closing: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = resynced.notified() => {}
                _ = closing.changed() => return,
            }
            match dialog.recheck_gaps().await {
                Ok(closed) if !closed.is_empty() => {
                    metrics::counter!("warmline_content_gaps_closed_total")
                        .increment(closed.len() as u64);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "content gaps not rechecked"),
            }
        }
    });
}
