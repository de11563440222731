//! Logs (tracing) and metrics (Prometheus exporter). Libraries only use the `metrics` and
//! `tracing` facades; this is where they are installed.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global tracing subscriber. `RUST_LOG` overrides the default level.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tantivy=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Latency buckets in seconds: sub-millisecond retrieval up to slow generation.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The process-wide Prometheus recorder (installed on first use; several servers in one
/// process, as in tests, share it).
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed: then our handle still renders
            // (an empty page) and nothing crashes.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "warmline_http_requests_total",
        "HTTP requests by route and status"
    );
    describe_histogram!(
        "warmline_http_request_duration_seconds",
        "HTTP request latency by route"
    );
    describe_counter!(
        "warmline_turns_total",
        "customer turns answered, by outcome (answer | no_answer)"
    );
    describe_histogram!(
        "warmline_turn_duration_seconds",
        "time to answer a customer turn"
    );
    describe_histogram!(
        "warmline_retrieval_duration_seconds",
        "knowledge search latency"
    );
    describe_counter!(
        "warmline_conversations_started_total",
        "conversations opened, by channel"
    );
    describe_counter!(
        "warmline_rate_limited_total",
        "requests refused by the per-client rate limit or the in-flight limit"
    );
    describe_gauge!(
        "warmline_knowledge_passages",
        "passages in the search index"
    );
    describe_gauge!("warmline_knowledge_articles", "articles loaded");
    describe_gauge!(
        "warmline_knowledge_problems",
        "article files that could not be used"
    );
    describe_counter!(
        "warmline_knowledge_syncs_total",
        "index syncs after file changes, by result"
    );
}
