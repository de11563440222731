//! Articles: list and search, read, create, save (a new version each time, refused when the
//! editor's base version is stale), the workflow, versions, diff and restore.

use super::document::{self, Fields};
use super::{Editor, EditorApi, make_live};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use warmline_channels::error::{ErrorBody, ErrorDetail};
use warmline_channels::{ApiError, ApiJson};
use warmline_domain::{
    ArticleRecord, ArticleSave, ArticleVersion, DomainError, ErrorCode, Workflow,
};
use warmline_retrieval::Status;

/// Where a listed article comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Kept in the editor's store (versions, workflow).
    Store,
    /// Only a file in the knowledge folder so far: its first save brings it into the store.
    Folder,
}

/// One article of the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listed {
    pub id: String,
    pub title: String,
    pub locale: String,
    pub tags: Vec<String>,
    pub status: Workflow,
    /// 0 for a folder article not yet in the store.
    pub version: u32,
    pub published_version: Option<u32>,
    pub source: Source,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Words to find in the id, title or tags (case-insensitive).
    pub q: Option<String>,
    pub status: Option<String>,
    pub tag: Option<String>,
    pub locale: Option<String>,
}

fn listed(record: &ArticleRecord) -> Listed {
    Listed {
        id: record.id.clone(),
        title: record.title.clone(),
        locale: record.locale.clone(),
        tags: record.tags.clone(),
        status: record.status,
        version: record.version,
        published_version: record.published_version,
        source: Source::Store,
    }
}

/// Every article (the store's, then the folder's not yet in the store), filtered.
#[utoipa::path(get, path = "/v1/editor/articles", tag = "editor", params(ListQuery),
    responses((status = 200, body = Vec<Listed>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(api): State<EditorApi>,
    _editor: Editor,
    Query(query): Query<ListQuery>,
) -> Result<ApiJson<Vec<Listed>>, ApiError> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Workflow::parse(s).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                "status is draft, in_review, published or archived",
            )
        })?),
        None => None,
    };
    let records = api.articles.articles().await?;
    let mut items: Vec<Listed> = records.iter().map(listed).collect();
    let catalog = api.knowledge.index().catalog();
    for article in catalog.articles.values() {
        if records.iter().any(|r| r.id == article.id) || article.source.starts_with("store") {
            continue;
        }
        items.push(Listed {
            id: article.id.clone(),
            title: article.title.clone(),
            locale: article.locale.clone(),
            tags: article.tags.clone(),
            status: match article.status {
                Status::Published => Workflow::Published,
                Status::Draft => Workflow::Draft,
            },
            version: 0,
            published_version: None,
            source: Source::Folder,
        });
    }
    let words: Vec<String> = query
        .q
        .unwrap_or_default()
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    items.retain(|a| {
        let hay = format!("{} {} {}", a.id, a.title, a.tags.join(" ")).to_lowercase();
        words.iter().all(|w| hay.contains(w.as_str()))
            && status.is_none_or(|s| a.status == s)
            && query
                .tag
                .as_deref()
                .is_none_or(|t| t.is_empty() || a.tags.iter().any(|x| x == t))
            && query
                .locale
                .as_deref()
                .is_none_or(|l| l.is_empty() || a.locale == l)
    });
    items.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(ApiJson(items))
}

/// An article as the editor opens it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Opened {
    pub id: String,
    pub source: Source,
    pub status: Workflow,
    /// Send it back as `base_version` when saving.
    pub version: u32,
    pub published_version: Option<u32>,
    pub fields: Fields,
    /// The whole file of this version.
    pub content: String,
    pub updated_by: Option<String>,
}

async fn open(api: &EditorApi, id: &str) -> Result<Opened, ApiError> {
    if let Some(record) = api.articles.article(id).await? {
        let latest = api
            .articles
            .version(id, record.version)
            .await?
            .ok_or_else(|| DomainError::internal("the latest version is missing"))?;
        let article = document::parse(id, &latest.content).map_err(DomainError::invalid)?;
        return Ok(Opened {
            id: record.id.clone(),
            source: Source::Store,
            status: record.status,
            version: record.version,
            published_version: record.published_version,
            fields: Fields::of(&article),
            content: latest.content,
            updated_by: Some(record.updated_by),
        });
    }
    let (article, content) = folder_file(api, id)
        .await
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no article {id:?}")))?;
    Ok(Opened {
        id: id.to_owned(),
        source: Source::Folder,
        status: match article.status {
            Status::Published => Workflow::Published,
            Status::Draft => Workflow::Draft,
        },
        version: 0,
        published_version: None,
        fields: Fields::of(&article),
        content,
        updated_by: None,
    })
}

/// A folder article's parsed form and its file's text.
async fn folder_file(api: &EditorApi, id: &str) -> Option<(warmline_retrieval::Article, String)> {
    let catalog = api.knowledge.index().catalog();
    let article = catalog.articles.get(id)?.clone();
    if article.source.starts_with("store") {
        return None;
    }
    let path = api.knowledge.folder().join(&article.source);
    let content = tokio::fs::read_to_string(&path).await.ok()?;
    Some((article, content))
}

