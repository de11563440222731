//! An explicit request for a person: "can I talk to someone", "agent please", "representative".
//! Not curiosity ("are you a human?"), not a report of the past ("an agent told me..."), not a
//! refusal ("I don't want to talk to anyone").

use super::super::lexicon::{EXPLICIT, EXPLICIT_EXCEPT, NEGATION_WINDOW, NEGATORS};
use super::super::pattern::{Classes, Pattern};
use super::super::policy::raw::RawExplicit;
use super::super::text::Token;
use super::{compile_all, preceded_by, spans_without};

#[derive(Debug, Clone)]
pub(crate) struct ExplicitRules {
    patterns: Vec<Pattern>,
    except: Vec<Pattern>,
}

impl ExplicitRules {
    pub(crate) fn build(raw: &RawExplicit, classes: &Classes) -> Result<Self, (String, String)> {
        let mut patterns = compile_all(EXPLICIT, classes, "(built-in) explicit")?;
        patterns.extend(compile_all(&raw.add, classes, "explicit.add")?);
        let mut except = compile_all(EXPLICIT_EXCEPT, classes, "(built-in) explicit except")?;
        except.extend(compile_all(&raw.except, classes, "explicit.except")?);
        Ok(Self { patterns, except })
    }

    /// Whether the message asks for a person (and doesn't negate the request).
    pub(crate) fn asks_for_person(&self, tokens: &[Token]) -> bool {
        spans_without(tokens, &self.patterns, &self.except)
            .0
            .into_iter()
            .any(|(start, _)| !preceded_by(tokens, start, NEGATION_WINDOW, NEGATORS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moments::policy::builtin_classes;
    use crate::moments::text::tokens;

    fn asks(text: &str) -> bool {
        let rules = ExplicitRules::build(&RawExplicit::default(), &builtin_classes()).unwrap();
        rules.asks_for_person(&tokens(text))
    }

    #[test]
    fn requests_in_many_shapes() {
        for text in [
            "can I please speak to someone",
            "Agent.",
            "real person",
            "get me a manager",
            "transfer me to customer support",
            "I would like to talk to a human",
            "have someone ring me",
            "is there someone real who can help",
            "just get me off this bot",
            "need live support please",
        ] {
            assert!(asks(text), "{text}");
        }
    }

    #[test]
    fn curiosity_reports_and_refusals_are_not_requests() {
        for text in [
            "are you a real person?",
            "the agent I talked to said it ships monday",
            "I don't want to speak to anyone, just the hours please",
            "she said she would call me back",
            "ok talk to you later",
            "do you sell travel agent guides",
            "what are your live support hours",
        ] {
            assert!(!asks(text), "{text}");
        }
    }
}
