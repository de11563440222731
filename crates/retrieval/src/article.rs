//! One knowledge article: YAML front matter + Markdown body, and the problems a file can have.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use time::Date;
use time::macros::format_description;
use warmline_domain::{Audience, Channel};

/// Whether customers may see an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Published,
    Draft,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Draft => "draft",
        }
    }
}

/// A parsed article. `channels` empty means every channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub locale: String,
    pub audience: Audience,
    pub channels: Vec<Channel>,
    pub status: Status,
    pub updated: Option<Date>,
    /// Explicit public URL from the front matter, if any.
    pub url: Option<String>,
    /// The Markdown after the front matter.
    pub body: String,
    /// Where it was loaded from, relative to the knowledge folder.
    pub source: PathBuf,
    /// sha256 of the whole file: decides whether the index must be updated.
    pub content_hash: String,
}

impl Article {
    /// Whether the article may be shown on `channel`.
    pub fn on_channel(&self, channel: Channel) -> bool {
        self.channels.is_empty() || self.channels.contains(&channel)
    }
}

/// A file that could not be used, with where and why: `path:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArticleProblem {
    pub path: PathBuf,
    /// 1-based line in the file.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ArticleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: String,
    title: String,
    #[serde(default)]
    tags: Vec<String>,
    locale: Option<String>,
    audience: Option<Audience>,
    channels: Option<Vec<String>>,
    status: Option<Status>,
    updated: Option<String>,
    url: Option<String>,
}

/// Parses one article file. `path` is only used in problems and as `source`.
pub fn parse_article(path: &Path, content: &str) -> Result<Article, ArticleProblem> {
    let problem = |line: usize, message: String| ArticleProblem {
        path: path.to_owned(),
        line,
        message,
    };
    let (yaml, body) = split_front_matter(content).ok_or_else(|| {
        problem(
            1,
            "missing front matter: the file must start with a line `---`, then YAML \
             (id, title, ...), then a closing `---`"
                .into(),
        )
    })?;
    // The YAML starts on line 2 of the file.
    let front: FrontMatter = serde_saphyr::from_str(yaml).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line() as usize) + 1;
        let message = e.to_string();
        let first = message.lines().next().unwrap_or("invalid YAML").trim();
        problem(line, format!("front matter: {first}"))
    })?;
    let key_line = |key: &str| front_matter_line(yaml, key);

    let id = front.id.trim().to_owned();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(problem(
            key_line("id"),
            format!("id {id:?} must be non-empty lowercase letters, digits and hyphens"),
        ));
    }
    let title = front.title.trim().to_owned();
    if title.is_empty() {
        return Err(problem(key_line("title"), "title is empty".into()));
    }
    let channels = parse_channels(front.channels.unwrap_or_default())
        .map_err(|m| problem(key_line("channels"), m))?;
    let updated = front
        .updated
        .map(|d| {
            Date::parse(d.trim(), format_description!("[year]-[month]-[day]"))
                .map_err(|_| format!("updated {d:?} is not a date like 2026-10-14"))
        })
        .transpose()
        .map_err(|m| problem(key_line("updated"), m))?;
    let locale = front.locale.unwrap_or_else(|| "en".into()).to_lowercase();

    Ok(Article {
        id,
        title,
        tags: front.tags.into_iter().map(|t| t.to_lowercase()).collect(),
        locale,
        audience: front.audience.unwrap_or_default(),
        channels,
        status: front.status.unwrap_or_default(),
        updated,
        url: front.url.filter(|u| !u.trim().is_empty()),
        body: body.to_owned(),
        source: path.to_owned(),
        content_hash: crate::content_hash(content),
    })
}

fn parse_channels(raw: Vec<String>) -> Result<Vec<Channel>, String> {
    let mut channels = Vec::new();
    for name in raw {
        let name = name.trim().to_lowercase();
        if name == "all" {
            return Ok(Vec::new());
        }
        let channel = name
            .parse::<Channel>()
            .map_err(|e| format!("channels: {e}"))?;
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    Ok(channels)
}

/// Splits `---\nyaml\n---\nbody`. Returns `None` without a complete front matter block.
fn split_front_matter(content: &str) -> Option<(&str, &str)> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let rest = content
        .strip_prefix("---\n")
        .or_else(|| content.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return Some((yaml, body));
        }
        offset += line.len();
    }
    None
}

/// The file line of a top-level front matter key (for errors that serde can't place).
fn front_matter_line(yaml: &str, key: &str) -> usize {
    let prefix = format!("{key}:");
    yaml.lines()
        .position(|l| l.starts_with(&prefix))
        .map_or(1, |i| i + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\nid: returns-policy\ntitle: How returns work\ntags: [Returns, refunds]\nchannels: [web, email]\nupdated: 2026-10-14\n---\nYou have 30 days.\n\n## In store\nBring it back.\n";

    fn parse(content: &str) -> Result<Article, ArticleProblem> {
        parse_article(Path::new("articles/x.md"), content)
    }

    #[test]
    fn parses_front_matter_with_defaults() {
        let a = parse(GOOD).unwrap();
        assert_eq!(a.id, "returns-policy");
        assert_eq!(a.title, "How returns work");
        assert_eq!(a.tags, ["returns", "refunds"]);
        assert_eq!(a.locale, "en");
        assert_eq!(a.audience, Audience::Customer);
        assert_eq!(a.status, Status::Published);
        assert_eq!(a.channels, [Channel::Web, Channel::Email]);
        assert!(a.on_channel(Channel::Web) && !a.on_channel(Channel::Sms));
        assert_eq!(a.updated.unwrap().to_string(), "2026-10-14");
        assert!(a.body.starts_with("You have 30 days."));
    }

    #[test]
    fn channels_all_means_every_channel() {
        let a = parse(&GOOD.replace("[web, email]", "[all]")).unwrap();
        assert!(a.channels.is_empty() && a.on_channel(Channel::Sms));
    }

    #[test]
    fn missing_front_matter_is_reported_on_line_one() {
        let p = parse("# Just markdown\n").unwrap_err();
        assert_eq!(p.line, 1);
        assert!(p.message.contains("front matter"), "{p}");
        let unclosed = parse("---\nid: a\ntitle: b\n").unwrap_err();
        assert_eq!(unclosed.line, 1);
    }

    #[test]
    fn broken_yaml_is_reported_with_its_file_line() {
        let p = parse("---\nid: a\ntitle: [unclosed\n---\nbody\n").unwrap_err();
        assert!(p.line >= 3, "{p}");
        assert!(p.to_string().starts_with("articles/x.md:"), "{p}");
    }

    #[test]
    fn semantic_errors_point_at_their_key() {
        let p = parse(&GOOD.replace("[web, email]", "[web, fax]")).unwrap_err();
        assert_eq!(p.line, 5, "{p}");
        assert!(p.message.contains("fax"), "{p}");
        let p = parse(&GOOD.replace("2026-10-14", "last tuesday")).unwrap_err();
        assert_eq!(p.line, 6, "{p}");
        let p = parse(&GOOD.replace("returns-policy", "Returns Policy")).unwrap_err();
        assert_eq!(p.line, 2, "{p}");
    }

    #[test]
    fn unknown_keys_are_refused_so_typos_do_not_pass_silently() {
        let p = parse(&GOOD.replace("channels:", "chanels:")).unwrap_err();
        assert!(p.message.contains("chanels"), "{p}");
    }

    #[test]
    fn missing_title_is_an_error() {
        let p = parse("---\nid: a\n---\nbody\n").unwrap_err();
        assert!(p.message.contains("title"), "{p}");
    }
}
