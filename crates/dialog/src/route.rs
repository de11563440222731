//! Routing a customer message without a model: small talk (greetings, thanks, goodbyes),
//! journey commands ("cancel", "start over") and whether a message is a question. Matching
//! is on the whole message after folding case and punctuation, so "hi, where is my order?"
//! is a greeting followed by a question, not small talk.

/// Kinds of small talk, each with a short reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmallTalk {
    Greeting,
    Thanks,
    Goodbye,
    HowAreYou,
    WhoAreYou,
    Acknowledge,
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "howdy",
    "good morning",
    "good afternoon",
    "good evening",
    "hi there",
    "hello there",
    "hey there",
    "greetings",
    "yo",
    "morning",
    "evening",
];
const THANKS: &[&str] = &[
    "thanks",
    "thank you",
    "thx",
    "ty",
    "cheers",
    "many thanks",
    "thanks a lot",
    "thank you so much",
    "thanks so much",
    "great thanks",
    "perfect thanks",
    "awesome thanks",
    "ok thanks",
    "okay thanks",
    "ok thank you",
    "that helps",
    "that helped",
    "that's helpful",
    "thats helpful",
    "great thank you",
    "perfect thank you",
    "brilliant thanks",
];
const GOODBYES: &[&str] = &[
    "bye",
    "goodbye",
    "good bye",
    "bye bye",
    "see you",
    "see ya",
    "that's all",
    "thats all",
    "that is all",
    "nothing else",
    "no thats all",
    "no that's all",
    "no thanks that's all",
    "have a nice day",
    "have a good day",
    "talk later",
];
const HOW_ARE_YOU: &[&str] = &[
    "how are you",
    "how are you doing",
    "how's it going",
    "hows it going",
    "how are things",
    "how do you do",
];
const WHO_ARE_YOU: &[&str] = &[
    "who are you",
    "what are you",
    "are you a bot",
    "are you a robot",
    "are you real",
    "are you human",
    "are you a person",
    "what is your name",
    "what's your name",
    "what can you do",
    "what can you help with",
    "help",
];
const ACKNOWLEDGEMENTS: &[&str] = &[
    "ok",
    "okay",
    "k",
    "kk",
    "cool",
    "great",
    "got it",
    "alright",
    "all right",
    "perfect",
    "nice",
    "awesome",
    "understood",
    "sounds good",
    "fine",
    "good",
];

/// Words that stop the journey in progress.
const CANCEL: &[&str] = &[
    "cancel",
    "stop",
    "never mind",
    "nevermind",
    "forget it",
    "quit",
    "exit",
    "cancel that",
    "stop this",
    "i changed my mind",
    "changed my mind",
];
/// Words that start the journey in progress again from its first step.
const RESTART: &[&str] = &[
    "start over",
    "restart",
    "start again",
    "begin again",
    "from the beginning",
];

/// Lower case, apostrophes kept, other punctuation and emoji dropped, spaces collapsed.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .replace('’', "'")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The small talk the whole message is, if it is only that.
pub fn small_talk(text: &str) -> Option<SmallTalk> {
    let folded = fold(text);
    if folded.is_empty() {
        return None;
    }
    let is = |list: &[&str]| list.contains(&folded.as_str());
    // "thanks bye" and "hi how are you" read as their last part.
    let (head, tail) = split_greeting(&folded);
    if head.is_some() && !tail.is_empty() {
        return small_talk(tail);
    }
    [
        (GREETINGS, SmallTalk::Greeting),
        (THANKS, SmallTalk::Thanks),
        (GOODBYES, SmallTalk::Goodbye),
        (HOW_ARE_YOU, SmallTalk::HowAreYou),
        (WHO_ARE_YOU, SmallTalk::WhoAreYou),
        (ACKNOWLEDGEMENTS, SmallTalk::Acknowledge),
    ]
    .into_iter()
    .find(|(list, _)| is(list))
    .map(|(_, kind)| kind)
}

