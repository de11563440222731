//! The knowledge editor's API (`/v1/editor/...`) behind the page at `/editor`.
//!
//! - this file: the state, who may call (editors and admins, by session or API token), and
//!   bringing one article's published version into the live index.
//! - [`articles`]: list, get, create, save (optimistic: a stale base version is 409), the
//!   workflow, versions, diff and restore.
//! - [`document`]: the article file (front matter + Markdown) from the form's fields.
//! - [`tryit`]: the "Try it" panel (passages with scores and the bot's answer, for a draft
//!   too) and the Markdown preview.
//! - [`checks`]: broken links, duplicate titles, empty sections, articles not retrieved.
//! - [`usage`]: when each article was last retrieved, recorded off the hot path.
//!
//! It lives in the binary because it needs both the store and the retrieval crate.
//! Bearer tokens are sent in a header by script, never by the browser on its own, so the API
//! is not open to cross-site request forgery (no cookies are used).

pub mod articles;
pub mod checks;
pub mod document;
pub mod tryit;
pub mod usage;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use warmline_channels::ApiError;
use warmline_channels::agents::{bearer, token_hash};
use warmline_dialog::Dialog;
use warmline_domain::{AgentRole, ArticleStore, DomainError, ErrorCode, HandoffStore};
use warmline_retrieval::KnowledgeBase;
use warmline_retrieval::overlay::store_article;

/// Draft previews (a throwaway index each) built at once; more get 429.
const PREVIEWS_AT_ONCE: usize = 2;

/// What the editor routes need.
#[derive(Clone)]
pub struct EditorApi {
    pub articles: Arc<dyn ArticleStore>,
    /// Logins are shared with the agent console: sessions are looked up there.
    pub sessions: Arc<dyn HandoffStore>,
    pub knowledge: KnowledgeBase,
    pub dialog: Dialog,
    pub previews: Arc<tokio::sync::Semaphore>,
    /// One index update at a time, each from the store's latest state, so two transitions
    /// racing (publish, archive) leave the index as the store says.
    live: Arc<tokio::sync::Mutex<()>>,
    /// The version of each store article the index serves (`None`: none), as last made live
    /// here; the store watch brings in what differs.
    served: Arc<std::sync::Mutex<HashMap<String, Option<u32>>>>,
}

impl EditorApi {
    pub fn new(
        articles: Arc<dyn ArticleStore>,
        sessions: Arc<dyn HandoffStore>,
        knowledge: KnowledgeBase,
        dialog: Dialog,
        served: HashMap<String, Option<u32>>,
    ) -> Self {
        Self {
            articles,
            sessions,
            knowledge,
            dialog,
            previews: Arc::new(tokio::sync::Semaphore::new(PREVIEWS_AT_ONCE)),
            live: Arc::default(),
            served: Arc::new(std::sync::Mutex::new(served)),
        }
    }

    /// Whether the index serves `live` for article `id` already.
    fn serves(&self, id: &str, live: Option<u32>) -> bool {
        let served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        served.get(id) == Some(&live)
    }
}

pub fn router(api: EditorApi) -> Router {
    Router::new()
        .route(
            "/editor/articles",
            get(articles::list).post(articles::create),
        )
        .route(
            "/editor/articles/{id}",
            get(articles::get_one).put(articles::save),
        )
        .route(
            "/editor/articles/{id}/transition",
            post(articles::transition),
        )
        .route("/editor/articles/{id}/versions", get(articles::versions))
        .route(
            "/editor/articles/{id}/versions/{version}",
            get(articles::version),
        )
        .route("/editor/articles/{id}/diff", get(articles::diff))
        .route("/editor/articles/{id}/restore", post(articles::restore))
        .route("/editor/try", post(tryit::try_it))
        .route("/editor/render", post(tryit::render))
        .route("/editor/checks", get(checks::report))
        .route("/editor/me", get(me))
        .with_state(api)
}

/// Who is calling the editor API: an editor or admin, logged in or with an API token.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Editor {
    /// The username, or `token:NAME` for an API token (recorded as versions' author).
    pub name: String,
    pub role: AgentRole,
}

fn unauthorized() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        "log in first (POST /v1/agent/login) or use an API token, \
         then send `Authorization: Bearer <token>`",
    )
}

fn forbidden() -> ApiError {
    ApiError::new(ErrorCode::Forbidden, "the editor is for editors and admins")
}

