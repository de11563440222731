//! Text normalisation shared by every signal: lower case, typographic quotes folded, quoted
//! words dropped (a customer *mentioning* "lawyer" is not threatening one), contractions and
//! chat spellings expanded ("dont" → "do not", "u" → "you"), then a light suffix stemmer so
//! "charges", "charged" and "charging" meet.

/// One word of a message: as written (lower case) and stemmed, and which sentence of the
/// message it is in (negation and hypotheticals don't reach across a full stop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub raw: String,
    pub stem: String,
    pub sentence: usize,
}

/// The message's tokens, after normalisation.
pub(crate) fn tokens(text: &str) -> Vec<Token> {
    let text = drop_quoted(&fold(text));
    let mut out = Vec::new();
    let mut sentence = 0;
    let mut chunk = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '\'' {
            chunk.push(c);
            continue;
        }
        push_words(&mut out, &chunk, sentence);
        chunk.clear();
        // "." in "1,249.99" or "junipermarket.example" doesn't end a sentence.
        let ends = matches!(c, '.' | '!' | '?' | ';' | '\n')
            && chars.peek().is_none_or(|n| !n.is_alphanumeric());
        if ends {
            sentence += 1;
        }
    }
    push_words(&mut out, &chunk, sentence);
    out
}

fn push_words(out: &mut Vec<Token>, chunk: &str, sentence: usize) {
    let chunk = chunk.trim_matches('\'');
    if chunk.is_empty() {
        return;
    }
    for word in expand(chunk) {
        out.push(Token {
            stem: stem(&word),
            raw: word,
            sentence,
        });
    }
}

