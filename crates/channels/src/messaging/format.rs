//! Per-channel formatting: replies are Markdown; each messaging app has its own markup
//! (Telegram HTML, WhatsApp and Slack asterisks, plain text for SMS), its own length limit,
//! and its own way to show citations and quick replies.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use warmline_domain::{Citation, ConversationId, Message, MessageId};

/// A message to send on a messaging channel, before formatting.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outgoing {
    /// Markdown.
    pub text: String,
    pub citations: Vec<Citation>,
    /// Quick replies the customer can pick.
    pub options: Vec<String>,
    /// The answer its rating buttons rate, where the channel has buttons
    /// ([`super::rating`]); `None` for messages that are not grounded answers.
    pub rate: Option<(ConversationId, MessageId)>,
}

impl From<&Message> for Outgoing {
    fn from(m: &Message) -> Self {
        Self {
            text: m.text.clone(),
            citations: m.citations.clone(),
            options: m.suggestions.clone(),
            rate: super::rating::target(m),
        }
    }
}

/// A channel's markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Telegram's `parse_mode: HTML` (`<b>`, `<i>`, `<a href>`; `&<>` escaped).
    TelegramHtml,
    /// WhatsApp: `*bold*`, `_italic_`, `~strike~`; links as bare URLs.
    WhatsApp,
    /// Slack mrkdwn: `*bold*`, `_italic_`, `<url|text>`; `&<>` escaped.
    Slack,
    /// No markup at all (SMS, email text parts).
    Plain,
}

impl Flavour {
    fn escape(self, text: &str, out: &mut String) {
        match self {
            Self::TelegramHtml | Self::Slack => {
                for c in text.chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '"' if self == Self::TelegramHtml => out.push_str("&quot;"),
                        c => out.push(c),
                    }
                }
            }
            Self::WhatsApp | Self::Plain => out.push_str(text),
        }
    }

    fn strong(self, open: bool) -> &'static str {
        match (self, open) {
            (Self::TelegramHtml, true) => "<b>",
            (Self::TelegramHtml, false) => "</b>",
            (Self::WhatsApp | Self::Slack, _) => "*",
            (Self::Plain, _) => "",
        }
    }

    fn emphasis(self, open: bool) -> &'static str {
        match (self, open) {
            (Self::TelegramHtml, true) => "<i>",
            (Self::TelegramHtml, false) => "</i>",
            (Self::WhatsApp | Self::Slack, _) => "_",
            (Self::Plain, _) => "",
        }
    }

    fn strike(self, open: bool) -> &'static str {
        match (self, open) {
            (Self::TelegramHtml, true) => "<s>",
            (Self::TelegramHtml, false) => "</s>",
            (Self::WhatsApp | Self::Slack, _) => "~",
            (Self::Plain, _) => "",
        }
    }

    /// A link whose text (already escaped) is `text`.
    fn link(self, url: &str, text: &str) -> String {
        let mut href = String::new();
        self.escape(url, &mut href);
        match self {
            Self::TelegramHtml => format!("<a href=\"{href}\">{text}</a>"),
            Self::Slack => format!("<{href}|{text}>"),
            Self::WhatsApp | Self::Plain if text == url || text.is_empty() => url.to_owned(),
            Self::WhatsApp | Self::Plain => format!("{text} ({url})"),
        }
    }
}