/// `text` without a leading greeting ("Hi, where is my order?" → "where is my order"), and
/// whether there was one.
pub fn without_greeting(text: &str) -> (bool, String) {
    let folded = fold(text);
    match split_greeting(&folded) {
        (Some(_), rest) if !rest.is_empty() => {
            // Keep the original wording (digits, order numbers) after the greeting's words.
            let words = folded.split(' ').count() - rest.split(' ').count();
            let original = text
                .split_whitespace()
                .skip(words)
                .collect::<Vec<_>>()
                .join(" ");
            (true, original)
        }
        _ => (false, text.to_owned()),
    }
}

fn split_greeting(folded: &str) -> (Option<&'static str>, &str) {
    let longest = GREETINGS
        .iter()
        .filter(|g| {
            folded == **g
                || folded
                    .strip_prefix(**g)
                    .is_some_and(|rest| rest.starts_with(' '))
        })
        .max_by_key(|g| g.len());
    match longest {
        Some(g) => (Some(*g), folded[g.len()..].trim_start()),
        None => (None, folded),
    }
}

/// What the customer wants done with the journey they are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Cancel,
    Restart,
}

pub fn command(text: &str) -> Option<Command> {
    let folded = fold(text);
    if CANCEL.contains(&folded.as_str()) {
        Some(Command::Cancel)
    } else if RESTART.contains(&folded.as_str()) {
        Some(Command::Restart)
    } else {
        None
    }
}

const QUESTION_WORDS: &[&str] = &[
    "what", "when", "where", "why", "how", "who", "which", "can", "could", "do", "does", "did",
    "is", "are", "will", "would", "should", "may", "am", "whats", "what's", "hows", "how's",
];

/// Whether the message reads as a question (a side question in the middle of a journey).
pub fn is_question(text: &str) -> bool {
    let t = text.trim();
    t.ends_with('?')
        || fold(t)
            .split(' ')
            .next()
            .is_some_and(|w| QUESTION_WORDS.contains(&w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_talk_is_the_whole_message_only() {
        assert_eq!(small_talk("Hi!"), Some(SmallTalk::Greeting));
        assert_eq!(small_talk("good morning :)"), Some(SmallTalk::Greeting));
        assert_eq!(small_talk("Thanks a lot!!"), Some(SmallTalk::Thanks));
        assert_eq!(small_talk("hi, how are you?"), Some(SmallTalk::HowAreYou));
        assert_eq!(small_talk("Are you a bot?"), Some(SmallTalk::WhoAreYou));
        assert_eq!(small_talk("that's all"), Some(SmallTalk::Goodbye));
        assert_eq!(small_talk("ok"), Some(SmallTalk::Acknowledge));
        assert_eq!(small_talk("hi where is my order"), None);
        assert_eq!(small_talk("thanks but the refund never came"), None);
        assert_eq!(small_talk("history of my orders"), None, "not `hi` + story");
    }

    #[test]
    fn a_greeting_before_a_question_is_dropped_and_the_wording_kept() {
        assert_eq!(
            without_greeting("Hello there, where is JM-204518837?"),
            (true, "where is JM-204518837?".to_owned())
        );
        assert_eq!(
            without_greeting("where is it"),
            (false, "where is it".to_owned())
        );
        assert_eq!(without_greeting("hi"), (false, "hi".to_owned()));
    }

    #[test]
    fn commands_and_questions_are_recognised() {
        assert_eq!(command("Cancel."), Some(Command::Cancel));
        assert_eq!(command("never mind"), Some(Command::Cancel));
        assert_eq!(command("Start over"), Some(Command::Restart));
        assert_eq!(command("cancel my order"), None);
        assert!(is_question("How long do refunds take"));
        assert!(is_question("refund timing?"));
        assert!(!is_question("JM-204518837"));
        assert!(!is_question("22 Elm Street"));
    }
}
