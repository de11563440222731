//! The journey engine: starts a journey, takes the customer's answer to the step waiting for
//! one, and runs the steps that need no answer (actions, branches, messages) until the next
//! question or the end. Everything it knows lives in the customer's [`Memory`], so a turn can
//! run on any process and a journey survives restarts and channel changes.

use super::actions::{self, Action};
use super::slots::{self, Choice, SlotType};
use super::template::render;
use super::{Condition, Journey, Next, StepKind};
use serde_json::Value;
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};
use warmline_domain::crm::CrmConnector;
use warmline_domain::{ConversationId, CrmCustomerRef, JourneyProgress, Memory};

use crate::compose::TALK_TO_A_PERSON;

/// Steps one turn may run before the engine assumes the journey loops.
const MAX_STEPS_PER_TURN: usize = 32;

/// Answers not accepted at one step before the customer is offered a person.
pub const FAILURES_BEFORE_OFFER: u32 = 2;

/// Said when the customer says no at a confirmation that has no `on_no` step.
pub const NOTHING_CHANGED: &str = "OK, I haven't changed anything.";

/// Slots kept when a new journey starts (what is true of the customer, not of one task).
const LASTING_SLOTS: &[&str] = &["customer.name", "customer.email", "email"];

/// What the engine needs from outside.
pub struct Ctx<'a> {
    pub crm: Option<&'a dyn CrmConnector>,
    /// The CRM's record of the customer, when identified.
    pub customer: Option<&'a CrmCustomerRef>,
    pub conversation: ConversationId,
    pub now: OffsetDateTime,
}

impl Ctx<'_> {
    fn today(&self) -> Date {
        self.now.date()
    }
}

/// How a turn left the journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the customer's answer at a step.
    Waiting,
    /// Done (or cancelled): the memory no longer holds it.
    Finished,
    /// The journey hands the customer to a person, with this note for them.
    Handoff { note: String },
}

/// What to say to the customer after a journey turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub texts: Vec<String>,
    pub suggestions: Vec<String>,
    /// Article ids the steps said things from.
    pub cite: Vec<String>,
    pub status: Status,
    /// The answer was not accepted (wrong format, not yes or no...).
    pub rejected: bool,
}

impl Output {
    fn new() -> Self {
        Self {
            texts: Vec::new(),
            suggestions: Vec::new(),
            cite: Vec::new(),
            status: Status::Waiting,
            rejected: false,
        }
    }

    /// The reply text: the steps' messages as paragraphs.
    pub fn text(&self) -> String {
        self.texts.join("\n\n")
    }
}

/// Starts `journey`: forgets the previous task's slots, takes what the first message already
/// says (an order number, an email), and runs to the first question.
pub async fn start(
    journey: &Journey,
    memory: &mut Memory,
    first_message: &str,
    ctx: &Ctx<'_>,
) -> Output {
    memory
        .slots
        .retain(|k, _| LASTING_SLOTS.contains(&k.as_str()));
    for step in &journey.steps {
        if let StepKind::Ask {
            slot, slot_type, ..
        } = &step.kind
            && !memory.slots.contains_key(slot)
            && let Some(value) = slot_type.find_in(first_message)
        {
            memory.slots.insert(slot.clone(), value);
        }
    }
    memory.journey = Some(JourneyProgress {
        journey: journey.id.clone(),
        step: journey.steps[0].id.clone(),
        failures: 0,
        conversation: ctx.conversation,
        started_at: ctx.now,
    });
    metrics::counter!("warmline_journeys_started_total", "journey" => journey.id.clone())
        .increment(1);
    let mut out = Output::new();
    advance(journey, memory, 0, ctx, &mut out).await;
    out
}

/// Whether `text` is an answer the waiting step accepts (so it is not a side question).
pub fn accepts(journey: &Journey, memory: &Memory, text: &str, today: Date) -> bool {
    let Some((_, step)) = current(journey, memory) else {
        return false;
    };
    match &step.kind {
        StepKind::Ask {
            slot_type,
            options,
            options_from,
            ..
        } => {
            let choices = choices(options, options_from.as_deref(), &memory.slots);
            slot_type.accept(text, &choices, today).is_ok()
        }
        StepKind::Confirm { .. } => slots::yes_no(text).is_some(),
        _ => false,
    }
}

