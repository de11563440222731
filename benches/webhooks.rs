//! Webhook throughput per messaging channel, with signature verification: the real server
//! (port 0, temporary data dir, sample knowledge) receives signed provider webhooks, each with
//! a fresh provider message id, from concurrent clients; every accepted message is stored
//! durably (SQLite) before the answer, and the inbound and outbox workers answer in the
//! background (to a fake provider API), as in production.
//!
//! Also times the signature checks alone, beside the providers' Python SDKs (`slack_sdk`
//! SignatureVerifier, `twilio` RequestValidator) from tests/peers/.venv when present.
//!
//! Run: `cargo bench --bench webhooks` (env: WEBHOOK_REQUESTS per channel, default 3000;
//! WEBHOOK_CLIENTS, default 32; WEBHOOK_PEER_URL: also load a peer's Slack webhook, e.g.
//! benches/peers/webhook/app.py). Figures in benches/RESULTS.md.

use axum::Router;
use base64::Engine;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warmline::{HttpLimits, Settings, Warmline, app, run};
use warmline_channels::MessagingConfig;
use warmline_channels::email::EmailConfig;
use warmline_channels::messaging::OutboxConfig;
use warmline_channels::messaging::sign::hmac_sha256;
use warmline_channels::slack::{SlackConfig, signature_ok as slack_ok};
use warmline_channels::telegram::TelegramConfig;
use warmline_channels::twilio::{TwilioConfig, signature as twilio_signature};
use warmline_channels::whatsapp::{WhatsAppConfig, signature_ok as whatsapp_ok};

const SECRET: &str = "bench-secret-0123456789abcdef";

/// One prepared request: path, headers, content type, body.
struct Prepared {
    path: &'static str,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// Builds the `i`-th request of a channel.
type Maker<'a> = Box<dyn Fn(usize) -> Prepared + 'a>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

const QUESTION: &str = "How long do refunds to a credit card take?";

fn telegram(i: usize) -> Prepared {
    let chat = 1000 + i % 50;
    let body = json!({"update_id": i, "message": {"message_id": i, "date": 1_700_000_000,
        "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": false, "first_name": "Ana"},
        "text": QUESTION}});
    Prepared {
        path: "/webhooks/telegram",
        content_type: "application/json",
        headers: vec![("x-telegram-bot-api-secret-token", SECRET.to_owned())],
        body: body.to_string(),
    }
}

fn whatsapp(i: usize) -> Prepared {
    let from = format!("1650555{:04}", i % 50);
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": from}],
        "messages": [{"from": from, "id": format!("wamid.bench{i}"), "timestamp": "1749416383", "type": "text", "text": {"body": QUESTION}}]}}]}]})
        .to_string();
    let signature = format!(
        "sha256={}",
        hex::encode(hmac_sha256(SECRET.as_bytes(), &[body.as_bytes()]))
    );
    Prepared {
        path: "/webhooks/whatsapp",
        content_type: "application/json",
        headers: vec![("x-hub-signature-256", signature)],
        body,
    }
}

