//! The detector's debug log carries reason codes and scores, never the customer's words.
//! Its own test binary: the subscriber is process-wide, and nothing else runs beside it.

use std::sync::{Arc, Mutex};
use warmline_dialog::moments::{Context, Detector, Policy};
use warmline_domain::Channel;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_debug_log_has_codes_and_scores_but_no_customer_text() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let detector = Detector::new(Policy::default(), None);
    let decision = detector.assess_phrases(&Context::new(
        "I want to sue you, my name is Jane Doe",
        Channel::Web,
    ));
    assert!(decision.escalate);
    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("reasons=high_stakes:legal") && log.contains("escalate=true"),
        "{log}"
    );
    assert!(log.contains("score=2"), "{log}");
    assert!(!log.contains("Jane") && !log.contains("sue you"), "{log}");
}
