//! One module per family of signals. Each holds its validated rules (built from the policy
//! file) and a pure function from the conversation to the signal, if it fires.

pub(crate) mod classifier;
pub(crate) mod explicit;
pub(crate) mod failure;
pub(crate) mod frustration;
pub(crate) mod meaning;
pub(crate) mod topics;

use super::pattern::{Classes, Pattern, Span};
use super::text::Token;

/// Compiles a list of patterns; the error is `(field[i], message)`.
pub(crate) fn compile_all(
    sources: &[impl AsRef<str>],
    classes: &Classes,
    field: &str,
) -> Result<Vec<Pattern>, (String, String)> {
    sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Pattern::compile(s.as_ref(), classes)
                .map_err(|e| (format!("{field}[{i}]"), format!("{:?}: {e}", s.as_ref())))
        })
        .collect()
}

/// Whether any of `words` (raw forms) is among the `window` tokens before `start`, in the
/// same sentence.
pub(crate) fn preceded_by(tokens: &[Token], start: usize, window: usize, words: &[&str]) -> bool {
    let Some(at) = tokens.get(start) else {
        return false;
    };
    tokens[start.saturating_sub(window)..start]
        .iter()
        .any(|t| t.sentence == at.sentence && words.contains(&t.raw.as_str()))
}

/// Every place any of `patterns` matches in `tokens`.
pub(crate) fn spans_of(tokens: &[Token], patterns: &[Pattern]) -> Vec<Span> {
    patterns.iter().flat_map(|p| p.find(tokens)).collect()
}

/// Whether one of `spans` ends within `window` tokens before `start`, in the same sentence.
pub(crate) fn span_before(tokens: &[Token], start: usize, window: usize, spans: &[Span]) -> bool {
    let Some(at) = tokens.get(start) else {
        return false;
    };
    spans
        .iter()
        .any(|&(s, end)| end <= start && end + window >= start && tokens[s].sentence == at.sentence)
}

/// The spans of `patterns` in `tokens` that no span of `except` overlaps, and those one does.
pub(crate) fn spans_without(
    tokens: &[Token],
    patterns: &[Pattern],
    except: &[Pattern],
) -> (Vec<Span>, Vec<Span>) {
    let blocked = spans_of(tokens, except);
    spans_of(tokens, patterns)
        .into_iter()
        .partition(|span| !blocked.iter().any(|b| super::pattern::overlaps(*span, *b)))
}
