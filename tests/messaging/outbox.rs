//! The outbox: a provider outage loses nothing (delivered once it is back, also across a
//! restart), `Retry-After` is honoured, and a provider's rate limit is kept.

use crate::fake::{Fake, Mode};
use crate::telegram::{send_update, telegram, update};
use crate::{config, eventually, serve};
use std::time::Duration;
use warmline_domain::ChannelStore;

fn answers(fake: &Fake) -> usize {
    fake.served()
        .iter()
        .filter(|r| r.path.ends_with("/sendMessage"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_loses_nothing_even_across_a_restart() {
    let fake = Fake::start().await;
    fake.set_mode(Mode::Down);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.telegram = Some(telegram(&fake));
    let server = serve(dir.path(), cfg.clone()).await;
    let question = update(
        3001,
        "message",
        "How long do refunds to a credit card take?",
    );
    assert_eq!(
        send_update(&server.base, &question, Some("webhook_secret-1"))
            .await
            .status(),
        200
    );
    // The provider fails: retried with backoff, kept pending.
    eventually("a few failed attempts", async || {
        (fake.failed() >= 3).then_some(())
    })
    .await;
    let counts = server.warmline.state.store.outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.sent), (1, 0), "{counts:?}");
    server.stop().await;

    // The provider comes back while we are down; the restarted server delivers, once.
    fake.set_mode(Mode::Ok);
    let server = serve(dir.path(), cfg).await;
    eventually("the delivery after the restart", async || {
        (answers(&fake) == 1).then_some(())
    })
    .await;
    let sent = fake.served()[0].json();
    assert!(
        sent["text"].as_str().unwrap().contains("3–5 business days"),
        "{sent}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(answers(&fake), 1);
    let counts = server.warmline.state.store.outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.sent), (0, 1), "{counts:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_the_rate_limit_kept() {
    let fake = Fake::start().await;
    fake.set_mode(Mode::RateLimited);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    let mut tg = telegram(&fake);
    tg.rate_per_second = 4;
    cfg.telegram = Some(tg);
    let server = serve(dir.path(), cfg).await;
    let question = update(4001, "message", "what are your store hours?");
    send_update(&server.base, &question, Some("webhook_secret-1")).await;
    eventually("the 429", async || (fake.failed() >= 1).then_some(())).await;
    let limited_at = std::time::Instant::now();
    fake.set_mode(Mode::Ok);
    eventually("the delivery", async || (answers(&fake) == 1).then_some(())).await;
    // Retry-After: 1 (the quick test backoff alone would retry after 50 ms).
    assert!(
        limited_at.elapsed() >= Duration::from_millis(800),
        "{:?}",
        limited_at.elapsed()
    );

    // 12 chats at once, 4 sends per second: at least 2 s from the first send to the last.
    let start = fake.served().len();
    for chat in 0..12 {
        let body = update(5000 + chat, "message", "what are your store hours?")
            .replace("4242", &(10_000 + chat).to_string());
        send_update(&server.base, &body, Some("webhook_secret-1")).await;
    }
    let sent = eventually("12 answers", async || {
        let all = fake.served();
        (all.len() >= start + 12).then(|| all[start..].to_vec())
    })
    .await;
    let span = sent.last().unwrap().at - sent[0].at;
    assert!(
        span >= Duration::from_millis(1900),
        "12 sends in {span:?} at 4 per second"
    );
    server.stop().await;
}
