//! An article's file text (YAML front matter + Markdown) from the editor's fields, and back.
//!
//! The store keeps the whole file of each version, so imported files export byte for byte;
//! the editor's form writes files in the sample knowledge base's layout.

use serde::{Deserialize, Serialize};
use warmline_domain::{Audience, Channel};
use warmline_retrieval::Article;
use warmline_retrieval::article::parse_article;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters (the request body limit applies too).
pub const MAX_BODY_CHARS: usize = 60_000;
/// Most tags, and the longest tag.
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 40;

/// The editable fields of an article.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    pub title: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "default_locale")]
    pub locale: String,
    #[serde(default)]
    #[schema(value_type = String)]
    pub audience: Audience,
    /// Empty: every channel.
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// Markdown; `##` headings make passages.
    pub body: String,
}

fn default_locale() -> String {
    "en".into()
}

impl Fields {
    /// The fields of a parsed article.
    pub fn of(article: &Article) -> Self {
        Self {
            title: article.title.clone(),
            tags: article.tags.clone(),
            locale: article.locale.clone(),
            audience: article.audience,
            channels: article
                .channels
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            url: article.url.clone(),
            body: article.body.trim_start_matches('\n').to_owned(),
        }
    }

    /// Checks sizes and renders the file for `id`, then parses it back (so whatever the
    /// loader would refuse is refused here, with its message).
    pub fn render(&self, id: &str) -> Result<(String, Article), String> {
        if self.title.trim().is_empty() || self.title.chars().count() > MAX_TITLE_CHARS {
            return Err(format!("a title is 1 to {MAX_TITLE_CHARS} characters"));
        }
        if self.body.chars().count() > MAX_BODY_CHARS {
            return Err(format!(
                "the body is longer than {MAX_BODY_CHARS} characters"
            ));
        }
        if self.tags.len() > MAX_TAGS
            || self
                .tags
                .iter()
                .any(|t| t.trim().is_empty() || t.chars().count() > MAX_TAG_CHARS)
        {
            return Err(format!(
                "at most {MAX_TAGS} tags of 1 to {MAX_TAG_CHARS} characters"
            ));
        }
        for channel in &self.channels {
            if channel.trim().to_lowercase().parse::<Channel>().is_err() && channel.trim() != "all"
            {
                return Err(format!("unknown channel {channel:?}"));
            }
        }
        let quote = |s: &str| yaml_scalar(s.trim());
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
            format!("[{}]", quoted.join(", "))
        };
        let mut text = format!(
            "---\nid: {id}\ntitle: {}\ntags: {}\nlocale: {}\naudience: {}\n",
            quote(&self.title),
            list(&self.tags),
            quote(&self.locale),
            self.audience.as_str(),
        );
        if !self.channels.is_empty() {
            text.push_str(&format!("channels: {}\n", list(&self.channels)));
        }
        let today = warmline_domain::conversation::now().date();
        text.push_str(&format!("updated: {today}\n"));
        if let Some(url) = self.url.as_deref().filter(|u| !u.trim().is_empty()) {
            text.push_str(&format!("url: {}\n", quote(url)));
        }
        text.push_str("---\n\n");
        text.push_str(self.body.trim_matches('\n'));
        text.push('\n');
        let article = parse(id, &text)?;
        Ok((text, article))
    }
}

/// A YAML scalar: plain when that reads back as the same string (the sample articles' style),
/// else double-quoted.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || " -_.?'()/".contains(c))
        && !s.starts_with(['-', '?', '\'', ' '])
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "null" | "on" | "off" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// Parses a stored or imported file, as the loader would (`id.md: line: message` on error).
pub fn parse(id: &str, content: &str) -> Result<Article, String> {
    parse_article(std::path::Path::new(&format!("{id}.md")), content).map_err(|p| p.to_string())
}

/// Whether a file's front matter says `status: draft`.
pub fn says_draft(content: &str) -> bool {
    front_matter_lines(content).any(|l| status_value(l) == Some("draft"))
}

fn front_matter_lines(content: &str) -> impl Iterator<Item = &str> {
    content
        .lines()
        .skip(1)
        .take_while(|l| l.trim_end() != "---")
}

fn status_value(line: &str) -> Option<&str> {
    line.strip_prefix("status:").map(str::trim)
}

/// The file with its front matter's `status` saying whether it is `published`: unchanged when
/// it already agrees (so an imported file exports byte for byte), else the line is replaced
/// or added.
pub fn with_status(content: &str, published: bool) -> String {
    if says_draft(content) != published {
        return content.to_owned();
    }
    let wanted = if published { "published" } else { "draft" };
    let mut out = String::with_capacity(content.len() + 16);
    let mut in_front = false;
    let mut replaced = false;
    for (i, line) in content.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        if i == 0 && bare == "---" {
            in_front = true;
        } else if in_front && bare == "---" {
            if !replaced {
                out.push_str(&format!("status: {wanted}\n"));
                replaced = true;
            }
            in_front = false;
        } else if in_front && status_value(bare).is_some() {
            out.push_str(&format!("status: {wanted}\n"));
            replaced = true;
            continue;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            title: "Gift cards: \"how\" they work".into(),
            tags: vec!["gift cards".into(), "payments".into()],
            locale: "en".into(),
            audience: Audience::Customer,
            channels: vec!["web".into()],
            url: None,
            body: "## Using one\n\nEnter the code at checkout.".into(),
        }
    }

    #[test]
    fn rendered_fields_parse_back_to_the_same_fields() {
        let (text, article) = fields().render("gift-cards").unwrap();
        assert!(text.starts_with("---\nid: gift-cards\n"), "{text}");
        assert!(text.contains("tags: [gift cards, payments]\n"), "{text}");
        assert!(
            text.contains("title: \"Gift cards: \\\"how\\\" they work\"\n"),
            "{text}"
        );
        let back = Fields::of(&article);
        assert_eq!(back.title, fields().title);
        assert_eq!(back.tags, fields().tags);
        assert_eq!(back.channels, vec!["web"]);
        assert_eq!(back.body.trim(), fields().body);
    }

    #[test]
    fn bad_fields_are_refused_with_the_reason() {
        let mut f = fields();
        f.title = " ".into();
        assert!(f.render("x").unwrap_err().contains("title"));
        let mut f = fields();
        f.channels = vec!["fax".into()];
        assert!(f.render("x").unwrap_err().contains("fax"));
        assert!(fields().render("Bad Id").unwrap_err().contains("id"));
    }

    #[test]
    fn status_is_rewritten_only_when_it_disagrees() {
        let file = "---\nid: a\ntitle: A\nstatus: published\n---\n\nText\n";
        assert_eq!(with_status(file, true), file);
        let draft = with_status(file, false);
        assert_eq!(draft, "---\nid: a\ntitle: A\nstatus: draft\n---\n\nText\n");
        assert!(says_draft(&draft));
        let bare = "---\nid: a\ntitle: A\n---\n\nText\n";
        assert_eq!(with_status(bare, true), bare);
        assert_eq!(
            with_status(bare, false),
            "---\nid: a\ntitle: A\nstatus: draft\n---\n\nText\n"
        );
    }
}
