//! Live reindex: a file watcher on the knowledge folder. Changes are debounced, then the
//! folder is re-read and only articles whose content changed are re-indexed.

use crate::{KnowledgeBase, RetrievalError};
use notify::{RecursiveMode, Watcher};
use std::sync::mpsc;
use std::time::Duration;

/// Editors save in bursts (write, rename, touch): wait this long after the last event.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Keeps the watch alive. Dropping it stops watching and waits for a running re-sync to
/// finish, so the index is free for the next user when the drop returns.
pub struct WatchHandle {
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        // Dropping the watcher drops the event sender, which ends the thread's loop.
        self.watcher.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Watches `kb`'s folder and re-syncs on change. `on_sync` sees every outcome (for logging and
/// metrics).
pub fn watch(
    kb: KnowledgeBase,
    on_sync: impl Fn(Result<crate::SyncReport, RetrievalError>) + Send + 'static,
) -> Result<WatchHandle, RetrievalError> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
        {
            let _ = tx.send(());
        }
    })
    .map_err(|e| RetrievalError::Watch(e.to_string()))?;
    watcher
        .watch(kb.folder(), RecursiveMode::Recursive)
        .map_err(|e| RetrievalError::Watch(format!("{}: {e}", kb.folder().display())))?;
    let thread = std::thread::Builder::new()
        .name("warmline-kb-watch".into())
        .spawn(move || {
            // Ends when the watcher (and so the sender) is dropped.
            while rx.recv().is_ok() {
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                on_sync(kb.resync());
            }
        })
        .map_err(|e| RetrievalError::Watch(e.to_string()))?;
    Ok(WatchHandle {
        watcher: Some(watcher),
        thread: Some(thread),
    })
}
