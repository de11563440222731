//! The journey file format (YAML) and its checks. A file is read into the `Raw*` structs,
//! whose names and references carry their line, then compiled into a [`Journey`]; every
//! mistake is reported as `file:line: message`.

use super::actions::Action;
use super::slots::SlotType;
use super::{Branch, Condition, Journey, Next, Step, StepKind};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Longest a journey may stay untouched before it expires, unless the file says otherwise.
pub const DEFAULT_EXPIRY_MINUTES: u32 = 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJourney {
    id: Spanned<String>,
    title: String,
    #[serde(default)]
    description: Option<String>,
    triggers: Vec<String>,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    expires_after_minutes: Option<u32>,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    // kind: ask
    #[serde(default)]
    ask: Option<String>,
    #[serde(default)]
    slot: Option<String>,
    #[serde(default, rename = "type")]
    slot_type: Option<Spanned<String>>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    options_from: Option<Spanned<String>>,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    skip_if_identified: bool,
    // kind: action
    #[serde(default)]
    action: Option<Spanned<String>>,
    #[serde(default)]
    on: BTreeMap<String, Spanned<String>>,
    // kind: branch
    #[serde(default)]
    branch: Vec<RawBranch>,
    #[serde(default, rename = "else")]
    otherwise: Option<Spanned<String>>,
    // kind: confirm
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    on_no: Option<Spanned<String>>,
    // kind: say
    #[serde(default)]
    say: Option<String>,
    // kind: handoff
    #[serde(default)]
    handoff: Option<String>,
    // common
    #[serde(default)]
    next: Option<Spanned<String>>,
    #[serde(default)]
    end: bool,
    #[serde(default)]
    experience_critical: bool,
    #[serde(default)]
    cite: Vec<String>,
    /// Slots forgotten once the step is done (to ask them again).
    #[serde(default)]
    clear: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBranch {
    slot: Spanned<String>,
    #[serde(default)]
    equals: Option<String>,
    #[serde(default, rename = "in")]
    any_of: Vec<String>,
    #[serde(default)]
    known: Option<bool>,
    goto: Spanned<String>,
}

/// A mistake in a journey file, with the line it is on (0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    pub line: u64,
    pub message: String,
}

fn at<T>(s: &Spanned<T>, message: impl Into<String>) -> Mistake {
    Mistake {
        line: s.referenced.line(),
        message: message.into(),
    }
}

/// Parses and checks one journey file's text.
pub fn compile(text: &str) -> Result<Journey, Vec<Mistake>> {
    let raw: RawJourney = serde_saphyr::from_str(text).map_err(|e| {
        let message = e.to_string();
        vec![Mistake {
            line: e.location().map_or(0, |l| l.line()),
            message: message
                .lines()
                .next()
                .unwrap_or("not valid YAML")
                .to_owned(),
        }]
    })?;
    let mut mistakes = Vec::new();
    let id = raw.id.value.trim().to_owned();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        mistakes.push(at(&raw.id, "id must be letters, digits, `-` or `_`"));
    }
    if raw.triggers.iter().all(|t| t.trim().is_empty()) {
        mistakes.push(Mistake {
            line: raw.id.referenced.line(),
            message: "a journey needs at least one trigger phrase".into(),
        });
    }
    if raw.steps.is_empty() {
        mistakes.push(at(&raw.id, "a journey needs at least one step"));
        return Err(mistakes);
    }
    let mut index = HashMap::new();
    for (i, step) in raw.steps.iter().enumerate() {
        if index.insert(step.id.value.clone(), i).is_some() {
            mistakes.push(at(
                &step.id,
                format!("duplicate step id `{}`", step.id.value),
            ));
        }
    }
    let slots = declared_slots(&raw.steps);
    let steps: Vec<Step> = raw
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let mut ctx = StepCtx {
                index: &index,
                slots: &slots,
                next_default: (i + 1 < raw.steps.len()).then_some(i + 1),
                mistakes: &mut mistakes,
            };
            ctx.step(s)
        })
        .collect();
    if mistakes.is_empty() {
        unreachable_steps(&raw.steps, &steps, &mut mistakes);
    }
    if !mistakes.is_empty() {
        mistakes.sort_by_key(|m| m.line);
        return Err(mistakes);
    }
    Ok(Journey {
        id,
        title: raw.title.trim().to_owned(),
        description: raw.description,
        triggers: raw
            .triggers
            .into_iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect(),
        examples: raw
            .examples
            .into_iter()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect(),
        expires_after: time::Duration::minutes(i64::from(
            raw.expires_after_minutes.unwrap_or(DEFAULT_EXPIRY_MINUTES),
        )),
        steps,
    })
}

