//! Operational routes (health, readiness, metrics, OpenAPI), the public article pages that
//! citations link to, and the home page.

use crate::AppState;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use pulldown_cmark::{Event, Options, Parser};
use serde::Serialize;
use std::time::Instant;
use utoipa::OpenApi;
use warmline_channels::{ApiError, ApiJson};
use warmline_domain::{Audience, ConversationStore};
use warmline_retrieval::{Article, Status};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Warmline",
        description = "Self-hosted intelligent virtual agent: grounded, cited answers from a \
                       knowledge base, with a warm handoff to people."
    ),
    paths(
        warmline_channels::rest::create_conversation,
        warmline_channels::rest::get_conversation,
        warmline_channels::rest::get_history,
        warmline_channels::rest::post_message,
        warmline_channels::rest::post_survey,
        warmline_channels::rest::post_ticket,
        warmline_channels::agents::login,
        warmline_channels::agents::logout,
        warmline_channels::agents::queue,
        warmline_channels::agents::mine,
        warmline_channels::agent_stats::stats,
        warmline_channels::agents::handoff,
        warmline_channels::agents::accept,
        warmline_channels::agents::send,
        warmline_channels::agents::give_back,
        warmline_channels::agents::close,
        warmline_channels::agent_work::presence,
        warmline_channels::agent_work::transfer,
        warmline_channels::agent_work::suggestions,
        warmline_channels::agent_work::tickets,
        warmline_channels::agent_work::close_ticket,
        crate::editor::me,
        crate::editor::articles::list,
        crate::editor::articles::create,
        crate::editor::articles::get_one,
        crate::editor::articles::save,
        crate::editor::articles::transition,
        crate::editor::articles::versions,
        crate::editor::articles::version,
        crate::editor::articles::diff,
        crate::editor::articles::restore,
        crate::editor::tryit::try_it,
        crate::editor::tryit::render,
        crate::editor::checks::report,
        warmline_channels::insights::feedback,
        warmline_channels::insights::summary,
        warmline_channels::insights::gaps,
        warmline_channels::insights::draft,
        warmline_channels::insights::articles,
        warmline_channels::insights::export_csv,
        healthz,
        readyz,
    ),
    components(schemas(
        warmline_channels::rest::CreateConversation,
        warmline_channels::rest::CustomerRef,
        warmline_channels::rest::Opened,
        warmline_channels::rest::History,
        warmline_channels::rest::HistoryMessage,
        warmline_channels::rest::PostMessage,
        warmline_channels::rest::TurnResponse,
        warmline_channels::rest::ReplyBody,
        warmline_channels::rest::HandoffSignal,
        warmline_channels::rest::Survey,
        warmline_channels::insights::Feedback,
        warmline_channels::rest::LeaveTicket,
        warmline_channels::agent_work::SetPresence,
        warmline_channels::agent_work::Transfer,
        warmline_channels::agent_work::Suggestions,
        warmline_channels::agent_work::SuggestedReply,
        warmline_channels::agent_work::CloseTicket,
        warmline_channels::agent_stats::AgentStatus,
        warmline_domain::Ticket,
        warmline_domain::TicketKind,
        warmline_domain::Presence,
        warmline_domain::Disposition,
        warmline_channels::agents::Login,
        warmline_channels::agent_stats::QueueStats,
        warmline_channels::agents::Session,
        warmline_channels::agents::HandoffView,
        warmline_channels::agents::AgentMessage,
        warmline_channels::agents::Finish,
        warmline_domain::Handoff,
        warmline_domain::HandoffPacket,
        warmline_domain::CustomerSnapshot,
        warmline_domain::HandoffStatus,
        warmline_domain::Agent,
        warmline_domain::AgentRole,
        warmline_channels::rest::Transcript,
        warmline_channels::error::ErrorBody,
        warmline_channels::error::ErrorDetail,
        crate::editor::Editor,
        crate::editor::document::Fields,
        crate::editor::articles::Source,
        crate::editor::articles::Listed,
        crate::editor::articles::Opened,
        crate::editor::articles::Create,
        crate::editor::articles::Save,
        crate::editor::articles::Transition,
        crate::editor::articles::VersionInfo,
        crate::editor::articles::Diff,
        crate::editor::articles::DiffLine,
        crate::editor::articles::Restore,
        crate::editor::tryit::TryIt,
        crate::editor::tryit::Draft,
        crate::editor::tryit::Tried,
        crate::editor::tryit::Passage,
        crate::editor::tryit::Answer,
        crate::editor::tryit::Render,
        crate::editor::tryit::Rendered,
        crate::editor::checks::Report,
        crate::editor::checks::Flag,
        warmline_domain::ArticleVersion,
        warmline_domain::Workflow,
        Readiness,
    )),
    tags((name = "chat", description = "Conversations with the bot"),
         (name = "editor", description = "The knowledge editor: articles, versions, workflow, try-it, checks"),
         (name = "ops", description = "Health and readiness"))
)]
pub struct ApiDoc;