/// Takes the customer's answer to the waiting step and runs on.
pub async fn resume(journey: &Journey, memory: &mut Memory, text: &str, ctx: &Ctx<'_>) -> Output {
    let mut out = Output::new();
    let Some((index, step)) = current(journey, memory) else {
        // The journey changed under the customer (a reload removed the step): start over.
        memory.journey = None;
        return start(journey, memory, text, ctx).await;
    };
    if let Some(p) = memory.journey.as_mut() {
        p.conversation = ctx.conversation;
    }
    match &step.kind {
        StepKind::Ask {
            slot,
            slot_type,
            options,
            options_from,
            hint,
            ..
        } => {
            let choices = choices(options, options_from.as_deref(), &memory.slots);
            match slot_type.accept(text, &choices, ctx.today()) {
                Ok(value) => {
                    memory.slots.insert(slot.clone(), value);
                    go_on(journey, memory, step.next, ctx, &mut out).await;
                }
                Err(expected) => {
                    let hint = hint
                        .as_deref()
                        .map(|h| render(h, &memory.slots))
                        .unwrap_or_else(|| format!("I need {expected}."));
                    reject(journey, memory, index, hint, &mut out);
                }
            }
        }
        StepKind::Confirm { on_no, .. } => match slots::yes_no(text) {
            Some(true) => go_on(journey, memory, step.next, ctx, &mut out).await,
            Some(false) => match on_no {
                Some(n) => go_on(journey, memory, Next::Step(*n), ctx, &mut out).await,
                None => {
                    out.texts.push(NOTHING_CHANGED.into());
                    finish(journey, memory, &mut out);
                }
            },
            None => reject(
                journey,
                memory,
                index,
                "Please answer yes or no.".into(),
                &mut out,
            ),
        },
        // Only questions wait; anything else means the memory is stale: run on from here.
        _ => advance(journey, memory, index, ctx, &mut out).await,
    }
    out
}

/// The waiting step's question again (after a side question was answered).
pub fn ask_again(journey: &Journey, memory: &Memory) -> Output {
    let mut out = Output::new();
    if let Some((index, _)) = current(journey, memory) {
        prompt(journey, memory, index, &mut out);
    }
    out
}

/// Ends the journey on the customer's request.
pub fn cancel(journey: &Journey, memory: &mut Memory) -> Output {
    let mut out = Output::new();
    out.texts.push(format!(
        "OK, I've stopped \"{}\". What else can I help you with?",
        journey.title
    ));
    metrics::counter!("warmline_journeys_cancelled_total", "journey" => journey.id.clone())
        .increment(1);
    memory.journey = None;
    out.status = Status::Finished;
    out
}

fn current<'j>(journey: &'j Journey, memory: &Memory) -> Option<(usize, &'j super::Step)> {
    let progress = memory
        .journey
        .as_ref()
        .filter(|p| p.journey == journey.id)?;
    journey.step(&progress.step)
}

fn reject(journey: &Journey, memory: &mut Memory, index: usize, hint: String, out: &mut Output) {
    out.rejected = true;
    let failures = memory.journey.as_mut().map_or(1, |p| {
        p.failures += 1;
        p.failures
    });
    out.texts.push(hint);
    prompt(journey, memory, index, out);
    if failures >= FAILURES_BEFORE_OFFER {
        out.suggestions.retain(|s| s != TALK_TO_A_PERSON);
        out.suggestions.push(TALK_TO_A_PERSON.into());
    }
}

async fn go_on(
    journey: &Journey,
    memory: &mut Memory,
    next: Next,
    ctx: &Ctx<'_>,
    out: &mut Output,
) {
    match next {
        Next::Step(n) => Box::pin(advance(journey, memory, n, ctx, out)).await,
        Next::End => finish(journey, memory, out),
    }
}

fn finish(journey: &Journey, memory: &mut Memory, out: &mut Output) {
    if memory.journey.take().is_some() {
        metrics::counter!("warmline_journeys_finished_total", "journey" => journey.id.clone())
            .increment(1);
    }
    out.status = Status::Finished;
}

