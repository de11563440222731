//! The phrase patterns of the policy file and the built-in lexicons.
//!
//! A pattern is a sequence of elements separated by spaces, matched against a message's
//! normalised, stemmed words:
//!
//! - `word` matches the word in any form the stemmer joins (`charge` matches "charged");
//!   `=word` matches that exact form only (`=locked` does not match "lock").
//! - `a|b|c` matches any alternative; `_` joins several words into one alternative
//!   (`someone_else|wrong_person`).
//! - `@class` matches any member of a word class (`@relative`: mom, dad, late husband...).
//! - a trailing `?` makes an element optional (`got|was?`).
//! - `*` skips up to 3 words, `**` up to 8. Only a gap reaches across a full stop: words
//!   next to each other in a pattern are next to each other in one sentence ("my wife
//!   passed. The card..." is not "passed the").
//! - `^` at the start and `$` at the end anchor the pattern to the message's start or end.
//! - `a & b` (patterns joined by `&`) matches when every part matches somewhere.

use super::text::{Token, tokens};
use std::collections::BTreeMap;

/// Words a `*` may skip.
const SHORT_GAP: usize = 3;
/// Words a `**` may skip.
const LONG_GAP: usize = 8;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    parts: Vec<Sequence>,
}

#[derive(Debug, Clone)]
struct Sequence {
    at_start: bool,
    at_end: bool,
    elements: Vec<Element>,
}