/// Every slot a step of the journey can set: asked slots, and the outputs of its actions.
fn declared_slots(steps: &[RawStep]) -> HashSet<String> {
    let mut slots: HashSet<String> = ["customer.name", "customer.email"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for step in steps {
        if let Some(slot) = &step.slot {
            slots.insert(slot.clone());
        }
        if let Some(action) = step
            .action
            .as_ref()
            .and_then(|a| Action::parse(&a.value).ok())
        {
            slots.extend(action.outputs().iter().map(|s| (*s).to_owned()));
        }
    }
    slots
}

struct StepCtx<'a> {
    index: &'a HashMap<String, usize>,
    slots: &'a HashSet<String>,
    next_default: Option<usize>,
    mistakes: &'a mut Vec<Mistake>,
}

impl StepCtx<'_> {
    fn step(&mut self, s: &RawStep) -> Option<Step> {
        let kinds = [
            s.ask.is_some(),
            s.action.is_some(),
            !s.branch.is_empty(),
            s.confirm.is_some(),
            s.say.is_some(),
            s.handoff.is_some(),
        ];
        let count = kinds.iter().filter(|k| **k).count();
        if count != 1 {
            self.mistakes.push(at(
                &s.id,
                format!(
                    "step `{}` must have exactly one of ask, action, branch, confirm, say, \
                     handoff (it has {count})",
                    s.id.value
                ),
            ));
            return None;
        }
        for text in [&s.ask, &s.confirm, &s.say, &s.handoff]
            .into_iter()
            .flatten()
        {
            self.templates(&s.id, text);
        }
        let kind = self.kind(s)?;
        let next = if s.end {
            Next::End
        } else if let Some(n) = &s.next {
            Next::Step(self.target(n)?)
        } else {
            self.next_default.map_or(Next::End, Next::Step)
        };
        Some(Step {
            id: s.id.value.clone(),
            line: s.id.referenced.line(),
            kind,
            next,
            experience_critical: s.experience_critical,
            cite: s.cite.clone(),
            clear: s.clear.clone(),
        })
    }

    fn kind(&mut self, s: &RawStep) -> Option<StepKind> {
        if let Some(prompt) = &s.ask {
            return self.ask(s, prompt);
        }
        if let Some(action) = &s.action {
            let parsed = match Action::parse(&action.value) {
                Ok(a) => a,
                Err(e) => {
                    self.mistakes.push(at(action, e));
                    return None;
                }
            };
            for need in parsed.needs() {
                if !self.slots.contains(*need) {
                    self.mistakes.push(at(
                        action,
                        format!(
                            "action `{}` needs slot `{need}`, which no step asks for",
                            action.value
                        ),
                    ));
                }
            }
            let mut outcomes = HashMap::new();
            for (outcome, target) in &s.on {
                if !parsed.outcomes().contains(&outcome.as_str()) {
                    self.mistakes.push(at(
                        target,
                        format!(
                            "action `{}` has no outcome `{outcome}` (it has: {})",
                            action.value,
                            parsed.outcomes().join(", ")
                        ),
                    ));
                }
                outcomes.insert(outcome.clone(), self.target(target)?);
            }
            return Some(StepKind::Action {
                action: parsed,
                outcomes,
            });
        }
        if !s.branch.is_empty() {
            let Some(otherwise) = &s.otherwise else {
                self.mistakes.push(at(&s.id, "a branch step needs `else`"));
                return None;
            };
            let mut rules = Vec::new();
            for b in &s.branch {
                if !self.slots.contains(&b.slot.value) {
                    self.mistakes.push(at(
                        &b.slot,
                        format!("branch on slot `{}`, which no step sets", b.slot.value),
                    ));
                }
                let condition = match (&b.equals, b.any_of.is_empty(), b.known) {
                    (Some(v), true, None) => Condition::AnyOf(vec![v.clone()]),
                    (None, false, None) => Condition::AnyOf(b.any_of.clone()),
                    (None, true, Some(k)) => Condition::Known(k),
                    _ => {
                        self.mistakes.push(at(
                            &b.slot,
                            "a branch needs exactly one of `equals`, `in`, `known`",
                        ));
                        continue;
                    }
                };
                rules.push(Branch {
                    slot: b.slot.value.clone(),
                    condition,
                    goto: self.target(&b.goto)?,
                });
            }
            return Some(StepKind::Branch {
                rules,
                otherwise: self.target(otherwise)?,
            });
        }
        if let Some(prompt) = &s.confirm {
            let on_no = match &s.on_no {
                Some(t) => Some(self.target(t)?),
                None => None,
            };
            return Some(StepKind::Confirm {
                prompt: prompt.clone(),
                on_no,
            });
        }
        if let Some(text) = &s.say {
            return Some(StepKind::Say { text: text.clone() });
        }
        s.handoff
            .as_ref()
            .map(|note| StepKind::Handoff { note: note.clone() })
    }

    fn ask(&mut self, s: &RawStep, prompt: &str) -> Option<StepKind> {
        let (Some(slot), Some(ty)) = (&s.slot, &s.slot_type) else {
            self.mistakes.push(at(
                &s.id,
                format!("ask step `{}` needs `slot` and `type`", s.id.value),
            ));
            return None;
        };
        let slot_type = match SlotType::parse(&ty.value, s.pattern.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                self.mistakes.push(at(ty, e));
                return None;
            }
        };
        let is_choice = matches!(slot_type, SlotType::Choice);
        let has_options = !s.options.is_empty() || s.options_from.is_some();
        if is_choice != has_options {
            self.mistakes.push(at(
                ty,
                if is_choice {
                    "a choice needs `options` or `options_from`"
                } else {
                    "`options` only go with type `choice`"
                },
            ));
        }
        if let Some(from) = &s.options_from
            && !self.slots.contains(&from.value)
        {
            self.mistakes.push(at(
                from,
                format!("options_from slot `{}`, which no step sets", from.value),
            ));
        }
        Some(StepKind::Ask {
            prompt: prompt.to_owned(),
            slot: slot.clone(),
            slot_type,
            options: s.options.clone(),
            options_from: s.options_from.as_ref().map(|o| o.value.clone()),
            hint: s.hint.clone(),
            skip_if_identified: s.skip_if_identified,
        })
    }

    fn target(&mut self, name: &Spanned<String>) -> Option<usize> {
        let found = self.index.get(&name.value).copied();
        if found.is_none() {
            self.mistakes
                .push(at(name, format!("unknown step `{}`", name.value)));
        }
        found
    }

    /// Every `{slot}` in a text must be a slot the journey sets.
    fn templates(&mut self, step: &Spanned<String>, text: &str) {
        for name in super::template::names(text) {
            if !self.slots.contains(name) {
                self.mistakes.push(at(
                    step,
                    format!(
                        "`{{{name}}}` in step `{}` is not a slot this journey sets",
                        step.value
                    ),
                ));
            }
        }
    }
}

/// Steps no path from the first step reaches.
fn unreachable_steps(raw: &[RawStep], steps: &[Step], mistakes: &mut Vec<Mistake>) {
    let mut seen = vec![false; steps.len()];
    let mut queue = VecDeque::from([0]);
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        queue.extend(steps[i].successors());
    }
    for (i, reached) in seen.iter().enumerate() {
        if !reached {
            mistakes.push(at(
                &raw[i].id,
                format!("step `{}` can never be reached", raw[i].id.value),
            ));
        }
    }
}
