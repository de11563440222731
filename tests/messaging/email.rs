//! Email: a parsed-email JSON webhook (Postmark's inbound shape) with Basic auth, replies over
//! SMTP to a tiny SMTP server run by the test, threaded by Message-ID / In-Reply-To /
//! References; an SMTP outage is retried.

use crate::{config, eventually, post, serve};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use warmline_channels::email::EmailConfig;
use warmline_domain::{Channel, ChannelStore, ConversationStore, Role};

/// A minimal SMTP server: accepts every message and keeps its DATA; with `refuse` set it
/// answers 451 (a temporary failure) to MAIL FROM.
#[derive(Clone, Default)]
struct Smtp {
    mails: Arc<Mutex<Vec<String>>>,
    refuse: Arc<std::sync::atomic::AtomicBool>,
}

impl Smtp {
    async fn start() -> (Self, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let smtp = Self::default();
        let s = smtp.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                tokio::spawn(s.clone().session(socket));
            }
        });
        (smtp, port)
    }

    async fn session(self, socket: tokio::net::TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 test ESMTP\r\n").await.unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let answer: &[u8] = match verb.as_str() {
                "EHLO" | "HELO" => b"250-test\r\n250 8BITMIME\r\n",
                "MAIL" if self.refuse.load(std::sync::atomic::Ordering::SeqCst) => {
                    b"451 try again later\r\n"
                }
                "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await.unwrap();
                    let mut data = String::new();
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                        data.push_str(&l);
                        data.push('\n');
                    }
                    self.mails.lock().unwrap().push(data);
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    return;
                }
                _ => b"502 not implemented\r\n",
            };
            write.write_all(answer).await.unwrap();
        }
    }

    fn mails(&self) -> Vec<String> {
        self.mails.lock().unwrap().clone()
    }
}

fn basic(secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("inbound:{secret}"))
    )
}

/// A parsed email as Postmark's inbound webhook posts it.
fn parsed(id: &str, in_reply_to: Option<&str>, references: &str, text: &str) -> Value {
    let mut headers = vec![json!({"Name": "Message-ID", "Value": id})];
    if let Some(parent) = in_reply_to {
        headers.push(json!({"Name": "In-Reply-To", "Value": parent}));
    }
    if !references.is_empty() {
        headers.push(json!({"Name": "References", "Value": references}));
    }
    json!({
        "FromName": "Postmarkapp Support",
        "MessageStream": "inbound",
        "From": "support@postmarkapp.com",
        "FromFull": {"Email": "support@postmarkapp.com", "Name": "Postmarkapp Support", "MailboxHash": ""},
        "To": "\"Help\" <help@shop.example>",
        "Subject": "Refund question",
        "MessageID": id.trim_matches(['<', '>']),
        "Date": "Fri, 1 Aug 2025 16:45:32 -04:00",
        "TextBody": format!("{text}\n\nOn Monday, someone wrote:\n> quoted"),
        "StrippedTextReply": text,
        "Headers": headers,
        "Attachments": []
    })
}

async fn send(base: &str, auth: &str, body: &Value) -> u16 {
    post(
        &format!("{base}/webhooks/email"),
        "application/json",
        &[("authorization", auth)],
        body.to_string(),
    )
    .await
    .status()
    .as_u16()
}

/// The mail with its quoted-printable encoding undone (soft breaks and `=XX` bytes).
fn quoted_printable(mail: &str) -> String {
    let joined = mail.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn header<'a>(mail: &'a str, name: &str) -> &'a str {
    mail.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_replies_over_smtp_in_the_same_thread() {
    let (smtp, port) = Smtp::start().await;
    smtp.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.email = Some(EmailConfig {
        webhook_secret: "mail-secret".into(),
        smtp_url: format!("smtp://127.0.0.1:{port}"),
        from: "Help <help@shop.example>".into(),
        message_id_domain: "shop.example".into(),
        rate_per_second: 50,
    });
    let server = serve(dir.path(), cfg).await;
    let store = server.warmline.state.store.clone();

    let first = parsed(
        "<first@mail.test>",
        None,
        "",
        "How long do refunds to a credit card take?",
    );
    assert_eq!(send(&server.base, &basic("wrong"), &first).await, 401);
    assert_eq!(send(&server.base, "", &first).await, 401);
    assert_eq!(send(&server.base, &basic("mail-secret"), &first).await, 200);
    assert_eq!(send(&server.base, &basic("mail-secret"), &first).await, 200);

    // The SMTP server refuses for now (451): the reply waits in the outbox, then goes out.
    eventually("a refused attempt", async || {
        let counts = store.outbox_counts().await.unwrap();
        let row: Option<i64> = sqlx::query_scalar("SELECT attempts FROM channel_outbox LIMIT 1")
            .fetch_optional(store.reader_pool())
            .await
            .unwrap();
        (counts.pending == 1 && row.unwrap_or(0) >= 1).then_some(())
    })
    .await;
    smtp.refuse
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let mail = eventually("the reply", async || smtp.mails().into_iter().next()).await;
    assert!(
        header(&mail, "To").contains("support@postmarkapp.com"),
        "{mail}"
    );
    assert_eq!(header(&mail, "Subject"), "Re: Refund question");
    assert_eq!(header(&mail, "In-Reply-To"), "<first@mail.test>");
    assert!(
        quoted_printable(&mail).contains("3–5 business days"),
        "{mail}"
    );
    let ours = header(&mail, "Message-ID").to_owned();
    assert!(ours.ends_with("@shop.example>"), "{mail}");

    // The customer answers our reply (their client keeps only In-Reply-To): same conversation.
    let second = parsed("<second@mail.test>", Some(&ours), "", "And to a gift card?");
    assert_eq!(
        send(&server.base, &basic("mail-secret"), &second).await,
        200
    );
    let mail = eventually("the second reply", async || smtp.mails().into_iter().nth(1)).await;
    assert_eq!(header(&mail, "In-Reply-To"), "<second@mail.test>");
    let thread = store
        .thread(Channel::Email, "<first@mail.test>")
        .await
        .unwrap()
        .unwrap();
    let said: Vec<String> = store
        .messages(thread.conversation_id, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Customer)
        .map(|m| m.text)
        .collect();
    assert_eq!(
        said,
        [
            "How long do refunds to a credit card take?",
            "And to a gift card?"
        ]
    );
    assert_eq!(smtp.mails().len(), 2, "each email answered once");
    server.stop().await;
}