#[derive(Debug, Clone)]
enum Element {
    /// Alternatives, each a run of words; optional ones may be skipped.
    Words {
        options: Vec<Vec<Word>>,
        optional: bool,
    },
    Gap(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Word {
    Stem(String),
    Exact(String),
}

impl Word {
    fn matches(&self, token: &Token) -> bool {
        match self {
            Self::Stem(s) => *s == token.stem || typo(s, &token.stem),
            Self::Exact(r) => *r == token.raw || typo(r, &token.raw),
        }
    }
}

/// Shortest pattern word a typo is forgiven in (shorter ones meet real words: "widow"
/// is "window" less a letter).
const TYPO_MIN_LEN: usize = 6;

/// Whether `typed` is `word` with one letter dropped, added, or two neighbours swapped
/// ("acount", "stollen", "agnet"). Substitutions are not forgiven: they join real words
/// ("charge"/"change", "locked"/"looked").
fn typo(word: &str, typed: &str) -> bool {
    let (w, t) = (word.as_bytes(), typed.as_bytes());
    if w.len() < TYPO_MIN_LEN || w.len().abs_diff(t.len()) > 1 || !typed.is_ascii() {
        return false;
    }
    let prefix = w.iter().zip(t).take_while(|(a, b)| a == b).count();
    match w.len().cmp(&t.len()) {
        std::cmp::Ordering::Greater => w[prefix + 1..] == t[prefix..],
        std::cmp::Ordering::Less => w[prefix..] == t[prefix + 1..],
        std::cmp::Ordering::Equal => {
            prefix + 2 <= w.len()
                && w[prefix] == t[prefix + 1]
                && w[prefix + 1] == t[prefix]
                && w[prefix + 2..] == t[prefix + 2..]
        }
    }
}

/// Word classes by name (without the `@`).
pub(crate) type Classes = BTreeMap<String, Vec<String>>;

/// Where a pattern matched: token positions `start..end`.
pub(crate) type Span = (usize, usize);

impl Pattern {
    /// Compiles `source`; the error says what is wrong with it.
    pub(crate) fn compile(source: &str, classes: &Classes) -> Result<Self, String> {
        let parts = source
            .split('&')
            .map(|part| compile_sequence(part.trim(), classes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { parts })
    }

    /// Every place the pattern matches (for a conjunction: the places of its first part,
    /// when all the others match somewhere too).
    pub(crate) fn find(&self, tokens: &[Token]) -> Vec<Span> {
        let Some((first, rest)) = self.parts.split_first() else {
            return Vec::new();
        };
        if rest.iter().any(|p| p.find(tokens).is_empty()) {
            return Vec::new();
        }
        first.find(tokens)
    }
}

fn compile_sequence(source: &str, classes: &Classes) -> Result<Sequence, String> {
    let mut words: Vec<&str> = source.split_whitespace().collect();
    let at_start = words.first() == Some(&"^");
    if at_start {
        words.remove(0);
    }
    let at_end = words.last() == Some(&"$");
    if at_end {
        words.pop();
    }
    let mut elements = Vec::new();
    for word in words {
        elements.push(match word {
            "*" => Element::Gap(SHORT_GAP),
            "**" => Element::Gap(LONG_GAP),
            "^" | "$" => return Err(format!("`{word}` is allowed only at the very start or end")),
            _ => compile_words(word, classes)?,
        });
    }
    match (elements.first(), elements.last()) {
        (None, _) => Err("the pattern is empty".into()),
        (Some(Element::Gap(_)), _) | (_, Some(Element::Gap(_))) => {
            Err("a pattern can't start or end with a gap (`*`, `**`)".into())
        }
        _ if !elements.iter().any(|e| {
            matches!(
                e,
                Element::Words {
                    optional: false,
                    ..
                }
            )
        }) =>
        {
            Err("a pattern needs at least one word that isn't optional".into())
        }
        _ => Ok(Sequence {
            at_start,
            at_end,
            elements,
        }),
    }
}

fn compile_words(word: &str, classes: &Classes) -> Result<Element, String> {
    let (word, optional) = match word.strip_suffix('?') {
        Some(w) => (w, true),
        None => (word, false),
    };
    let mut options = Vec::new();
    for alt in word.split('|') {
        if alt.is_empty() {
            return Err(format!("empty alternative in `{word}`"));
        }
        if let Some(name) = alt.strip_prefix('@') {
            let members = classes
                .get(name)
                .ok_or_else(|| format!("unknown word class `@{name}`"))?;
            for member in members {
                options.push(phrase(member, false)?);
            }
        } else if let Some(exact) = alt.strip_prefix('=') {
            options.push(phrase(&exact.replace('_', " "), true)?);
        } else {
            options.push(phrase(&alt.replace('_', " "), false)?);
        }
    }
    Ok(Element::Words { options, optional })
}

/// A run of words, normalised like messages are.
fn phrase(text: &str, exact: bool) -> Result<Vec<Word>, String> {
    let words: Vec<Word> = tokens(text)
        .into_iter()
        .map(|t| {
            if exact {
                Word::Exact(t.raw)
            } else {
                Word::Stem(t.stem)
            }
        })
        .collect();
    if words.is_empty() {
        return Err(format!("`{text}` has no words"));
    }
    Ok(words)
}

impl Sequence {
    fn find(&self, tokens: &[Token]) -> Vec<Span> {
        let starts = if self.at_start { 0..1 } else { 0..tokens.len() };
        starts
            .filter_map(|start| {
                self.match_from(0, start, false, tokens)
                    .map(|end| (start, end))
            })
            .collect()
    }

    /// The end of a match of elements `i..` starting at token `pos`, if there is one.
    /// `joined`: the word at `pos` must be in the same sentence as the one before it (the
    /// element before matched a word there, with no gap between).
    fn match_from(&self, i: usize, pos: usize, joined: bool, tokens: &[Token]) -> Option<usize> {
        let Some(element) = self.elements.get(i) else {
            return (!self.at_end || pos == tokens.len()).then_some(pos);
        };
        match element {
            Element::Gap(most) => (0..=*most)
                .take_while(|skip| pos + skip <= tokens.len())
                .find_map(|skip| self.match_from(i + 1, pos + skip, false, tokens)),
            Element::Words { options, optional } => {
                let matched = options.iter().find_map(|option| {
                    let end = pos + option.len();
                    let fits = end <= tokens.len()
                        && option
                            .iter()
                            .zip(&tokens[pos..end])
                            .all(|(w, t)| w.matches(t))
                        && one_sentence(
                            tokens,
                            if joined { pos.saturating_sub(1) } else { pos },
                            end,
                        );
                    if fits {
                        self.match_from(i + 1, end, true, tokens)
                    } else {
                        None
                    }
                });
                matched.or_else(|| {
                    optional
                        .then(|| self.match_from(i + 1, pos, joined, tokens))
                        .flatten()
                })
            }
        }
    }
}

/// Whether tokens `from..end` are all in one sentence.
fn one_sentence(tokens: &[Token], from: usize, end: usize) -> bool {
    tokens[from..end]
        .windows(2)
        .all(|pair| pair[0].sentence == pair[1].sentence)
}

/// Whether two spans share a token.
pub(crate) fn overlaps(a: Span, b: Span) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Classes {
        BTreeMap::from([(
            "relative".to_owned(),
            vec!["mom".to_owned(), "late husband".to_owned()],
        )])
    }

    fn hits(pattern: &str, text: &str) -> bool {
        let p = Pattern::compile(pattern, &classes()).unwrap();
        !p.find(&tokens(text)).is_empty()
    }

    #[test]
    fn words_match_any_form_and_exact_words_only_theirs() {
        assert!(hits("someone * use my card", "someone just used my card!"));
        assert!(hits("account * lock", "my account is locked"));
        assert!(!hits(
            "account * =locked",
            "how long does an account lock last"
        ));
        assert!(hits("account * =locked", "my account was locked"));
    }

    #[test]
    fn alternatives_classes_options_and_gaps() {
        assert!(hits(
            "my @relative =passed|=died",
            "my mom passed last week"
        ));
        assert!(hits("my @relative s", "my late husband's card"));
        assert!(hits("card got|was? stolen", "card stolen"));
        assert!(hits(
            "paid ** someone_else",
            "i paid the balance of someone else"
        ));
        assert!(!hits(
            "sent * wrong",
            "i sent it to my brother who had the wrong one"
        ));
    }

    #[test]
    fn only_a_gap_reaches_across_a_full_stop() {
        assert!(hits("=passed the", "he passed the test"));
        assert!(!hits("=passed the", "my wife passed. The card is hers"));
        assert!(!hits("card stolen", "it's my card. Stolen goods are"));
        assert!(!hits("card got|was? stolen", "my card. Stolen?"));
        assert!(hits("charge * not mine", "a charge. Not mine"));
        assert!(hits(
            "charge ** i did_not make",
            "There's a charge. I didn't make it"
        ));
    }

    #[test]
    fn anchors_and_conjunctions() {
        assert!(hits("^ agent|human $", "Agent!"));
        assert!(!hits("^ agent|human $", "the agent said"));
        assert!(hits(
            "link & typed * card",
            "clicked a link in a text then typed in my card"
        ));
        assert!(!hits("link & typed * card", "typed in my card number"));
    }

    #[test]
    fn one_dropped_added_or_swapped_letter_is_forgiven_in_long_words() {
        assert!(typo("account", "acount"));
        assert!(typo("stolen", "stollen"));
        assert!(typo("lawyer", "lawer"));
        assert!(!typo("widow", "window"));
        assert!(!typo("charg", "chang"));
        assert!(!typo("locked", "looked"));
        assert!(!typo("sue", "su"));
        assert!(!typo("account", "accounts!"));
        assert!(hits("account * =locked", "my acount is lockd"));
    }

    #[test]
    fn bad_patterns_are_explained() {
        let err = |p: &str| Pattern::compile(p, &classes()).unwrap_err();
        assert!(err("@nobody died").contains("@nobody"));
        assert!(err("* died").contains("gap"));
        assert!(err("a || b").contains("empty alternative"));
        assert!(err("   ").contains("empty"));
        assert!(err("lost ^ card").contains("start or end"));
    }
}
