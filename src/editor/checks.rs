//! Validation of the knowledge base as editors keep it: links to articles that don't exist,
//! titles used twice, sections with a heading and nothing under it, and published articles
//! that no customer question retrieved in the last 30 days.

use super::document;
use super::{Editor, EditorApi};
use axum::extract::State;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use warmline_channels::error::ErrorBody;
use warmline_channels::{ApiError, ApiJson};
use warmline_domain::{Audience, Workflow};
use warmline_retrieval::{Article, Status};

/// How long an article may go unretrieved before it is flagged.
pub const UNUSED_AFTER: time::Duration = time::Duration::days(30);

/// One flagged problem.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Flag {
    pub article_id: String,
    /// `broken_link`, `duplicate_title`, `empty_section` or `not_retrieved`.
    pub kind: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub articles: usize,
    pub flags: Vec<Flag>,
}

/// An article as checked: its latest text, and whether customers are served it.
pub struct Checked {
    pub article: Article,
    pub served: bool,
}

/// Every check over `articles`; `last_retrieved` by article id.
pub fn check(
    articles: &[Checked],
    last_retrieved: &HashMap<String, OffsetDateTime>,
    now: OffsetDateTime,
) -> Vec<Flag> {
    let mut flags = Vec::new();
    let ids: std::collections::HashSet<&str> =
        articles.iter().map(|c| c.article.id.as_str()).collect();
    let mut titles: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for Checked { article, served } in articles {
        for target in linked_articles(&article.body) {
            if !ids.contains(target.as_str()) {
                flags.push(Flag {
                    article_id: article.id.clone(),
                    kind: "broken_link",
                    message: format!("links to {target:?}, which is not an article"),
                });
            }
        }
        for heading in empty_sections(&article.body) {
            flags.push(Flag {
                article_id: article.id.clone(),
                kind: "empty_section",
                message: format!("the section {heading:?} has no text"),
            });
        }
        titles
            .entry((article.locale.clone(), article.title.trim().to_lowercase()))
            .or_default()
            .push(&article.id);
        let customer_facing = *served && article.audience != Audience::Agent;
        let recent = last_retrieved
            .get(&article.id)
            .is_some_and(|at| now - *at <= UNUSED_AFTER);
        if customer_facing && !recent {
            flags.push(Flag {
                article_id: article.id.clone(),
                kind: "not_retrieved",
                message: "no customer question retrieved it in the last 30 days".into(),
            });
        }
    }
    for ((_, title), same) in titles {
        if same.len() > 1 {
            for id in &same {
                flags.push(Flag {
                    article_id: (*id).to_owned(),
                    kind: "duplicate_title",
                    message: format!("the title {title:?} is also used by {}", others(&same, id)),
                });
            }
        }
    }
    flags.sort_by(|a, b| (&a.article_id, a.kind).cmp(&(&b.article_id, b.kind)));
    flags
}

fn others(all: &[&str], me: &str) -> String {
    all.iter()
        .filter(|i| **i != me)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Article ids that Markdown links point at: `/kb/ID`, `https://host/kb/ID`, `ID.md`.
fn linked_articles(body: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag};
    let mut out = Vec::new();
    for event in Parser::new(body) {
        let Event::Start(Tag::Link { dest_url, .. }) = event else {
            continue;
        };
        let url = dest_url.split(['#', '?']).next().unwrap_or_default();
        let id = if let Some((_, rest)) = url.rsplit_once("/kb/") {
            rest.trim_end_matches('/')
        } else if let Some(stem) = url.strip_suffix(".md").filter(|u| !u.contains("://")) {
            stem.rsplit('/').next().unwrap_or(stem)
        } else {
            continue;
        };
        if !id.is_empty() && !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
    }
    out
}

