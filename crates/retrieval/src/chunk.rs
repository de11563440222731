//! Splits an article's Markdown into passages: one per `##`/`###` section (the text before
//! the first heading is the intro), Markdown removed, one block (paragraph, list item, table
//! row) per line. Long sections are split at block boundaries so a passage stays focused.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Sections longer than this (in bytes of plain text) are split into several passages.
pub const MAX_PASSAGE_BYTES: usize = 1500;

/// A searchable piece of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// The section heading; empty for the intro.
    pub heading: String,
    /// Plain text, one block per line. List items start with `- `.
    pub text: String,
}

#[derive(Default)]
struct Builder {
    passages: Vec<Passage>,
    heading: String,
    blocks: Vec<String>,
    block: String,
    in_heading: bool,
    list_depth: usize,
    in_cell: bool,
}

impl Builder {
    fn end_block(&mut self) {
        let text = collapse_whitespace(&self.block);
        self.block.clear();
        if !text.is_empty() && text != "-" {
            self.blocks.push(text);
        }
    }

    fn end_section(&mut self) {
        self.end_block();
        let mut current: Vec<String> = Vec::new();
        let mut size = 0;
        for block in self.blocks.drain(..) {
            if size + block.len() > MAX_PASSAGE_BYTES && !current.is_empty() {
                self.passages.push(Passage {
                    heading: self.heading.clone(),
                    text: current.join("\n"),
                });
                current.clear();
                size = 0;
            }
            size += block.len() + 1;
            current.push(block);
        }
        if !current.is_empty() {
            self.passages.push(Passage {
                heading: self.heading.clone(),
                text: current.join("\n"),
            });
        }
    }

    fn push_text(&mut self, text: &str) {
        if self.in_heading {
            self.heading.push_str(text);
        } else {
            self.block.push_str(text);
        }
    }
}

/// The passages of one article body. `title` is used to drop a leading `# Title` that repeats
/// the front matter.
pub fn chunk(title: &str, markdown: &str) -> Vec<Passage> {
    let mut b = Builder::default();
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                if level != HeadingLevel::H1 {
                    b.end_section();
                    b.heading.clear();
                }
                b.end_block();
                b.in_heading = true;
            }
            Event::End(TagEnd::Heading(level)) => {
                b.in_heading = false;
                b.heading = collapse_whitespace(&b.heading);
                if level == HeadingLevel::H1 {
                    // An H1 equal to the title is redundant; another H1 starts a section.
                    let h1 = std::mem::take(&mut b.heading);
                    if !h1.eq_ignore_ascii_case(title.trim()) {
                        b.end_section();
                        b.heading = h1;
                    }
                }
            }
            Event::Start(Tag::List(_)) => {
                b.end_block();
                b.list_depth += 1;
            }
            Event::End(TagEnd::List(_)) => {
                b.end_block();
                b.list_depth = b.list_depth.saturating_sub(1);
            }
            Event::Start(Tag::Item) => {
                b.end_block();
                b.block.push_str("- ");
            }
            Event::Start(Tag::TableCell) => {
                if b.in_cell || !b.block.is_empty() {
                    b.block.push_str(" | ");
                }
                b.in_cell = true;
            }
            Event::End(TagEnd::TableCell) => b.in_cell = false,
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_),
            ) => b.end_block(),
            Event::Text(t) | Event::Code(t) => b.push_text(&t),
            Event::SoftBreak => b.push_text(" "),
            Event::HardBreak => {
                if b.in_heading {
                    b.heading.push(' ');
                } else {
                    b.end_block();
                }
            }
            Event::Start(Tag::Paragraph) if b.list_depth > 0 && !b.block.ends_with("- ") => {
                // A second paragraph inside a list item continues the item.
                b.block.push(' ');
            }
            _ => {}
        }
    }
    b.end_section();
    b.passages
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_by_heading_and_keeps_the_intro() {
        let md = "# Returns\n\nYou have **30 days** to return.\n\n## In a store\nBring the item\nand your receipt.\n\n### No receipt?\nWe can look it up.\n";
        let p = chunk("Returns", md);
        assert_eq!(
            p,
            vec![
                Passage {
                    heading: String::new(),
                    text: "You have 30 days to return.".into()
                },
                Passage {
                    heading: "In a store".into(),
                    text: "Bring the item and your receipt.".into()
                },
                Passage {
                    heading: "No receipt?".into(),
                    text: "We can look it up.".into()
                },
            ]
        );
    }

    #[test]
    fn lists_and_tables_become_one_line_per_block() {
        let md = "## Steps\nTo return online:\n\n1. Sign in.\n2. Pick the **order**.\n\n| Option | Price |\n|---|---|\n| Standard | $5 |\n";
        let p = chunk("t", md);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].text,
            "To return online:\n- Sign in.\n- Pick the order.\nOption | Price\nStandard | $5"
        );
    }

    #[test]
    fn long_sections_are_split_at_block_boundaries() {
        let para = "word ".repeat(100);
        let md = format!("## Long\n{para}\n\n{para}\n\n{para}\n\n{para}\n");
        let p = chunk("t", &md);
        assert!(p.len() >= 2, "{} passages", p.len());
        assert!(p.iter().all(|x| x.heading == "Long"));
        assert!(p.iter().all(|x| x.text.len() <= MAX_PASSAGE_BYTES));
    }

    #[test]
    fn empty_sections_produce_no_passage() {
        let p = chunk("t", "## Empty\n\n## Full\ntext\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].heading, "Full");
    }

    proptest! {
        #[test]
        fn never_panics_and_never_emits_empty_passages(md in "(#{0,3} ?[a-z *_|`-]{0,20}\n{0,2}){0,30}") {
            for p in chunk("title", &md) {
                prop_assert!(!p.text.trim().is_empty());
                prop_assert!(p.text.lines().all(|l| !l.trim().is_empty()));
            }
        }

        #[test]
        fn every_word_of_plain_paragraphs_is_kept(words in prop::collection::vec("[a-z]{1,8}", 1..60)) {
            let md = words.join(" ");
            let text: Vec<String> = chunk("t", &md).into_iter().map(|p| p.text).collect();
            prop_assert_eq!(text.join(" "), md);
        }
    }
}