impl FromRequestParts<EditorApi> for Editor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &EditorApi) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(unauthorized)?;
        let hash = token_hash(token);
        let (name, role) = match api.sessions.session_agent(&hash).await? {
            Some(agent) => (agent.username, agent.role),
            None => match api.articles.token(&hash).await? {
                Some(token) => (format!("token:{}", token.name), token.role),
                None => return Err(unauthorized()),
            },
        };
        if !role.edits_knowledge() {
            return Err(forbidden());
        }
        Ok(Self { name, role })
    }
}

/// Who you are, as the editor sees you.
#[utoipa::path(get, path = "/v1/editor/me", tag = "editor",
    responses((status = 200, body = Editor), (status = 401, body = warmline_channels::error::ErrorBody),
              (status = 403, body = warmline_channels::error::ErrorBody)))]
pub async fn me(editor: Editor) -> warmline_channels::ApiJson<Editor> {
    warmline_channels::ApiJson(editor)
}

/// Serves article `id`'s published version to customers from now on, or nothing when it has
/// none (never published, archived): one article re-indexed, no restart, no rebuild.
pub async fn make_live(api: &EditorApi, id: &str) -> Result<(), DomainError> {
    let _one = api.live.lock().await;
    let record = api
        .articles
        .article(id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("no article {id:?}")))?;
    let live = record.live_version();
    let article = match live {
        Some(number) => {
            let version = api
                .articles
                .version(&record.id, number)
                .await?
                .ok_or_else(|| DomainError::internal("the published version is missing"))?;
            Some(
                store_article(&record.id, &version.content)
                    .map_err(|p| DomainError::invalid(p.to_string()))?,
            )
        }
        None => None,
    };
    let knowledge = api.knowledge.clone();
    let id = record.id.clone();
    let report = tokio::task::spawn_blocking(move || knowledge.apply(&id, article))
        .await
        .map_err(|e| DomainError::internal(format!("re-index task: {e}")))?
        .map_err(|e| {
            tracing::error!(error = %e, "re-indexing an article failed");
            DomainError::unavailable("the knowledge index is unavailable")
        })?;
    tracing::info!(
        added = report.added,
        updated = report.updated,
        removed = report.removed,
        "article re-indexed"
    );
    api.served
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(record.id, live);
    Ok(())
}

/// How often the store is read for articles published by another writer.
pub const STORE_POLL: Duration = Duration::from_secs(2);

/// Serves what other writers publish to the same store: `warmline knowledge import` run
/// while the server is up, or another server on the same database. Every [`STORE_POLL`] the
/// articles' live versions are read (ids and numbers only); an article whose live version
/// differs from the one this server serves is brought into the index ([`make_live`]: that
/// article only). `api` is the editor routes' own, so their publishes are not done twice.
pub fn spawn_store_watch(api: EditorApi, mut closing: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(STORE_POLL) => {}
                _ = closing.changed() => return,
            }
            let records = match api.articles.articles().await {
                Ok(records) => records,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the articles for changes; retrying");
                    continue;
                }
            };
            for record in records {
                if api.serves(&record.id, record.live_version()) {
                    continue;
                }
                match make_live(&api, &record.id).await {
                    Ok(()) => {
                        tracing::info!(article = %record.id, "article changed in the store by another writer: served");
                        metrics::counter!("warmline_articles_synced_from_store_total").increment(1);
                    }
                    // Tried again at the next look.
                    Err(e) => {
                        tracing::warn!(article = %record.id, error = %e, "article changed in the store not served yet");
                    }
                }
            }
        }
    });
}

/// At start: every store article's published version (or its absence) laid over the folder,
/// before the first sync indexes them. Returns each article's live version, as laid.
pub async fn load_overlay(
    store: &dyn ArticleStore,
    knowledge: &KnowledgeBase,
) -> Result<HashMap<String, Option<u32>>, DomainError> {
    let mut overlay = Vec::new();
    let mut served = HashMap::new();
    for record in store.articles().await? {
        served.insert(record.id.clone(), record.live_version());
        let article = match record.live_version() {
            Some(number) => match store.version(&record.id, number).await? {
                Some(version) => match store_article(&record.id, &version.content) {
                    Ok(article) => Some(article),
                    Err(problem) => {
                        tracing::warn!(problem = %problem, "stored article not served");
                        None
                    }
                },
                None => None,
            },
            None => None,
        };
        overlay.push((record.id, article));
    }
    knowledge.set_overlay(overlay);
    Ok(served)
}
