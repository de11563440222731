//! Turn latency of the dialog manager as the server runs it (SQLite store, sample knowledge
//! base, moments detector, built-in CRM with the sample customers, sample journeys), one
//! customer at a time: a knowledge answer (retrieval only, no model) against a journey step
//! that only asks, and one that looks the order up in the CRM.
//!
//! Run: `cargo bench --bench dialog` (figures in benches/RESULTS.md).

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;
use std::time::{Duration, Instant};
use warmline::{Settings, Warmline};
use warmline_dialog::{Dialog, Start};
use warmline_domain::{Channel, ConversationId};

async fn open(data: &Path) -> Warmline {
    let knowledge = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let settings = Settings::local(data, &knowledge);
    let warmline = Warmline::open(&settings, &mut |_, _, _| {})
        .await
        .expect("the sample opens");
    warmline_crm::import::import(warmline.state.store.writer_pool(), &knowledge.join("crm"))
        .await
        .expect("the sample CRM imports");
    warmline
}

async fn conversation(dialog: &Dialog, before: &[&str]) -> ConversationId {
    let conv = dialog
        .start(Start {
            channel: Channel::Web,
            ..Start::default()
        })
        .await
        .unwrap();
    for text in before {
        dialog.handle(conv.id, text).await.unwrap();
    }
    conv.id
}

/// Times only `text`, said after `before` in a fresh conversation each iteration.
async fn timed(dialog: &Dialog, before: &[&str], text: &str, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let conv = conversation(dialog, before).await;
        let started = Instant::now();
        let turn = dialog.handle(conv, text).await.unwrap();
        total += started.elapsed();
        assert!(turn.reply.is_some());
    }
    total
}

fn turns(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let warmline = rt.block_on(open(data.path()));
    let dialog = warmline.state.dialog.clone();
    let mut group = c.benchmark_group("turn");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("knowledge_answer", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| timed(&dialog, &[], "How long do refunds take?", iters));
    });
    group.bench_function("journey_step_ask", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| timed(&dialog, &["where is my order"], "JM-204518837", iters));
    });
    group.bench_function("journey_step_crm_lookup", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            timed(
                &dialog,
                &["where is my order", "JM-204518837"],
                "maya.thompson@example.com",
                iters,
            )
        });
    });
    group.finish();
    rt.block_on(warmline.state.store.close());
}

criterion_group!(benches, turns);
criterion_main!(benches);