/// Headings with no text before the next heading of the same or a higher level.
fn empty_sections(body: &str) -> Vec<String> {
    let headings: Vec<(usize, String)> = body
        .lines()
        .filter_map(|line| heading(line.trim()))
        .collect();
    headings
        .iter()
        .enumerate()
        .filter(|(i, (level, _))| !section_has_text(body, *i, *level))
        .map(|(_, (_, title))| title.clone())
        .collect()
}

/// A Markdown heading line's level and text.
fn heading(line: &str) -> Option<(usize, String)> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    ((1..=6).contains(&hashes) && line[hashes..].starts_with(' '))
        .then(|| (hashes, line[hashes..].trim().to_owned()))
}

/// Whether the `index`-th heading (of `level`) has any text or subsection text under it.
fn section_has_text(body: &str, index: usize, level: usize) -> bool {
    let mut seen = 0usize;
    let mut inside = false;
    for line in body.lines() {
        let bare = line.trim();
        if let Some((hashes, _)) = heading(bare) {
            if inside && hashes <= level {
                return false;
            }
            if seen == index {
                inside = true;
            }
            seen += 1;
            continue;
        }
        if inside && !bare.is_empty() {
            return true;
        }
    }
    false
}

/// The validation report over every article (the store's latest versions and the folder's).
#[utoipa::path(get, path = "/v1/editor/checks", tag = "editor",
    responses((status = 200, body = Report), (status = 401, body = ErrorBody)))]
pub async fn report(
    State(api): State<EditorApi>,
    _editor: Editor,
) -> Result<ApiJson<Report>, ApiError> {
    let mut checked = Vec::new();
    let records = api.articles.articles().await?;
    for record in &records {
        let Some(latest) = api.articles.version(&record.id, record.version).await? else {
            continue;
        };
        if record.status == Workflow::Archived {
            continue;
        }
        if let Ok(article) = document::parse(&record.id, &latest.content) {
            checked.push(Checked {
                article,
                served: record.live_version().is_some(),
            });
        }
    }
    let catalog = api.knowledge.index().catalog();
    for article in catalog.articles.values() {
        if records.iter().any(|r| r.id == article.id) {
            continue;
        }
        checked.push(Checked {
            served: article.status == Status::Published,
            article: article.clone(),
        });
    }
    let last: HashMap<String, OffsetDateTime> =
        api.articles.last_retrieved().await?.into_iter().collect();
    let flags = check(&checked, &last, warmline_domain::conversation::now());
    Ok(ApiJson(Report {
        articles: checked.len(),
        flags,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, body: &str) -> Checked {
        let file = format!("---\nid: {id}\ntitle: {title}\n---\n\n{body}\n");
        Checked {
            article: document::parse(id, &file).unwrap(),
            served: true,
        }
    }

    #[test]
    fn each_problem_is_flagged_once_on_its_article() {
        let now = warmline_domain::conversation::now();
        let articles = [
            article(
                "a",
                "Refunds",
                "## Timing\n\nSee [returns](/kb/returns) and [b](/kb/b).",
            ),
            article("b", "refunds ", "## Empty\n\n## Full\n\nText."),
            article(
                "c",
                "Other",
                "## Parent\n\n### Child\n\nText under the child.",
            ),
        ];
        let last: HashMap<String, OffsetDateTime> = [
            ("a".to_owned(), now),
            ("b".to_owned(), now - time::Duration::days(3)),
            ("c".to_owned(), now - time::Duration::days(40)),
        ]
        .into();
        let flags = check(&articles, &last, now);
        let kinds: Vec<(&str, &str)> = flags
            .iter()
            .map(|f| (f.article_id.as_str(), f.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("a", "broken_link"),
                ("a", "duplicate_title"),
                ("b", "duplicate_title"),
                ("b", "empty_section"),
                ("c", "not_retrieved"),
            ]
        );
        assert!(flags[0].message.contains("returns"), "{:?}", flags[0]);
        assert!(flags[3].message.contains("Empty"), "{:?}", flags[3]);
    }
}
