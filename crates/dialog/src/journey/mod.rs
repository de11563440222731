//! Journeys: guided flows declared in YAML files (`knowledge/journeys/*.yaml`) that walk a
//! customer through a task step by step, the way a good tax program guides a filer.
//!
//! - [`spec`]: the file format and its load-time checks (unknown step, missing slot,
//!   unreachable step...), reported as `file:line: message`.
//! - [`slots`]: slot types (email, order number, date, choice, yes/no...) and how answers
//!   are checked and normalised.
//! - [`actions`]: CRM actions a step can take (look up an order, check a return, change an
//!   address) and their outcomes.
//! - [`run`]: the engine: advances a customer's [`JourneyProgress`] through the steps.
//! - [`template`]: `{slot}` placeholders in the texts.
//! - [`similar`]: starting a journey by meaning (embeddings of its examples).
//!
//! A [`Library`] holds every loaded journey; [`Journeys`] shares one that can be swapped
//! when the files change, without a restart.
//!
//! [`JourneyProgress`]: warmline_domain::JourneyProgress

pub mod actions;
pub mod run;
pub mod similar;
pub mod slots;
pub mod spec;
pub mod template;

use crate::moments::pattern::{Classes, Pattern};
use crate::moments::text::tokens;
use actions::Action;
use slots::SlotType;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// One guided flow.
#[derive(Debug, Clone)]
pub struct Journey {
    pub id: String,
    /// What the customer sees on its quick-reply button ("Track an order").
    pub title: String,
    pub description: Option<String>,
    /// Phrase patterns that start the journey (the moments policy's pattern language).
    pub triggers: Vec<String>,
    /// How customers ask for it, in their words: with embeddings, a message close enough to
    /// one starts the journey when no trigger matched.
    pub examples: Vec<String>,
    /// How long the journey may wait for the customer before it expires.
    pub expires_after: time::Duration,
    /// In file order; the first step is where the journey starts.
    pub steps: Vec<Step>,
}

/// One step of a journey.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// Line of the step in its file.
    pub line: u64,
    pub kind: StepKind,
    pub next: Next,
    /// The moment-of-truth detector treats a customer at this step as a moment of truth.
    pub experience_critical: bool,
    /// Article ids the step's text is based on; cited with the reply.
    pub cite: Vec<String>,
    /// Slots forgotten once the step is done, so a later step asks them again.
    pub clear: Vec<String>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// Asks for a slot and waits for a valid answer.
    Ask {
        prompt: String,
        slot: String,
        slot_type: SlotType,
        options: Vec<String>,
        options_from: Option<String>,
        hint: Option<String>,
        /// Skipped when the customer is identified (their CRM record answers it).
        skip_if_identified: bool,
    },
    /// Calls the CRM; `outcomes` maps outcome names to steps (success goes to `next`).
    Action {
        action: Action,
        outcomes: HashMap<String, usize>,
    },
    /// Goes to the first rule's step whose condition holds, else to `otherwise`.
    Branch {
        rules: Vec<Branch>,
        otherwise: usize,
    },
    /// Asks yes/no before a change; yes goes on, no goes to `on_no` (or ends unchanged).
    Confirm {
        prompt: String,
        on_no: Option<usize>,
    },
    /// Tells the customer something and goes on.
    Say { text: String },
    /// Hands the customer to a person, with a note for them (the journey ends).
    Handoff { note: String },
}

/// One rule of a branch step.
#[derive(Debug, Clone)]
pub struct Branch {
    pub slot: String,
    pub condition: Condition,
    pub goto: usize,
}

#[derive(Debug, Clone)]
pub enum Condition {
    /// The slot's value (as text; `true`/`false` for yes/no) is one of these.
    AnyOf(Vec<String>),
    /// The slot is set (`true`) or not (`false`).
    Known(bool),
}

/// Where a step goes when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Step(usize),
    End,
}

impl Step {
    /// Steps this one can lead to.
    fn successors(&self) -> Vec<usize> {
        let mut out = Vec::new();
        if let Next::Step(n) = self.next {
            out.push(n);
        }
        match &self.kind {
            StepKind::Action { outcomes, .. } => out.extend(outcomes.values()),
            StepKind::Branch { rules, otherwise } => {
                out.extend(rules.iter().map(|r| r.goto));
                out.push(*otherwise);
            }
            StepKind::Confirm { on_no: Some(n), .. } => out.push(*n),
            _ => {}
        }
        out
    }
}