/// One article: its fields, file and version.
#[utoipa::path(get, path = "/v1/editor/articles/{id}", tag = "editor",
    responses((status = 200, body = Opened), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(api): State<EditorApi>,
    _editor: Editor,
    Path(id): Path<String>,
) -> Result<ApiJson<Opened>, ApiError> {
    Ok(ApiJson(open(&api, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Create {
    /// Lowercase letters, digits and hyphens.
    pub id: String,
    pub fields: Fields,
    pub note: Option<String>,
}

fn check_note(note: &Option<String>) -> Result<(), ApiError> {
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "a note is at most 500 characters",
        ));
    }
    Ok(())
}

/// A new article, as a draft (version 1).
#[utoipa::path(post, path = "/v1/editor/articles", tag = "editor", request_body = Create,
    responses((status = 201, body = Opened), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<EditorApi>,
    editor: Editor,
    ApiJson(body): ApiJson<Create>,
) -> Result<(StatusCode, ApiJson<Opened>), ApiError> {
    check_note(&body.note)?;
    let id = body.id.trim().to_owned();
    let (content, article) = body.fields.render(&id).map_err(DomainError::invalid)?;
    if folder_file(&api, &id).await.is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the knowledge folder already has an article {id:?}; open it to edit"),
        ));
    }
    api.articles
        .save_article(&ArticleSave {
            id: id.clone(),
            title: article.title,
            locale: article.locale,
            tags: article.tags,
            content,
            author: editor.name,
            note: body.note,
            base_version: None,
            status: None,
        })
        .await?;
    tracing::info!(article_id = %id, "article created");
    Ok((StatusCode::CREATED, ApiJson(open(&api, &id).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Save {
    /// The version you opened (0 for a folder article not yet in the store).
    pub base_version: u32,
    pub fields: Fields,
    pub note: Option<String>,
}

/// A 409 that also carries the article's latest state, so the editor can show what changed.
pub(crate) fn conflict(error: DomainError, current: Option<Opened>) -> Response {
    let body = serde_json::json!({
        "error": ErrorDetail { code: ErrorCode::Conflict, message: error.message },
        "current": current,
    });
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// Brings a folder article into the store as version 1, exactly as its file says.
async fn adopt(api: &EditorApi, id: &str) -> Result<(), ApiError> {
    let Some((article, content)) = folder_file(api, id).await else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no article {id:?}"),
        ));
    };
    let status = match article.status {
        Status::Published => Workflow::Published,
        Status::Draft => Workflow::Draft,
    };
    api.articles
        .save_article(&ArticleSave {
            id: id.to_owned(),
            title: article.title,
            locale: article.locale,
            tags: article.tags,
            content,
            author: "knowledge folder".into(),
            note: Some(format!("from {}", article.source.display())),
            base_version: None,
            status: Some(status),
        })
        .await?;
    Ok(())
}

/// Saves a new version (a draft; what customers see changes only on publish). A stale
/// `base_version` is 409 with the latest state in `current`: nothing is overwritten.
#[utoipa::path(put, path = "/v1/editor/articles/{id}", tag = "editor", request_body = Save,
    responses((status = 200, body = Opened), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn save(
    State(api): State<EditorApi>,
    editor: Editor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Save>,
) -> Result<Response, ApiError> {
    check_note(&body.note)?;
    let (content, article) = body.fields.render(&id).map_err(DomainError::invalid)?;
    let mut base = body.base_version;
    if base == 0 {
        if api.articles.article(&id).await?.is_some() {
            let error = DomainError::new(
                ErrorCode::Conflict,
                format!("article {id} is already in the store; reload it"),
            );
            return Ok(conflict(error, open(&api, &id).await.ok()));
        }
        adopt(&api, &id).await?;
        base = 1;
    }
    let saved = api
        .articles
        .save_article(&ArticleSave {
            id: id.clone(),
            title: article.title,
            locale: article.locale,
            tags: article.tags,
            content,
            author: editor.name,
            note: body.note,
            base_version: Some(base),
            status: None,
        })
        .await;
    match saved {
        Ok(_) => Ok(ApiJson(open(&api, &id).await?).into_response()),
        Err(e) if e.code == ErrorCode::Conflict => Ok(conflict(e, open(&api, &id).await.ok())),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// `in_review`, `draft`, `published` or `archived`.
    pub to: Workflow,
    /// The version you looked at: publishing a version you have not seen is refused.
    pub version: u32,
}

/// Moves an article along the workflow. Publishing serves that version to customers within
/// a second; archiving stops serving it.
#[utoipa::path(post, path = "/v1/editor/articles/{id}/transition", tag = "editor",
    request_body = Transition,
    responses((status = 200, body = Opened), (status = 409, body = ErrorBody)))]
pub async fn transition(
    State(api): State<EditorApi>,
    editor: Editor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Transition>,
) -> Result<Response, ApiError> {
    let moved = api
        .articles
        .transition(&id, body.version, body.to, &editor.name)
        .await;
    if let Err(e) = moved {
        if e.code == ErrorCode::Conflict {
            return Ok(conflict(e, open(&api, &id).await.ok()));
        }
        return Err(e.into());
    }
    if matches!(body.to, Workflow::Published | Workflow::Archived) {
        make_live(&api, &id).await?;
    }
    tracing::info!(article_id = %id, to = body.to.as_str(), "article moved");
    Ok(ApiJson(open(&api, &id).await?).into_response())
}

/// A version without its text, for the history list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: u32,
    pub author: String,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

/// Every saved version, newest first: who saved it, when, and their note.
#[utoipa::path(get, path = "/v1/editor/articles/{id}/versions", tag = "editor",
    responses((status = 200, body = Vec<VersionInfo>), (status = 404, body = ErrorBody)))]
