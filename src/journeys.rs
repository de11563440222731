//! The journeys of `<knowledge>/journeys/*.yaml`: loaded at start (a file with mistakes is
//! skipped, its mistakes printed as `file:line: message`), and reloaded when the files
//! change. A reload with mistakes keeps the journeys in use, so a typo saved by an editor
//! never takes a working journey away from customers.

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use warmline_dialog::journey::{JourneyError, Journeys, Library};

/// Editors save in bursts: reload this long after the last change.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// The journeys folder of a knowledge folder.
pub fn folder(knowledge: &Path) -> PathBuf {
    knowledge.join("journeys")
}

/// Loads the journeys in `dir`; mistakes are returned beside the good journeys.
pub fn load(dir: &Path) -> (Journeys, Vec<JourneyError>) {
    let (library, errors) = Library::load_dir(dir);
    tracing::info!(
        journeys = library.journeys().len(),
        mistakes = errors.len(),
        "journeys loaded"
    );
    (Journeys::new(library), errors)
}

/// Keeps the journeys folder watched; dropping it stops the watch.
pub struct JourneyWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Reloads `journeys` from `dir` whenever a file in it changes.
pub fn watch(dir: &Path, journeys: Journeys) -> anyhow::Result<Option<JourneyWatch>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
        {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    let dir = dir.to_owned();
    std::thread::Builder::new()
        .name("warmline-journey-watch".into())
        .spawn(move || {
            // Ends when the watcher (and so the sender) is dropped.
            while rx.recv().is_ok() {
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                reload(&dir, &journeys);
            }
        })?;
    Ok(Some(JourneyWatch { _watcher: watcher }))
}

fn reload(dir: &Path, journeys: &Journeys) {
    let (library, errors) = Library::load_dir(dir);
    if errors.is_empty() {
        tracing::info!(journeys = library.journeys().len(), "journeys reloaded");
        metrics::counter!("warmline_journey_reloads_total", "result" => "ok").increment(1);
        journeys.replace(library);
        return;
    }
    for e in &errors {
        tracing::error!(file = %e.file.display(), line = e.line, problem = %e.message, "journey not reloaded");
    }
    metrics::counter!("warmline_journey_reloads_total", "result" => "error").increment(1);
}
