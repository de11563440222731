//! Verified parts of a generated answer, sent while the rest is still being written.
//!
//! A channel that can show an answer as it grows (the web widget's websocket) runs the turn
//! inside [`with_drafts`]. The grounded composer then sends each generated sentence as soon
//! as it is complete *and* supported by its passages (see [`crate::grounded`]); unsupported
//! sentences are never sent. The stored reply stays the one truth: it replaces the drafts,
//! and it may differ from them (a fallback to the quoted answer when too little survived).
//! Channels that run turns outside `with_drafts` get whole answers, as before.

use std::future::Future;
use tokio::sync::mpsc;

tokio::task_local! {
    static DRAFTS: mpsc::Sender<String>;
}

/// Runs `turn` with verified sentences of a generated answer sent to `sink` as they are
/// checked. A full sink drops sentences rather than slowing the turn down.
pub async fn with_drafts<F: Future>(sink: mpsc::Sender<String>, turn: F) -> F::Output {
    DRAFTS.scope(sink, turn).await
}

/// Whether the running turn wants drafts.
pub(crate) fn wanted() -> bool {
    DRAFTS.try_with(|_| ()).is_ok()
}

/// Sends a verified sentence to the running turn's sink, if it has one.
pub(crate) fn send(sentence: &str) {
    let _ = DRAFTS.try_with(|sink| sink.try_send(sentence.to_owned()));
}