/// Renders Markdown in a channel's markup.
pub fn render_markdown(markdown: &str, flavour: Flavour) -> String {
    let mut out = String::with_capacity(markdown.len() + 16);
    // (list counter, for ordered lists) per open list
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut links: Vec<(usize, String)> = Vec::new();
    let block = |out: &mut String| {
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
    };
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(Tag::Paragraph) if lists.is_empty() => block(&mut out),
            Event::Start(Tag::Heading { .. }) => {
                block(&mut out);
                out.push_str(flavour.strong(true));
            }
            Event::End(TagEnd::Heading(_)) => out.push_str(flavour.strong(false)),
            Event::Start(Tag::List(start)) => {
                if lists.is_empty() {
                    block(&mut out);
                }
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("• "),
                }
            }
            Event::Start(Tag::Strong) => out.push_str(flavour.strong(true)),
            Event::End(TagEnd::Strong) => out.push_str(flavour.strong(false)),
            Event::Start(Tag::Emphasis) => out.push_str(flavour.emphasis(true)),
            Event::End(TagEnd::Emphasis) => out.push_str(flavour.emphasis(false)),
            Event::Start(Tag::Strikethrough) => out.push_str(flavour.strike(true)),
            Event::End(TagEnd::Strikethrough) => out.push_str(flavour.strike(false)),
            Event::Start(Tag::Link { dest_url, .. }) => links.push((out.len(), dest_url.into())),
            Event::End(TagEnd::Link) => {
                if let Some((start, url)) = links.pop() {
                    let text = out.split_off(start);
                    out.push_str(&flavour.link(&url, &text));
                }
            }
            Event::Start(Tag::CodeBlock(_)) => {
                block(&mut out);
                out.push_str(match flavour {
                    Flavour::TelegramHtml => "<pre>",
                    Flavour::WhatsApp | Flavour::Slack => "```\n",
                    Flavour::Plain => "",
                });
            }
            Event::End(TagEnd::CodeBlock) => out.push_str(match flavour {
                Flavour::TelegramHtml => "</pre>",
                Flavour::WhatsApp | Flavour::Slack => "```",
                Flavour::Plain => "",
            }),
            Event::Code(code) => {
                let (open, close) = match flavour {
                    Flavour::TelegramHtml => ("<code>", "</code>"),
                    Flavour::WhatsApp | Flavour::Slack => ("`", "`"),
                    Flavour::Plain => ("", ""),
                };
                out.push_str(open);
                flavour.escape(&code, &mut out);
                out.push_str(close);
            }
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => {
                flavour.escape(&text, &mut out);
            }
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Rule => {
                block(&mut out);
                out.push_str("———");
            }
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// A citation link without its fragment or query: short enough for an SMS.
pub fn short_link(url: &str) -> &str {
    let end = url.find(['#', '?']).unwrap_or(url.len());
    &url[..end]
}

/// The sources of an answer, one line each (`[1] Title: link`), in the channel's markup.
pub fn sources(citations: &[Citation], flavour: Flavour) -> String {
    let mut out = String::new();
    for (i, c) in citations.iter().enumerate() {
        let mut title = String::new();
        flavour.escape(&c.title, &mut title);
        let link = short_link(&c.url);
        let line = match flavour {
            Flavour::TelegramHtml | Flavour::Slack => flavour.link(link, &title),
            Flavour::WhatsApp | Flavour::Plain => format!("{title}: {link}"),
        };
        out.push_str(&format!("\n[{}] {line}", i + 1));
    }
    out
}

/// Quick replies as numbered lines, for channels without buttons ("reply with a number").
pub fn numbered_options(options: &[String], flavour: Flavour) -> String {
    let mut out = String::from("Reply with a number:");
    for (i, option) in options.iter().enumerate() {
        out.push_str(&format!("\n{}. ", i + 1));
        flavour.escape(option, &mut out);
    }
    out
}

/// What the customer meant: `"2"` (or a button's id `"2"`) picks the second quick reply last
/// offered; anything else is taken as written.
pub fn resolve_option(text: &str, options: &[String]) -> String {
    let trimmed = text.trim().trim_end_matches('.');
    match trimmed.parse::<usize>() {
        Ok(n) if (1..=options.len()).contains(&n) => options[n - 1].clone(),
        _ => text.to_owned(),
    }
}

/// Formats `out` for a channel: the text, then the sources, then (when `numbered`) the quick
/// replies as numbered lines; split into parts of at most `max_chars` characters at paragraph,
/// line, sentence or word boundaries, in that order of preference.
pub fn format_parts(
    out: &Outgoing,
    flavour: Flavour,
    numbered: bool,
    max_chars: usize,
) -> Vec<String> {
    let mut tail = String::new();
    if !out.citations.is_empty() {
        tail.push_str("\n\nSources:");
        tail.push_str(&sources(&out.citations, flavour));
    }
    if numbered && !out.options.is_empty() {
        tail.push_str("\n\n");
        tail.push_str(&numbered_options(&out.options, flavour));
    }
    // Markup never spans paragraphs, so rendering each Markdown paragraph on its own and
    // splitting between them keeps tags balanced.
    let mut blocks: Vec<String> = out
        .text
        .split("\n\n")
        .map(|p| render_markdown(p, flavour))
        .filter(|p| !p.is_empty())
        .collect();
    blocks.extend(
        tail.split("\n\n")
            .filter(|b| !b.is_empty())
            .map(str::to_owned),
    );
    let mut parts: Vec<String> = Vec::new();
    for b in blocks {
        let b = if b.chars().count() > max_chars && flavour != Flavour::Plain {
            // Too long for one message even alone: drop its markup so it can be cut anywhere.
            render_markdown(&b, Flavour::Plain)
        } else {
            b
        };
        for piece in split(&b, max_chars) {
            match parts.last_mut() {
                Some(last) if last.chars().count() + 2 + piece.chars().count() <= max_chars => {
                    last.push_str("\n\n");
                    last.push_str(&piece);
                }
                _ => parts.push(piece),
            }
        }
    }
    parts
}