/// Lower case, with typographic apostrophes and quotes folded to ASCII.
pub(crate) fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02bc}' | '`' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            other => other,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Most words between quotes that we treat as a mention rather than the customer's words.
const MAX_QUOTED_WORDS: usize = 6;

/// Removes short quoted spans: `the word 'lawyer' in your terms` → `the word  in your terms`.
/// A single quote opens only at the start of a word and closes only at the end of one, so
/// apostrophes ("mom's", "don't") are left alone.
pub(crate) fn drop_quoted(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let opens = c == '"'
            || (c == '\''
                && (i == 0 || !chars[i - 1].is_alphanumeric())
                && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric()));
        if opens && let Some(end) = closing(&chars, i, c) {
            let inner: String = chars[i + 1..end].iter().collect();
            if inner.split_whitespace().count() <= MAX_QUOTED_WORDS {
                out.push(' ');
                i = end + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn closing(chars: &[char], open: usize, quote: char) -> Option<usize> {
    (open + 1..chars.len()).find(|&j| {
        chars[j] == quote
            && (quote == '"'
                || (chars[j - 1].is_alphanumeric()
                    && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())))
    })
}

/// Chat spellings and apostrophe-less contractions, expanded.
const SPELLINGS: &[(&str, &str)] = &[
    ("dont", "do not"),
    ("didnt", "did not"),
    ("doesnt", "does not"),
    ("cant", "can not"),
    ("cannot", "can not"),
    ("wont", "will not"),
    ("isnt", "is not"),
    ("wasnt", "was not"),
    ("arent", "are not"),
    ("werent", "were not"),
    ("havent", "have not"),
    ("hasnt", "has not"),
    ("hadnt", "had not"),
    ("couldnt", "could not"),
    ("wouldnt", "would not"),
    ("shouldnt", "should not"),
    ("aint", "is not"),
    ("im", "i am"),
    ("ive", "i have"),
    ("youre", "you are"),
    ("theyre", "they are"),
    ("thats", "that s"),
    ("whats", "what s"),
    ("theres", "there s"),
    ("u", "you"),
    ("w", "with"),
    ("ur", "your"),
    ("ya", "you"),
    ("pls", "please"),
    ("plz", "please"),
    ("pleasee", "please"),
    ("thx", "thanks"),
    ("thanx", "thanks"),
    ("ty", "thank you"),
    ("gonna", "going to"),
    ("wanna", "want to"),
    ("gotta", "got to"),
    ("ppl", "people"),
    ("acct", "account"),
    ("pw", "password"),
    ("pwd", "password"),
    ("asap", "as soon as possible"),
    // Numbers as digits, so "two gift cards" and "2 gift cards" meet ("one" stays a word).
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
];

/// Expands one chunk (letters, digits, apostrophes) into words.
fn expand(chunk: &str) -> Vec<String> {
    if let Some((_, to)) = SPELLINGS.iter().find(|(from, _)| *from == chunk) {
        return to.split(' ').map(str::to_owned).collect();
    }
    let Some((head, tail)) = chunk.split_once('\'') else {
        return vec![chunk.to_owned()];
    };
    let tail = tail.replace('\'', "");
    match (head, tail.as_str()) {
        ("can", "t") => vec!["can".into(), "not".into()],
        ("won", "t") => vec!["will".into(), "not".into()],
        ("ain", "t") => vec!["is".into(), "not".into()],
        (h, "t") if h.ends_with('n') && h.len() > 1 => {
            vec![h[..h.len() - 1].to_owned(), "not".into()]
        }
        (h, "m") => vec![h.to_owned(), "am".into()],
        (h, "re") => vec![h.to_owned(), "are".into()],
        (h, "ll") => vec![h.to_owned(), "will".into()],
        (h, "ve") => vec![h.to_owned(), "have".into()],
        (h, "d") => vec![h.to_owned(), "would".into()],
        (h, "s") => vec![h.to_owned(), "s".into()],
        (h, t) => vec![format!("{h}{t}")],
    }
}

fn has_vowel(s: &str) -> bool {
    s.chars().any(|c| "aeiouy".contains(c))
}

/// A light suffix stemmer: plural `-s`/`-es`/`-ies`, `-ing`, `-ed`, a doubled final consonant
/// after those, and a final `-e`. It only has to be consistent (patterns are stemmed the same
/// way); irregular forms ("spoke", "sent") stay apart on purpose.
pub(crate) fn stem(word: &str) -> String {
    let w = word;
    if w.len() <= 3 || !w.is_ascii() {
        return w.to_owned();
    }
    if let Some(base) = w.strip_suffix("ies")
        && base.len() >= 2
    {
        return format!("{base}y");
    }
    let mut s = w.to_owned();
    if let Some(base) = w.strip_suffix("sses") {
        s = format!("{base}ss");
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        s.pop();
    }
    for suffix in ["ing", "ed"] {
        if let Some(base) = s.strip_suffix(suffix)
            && base.len() >= 2
            && has_vowel(base)
            && !(suffix == "ed" && base.ends_with('e'))
        {
            let mut base = base.to_owned();
            let b = base.as_bytes();
            if b.len() >= 3 && b[b.len() - 1] == b[b.len() - 2] && !b"lsz".contains(&b[b.len() - 1])
            {
                base.pop();
            } else if base.len() == 2 || (base.len() == 3 && short_syllable(&base)) {
                // "used" -> "use", "making" -> "make", "hated" -> "hate"
                base.push('e');
            }
            return base;
        }
    }
    // "charge" -> "charg" (like "charged"); four-letter words keep their e, or "made"
    // would become "mad".
    if s.len() >= 5 && s.ends_with('e') && !s.ends_with("ee") {
        s.pop();
    }
    s
}

/// Consonant, vowel, consonant (not w, x or y): "mak", "hat", "fir".
fn short_syllable(s: &str) -> bool {
    let vowel = |c: u8| b"aeiou".contains(&c);
    match s.as_bytes() {
        [a, b, c] => !vowel(*a) && vowel(*b) && !vowel(*c) && !b"wxy".contains(c),
        _ => false,
    }
}

/// Words that carry no topic: left out when comparing two questions.
const STOP_WORDS: &[&str] = &[
    "a", "about", "actually", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "but", "by", "can", "come", "could", "did", "do", "does", "for", "from", "get",
    "got", "had", "has", "have", "hello", "hey", "hi", "how", "i", "if", "in", "is", "it", "just",
    "know", "like", "me", "my", "need", "no", "not", "now", "of", "ok", "okay", "on", "or", "our",
    "please", "really", "s", "should", "so", "some", "tell", "than", "thank", "thanks", "that",
    "the", "then", "there", "this", "to", "too", "u", "up", "us", "want", "was", "we", "were",
    "what", "when", "where", "which", "who", "why", "will", "with", "would", "yes", "you", "your",
];

/// The stems of a message's content words (stop words left out).
pub(crate) fn content_stems(tokens: &[Token]) -> Vec<String> {
    let mut out: Vec<String> = tokens
        .iter()
        .filter(|t| !STOP_WORDS.contains(&t.raw.as_str()) && !STOP_WORDS.contains(&t.stem.as_str()))
        .map(|t| t.stem.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Shortest shared prefix for two different stems to count as the same word
/// ("canada"/"canadian", "deliver"/"delivery").
const FUZZY_PREFIX: usize = 5;

fn same_word(a: &str, b: &str) -> bool {
    a == b
        || (a.len() >= FUZZY_PREFIX
            && b.len() >= FUZZY_PREFIX
            && a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count() >= FUZZY_PREFIX)
}

/// Dice overlap of two content-word sets (0..=1), with near-identical stems counted as one.
pub(crate) fn similarity(a: &[String], b: &[String]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let hits = |x: &[String], y: &[String]| {
        x.iter()
            .filter(|w| y.iter().any(|v| same_word(w, v)))
            .count()
    };
    (hits(a, b) + hits(b, a)) as f32 / (a.len() + b.len()) as f32
}

/// Whether every word of `a` is in `b` (near spellings counted): `a` asks nothing new.
pub(crate) fn covered(a: &[String], b: &[String]) -> bool {
    !a.is_empty() && a.iter().all(|w| b.iter().any(|v| same_word(w, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|t| t.raw).collect()
    }

    #[test]
    fn contractions_and_chat_spellings_expand() {
        assert_eq!(raw("I don't"), ["i", "do", "not"]);
        assert_eq!(raw("can't, won't"), ["can", "not", "will", "not"]);
        assert_eq!(
            raw("im sure u cant"),
            ["i", "am", "sure", "you", "can", "not"]
        );
        assert_eq!(raw("my mom’s card"), ["my", "mom", "s", "card"]);
    }

    #[test]
    fn quoted_mentions_are_dropped_but_apostrophes_kept() {
        assert_eq!(
            raw("the word 'lawyer' in your terms"),
            ["the", "word", "in", "your", "terms"]
        );
        assert_eq!(raw("he said \"sue them\" lol"), ["he", "said", "lol"]);
        assert_eq!(raw("it's my dad's"), ["it", "s", "my", "dad", "s"]);
    }

    #[test]
    fn the_stemmer_joins_common_forms() {
        for (a, b) in [
            ("charges", "charged"),
            ("charging", "charge"),
            ("used", "use"),
            ("using", "use"),
            ("stopped", "stop"),
            ("purchases", "purchase"),
            ("locked", "lock"),
            ("parties", "party"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        assert_ne!(stem("thing"), stem("the"));
        assert_ne!(stem("made"), stem("mad"));
        assert_eq!(stem("making"), stem("make"));
        assert_eq!(stem("hated"), stem("hate"));
        assert_eq!(stem("needs"), stem("need"));
    }

    #[test]
    fn similarity_ignores_stop_words_and_near_spellings() {
        let a = content_stems(&tokens("why is the price different in canada"));
        let b = content_stems(&tokens("how come canadian prices are different"));
        assert!(similarity(&a, &b) > 0.9, "{a:?} {b:?}");
        let c = content_stems(&tokens("how do i reset my password"));
        let d = content_stems(&tokens("how do i turn on two factor"));
        assert_eq!(similarity(&c, &d), 0.0);
    }
}