fn twilio(i: usize, base: &str) -> Prepared {
    let sid = format!("SMbench{i:08}");
    let from = format!("+1555123{:04}", i % 50);
    let params: Vec<(String, String)> = [
        ("AccountSid", "ACbench"),
        ("Body", QUESTION),
        ("From", &from),
        ("MessageSid", &sid),
        ("NumMedia", "0"),
        ("To", "+15559870002"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = format!("{base}/webhooks/twilio");
    Prepared {
        path: "/webhooks/twilio",
        content_type: "application/x-www-form-urlencoded",
        headers: vec![(
            "x-twilio-signature",
            twilio_signature(SECRET, &url, &params),
        )],
        body: serde_urlencoded::to_string(&params).unwrap_or_default(),
    }
}

fn slack(i: usize) -> Prepared {
    let body = json!({"type": "event_callback", "event_id": format!("Ev{i:08}"), "team_id": "T1",
        "event": {"type": "message", "channel": format!("C{:03}", i % 50), "user": "U1", "text": QUESTION,
                  "ts": format!("1515449522.{i:06}"), "channel_type": "channel"}})
    .to_string();
    let ts = now().to_string();
    let base = format!("v0:{ts}:");
    let signature = format!(
        "v0={}",
        hex::encode(hmac_sha256(
            SECRET.as_bytes(),
            &[base.as_bytes(), body.as_bytes()]
        ))
    );
    Prepared {
        path: "/webhooks/slack/events",
        content_type: "application/json",
        headers: vec![
            ("x-slack-request-timestamp", ts),
            ("x-slack-signature", signature),
        ],
        body,
    }
}

fn email(i: usize) -> Prepared {
    let body = json!({"From": format!("customer{}@mail.test", i % 50), "Subject": "Refunds",
        "MessageID": format!("bench-{i}@mail.test"), "TextBody": QUESTION, "StrippedTextReply": QUESTION,
        "Headers": [{"Name": "Message-ID", "Value": format!("<bench-{i}@mail.test>")}]})
    .to_string();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("inbound:{SECRET}"));
    Prepared {
        path: "/webhooks/email",
        content_type: "application/json",
        headers: vec![("authorization", format!("Basic {auth}"))],
        body,
    }
}

/// A provider API that accepts everything (replies go somewhere cheap).
async fn fake_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().fallback(|| async {
        axum::Json(json!({"ok": true, "result": {"message_id": 1}, "messages": [{"id": "wamid.x"}], "sid": "SMx", "ts": "1.0"}))
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn messaging(fake: &str) -> MessagingConfig {
    MessagingConfig {
        telegram: Some(TelegramConfig {
            token: "1:bench".into(),
            secret: SECRET.into(),
            api_base: fake.into(),
            rate_per_second: 10_000,
        }),
        whatsapp: Some(WhatsAppConfig {
            app_secret: SECRET.into(),
            verify_token: "v".into(),
            access_token: "t".into(),
            api_base: fake.into(),
            rate_per_second: 10_000,
        }),
        twilio: Some(TwilioConfig {
            account_sid: "ACbench".into(),
            auth_token: SECRET.into(),
            public_url: String::new(),
            api_base: fake.into(),
            rate_per_second: 10_000,
        }),
        slack: Some(SlackConfig {
            signing_secret: SECRET.into(),
            bot_token: "xoxb".into(),
            api_base: fake.into(),
            rate_per_second: 10_000,
        }),
        // SMTP to a closed port: replies wait in the outbox (not part of what is measured).
        email: Some(EmailConfig {
            webhook_secret: SECRET.into(),
            smtp_url: "smtp://127.0.0.1:9".into(),
            from: "help@shop.example".into(),
            message_id_domain: "shop.example".into(),
            rate_per_second: 10_000,
        }),
        outbox: OutboxConfig::default(),
        max_backlog: 1_000_000,
    }
}

/// Sends `requests` with `clients` concurrent connections; (requests/s, p50, p99, non-2xx).
async fn load(
    base: &str,
    requests: Vec<Prepared>,
    clients: usize,
) -> (f64, Duration, Duration, usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let queue = Arc::new(std::sync::Mutex::new(requests));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, queue, base) = (client.clone(), queue.clone(), base.to_owned());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            loop {
                let Some(p) = queue.lock().unwrap().pop() else {
                    break;
                };
                let mut request = client
                    .post(format!("{base}{}", p.path))
                    .header("content-type", p.content_type)
                    .body(p.body);
                for (k, v) in &p.headers {
                    request = request.header(*k, v);
                }
                let t = Instant::now();
                match request.send().await {
                    Ok(r) if r.status().is_success() => {}
                    _ => errors += 1,
                }
                latencies.push(t.elapsed());
            }
            (latencies, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, e) = done.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        pick(0.5),
        pick(0.99),
        errors,
    )
}

/// Signature checks per second in Rust, for a ~1 KB body.
fn verify_rates() -> Vec<(&'static str, f64)> {
    let body = "x".repeat(1000);
    let ts = now();
    let slack_sig = format!(
        "v0={}",
        hex::encode(hmac_sha256(
            SECRET.as_bytes(),
            &[format!("v0:{ts}:").as_bytes(), body.as_bytes()]
        ))
    );
    let wa_sig = format!(
        "sha256={}",
        hex::encode(hmac_sha256(SECRET.as_bytes(), &[body.as_bytes()]))
    );
    let params: Vec<(String, String)> = (0..8)
        .map(|i| (format!("Param{i}"), "v".repeat(120)))
        .collect();
    let rate = |f: &dyn Fn() -> bool| {
        let n = 100_000;
        let t = Instant::now();
        for _ in 0..n {
            assert!(std::hint::black_box(f()));
        }
        n as f64 / t.elapsed().as_secs_f64()
    };
    let tw_sig = twilio_signature(SECRET, "https://x.test/webhooks/twilio", &params);
    vec![
        (
            "slack (HMAC-SHA256, hex)",
            rate(&|| {
                slack_ok(
                    SECRET,
                    Some(&ts.to_string()),
                    Some(&slack_sig),
                    body.as_bytes(),
                    ts,
                )
            }),
        ),
        (
            "whatsapp (HMAC-SHA256, hex)",
            rate(&|| whatsapp_ok(SECRET, Some(&wa_sig), body.as_bytes())),
        ),
        (
            "twilio (HMAC-SHA1, base64, 8 params)",
            rate(&|| twilio_signature(SECRET, "https://x.test/webhooks/twilio", &params) == tw_sig),
        ),
    ]
}

/// The same checks with the providers' Python SDKs, if the peers' venv exists.
fn python_rates() -> Option<String> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/.venv/bin/python");
    let code = r#"
import time
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator
secret = "bench-secret-0123456789abcdef"
body = "x" * 1000
ts = str(int(time.time()))
v = SignatureVerifier(secret)
sig = v.generate_signature(timestamp=ts, body=body)
n = 50000
t = time.perf_counter()
for _ in range(n):
    assert v.is_valid(body=body, timestamp=ts, signature=sig)
print(f"slack_sdk SignatureVerifier.is_valid: {n / (time.perf_counter() - t):,.0f}/s")
params = {f"Param{i}": "v" * 120 for i in range(8)}
r = RequestValidator(secret)
url = "https://x.test/webhooks/twilio"
s = r.compute_signature(url, params)
t = time.perf_counter()
for _ in range(n):
    assert r.validate(url, params, s)
print(f"twilio RequestValidator.validate: {n / (time.perf_counter() - t):,.0f}/s")
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(code)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until the previous channel's messages are handled, so that each run's background
/// work is its own.
async fn drain(warmline: &Warmline) {
    use warmline_domain::ChannelStore;
    while warmline.state.store.inbound_backlog().await.unwrap_or(0) > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    let requests = env_usize("WEBHOOK_REQUESTS", 3000);
    let clients = env_usize("WEBHOOK_CLIENTS", 32);
    println!("signature checks alone (1 KB body):");
    for (name, rate) in verify_rates() {
        println!("  warmline {name}: {rate:.0}/s");
    }
    match python_rates() {
        Some(text) => text.lines().for_each(|l| println!("  {l}")),
        None => println!("  (python peers not installed: scripts/test installs tests/peers/.venv)"),
    }

    let fake = fake_provider().await;
    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = messaging(&fake);
    if let Some(t) = config.twilio.as_mut() {
        t.public_url = base.clone();
    }
    let settings = Settings {
        public_url: base.clone(),
        messaging: config,
        ..Settings::local(
            data.path(),
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge"),
        )
    };
    let warmline = Warmline::open(&settings, &mut |_, _, _| {}).await.unwrap();
    let limits = HttpLimits {
        rate_per_second: 0,
        max_in_flight: 100_000,
        ..HttpLimits::default()
    };
    let router = app(warmline.state.clone(), &limits);
    tokio::spawn(run(listener, router, std::future::pending()));

    println!(
        "\nwebhooks: {requests} signed requests per channel, {clients} clients, fresh ids \
         (each run starts with no backlog; the dialog turns run in the background)"
    );
    println!("| channel | requests/s | p50 ms | p99 ms | non-2xx |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let channels: [(&str, Maker); 5] = [
        ("telegram", Box::new(telegram)),
        ("whatsapp", Box::new(whatsapp)),
        ("twilio (sms)", Box::new(|i| twilio(i, &base))),
        ("slack", Box::new(slack)),
        ("email", Box::new(email)),
    ];
    for (name, make) in channels {
        drain(&warmline).await;
        let batch: Vec<Prepared> = (0..requests).map(|i| make(i + 1)).collect();
        let (rps, p50, p99, errors) = load(&base, batch, clients).await;
        println!(
            "| {name} | {rps:.0} | {:.2} | {:.2} | {errors} |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    // The same Slack load against a peer server, when one is given (benches/peers/webhook).
    if let Ok(peer) = std::env::var("WEBHOOK_PEER_URL") {
        drain(&warmline).await;
        let batch: Vec<Prepared> = (0..requests).map(|i| slack(i + 1)).collect();
        let (rps, p50, p99, errors) = load(peer.trim_end_matches('/'), batch, clients).await;
        println!(
            "| slack, peer at {peer} | {rps:.0} | {:.2} | {:.2} | {errors} |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    warmline.close().await;
}