pub async fn versions(
    State(api): State<EditorApi>,
    _editor: Editor,
    Path(id): Path<String>,
) -> Result<ApiJson<Vec<VersionInfo>>, ApiError> {
    let versions = api.articles.versions(&id).await?;
    if versions.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("article {id:?} has no saved versions"),
        ));
    }
    Ok(ApiJson(
        versions
            .into_iter()
            .map(|v| VersionInfo {
                version: v.version,
                author: v.author,
                note: v.note,
                created_at: v.created_at,
            })
            .collect(),
    ))
}

async fn one_version(api: &EditorApi, id: &str, number: u32) -> Result<ArticleVersion, ApiError> {
    api.articles.version(id, number).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("article {id:?} has no version {number}"),
        )
    })
}

/// One version, with its whole file.
#[utoipa::path(get, path = "/v1/editor/articles/{id}/versions/{version}", tag = "editor",
    responses((status = 200, body = ArticleVersion), (status = 404, body = ErrorBody)))]
pub async fn version(
    State(api): State<EditorApi>,
    _editor: Editor,
    Path((id, number)): Path<(String, u32)>,
) -> Result<ApiJson<ArticleVersion>, ApiError> {
    Ok(ApiJson(one_version(&api, &id, number).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    pub from: u32,
    pub to: u32,
}

/// One line of a diff.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiffLine {
    /// `equal`, `insert` or `delete`.
    pub op: &'static str,
    pub text: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Diff {
    pub from: u32,
    pub to: u32,
    /// `diff -u` style text.
    pub unified: String,
    pub lines: Vec<DiffLine>,
}

/// A line diff of two versions' files.
#[utoipa::path(get, path = "/v1/editor/articles/{id}/diff", tag = "editor", params(DiffQuery),
    responses((status = 200, body = Diff), (status = 404, body = ErrorBody)))]
pub async fn diff(
    State(api): State<EditorApi>,
    _editor: Editor,
    Path(id): Path<String>,
    Query(query): Query<DiffQuery>,
) -> Result<ApiJson<Diff>, ApiError> {
    let old = one_version(&api, &id, query.from).await?;
    let new = one_version(&api, &id, query.to).await?;
    let text = similar::TextDiff::from_lines(&old.content, &new.content);
    let unified = text
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("version {}", query.from),
            &format!("version {}", query.to),
        )
        .to_string();
    let lines = text
        .iter_all_changes()
        .map(|change| DiffLine {
            op: match change.tag() {
                similar::ChangeTag::Equal => "equal",
                similar::ChangeTag::Insert => "insert",
                similar::ChangeTag::Delete => "delete",
            },
            text: change.value().trim_end_matches('\n').to_owned(),
        })
        .collect();
    Ok(ApiJson(Diff {
        from: query.from,
        to: query.to,
        unified,
        lines,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    /// The old version to bring back.
    pub version: u32,
    /// The latest version you saw (a stale one is 409).
    pub base_version: u32,
}

/// Saves an old version's file again as a new draft version (history is never rewritten).
#[utoipa::path(post, path = "/v1/editor/articles/{id}/restore", tag = "editor",
    request_body = Restore,
    responses((status = 200, body = Opened), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn restore(
    State(api): State<EditorApi>,
    editor: Editor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Restore>,
) -> Result<Response, ApiError> {
    let old = one_version(&api, &id, body.version).await?;
    let article = document::parse(&id, &old.content).map_err(DomainError::invalid)?;
    let saved = api
        .articles
        .save_article(&ArticleSave {
            id: id.clone(),
            title: article.title,
            locale: article.locale,
            tags: article.tags,
            content: old.content,
            author: editor.name,
            note: Some(format!("restored version {}", body.version)),
            base_version: Some(body.base_version),
            status: None,
        })
        .await;
    match saved {
        Ok(_) => Ok(ApiJson(open(&api, &id).await?).into_response()),
        Err(e) if e.code == ErrorCode::Conflict => Ok(conflict(e, open(&api, &id).await.ok())),
        Err(e) => Err(e.into()),
    }
}