/// Runs from step `index` until a step waits for the customer, the journey ends or hands off.
async fn advance(
    journey: &Journey,
    memory: &mut Memory,
    mut index: usize,
    ctx: &Ctx<'_>,
    out: &mut Output,
) {
    for _ in 0..MAX_STEPS_PER_TURN {
        let step = &journey.steps[index];
        out.cite.extend(step.cite.iter().cloned());
        let next = match &step.kind {
            StepKind::Ask {
                slot,
                skip_if_identified,
                ..
            } => {
                let known = memory.slots.contains_key(slot)
                    || (*skip_if_identified && ctx.customer.is_some());
                if !known {
                    wait_at(memory, index, journey);
                    prompt(journey, memory, index, out);
                    return;
                }
                step.next
            }
            StepKind::Confirm { .. } => {
                wait_at(memory, index, journey);
                prompt(journey, memory, index, out);
                return;
            }
            StepKind::Say { text } => {
                out.texts.push(render(text, &memory.slots));
                step.next
            }
            StepKind::Handoff { note } => {
                out.status = Status::Handoff {
                    note: render(note, &memory.slots),
                };
                memory.journey = None;
                return;
            }
            StepKind::Branch { rules, otherwise } => {
                let goto = rules
                    .iter()
                    .find(|r| holds(&r.condition, memory.slots.get(&r.slot)))
                    .map_or(*otherwise, |r| r.goto);
                Next::Step(goto)
            }
            StepKind::Action { action, outcomes } => {
                let outcome = match ctx.crm {
                    Some(crm) => action.run(crm, ctx.customer, &mut memory.slots).await,
                    None => actions::UNAVAILABLE,
                };
                match outcomes.get(outcome) {
                    Some(n) => Next::Step(*n),
                    None if outcome == action.outcomes()[0] => step.next,
                    None => {
                        out.texts.push(unhandled(*action, outcome).into());
                        out.suggestions.push(TALK_TO_A_PERSON.into());
                        finish(journey, memory, out);
                        return;
                    }
                }
            }
        };
        for slot in &step.clear {
            memory.slots.remove(slot);
        }
        match next {
            Next::Step(n) => index = n,
            Next::End => {
                finish(journey, memory, out);
                return;
            }
        }
    }
    tracing::error!(journey = %journey.id, "journey ran too many steps in one turn; stopped");
    out.texts
        .push("Sorry, something went wrong on my side with this task.".into());
    out.suggestions.push(TALK_TO_A_PERSON.into());
    finish(journey, memory, out);
}

fn wait_at(memory: &mut Memory, index: usize, journey: &Journey) {
    if let Some(p) = memory.journey.as_mut() {
        let id = &journey.steps[index].id;
        if p.step != *id {
            p.step.clone_from(id);
            p.failures = 0;
        }
    }
}

/// The question of step `index`, with its buttons.
fn prompt(journey: &Journey, memory: &Memory, index: usize, out: &mut Output) {
    match &journey.steps[index].kind {
        StepKind::Ask {
            prompt,
            slot_type,
            options,
            options_from,
            ..
        } => {
            let choices = choices(options, options_from.as_deref(), &memory.slots);
            let mut text = render(prompt, &memory.slots);
            if matches!(slot_type, SlotType::Choice) && options_from.is_some() {
                // Dynamic lists are numbered too: channels without buttons answer with a digit.
                for (i, c) in choices.iter().enumerate() {
                    text.push_str(&format!("\n{}. {}", i + 1, c.label));
                }
            }
            out.texts.push(text);
            out.suggestions = slot_type.buttons(&choices);
        }
        StepKind::Confirm { prompt, .. } => {
            out.texts.push(render(prompt, &memory.slots));
            out.suggestions = vec!["Yes".into(), "No".into()];
        }
        _ => {}
    }
}

/// The options of a choice: fixed ones (value = label), or a list slot of `{value, label}`.
fn choices(options: &[String], from: Option<&str>, slots: &BTreeMap<String, Value>) -> Vec<Choice> {
    if let Some(from) = from {
        return slots
            .get(from)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| {
                        Some(Choice {
                            value: i.get("value")?.as_str()?.to_owned(),
                            label: i.get("label")?.as_str()?.to_owned(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
    }
    options
        .iter()
        .map(|o| Choice {
            value: o.clone(),
            label: o.clone(),
        })
        .collect()
}

fn holds(condition: &Condition, value: Option<&Value>) -> bool {
    match condition {
        Condition::Known(known) => value.is_some_and(|v| !v.is_null()) == *known,
        Condition::AnyOf(options) => {
            let text = match value {
                Some(Value::String(s)) => s.to_lowercase(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => other.to_string(),
                None => return false,
            };
            options.iter().any(|o| o.to_lowercase() == text)
        }
    }
}

/// What the customer is told when a journey does not say what to do on an outcome.
fn unhandled(action: Action, outcome: &str) -> &'static str {
    match (action, outcome) {
        (_, actions::UNAVAILABLE) => {
            "I can't reach our order system right now, so I can't finish this here. A person \
             can help, or you can try again in a few minutes."
        }
        (_, actions::NOT_FOUND) => {
            "I couldn't find that order for you. Please check the order number (and the email \
             address you ordered with)."
        }
        _ => "I couldn't finish this here. A person can help.",
    }
}