impl Journey {
    pub fn step(&self, id: &str) -> Option<(usize, &Step)> {
        self.steps.iter().enumerate().find(|(_, s)| s.id == id)
    }
}

/// A mistake in a journey file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyError {
    pub file: PathBuf,
    /// 0 when the mistake has no line (an unreadable file).
    pub line: u64,
    pub message: String,
}

impl fmt::Display for JourneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

impl std::error::Error for JourneyError {}

/// Every loaded journey, with their trigger patterns compiled.
#[derive(Debug, Default)]
pub struct Library {
    journeys: Vec<Arc<Journey>>,
    triggers: Vec<(usize, Pattern)>,
}

impl Library {
    /// Loads every `*.yaml` / `*.yml` file directly in `dir` (sorted by name). A file with
    /// mistakes is left out and its mistakes returned; the others still load. A missing
    /// directory is an empty library.
    pub fn load_dir(dir: &Path) -> (Self, Vec<JourneyError>) {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => sources.push((file, text)),
                Err(e) => errors.push(JourneyError {
                    file,
                    line: 0,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        let (library, more) = Self::from_sources(&sources);
        errors.extend(more);
        (library, errors)
    }

    /// Compiles journeys from `(file name, text)` pairs; see [`Library::load_dir`].
    pub fn from_sources(sources: &[(PathBuf, String)]) -> (Self, Vec<JourneyError>) {
        let mut library = Self::default();
        let mut errors = Vec::new();
        let classes = Classes::new();
        for (file, text) in sources {
            let err = |line, message: String| JourneyError {
                file: file.clone(),
                line,
                message,
            };
            let journey = match spec::compile(text) {
                Ok(j) => j,
                Err(mistakes) => {
                    errors.extend(mistakes.into_iter().map(|m| err(m.line, m.message)));
                    continue;
                }
            };
            if library.get(&journey.id).is_some() {
                errors.push(err(
                    1,
                    format!("journey id `{}` is used by another file", journey.id),
                ));
                continue;
            }
            let mut patterns = Vec::new();
            for t in &journey.triggers {
                match Pattern::compile(t, &classes) {
                    Ok(p) => patterns.push(p),
                    Err(e) => errors.push(err(line_of(text, t), format!("trigger {t:?}: {e}"))),
                }
            }
            if patterns.len() != journey.triggers.len() {
                continue;
            }
            let index = library.journeys.len();
            library
                .triggers
                .extend(patterns.into_iter().map(|p| (index, p)));
            library.journeys.push(Arc::new(journey));
        }
        (library, errors)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Journey>> {
        self.journeys.iter().find(|j| j.id == id)
    }

    pub fn journeys(&self) -> &[Arc<Journey>] {
        &self.journeys
    }

    pub fn is_empty(&self) -> bool {
        self.journeys.is_empty()
    }

    /// The journey `text` asks for: its title typed (or clicked) exactly, else the journey
    /// with the longest trigger match (the first in file order on a tie).
    pub fn triggered_by(&self, text: &str) -> Option<&Arc<Journey>> {
        let folded = crate::route::fold(text);
        if let Some(j) = self
            .journeys
            .iter()
            .find(|j| crate::route::fold(&j.title) == folded)
        {
            return Some(j);
        }
        let toks = tokens(text);
        self.triggers
            .iter()
            .filter_map(|(i, p)| {
                let longest = p.find(&toks).iter().map(|(s, e)| e - s).max()?;
                Some((longest, std::cmp::Reverse(*i)))
            })
            .max()
            .map(|(_, std::cmp::Reverse(i))| &self.journeys[i])
    }
}

/// The first line of `text` containing `needle` (for errors in lists of plain strings).
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i as u64 + 1)
}

/// The journeys in use, swappable at run time (file changes reload them without a restart).
#[derive(Clone, Default)]
pub struct Journeys {
    current: Arc<RwLock<Arc<Library>>>,
}

impl Journeys {
    pub fn new(library: Library) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(library))),
        }
    }

    /// The library as it is now.
    pub fn get(&self) -> Arc<Library> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the library; conversations in a journey that no longer exists leave it.
    pub fn replace(&self, library: Library) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(library);
    }
}

#[cfg(test)]
mod tests;