/// The OpenAPI document.
pub async fn openapi() -> impl IntoResponse {
    ApiJson(ApiDoc::openapi())
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive")))]
pub async fn healthz() -> impl IntoResponse {
    ApiJson(serde_json::json!({"status": "ok"}))
}

/// What `/readyz` reports.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub status: String,
    pub articles: usize,
    pub passages: u64,
    /// Article files that could not be used (see the server log for file:line).
    pub problems: usize,
}

/// Readiness: the store answers and the index is open.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, body = Readiness),
    (status = 503, description = "store unavailable", body = warmline_channels::error::ErrorBody),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<ApiJson<Readiness>, ApiError> {
    state.store.ping().await?;
    let catalog = state.knowledge.index().catalog();
    Ok(ApiJson(Readiness {
        status: "ready".into(),
        articles: catalog.articles.len(),
        passages: state.knowledge.index().passage_count(),
        problems: catalog.problems.len(),
    }))
}

/// Prometheus text format.
pub async fn metrics_page(State(state): State<AppState>) -> impl IntoResponse {
    let index = state.knowledge.index();
    let catalog = index.catalog();
    metrics::gauge!("warmline_knowledge_passages").set(index.passage_count() as f64);
    metrics::gauge!("warmline_knowledge_articles").set(catalog.articles.len() as f64);
    metrics::gauge!("warmline_knowledge_problems").set(catalog.problems.len() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Middleware: request count and latency per matched route.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("warmline_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("warmline_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

const PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5;color:#1d2433}a{color:#1b5fa8}nav{margin-bottom:1.5rem}\
li{margin:.2rem 0}small{color:#5b6474}";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{PAGE_STYLE}</style></head><body>\
         <nav><a href=\"/\">Home</a> · <a href=\"/kb\">Help articles</a></nav>{body}</body></html>",
        escape(title)
    ))
}

fn public(article: &Article) -> bool {
    article.status == Status::Published && article.audience != Audience::Agent
}

/// The list of published, customer-facing articles.
pub async fn kb_index(State(state): State<AppState>) -> Html<String> {
    let catalog = state.knowledge.index().catalog();
    let items: String = catalog
        .articles
        .values()
        .filter(|a| public(a))
        .map(|a| format!("<li><a href=\"/kb/{}\">{}</a></li>", a.id, escape(&a.title)))
        .collect();
    page(
        "Help articles",
        &format!("<h1>Help articles</h1><ul>{items}</ul>"),
    )
}

/// One article, rendered from its Markdown. Raw HTML in articles is shown as text, never
/// executed.
pub async fn kb_article(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, Response> {
    let catalog = state.knowledge.index().catalog();
    let Some(article) = catalog.articles.get(&id).filter(|a| public(a)) else {
        let body = page("Not found", "<h1>Article not found</h1>");
        return Err((StatusCode::NOT_FOUND, body).into_response());
    };
    // Raw HTML is shown as text, except comments: those are editors' notes (a content gap's
    // draft lists the customers' questions in one), never for customers.
    let mut in_comment = false;
    let parser =
        Parser::new_ext(&article.body, Options::ENABLE_TABLES).filter_map(|event| match event {
            Event::Html(html) | Event::InlineHtml(html) => {
                let note = in_comment || html.trim_start().starts_with("<!--");
                in_comment = note && !html.contains("-->");
                (!note).then_some(Event::Text(html))
            }
            other => Some(other),
        });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    let updated = article
        .updated
        .map(|d| format!("<small>Updated {d}</small>"))
        .unwrap_or_default();
    Ok(page(
        &article.title,
        &format!("<h1>{}</h1>{updated}{html}", escape(&article.title)),
    ))
}

/// The home page: a sample site (Juniper Market) with the widget embedded, and developer links.
pub async fn home() -> Html<&'static str> {
    Html(include_str!("../web/index.html"))
}

/// The insights dashboard: figures with their denominators, content gaps, survey comments.
pub async fn dashboard() -> Html<&'static str> {
    Html(include_str!("../web/dashboard.html"))
}

/// The agent console: log in, take conversations from the queue, talk, give them back.
pub async fn agent_console() -> Html<&'static str> {
    Html(include_str!("../web/agent.html"))
}

/// The knowledge editor: log in, edit articles, try questions, publish.
pub async fn editor_page() -> Html<&'static str> {
    Html(include_str!("../web/editor.html"))
}

/// The embeddable web widget: one `<script src="/widget.js">` tag on any site (see README,
/// "Web widget"). Cached for an hour by browsers and proxies.
pub async fn widget_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../web/widget.js"),
    )
}