/// Splits `text` into pieces of at most `max` characters, preferring line, sentence and word
/// boundaries.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..limit];
        let cut = ["\n", ". ", "! ", "? ", " "]
            .iter()
            .find_map(|sep| window.rfind(sep).map(|i| i + sep.len()))
            .filter(|&i| i > limit / 3)
            .unwrap_or(limit);
        pieces.push(rest[..cut].trim().to_owned());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "**Returns** are _free_ within 30 days: see [the policy](https://x.test/p?a=1&b=2).\n\n- pack it\n- ship it <fast>";

    #[test]
    fn markdown_becomes_each_channels_markup() {
        assert_eq!(
            render_markdown(MD, Flavour::TelegramHtml),
            "<b>Returns</b> are <i>free</i> within 30 days: see <a href=\"https://x.test/p?a=1&amp;b=2\">the policy</a>.\n\n• pack it\n• ship it &lt;fast&gt;"
        );
        assert_eq!(
            render_markdown(MD, Flavour::WhatsApp),
            "*Returns* are _free_ within 30 days: see the policy (https://x.test/p?a=1&b=2).\n\n• pack it\n• ship it <fast>"
        );
        assert_eq!(
            render_markdown(MD, Flavour::Slack),
            "*Returns* are _free_ within 30 days: see <https://x.test/p?a=1&amp;b=2|the policy>.\n\n• pack it\n• ship it &lt;fast&gt;"
        );
        assert_eq!(
            render_markdown(MD, Flavour::Plain),
            "Returns are free within 30 days: see the policy (https://x.test/p?a=1&b=2).\n\n• pack it\n• ship it <fast>"
        );
    }

    #[test]
    fn citation_markers_stay_and_sources_are_short_links() {
        let out = Outgoing {
            text: "Stores open at 9. [1]".into(),
            citations: vec![Citation {
                article_id: "hours".into(),
                title: "Store hours".into(),
                url: "https://help.test/kb/hours#weekend".into(),
                passage: String::new(),
                score: 1.0,
            }],
            options: vec!["Talk to a person".into()],
            rate: None,
        };
        let parts = format_parts(&out, Flavour::Plain, true, 1600);
        assert_eq!(
            parts,
            vec![
                "Stores open at 9. [1]\n\nSources:\n[1] Store hours: https://help.test/kb/hours\n\nReply with a number:\n1. Talk to a person"
            ]
        );
        assert_eq!(resolve_option(" 1 ", &out.options), "Talk to a person");
        assert_eq!(resolve_option("2", &out.options), "2");
        assert_eq!(resolve_option("hello", &out.options), "hello");
    }

    #[test]
    fn long_text_is_split_within_the_limit_at_sentence_ends() {
        let sentence = "This sentence has exactly forty-four chars. ";
        let text = sentence.repeat(100);
        let out = Outgoing {
            text,
            ..Outgoing::default()
        };
        let parts = format_parts(&out, Flavour::WhatsApp, false, 160);
        assert!(parts.len() >= 28, "{}", parts.len());
        for p in &parts {
            assert!(p.chars().count() <= 160, "{p:?}");
            assert!(p.ends_with('.'), "{p:?}");
        }
        let joined: String = parts.join(" ");
        assert_eq!(joined.matches("forty-four").count(), 100);
    }

    #[test]
    fn split_cuts_words_only_when_it_must() {
        assert_eq!(split("aaaa bbbb", 6), vec!["aaaa", "bbbb"]);
        assert_eq!(split("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(split("ééééé", 2), vec!["éé", "éé", "é"]);
    }

    proptest::proptest! {
        #[test]
        fn every_part_fits_and_no_word_is_lost(
            text in "([a-zé]{1,12}[ .\n]{1,2}){0,80}",
            max in 8usize..200,
        ) {
            let out = Outgoing { text: text.clone(), ..Outgoing::default() };
            let parts = format_parts(&out, Flavour::Plain, false, max);
            for p in &parts {
                proptest::prop_assert!(p.chars().count() <= max, "{p:?} over {max}");
            }
            let words = |s: &str| s.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()).map(str::to_owned).collect::<Vec<_>>().concat();
            proptest::prop_assert_eq!(words(&parts.join(" ")), words(&text));
        }
    }
}
